"""node_exporter's powersupplyclass collector: batteries and mains, when present.

# HELP node_power_supply_online online value of /sys/class/power_supply/<power_supply>.
# TYPE node_power_supply_online gauge
# HELP node_power_supply_info info of /sys/class/power_supply/<power_supply>.
# TYPE node_power_supply_info gauge
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from exporter.collectors.node.base import NodeCollector, ProcFiles
from exporter.sysfs.power_supply import power_supplies

_PLAIN = ("authentic", "calibrate", "capacity", "capacity_alert_max", "capacity_alert_min")
_MICRO = [
    "current_boot",
    "current_max",
    "energy_empty",
    "energy_empty_design",
    "energy_full",
    "energy_full_design",
    "voltage_boot",
    "voltage_max",
    "voltage_max_design",
    "voltage_min",
    "voltage_min_design",
    "voltage_ocv",
    "charge_control_limit",
    "charge_control_limit_max",
    "charge_counter",
    "charge_empty",
    "charge_empty_design",
    "charge_full",
    "charge_full_design",
    "charge_term_current",
    "constant_charge_current",
    "constant_charge_current_max",
    "constant_charge_voltage",
    "constant_charge_voltage_max",
    "precharge_current",
    "input_current_limit",
]
_TENTHS = [
    "temp_alert_max",
    "temp_alert_min",
    "temp_ambient",
    "temp_ambient_max",
    "temp_ambient_min",
]

# attribute file -> (metric suffix, divisor), node_exporter's names and units.
VALUES: dict[str, tuple[str, float]] = {
    **{name: (name, 1.0) for name in _PLAIN},
    "cycle_count": ("cyclecount", 1.0),
    "online": ("online", 1.0),
    "present": ("present", 1.0),
    "time_to_empty_now": ("time_to_empty_seconds", 1.0),
    "time_to_full_now": ("time_to_full_seconds", 1.0),
    **{name: (name, 1e6) for name in _MICRO},
    "current_now": ("current_ampere", 1e6),
    "energy_now": ("energy_watthour", 1e6),
    "voltage_now": ("voltage_volt", 1e6),
    "charge_now": ("charge_ampere", 1e6),
    "power_now": ("power_watt", 1e6),
    "temp": ("temp_celsius", 10.0),
    **{name: (f"{name}_celsius", 10.0) for name in (*_TENTHS, "temp_max", "temp_min")},
}
INFO = [
    "capacity_level",
    "charge_type",
    "health",
    "manufacturer",
    "model_name",
    "serial_number",
    "status",
    "technology",
    "type",
    "usb_type",
    "scope",
]


def _int(text: str) -> int | None:
    try:
        return int(text, 0)
    except ValueError:
        return None


class PowerSupplyClassCollector(NodeCollector):
    """``node_power_supply_*{power_supply}`` and ``node_power_supply_info``."""

    name = "powersupplyclass"

    def collect(self, proc: ProcFiles) -> Iterator[Metric]:
        families: dict[str, GaugeMetricFamily] = {}
        info = GaugeMetricFamily(
            "node_power_supply_info", "info of /sys/class/power_supply/<power_supply>."
        )
        for supply in power_supplies(proc.path.parent / "sys") or ():
            for attribute, value in supply.attributes.items():
                if attribute not in VALUES or (number := _int(value)) is None:
                    continue
                suffix, divisor = VALUES[attribute]
                family = families.get(suffix)
                if family is None:
                    family = families[suffix] = GaugeMetricFamily(
                        f"node_power_supply_{suffix}",
                        f"{suffix} value of /sys/class/power_supply/<power_supply>.",
                        labels=["power_supply"],
                    )
                family.add_metric([supply.name], number / divisor)
            labels = {"power_supply": supply.name}
            labels |= {k: supply.attributes[k] for k in INFO if supply.attributes.get(k)}
            info.add_sample("node_power_supply_info", labels, 1.0)
        yield from families.values()
        if info.samples:
            yield info
