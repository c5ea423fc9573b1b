"""Exceptions of the exporter package."""

from stackwatch.errors import StackwatchError


class ExporterError(StackwatchError):
    """The exporter cannot start or a collector cannot be built."""
