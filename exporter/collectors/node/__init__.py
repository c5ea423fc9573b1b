"""node_exporter's collectors that make up the host collector, one per module.

Adding one: a module with a ``NodeCollector`` subclass that reads its files with
``read_proc_file`` and hands the text to a parser in ``exporter/procfs/``, then an entry in
``HostCollector``'s list, in the place its families should appear in the exposition.
"""
