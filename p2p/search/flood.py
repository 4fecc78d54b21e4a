"""Flooding and expanding ring (layer L3, pure; Gnutella 0.4; Lv et al., ICS 2002, §3).

A flooded query carries a 16-byte GUID, a TTL and a hop count. A node handles a GUID at most once (see
:mod:`p2p.search.seen`). On the first copy it answers from its catalogue and, if ``ttl - 1 >= 1``, forwards
the query to every neighbour except the one it came from with ``ttl - 1`` and ``hops + 1``. The origin sends
``ttl`` and ``hops = 1``, so ``hops`` is the receiver's distance from the origin along the path the query took
and the query reaches the nodes within ``ttl`` hops (with constant link delays: exactly the BFS ball).

Expanding ring: successive floods with TTL 1, 3, 5, ... (each a new GUID) until a round gets a hit or the
maximum TTL has been tried.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..wire import Contact

__all__ = ["clamp_ttl", "flood_targets", "ring_ttls", "ring_wait"]


def clamp_ttl(ttl: int, max_ttl: int) -> tuple[int, bool]:
    """``(min(ttl, max_ttl), whether it was clamped)``."""
    return (max_ttl, True) if ttl > max_ttl else (ttl, False)


def flood_targets(neighbours: Iterable[Contact], came_from: int | None, ttl: int) -> tuple[int, list[Contact]]:
    """Where a node that received a query with ``ttl`` forwards it, and with which TTL.

    Returns ``(ttl - 1, every neighbour but came_from)``, or ``(0, [])`` when the TTL is used up.
    """
    nxt = ttl - 1
    if nxt < 1:
        return 0, []
    return nxt, [c for c in neighbours if c.node_id != came_from]


def ring_ttls(max_ttl: int, start: int = 1, step: int = 2) -> list[int]:
    """TTLs of the successive rounds of an expanding ring: ``start, start + step, ...`` up to ``max_ttl``
    (which is always the last)."""
    out = list(range(start, max_ttl, step))
    out.append(max_ttl)
    return out


def ring_wait(ttl: int, hop_wait: float) -> float:
    """Seconds a ring round with ``ttl`` waits for hits: a round trip of ``ttl`` hops."""
    return 2 * ttl * hop_wait
