"""The Docker engine's containers as the exporter sees them: listed, inspected, kept current.

``model`` reads Engine API JSON, ``events`` follows the event stream, ``view`` combines lists,
inspects and events into the current set of containers; ``exporter/collectors/docker.py``
renders it.
"""
