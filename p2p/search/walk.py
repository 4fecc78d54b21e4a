"""Random walks (layer L3, pure; Lv, Cao, Cohen, Li, Shenker, ICS 2002, §4).

The origin sends ``k`` walkers, each to a random neighbour (spread over the neighbours when there are fewer
than ``k``). A node receiving a walker answers from its catalogue if it holds a match and has not answered this GUID
before (sending the hit straight to the origin), and then the walker stops; a walker meeting a holder that
already answered walks on, so a search for several hits can find several holders. Otherwise, if its TTL is left, the walker moves on to a random
neighbour other than the one it came from (back only when there is no other). Every ``check_every`` hops the
node holding the walker first asks the origin (``check``) whether to go on; the origin says no once the search
is satisfied or over, and a failed check stops the walker too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..wire import Contact

if TYPE_CHECKING:  # pragma: no cover
    import random

__all__ = ["FORWARD", "CHECK", "EXPIRE", "walker_action", "next_hop", "spread"]

FORWARD = "forward"
CHECK = "check"
EXPIRE = "expire"


def walker_action(ttl: int, hops: int, check_every: int) -> str:
    """What a node does with a walker that arrived with ``ttl`` at distance ``hops`` and found nothing:
    :data:`EXPIRE` (TTL used up), :data:`CHECK` (check back with the origin first) or :data:`FORWARD`."""
    if ttl - 1 < 1:
        return EXPIRE
    if hops % check_every == 0:
        return CHECK
    return FORWARD


def next_hop(rng: random.Random, neighbours: Sequence[Contact], prev: int | None) -> Contact | None:
    """A uniformly random neighbour other than ``prev`` (``prev`` itself only if it is the only one)."""
    if not neighbours:
        return None
    others = [c for c in neighbours if c.node_id != prev]
    return rng.choice(others or list(neighbours))


def spread(rng: random.Random, neighbours: Sequence[Contact], k: int) -> list[Contact]:
    """First hops of ``k`` walkers: distinct random neighbours while there are enough, then round-robin."""
    if not neighbours:
        return []
    order = list(neighbours)
    rng.shuffle(order)
    return [order[i % len(order)] for i in range(k)]
