"""Once the stack is up: run the checks once, and say where everything is and how to reach it."""

from __future__ import annotations

import shlex
import time
import uuid
from collections.abc import Mapping

import requests

from stackwatch.catalog import FLOWS
from stackwatch.links import prometheus_page_urls

# Prefect's server answers 503 while its SQLite is busy (its own client retries the same way)
ATTEMPTS = 6


def _api(method: str, url: str, body: object = None) -> requests.Response:
    last: requests.RequestException | None = None
    for attempt in range(ATTEMPTS):
        if attempt:
            time.sleep(0.5 * 2**attempt)  # 1 s, 2 s, ... 16 s: about half a minute in all
        try:
            response = requests.request(method, url, json=body, timeout=10)
        except requests.RequestException as exc:
            last = exc
            continue
        if response.status_code not in (502, 503):
            response.raise_for_status()
            return response
    raise last or requests.HTTPError(f"{url}: the Prefect server stayed busy")


def run_checks_now(api: str) -> str:
    """A run of every check flow now, so the UI and the outbox show results within a minute
    rather than at each schedule's first slot; returns what to tell the user."""
    started = []
    for spec in FLOWS:
        if spec.kind != "check":
            continue
        try:
            deployment = _api("GET", f"{api}/deployments/name/{spec.name}/{spec.name}").json()
            # the key makes a retried request return the same run, not a second one
            _api(
                "POST",
                f"{api}/deployments/{deployment['id']}/create_flow_run",
                {"idempotency_key": f"launcher-start-{uuid.uuid4()}"},
            )
        except requests.RequestException as exc:
            # the stack runs all the same: the checks then start at their schedules
            return f"could not start the checks now ({exc}); they run at their schedules"
        started.append(spec.name)
    return f"running the checks once now: {', '.join(started)}"


def prometheus_links(base: str) -> dict[str, str]:
    """The Prometheus pages to print, at the paths this Prometheus serves them."""
    try:
        classic = (
            requests.get(f"{base}/targets", timeout=5).status_code == 404
            and requests.get(f"{base}/classic/targets", timeout=5).status_code == 200
        )
    except requests.RequestException:
        classic = False
    pages = prometheus_page_urls(base, classic)
    return {
        "Prometheus": f"{base}/graph",
        "Targets": pages["targets"],
        "Alerts": pages["alerts"],
        "Rules": pages["rules"],
    }


def banner(
    urls: Mapping[str, str], cli_env: Mapping[str, str], state_dir: str, config: str | None
) -> str:
    """What ``make run`` prints once everything answers."""
    lines = ["", "stackwatch is running:"]
    lines.append(f"  {'Config':<12} {config or 'none: defaults'}")
    lines += [f"  {label:<12} {url}" for label, url in urls.items()]
    lines.append(f"  {'State':<12} {state_dir}")
    lines.append(
        "The stackwatch command in another terminal reads the same stack with this environment "
        "(`stackwatch flows run` finds it by itself):"
    )
    lines += [f"  export {name}={shlex.quote(value)}" for name, value in cli_env.items()]
    lines.append("Press Ctrl-C to stop (or `make stop` from another terminal).")
    return "\n".join(lines)
