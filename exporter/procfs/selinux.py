"""``/etc/selinux/config``: the enforcement mode SELinux is configured to start in."""

from __future__ import annotations

# As node_exporter numbers modes: enforcing 1, permissive 0, disabled -1.
MODES = {"enforcing": 1, "permissive": 0, "disabled": -1}


def parse_selinux_config(text: str) -> int:
    """The ``SELINUX=`` mode as a number; a file without one reads as disabled."""
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key.strip() == "SELINUX":
            return MODES.get(value.strip().strip("\"'").lower(), -1)
    return -1
