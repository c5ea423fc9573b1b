"""A filesystem that never answers: a FUSE mount whose daemon does not read its requests.

Every ``statvfs`` on it blocks, as on a hard-mounted NFS export whose server went away, until
the mount's ``/dev/fuse`` descriptor is closed, which aborts the connection (the blocked calls
then fail with ENOTCONN). Needs root and ``/dev/fuse``.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

MS_NOSUID, MS_NODEV, MNT_DETACH = 2, 4, 2


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def require_fuse() -> None:
    """Skip unless this process may mount FUSE filesystems."""
    if os.geteuid() != 0:
        pytest.skip("mounting a FUSE filesystem needs root")
    if not Path("/dev/fuse").exists():
        pytest.skip("no /dev/fuse in this kernel or container")


class HungMount:
    """A mounted, never-answering filesystem; ``answer()`` aborts it so calls return."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self._fd: int | None = os.open("/dev/fuse", os.O_RDWR)
        options = f"fd={self._fd},rootmode=40000,user_id=0,group_id=0"
        if _libc().mount(
            b"stackwatch-hung", bytes(target), b"fuse", MS_NOSUID | MS_NODEV, options.encode()
        ):
            errno = ctypes.get_errno()
            os.close(self._fd)
            raise OSError(errno, f"mount -t fuse {target}: {os.strerror(errno)}")

    def abort(self) -> None:
        """Abort the connection: blocked and later calls fail instead of hanging."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def unmount(self) -> None:
        self.abort()
        _libc().umount2(bytes(self.target), MNT_DETACH)


@contextlib.contextmanager
def hung_mount(target: Path) -> Iterator[HungMount]:
    """Mount a never-answering filesystem on ``target`` for the block; always unmounted."""
    require_fuse()
    mount = HungMount(target)
    try:
        yield mount
    finally:
        mount.unmount()
