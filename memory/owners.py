"""Who may read a knowledge collection: its owner, the users it is shared with, or everyone.

A collection belongs to the user who created it: the signed-in web user, the user an API key
was created for, or :func:`local_user` (the machine's own user) for the command line and a web
app without ``--auth``. Ownership and sharing are kept in the collection's own metadata, so
they move with it and every process (and a Chroma server) sees the same.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterable, Mapping
from typing import Any

OWNER_KEY = "podium_owner"
"""Collection metadata: the user who created it."""
SHARED_KEY = "podium_shared"
"""Collection metadata: who else may read it, comma-separated (``*``: everyone)."""
EVERYONE = "*"
"""Stands for every user in :data:`SHARED_KEY`; ``all`` on the command line and in the app."""


def local_user() -> str:
    """The machine's user: owner of what the command line (and a web app without --auth) creates."""
    try:
        return getpass.getuser() or "local"
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "local"


def owner_of(meta: Mapping[str, Any] | None) -> str:
    """A collection's owner; collections made before owners were recorded belong to the machine's user."""
    return str((meta or {}).get(OWNER_KEY) or (meta or {}).get("owner") or local_user())


def shared_with(meta: Mapping[str, Any] | None) -> list[str]:
    """Who a collection is shared with (``*`` for everyone), sorted."""
    raw = (meta or {}).get(SHARED_KEY, (meta or {}).get("shared", ""))
    names = raw if isinstance(raw, list) else str(raw or "").split(",")
    return sorted({n.strip() for n in names if n and n.strip()})


def can_read(meta: Mapping[str, Any] | None, user: str | None) -> bool:
    """Whether ``user`` may see a collection; ``None`` is the machine's operator, who sees all of them."""
    if user is None:
        return True
    shared = shared_with(meta)
    return owner_of(meta) == user or user in shared or EVERYONE in shared


def audience(who: str) -> str:
    """A ``--with`` value as stored: ``all`` (or ``*``, ``everyone``) is everyone, else the user name."""
    who = (who or "").strip()
    return EVERYONE if who.lower() in ("all", "*", "everyone") else who


def describe(shared: Iterable[str]) -> str:
    """Sharing as people read it: ``everyone``, ``alice, bob`` or ``-``."""
    names = list(shared)
    if EVERYONE in names:
        return "everyone"
    return ", ".join(names) or "-"
