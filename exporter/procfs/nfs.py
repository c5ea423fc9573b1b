"""``/proc/net/rpc/nfs``: the NFS client's RPC and per-procedure counters, as procfs parses it."""

from __future__ import annotations

from dataclasses import dataclass, field

# The procedures of each NFS version in the kernel's order, under procfs's field names
# (node_exporter's ``method`` label).
V2 = [
    "Null",
    "GetAttr",
    "SetAttr",
    "Root",
    "Lookup",
    "ReadLink",
    "Read",
    "WrCache",
    "Write",
    "Create",
    "Remove",
    "Rename",
    "Link",
    "SymLink",
    "MkDir",
    "RmDir",
    "ReadDir",
    "FsStat",
]
V3 = [
    "Null",
    "GetAttr",
    "SetAttr",
    "Lookup",
    "Access",
    "ReadLink",
    "Read",
    "Write",
    "Create",
    "MkDir",
    "SymLink",
    "MkNod",
    "Remove",
    "RmDir",
    "Rename",
    "Link",
    "ReadDir",
    "ReadDirPlus",
    "FsStat",
    "FsInfo",
    "PathConf",
    "Commit",
]
CLIENT_V4 = [
    "Null",
    "Read",
    "Write",
    "Commit",
    "Open",
    "OpenConfirm",
    "OpenNoattr",
    "OpenDowngrade",
    "Close",
    "Setattr",
    "FsInfo",
    "Renew",
    "SetClientID",
    "SetClientIDConfirm",
    "Lock",
    "Lockt",
    "Locku",
    "Access",
    "Getattr",
    "Lookup",
    "LookupRoot",
    "Remove",
    "Rename",
    "Link",
    "Symlink",
    "Create",
    "Pathconf",
    "StatFs",
    "ReadLink",
    "ReadDir",
    "ServerCaps",
    "DelegReturn",
    "GetACL",
    "SetACL",
    "FsLocations",
    "ReleaseLockowner",
    "Secinfo",
    "FsidPresent",
    "ExchangeID",
    "CreateSession",
    "DestroySession",
    "Sequence",
    "GetLeaseTime",
    "ReclaimComplete",
    "LayoutGet",
    "GetDeviceInfo",
    "LayoutCommit",
    "LayoutReturn",
    "SecinfoNoName",
    "TestStateID",
    "FreeStateID",
    "GetDeviceList",
    "BindConnToSession",
    "DestroyClientID",
    "Seek",
    "Allocate",
    "DeAllocate",
    "LayoutStats",
    "Clone",
]


@dataclass
class ClientRpcStats:
    """The ``net`` and ``rpc`` lines and each version's procedure counts (zeros if absent)."""

    net: list[int] = field(default_factory=lambda: [0, 0, 0, 0])  # count, udp, tcp, tcpconn
    rpc: list[int] = field(default_factory=lambda: [0, 0, 0])  # calls, retrans, authrefresh
    procedures: dict[str, dict[str, int]] = field(default_factory=dict)


def procedures(values: list[int], names: list[str], minimum: int, pad: bool) -> dict[str, int]:
    """A ``procN`` line (a count, then one value per procedure) by procedure name."""
    count = values[0]
    if len(values) - 1 != count or (count < minimum and not pad):
        raise ValueError(f"invalid procedure line {values!r}")
    counts = values[1:] + [0] * max(0, len(names) - count)
    return dict(zip(names, counts, strict=False))


def parse_nfs(text: str) -> ClientRpcStats:
    """Parse /proc/net/rpc/nfs."""
    stats = ClientRpcStats()
    stats.procedures = {
        "2": dict.fromkeys(V2, 0),
        "3": dict.fromkeys(V3, 0),
        "4": dict.fromkeys(CLIENT_V4, 0),
    }
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 2:
            raise ValueError(f"not a /proc/net/rpc/nfs file: line {line!r}")
        values = [int(v) for v in parts[1:]]
        key = parts[0]
        if key == "net" and len(values) == 4:
            stats.net = values
        elif key == "rpc" and len(values) == 3:
            stats.rpc = values
        elif key == "proc2":
            stats.procedures["2"] = procedures(values, V2, 18, pad=False)
        elif key == "proc3":
            stats.procedures["3"] = procedures(values, V3, 22, pad=False)
        elif key == "proc4":
            stats.procedures["4"] = procedures(values, CLIENT_V4, 59, pad=True)
        else:
            raise ValueError(f"not a /proc/net/rpc/nfs file: line {line!r}")
    return stats
