"""The duplicate-suppression cache of query GUIDs (layer L3, pure).

Each node handles a flooded query at most once: the first copy of a GUID is handled and remembered, later
copies are dropped. The cache remembers, per GUID, the address the first copy came from (the reverse path a
QUERY_HIT takes back, Gnutella 0.4 §2.2.2) and whether this node already answered it. It is bounded both by
count (the oldest entry is evicted first) and by age, so a peer sending endless fresh GUIDs costs a fixed
amount of memory (it only shortens how long a GUID is remembered).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from ..wire import Address

__all__ = ["SeenCache", "SeenEntry"]


@dataclass(slots=True)
class SeenEntry:
    """What a node remembers of one GUID."""

    expires_at: float
    upstream: Address | None  # where the first copy came from; None at the origin
    answered: bool = False


class SeenCache:
    """GUID -> :class:`SeenEntry`, at most ``size`` entries, each kept at most ``ttl`` seconds.

    Parameters
    ----------
    size : int
        Most entries; adding one more evicts the oldest.
    ttl : float
        Seconds an entry lives.
    """

    def __init__(self, size: int, ttl: float) -> None:
        if size < 1 or ttl <= 0:
            raise ValueError("a seen cache needs size >= 1 and ttl > 0")
        self.size = size
        self.ttl = ttl
        self._d: OrderedDict[bytes, SeenEntry] = OrderedDict()
        self.evicted = 0
        self.expired = 0

    def __len__(self) -> int:
        return len(self._d)

    def __contains__(self, guid: object) -> bool:
        return guid in self._d

    def get(self, now: float, guid: bytes) -> SeenEntry | None:
        """The live entry for ``guid`` or ``None`` (an expired entry is removed)."""
        e = self._d.get(guid)
        if e is not None and e.expires_at <= now:
            del self._d[guid]
            self.expired += 1
            return None
        return e

    def add(self, now: float, guid: bytes, upstream: Address | None) -> SeenEntry | None:
        """Remember ``guid`` if it is new and return its entry; return ``None`` if it is already known
        (a duplicate). Expired entries at the old end are dropped first, then the oldest if full."""
        self.expire(now)
        if self.get(now, guid) is not None:
            return None
        while len(self._d) >= self.size:
            self._d.popitem(last=False)
            self.evicted += 1
        e = SeenEntry(now + self.ttl, upstream)
        self._d[guid] = e
        return e

    def expire(self, now: float) -> int:
        """Drop entries whose time is up (oldest first: insertion order is expiry order)."""
        n = 0
        d = self._d
        while d:
            guid, e = next(iter(d.items()))
            if e.expires_at > now:
                break
            del d[guid]
            n += 1
        self.expired += n
        return n
