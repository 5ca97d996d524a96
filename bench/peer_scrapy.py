"""Scrapy, the crawl bench's second peer (runs in .venv-bench): a spider that follows every link to
its own host, robots.txt obeyed, no delay, one request at a time per host and as many hosts at
once as bench/crawl.py gives ours; it keeps nothing (no WARC).

    .venv-bench/bin/python bench/peer_scrapy.py SEEDS STATS_JSON CONCURRENCY
"""

from __future__ import annotations

import json
import sys
from urllib.parse import urlsplit

import scrapy
from scrapy.crawler import CrawlerProcess
from scrapy.linkextractors import LinkExtractor


class SameHost(scrapy.Spider):
    name = "same_host"
    links = LinkExtractor()

    def __init__(self, seeds: list[str], **kwargs) -> None:
        super().__init__(**kwargs)
        self.start_urls = seeds
        self.pages = 0

    def parse(self, response):
        if not isinstance(response, scrapy.http.HtmlResponse):
            return
        self.pages += 1  # parse sees 2xx responses only
        host = urlsplit(response.url).netloc
        for link in self.links.extract_links(response):
            if urlsplit(link.url).netloc == host:
                yield response.follow(link.url, self.parse)


def main() -> int:
    seeds_path, stats_path, concurrency = sys.argv[1], sys.argv[2], int(sys.argv[3])
    seeds = [s.strip() for s in open(seeds_path, encoding="utf-8") if s.strip()]
    process = CrawlerProcess(
        settings={
            "ROBOTSTXT_OBEY": True,
            "CONCURRENT_REQUESTS": concurrency,
            "CONCURRENT_REQUESTS_PER_DOMAIN": 1,
            "CONCURRENT_REQUESTS_PER_IP": 0,
            "DOWNLOAD_DELAY": 0,
            "AUTOTHROTTLE_ENABLED": False,
            "DEPTH_LIMIT": 5,
            "RETRY_ENABLED": False,
            "TELNETCONSOLE_ENABLED": False,
            "LOG_LEVEL": "ERROR",
            "HTTPERROR_ALLOW_ALL": False,
            "REACTOR_THREADPOOL_MAXSIZE": 4,
        }
    )
    crawler = process.create_crawler(SameHost)
    process.crawl(crawler, seeds=seeds)
    process.start()
    stats = crawler.stats.get_stats()
    pages = crawler.spider.pages
    requests = stats.get("downloader/response_count", 0)
    with open(stats_path, "w", encoding="utf-8") as f:
        json.dump({"pages": pages, "requests": requests}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
