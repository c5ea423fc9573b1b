"""docker-compose.yml as docker-compose resolves it, and what one service's container sees."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from stackwatch.config import Config, parse_config
from tests.support.procs import require_binary

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"


def compose_config(*args: str, env_file: Path = ENV_EXAMPLE) -> subprocess.CompletedProcess[str]:
    binary = require_binary("docker-compose", "docker-compose")
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "DOCKER_"))}
    return subprocess.run(
        [binary, "-f", str(COMPOSE), "--env-file", str(env_file), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env=environ,
    )


def env_of(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        return dict(item.split("=", 1) for item in environment)
    return {key: "" if value is None else str(value) for key, value in environment.items()}


def mounts_of(service: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Container path -> (source, mode) of every volume, from short or long syntax."""
    out = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target, *rest = volume.split(":")
            out[target] = (source, rest[0] if rest else "rw")
        else:
            mode = "ro" if volume.get("read_only") else "rw"
            out[volume["target"]] = (str(volume.get("source", "")), mode)
    return out


def container_config(service: dict[str, Any]) -> Config:
    """The stackwatch Config a container of this service loads: its file plus its env."""
    source, _ = mounts_of(service)["/etc/stackwatch/stackwatch.yml"]
    return parse_config(Path(source).read_text(), source, environ=env_of(service))
