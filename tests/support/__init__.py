"""Real-text fixtures shared by the tests and the benchmarks: loopback sites of the sample's pages
(``sites``), planted near-duplicate families (``families``), one page copied many times
(``copies``), the connected-components dedup decision for comparison (``components``).

Tests import them as ``tests.support.*`` (pytest puts the repo root on ``sys.path``); bench/ and
scripts/ run only from the checkout (``python -m bench.run``, ``python -m scripts.crawl_sample``)
and import them from there. Nothing here ships in the wheel.
"""
