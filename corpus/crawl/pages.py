"""What is done with a fetched page once its bytes are in: its WARC records (built and gzipped)
and its links (decoded, parsed, resolved). That is most of a crawler's CPU per page (about 2 of
its 3 ms here), so on a machine with cores to spare it runs in a small pool of processes, kept
for the whole crawl, while the event loop goes on with the network; with no pool
(``page_workers = 0``, the default below 4 cores) it runs inline.
"""

from __future__ import annotations

import asyncio
import atexit
import multiprocessing
import os
import threading
import time
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass

from corpus.crawl.links import page_links
from corpus.crawl.warc import Capture, capture_records
from corpus.readers.warc import inflate


@dataclass
class PageWork:
    records: list[tuple[str, bytes]]
    """(WARC-Type, gzip member) of the response or revisit, request and metadata records."""
    links: list[str]
    bomb: bool
    """The body would inflate past the size limit (the links were read from its first part)."""


def page_work(
    capture: Capture,
    metadata: dict[str, str],
    revisit_of: tuple[str, str] | None,
    content_encoding: str,
    content_type: str,
    max_body_bytes: int,
) -> PageWork:
    records = capture_records(capture, metadata, revisit_of)
    try:
        body, bomb = inflate(capture.body, content_encoding, max_body_bytes, raw_deflate=True)
    except ValueError:  # kept as received; its links cannot be read
        body, bomb = b"", False
    links = page_links(body, capture.url, content_type) if "html" in content_type and body else []
    return PageWork(records, links, bomb)


def _ready() -> int:
    return os.getpid()


def _exit_with(parent: int) -> None:
    """A pool process's watch: it exits when the crawl that made it has gone (killed: no atexit
    ran), instead of living on as an orphan."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(0)


def _start_watch(parent: int) -> None:
    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()


_POOLS: dict[int, ProcessPoolExecutor] = {}


def pool(workers: int) -> Executor | None:
    """A process pool of ``workers`` (None for 0), made once per process and size and kept until
    the process exits, so that rounds after the first pay no start-up. Its processes are spawned
    (the caller may run threads: Beam's runners do) and warmed at once."""
    if workers <= 0:
        return None
    if workers not in _POOLS:
        made = ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_watch,
            initargs=(os.getpid(),),
        )
        for _ in range(workers):
            made.submit(_ready)
        _POOLS[workers] = made
        atexit.register(made.shutdown, wait=True, cancel_futures=True)
    return _POOLS[workers]


def auto_workers(fetch_processes: int) -> int:
    """Page workers for each fetching process: the cores they leave free, shared between them,
    and none below 4 cores. Measured on 2 cores (``bench.crawl``, the server on the same
    machine): a pool of 1 made the crawl slower (7.8 s against 6.4 s: a spawned process imports
    the job's modules, and the server needs the second core); threads too (7.0 s: the GIL)."""
    cores = os.cpu_count() or 1
    if cores < 4:
        return 0
    return max(0, cores - fetch_processes) // max(1, fetch_processes)


async def run_page_work(executor: Executor | None, *args) -> PageWork:
    if executor is None:
        return page_work(*args)
    return await asyncio.get_running_loop().run_in_executor(executor, page_work, *args)
