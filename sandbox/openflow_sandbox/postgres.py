"""A real, throwaway PostgreSQL server for the sandbox and the tests.

Each instance gets a private temp directory (data, unix socket, log), a free TCP port on
127.0.0.1 that is never 5432, and `wal_level=logical`. Authentication: the `postgres`
superuser connects without a password (trust); every other role must use its password
(scram-sha-256), so connector credentials are really checked.

Nothing is left behind: `stop()` (also called by the context manager and an atexit hook)
stops the server and removes the directory, and a tiny watchdog process does the same if
this process dies without running either (SIGTERM, SIGKILL).
"""

from __future__ import annotations

import atexit
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

SUPERUSER = "postgres"
_SERVER_OS_USER = "postgres"  # initdb/pg_ctl refuse root; as root we run them as this user
_AVOID_PORTS = frozenset({5432})
_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "wal_level": "logical",
    "max_replication_slots": "10",
    "max_wal_senders": "10",
    "fsync": "off",
    "full_page_writes": "off",
    "shared_buffers": "32MB",
    "max_connections": "60",
    "logging_collector": "off",
    "log_min_messages": "warning",
}
_HBA = """\
# TYPE  DATABASE  USER      ADDRESS        METHOD
local   all       postgres                 trust
host    all       postgres  127.0.0.1/32   trust
local   all       all                      scram-sha-256
host    all       all       127.0.0.1/32   scram-sha-256
"""

# Runs in its own session, so Ctrl-C in a terminal does not reach it. It blocks until the
# pipe from its parent closes (normal stop or the parent's death, even SIGKILL), then
# shuts the server down immediately if it is still there and removes the directory.
_WATCHDOG = r"""
import os, shutil, signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
root, pid_file = sys.argv[1], sys.argv[2]
sys.stdin.buffer.read()
try:
    with open(pid_file) as f:
        pid = int(f.readline())
except (OSError, ValueError):
    pid = 0
if pid > 0:
    try:
        os.kill(pid, signal.SIGQUIT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            os.kill(pid, 0)
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
shutil.rmtree(root, ignore_errors=True)
"""


_template_lock = threading.Lock()
_template: tuple[Path, subprocess.Popen[bytes]] | None = None


def _initdb_template(server: LocalPostgres, bin_dir: Path) -> Path:
    """A data directory initialised once per process (every server here is initialised alike), under
    a temp directory of its own that a watchdog removes when this process ends."""
    global _template
    with _template_lock:
        if _template is None:
            root = Path(tempfile.mkdtemp(prefix="openflow-pg-template-"))
            if server._as_root:
                entry = pwd.getpwnam(_SERVER_OS_USER)
                os.chown(root, entry.pw_uid, entry.pw_gid)
            watchdog = subprocess.Popen(
                [sys.executable, "-c", _WATCHDOG, str(root), str(root / "no-server")],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            try:
                server._run(
                    [
                        str(bin_dir / "initdb"),
                        "-D",
                        str(root / "data"),
                        "--no-sync",
                        "-U",
                        SUPERUSER,
                        "-A",
                        "trust",
                        "-E",
                        "UTF8",
                        "--locale=C",
                    ],
                    "initdb",
                )
            except BaseException:
                shutil.rmtree(root, ignore_errors=True)
                raise
            _template = (root, watchdog)
        return _template[0] / "data"


class PostgresNotAvailable(RuntimeError):
    """The PostgreSQL server binaries are missing or the server could not be started."""


def find_bin_dir() -> Path:
    """The directory holding initdb and pg_ctl: from PATH, else the newest /usr/lib/postgresql/<v>/bin."""
    candidates: list[Path] = []
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
        candidates.append(Path(on_path).resolve().parent)
    versioned = Path("/usr/lib/postgresql").glob("*/bin")
    candidates += sorted(versioned, key=lambda p: _version_key(p.parent.name), reverse=True)
    for directory in candidates:
        if (directory / "initdb").exists() and (directory / "pg_ctl").exists():
            return directory
    raise PostgresNotAvailable(
        "PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in /usr/lib/postgresql/*/bin; "
        "install PostgreSQL 13+ (e.g. apt-get install postgresql)"
    )


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", name)) or (0,)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (bind-tested), never 5432."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in _AVOID_PORTS:
            return port
    raise PostgresNotAvailable("could not find a free TCP port on 127.0.0.1")


class LocalPostgres:
    """Start with `start()` or `with LocalPostgres() as pg:`; stop with `stop()`."""

    def __init__(self, *, settings: dict[str, str] | None = None, start_timeout: float = 20.0) -> None:
        self._extra_settings = dict(settings or {})
        self._start_timeout = start_timeout
        self._root: Path | None = None
        self._last_root: Path | None = None
        self._watchdog: subprocess.Popen[bytes] | None = None
        self._port: int | None = None
        self._as_root = os.geteuid() == 0

    # --- lifecycle -----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._root is not None

    @property
    def port(self) -> int:
        if self._port is None:
            raise PostgresNotAvailable("the server is not running")
        return self._port

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def root(self) -> Path:
        """The private directory; after stop() its (removed) path, so callers can check it is gone."""
        root = self._root or self._last_root
        if root is None:
            raise PostgresNotAvailable("the server was never started")
        return root

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def start(self) -> Self:
        if self._root is not None:
            return self
        bin_dir = find_bin_dir()
        root = Path(tempfile.mkdtemp(prefix="openflow-pg-"))
        self._root = self._last_root = root
        atexit.register(self.stop)
        try:
            data, sock = root / "data", root / "sock"
            sock.mkdir()
            if self._as_root:
                entry = pwd.getpwnam(_SERVER_OS_USER)
                for path in (root, sock):
                    os.chown(path, entry.pw_uid, entry.pw_gid)
            self._watchdog = subprocess.Popen(
                [sys.executable, "-c", _WATCHDOG, str(root), str(data / "postmaster.pid")],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            # a copy of this process's one initdb: initdb is most of a server's start-up time
            self._run(
                ["cp", "-a", str(_initdb_template(self, bin_dir)), str(data)], "copying the initdb template"
            )
            (data / "pg_hba.conf").write_text(_HBA)
            lines = {**_SETTINGS, "unix_socket_directories": f"'{sock}'", **self._extra_settings}
            with (data / "postgresql.conf").open("a") as conf:
                conf.write("\n# openflow sandbox\n")
                conf.writelines(f"{key} = {value}\n" for key, value in lines.items())
            self._start_server(bin_dir)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_server(self, bin_dir: Path) -> None:
        log = self.root / "server.log"
        for attempt in range(3):
            port = free_port()
            cmd = [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-l",
                str(log),
                "-w",
                "-t",
                str(int(self._start_timeout)),
                "-o",
                f"-p {port}",
                "start",
            ]
            result = subprocess.run(self._server_cmd(cmd), capture_output=True, text=True, check=False)
            if result.returncode == 0:
                self._port = port
                return
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else result.stderr
            if ("could not bind" in tail or "already in use" in tail) and attempt < 2:
                continue  # someone took the port between our bind test and the server's
            raise PostgresNotAvailable(f"pg_ctl start failed (exit {result.returncode}): {tail.strip()}")

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its directory. Safe to call twice."""
        root, self._root, self._port = self._root, None, None
        atexit.unregister(self.stop)
        if root is None:
            return
        try:
            data = root / "data"
            if (data / "postmaster.pid").exists():
                bin_dir = find_bin_dir()
                cmd = [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-t", "10", "stop"]
                subprocess.run(self._server_cmd(cmd), capture_output=True, check=False)
        finally:
            shutil.rmtree(root, ignore_errors=True)
            watchdog, self._watchdog = self._watchdog, None
            if watchdog is not None:
                # Closing the pipe lets the watchdog finish: it finds no server and no directory.
                if watchdog.stdin is not None:
                    watchdog.stdin.close()
                try:
                    watchdog.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    watchdog.kill()
                    watchdog.wait()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- use -----------------------------------------------------------------------------------
    def dsn(self, user: str = SUPERUSER, password: str | None = None, dbname: str = "postgres") -> str:
        """A libpq connection string over TCP (what a real, remote DSN looks like)."""
        return make_conninfo(
            "", host=self.host, port=str(self.port), user=user, password=password, dbname=dbname
        )

    def connect(self, dbname: str = "postgres", **kwargs: Any) -> psycopg.Connection[Any]:
        """A superuser connection in autocommit mode."""
        kwargs.setdefault("autocommit", True)
        return psycopg.connect(self.dsn(dbname=dbname), **kwargs)

    def create_database(self, name: str) -> str:
        """Create a database and return the superuser DSN for it."""
        with self.connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.dsn(dbname=name)

    def drop_database(self, name: str) -> None:
        with self.connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    # --- internals -----------------------------------------------------------------------------
    def _server_cmd(self, cmd: list[str]) -> list[str]:
        return ["runuser", "-u", _SERVER_OS_USER, "--", *cmd] if self._as_root else cmd

    def _run(self, cmd: list[str], what: str) -> None:
        result = subprocess.run(self._server_cmd(cmd), capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise PostgresNotAvailable(
                f"{what} failed (exit {result.returncode}): {result.stderr.strip()[-2000:]}"
            )
