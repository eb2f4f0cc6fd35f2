"""One small SQL door for Podium's own tables (ledger, API keys, thread runs) on SQLite or Postgres.

The same statements run on both: they are written with ``?`` placeholders (turned into
``%s`` for psycopg) and avoid dialect features except where :attr:`Database.postgres`
chooses (column types, ``ALTER TABLE ... IF NOT EXISTS``). Rows come back as dicts.

SQLite: one connection per thread, WAL, a busy timeout, so threads and processes share a
file. Postgres: one :class:`psycopg_pool.ConnectionPool` per URL and process, shared with
the LangGraph checkpointer; a connection that died (a Postgres restart) is replaced on the
next use, and a call that finds the server down raises :class:`StoreUnavailable`.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from podium.errors import PodiumError

_POOLS: dict[str, Any] = {}
_POOLS_LOCK = threading.Lock()
_PASSWORD = re.compile(r"(://[^:/@]+:)[^@]*@")


class StoreUnavailable(PodiumError):
    """The shared database cannot be reached right now; trying again later may work."""

    def __init__(self, what: str, detail: str = "") -> None:
        super().__init__(f"{what} is unreachable{': ' + detail if detail else ''}",
                         hint="check that Postgres is up (PODIUM_POSTGRES_URL); Podium reconnects by itself")


def redact_url(url: str) -> str:
    """A database URL without its password, for messages and logs."""
    return _PASSWORD.sub(r"\1***@", url)


def postgres_pool(url: str, *, max_size: int = 20) -> Any:
    """The process's connection pool for ``url`` (opened on first use, checked before each loan)."""
    try:
        from psycopg.rows import dict_row
        from psycopg_pool import ConnectionPool
    except ImportError as exc:
        from podium.errors import ConfigError

        raise ConfigError("Postgres needs extra packages", setting="PODIUM_POSTGRES_URL",
                          hint="pip install 'podium[postgres]'") from exc
    with _POOLS_LOCK:
        pool = _POOLS.get(url)
        if pool is None:
            # dict_row and autocommit are what LangGraph's PostgresSaver expects of the connections it borrows.
            pool = ConnectionPool(url, min_size=1, max_size=max_size, open=False, timeout=5,
                                  check=ConnectionPool.check_connection, name="podium",
                                  kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row})
            try:
                pool.open(wait=True, timeout=10)
            except Exception as exc:  # noqa: BLE001 - psycopg's PoolTimeout and OperationalError alike
                pool.close()
                raise StoreUnavailable(f"Postgres at {redact_url(url)}", _first_line(exc)) from None
            _POOLS[url] = pool
        return pool


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


class Database:
    """Run statements on a SQLite file or a Postgres URL; safe to share between threads."""

    def __init__(self, target: Path | str) -> None:
        self.postgres = isinstance(target, str) and target.startswith(("postgres://", "postgresql://"))
        self.target = target
        self._local = threading.local()
        if self.postgres:
            self.pool = postgres_pool(str(target))
        else:
            Path(target).parent.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"Database({redact_url(str(self.target))!r})"

    def _sqlite(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.target, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.row_factory = lambda cur, row: {d[0]: v for d, v in zip(cur.description, row, strict=True)}
            self._local.conn = conn
        return conn

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """A connection for several statements (borrowed from the pool on Postgres)."""
        if not self.postgres:
            yield self._sqlite()
            return
        import psycopg
        from psycopg_pool import PoolTimeout

        try:
            with self.pool.connection() as conn:
                yield conn
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise StoreUnavailable("Postgres", _first_line(exc)) from None

    @contextmanager
    def transaction(self) -> Iterator[Callable[..., list[dict[str, Any]]]]:
        """Statements that commit together or not at all, run through the ``run(sql, args)`` it yields.

        It takes the write lock first (SQLite ``BEGIN IMMEDIATE``: other connections and processes
        wait for it), so a read-check-write inside cannot race another; on Postgres pair it with
        ``SELECT ... FOR UPDATE`` on the rows the check reads.
        """
        with self.connection() as conn:
            if self.postgres:
                with conn.transaction():
                    yield lambda sql, args=(): self._run(conn, sql, args)
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield lambda sql, args=(): self._run(conn, sql, args)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def execute(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> list[dict[str, Any]]:
        """Run one statement; returns its rows (empty for statements without results)."""
        with self.connection() as conn:
            return self._run(conn, sql, args)

    def _run(self, conn: Any, sql: str, args: tuple[Any, ...] | list[Any]) -> list[dict[str, Any]]:
        if not self.postgres:
            cur = conn.execute(sql, tuple(args))
            return list(cur.fetchall()) if cur.description else []
        cur = conn.execute(sql.replace("?", "%s"), tuple(args))
        return list(cur.fetchall()) if cur.description else []

    def script(self, statements: str) -> None:
        """Run ``;``-separated DDL statements (table and index creation)."""
        with self.connection() as conn:
            for statement in (s.strip() for s in statements.split(";")):
                if statement:
                    self._run(conn, statement, ())

    def columns(self, table: str) -> set[str]:
        """Names of a table's columns."""
        if self.postgres:
            rows = self.execute("SELECT column_name AS name FROM information_schema.columns WHERE table_name = ?",
                                (table,))
        else:
            rows = self.execute(f"PRAGMA table_info({table})")
        return {row["name"] for row in rows}

    @property
    def real(self) -> str:
        """The 8-byte float type (Postgres' REAL is 4 bytes: too coarse for timestamps)."""
        return "DOUBLE PRECISION" if self.postgres else "REAL"

    @property
    def serial(self) -> str:
        """An auto-numbered integer primary key."""
        return "BIGSERIAL PRIMARY KEY" if self.postgres else "INTEGER PRIMARY KEY AUTOINCREMENT"


def open_database(settings: Any, sqlite_name: str) -> Database:
    """Postgres when ``PODIUM_POSTGRES_URL`` is set, else ``<PODIUM_HOME>/<sqlite_name>``."""
    if settings.postgres_url:
        return Database(settings.postgres_url)
    return Database(settings.data_dir / sqlite_name)
