"""The k3s manifests: the exporter's DaemonSet and Deployment fit the RBAC, config and image."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from stackwatch.config import parse_config
from tests.support.dockerfile import parse

REPO = Path(__file__).resolve().parent.parent
DOCKERFILE = REPO / "Dockerfile"


@pytest.fixture(scope="module")
def k8s_objects() -> dict[tuple[str, str], dict[str, Any]]:
    objects = {}
    for name in ("rbac.yaml", "exporter.yaml"):
        for document in yaml.safe_load_all((REPO / "deploy/k8s" / name).read_text()):
            if document:
                objects[(document["kind"], document["metadata"]["name"])] = document
    return objects


def test_k3s_exporter_manifests_fit_the_rbac_and_the_image(
    k8s_objects: dict[tuple[str, str], dict[str, Any]],
) -> None:
    account = k8s_objects[("ServiceAccount", "stackwatch")]
    namespace = account["metadata"]["namespace"]
    uid = int(parse(DOCKERFILE.read_text()).args["STACKWATCH_UID"])  # the final stage's ARG
    configmap = k8s_objects[("ConfigMap", "stackwatch-exporter")]
    for kind, name in (("DaemonSet", "stackwatch-host"), ("Deployment", "stackwatch-cluster")):
        workload = k8s_objects[(kind, name)]
        assert workload["metadata"]["namespace"] == namespace
        spec = workload["spec"]
        assert (
            spec["selector"]["matchLabels"].items()
            <= spec["template"]["metadata"]["labels"].items()
        )
        pod = spec["template"]["spec"]
        assert pod["serviceAccountName"] == account["metadata"]["name"]
        assert pod["securityContext"]["runAsUser"] == uid
        [container] = pod["containers"]
        assert container["command"] == ["stackwatch", "exporter"]
        [config_env] = [e for e in container["env"] if e["name"] == "STACKWATCH_CONFIG"]
        key = Path(config_env["value"]).name
        [mount] = [m for m in container["volumeMounts"] if m["name"] == "config"]
        assert config_env["value"] == f"{mount['mountPath']}/{key}"
        config = parse_config(configmap["data"][key], key, environ={})
        assert config.exporter.listen.endswith(":9810")
        assert container["ports"][0]["containerPort"] == 9810
        if kind == "DaemonSet":
            assert pod["hostPID"] is True
            [host] = [m for m in container["volumeMounts"] if m["name"] == "host"]
            assert host["readOnly"] is True
            assert str(config.exporter.rootfs) == host["mountPath"]
            assert config.collector_enabled("host")
            assert not config.collector_enabled("kubernetes")  # once per cluster, not per node
        else:
            assert spec["replicas"] == 1
            assert config.kubernetes.in_cluster
            assert config.collector_enabled("kubernetes")
            assert not config.collector_enabled("host")
    service = k8s_objects[("Service", "stackwatch-cluster")]
    cluster_labels = k8s_objects[("Deployment", "stackwatch-cluster")]["spec"]["template"]
    assert service["spec"]["selector"].items() <= cluster_labels["metadata"]["labels"].items()
