"""A local stand-in for the JDBC driver's download site.

The workflow downloads the PostgreSQL JDBC driver from the deployment's JdbcDriverUrl and checks it
against JdbcDriverSha256. The sandbox cannot reach Maven Central, so it builds a small jar with the
driver's class entry (a placeholder, never run: the connector relay stands in for the connector) and
serves it over HTTP on the loopback interface; the sandbox deploys with that URL and the jar's own
SHA-256, so the real fetch, checksum and jar checks run.
"""

from __future__ import annotations

import hashlib
import io
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

JAR_NAME = "postgresql-42.7.4.jar"
PATH = f"/maven2/org/postgresql/postgresql/42.7.4/{JAR_NAME}"


def build_jar(*, with_driver: bool = True) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as jar:
        jar.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\nImplementation-Title: PostgreSQL JDBC\n")
        if with_driver:
            jar.writestr("org/postgresql/Driver.class", b"\xca\xfe\xba\xbe sandbox placeholder")
        jar.writestr("META-INF/services/java.sql.Driver", "org.postgresql.Driver\n")
    return buffer.getvalue()


class JarServer:
    """Serves `content` at PATH on 127.0.0.1; `content` may be replaced to serve another file."""

    def __init__(self, content: bytes | None = None) -> None:
        self.content = content if content is not None else build_jar()
        self.requests = 0
        self.fail_next = 0  # answer this many requests with HTTP 503 first (the fault suite)
        self.failed = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("start() the jar server first")
        return f"http://127.0.0.1:{self._server.server_address[1]}{PATH}"

    def start(self) -> JarServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests += 1
                if owner.fail_next > 0:
                    owner.fail_next -= 1
                    owner.failed += 1
                    self.send_error(503)
                    return
                if self.path != PATH:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/java-archive")
                self.send_header("Content-Length", str(len(owner.content)))
                self.end_headers()
                self.wfile.write(owner.content)

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="jdbc-jar", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
