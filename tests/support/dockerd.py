"""A real dockerd (Debian docker.io) on its own socket, data root and exec root, for tests.

No image registry is reachable here, so the test image is made with ``docker import`` from a
folder holding busybox-static's binary and a symlink per applet. Containers must use
``network_mode="none"``: the daemon runs without a bridge or iptables rules.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import docker
import docker.errors

from tests.support.procs import require_binary
from tests.support.timing import within

BUSYBOX = "/bin/busybox"
IMAGE = "stackwatch-busybox:test"


def busybox_tar(busybox: str = BUSYBOX) -> bytes:
    """A root filesystem tar: /bin/busybox, a symlink per applet, an empty /tmp."""
    applets = subprocess.run(
        [busybox, "--list"], check=True, capture_output=True, text=True
    ).stdout.split()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for folder in ("bin", "tmp", "etc"):
            info = tarfile.TarInfo(folder)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if folder == "tmp" else 0o755
            tar.addfile(info)
        tar.add(busybox, arcname="bin/busybox")
        for applet in applets:
            if applet == "busybox":
                continue
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type = tarfile.SYMTYPE
            info.linkname = "busybox"
            tar.addfile(info)
    return buffer.getvalue()


class DockerDaemon:
    """A dockerd under a short temp folder (unix socket paths must stay under 108 bytes).

    ``start()`` waits for ``/_ping`` and imports the busybox image; ``stop()`` ends dockerd by
    PID (SIGTERM, then SIGKILL) along with the containerd it manages, and removes the folder.
    ``restart()`` keeps the data root, so containers survive it as they would on a host.
    """

    def __init__(
        self,
        binary: str = "/usr/sbin/dockerd",
        busybox: str = BUSYBOX,
        live_restore: bool = False,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.binary = binary
        self.extra_args = list(extra_args)  # e.g. --host-gateway-ip for a compose stack
        self.live_restore = live_restore  # containers keep running while dockerd is stopped
        self.busybox = busybox
        self.root = Path(tempfile.mkdtemp(prefix="swd-", dir="/tmp"))
        self.socket = self.root / "docker.sock"
        self.host = f"unix://{self.socket}"
        self.log_path = self.root / "dockerd.log"
        self.image = IMAGE
        self.storage_driver: str | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._client: docker.DockerClient | None = None

    def __enter__(self) -> DockerDaemon:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _command(self) -> list[str]:
        command = [
            self.binary,
            f"--data-root={self.root / 'data'}",
            f"--exec-root={self.root / 'exec'}",
            f"--pidfile={self.root / 'dockerd.pid'}",
            f"--host={self.host}",
            "--bridge=none",
            "--iptables=false",
            "--ip6tables=false",
            "--ip-masq=false",
            "--shutdown-timeout=2",
            "--log-level=warn",
        ]
        if self.live_restore:
            command.append("--live-restore")
        if self.storage_driver:
            command.append(f"--storage-driver={self.storage_driver}")
        return command + self.extra_args

    def _launch(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self._command(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def _ping(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError("dockerd exited")
        client = docker.APIClient(base_url=self.host, version="auto", timeout=2)
        try:
            return bool(client.ping())
        finally:
            client.close()

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.socket.exists() and self._ping():
                    return True
            except RuntimeError:
                return False
            except (docker.errors.DockerException, OSError):
                pass
            time.sleep(0.1)
        return False

    def start(self, timeout: float = 60) -> DockerDaemon:
        """Start dockerd (falling back to the vfs storage driver) and import the test image."""
        try:
            self._launch()
            if not self._wait_ready(within(timeout)) and self.storage_driver is None:
                # overlay2 needs a kernel and a backing filesystem that support it
                self.terminate()
                self.storage_driver = "vfs"
                self._launch()
                self._wait_ready(within(timeout))
            self._check_ready()
            self.ensure_image()
        except BaseException:
            self.stop()
            raise
        return self

    def _check_ready(self) -> None:
        try:
            self._ping()
        except (RuntimeError, docker.errors.DockerException, OSError) as exc:
            log = self.log_path.read_text(errors="replace")[-3000:]
            raise AssertionError(f"dockerd on {self.host} is not ready ({exc}):\n{log}") from exc

    def restart(self, timeout: float = 60) -> DockerDaemon:
        """Stop dockerd and start it again on the same data root."""
        self.terminate()
        self._launch()
        self._wait_ready(within(timeout))
        self._check_ready()
        return self

    @property
    def client(self) -> docker.DockerClient:
        """A Docker SDK client on this daemon's socket."""
        if self._client is None:
            self._client = docker.DockerClient(base_url=self.host, version="auto", timeout=60)
        return self._client

    @property
    def api(self) -> docker.APIClient:
        """The low-level API client of ``client``."""
        return self.client.api

    def ensure_image(self) -> str:
        """Import the busybox image unless it is there (a prune may have removed it)."""
        try:
            self.client.images.get(self.image)
        except docker.errors.ImageNotFound:
            repository, tag = self.image.rsplit(":", 1)
            self.api.import_image_from_data(
                busybox_tar(self.busybox),
                repository=repository,
                tag=tag,
                changes=["ENV PATH=/bin", 'CMD ["/bin/sh"]'],
            )
        return self.image

    def run(self, command: str | list[str], **kwargs: Any) -> Any:
        """Start a detached container of the test image without a network."""
        kwargs.setdefault("network_mode", "none")
        kwargs.setdefault("detach", True)
        kwargs.setdefault("stop_signal", "SIGKILL")
        return self.client.containers.run(self.ensure_image(), command, **kwargs)

    def create(self, command: str | list[str], **kwargs: Any) -> Any:
        """Create (not start) a container of the test image without a network."""
        kwargs.setdefault("network_mode", "none")
        kwargs.setdefault("stop_signal", "SIGKILL")
        return self.client.containers.create(self.ensure_image(), command, **kwargs)

    def cli(self, *args: str, timeout: float = 60) -> str:
        """Run the ``docker`` CLI against this daemon and return its output."""
        result = subprocess.run(
            ["docker", "-H", self.host, *args],
            check=True,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return result.stdout

    def _containerd_pid(self) -> int | None:
        path = self.root / "exec" / "containerd" / "containerd.pid"
        try:
            return int(path.read_text().strip())
        except (OSError, ValueError):
            return None

    def terminate(self) -> None:
        """Stop dockerd by PID, keeping its data root (``restart()`` brings it back)."""
        if self._client is not None:
            self._client.close()
            self._client = None
        containerd = self._containerd_pid()
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                # dockerd stops the containerd it started; after a SIGKILL it cannot
                if containerd is not None:
                    self._kill_own_containerd(containerd)
        self.process = None

    def _kill_own_containerd(self, pid: int) -> None:
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return
        if str(self.root).encode() in command:  # ours, not a process that reused the PID
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def _unmount_leftovers(self) -> None:
        """Lazily unmount anything still mounted under the folder (after an unclean stop)."""
        root = str(self.root)
        try:
            mounts = Path("/proc/self/mounts").read_text().splitlines()
        except OSError:
            return
        targets = [line.split()[1] for line in mounts if len(line.split()) > 1]
        for target in sorted((t for t in targets if t.startswith(root + "/")), reverse=True):
            subprocess.run(["umount", "--lazy", target], capture_output=True, check=False)

    def _kill_containers(self) -> None:
        # busybox as PID 1 ignores SIGTERM: without this dockerd waits out each stop timeout
        try:
            for container in self.api.containers(filters={"status": "running"}):
                self.api.kill(container["Id"])
        except docker.errors.DockerException:
            pass

    def stop(self) -> None:
        """Kill the containers, stop dockerd by PID and remove its folder."""
        if self.process is not None and self.process.poll() is None:
            self._kill_containers()
        self.terminate()
        self._unmount_leftovers()
        shutil.rmtree(self.root, ignore_errors=True)


def required_dockerd(live_restore: bool = False, extra_args: Sequence[str] = ()) -> DockerDaemon:
    """A DockerDaemon to enter, once dockerd and busybox are known to be installed (skipped
    locally when they are not, failed under CI)."""
    binary = require_binary("dockerd", "docker.io")
    require_binary("busybox", "busybox-static")
    return DockerDaemon(binary, live_restore=live_restore, extra_args=extra_args)
