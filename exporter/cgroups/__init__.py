"""cgroup v1 and v2 files of a container read into its usage: pure parsers, then the reader.

``parse`` holds the parsers (tested on captured text), ``read`` finds a container's cgroup from
its PID and reads its files under ``exporter.rootfs``; ``exporter/collectors/cgroups.py``
renders the result with cAdvisor's names.
"""
