"""Exceptions of the alerter package."""

from stackwatch.errors import StackwatchError


class AlerterError(StackwatchError):
    """Base of the alerter's expected errors."""


class PrometheusError(AlerterError):
    """Prometheus could not be reached or answered with an error."""


class TransientPrometheusError(PrometheusError):
    """A connection failure or a 5xx after the client's own retries: worth retrying later."""


class QueryError(PrometheusError):
    """Prometheus rejected the query (4xx); the message is the server's own."""


class MailError(AlerterError):
    """A message could not be handed to the SMTP server or written to the outbox."""


class TransientMailError(MailError):
    """The SMTP server was unreachable or answered 4xx: the message stays queued."""
