"""Benchmarks for sansio-chat: a load generator, minimal relays to compare with, a runner.

``python -m bench run`` runs every server (the three backends, a floor relay
per I/O style, miniircd) side by side on the same load shapes and writes
``bench/results/*.json``, the table in ``docs/benchmarks.md`` and its plot.
See docs/benchmarks.md for the method.
"""
