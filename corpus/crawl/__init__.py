"""The crawl engine: scope, robots.txt, politeness, vetted connections, fetching and WARC writing.

asyncio and aiohttp, no Beam: pipelines/crawl_job.py runs it per group of hosts, round after round.
"""
