"""Exceptions of the alerter package."""

from stackwatch.errors import StackwatchError


class AlerterError(StackwatchError):
    """Base of the alerter's expected errors."""
