"""node_exporter's collectors that make up the host collector, one per module.

Adding one: a module with a ``NodeCollector`` subclass that gets its files parsed through the
scrape's ``ProcFiles`` (``proc.parsed("stat", parse_stat)``, a parser in ``exporter/procfs/``),
so a file two collectors need is read once per scrape; then an entry in
``HostCollector``'s list, in the place its families should appear in the exposition.
"""
