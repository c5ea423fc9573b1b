"""The weekly cleanup's Docker prune on a real Docker engine (tests/support/dockerd.py)."""

from __future__ import annotations

import contextlib
import email
import email.policy
import io
import os
import re
import tarfile
import threading
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import docker.errors
import docker.utils
import pytest
from docker.types import Mount

from stackwatch.cli import main
from stackwatch.config import Config
from stackwatch.reports.cleanup import CleanupStep, run_weekly_cleanup, send_cleanup_report
from stackwatch.reports.docker_prune import DockerPruner, PruneResult
from tests.support.chromium import WIDTHS, artifacts, mail_html, overflow, screenshot
from tests.support.dockerd import DockerDaemon, busybox_tar

pytestmark = pytest.mark.integration


def random_image_tar(size: int) -> bytes:
    """A root filesystem holding one file of random bytes, so no layer is shared or small."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("blob")
        info.size = size
        tar.addfile(info, io.BytesIO(os.urandom(size)))
    return buffer.getvalue()


@pytest.fixture
def scene(dockerd: DockerDaemon) -> Iterator[dict[str, Any]]:
    """A running container, a stopped one with 1 MB written, a stopped one with the keep
    label, a dangling (untagged) 2 MB image and an unused named volume."""
    tag = uuid.uuid4().hex[:8]
    client = dockerd.client
    running = dockerd.run(["sleep", "600"], name=f"running-{tag}")
    stopped = dockerd.run(
        ["sh", "-c", "head -c 1048576 /dev/urandom > /tmp/blob"], name=f"stopped-{tag}"
    )
    kept = dockerd.run(["true"], name=f"kept-{tag}", labels={"stackwatch.keep": "yes"})
    for container in (stopped, kept):
        container.wait(timeout=30)
    answer = str(dockerd.api.import_image_from_data(random_image_tar(2 * 1024 * 1024)))
    match = re.search(r"sha256:[0-9a-f]{64}", answer)
    assert match, answer
    image_id = match.group(0)
    volume = client.volumes.create(name=f"data-{tag}")
    yield {
        "tag": tag,
        "running": running,
        "stopped": stopped,
        "kept": kept,
        "image_id": image_id,
        "volume": volume,
    }
    for container in (running, stopped, kept):
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)
    with contextlib.suppress(docker.errors.NotFound):
        volume.remove(force=True)


def config_for(dockerd: DockerDaemon, **docker_cleanup: Any) -> Config:
    return Config.model_validate(
        {
            "docker": {"host": dockerd.host},
            "cleanup": {"docker": docker_cleanup},
            "exporter": {"rootfs": "/"},
        }
    )


def steps_by_name(steps: list[CleanupStep]) -> dict[str, CleanupStep]:
    return {step.name: step for step in steps}


def container_names(dockerd: DockerDaemon) -> set[str]:
    return {c.name for c in dockerd.client.containers.list(all=True)}


def test_dry_run_lists_and_removes_nothing(dockerd: DockerDaemon, scene: dict[str, Any]) -> None:
    before = container_names(dockerd)

    report = run_weekly_cleanup(config_for(dockerd), dry_run=True)

    assert container_names(dockerd) == before
    dockerd.client.images.get(scene["image_id"])  # still there
    steps = steps_by_name(report.steps)
    assert f"stopped-{scene['tag']}" in steps["Docker: stopped containers"].removed
    assert f"kept-{scene['tag']}" not in steps["Docker: stopped containers"].removed
    assert (
        scene["image_id"].removeprefix("sha256:")[:12] in steps["Docker: dangling images"].removed
    )
    assert steps["Docker: dangling images"].bytes_freed >= 2 * 1024 * 1024
    assert report.dry_run
    assert "dry run" in report.subject
    assert f"stopped-{scene['tag']}" in report.text


def untagged_busybox(dockerd: DockerDaemon) -> str:
    """A runnable image of its own (a marker file makes its id new) with no tag: dangling."""
    buffer = io.BytesIO(busybox_tar(dockerd.busybox))
    with tarfile.open(fileobj=buffer, mode="a") as tar:
        marker = uuid.uuid4().hex.encode()
        info = tarfile.TarInfo("marker")
        info.size = len(marker)
        tar.addfile(info, io.BytesIO(marker))
    answer = str(dockerd.api.import_image_from_data(buffer.getvalue()))
    match = re.search(r"sha256:[0-9a-f]{64}", answer)
    assert match, answer
    return match.group(0)


def test_the_dry_run_lists_exactly_what_the_real_run_removes(
    dockerd: DockerDaemon, scene: dict[str, Any]
) -> None:
    """Untagged images in use by a running container and by a kept stopped one are not listed
    and survive; one used only by a container the prune removes goes with it, in both runs."""
    in_use, kept_use, freed = (untagged_busybox(dockerd) for _ in range(3))
    options: dict[str, Any] = {"network_mode": "none", "stop_signal": "SIGKILL"}
    containers = [
        dockerd.client.containers.run(in_use, ["sleep", "600"], detach=True, **options),
        dockerd.client.containers.run(
            kept_use, ["true"], detach=True, labels={"stackwatch.keep": "1"}, **options
        ),
        dockerd.client.containers.run(freed, ["true"], detach=True, **options),
        # an anonymous volume only a stopped container holds: it goes once the container does
        dockerd.client.containers.run(
            in_use, ["true"], detach=True, mounts=[Mount("/data", None, type="volume")], **options
        ),
    ]
    for container in containers[1:]:
        container.wait(timeout=30)
    short = {image: image.removeprefix("sha256:")[:12] for image in (in_use, kept_use, freed)}
    try:
        anonymous = containers[3].attrs["Mounts"][0]["Name"]
        dry = steps_by_name(
            run_weekly_cleanup(config_for(dockerd, volumes=True), dry_run=True).steps
        )
        named = f"data-{scene['tag']}"
        # before API 1.42 (Docker 23) a volume prune takes named volumes too
        named_goes = not docker.utils.version_gte(dockerd.api.api_version, "1.42")
        expected = sorted([anonymous, *([named] if named_goes else [])])
        assert dry["Docker: unused volumes"].removed == expected
        listed = dry["Docker: dangling images"].removed
        assert short[in_use] not in listed
        assert short[kept_use] not in listed
        assert short[freed] in listed

        real = steps_by_name(run_weekly_cleanup(config_for(dockerd, volumes=True)).steps)

        dockerd.client.images.get(in_use)
        dockerd.client.images.get(kept_use)
        with pytest.raises(docker.errors.ImageNotFound):
            dockerd.client.images.get(freed)
        with pytest.raises(docker.errors.NotFound):
            dockerd.client.volumes.get(anonymous)
        if not named_goes:
            dockerd.client.volumes.get(named)
        for name, step in dry.items():
            if name.startswith("Docker"):
                assert sorted(step.removed) == sorted(real[name].removed), name
                assert real[name].ok, real[name].error
        assert dry["Docker: dangling images"].bytes_freed == (
            real["Docker: dangling images"].bytes_freed
        )
    finally:
        for container in containers:
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)


def test_prune_removes_stopped_and_dangling_keeps_running_labelled_and_volumes(
    dockerd: DockerDaemon, scene: dict[str, Any]
) -> None:
    report = run_weekly_cleanup(config_for(dockerd))

    names = container_names(dockerd)
    tag = scene["tag"]
    assert f"stopped-{tag}" not in names
    assert {f"running-{tag}", f"kept-{tag}"} <= names
    with pytest.raises(docker.errors.ImageNotFound):
        dockerd.client.images.get(scene["image_id"])
    dockerd.client.images.get(dockerd.image)  # the tagged image in use is not dangling
    dockerd.client.volumes.get(f"data-{tag}")  # volumes are not pruned by default

    steps = steps_by_name(report.steps)
    containers = steps["Docker: stopped containers"]
    images = steps["Docker: dangling images"]
    assert containers.ok, report.text
    assert images.ok, report.text
    assert f"stopped-{tag}" in containers.removed
    assert containers.bytes_freed >= 1024 * 1024
    assert images.bytes_freed >= 2 * 1024 * 1024
    assert steps["Docker: build cache"].ok
    assert steps["Docker: unused networks"].ok
    assert "Docker: unused volumes" not in steps
    assert report.bytes_freed >= 3 * 1024 * 1024
    assert f"stopped-{tag}" in report.html
    assert "freed" in report.subject
    assert "failed" not in report.subject
    # free space per filesystem was measured before and after
    assert report.filesystems_before
    assert report.filesystems_after
    assert "Free space per filesystem" in report.text


def test_a_second_prune_finds_nothing_and_null_space_counts_as_zero(
    dockerd: DockerDaemon, scene: dict[str, Any]
) -> None:
    run_weekly_cleanup(config_for(dockerd))

    report = run_weekly_cleanup(config_for(dockerd))

    steps = steps_by_name(report.steps)
    assert steps["Docker: dangling images"].removed == []
    assert steps["Docker: dangling images"].bytes_freed == 0
    assert all(s.ok for s in report.steps)


def test_concurrent_build_cache_prune_conflict_is_retried(dockerd: DockerDaemon) -> None:
    """Docker answers 409 while another prune runs; the pruner waits and tries again."""
    pruner = DockerPruner(dockerd.client, keep_label="stackwatch.keep", sleep=lambda _: None)
    real = pruner.api.prune_builds
    calls: list[int] = []

    def busy_then_real(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) < 3:
            response = type("Response", (), {"status_code": 409, "reason": "Conflict"})()
            raise docker.errors.APIError(
                "a prune operation is already running",
                response=response,  # type: ignore[arg-type]
            )
        return real(*args, **kwargs)

    pruner.api.prune_builds = busy_then_real  # type: ignore[method-assign]
    result = pruner.build_cache(dry_run=False)

    assert len(calls) == 3
    assert result.error is None


def test_concurrent_prunes_on_the_real_engine_all_succeed(dockerd: DockerDaemon) -> None:
    """Several cleanups at once: a container another one removed first is simply skipped."""
    for i in range(4):
        dockerd.run(["true"], name=f"done-{uuid.uuid4().hex[:6]}-{i}").wait(timeout=30)
    results: list[PruneResult] = []
    errors: list[BaseException] = []

    def prune() -> None:
        pruner = DockerPruner(dockerd.client, keep_label="stackwatch.keep")
        try:
            results.append(pruner.containers(dry_run=False))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=prune) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    assert len(results) == 4
    assert not [c for c in dockerd.client.containers.list(all=True) if c.name.startswith("done-")]


def test_cli_dry_run_prints_what_would_go_and_removes_nothing(
    dockerd: DockerDaemon, scene: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_file = tmp_path / "stackwatch.yml"
    config_file.write_text(
        f"docker:\n  host: {dockerd.host}\nsmtp:\n  outbox_dir: {tmp_path}/outbox\n"
        f"state:\n  path: {tmp_path}/stackwatch.db\n"
    )
    before = container_names(dockerd)

    code = main(["cleanup", "weekly", "--dry-run", "--config", str(config_file)])

    assert code == 0
    out = capsys.readouterr().out
    assert "Weekly cleanup (dry run: nothing removed)" in out
    assert f"stopped-{scene['tag']}" in out
    assert container_names(dockerd) == before
    assert not (tmp_path / "outbox").exists()  # a dry run sends nothing


def test_engine_down_fails_the_docker_steps_only(tmp_path: Any) -> None:
    config = Config.model_validate(
        {
            "docker": {"host": f"unix://{tmp_path}/missing.sock"},
            "exporter": {"rootfs": "/"},
            "state": {"path": f"{tmp_path}/stackwatch.db"},
        }
    )

    report = run_weekly_cleanup(config)

    docker_steps = [s for s in report.steps if s.name.startswith("Docker")]
    assert docker_steps
    assert all(not s.ok for s in docker_steps)
    assert all("cannot connect to Docker" in (s.error or "") for s in docker_steps)
    others = [s for s in report.steps if not s.name.startswith("Docker")]
    assert all(s.skipped for s in others)
    assert "Docker: stopped containers failed" in report.text


@pytest.mark.parametrize("width", WIDTHS)
def test_the_cleanup_report_fits_the_screen(
    width: int,
    dockerd: DockerDaemon,
    scene: dict[str, Any],
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The report of a real prune, as mailed, in headless Chromium at a mail client's width and
    a phone's: nothing wider than the screen."""
    config = Config.model_validate(
        {
            **config_for(dockerd).model_dump(mode="json", by_alias=True),
            "smtp": {"outbox_dir": str(tmp_path / "outbox")},
        }
    )
    report = run_weekly_cleanup(config)
    send_cleanup_report(config, report)
    (mail,) = (tmp_path / "outbox").glob("*.eml")
    message = email.message_from_bytes(mail.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    html = mail_html(message)

    shot = screenshot(html, "cleanup-report", width, artifacts(tmp_path_factory))

    assert overflow(shot) is None, overflow(shot)
