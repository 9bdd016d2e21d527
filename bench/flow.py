"""`python -m bench flow`: what Prefect and the flow add around the crawls of a nightly run.

Runs `nightly-reach` on the demo roster (83 accounts) against a sandbox with a generous rate
budget, on a fresh SQLite file and Prefect's ephemeral API (started before timing, reported
apart). The crawls run concurrently, so their own time is the longest crawl: the overhead is the
flow's wall time minus that. Scoring and the report are local work, shown apart too.
"""

import os
import tempfile
import time
from pathlib import Path

RATE_BUDGET = 5000  # requests per window: the bench measures overhead, not the platforms' pacing


def main() -> None:
    from prefect import flow

    from cli.demo import DEMO_ROSTER, SANDBOX_PORT
    from reach.db import upgrade
    from reach.settings import get_settings
    from sandbox.testing import SandboxProcess

    with (
        tempfile.TemporaryDirectory(prefix="bench-flow-") as tmp,
        SandboxProcess(day=0, faults=[f"rate_limit={RATE_BUDGET}"]) as sandbox,
    ):
        roster = Path(tmp) / "roster.csv"
        roster.write_text(
            DEMO_ROSTER.read_text(encoding="utf-8").replace(
                f"127.0.0.1:{SANDBOX_PORT}", f"127.0.0.1:{sandbox.port}"
            ),
            encoding="utf-8",
        )
        os.environ.update(
            {
                "REACH_DATABASE_URL": f"sqlite:///{tmp}/reach.db",
                "REACH_ALLOW_PRIVATE_HOSTS": "true",
                "REACH_BLUESKY_APPVIEW_URL": sandbox.base_url,
                "REACH_REPORTS_DIR": f"{tmp}/reports",
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            }
        )
        get_settings.cache_clear()
        upgrade()
        from sqlmodel import Session

        from reach.db import get_engine
        from reach.roster import import_roster, parse_roster

        with Session(get_engine()) as session, session.begin():
            import_roster(session, parse_roster(roster, allow_private_hosts=True))

        @flow(name="bench-warm-up")
        def warm_up() -> None:
            """Start Prefect's ephemeral API before timing."""

        began = time.perf_counter()
        warm_up()
        startup = time.perf_counter() - began

        from flows.nightly import nightly_reach

        began = time.perf_counter()
        state = nightly_reach(crawl_retries=0, return_state=True)
        wall = time.perf_counter() - began
    if not state.is_completed():
        raise SystemExit(f"nightly-reach did not complete: {state.message}")
    result = state.result()
    crawls = {row["platform"]: row["seconds"] for row in result["crawls"]}
    longest = max(crawls.values())
    scoring = result["sentiment"]["seconds"]
    report = result["report_seconds"] or 0.0
    print(f"ephemeral Prefect API start (not in the flow's time): {startup:.1f} s")
    print(
        "crawls (concurrent, each its own scrapy process): "
        + ", ".join(f"{p} {s:.1f} s" for p, s in crawls.items())
        + f"; sum {sum(crawls.values()):.1f} s"
    )
    print(f"sentiment scoring {scoring:.1f} s, report build {report:.1f} s")
    print(f"nightly-reach wall time {wall:.1f} s")
    print(
        f"overhead = wall - longest crawl = {wall - longest:.1f} s "
        f"(scoring + report {scoring + report:.1f} s; Prefect, tasks and artifacts "
        f"{wall - longest - scoring - report:.1f} s; a crawl's time includes its process start-up)"
    )


if __name__ == "__main__":
    main()
