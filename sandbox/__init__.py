"""Platform sandbox: a local fake of Mastodon, Bluesky and WordPress blogs for crawls and tests."""

from __future__ import annotations

from typing import Any


def serve(port: int = 8787, day: int | None = None, **options: Any) -> None:
    """Serve the sandbox on 127.0.0.1:port until interrupted; day defaults to $REACH_SANDBOX_DAY or 0.

    Options (see sandbox.server.serve): faults=["rate_limit=5", ...], scale=posts per day,
    rate_limits=False, rate_window=seconds, today=the calendar date of day 0 (default
    $REACH_SANDBOX_DATE, else the real UTC date).
    """
    # Imported here so `import sandbox.truth` never pulls in Twisted's reactor.
    from sandbox.server import serve as _serve
    from sandbox.truth import day_from_env

    _serve(port=port, day=day_from_env() if day is None else day, **options)
