"""HTTP endpoint of an exporter: `/metrics` serves the pre-rendered exposition as bytes.

The body is the exposition's current bytes plus this process' own runtime metrics
(prometheus_client's default registry: process_*, python_*), which are cheap to collect.
"""

from __future__ import annotations

import logging
import threading
import zlib
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import REGISTRY, generate_latest

from exporters.core.exposition import CONTENT_TYPE, Exposition

log = logging.getLogger(__name__)


def parse_listen(listen: str, default_port: int) -> tuple[str, int]:
    """`host:port`, `:port` or `port` -> (host, port)."""
    text = listen.strip()
    if not text:
        return "0.0.0.0", default_port
    if text.isdigit():
        return "0.0.0.0", int(text)
    host, _, port = text.rpartition(":")
    if not port.isdigit():
        raise ValueError(f"invalid listen address {listen!r}: expected host:port")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)


class _GzipCache:
    """A gzip stream of the exposition, compressed once per publish.

    The compressor's state after the exposition's bytes is kept unflushed; a scrape copies it, feeds
    the small runtime part and flushes, so the response is one ordinary gzip member (which every
    client reads) at the cost of compressing only the runtime part.
    """

    def __init__(self) -> None:
        self._key: tuple[int, int] | None = None
        self._prefix = b""
        self._compressor: zlib._Compress | None = None

    def compress(self, version: int, body: bytes, tail: bytes) -> bytes:
        key = (version, len(body))
        if key != self._key or self._compressor is None:
            compressor = zlib.compressobj(1, zlib.DEFLATED, 31)
            self._prefix = compressor.compress(body)
            self._compressor = compressor
            self._key = key
        finishing = self._compressor.copy()
        return self._prefix + finishing.compress(tail) + finishing.flush()


class ExporterServer:
    """Serves `/metrics`, `/healthz` and a small index page for one exposition."""

    def __init__(
        self,
        exposition: Exposition,
        host: str,
        port: int,
        title: str = "smmc exporter",
        ready: Callable[[], bool] = lambda: True,
        include_runtime_metrics: bool = True,
    ) -> None:
        self.exposition = exposition
        self._gzip = _GzipCache()
        self._gzip_lock = threading.Lock()
        self._ready = ready
        server_self = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm holds
            # the body until the client's delayed ACK (~40 ms per keep-alive scrape)
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: object) -> None:
                log.debug("%s " + format, self.address_string(), *args)

            def _send(self, code: int, body: bytes, content_type: str, gzip_ok: bool = False) -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                if gzip_ok:
                    self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_HEAD(self) -> None:
                self.do_GET()

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    if not server_self._ready():
                        self._send(503, b"exporter is restoring its state\n", "text/plain")
                        return
                    version, body = server_self.exposition.scrape()
                    runtime = generate_latest(REGISTRY) if include_runtime_metrics else b""
                    if "gzip" in (self.headers.get("Accept-Encoding") or "") and len(body) > 4096:
                        with server_self._gzip_lock:
                            payload = server_self._gzip.compress(version, body, runtime)
                        self._send(200, payload, CONTENT_TYPE, gzip_ok=True)
                    else:
                        self._send(200, body + runtime, CONTENT_TYPE)
                elif path in ("/healthz", "/-/healthy"):
                    ok = server_self._ready()
                    self._send(200 if ok else 503, b"ok\n" if ok else b"starting\n", "text/plain")
                elif path == "/":
                    html = f"<html><head><title>{title}</title></head><body><h1>{title}</h1>"
                    html += '<p><a href="/metrics">/metrics</a> &middot; <a href="/healthz">/healthz</a></p>'
                    html += "</body></html>"
                    self._send(200, html.encode(), "text/html; charset=utf-8")
                else:
                    self._send(404, b"not found\n", "text/plain")

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def start(self) -> ExporterServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="metrics-http", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
