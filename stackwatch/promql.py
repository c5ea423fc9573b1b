"""PromQL that rules, checks and reports share, so one change reaches all of them."""

from __future__ import annotations

# Filesystems that hold no user data (memory-backed, image layers, namespaces): left out of
# every disk-usage figure. The rule files spell the same matcher; a test keeps them equal.
PSEUDO_FS_TYPES = ("tmpfs", "ramfs", "devtmpfs", "overlay", "squashfs", "nsfs")
PSEUDO_FS = f'fstype!~"{"|".join(PSEUDO_FS_TYPES)}"'
