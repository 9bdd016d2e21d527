"""HTTP download handler that keeps its idle connections.

Scrapy caps the idle connections it keeps per host at CONCURRENT_REQUESTS_PER_DOMAIN. The next
request usually starts before the previous response's connection is back in the pool, so a new
connection is opened and, once both are idle, the oldest is closed: half of a feed crawl's
requests paid for a new TCP connection (and so did the server). A cap above the concurrency
lets those connections be reused instead.
"""

from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler
from scrapy.crawler import Crawler


class KeepAliveHTTPDownloadHandler(HTTP11DownloadHandler):
    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self._pool.maxPersistentPerHost = crawler.settings.getint("REACH_IDLE_CONNECTIONS_PER_HOST")
