"""Prefect flows: thin wrappers scheduling the checks, reports and cleanup."""
