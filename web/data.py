"""The reports the pages read, built once per period and data version and shared by requests.

A report of a period is rebuilt only when `reach.dashboard.data_version` changes (a crawl or
import finished, a text was scored, the roster changed): eight people opening the overview at
nine in the morning cost one build, and every page after it reads the roll-ups from memory.
"""

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlmodel import Session

from reach.dashboard import PeriodChoice, data_version, previous_period
from reach.db import get_engine
from reach.metrics import Period
from reach.report import Report, build_report

CACHED_REPORTS = 24
T = TypeVar("T")


@dataclass
class Pair:
    """A period's report and the one of the period before it (for the changes and rank moves)."""

    report: Report
    before: Report


class Reports:
    def __init__(self, size: int = CACHED_REPORTS) -> None:
        self._size = size
        self._reports: OrderedDict[tuple[Any, ...], Report] = OrderedDict()
        # What pages derive from a report (a leaderboard's order), dropped with the report.
        self._derived: dict[tuple[Any, ...], dict[tuple[Any, ...], Any]] = {}
        self._building: dict[tuple[Any, ...], threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, period: Period, by: str = "ambassador") -> Report:
        with Session(get_engine()) as session:
            version = data_version(session)
        key = (period, by, version)
        with self._lock:
            if key in self._reports:
                self._reports.move_to_end(key)
                return self._reports[key]
            building = self._building.setdefault(key, threading.Lock())
        with building:  # the first request builds, the others wait for it
            with self._lock:
                if key in self._reports:
                    return self._reports[key]
            report = build_report(None, period.since, period.until, by, period.timezone)
            with self._lock:
                self._reports[key] = report
                self._building.pop(key, None)
                while len(self._reports) > self._size:
                    old, _ = self._reports.popitem(last=False)
                    self._derived.pop(old, None)
        return report

    def _key(self, report: Report) -> tuple[Any, ...] | None:
        with self._lock:
            return next((k for k, r in self._reports.items() if r is report), None)

    def derived(self, of: Pair | Report, name: tuple[Any, ...], compute: Callable[[], T]) -> T:
        """`compute()` once per cached report (or pair of them) and `name` (its arguments)."""
        report = of.report if isinstance(of, Pair) else of
        key = self._key(report)
        if key is None:
            return compute()
        store = self._derived.setdefault(key, {})
        full = (id(of.before) if isinstance(of, Pair) else None, *name)
        if full not in store:
            store[full] = compute()
        result: T = store[full]
        return result

    def pair(self, choice: PeriodChoice, by: str = "ambassador") -> Pair:
        return Pair(self.get(choice.period, by), self.get(previous_period(choice.period), by))


def today(timezone: str) -> dt.date:
    from zoneinfo import ZoneInfo

    return dt.datetime.now(ZoneInfo(timezone)).date()
