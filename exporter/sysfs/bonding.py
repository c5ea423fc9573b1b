"""``/sys/class/net/bonding_masters`` and each bond's slaves: configured and active counts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from exporter.sysfs.files import read_text


@dataclass(frozen=True)
class Bond:
    """One bonding master: its configured slaves and those whose MII status is ``up``."""

    slaves: int
    active: int


def read_bonding(path: Path) -> dict[str, Bond] | None:
    """Each bond under ``path`` (``/sys/class/net``), or None where bonding is not loaded."""
    masters = read_text(path / "bonding_masters")
    if masters is None:
        return None
    out = {}
    for master in masters.split():
        slaves = (read_text(path / master / "bonding" / "slaves") or "").split()
        active = 0
        for slave in slaves:
            # Kernels name the link lower_<slave>; older ones slave_<slave>.
            state = read_text(path / master / f"lower_{slave}" / "bonding_slave" / "mii_status")
            if state is None:
                state = read_text(path / master / f"slave_{slave}" / "bonding_slave" / "mii_status")
            if state is not None and state.strip() == "up":
                active += 1
        out[master] = Bond(len(slaves), active)
    return out
