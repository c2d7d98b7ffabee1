"""Fixtures for the data tests: the real data directory, and local servers to download from.

Real-data tests read the course's data directory (``COURSE_DATA_DIR``, else the user cache): CI
points it at a scratch folder filled from the shared copies (IMDB extracted). A missing data set is
downloaded first, through the course's own downloader (the root conftest.py does it for the whole
run); where that is not allowed (``COURSE_OFFLINE``) or fails, those tests fail with the message
that says which files to put where, instead of skipping, so a green run always means they ran.
"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from course_lib.config import data_dir
from course_lib.data.download import MIRROR_VARIABLE, OFFLINE_VARIABLE, REGISTRY, DataNotFoundError, ensure


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The folder with the course's real data sets (``COURSE_DATA_DIR``, else the user cache), each
    fetched first if missing and allowed."""
    folder = data_dir()
    for name in REGISTRY:
        try:
            ensure(name, folder)
        except DataNotFoundError as error:
            pytest.fail(f"These tests read the real data sets: {error}", pytrace=False)
    return folder


@pytest.fixture(autouse=True)
def canonical_urls(monkeypatch):
    """The download tests name their local server's URLs themselves: no mirror rewrites them, and
    no offline switch stops them."""
    monkeypatch.delenv(MIRROR_VARIABLE, raising=False)
    monkeypatch.delenv(OFFLINE_VARIABLE, raising=False)


class _Routes(BaseHTTPRequestHandler):
    """Serves ``server.routes``: path -> (body, cut). A cut route promises the whole body in its
    Content-Length, sends half of it and hangs up. Unknown paths get a 404."""

    def do_GET(self):
        route = self.server.routes.get(self.path)
        if route is None:
            self.send_error(404, "Not Found")
            return
        body, cut = route
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if cut else body)
        # HTTP/1.0 (the handler's default): the connection closes when this returns.

    def log_message(self, format, *args):  # keep pytest's output clean
        pass


class LocalServer:
    """An HTTP server on 127.0.0.1 (a free port) in a thread; :meth:`serve` publishes a body."""

    def __init__(self):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Routes)
        self.httpd.routes = {}
        # A short poll interval: shutdown() waits up to one interval (0.5 s by default).
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)
        self.thread.start()

    def serve(self, path: str, body: bytes, *, cut: bool = False) -> str:
        """Serve ``body`` at ``path``; returns its URL."""
        self.httpd.routes[path] = (body, cut)
        return self.url(path)

    def url(self, path: str) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}{path}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def http_server():
    server = LocalServer()
    yield server
    server.close()


@pytest.fixture
def silent_url():
    """A URL whose server accepts the connection but never answers (to test timeouts)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # the kernel completes the handshake; nobody ever reads or replies
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/never.txt"
    listener.close()
