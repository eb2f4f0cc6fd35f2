"""The knowledge base as one user sees it, and sharing a collection with others.

:func:`scoped` gives the view a turn, a web session or an API request works through: it lists,
searches, routes to and cites only the collections the user owns or that were shared with them
(:mod:`memory.owners`); any other collection does not exist for them ("unknown collection"), even
by name. Writing (ingest, deleting documents or the collection, sharing) is for the owner alone.
The view shares the base's Chroma client, embedder and caches: making one costs nothing.
"""

from __future__ import annotations

from typing import Any

from memory.owners import EVERYONE, OWNER_KEY, SHARED_KEY, audience, can_read, owner_of, shared_with
from memory.store import KnowledgeBase, check_name
from podium.errors import ConfigError, NotFoundError, PodiumError


def _unknown(name: str) -> NotFoundError:
    return NotFoundError("collection", name, hint="see the collections you can use in the Knowledge tab "
                         "(or `podium kb list`), or ingest documents into one of your own")


class UserKnowledge(KnowledgeBase):
    """A :class:`KnowledgeBase` restricted to what ``user`` may read (and, for writes, owns)."""

    def __init__(self, base: KnowledgeBase, user: str) -> None:  # noqa: D107 - shares the base's state on purpose
        self.base = base
        self.user = user
        """Who is asking."""
        self.settings = base.settings
        self._lock = base._lock
        self._lexical = base._lexical

    @property
    def embedder(self) -> Any:
        """The base's embedding model."""
        return self.base.embedder

    @property
    def client(self) -> Any:
        """The base's Chroma client."""
        return self.base.client

    def catalog(self) -> dict[str, dict[str, Any]]:
        """The collections this user may read, from the catalog (no Chroma opened)."""
        return {n: c for n, c in self.base.catalog().items() if can_read(c, self.user)}

    def usable(self) -> bool:
        """Whether this user has anything to search."""
        if self.settings.chroma_url:
            return any(c["chunks"] for c in self.collections())
        return any(info.get("chunks", 0) for info in self.catalog().values())

    def collections(self) -> list[dict[str, Any]]:
        """The collections this user may read."""
        return [c for c in self.base.collections() if can_read(c, self.user)]

    def _meta(self, name: str) -> dict[str, Any] | None:
        """A collection's metadata, ``None`` when there is no such collection."""
        for col in self.client.list_collections():
            if col.name == name:
                return dict(col.metadata or {})
        return None

    def collection(self, name: str, *, create: bool = False, owner: str | None = None) -> Any:
        """Open a collection this user may read; ``create`` (a write) needs one they own or a new name."""
        check_name(name)
        meta = self._meta(name)
        if meta is None:
            if not create:
                raise _unknown(name)
            return self.base.collection(name, create=True, owner=self.user)
        if not can_read(meta, self.user):
            if create:  # the name is taken by someone else's private collection: say no more than that
                raise ConfigError(f"the collection name {name!r} is not available", setting="collection",
                                  hint="pick another name for your collection")
            raise _unknown(name)
        if create and owner_of(meta) != self.user:
            raise PodiumError(f"collection {name!r} belongs to {owner_of(meta)}: it is shared with you to read, "
                              "not to change", hint="ingest into a collection of your own")
        return self.base.collection(name)

    def require_owner(self, name: str) -> None:
        """Refuse a change to a collection this user does not own (unknown when they cannot even read it)."""
        meta = self._meta(check_name(name))
        if meta is None or not can_read(meta, self.user):
            raise _unknown(name)
        if owner_of(meta) != self.user:
            raise PodiumError(f"only {owner_of(meta)}, who owns collection {name!r}, can change it",
                              hint="it is shared with you to read")

    def delete(self, name: str) -> None:
        """Delete a collection this user owns."""
        self.require_owner(name)
        self.base.delete(name)

    def _write_catalog(self) -> None:
        self.base._write_catalog()


def scoped(kb: KnowledgeBase, user: str | None) -> KnowledgeBase:
    """The knowledge base as ``user`` sees it; ``None`` (the machine's operator) sees everything."""
    if user is None or isinstance(kb, UserKnowledge) and kb.user == user:
        return kb
    return UserKnowledge(kb.base if isinstance(kb, UserKnowledge) else kb, user)


def share(kb: KnowledgeBase, name: str, who: str, *, revoke: bool = False) -> list[str]:
    """Let ``who`` (a user name, or ``all``) read collection ``name``, or stop (``revoke``); returns who may now.

    Through a :class:`UserKnowledge` only the owner may share; the operator (a plain
    :class:`KnowledgeBase`, the command line) may share any collection.
    """
    target = audience(who)
    if not target or "," in target:
        raise ConfigError(f"cannot share with {who!r}", setting="with",
                          hint="name one user, or 'all' for every signed-in user")
    if isinstance(kb, UserKnowledge):
        kb.require_owner(name)
        if target == kb.user:
            raise ConfigError("you own this collection already", setting="with", hint="name another user, or 'all'")
    base = kb.base if isinstance(kb, UserKnowledge) else kb
    with base.writing():  # an ingest rewrites the metadata when it commits: take turns with it
        col = next((c for c in base.client.list_collections() if c.name == check_name(name)), None)
        if col is None:
            raise _unknown(name)
        meta = dict(col.metadata or {})
        shared = set(shared_with(meta))
        if revoke and target not in shared:
            raise ConfigError(f"collection {name!r} is not shared with {who}", setting="with",
                              hint=f"it is shared with: {', '.join(sorted(shared)) or 'nobody'}")
        shared = shared - {target} if revoke else shared | {target}
        keep = {k: v for k, v in meta.items() if k.startswith("podium_")}
        col.modify(metadata={**keep, OWNER_KEY: owner_of(meta), SHARED_KEY: ",".join(sorted(shared))})
        base._write_catalog()
    return sorted(shared)


__all__ = ["EVERYONE", "UserKnowledge", "scoped", "share"]
