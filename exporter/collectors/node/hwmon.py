"""node_exporter's hwmon collector: temperatures, fans, voltages and power of sensor chips.

Each sensor file becomes a gauge named after its type and property with node_exporter's unit
(``node_hwmon_temp_celsius``, ``node_hwmon_fan_rpm``, ``node_hwmon_in_volts``...), labelled with
the chip's stable name (from its device path) and the sensor (``temp1``).

# HELP node_hwmon_temp_celsius Hardware monitor for temperature (input)
# TYPE node_hwmon_temp_celsius gauge
# HELP node_hwmon_chip_names Annotation metric for human-readable chip names
# TYPE node_hwmon_chip_names gauge
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from exporter.collectors.node.base import NodeCollector, ProcFiles
from exporter.sysfs.hwmon import clean_name, hwmon_chips, split_filename

# (metric name, help, is counter, labels, value) -> None
Add = Callable[[str, str, bool, dict[str, str], float], None]
_FAN_RPM = {"input", "min", "max", "target"}
_INTERVALS = {"average_interval", "average_interval_min", "average_interval_max"}


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def describe(kind: str, element: str, base: str) -> tuple[str, str, float, bool]:
    """(metric name, help, scale, is counter) for one element of a sensor, as node_exporter."""
    if element in ("fault", "alarm"):
        return base, f"Hardware sensor {element} status ({kind})", 1.0, False
    if element == "beep":
        return f"{base}_enabled", "Hardware monitor sensor has beeping enabled", 1.0, False
    if kind in ("in", "cpu"):
        return f"{base}_volts", f"Hardware monitor for voltage ({element})", 0.001, False
    if kind == "temp" and element != "type":
        return f"{base}_celsius", f"Hardware monitor for temperature ({element})", 0.001, False
    if kind == "curr":
        return f"{base}_amps", f"Hardware monitor for current ({element})", 0.001, False
    if kind == "energy":
        doc = f"Hardware monitor for joules used so far ({element})"
        return f"{base}_joule_total", doc, 1e-6, True
    if kind == "power" and element == "accuracy":
        return base, "Hardware monitor power meter accuracy, as a ratio", 1e-6, False
    if kind == "power" and element in _INTERVALS:
        doc = f"Hardware monitor power usage update interval ({element})"
        return f"{base}_seconds", doc, 0.001, False
    if kind == "power":
        return f"{base}_watt", f"Hardware monitor for power usage in watts ({element})", 1e-6, False
    if kind == "humidity":
        doc = (
            "Hardware monitor for humidity, as a ratio (multiply with 100.0 to get the "
            f"humidity as a percentage) ({element})"
        )
        return base, doc, 1e-6, False
    if kind == "fan" and element in _FAN_RPM:
        doc = f"Hardware monitor for fan revolutions per minute ({element})"
        return f"{base}_rpm", doc, 1.0, False
    return base, f"Hardware monitor {kind} element {element}", 1.0, False


class HwmonCollector(NodeCollector):
    """``node_hwmon_*{chip,sensor}``, ``node_hwmon_chip_names`` and ``node_hwmon_sensor_label``."""

    name = "hwmon"

    def collect(self, proc: ProcFiles) -> Iterator[Metric]:
        chips = hwmon_chips(proc.path.parent / "sys")
        if chips is None:
            return
        families: dict[str, Metric] = {}
        seen: set[tuple[str, str, str]] = set()

        def add(name: str, doc: str, counter: bool, labels: dict[str, str], value: float) -> None:
            key = (name, labels.get("chip", ""), labels.get("sensor", labels.get("chip_name", "")))
            if key in seen:  # node_exporter's registry drops a repeated series
                return
            seen.add(key)
            family = families.get(name)
            if family is None:
                kind = CounterMetricFamily if counter else GaugeMetricFamily
                family = families[name] = kind(name.removesuffix("_total"), doc)
            family.add_sample(name, labels, value)

        for chip in chips:
            if chip.human_name:
                labels = {"chip": chip.name, "chip_name": chip.human_name}
                add("node_hwmon_chip_names", "Annotation metric for human-readable chip names",
                    False, labels, 1.0)  # fmt: skip
            for sensor, data in chip.sensors.items():
                self._sensor(add, chip.name, sensor, data)
        yield from families.values()

    @staticmethod
    def _sensor(add: Add, chip: str, sensor: str, data: dict[str, str]) -> None:
        parts = split_filename(sensor)
        kind = parts[0] if parts else sensor
        labels = {"chip": chip, "sensor": sensor}
        if "label" in data:
            add("node_hwmon_sensor_label", "Label for given chip and sensor", False,
                {**labels, "label": data["label"]}, 1.0)  # fmt: skip
        if kind == "beep_enable":
            value = 1.0 if data.get("") == "1" else 0.0
            add("node_hwmon_beep_enabled", "Hardware beep enabled", False, labels, value)
            return
        if kind in ("vrm", "update_interval"):
            number = _float(data.get("", ""))
            if number is not None:
                if kind == "vrm":
                    add("node_hwmon_voltage_regulator_version", "Hardware voltage regulator",
                        False, labels, number)  # fmt: skip
                else:
                    add("node_hwmon_update_interval_seconds", "Hardware monitor update interval",
                        False, labels, number * 0.001)  # fmt: skip
            return
        for element, text in data.items():
            if element == "label" or (number := _float(text)) is None:
                continue
            base = f"node_hwmon_{kind}"
            if element == "input":
                base += "_input" if "" in data else ""
            elif element:
                base += f"_{clean_name(element)}"
            name, doc, scale, counter = describe(kind, element, base)
            # Go multiplies by 0.001 but divides by 1e6; the floats differ in the last digit.
            add(name, doc, counter, labels, number / 1e6 if scale == 1e-6 else number * scale)
