"""Enrichment: sentiment, daily summaries and hourly topics, written back into the ``enrichment`` schema.

This package reads marts, computes results through pluggable providers and writes audited rows that dbt
declares as a source. See docs/architecture.md for its place in the pipeline.
"""
