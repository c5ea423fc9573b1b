"""Readers of ``/sys`` classes, one module per class as in prometheus/procfs's ``sysfs``.

A reader takes the sysfs root (``<exporter.rootfs>/sys``) and returns dataclasses; a class
that is absent gives an empty list or None, so its collector exports nothing.
"""
