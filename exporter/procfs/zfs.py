"""``/proc/spl/kstat/zfs``: ZFS kstat files, parsed as node_exporter's zfs collector does."""

from __future__ import annotations

from dataclasses import dataclass

# kstat data types node_exporter exports: KSTAT_DATA_INT64 and KSTAT_DATA_UINT64.
_INTEGER_TYPES = ("3", "4")


def _kstat_rows(text: str, what: str) -> list[list[str]]:
    """The rows after the ``name type data`` header; an error where there is none."""
    rows: list[list[str]] = []
    started = False
    for line in text.splitlines():
        parts = line.split()
        if not started:
            started = parts == ["name", "type", "data"]
            continue
        if len(parts) >= 3:
            rows.append(parts)
    if not started:
        raise ValueError(f"not a ZFS kstat file: no {what} values")
    return rows


def parse_kstat(text: str, what: str) -> dict[str, int]:
    """A kstat file's integer values by name (``arcstats``: ``hits``, ``misses``...)."""
    return {
        parts[0]: int(parts[2]) for parts in _kstat_rows(text, what) if parts[1] in _INTEGER_TYPES
    }


@dataclass(frozen=True)
class Objset:
    """A dataset's kstat (``objset-0x36``): its name and unsigned values."""

    dataset: str
    values: dict[str, int]


def parse_objset(text: str) -> Objset:
    """Parse ``<pool>/objset-*``; only KSTAT_DATA_UINT64 values count, as in node_exporter."""
    dataset = ""
    values: dict[str, int] = {}
    for parts in _kstat_rows(text, "objset"):
        if parts[0] == "dataset_name":
            dataset = parts[2]
        elif parts[1] == "4":
            values[parts[0]] = int(parts[2])
    return Objset(dataset, values)


def parse_pool_io(text: str) -> dict[str, int]:
    """Parse ``<pool>/io`` (older ZFS): a header row of names, then their values."""
    names: list[str] | None = None
    out: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if names is None:
            if len(parts) >= 12 and parts[0] == "nread":
                names = parts
            continue
        out.update({name: int(value) for name, value in zip(names, parts, strict=False)})
    return out
