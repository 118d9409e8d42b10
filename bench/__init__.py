"""``make bench``: realistic event archives, then ingest, transform, query, enrichment and polling figures.

Run ``python -m bench --help``. The report goes to ``docs/benchmarks.md`` (and ``docs/benchmarks.json``).
"""
