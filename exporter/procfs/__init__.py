"""Pure parsers of ``/proc`` files, one module per file as in prometheus/procfs: ``parse_x(text)``.

Adding a source: a module named after the file with a ``parse_<file>(text)`` function and the
dataclass it returns, tested on captured text in ``tests/fixtures/proc/``. Reading the file is
the collector's job (``exporter/collectors/node/``); mounts are parsed in
``stackwatch/filesystems.py``, which the weekly cleanup shares.
"""
