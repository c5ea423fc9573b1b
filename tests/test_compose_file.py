"""docker-compose.yml, validated and resolved by docker-compose: services, mounts, configs."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from stackwatch.config import parse_config
from tests.support.compose import (
    COMPOSE,
    ENV_EXAMPLE,
    REPO,
    compose_config,
    container_config,
    env_of,
    mounts_of,
)
from tests.support.dockerd import DockerDaemon


def test_docker_compose_accepts_the_file_with_env_example() -> None:
    result = compose_config("config", "-q")
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr  # no warning of an unset variable


def test_the_two_passwords_are_required(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "\n".join(
            line
            for line in ENV_EXAMPLE.read_text().splitlines()
            if not line.startswith(("GRAFANA_ADMIN_PASSWORD=", "PREFECT_DB_PASSWORD="))
        )
    )
    result = compose_config("config", "-q", env_file=env_file)
    assert result.returncode != 0
    assert "set GRAFANA_ADMIN_PASSWORD in .env" in result.stderr or (
        "set PREFECT_DB_PASSWORD in .env" in result.stderr
    )


def test_every_variable_of_the_compose_file_is_documented_in_env_example() -> None:
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", COMPOSE.read_text()))
    documented = set(re.findall(r"^#?\s*([A-Z0-9_]+)=", ENV_EXAMPLE.read_text(), re.MULTILINE))
    assert used - documented == set()


def test_services_restart_policies_and_healthchecks(resolved_compose: dict[str, Any]) -> None:
    services = resolved_compose["services"]
    assert set(services) == {
        "exporter",
        "prometheus",
        "prefect-db",
        "prefect-server",
        "prefect-worker",
        "grafana",
        "mailpit",
        "watchdog",
    }
    for name, service in services.items():
        assert service.get("restart") == "unless-stopped", name
        if name != "mailpit":  # mailpit's image declares its own HEALTHCHECK
            assert service["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name
    assert services["mailpit"]["profiles"] == ["mail"]
    assert all("profiles" not in s for n, s in services.items() if n != "mailpit")


def test_start_order(resolved_compose: dict[str, Any]) -> None:
    services = resolved_compose["services"]

    def conditions(name: str) -> dict[str, str]:
        return {dep: spec["condition"] for dep, spec in services[name]["depends_on"].items()}

    assert conditions("prefect-server") == {"prefect-db": "service_healthy"}
    assert conditions("prefect-worker") == {
        "prefect-server": "service_healthy",
        "prometheus": "service_healthy",
    }
    assert conditions("grafana") == {"prometheus": "service_healthy"}
    # Prometheus starts even when the exporter is unhealthy: up == 0 is itself an alert
    assert conditions("prometheus") == {"exporter": "service_started"}


def test_exporter_sees_the_host(resolved_compose: dict[str, Any]) -> None:
    exporter = resolved_compose["services"]["exporter"]
    assert exporter["pid"] == "host"
    mounts = mounts_of(exporter)
    assert mounts["/host"][0] == "/"
    assert mounts["/host"][1].startswith("ro")
    assert mounts["/var/run/docker.sock"] == ("/var/run/docker.sock", "ro")
    assert env_of(exporter)["STACKWATCH__EXPORTER__ROOTFS"] == "/host"
    assert not any("SMTP" in key for key in env_of(exporter))  # it never sends mail
    assert exporter["group_add"] == ["999"]


def test_published_ports(resolved_compose: dict[str, Any]) -> None:
    published = {}
    for name, service in resolved_compose["services"].items():
        for port in service.get("ports", []):
            host_ip, host_port, container = str(port).rsplit(":", 2)
            assert host_ip == "127.0.0.1", name
            published[name] = (int(host_port), int(container.split("/")[0]))
    assert published == {
        "exporter": (9810, 9810),
        "prometheus": (9090, 9090),
        "prefect-server": (4200, 4200),
        "grafana": (3000, 3000),
        "mailpit": (8025, 8025),
    }


def test_prometheus_reads_this_repo_config_and_rules_and_keeps_data(
    resolved_compose: dict[str, Any],
) -> None:
    prometheus = resolved_compose["services"]["prometheus"]
    mounts = mounts_of(prometheus)
    config_path = "/etc/prometheus/prometheus.yml"
    assert mounts[config_path] == (str(REPO / "prometheus.yml"), "ro")
    # prometheus.yml's relative rule_files resolve beside the config file
    rules_glob = yaml.safe_load((REPO / "prometheus.yml").read_text())["rule_files"][0]
    rules_dir = str(Path(config_path).parent / Path(rules_glob).parent)
    assert mounts[rules_dir] == (str(REPO / "rules"), "ro")
    assert mounts["/prometheus"][0] == "prometheus-data"
    command = prometheus["command"]
    assert f"--config.file={config_path}" in command
    assert "--storage.tsdb.path=/prometheus" in command
    assert "--storage.tsdb.retention.time=30d" in command
    assert "--enable-feature=expand-external-labels" in command
    assert env_of(prometheus)["STACKWATCH_HOST"] == "stackwatch"


def test_worker_registers_deployments_with_what_the_flows_need(
    resolved_compose: dict[str, Any],
) -> None:
    worker = resolved_compose["services"]["prefect-worker"]
    assert worker["command"] == ["stackwatch-worker"]
    env = env_of(worker)
    assert env["PREFECT_API_URL"] == "http://prefect-server:4200/api"
    assert "host.docker.internal:host-gateway" in worker["extra_hosts"]
    mounts = mounts_of(worker)
    assert mounts["/var/run/docker.sock"][0] == "/var/run/docker.sock"  # prune needs writes
    assert mounts["/etc/stackwatch/kubeconfig"] == ("/dev/null", "ro")
    # a new flow and its deployment need a restart, not a rebuild
    assert mounts["/app/flows"] == (str(REPO / "flows"), "ro")
    assert mounts["/app/prefect.yaml"] == (str(REPO / "prefect.yaml"), "ro")
    assert mounts["/var/lib/stackwatch"][0] == "stackwatch-state"


def test_worker_config_sends_mail_to_the_host_relay_and_keeps_state_on_the_volume(
    resolved_compose: dict[str, Any],
) -> None:
    worker = resolved_compose["services"]["prefect-worker"]
    config = container_config(worker)
    assert (config.smtp.host, config.smtp.effective_port, config.smtp.tls) == (
        "host.docker.internal",
        25,
        "none",
    )
    assert config.smtp.to == ["ops@example.org"]
    assert config.smtp.username == ""  # no login on the relay
    assert str(config.state.path).startswith("/var/lib/stackwatch/")
    assert str(config.smtp.outbox_dir).startswith("/var/lib/stackwatch/")
    assert config.prometheus.url == "http://prometheus:9090"
    assert config.kubernetes.enabled is False
    assert str(config.kubernetes.kubeconfig) == "/etc/stackwatch/kubeconfig"
    assert config.links.prefect_ui_url == "http://localhost:4200"


def test_exporter_config_reads_the_mounted_host(resolved_compose: dict[str, Any]) -> None:
    config = container_config(resolved_compose["services"]["exporter"])
    assert str(config.exporter.rootfs) == "/host"
    assert config.exporter.listen.endswith(":9810")
    assert config.docker.host == "unix:///var/run/docker.sock"
    probed = {service.name: service.url for service in config.services}
    assert probed == {
        "prometheus": "http://prometheus:9090/-/healthy",
        "grafana": "http://grafana:3000/api/health",
        "prefect": "http://prefect-server:4200/api/health",
    }


def test_mailpit_profile_is_reachable_with_the_documented_settings(tmp_path: Path) -> None:
    text = ENV_EXAMPLE.read_text()
    text = re.sub(r"^SMTP_HOST=.*$", "SMTP_HOST=mailpit", text, flags=re.MULTILINE)
    text = re.sub(r"^SMTP_PORT=.*$", "SMTP_PORT=1025", text, flags=re.MULTILINE)
    env_file = tmp_path / ".env"
    env_file.write_text(text)
    result = compose_config("--profile", "mail", "config", env_file=env_file)
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    config = container_config(services["prefect-worker"])
    assert (config.smtp.host, config.smtp.effective_port) == ("mailpit", 1025)
    assert "mailpit" in services


def test_the_watchdog_mails_like_the_worker_and_reads_its_database(
    resolved_compose: dict[str, Any],
) -> None:
    """The watchdog needs no Prefect to start, mails through the worker's relay to the same
    recipients and reads the worker's alert database."""
    services = resolved_compose["services"]
    watchdog, worker = services["watchdog"], services["prefect-worker"]
    assert watchdog["command"] == ["stackwatch", "watchdog", "--listen", "127.0.0.1:9811"]
    assert "depends_on" not in watchdog
    mine, theirs = container_config(watchdog), container_config(worker)
    assert mine.smtp == theirs.smtp
    assert mine.state.path == theirs.state.path
    folder = str(mine.state.path.parent)
    assert mounts_of(watchdog)[folder][0] == mounts_of(worker)[folder][0]
    assert watchdog["environment"]["PREFECT_API_URL"] == worker["environment"]["PREFECT_API_URL"]


def test_the_silence_hint_in_the_worker_mail_is_the_command_that_works_in_the_stack(
    resolved_compose: dict[str, Any],
) -> None:
    """The worker sends the alert mail; its hint is run from the compose folder on the server,
    where the command lives in the worker container (its PATH and STACKWATCH_CONFIG are the
    image's and the service's, which `docker compose exec` uses)."""
    from alerter.evaluate import evaluate_rule, window_for
    from alerter.notify import MailRenderer, Notification
    from alerter.rules import Rule
    from stackwatch.prometheus import Series

    worker = resolved_compose["services"]["prefect-worker"]
    rule = Rule(alert="Down", expr="up == 0", group="g")
    now = 1_800_000_000.0
    [alert] = evaluate_rule(rule, [Series({"__name__": "up"}, [(now, 0.0)])], [], now,
                            window_for(rule, now))  # fmt: skip
    text, html = MailRenderer(container_config(worker)).render(Notification("g", (alert,), ()), now)
    hint = "docker compose exec prefect-worker stackwatch silence add --match alertname=NAME"
    assert hint in text
    assert hint in html
    assert env_of(worker)["STACKWATCH_CONFIG"] == "/etc/stackwatch/stackwatch.yml"
    assert mounts_of(worker)["/etc/stackwatch/stackwatch.yml"][1] == "ro"
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "ENV PATH=/opt/stackwatch/bin:$PATH" in dockerfile  # where pip put `stackwatch`


def test_the_weekly_cleanup_in_the_worker_sees_the_hosts_filesystems(
    resolved_compose: dict[str, Any],
) -> None:
    """The worker runs the cleanup, which lists the host's mounts under exporter.rootfs."""
    worker = resolved_compose["services"]["prefect-worker"]
    config = container_config(worker)
    assert str(config.exporter.rootfs) == "/host"
    source, mode = mounts_of(worker)[str(config.exporter.rootfs)]
    assert source == "/"
    assert mode.split(",")[0] == "ro"


def test_both_mount_the_host_root_with_the_same_options(tmp_path: Path) -> None:
    """rslave by default (mounts made later on the host show up); HOST_ROOT_MOUNT_OPTIONS=ro
    where / is not a shared mount and Docker refuses rslave."""
    for options in (None, "ro"):
        env_file = tmp_path / ".env"
        text = ENV_EXAMPLE.read_text()
        if options is not None:
            text += f"\nHOST_ROOT_MOUNT_OPTIONS={options}\n"
        env_file.write_text(text)
        result = compose_config("config", env_file=env_file)
        assert result.returncode == 0, result.stderr
        services = yaml.safe_load(result.stdout)["services"]
        for name in ("exporter", "prefect-worker"):
            assert mounts_of(services[name])["/host"] == ("/", options or "ro,rslave"), name


def test_a_bare_container_of_the_image_serves_its_own_view() -> None:
    """`docker run stackwatch`: the image's config without compose's settings reads the
    container's own /proc, which is there; compose points the exporter at the host's."""
    from exporter.collectors.host import HostCollector

    baked = REPO / "deploy" / "docker" / "stackwatch.yml"
    config = parse_config(baked.read_text(), str(baked), environ={})
    assert config.exporter.rootfs == Path("/")
    HostCollector.from_config(config)  # its start-up check finds every /proc file


def test_a_bare_container_says_at_start_that_it_watches_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """One line at start, where Docker's marker file says it runs in a container."""
    import exporter.collectors.host as host
    from stackwatch.config import Config

    monkeypatch.setattr(host, "CONTAINER_MARKERS", (tmp_path / ".dockerenv",))
    with caplog.at_level("WARNING", logger=host.__name__):
        host.HostCollector.from_config(Config())
    assert caplog.messages == []  # not in a container: nothing to say
    (tmp_path / ".dockerenv").touch()
    with caplog.at_level("WARNING", logger=host.__name__):
        host.HostCollector.from_config(Config())
        host.HostCollector.from_config(
            Config.model_validate({"exporter": {"rootfs": str(make_host_root(tmp_path))}})
        )
    [line] = caplog.messages
    assert line.startswith("exporter.rootfs is / inside a container: the host metrics are this")
    assert "STACKWATCH__EXPORTER__ROOTFS=/host" in line


def make_host_root(tmp_path: Path) -> Path:
    """A root holding this machine's /proc, as /host holds the host's."""
    root = tmp_path / "host"
    root.mkdir()
    (root / "proc").symlink_to("/proc")
    return root


def test_the_exporter_names_the_host_by_the_hosts_name(
    resolved_compose: dict[str, Any],
) -> None:
    """uname(2) in the container names the container; the exporter reads the host's
    /etc/hostname under its root instead, which the read-only host mount provides."""
    exporter = resolved_compose["services"]["exporter"]
    config = container_config(exporter)
    assert config.exporter.rootfs != Path("/")
    assert mounts_of(exporter)[str(config.exporter.rootfs)][0] == "/"
    assert "hostname" not in exporter  # compose would give the container a name of its own


def test_the_exporter_runs_without_an_init_because_docker_would_drop_it(
    resolved_compose: dict[str, Any],
) -> None:
    """Docker starts its init only in a PID namespace of the container's own: with pid: host
    `init: true` is silently ignored (test_docker_ignores_init_in_the_hosts_pid_namespace), so
    the exporter says so. It is not PID 1 there, so it needs none: SIGTERM ends it and orphans
    go to the host's init. The other stackwatch services keep Docker's init."""
    services = resolved_compose["services"]
    assert services["exporter"]["pid"] == "host"
    assert services["exporter"]["init"] is False
    for name in ("prefect-server", "prefect-worker", "watchdog"):
        assert services[name]["init"] is True, name
    text = COMPOSE.read_text()
    exporter_block = text[text.index("  exporter:") : text.index("  prometheus:")]
    comment = re.search(r"((?:\n\s*#[^\n]*)+)\n\s*init: false", exporter_block)
    assert comment is not None  # the reason stands above the setting
    assert "pid: host" in comment.group(1)


def root_is_shared() -> bool:
    """Whether / is a shared mount here (its mountinfo line has a shared: tag)."""
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        if fields[4] == "/":
            return any(f.startswith("shared:") for f in fields[6 : fields.index("-")])
    return False


def run_busybox(dockerd: DockerDaemon, *args: str) -> subprocess.CompletedProcess[str]:
    """`docker run --rm` of the test image as the image's user, as compose starts it."""
    return subprocess.run(
        ["docker", "-H", dockerd.host, "run", "--rm", "--network", "none", "--user", "10001",
         *args],
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip


@pytest.mark.integration
def test_docker_ignores_init_in_the_hosts_pid_namespace(dockerd: DockerDaemon) -> None:
    """Why the exporter says `init: false`: with its own PID namespace the container's PID 1 is
    Docker's init; with the host's, the same --init starts the command with no init above it."""
    image = dockerd.ensure_image()
    own = run_busybox(dockerd, "--init", image, "cat", "/proc/1/comm")
    assert own.stdout.strip() == "docker-init", own.stderr
    shared = run_busybox(dockerd, "--init", "--pid", "host", image, "sh", "-c",
                         "cat /proc/$PPID/comm")  # fmt: skip
    assert shared.returncode == 0, shared.stderr
    assert shared.stdout.strip() != "docker-init"


@pytest.mark.integration
def test_the_host_root_mount_as_the_exporter_and_worker_get_it(dockerd: DockerDaemon) -> None:
    """rslave where / is shared; where it is not, Docker's error text (docs/production.md
    quotes it) and HOST_ROOT_MOUNT_OPTIONS=ro, which gives the host's mounts and name."""
    image = dockerd.ensure_image()
    rslave = run_busybox(dockerd, "-v", "/:/host:ro,rslave", image, "true")
    if root_is_shared():
        assert rslave.returncode == 0, rslave.stderr
    else:
        assert rslave.returncode != 0
        assert "path / is mounted on / but it is not a shared or slave mount" in rslave.stderr
        assert (
            "path / is mounted on / but it is not a shared or slave mount"
            in (REPO / "docs" / "production.md").read_text()
        )
    seen = run_busybox(dockerd, "-v", "/:/host:ro", image, "sh", "-c",
                       "cat /host/etc/hostname; cat /host/proc/1/mounts")  # fmt: skip
    assert seen.returncode == 0, seen.stderr
    hostname, _, mounts = seen.stdout.partition("\n")
    assert hostname == Path("/etc/hostname").read_text().strip()

    def root_mount(text: str) -> list[str]:
        return next(line.split()[:3] for line in text.splitlines() if line.split()[1] == "/")

    # the host's mounts (its / is the host's device, not the container's overlay)
    assert root_mount(mounts) == root_mount(Path("/proc/1/mounts").read_text())
