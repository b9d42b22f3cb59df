"""Local stand-ins for the Hugging Face Hub, on loopback only, for the network-condition tests.

* :func:`mirror` serves folders as Hub repositories (``/{repo}/resolve/{revision}/{file}`` with the headers a
  Hub sends), the way a working mirror set in ``HF_ENDPOINT`` does;
* :func:`http_endpoint` answers every request with a fixed status and body (503 errors, a captive portal);
* :func:`stalling_listener` accepts connections and never answers;
* :func:`closed_port` is a port on which nothing listens.

Every server runs in a daemon thread and stops when its ``with`` block ends; a stalled connection is held for
at most ``hold_seconds``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class _Quiet(BaseHTTPRequestHandler):
    def log_message(self, *args):  # no request log on stderr
        pass


def _serve(handler: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, threading.Thread]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return server, thread


@contextlib.contextmanager
def mirror(repos: dict[str, Path]) -> Iterator[tuple[str, list[str]]]:
    """A Hub-compatible endpoint serving ``{repo_id: folder}``; yields (endpoint URL, log of requested paths)."""
    log: list[str] = []

    class Handler(_Quiet):
        def _file(self) -> tuple[Path | None, str]:
            path = self.path.split("?")[0]
            for repo_id, folder in repos.items():
                prefix = f"/{repo_id}/resolve/"
                if path.startswith(prefix):
                    filename = path[len(prefix):].split("/", 1)[1] if "/" in path[len(prefix):] else ""
                    candidate = folder / filename
                    return (candidate if candidate.is_file() else None), repo_id
                if path.startswith(f"/api/models/{repo_id}"):
                    return None, repo_id
            return None, ""

        def _json(self, payload: bytes, body: bool) -> None:
            """A 200 answer with a JSON payload (sent only for GET, not HEAD)."""
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if body:
                self.wfile.write(payload)

        def _answer(self, body: bool) -> None:
            log.append(f"{self.command} {self.path}")
            path, repo_id = self._file()
            if path is None and self.path.startswith(f"/api/models/{repo_id}/tree/") and repo_id:
                self._json(b"[]", body)  # no extra folders (e.g. chat templates) in these repositories
                return
            if path is None and self.path.startswith("/api/models/") and repo_id:
                siblings = [{"rfilename": p.name} for p in sorted(repos[repo_id].iterdir())]
                self._json(json.dumps({"id": repo_id, "sha": COMMIT, "siblings": siblings}).encode(), body)
                return
            if path is None:
                self.send_response(404)
                self.send_header("X-Error-Code", "EntryNotFound" if repo_id else "RepoNotFound")
                if repo_id:
                    self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            data = path.read_bytes()
            self.send_response(200)
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            if body:
                self.wfile.write(data)

        def do_HEAD(self):  # noqa: N802 - http.server's naming
            self._answer(body=False)

        def do_GET(self):  # noqa: N802
            self._answer(body=True)

    server, thread = _serve(Handler)
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", log
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextlib.contextmanager
def http_endpoint(status: int, body: bytes = b"", content_type: str = "text/html") -> Iterator[str]:
    """An endpoint that answers every request with ``status`` and ``body`` (no Hub headers)."""

    class Handler(_Quiet):
        def _answer(self, send_body: bool) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if send_body:
                self.wfile.write(body)

        def do_HEAD(self):  # noqa: N802
            self._answer(False)

        def do_GET(self):  # noqa: N802
            self._answer(True)

    server, thread = _serve(Handler)
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextlib.contextmanager
def stalling_listener(hold_seconds: float = 30.0) -> Iterator[str]:
    """A TCP listener that accepts every connection and never sends a byte (for at most ``hold_seconds``)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.1)
    stop = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
                held.append(connection)  # keep it open, say nothing
            except (socket.timeout, OSError):
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    timer = threading.Timer(hold_seconds, stop.set)
    timer.daemon = True
    timer.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        timer.cancel()
        thread.join(5)
        for connection in held:
            connection.close()
        listener.close()


def closed_port() -> int:
    """A loopback port with nothing listening (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
