"""``/proc/net/stat/nf_conntrack``: connection tracking statistics, summed over the CPUs."""

from __future__ import annotations

# The columns node_exporter exports (node_nf_conntrack_stat_<name>), by their header names.
CONNTRACK_STAT_FIELDS = (
    "found",
    "invalid",
    "ignore",
    "insert",
    "insert_failed",
    "drop",
    "early_drop",
    "search_restart",
)


def parse_conntrack_stat(text: str) -> dict[str, int]:
    """Parse the table (a header line, then one line of hex columns per CPU), summed per column.

    Columns are found by their header names, which the kernel has reordered over the years.
    """
    lines = text.splitlines()
    if not lines:
        raise ValueError("empty nf_conntrack statistics")
    header = lines[0].split()
    missing = [name for name in CONNTRACK_STAT_FIELDS if name not in header]
    if missing:
        raise ValueError(f"nf_conntrack statistics lack {', '.join(missing)}")
    index = {name: header.index(name) for name in CONNTRACK_STAT_FIELDS}
    totals = dict.fromkeys(CONNTRACK_STAT_FIELDS, 0)
    for line in lines[1:]:
        columns = line.split()
        if not columns:
            continue
        if len(columns) != len(header):
            raise ValueError(f"{len(columns)} columns in nf_conntrack, {len(header)} expected")
        for name, i in index.items():
            totals[name] += int(columns[i], 16)
    return totals
