"""`python -m sandbox --port 8787 --day 0 [--fault NAME[=ARG] ...]`: run the platform sandbox."""

from __future__ import annotations

import argparse

from sandbox import truth
from sandbox.server import FAULT_NAMES, serve


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--port", type=int, default=8787, help="port on 127.0.0.1 (0 picks a free one)")
    parser.add_argument("--day", type=int, default=None,
                        help="days after today's midnight UTC (default: $REACH_SANDBOX_DAY or 0)")
    parser.add_argument("--fault", action="append", default=[], metavar="NAME[=ARG]",
                        help=f"switch a fault on at start; repeatable. Known: {', '.join(FAULT_NAMES)}")
    parser.add_argument("--posts-per-day", type=float, default=truth.DEFAULT_POSTS_PER_DAY,
                        help="posts per account per day (scale for benchmarks)")
    parser.add_argument("--no-rate-limit", action="store_true", help="send no 429s and no rate-limit headers")
    parser.add_argument("--rate-window", type=float, default=None, help="rate-limit window in seconds (default 300)")
    args = parser.parse_args(argv)
    day = truth.day_from_env() if args.day is None else args.day
    serve(port=args.port, day=day, faults=args.fault, scale=args.posts_per_day,
          rate_limits=not args.no_rate_limit, rate_window=args.rate_window)


if __name__ == "__main__":
    main()
