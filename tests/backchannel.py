"""A back-channel logout receiver for tests: a loopback HTTP server keeping the logout tokens it gets."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


class Receiver:
    """A loopback HTTP server that keeps the logout tokens it receives; `fail` answers 500."""

    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.fail = False
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = parse_qs(self.rfile.read(length).decode())
                if receiver.fail:
                    self.send_response(500)
                else:
                    receiver.tokens.append(body["logout_token"][0])
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/backchannel"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, count: int, timeout: float = 15.0) -> list[str]:
        """Poll until `count` tokens arrived (a live server delivers from its own thread)."""
        deadline = time.monotonic() + timeout
        while len(self.tokens) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.tokens)
