"""A real Prometheus (Debian package) started on a free loopback port for a test."""

from __future__ import annotations

import signal
import subprocess
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import requests
import yaml

from tests.support.procs import free_port, require_binary, wait_for
from tests.support.timing import within


def bcrypt_hash(password: str) -> str:
    """A bcrypt hash for Prometheus's ``basic_auth_users`` (cost 4: tests need no strength)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # crypt leaves Python in 3.13
        import crypt
    salt = crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)  # noqa: S324 - bcrypt is what it reads
    return crypt.crypt(password, salt)


class PrometheusServer:
    """Runs ``/usr/bin/prometheus`` scraping ``targets`` every second; stop() kills it."""

    def __init__(
        self,
        workdir: Path,
        targets: Sequence[str],
        job: str = "stackwatch",
        scrape_interval: str = "1s",
        rule_files: Sequence[str] = (),
        retention: str = "1h",
        basic_auth: tuple[str, str] | None = None,
        remote_write: Sequence[str] = (),
    ) -> None:
        self.binary = require_binary("prometheus", "prometheus")
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.job = job
        self.scrape_interval = scrape_interval
        self.rule_files = list(rule_files)
        self.retention = retention  # longer for a test that backfills older history
        self.targets = list(targets)
        self.config_path = workdir / "prometheus.yml"
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "prometheus.log"
        # (user, password): its web config asks every client for them, as a secured one does
        self.basic_auth = basic_auth
        self.web_config = workdir / "web.yml"
        # URLs it remote-writes every sample to (a long-term store), sent within a second
        self.remote_write = list(remote_write)

    def write_config(self) -> None:
        config: dict[str, Any] = {
            "global": {
                "scrape_interval": self.scrape_interval,
                "evaluation_interval": self.scrape_interval,
            },
            "scrape_configs": [
                {
                    "job_name": self.job,
                    "scrape_timeout": self.scrape_interval,
                    "static_configs": [{"targets": self.targets}],
                }
            ],
        }
        if self.rule_files:
            config["rule_files"] = self.rule_files
        if self.remote_write:
            queue = {"batch_send_deadline": "1s", "min_backoff": "100ms", "max_backoff": "1s"}
            config["remote_write"] = [{"url": u, "queue_config": queue} for u in self.remote_write]
        self.config_path.write_text(yaml.safe_dump(config))
        if self.basic_auth is not None:
            user, password = self.basic_auth
            users = {"basic_auth_users": {user: bcrypt_hash(password)}}
            self.web_config.write_text(yaml.safe_dump(users))

    def start(self) -> PrometheusServer:
        self.write_config()
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    self.binary,
                    f"--config.file={self.config_path}",
                    f"--storage.tsdb.path={self.workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--web.enable-lifecycle",
                    f"--storage.tsdb.retention.time={self.retention}",
                    *([f"--web.config.file={self.web_config}"] if self.basic_auth else []),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for(self._ready, within(30), f"Prometheus on {self.url} (log: {self.log_path})")
        return self

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"Prometheus exited: {self.log_path.read_text()[-2000:]}")
        response = requests.get(f"{self.url}/-/ready", timeout=2, auth=self.basic_auth)
        return response.status_code == 200

    def set_targets(self, targets: Sequence[str]) -> None:
        """Point the scrape job at new targets and reload."""
        self.targets = list(targets)
        self.write_config()
        assert self.process is not None
        self.process.send_signal(signal.SIGHUP)

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """An instant query, evaluated now or ``at`` a Unix time."""
        params: dict[str, str | float] = {"query": expr}
        if at is not None:
            params["time"] = at
        response = requests.get(
            f"{self.url}/api/v1/query", params=params, timeout=10, auth=self.basic_auth
        )
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()["data"]["result"]
        return result

    def wait_for_series(self, expr: str, timeout: float = 30) -> list[dict[str, Any]]:
        """Wait until ``expr`` returns at least one series (``timeout`` scaled by ``within``)."""
        return wait_for(
            lambda: self.query(expr), within(timeout), f"PromQL {expr!r} to return data"
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
