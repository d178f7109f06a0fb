"""A throwaway PostgreSQL cluster for the tests: Debian's ``postgresql`` binaries, a temp dir, a free port.

``initdb`` and ``pg_ctl`` refuse to run as root, so as root they run as the ``postgres`` user (in a
temp dir owned by it); otherwise as the test's own user. The server listens on 127.0.0.1 (a free
port, never 5432) and on a unix socket in its own dir, trusts local connections and skips fsync: its
data lives as long as the test session. ``stop`` ends it (``pg_ctl stop -m immediate``, then its
postmaster by PID if it is still there) and removes the dir.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["REGISTRY_DATABASE", "Cluster", "start_cluster"]

_BIN_GLOB = "/usr/lib/postgresql/*/bin"
_SUPERUSER = "postgres"
REGISTRY_DATABASE = "modelport_registry"
VERSION_TABLE = "modelport_alembic_version"
INSTALL_HINT = (
    "the PostgreSQL tests need Debian's postgresql (initdb, pg_ctl under /usr/lib/postgresql/*/bin): "
    "run `make test` as root once, or `sudo apt-get install -y postgresql`"
)


def _bin_dir() -> Path:
    found = sorted(Path("/").glob(_BIN_GLOB.lstrip("/")), key=lambda p: _major(p.parent.name))
    if not found or not (found[-1] / "initdb").exists():
        raise RuntimeError(INSTALL_HINT)
    return found[-1]


def _major(name: str) -> int:
    return int(name) if name.isdigit() else -1


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Cluster:
    root: Path
    port: int
    run_as: list[str]
    bin_dir: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{_SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def execute(self, sql: str) -> None:
        """Run one statement as the superuser (autocommit, as CREATE DATABASE needs)."""
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user=_SUPERUSER, autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def create_database(self, name: str) -> str:
        """A new, empty database ``name``; its SQLAlchemy URL."""
        self.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def create_registry_database(self) -> None:
        """``REGISTRY_DATABASE``: the registry's schema at head, emptied by ``reset_registry_database``.

        Its collation is ICU's ``en-US``, as a production database's often is (``en_US.UTF-8``),
        not the cluster's ``C``, which would sort names as SQLite does and hide a difference.
        """
        from modelport.registry import LocalArtifactStore, Registry

        self.execute(
            f'CREATE DATABASE "{REGISTRY_DATABASE}" TEMPLATE template0 ENCODING UTF8 '
            "LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"
        )
        url = self.url(REGISTRY_DATABASE)
        Registry.open(url, LocalArtifactStore(self.root / "unused-artifacts")).close()

    def reset_registry_database(self) -> str:
        """Empty every table of ``REGISTRY_DATABASE`` (a copy of a database takes 10x longer); its URL.

        The previous test's connections are ended first: one left in a transaction would hold the
        TRUNCATE back. Whatever schema revision a test left, the next ``Registry.open`` upgrades it.
        """
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=_SUPERUSER, dbname=REGISTRY_DATABASE, autocommit=True
        ) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            tables = [
                row[0]
                for row in conn.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> %s",
                    (VERSION_TABLE,),
                )
            ]
            if tables:
                conn.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")  # type: ignore[arg-type]
            if "registry_state" in tables:
                conn.execute("INSERT INTO registry_state (id, revision) VALUES (1, 0)")
        return self.url(REGISTRY_DATABASE)

    def _pg_ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.run_as, str(self.bin_dir / "pg_ctl"), "-D", str(self.data), *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def stop(self) -> None:
        pid = self._postmaster_pid()
        self._pg_ctl("stop", "-m", "immediate", "-w")
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)

    def _postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None


def start_cluster() -> Cluster:
    """initdb and start a cluster in a new temp dir; RuntimeError (with the log) if it does not start."""
    bin_dir = _bin_dir()
    root = Path(tempfile.mkdtemp(prefix="modelport-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:
        user = pwd.getpwnam(_SUPERUSER)
        os.chown(root, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", _SUPERUSER, "--"]
    cluster = Cluster(root, 0, run_as, bin_dir)
    try:
        _initdb(cluster)
        for _ in range(3):  # a free port can be taken by someone else before the server binds it
            cluster.port = _free_port()
            started = _start(cluster)
            if started.returncode == 0:
                return cluster
        log = (root / "server.log").read_text(errors="replace") if (root / "server.log").exists() else ""
        raise RuntimeError(f"PostgreSQL did not start: {started.stderr}\n{log}")
    except BaseException:
        cluster.stop()
        raise


def _initdb(cluster: Cluster) -> None:
    done = subprocess.run(
        [
            *cluster.run_as,
            str(cluster.bin_dir / "initdb"),
            "-D",
            str(cluster.data),
            "-U",
            _SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"initdb failed: {done.stderr or done.stdout}")


def _start(cluster: Cluster) -> subprocess.CompletedProcess[str]:
    options = " ".join(
        [
            f"-p {cluster.port}",
            "-c listen_addresses=127.0.0.1",
            f"-c unix_socket_directories={cluster.root}",
            "-c fsync=off",
            "-c synchronous_commit=off",
            "-c full_page_writes=off",
            "-c max_connections=200",
        ]
    )
    log = str(cluster.root / "server.log")
    started = cluster._pg_ctl("start", "-w", "-t", "60", "-l", log, "-o", options)
    if started.returncode == 0:
        _wait_accepting(cluster)
    return started


def _wait_accepting(cluster: Cluster) -> None:
    """``pg_ctl -w`` waits for the socket; this also waits until a connection is accepted."""
    import psycopg

    deadline = time.monotonic() + 30
    while True:
        try:
            psycopg.connect(host="127.0.0.1", port=cluster.port, user=_SUPERUSER, dbname="postgres").close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
