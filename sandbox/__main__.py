"""`python -m sandbox --port 8787 [--date YYYY-MM-DD] --day 0 [--fault NAME[=ARG] ...]`: run the platform sandbox.

`--hosts 127.0.0.2,127.0.0.3` (or a range `127.1.0.1-127.1.0.200`) serves each loopback address at
the same port as its own platform host; `--time-scale K` divides every rate-limit window by K.
"""

from __future__ import annotations

import argparse

from sandbox import truth
from sandbox.server import FAULT_NAMES, parse_hosts, serve


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument(
        "--port", type=int, default=8787, help="port on 127.0.0.1 (0 picks a free one)"
    )
    parser.add_argument(
        "--date",
        default=None,
        metavar="YYYY-MM-DD",
        help="calendar date of day 0 (default: $REACH_SANDBOX_DATE, else today's UTC date)",
    )
    parser.add_argument(
        "--day",
        type=int,
        default=None,
        help="days after midnight UTC of that date (default: $REACH_SANDBOX_DAY or 0)",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME[=ARG]",
        help=f"switch a fault on at start; repeatable. Known: {', '.join(FAULT_NAMES)}",
    )
    parser.add_argument(
        "--posts-per-day",
        type=float,
        default=truth.DEFAULT_POSTS_PER_DAY,
        help="posts per account per day (scale for benchmarks)",
    )
    parser.add_argument(
        "--no-rate-limit", action="store_true", help="send no 429s and no rate-limit headers"
    )
    parser.add_argument(
        "--rate-window", type=float, default=None, help="rate-limit window in seconds (default 300)"
    )
    parser.add_argument(
        "--hosts",
        default=None,
        metavar="ADDR[,ADDR|FIRST-LAST...]",
        help="loopback addresses to serve at the same port, one platform host each "
        "(default 127.0.0.1)",
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        metavar="K",
        help="divide every rate-limit window by K (answers carry X-Sandbox-Time-Scale: K)",
    )
    args = parser.parse_args(argv)
    try:
        hosts = parse_hosts(args.hosts) if args.hosts else None
    except ValueError as exc:
        parser.exit(2, f"{parser.prog}: error: --hosts: {exc}\n")
    if args.time_scale <= 0:
        parser.exit(2, f"{parser.prog}: error: --time-scale must be positive\n")
    day = truth.day_from_env() if args.day is None else args.day
    try:
        today = (
            truth.parse_date(args.date, "--date")
            if args.date is not None
            else truth.sandbox_today()
        )
    except ValueError as exc:  # one line naming the setting and the value, not a traceback
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    serve(
        port=args.port,
        day=day,
        faults=args.fault,
        scale=args.posts_per_day,
        rate_limits=not args.no_rate_limit,
        rate_window=args.rate_window,
        today=today,
        hosts=hosts,
        time_scale=args.time_scale,
    )


if __name__ == "__main__":
    main()
