"""``scripts/system-deps.sh`` installs what is missing and never stops or restarts a service.

The script runs as root on the user's server, where a running ``docker`` or ``prometheus`` may
be production. ``apt-get`` and ``systemctl`` are stand-ins on PATH that record their calls (a
real install here would change the machine), the other commands are the real ones.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "system-deps.sh"


def stub(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def machine(tmp_path: Path) -> dict[str, Path]:
    """A PATH with bash and coreutils but none of the wanted packages, and recording stubs."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "sh", "printf", "sort", "tr", "id", "chmod", "rm", "cat", "test"):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    calls = tmp_path / "calls"
    policy = tmp_path / "policy-rc.d"
    # apt-get notes whether the no-start policy was in place while it ran
    stub(
        bin_dir,
        "apt-get",
        f'echo "apt-get $*" >> {calls}\n'
        f"if [ -x {policy} ] && ! {policy} prometheus start; then\n"
        f'  echo "policy: no start" >> {calls}\nfi',
    )
    stub(bin_dir, "systemctl", f'echo "systemctl $*" >> {calls}\nexit 0')  # every service "active"
    return {"bin": bin_dir, "calls": calls, "policy": policy}


def run_script(machine: dict[str, Path], mode: str = "test") -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": str(machine["bin"]),
        "HOME": os.environ.get("HOME", "/root"),
        "STACKWATCH_POLICY_RC_D": str(machine["policy"]),
    }
    return subprocess.run(
        [str(machine["bin"] / "bash"), str(SCRIPT), mode],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="the script installs only as root")
def test_installing_starts_no_service_and_stops_none(machine: dict[str, Path]) -> None:
    result = run_script(machine)
    assert result.returncode == 0, result.stderr
    calls = machine["calls"].read_text().splitlines()
    assert [c for c in calls if c.startswith("apt-get install")], calls
    assert "policy: no start" in calls  # the packages' own services were not started
    assert not [c for c in calls if c.startswith("systemctl")], calls  # nor stopped, nor asked
    assert not machine["policy"].exists()  # its own policy file is gone again


@pytest.mark.skipif(os.geteuid() != 0, reason="the script installs only as root")
def test_a_policy_the_machine_already_has_is_left_alone(machine: dict[str, Path]) -> None:
    machine["policy"].write_text("#!/bin/sh\n# the admin's own\nexit 0\n")
    machine["policy"].chmod(0o755)
    result = run_script(machine)
    assert result.returncode == 0, result.stderr
    assert machine["policy"].read_text() == "#!/bin/sh\n# the admin's own\nexit 0\n"
    calls = machine["calls"].read_text().splitlines()
    assert not [c for c in calls if c.startswith("systemctl")], calls


def installed(machine: dict[str, Path]) -> set[str]:
    """The packages the stand-in apt-get was asked to install."""
    calls = machine["calls"].read_text().splitlines()
    return {
        word
        for call in calls
        if call.startswith("apt-get install")
        for word in call.split()[2:]
        if not word.startswith("-")
    }


@pytest.mark.skipif(os.geteuid() != 0, reason="the script installs only as root")
def test_make_run_installs_only_what_running_needs(machine: dict[str, Path]) -> None:
    result = run_script(machine, "run")
    assert result.returncode == 0, result.stderr
    assert installed(machine) == {"prometheus"}  # prometheus and promtool


@pytest.mark.skipif(os.geteuid() != 0, reason="the script installs only as root")
def test_make_test_adds_what_the_tests_need(machine: dict[str, Path]) -> None:
    result = run_script(machine, "test")
    assert result.returncode == 0, result.stderr
    assert installed(machine) == {
        "prometheus",
        "prometheus-node-exporter",
        "docker.io",
        "busybox-static",
        "docker-compose",
        "prometheus-alertmanager",
        "victoria-metrics",
        "chromium",
        "debootstrap",
    }


def test_without_root_it_names_the_packages_of_its_set_and_installs_none(
    machine: dict[str, Path],
) -> None:
    """As a user other than root (a stand-in ``id`` says so), it prints the command to run."""
    (machine["bin"] / "id").unlink()
    stub(machine["bin"], "id", "echo 1000")
    result = run_script(machine, "run")
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        "install them with: sudo apt-get update && sudo apt-get install -y prometheus"
    )
    assert not machine["calls"].exists()


def test_an_unknown_set_is_refused(machine: dict[str, Path]) -> None:
    result = run_script(machine, "everything")
    assert result.returncode == 2
    assert result.stderr == "usage: system-deps.sh run|test\n"
    assert not machine["calls"].exists()
