"""node_exporter's thermal_zone collector: temperatures and cooling devices, when present.

# HELP node_thermal_zone_temp Zone temperature in Celsius
# TYPE node_thermal_zone_temp gauge
# HELP node_cooling_device_cur_state Current throttle state of the cooling device
# TYPE node_cooling_device_cur_state gauge
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from exporter.collectors.node.base import NodeCollector, ProcFiles
from exporter.sysfs.thermal import cooling_devices, thermal_zones


class ThermalZoneCollector(NodeCollector):
    """``/sys/class/thermal``: nothing where the machine has no thermal zones."""

    name = "thermal_zone"

    def collect(self, proc: ProcFiles) -> Iterator[Metric]:
        sys = proc.path.parent / "sys"
        zones = thermal_zones(sys)
        if zones:
            temp = GaugeMetricFamily(
                "node_thermal_zone_temp", "Zone temperature in Celsius", labels=["zone", "type"]
            )
            for zone in zones:
                temp.add_metric([zone.name, zone.type], zone.temp / 1000.0)
            yield temp
        devices = cooling_devices(sys)
        if devices:
            labels = ["name", "type"]
            cur = GaugeMetricFamily(
                "node_cooling_device_cur_state",
                "Current throttle state of the cooling device",
                labels=labels,
            )
            top = GaugeMetricFamily(
                "node_cooling_device_max_state",
                "Maximum throttle state of the cooling device",
                labels=labels,
            )
            for device in devices:
                cur.add_metric([device.name, device.type], float(device.cur_state))
                top.add_metric([device.name, device.type], float(device.max_state))
            yield from (cur, top)
