"""Readers of ``/sys`` trees, one module per class as in prometheus/procfs's ``sysfs``.

Each attribute is a small file; a reader returns typed values and leaves out what the kernel
does not answer, so the collectors in ``exporter/collectors/node/`` only map them to metrics.
"""
