"""API keys for ``podium serve``: stored hashed, each with an optional budget and rate limit.

A key is shown once, when it is created (``pk-<id>-<secret>``); only its SHA-256 is kept
(keys are 192 random bits, so a fast hash is the right one, as for GitHub or Stripe tokens).
The table lives beside the ledger: ``PODIUM_HOME/keys.sqlite``, or the shared Postgres of
``PODIUM_POSTGRES_URL``, so every replica sees the same keys, spend and request counts.

Rate limits count requests per key and calendar minute in one atomic upsert, so replicas
share them. Budgets hold under concurrency the same way: before its model is called a
request *holds* its worst-case cost (:meth:`KeyStore.reserve`, one transaction that locks
the key row: SQLite ``BEGIN IMMEDIATE``, Postgres ``SELECT ... FOR UPDATE``), and after it
the hold is replaced by what the ledger billed (:meth:`KeyStore.settle`, also on failure).
A request is let in while what the key spent plus what is held for requests in flight plus
its own estimate stays within the budget, or, when nothing else is in flight, while any
budget is left. So however many requests arrive at once on however many replicas, the key
spends at most its budget plus one request's cost (plus, where a request costs more than its
estimate, that excess: a ``podium`` turn whose plan calls a remote model several times).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from memory.owners import local_user
from podium.db import Database, open_database
from podium.errors import NotFoundError, PodiumError
from podium.settings import Settings

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    created {real} NOT NULL,
    revoked {real},
    budget_usd {real},
    rpm INTEGER,
    spent_usd {real} NOT NULL DEFAULT 0,
    requests INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS api_rate (
    key_id TEXT NOT NULL,
    minute BIGINT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (key_id, minute)
);
CREATE TABLE IF NOT EXISTS api_threads (
    thread_id TEXT PRIMARY KEY,
    key_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS api_holds (
    id TEXT PRIMARY KEY,
    key_id TEXT NOT NULL,
    usd {real} NOT NULL,
    created {real} NOT NULL
)
"""
HOLD_TTL_S = 900.0
"""A hold older than this is taken for one whose process died (a kill, a crash) and no longer counts."""
PREFIX = "pk-"


@dataclass
class ApiKey:
    """One key as listings show it (never the secret)."""

    id: str
    """Public id, also the second part of the key itself."""
    name: str
    """What the key is for, as given at creation."""
    created: float
    """Creation time (epoch seconds)."""
    revoked: float | None
    """When it was revoked; ``None`` while it works."""
    budget_usd: float | None
    """Most USD its requests may spend; ``None``: no cap."""
    rpm: int | None
    """Most requests per minute; ``None``: no limit."""
    spent_usd: float
    """USD spent so far by its requests."""
    requests: int
    """Requests it made."""
    user: str = ""
    """Whose key it is: its requests read that user's knowledge collections and those shared with them."""
    held_usd: float = 0.0
    """USD held now for its requests in flight (their worst-case cost, until each settles): a request is
    refused (403) when spent + held + its own estimate would pass the budget, so this explains a 403 on a
    key that still has budget left."""
    in_flight: int = 0
    """Requests holding part of its budget now."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


class Refused(PodiumError):
    """A request the key may not make: ``status`` is the HTTP status, ``code`` OpenAI's error code."""

    def __init__(self, message: str, *, status: int, code: str, hint: str = "",
                 retry_after_s: float | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.code = code
        self.retry_after_s = retry_after_s


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class KeyStore:
    """Create, list, revoke and check API keys in a :class:`Database`."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock
        """Where time comes from (rate-limit windows); tests pass a fixed one."""
        db.script(_SCHEMA.format(real=db.real))
        if "user" not in db.columns("api_keys"):  # keys made before keys had users belong to the machine's user
            try:
                db.execute(f"ALTER TABLE api_keys ADD COLUMN {'IF NOT EXISTS ' if db.postgres else ''}"
                           f"\"user\" TEXT NOT NULL DEFAULT '{_sql_text(local_user())}'")
            except Exception:  # noqa: BLE001 - SQLite: another process migrated it a moment ago
                if db.postgres:
                    raise

    def create(self, name: str = "", *, budget_usd: float | None = None, rpm: int | None = None,
               user: str | None = None) -> tuple[str, ApiKey]:
        """A new key for ``user`` (default: the machine's user): returns the secret (shown once) and its record."""
        if budget_usd is not None and budget_usd < 0:
            raise PodiumError(f"--budget-usd is negative ({budget_usd})", hint="use 0 or more dollars")
        if rpm is not None and rpm < 1:
            raise PodiumError(f"--rpm must be at least 1 ({rpm})", hint="leave it out for no rate limit")
        user = (local_user() if user is None else user).strip()
        if not user or "," in user:
            raise PodiumError(f"--user {user!r} is not a user name", hint="name one user, e.g. --user alice")
        key_id = secrets.token_hex(4)
        secret = f"{PREFIX}{key_id}-{secrets.token_urlsafe(24)}"
        self.db.execute("INSERT INTO api_keys (id, name, hash, created, budget_usd, rpm, \"user\")"
                        " VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (key_id, name, _hash(secret), time.time(), budget_usd, rpm, user))
        return secret, self.get(key_id)

    def get(self, key_id: str) -> ApiKey:
        """A key by its id; unknown ids are a one-line error."""
        rows = self.db.execute("SELECT * FROM api_keys WHERE id = ?", (key_id,))
        if not rows:
            raise NotFoundError("API key", key_id, hint="list keys with `podium keys list`")
        return _record(rows[0])

    def list(self, *, now: float | None = None) -> list[ApiKey]:
        """Every key, newest first, revoked ones included, with what its requests in flight hold."""
        holds = {row["key_id"]: row for row in self.db.execute(
            "SELECT key_id, COUNT(*) AS n, SUM(usd) AS usd FROM api_holds WHERE created >= ? GROUP BY key_id",
            (self._live_since(now),))}
        keys = [_record(r) for r in self.db.execute("SELECT * FROM api_keys ORDER BY created DESC")]
        for key in keys:
            if key.id in holds:
                key.held_usd, key.in_flight = float(holds[key.id]["usd"]), int(holds[key.id]["n"])
        return keys

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key by its id (or by the key itself); requests with it get 401 from then on."""
        if key_id.startswith(PREFIX):
            key_id = key_id[len(PREFIX):].split("-", 1)[0]
        self.get(key_id)
        self.db.execute("UPDATE api_keys SET revoked = ? WHERE id = ? AND revoked IS NULL", (time.time(), key_id))
        return self.get(key_id)

    def any(self) -> bool:
        """Whether any key was ever created (then every request needs one)."""
        return bool(self.db.execute("SELECT 1 AS one FROM api_keys LIMIT 1"))

    def admit(self, secret: str | None, *, now: float | None = None) -> ApiKey:
        """The key a request presents, checked: known, not revoked, within budget and rate limit."""
        if not secret:
            raise Refused("missing API key", status=401, code="missing_api_key",
                          hint="send it as 'Authorization: Bearer pk-...' (create one with `podium keys create`)")
        rows = self.db.execute("SELECT * FROM api_keys WHERE hash = ?", (_hash(secret),))
        if not rows:
            raise Refused("invalid API key", status=401, code="invalid_api_key",
                          hint="check the key, or create one with `podium keys create`")
        key = _record(rows[0])
        if key.revoked is not None:
            raise Refused(f"API key {key.id} was revoked", status=401, code="revoked_api_key",
                          hint="create a new key with `podium keys create`")
        if key.budget_usd is not None and key.spent_usd >= key.budget_usd:
            raise _spent(key)
        if key.rpm is not None:
            now = self.clock() if now is None else now
            minute = int(now // 60)
            # One atomic statement, so replicas sharing the database share the count.
            (row,) = self.db.execute(
                "INSERT INTO api_rate (key_id, minute, n) VALUES (?, ?, 1) ON CONFLICT (key_id, minute)"
                " DO UPDATE SET n = api_rate.n + 1 RETURNING n", (key.id, minute))
            if row["n"] > key.rpm:
                wait = max(1.0, (minute + 1) * 60 - now)
                raise Refused(f"API key {key.id} is over its rate limit of {key.rpm} requests per minute",
                              status=429, code="rate_limit_exceeded", retry_after_s=wait,
                              hint=f"retry in {wait:.0f}s")
            self.db.execute("DELETE FROM api_rate WHERE key_id = ? AND minute < ?", (key.id, minute - 1))
        self.db.execute("UPDATE api_keys SET requests = requests + 1 WHERE id = ?", (key.id,))
        return key

    def claim_thread(self, thread_id: str, key_id: str) -> None:
        """Give a thread to the key that first used it; another key naming it gets "unknown thread"."""
        self.db.execute("INSERT INTO api_threads (thread_id, key_id) VALUES (?, ?) ON CONFLICT (thread_id) DO NOTHING",
                        (thread_id, key_id))
        rows = self.db.execute("SELECT key_id FROM api_threads WHERE thread_id = ?", (thread_id,))
        if rows and rows[0]["key_id"] != key_id:
            raise NotFoundError("thread", thread_id, hint="threads belong to the API key that started them")

    def charge(self, key_id: str, usd: float) -> None:
        """Add what a request spent to its key."""
        if usd:
            self.db.execute("UPDATE api_keys SET spent_usd = spent_usd + ? WHERE id = ?", (usd, key_id))

    def reserve(self, key_id: str, hold_id: str, usd: float, *, now: float | None = None) -> None:
        """Hold ``usd`` (a request's worst-case cost) of the key's budget for request ``hold_id``, atomically
        across threads, processes and replicas; refused (403) when the budget cannot cover it (see the module
        docstring). Every hold must end in :meth:`settle`."""
        now = self.clock() if now is None else now
        with self.db.transaction() as run:
            lock = " FOR UPDATE" if self.db.postgres else ""  # SQLite: BEGIN IMMEDIATE already serialises writers
            rows = run(f"SELECT * FROM api_keys WHERE id = ?{lock}", (key_id,))
            if not rows:
                raise NotFoundError("API key", key_id, hint="list keys with `podium keys list`")
            key = _record(rows[0])
            if key.budget_usd is None:
                return  # nothing to hold: settle only charges
            run("DELETE FROM api_holds WHERE key_id = ? AND created < ?", (key_id, now - HOLD_TTL_S))
            (held,) = run("SELECT COUNT(*) AS n, COALESCE(SUM(usd), 0) AS usd FROM api_holds WHERE key_id = ?",
                          (key_id,))
            if key.spent_usd >= key.budget_usd:
                raise _spent(key)
            if held["n"] and key.spent_usd + held["usd"] + usd > key.budget_usd:
                raise Refused(f"API key {key.id}'s budget is spent or held by {held['n']} request(s) in flight "
                              f"(${key.spent_usd:.4f} spent and ${held['usd']:.4f} held of ${key.budget_usd:g}; "
                              f"this request could cost ${usd:.4f})", status=403, code="budget_exceeded",
                              hint="retry when those requests end, or create a key with a larger --budget-usd")
            run("INSERT INTO api_holds (id, key_id, usd, created) VALUES (?, ?, ?, ?)", (hold_id, key_id, usd, now))

    def settle(self, key_id: str, hold_id: str, usd: float) -> None:
        """End request ``hold_id``'s hold and charge what it really cost (``0`` when it failed before any call)."""
        with self.db.transaction() as run:
            run("DELETE FROM api_holds WHERE id = ?", (hold_id,))
            if usd:
                run("UPDATE api_keys SET spent_usd = spent_usd + ? WHERE id = ?", (usd, key_id))

    def held(self, key_id: str, *, now: float | None = None) -> float:
        """USD held for the key's requests in flight (holds past their time-to-live no longer count)."""
        (row,) = self.db.execute("SELECT COALESCE(SUM(usd), 0) AS usd FROM api_holds WHERE key_id = ? AND created >= ?",
                                 (key_id, self._live_since(now)))
        return float(row["usd"])

    def _live_since(self, now: float | None) -> float:
        """Creation time from which a hold still counts (older ones belong to dead processes)."""
        return (self.clock() if now is None else now) - HOLD_TTL_S


def _spent(key: ApiKey) -> Refused:
    return Refused(f"API key {key.id} has spent its budget (${key.spent_usd:.4f} of ${key.budget_usd:g})",
                   status=403, code="budget_exceeded", hint="create a key with a larger --budget-usd")


def _record(row: dict[str, Any]) -> ApiKey:
    return ApiKey(**{k: row[k] for k in ApiKey.__dataclass_fields__ if k in row})


def _sql_text(text: str) -> str:
    """``text`` quoted for a SQL string literal (a DDL default cannot be a parameter)."""
    return text.replace("'", "''")


def open_keys(settings: Settings) -> KeyStore:
    """The key store of ``PODIUM_HOME`` (or the shared Postgres)."""
    return KeyStore(open_database(settings, "keys.sqlite"))
