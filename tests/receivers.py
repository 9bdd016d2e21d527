"""Real message receivers on loopback for the tests: an HTTP endpoint that keeps what it is sent."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class JsonReceiver:
    """Answers `status` to every POST and keeps each JSON body; stopped by `stop()`."""

    def __init__(
        self, host: str = "127.0.0.6", status: int = 200, credentials: str | None = None
    ) -> None:
        received: list[dict[str, Any]] = []
        self.received = received
        self.status = status
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                received.append(json.loads(body or b"{}"))
                self.send_response(owner.status)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        user = f"{credentials}@" if credentials else ""  # a URL holding a secret, to mask
        self.url = f"json://{user}{host}:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
