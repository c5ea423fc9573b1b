"""The root of stackwatch's exceptions: expected errors print one line, never a traceback."""


class StackwatchError(Exception):
    """An expected error: the CLI prints its message and exits with ``exit_code``."""

    exit_code = 1


class ConfigError(StackwatchError):
    """The configuration cannot be read or is invalid."""

    exit_code = 2
