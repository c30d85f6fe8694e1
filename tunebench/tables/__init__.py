"""Tables built from tunebench's own tasks, that anyone can verify.

``tunebench tabulate`` evaluates a space-filling design (:mod:`~tunebench.tables.design`) of a
task at every fidelity step (:mod:`~tunebench.tables.evaluate`, :mod:`~tunebench.tables.tabulate`)
into a Parquet table (:mod:`~tunebench.tables.format`); ``tunebench verify-table`` re-runs a sample
of it and compares bit for bit (:mod:`~tunebench.tables.verify`); the ``table`` task replays one in
microseconds (:mod:`~tunebench.tables.replay`). Tables shipped with tunebench live in ``data/``.
"""
