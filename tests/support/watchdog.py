"""The configuration the watchdog's tests share: two check groups, a real SMTP server."""

from __future__ import annotations

from pathlib import Path

from stackwatch.config import Config
from tests.support.outbox import smtp_settings
from tests.support.smtp import SmtpServer

#: one never-firing rule in each of two check groups
TWO_CHECK_GROUPS = """
groups:
  - name: system-health-check
    rules:
      - {alert: A, expr: 'vector(0) > 1'}
  - name: services-health-check
    rules:
      - {alert: B, expr: 'vector(0) > 1'}
"""


def watchdog_config(
    tmp_path: Path, smtp: SmtpServer, api: str | None, links: dict[str, str] | None = None
) -> Config:
    """Rules for two check groups, mail to ``smtp``, the Prefect API at ``api``."""
    rules = tmp_path / "rules.yml"
    rules.write_text(TWO_CHECK_GROUPS)
    return Config.model_validate(
        {
            "docker": {"enabled": False},
            "smtp": smtp_settings(smtp),
            "state": {"path": str(tmp_path / "state.db")},
            "rules": {"paths": [str(rules)]},
            "prefect": {"api_url": api, "timeout": "2s"},
            "links": links or {},
            "watchdog": {"prefect_unreachable_after": "2m"},
        }
    )
