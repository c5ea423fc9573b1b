"""``/sys/class/dmi/id``: the firmware's description of the machine."""

from __future__ import annotations

from pathlib import Path

from exporter.sysfs.files import ROOT_ONLY, read_optional

# node_exporter's label for each attribute file, in its order.
LABELS = {
    "bios_date": "bios_date",
    "bios_release": "bios_release",
    "bios_vendor": "bios_vendor",
    "bios_version": "bios_version",
    "board_asset_tag": "board_asset_tag",
    "board_name": "board_name",
    "board_serial": "board_serial",
    "board_vendor": "board_vendor",
    "board_version": "board_version",
    "chassis_asset_tag": "chassis_asset_tag",
    "chassis_serial": "chassis_serial",
    "chassis_vendor": "chassis_vendor",
    "chassis_version": "chassis_version",
    "product_family": "product_family",
    "product_name": "product_name",
    "product_serial": "product_serial",
    "product_sku": "product_sku",
    "product_uuid": "product_uuid",
    "product_version": "product_version",
    "sys_vendor": "system_vendor",
}


def dmi_labels(sys: Path) -> dict[str, str] | None:
    """The readable attributes under node_exporter's label names; None without DMI.

    Attributes only root may read (serials, the UUID) are left out for other users.
    """
    folder = sys / "class" / "dmi" / "id"
    if not folder.is_dir():
        return None
    values = {label: read_optional(folder / name, ROOT_ONLY) for name, label in LABELS.items()}
    return {label: value for label, value in values.items() if value is not None}
