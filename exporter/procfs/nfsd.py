"""``/proc/net/rpc/nfsd``: the NFS server's caches, threads, RPCs and operations, as procfs."""

from __future__ import annotations

from dataclasses import dataclass, field

from exporter.procfs.nfs import V2, V3, procedures

# NFSv4 operations in the kernel's order, under procfs's names.
V4_OPS = [
    "Op0Unused", "Op1Unused", "Op2Future", "Access", "Close", "Commit", "Create", "DelegPurge",
    "DelegReturn", "GetAttr", "GetFH", "Link", "Lock", "Lockt", "Locku", "Lookup", "LookupRoot",
    "Nverify", "Open", "OpenAttr", "OpenConfirm", "OpenDgrd", "PutFH", "PutPubFH", "PutRootFH",
    "Read", "ReadDir", "ReadLink", "Remove", "Rename", "Renew", "RestoreFH", "SaveFH", "SecInfo",
    "SetAttr", "Verify", "Write", "RelLockOwner",
]  # fmt: skip
# line -> how many values it must have (None: a count, then that many)
_SIZES = {"rc": 3, "fh": 5, "io": 2, "th": 2, "ra": 12, "net": 4, "rpc": 5}


@dataclass
class ServerRpcStats:
    """Each line's values by its key (``rc``, ``net``...) and the procedure counts by version."""

    lines: dict[str, list[int]] = field(default_factory=dict)
    procedures: dict[str, dict[str, int]] = field(default_factory=dict)

    def value(self, key: str, index: int) -> int:
        """One value of a line, 0 where the kernel did not write that line."""
        values = self.lines.get(key)
        return values[index] if values else 0


def parse_nfsd(text: str) -> ServerRpcStats:
    """Parse /proc/net/rpc/nfsd."""
    stats = ServerRpcStats()
    stats.procedures = {"2": dict.fromkeys(V2, 0), "3": dict.fromkeys(V3, 0)}
    stats.procedures["4"] = dict.fromkeys(V4_OPS, 0)
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 2 or (parts[0] == "th" and len(parts) < 3):
            raise ValueError(f"not a /proc/net/rpc/nfsd file: line {line!r}")
        key = parts[0]
        # The th line's histogram of thread use is in floats; procfs keeps the first two.
        values = [int(v) for v in (parts[1:3] if key == "th" else parts[1:])]
        if key in _SIZES:
            if len(values) != _SIZES[key]:
                raise ValueError(f"not a /proc/net/rpc/nfsd file: line {line!r}")
            stats.lines[key] = values
        elif key == "proc2":
            stats.procedures["2"] = procedures(values, V2, 18, pad=False)
        elif key == "proc3":
            stats.procedures["3"] = procedures(values, V3, 22, pad=False)
        elif key == "proc4":
            procedures(values, ["Null", "Compound"], 2, pad=False)  # checked, not exported
        elif key == "proc4ops":
            if values[0] < 39:
                raise ValueError(f"not a /proc/net/rpc/nfsd file: line {line!r}")
            stats.procedures["4"] = procedures(values, V4_OPS, 39, pad=False)
        else:
            raise ValueError(f"not a /proc/net/rpc/nfsd file: line {line!r}")
    return stats
