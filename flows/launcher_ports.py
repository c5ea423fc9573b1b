"""Before a part starts: is its port taken, by what server and which process; a free port."""

from __future__ import annotations

import contextlib
import errno
import socket
from pathlib import Path

import requests


def port_taken(host: str, port: int) -> bool:
    """Whether something answers on ``host:port`` or holds it, so a new server could not bind."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
        return True
    with socket.socket() as sock:
        # as the servers themselves bind: connections of a server just stopped (TIME_WAIT)
        # do not hold the port, a listening socket does
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def free_port(host: str) -> int:
    """A port on ``host`` that nothing holds right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def listening_pids(port: int) -> set[int]:
    """The processes with a socket listening on ``port`` (any address), read from /proc."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            # local address is ADDR:PORT in hex; state 0A is LISTEN
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].split(":")[1], 16) == port:
                inodes.add(fields[9])
    if not inodes:
        return set()
    wanted = {f"socket:[{inode}]" for inode in inodes}
    pids: set[int] = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (proc / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if str(fd.readlink()) in wanted:
                        pids.add(int(proc.name))
                        break
    return pids


def command_line(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    text = raw.replace(b"\0", b" ").decode(errors="replace").strip()
    return text if len(text) <= 120 else text[:117] + "..."


def _json(url: str) -> object:
    with contextlib.suppress(requests.RequestException, ValueError):
        response = requests.get(url, timeout=2)
        if response.status_code == 200:
            return response.json()
    return None


def what_answers(host: str, port: int) -> str:
    """One phrase naming the server on ``host:port``: its kind when it says, and its process."""
    base = f"http://{host}:{port}"
    build = _json(f"{base}/api/v1/status/buildinfo")
    if isinstance(build, dict) and isinstance(build.get("data"), dict):
        kind = f"Prometheus {build['data'].get('version', '?')}"
    elif _json(f"{base}/api/health") is not None:
        kind = "a Prefect server (its /api/health answers)"
    else:
        try:
            root = requests.get(base, timeout=2)
        except requests.RequestException:
            kind = "something that does not answer HTTP"
        else:
            server = root.headers.get("Server")
            kind = f"an HTTP server (HTTP {root.status_code}{', ' + server if server else ''})"
    owners = listening_pids(port)
    if owners:
        kind += ", " + "; ".join(f"pid {pid}: {command_line(pid)}" for pid in sorted(owners))
    return kind
