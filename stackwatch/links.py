"""Where things live in the Prefect UI: the API and UI base URLs and a flow run's page."""

from __future__ import annotations

import os

from stackwatch.config import Config


def api_url(config: Config) -> str | None:
    """``prefect.api_url``, else ``$PREFECT_API_URL``; None when neither is set."""
    url = config.prefect.api_url or os.environ.get("PREFECT_API_URL") or None
    return url.rstrip("/") if url else None


def ui_url(config: Config, api: str | None) -> str:
    """The Prefect UI: ``$PREFECT_UI_URL``, ``links.prefect_ui_url``, else beside the API."""
    url = os.environ.get("PREFECT_UI_URL") or config.links.prefect_ui_url
    if url:
        return url.rstrip("/")
    return (api or "http://127.0.0.1:4200/api").rstrip("/").removesuffix("/api")


def run_url(ui: str, run_id: str) -> str:
    return f"{ui}/runs/flow-run/{run_id}"
