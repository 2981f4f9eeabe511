"""Serve a sandbox on loopback: in the foreground (``aggregator sandbox``) or in a thread (tests, demo)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server


class _QuietHandler(WSGIRequestHandler):
    """No access-log line per request (a large client's sync makes thousands)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


def serve(app: Any, host: str = "127.0.0.1", port: int = 0, *, quiet: bool = False) -> BaseWSGIServer:
    """A threaded WSGI server bound now (port 0: a free one); call ``serve_forever()``. ``quiet``: no access log."""
    return make_server(host, port, app, threaded=True, request_handler=_QuietHandler if quiet else None)


@contextlib.contextmanager
def running(app: Any, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Run ``app`` in a daemon thread for the duration of the block; yields its base URL."""
    server = serve(app, host, port)
    thread = threading.Thread(
        target=lambda: server.serve_forever(poll_interval=0.05), name=f"sandbox:{server.port}", daemon=True
    )
    thread.start()
    try:
        yield f"http://{host}:{server.port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()
