"""Throwaway local services for tests and load runs: a Postgres server on 127.0.0.1.

``postgres_server()`` is a context manager that finds Debian's PostgreSQL server binaries
(``PATH``, then ``/usr/lib/postgresql/<version>/bin``), installs Debian's ``postgresql`` package
with apt-get when they are missing and the process is root (as CI is, on a fresh machine),
initialises a cluster in a temporary directory, starts it on a free local port, creates one database and
yields its ``postgresql://`` URL; the server is stopped on exit. Postgres refuses to run as
root, so as root the cluster belongs to the ``postgres`` system user (created when missing) and
every server command runs through ``runuser``.

The session fixture ``postgres_url`` in ``tests/integration/conftest.py`` wraps it: one server per
test session (per pytest-xdist worker).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

READY_TIMEOUT_S = 60.0
"""Longest wait for a started server to accept connections."""
COMMAND_TIMEOUT_S = 120.0
"""Longest wait for one server command (initdb, pg_ctl, createdb)."""
APT_TIMEOUT_S = 900.0
"""Longest wait for ``apt-get update`` or ``apt-get install postgresql``."""
START_ATTEMPTS = 3
"""Server starts tried, each on a fresh free port, before giving up."""
SERVER_USER = "postgres"
"""The system user that owns the cluster when the tests run as root."""
DATABASE = "kevolve"
"""The database (and role) the yielded URL names."""


def create_database(url: str) -> str:
    """Create a new, empty database on the server of ``url`` and return its URL."""
    import psycopg

    name = f"test_{secrets.token_hex(6)}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{url.rsplit('/', 1)[0]}/{name}"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries here and no way to install them (a reason to skip)."""


class PostgresStartError(RuntimeError):
    """The binaries exist but the server did not come up (a failure; the log tail is included)."""


def _bin_dir_with_initdb() -> Path | None:
    if found := shutil.which("initdb"):
        return Path(found).resolve().parent
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    return versions[-1].parent if versions else None


def find_postgres_bin(install: bool = True) -> Path:
    """Return the directory holding ``initdb``, ``pg_ctl``, ``postgres`` and ``createdb``.

    Args:
        install: When the binaries are missing and this process is root with apt-get, install
            Debian's ``postgresql`` package first.

    Raises:
        PostgresUnavailable: The binaries are missing and cannot be installed here.
    """
    if (found := _bin_dir_with_initdb()) is not None:
        return found
    if not install or shutil.which("apt-get") is None or os.geteuid() != 0:
        raise PostgresUnavailable(
            "PostgreSQL server binaries (initdb, pg_ctl) are not installed and apt-get is "
            "unavailable (or this is not root) to install Debian's postgresql package."
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "postgresql"]):
        subprocess.run(cmd, capture_output=True, timeout=APT_TIMEOUT_S, check=False, env=env)
    if (found := _bin_dir_with_initdb()) is None:
        raise PostgresUnavailable("apt-get install postgresql did not install an initdb binary.")
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_user() -> str | None:
    """The user that runs the server commands, or None for this process's own user."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVER_USER],
            capture_output=True, timeout=COMMAND_TIMEOUT_S, check=True,
        )
    return SERVER_USER


def _run(cmd: list[str], user: str | None, log: Path) -> None:
    name = Path(cmd[0]).name
    if user is not None:
        cmd = ["runuser", "-u", user, "--", *cmd]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False)
    if done.returncode != 0:
        raise PostgresStartError(
            f"{name} failed with exit code {done.returncode}: "
            f"{(done.stdout + done.stderr)[-2000:]}{_log_tail(log)}"
        )


def _log_tail(log: Path) -> str:
    if not log.exists():
        return ""
    return f"\nserver log tail:\n{log.read_text(errors='replace')[-2000:]}"


def _wait_ready(bin_dir: Path, port: int, user: str | None, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    cmd = [str(bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-t", "1"]
    if user is not None:
        cmd = ["runuser", "-u", user, "--", *cmd]
    while time.monotonic() < deadline:
        if subprocess.run(cmd, capture_output=True, timeout=10, check=False).returncode == 0:
            return
        time.sleep(0.2)
    raise PostgresStartError(
        f"Postgres did not accept connections on 127.0.0.1:{port} within "
        f"{READY_TIMEOUT_S:.0f} s.{_log_tail(log)}"
    )


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Run a throwaway Postgres on 127.0.0.1 and yield the URL of its ``kevolve`` database.

    The cluster, its socket and its log live in a new temporary directory, removed afterwards.

    Yields:
        ``postgresql://kevolve@127.0.0.1:<port>/kevolve`` (trust authentication, local only).

    Raises:
        PostgresUnavailable: No server binaries and no way to install them.
        PostgresStartError: The server did not initialise or start; the message holds the
            failing command's output and the server log's tail.
    """
    bin_dir = find_postgres_bin()
    base = Path(tempfile.mkdtemp(prefix="kevolve-pg-"))
    user = _server_user()
    data, log = base / "data", base / "server.log"
    if user is not None:
        shutil.chown(base, user)
    started = False
    try:
        _run([str(bin_dir / "initdb"), "-D", str(data), "-U", DATABASE, "--auth=trust",
              "--encoding=UTF8", "--no-sync"], user, log)
        for attempt in range(START_ATTEMPTS):
            # Another process may take the free port before the server binds it: try a new one.
            port = free_port()
            try:
                _run([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t",
                      str(int(READY_TIMEOUT_S)), "-o",
                      f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c fsync=off", "start"],
                     user, log)
                break
            except PostgresStartError:
                if attempt == START_ATTEMPTS - 1:
                    raise
        started = True
        _wait_ready(bin_dir, port, user, log)
        _run([str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", DATABASE,
              DATABASE], user, log)
        yield f"postgresql://{DATABASE}@127.0.0.1:{port}/{DATABASE}"
    finally:
        if started:
            with contextlib.suppress(PostgresStartError, subprocess.TimeoutExpired):
                _run([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "-t",
                      "30", "stop"], user, log)
        shutil.rmtree(base, ignore_errors=True)
