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
from exporter.procfs.mdstat import parse_mdstat
from exporter.procfs.nfs import parse_nfs
from exporter.sysfs.bcache import dehumanize
from exporter.sysfs.hwmon import clean_name, split_filename
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
    """The tree with its symlinks made: the repository keeps them as a list (``symlinks.txt``),
    since sysfs's links loop (a device's ``subsystem`` leads back to its class) and a looping
    tree would trap every tool that walks the checkout."""
    root = tmp_path_factory.mktemp("host") / "root"
    shutil.copytree(TREE, root, ignore=shutil.ignore_patterns("symlinks.txt"))
    for line in (TREE / "symlinks.txt").read_text().splitlines():
        link, target = line.split(" -> ")
        (root / link).parent.mkdir(parents=True, exist_ok=True)
        (root / link).symlink_to(target)
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


def test_bcache_sizes_read_as_procfs_reads_them() -> None:
    assert dehumanize("1.1M") == 1150976  # 1 + 1/10.24 MiB, as the kernel prints remainders
    assert dehumanize("20.4G") == 21894266880
    assert dehumanize("512") == 512
    with pytest.raises(ValueError, match="empty"):
        dehumanize("")


def test_mdstat_of_a_resync_and_garbage() -> None:
    arrays = parse_mdstat((TREE / "proc" / "mdstat").read_text())
    md6 = next(md for md in arrays if md.name == "md6")
    assert (md6.state, md6.blocks_synced, md6.disks_failed, md6.disks_spare) == (
        "recovering",
        16775552,
        1,
        1,
    )
    with pytest.raises(ValueError, match="not a /proc/mdstat file"):
        parse_mdstat("md0 : active raid1 sda1[0]\n  garbage\n\n\n")


def test_hwmon_file_names_and_chip_names() -> None:
    assert split_filename("temp1_crit_alarm") == ("temp", 1, "crit_alarm")
    assert split_filename("beep_enable") == ("beep_enable", 0, "")
    assert clean_name("Package id 0\n") == "package_id_0"
    assert clean_name("ACPI000D:00") == "acpi000d:00"


def test_nfs_lines_node_exporter_rejects() -> None:
    with pytest.raises(ValueError, match="invalid procedure line"):
        parse_nfs("proc3 22 1 2 3\n")
    with pytest.raises(ValueError, match="not a /proc/net/rpc/nfs file"):
        parse_nfs("wdeleg 1 2\n")
