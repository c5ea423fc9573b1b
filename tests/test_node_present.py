"""The "when present" host collectors on a fake /proc and /sys, beside Debian's node_exporter.

The tree in ``tests/fixtures/hostpresent`` holds real captured files (prometheus/procfs's test
fixtures); node_exporter reads the same tree through ``--path.procfs``/``--path.sysfs``, so
both must expose the same families, label sets and values.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter.collectors.node.base import NodeCollector, ProcFiles
from exporter.collectors.node.bcache import BcacheCollector
from exporter.collectors.node.dmi import DmiCollector
from exporter.collectors.node.edac import EdacCollector
from exporter.collectors.node.hwmon import HwmonCollector
from exporter.collectors.node.mdadm import MdadmCollector
from exporter.collectors.node.nfs import NfsCollector
from exporter.collectors.node.nfsd import NfsdCollector
from exporter.collectors.node.powersupplyclass import PowerSupplyClassCollector
from exporter.collectors.node.rapl import RaplCollector
from exporter.collectors.node.tapestats import TapestatsCollector
from exporter.collectors.node.thermal_zone import ThermalZoneCollector
from exporter.collectors.node.xfs import XfsCollector
from exporter.collectors.node.zfs import ZfsCollector
from exporter.exposition import TextRenderer
from tests.support.node_exporter import Family, families, node_exporter

TREE = Path(__file__).parent / "fixtures" / "hostpresent"

# node_exporter's collector name -> ours, and the prefixes of the families it exports.
COLLECTORS: dict[str, tuple[type[NodeCollector], tuple[str, ...]]] = {
    "bcache": (BcacheCollector, ("node_bcache_",)),
    "dmi": (DmiCollector, ("node_dmi_",)),
    "edac": (EdacCollector, ("node_edac_",)),
    "hwmon": (HwmonCollector, ("node_hwmon_",)),
    "mdadm": (MdadmCollector, ("node_md_",)),
    "nfs": (NfsCollector, ("node_nfs_",)),
    "nfsd": (NfsdCollector, ("node_nfsd_",)),
    "powersupplyclass": (PowerSupplyClassCollector, ("node_power_supply_",)),
    "rapl": (RaplCollector, ("node_rapl_",)),
    "tapestats": (TapestatsCollector, ("node_tape_",)),
    "thermal_zone": (ThermalZoneCollector, ("node_thermal_zone_", "node_cooling_device_")),
    "xfs": (XfsCollector, ("node_xfs_",)),
    "zfs": (ZfsCollector, ("node_zfs_",)),
}


def ours(root: Path, names: list[str]) -> dict[str, Family]:
    proc = ProcFiles(root / "proc")
    out: list[object] = []
    for name in names:
        out.extend(COLLECTORS[name][0]().collect(proc))
    return families(TextRenderer().render(out).decode())  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("host") / "root"
    shutil.copytree(TREE, root, symlinks=True)
    return root


@pytest.fixture(scope="module")
def reference(tree: Path) -> Iterator[dict[str, Family]]:
    args = [f"--collector.{name}" for name in COLLECTORS]
    with node_exporter(
        "--collector.disable-defaults",
        f"--path.procfs={tree / 'proc'}",
        f"--path.sysfs={tree / 'sys'}",
        *args,
    ) as exporter:
        yield exporter.families()


def differences(mine: dict[str, Family], theirs: dict[str, Family]) -> list[str]:
    out = [f"missing {name}" for name in sorted(theirs.keys() - mine.keys())]
    out += [f"extra {name}" for name in sorted(mine.keys() - theirs.keys())]
    for name in sorted(mine.keys() & theirs.keys()):
        for what in ("type", "help", "label_names", "samples"):
            a, b = getattr(mine[name], what), getattr(theirs[name], what)
            if a != b:
                out.append(f"{name} {what}: {a!r} != {b!r}")
    return out


@pytest.mark.parametrize("collector", sorted(COLLECTORS))
def test_same_families_as_node_exporter(
    collector: str, tree: Path, reference: dict[str, Family]
) -> None:
    prefixes = COLLECTORS[collector][1]
    theirs = {n: f for n, f in reference.items() if n.startswith(prefixes)}
    assert theirs, f"node_exporter exported nothing for {collector}"
    assert differences(ours(tree, [collector]), theirs) == []


@pytest.mark.parametrize("collector", sorted(COLLECTORS))
def test_absent_sources_export_nothing(collector: str, tmp_path: Path) -> None:
    (tmp_path / "proc").mkdir()
    (tmp_path / "sys").mkdir()
    assert ours(tmp_path, [collector]) == {}
