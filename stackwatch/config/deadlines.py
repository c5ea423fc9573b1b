"""Config values checked against the flows' run timeouts, which no single section knows."""

from __future__ import annotations

from stackwatch.catalog import FLOWS
from stackwatch.config.sections import Config
from stackwatch.format import format_duration

# A run stopped at its timeout while waiting for the server's acknowledgement of a mail leaves
# that mail sent or not, nobody knows: the wait must fit well inside any run that sends mail.
DATA_TIMEOUT_SHARE = 0.5


def deadline_problems(config: Config) -> list[tuple[tuple[str, ...], str]]:
    """Each value that does not fit the run timeouts: its key path and what is wrong."""
    shortest = min(spec.run_timeout for spec in FLOWS if spec.mails)
    most = shortest * DATA_TIMEOUT_SHARE
    if config.smtp.data_timeout > most:
        return [
            (
                ("smtp", "data_timeout"),
                f"must be at most {format_duration(most)}, half the shortest run timeout of a "
                f"flow that mails ({shortest:g}s), so that a run stopped at its timeout is "
                "never in the middle of a mail",
            )
        ]
    return []
