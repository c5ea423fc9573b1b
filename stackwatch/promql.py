"""PromQL that rules, checks and reports share, so one change reaches all of them."""

from __future__ import annotations

# Filesystems that hold no user data (memory-backed, image layers, namespaces): left out of
# every disk-usage figure. The rule files spell the same matcher; a test keeps them equal.
PSEUDO_FS_TYPES = ("tmpfs", "ramfs", "devtmpfs", "overlay", "squashfs", "nsfs")
PSEUDO_FS = f'fstype!~"{"|".join(PSEUDO_FS_TYPES)}"'

# Where a resource needs attention: the threshold-alert-check rules fire above these, and the
# daily report flags a reading at or above them.
CPU_WARN = 0.80
RAM_WARN = 0.85
DISK_WARN = 0.90


def _matchers(*parts: str) -> str:
    """``{a,b}`` from the non-empty matchers, or nothing at all when there are none."""
    inner = ",".join(part for part in parts if part)
    return f"{{{inner}}}" if inner else ""


def cpu_used(selector: str = "", *, by: str = "instance") -> str:
    """Share of CPU time not idle over 5 minutes, averaged over the cores (per ``by``)."""
    grouping = f" by ({by})" if by else ""
    idle = _matchers(selector, 'mode="idle"')
    return f"1 - avg{grouping} (rate(node_cpu_seconds_total{idle}[5m]))"


def ram_used(selector: str = "") -> str:
    """Share of memory not available to new work."""
    sel = _matchers(selector)
    return f"1 - node_memory_MemAvailable_bytes{sel} / node_memory_MemTotal_bytes{sel}"


def filesystem_size(selector: str = "") -> str:
    return f"node_filesystem_size_bytes{_matchers(selector, PSEUDO_FS)}"


def filesystem_avail(selector: str = "") -> str:
    return f"node_filesystem_avail_bytes{_matchers(selector, PSEUDO_FS)}"


def disk_used(selector: str = "") -> str:
    """Share of each real filesystem in use (pseudo filesystems left out)."""
    return f"1 - {filesystem_avail(selector)} / {filesystem_size(selector)}"
