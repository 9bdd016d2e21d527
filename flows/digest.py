"""Flow `digest` and the nightly's digest step: the period's numbers to e-mail and chat.

A digest that cannot be sent (a receiver down, no target configured) fails neither the crawls nor
the report: the nightly reports it in its summary, and the `digest` flow run fails naming it.
"""

import datetime as dt
from typing import Any, Literal
from zoneinfo import ZoneInfo

from prefect import flow, get_run_logger, task
from pydantic import Field

from flows.notify import notify_urls
from reach.digest import build_digest, digest_period, send_digest
from reach.settings import get_settings

DigestPeriod = Literal["day", "week", "month"]


class DigestNotSent(RuntimeError):
    """No target took the digest; the message names each target (masked) and why."""


@task(name="send-digest")
def send_digest_task(since: dt.date, until: dt.date) -> list[dict[str, Any]]:
    """Build and send the digest of since..until -> one result per target (masked)."""
    urls = notify_urls()
    if not urls:
        return []
    digest = build_digest(None, since, until)
    return [{"target": r.target, "ok": r.ok, "error": r.error} for r in send_digest(digest, urls)]


def digest_note(results: list[dict[str, Any]]) -> str:
    """One line for a run's summary: where the digest went, and what refused it."""
    if not results:
        return "Digest: not sent (no target: set REACH_NOTIFY_URLS or REACH_NOTIFY_SECRET_BLOCK)."
    sent = [r["target"] for r in results if r["ok"]]
    failed = [f"{r['target']} ({r['error']})" for r in results if not r["ok"]]
    parts = []
    if sent:
        parts.append("sent to " + ", ".join(sent))
    if failed:
        parts.append("**not sent** to " + "; ".join(failed))
    return "Digest: " + "; ".join(parts) + "."


@flow(name="digest", flow_run_name="digest {period}")
def digest(
    period: DigestPeriod = Field(  # noqa: B008 - Prefect reads the description from a Field default
        default="week",
        description="day: yesterday; week: the 7 days to yesterday; month: last month.",
    ),
    since: dt.date | None = Field(  # noqa: B008 - Prefect reads the description from a Field default
        default=None, description="First day (with until: this period instead of `period`)."
    ),
    until: dt.date | None = Field(  # noqa: B008
        default=None, description="Last day, inclusive."
    ),
) -> list[dict[str, Any]]:
    """Send the digest of a period to REACH_NOTIFY_URLS (and the Secret block's URLs)."""
    if since is None or until is None:
        today = dt.datetime.now(ZoneInfo(get_settings().timezone)).date()
        since, until = digest_period(period, today)
    results = send_digest_task(since, until)
    note = digest_note(results)
    get_run_logger().info("%s to %s: %s", since, until, note)
    if not results or not any(r["ok"] for r in results):
        raise DigestNotSent(note)
    return results
