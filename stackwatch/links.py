"""Where things live in the Prefect UI and Prometheus: base URLs, a flow run's page, graph links."""

from __future__ import annotations

import os
from urllib.parse import quote

from stackwatch.config import Config

# Debian's Prometheus 2.x ships only the classic UI: its pages sit under /classic/ and
# /targets, /alerts and /rules are 404 there; /graph redirects to the UI there is.
PAGES = ("targets", "alerts", "rules")


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


def prometheus_graph_url(base: str, expr: str) -> str:
    """The graph of ``expr`` over the last hour: ``/graph`` answers on every Prometheus UI."""
    return f"{base.rstrip('/')}/graph?g0.expr={quote(expr, safe='')}&g0.tab=0&g0.range_input=1h"


def prometheus_page_urls(base: str, classic: bool) -> dict[str, str]:
    """Prometheus's targets, alerts and rules pages; ``classic``: under /classic/ (Debian's)."""
    prefix = f"{base.rstrip('/')}/classic" if classic else base.rstrip("/")
    return {page: f"{prefix}/{page}" for page in PAGES}
