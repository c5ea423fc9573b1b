"""The daily summary report and the weekly cleanup."""
