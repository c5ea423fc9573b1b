"""``/sys/fs/bcache/<uuid>``: bcache sets, their backing and cache devices, as procfs reads them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

_UNITS = {c: 1 << (10 * (i + 1)) for i, c in enumerate("kMGTPEZY")}
CACHE_VALUES = ("io_errors", "metadata_written", "written")
PERIOD = (
    "bypassed",
    "cache_hits",
    "cache_misses",
    "cache_bypass_hits",
    "cache_bypass_misses",
    "cache_miss_collisions",
    "cache_readaheads",
)


def dehumanize(text: str) -> int:
    """bcache's human sizes (``1.1M``), read as procfs does: the digit after the point counts
    in 1/10.24ths, since the kernel prints the remainder of a division by 1024 that way."""
    if not text:
        raise ValueError("bcache: empty value")
    if text[-1] in _UNITS:
        whole, _, fraction = text[:-1].partition(".")
        mantissa = float(whole) + (float(fraction) / 10.24 if fraction else 0.0)
        return int(mantissa * _UNITS[text[-1]])
    return int(float(text))


def _signed(text: str) -> int:
    value = dehumanize(text.removeprefix("-"))
    return -value if text.startswith("-") else value


@dataclass
class BcacheSet:
    """One set: its own values, and each backing (``bdevN``) and cache (``cacheN``) device's."""

    uuid: str
    values: dict[str, int]
    bdevs: dict[str, dict[str, int]] = field(default_factory=dict)
    caches: dict[str, dict[str, int]] = field(default_factory=dict)


def _value(folder: Path, name: str) -> int:
    # A missing attribute is 0, as procfs reads it; the trailing newline is dropped.
    try:
        text = (folder / name).read_text()
    except FileNotFoundError:
        return 0
    return dehumanize(text[:-1])


def _writeback(folder: Path) -> dict[str, int]:
    out = {"rate": 0, "target": 0, "proportional": 0, "integral": 0, "change": 0}
    try:
        text = (folder / "writeback_rate_debug").read_text()
    except FileNotFoundError:
        return out
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in out and rest.split():
            value = rest.split()[-1].removesuffix("/sec")
            out[key] = _signed(value)
    return out


def _numbered(folder: Path, prefix: str) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.name.startswith(prefix) and p.name[len(prefix) :][:1].isdigit()
    )


def bcache_sets(sys: Path) -> list[BcacheSet]:
    """Every set under ``/sys/fs/bcache`` (its ``*-*`` folders); none without bcache."""
    folder = sys / "fs" / "bcache"
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(p for p in folder.iterdir() if "-" in p.name):
        names = (
            "average_key_size",
            "btree_cache_size",
            "cache_available_percent",
            "congested",
            "root_usage_percent",
            "tree_depth",
        )
        values = {name: _value(path, name) for name in names}
        internal = ("active_journal_entries", "btree_nodes", "btree_read_average_duration_us")
        values |= {
            name: _value(path / "internal", name) for name in (*internal, "cache_read_races")
        }
        one = BcacheSet(path.name, values)
        for bdev in _numbered(path, "bdev"):
            stats = {"dirty_data": _value(bdev, "dirty_data"), **_writeback(bdev)}
            stats |= {name: _value(bdev / "stats_total", name) for name in PERIOD}
            one.bdevs[bdev.name] = stats
        for cache in _numbered(path, "cache"):
            one.caches[cache.name] = {name: _value(cache, name) for name in CACHE_VALUES}
        out.append(one)
    return out
