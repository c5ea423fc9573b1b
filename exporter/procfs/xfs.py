"""XFS statistics (``/sys/fs/xfs/<device>/stats/stats``), the lines node_exporter exports."""

from __future__ import annotations

# The values each exported line must have, as procfs checks them (vnodes may have a ninth).
_SIZES = {"extent_alloc": 4, "abt": 4, "blk_map": 7, "bmbt": 4, "dir": 4, "ig": 7, "rw": 2}


def parse_xfs_stats(text: str) -> dict[str, list[int]]:
    """Each exported line's values by its name; a line the kernel did not write is all zeros."""
    out: dict[str, list[int]] = {name: [0] * size for name, size in _SIZES.items()}
    out["vnodes"] = [0] * 8
    for line in text.splitlines():
        parts = line.split()
        if not parts or (parts[0] not in _SIZES and parts[0] != "vnodes"):
            continue
        values = [int(v) for v in parts[1:]]
        wanted = _SIZES.get(parts[0])
        if (wanted is not None and len(values) != wanted) or (wanted is None and len(values) < 7):
            raise ValueError(f"not an XFS stats file: line {line!r}")
        out[parts[0]] = values
    return out
