"""The daily report's sections, one module each, all built behind one gate (``gate.py``)."""
