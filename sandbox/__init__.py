"""Platform sandbox: a local fake of Mastodon, Bluesky and WordPress blogs for crawls and tests."""

from __future__ import annotations

from typing import Any


def serve(port: int = 8787, day: int = 0, **options: Any) -> None:
    """Serve the sandbox on 127.0.0.1:port until interrupted (see sandbox.server.serve for options)."""
    # Imported here so `import sandbox.truth` never pulls in Twisted's reactor.
    from sandbox.server import serve as _serve

    _serve(port=port, day=day, **options)
