"""Origin-side state and results of a search (layer L3, pure)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..wire import Contact, HitItem

__all__ = ["SearchHit", "SearchResult", "ActiveSearch", "STRATEGIES"]

STRATEGIES = ("flood", "walk", "ring")


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One item found.

    Attributes
    ----------
    name : str
    content_hash : str
        sha256, hex.
    size : int
    tags : tuple of str
    holder : Contact
        The node that holds it (and answered).
    hops : int
        Its distance from the origin along the query's path.
    seconds : float
        Time from the start of the search to this hit's arrival.
    """

    name: str
    content_hash: str
    size: int
    tags: tuple[str, ...]
    holder: Contact
    hops: int
    seconds: float


@dataclass(frozen=True, slots=True)
class SearchResult:
    """Outcome of a search.

    Attributes
    ----------
    keywords : tuple of str
    strategy : str
        ``"flood"``, ``"walk"`` or ``"ring"``.
    hits : tuple of SearchHit
        In arrival order, one per (holder, item).
    ttl : int
        TTL of the (last) flood round, or of each walker.
    rounds : int
        Flood rounds (expanding ring: several).
    messages : int
        Query and walker datagrams the origin sent (the network sends more as it forwards).
    satisfied : bool
        ``max_hits`` hits arrived (without ``max_hits``: at least one).
    seconds : float
    """

    keywords: tuple[str, ...]
    strategy: str
    hits: tuple[SearchHit, ...]
    ttl: int
    rounds: int
    messages: int
    satisfied: bool
    seconds: float


@dataclass(slots=True, eq=False)
class ActiveSearch:
    """A search this node started."""

    qid: int
    strategy: str
    keywords: tuple[str, ...]
    started: float
    deadline: float
    max_hits: int | None
    ttl: int
    max_ttl: int
    direct: bool
    walkers: int = 0
    guid: bytes = b""
    guids: list[bytes] = field(default_factory=list)
    rounds: int = 0
    round_ends: float = float("inf")
    messages: int = 0
    hits: list[SearchHit] = field(default_factory=list)
    _keys: set[tuple[int, str]] = field(default_factory=set)

    @property
    def wanted(self) -> int:
        return self.max_hits if self.max_hits is not None else 1

    @property
    def satisfied(self) -> bool:
        return len(self.hits) >= self.wanted

    def add_hits(self, now: float, holder: Contact, hops: int, items: tuple[HitItem, ...], limit: int) -> int:
        """Record new hits (one per holder and item); returns how many were new."""
        n = 0
        for it in items:
            key = (holder.node_id, it.content_hash.hex())
            if key in self._keys or len(self.hits) >= limit:
                continue
            if self.max_hits is not None and len(self.hits) >= self.max_hits:
                break
            self._keys.add(key)
            self.hits.append(
                SearchHit(it.name, key[1], it.size, tuple(it.tags), holder, hops, now - self.started)
            )
            n += 1
        return n

    def result(self, now: float) -> SearchResult:
        return SearchResult(
            self.keywords, self.strategy, tuple(self.hits), self.ttl, self.rounds, self.messages,
            self.satisfied, now - self.started,
        )
