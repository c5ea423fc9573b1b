"""stackwatch: a Prometheus exporter and rule-driven alerter for a one-server ops stack."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("stackwatch")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
