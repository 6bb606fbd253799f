"""Local HTTP servers that a test starts in threads (a webhook receiver, an S3 stand-in, a proxy) and that
stop, every one, when the test ends."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer


class Servers:
    def __init__(self) -> None:
        self._started: list[ThreadingHTTPServer] = []

    def serve(self, server: ThreadingHTTPServer) -> ThreadingHTTPServer:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._started.append(server)
        return server

    def stop(self) -> None:
        for server in self._started:
            server.shutdown()
            server.server_close()


@contextmanager
def local_servers() -> Iterator[Servers]:
    servers = Servers()
    try:
        yield servers
    finally:
        servers.stop()
