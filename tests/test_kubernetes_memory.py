"""The Kubernetes collector lists without the client's generated API classes and their models."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.procs import run_python
from tests.test_kubernetes_collector import FakeApiServer, write_kubeconfig

REPO = Path(__file__).resolve().parent.parent

SCRIPT = """
import json, sys
from exporter.collectors.kubernetes import KubernetesCollector
from stackwatch.config import Config

config = Config.model_validate({"kubernetes": {"enabled": True, "kubeconfig": sys.argv[1]}})
collector = KubernetesCollector.from_config(config)
collector.refresh()
pods = [m for m in collector.collect() if m.name == "kube_pod_info"]
heavy = sorted(
    name for name in sys.modules
    if name.startswith(("kubernetes.client.api.", "kubernetes.client.models."))
)
print(json.dumps({"pods": len(pods[0].samples) if pods else 0, "heavy": heavy[:5]}))
"""


def test_a_refresh_imports_no_generated_api_class_or_model(tmp_path: Path) -> None:
    """The generated API modules and their models are some 30 MB of the exporter's memory.

    The local API server stands in for a real one, which cannot run here.
    """
    with FakeApiServer() as server:
        kubeconfig = write_kubeconfig(tmp_path, server.url)
        result = run_python(["-c", SCRIPT, str(kubeconfig)], path=[REPO], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["pods"] > 0  # the lists were read
    assert report["heavy"] == []
