"""Hand the crawl's stats back to the process that started it (a Prefect task, `reach crawl`)."""

import datetime as dt
import json
from pathlib import Path
from typing import Any, Self

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.datetime | dt.date) else value


def _peak_rss_mb() -> float | None:
    """This process's peak resident memory since it began running Scrapy (Linux VmHWM).

    Not getrusage's ru_maxrss: a child forked from a large parent (a test run, a Prefect worker)
    inherits the parent's high-water mark across exec, and reported the parent's size.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


class StatsFileExtension:
    """At spider close, write the crawl stats as JSON to `REACH_STATS_FILE` (a Scrapy setting).

    The exit code of `scrapy crawl` is 0 even when every request failed, so the caller judges
    the crawl's health from these figures instead.
    """

    def __init__(self, crawler: Crawler, path: Path) -> None:
        self.crawler = crawler
        self.path = path
        # Connected as a bound method kept alive by self: signal receivers are weak references.
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        path = crawler.settings.get("REACH_STATS_FILE")
        if not path:
            raise NotConfigured("REACH_STATS_FILE not set")
        return cls(crawler, Path(path))

    def spider_closed(self, spider: Any, reason: str) -> None:
        stats = {key: _plain(value) for key, value in self.crawler.stats.get_stats().items()}
        stats["finish_reason"] = reason
        if (peak := _peak_rss_mb()) is not None:
            stats["reach/peak_rss_mb"] = peak
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(stats, indent=1, sort_keys=True, default=str))
        tmp.replace(self.path)
