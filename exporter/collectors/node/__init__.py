"""node_exporter's collectors that make up the host collector, one per module.

Adding one: a module with a ``NodeCollector`` subclass whose ``name`` is node_exporter's name
for the collector (the ``collector`` label of ``node_scrape_collector_success`` and
``_duration_seconds``, which the host collector reports for every part it runs) and that gets
its files parsed through the scrape's ``ProcFiles`` (``proc.parsed("stat", parse_stat)``, or
``proc.optional(...)`` for a source a machine may lack; a parser in ``exporter/procfs/``), so a
file two collectors need is read once per scrape; then an entry in ``HostCollector``'s list, in
the place its families should appear in the exposition.
"""
