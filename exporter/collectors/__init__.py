"""Collector modules, one per source; ``COLLECTORS`` maps each name to its factory."""

from __future__ import annotations

from collections.abc import Callable

from exporter.collectors.base import Collector
from exporter.collectors.cgroups import CgroupsCollector
from exporter.collectors.docker import DockerCollector
from exporter.collectors.host import HostCollector
from exporter.collectors.kubernetes import KubernetesCollector
from exporter.collectors.outbox import OutboxCollector
from exporter.collectors.services import ServicesCollector
from stackwatch.config import Config

COLLECTORS: dict[str, Callable[[Config], Collector]] = {
    "host": HostCollector.from_config,
    "services": ServicesCollector.from_config,
    "docker": DockerCollector.from_config,
    "cgroups": CgroupsCollector.from_config,  # after docker: it reads docker's container view
    "kubernetes": KubernetesCollector.from_config,
    "outbox": OutboxCollector.from_config,
}


def build_collectors(config: Config) -> dict[str, Collector]:
    """Instantiate the collectors the config enables, in a stable order."""
    collectors = {
        name: make(config) for name, make in COLLECTORS.items() if config.collector_enabled(name)
    }
    docker, cgroups = collectors.get("docker"), collectors.get("cgroups")
    if isinstance(docker, DockerCollector) and isinstance(cgroups, CgroupsCollector):
        cgroups.share_view(docker.view)  # one event stream and one list for both
    return collectors
