"""A local stand-in for a Thanos or Mimir querier in front of a real Prometheus.

No Thanos or Mimir can run here, and a real Prometheus never gives a partial response, so this
server forwards every query API call to the real Prometheus and, for the queries the test
marks, answers as a querier whose store or ingester did not answer: ``status: success`` with
the series left out and ``warnings`` (Thanos, Mimir) or ``isPartial`` (VictoriaMetrics) set.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import requests

from tests.support.http import QuietHandler, ThreadedServer

THANOS_WARNING = 'receive "10.0.0.7:10901" unavailable: rpc error: code = Unavailable'


class PartialQuerier(ThreadedServer):
    """Forwards ``/api/v1/*`` to ``upstream``; a query containing one of ``partial_for`` is
    answered as a partial response (no series, ``warnings``; ``is_partial`` for VictoriaMetrics'
    flag instead)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.partial_for: list[str] = []
        self.is_partial = False
        outer = self

        class _Request(QuietHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                params = {k: v[0] for k, v in form.items()}
                body = outer.answer(self.path, params)
                raw = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        super().__init__(_Request)

    def answer(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        response = requests.post(f"{self.upstream}{path}", data=params, timeout=10)
        body: dict[str, Any] = response.json()
        query = params.get("query", "")
        if body.get("status") == "success" and any(m in query for m in self.partial_for):
            body["data"]["result"] = []
            if self.is_partial:
                body["isPartial"] = True
            else:
                body["warnings"] = [THANOS_WARNING]
        return body
