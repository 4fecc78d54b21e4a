"""The neighbour overlay of unstructured search (layer L3, pure; Gnutella 0.4 style connections over UDP).

A node keeps between ``min_neighbours`` and ``max_neighbours`` neighbours. It actively asks peers to become
neighbours (a ``neighbour`` request, join=true) until it has ``target_neighbours``; it accepts joins from
others up to ``max_neighbours``. The relation is symmetric: a peer that accepts adds the asker before it
replies, and the asker adds the peer when the acceptance arrives.

Candidates come from the routing table (every Kademlia contact is a potential neighbour) and from peer
exchange (a ``neighbour`` reply carries some of the responder's other neighbours). A peer that refuses or
never answers (a stock kademlia node ignores the unknown RPC) is not asked again for ``candidate_backoff``
seconds. A neighbour not heard from for ``keepalive_interval`` gets a keep-alive (the same ``neighbour``
request); if that fails after the RPC retries, or the peer no longer counts us as a neighbour, it is removed
and a replacement is looked for at once.

Each neighbour has a token bucket: queries and walkers beyond ``query_rate`` per second are dropped.

This module is a data structure: it decides, the core sends.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..config import SearchConfig
from ..wire import Address, Contact

if TYPE_CHECKING:  # pragma: no cover
    import random

__all__ = ["Overlay", "NeighbourState"]

_BACKOFF_SIZE = 1024
_EXCHANGE_SIZE = 64


@dataclass(slots=True, eq=False)
class NeighbourState:
    """One neighbour."""

    contact: Contact
    since: float
    last_heard: float
    tokens: float
    refilled_at: float
    keepalive_pending: bool = False


class Overlay:
    """The neighbour set, join attempts in flight, candidate back-off and peer-exchange candidates.

    Every collection is bounded: at most ``max_neighbours`` neighbours and joins in flight, 1024 backed-off
    peers and 64 peer-exchange candidates (oldest dropped first).
    """

    def __init__(self, config: SearchConfig, own_id: int) -> None:
        self.config = config
        self.own_id = own_id
        self.neighbours: dict[int, NeighbourState] = {}
        self._by_addr: dict[Address, int] = {}
        self.joining: dict[int, Contact] = {}
        self._backoff: OrderedDict[int, float] = OrderedDict()
        self._exchange: OrderedDict[int, Contact] = OrderedDict()

    def __len__(self) -> int:
        return len(self.neighbours)

    def contacts(self) -> list[Contact]:
        """The neighbours' contacts, oldest neighbour first."""
        return [s.contact for s in self.neighbours.values()]

    def by_addr(self, addr: Address) -> NeighbourState | None:
        """The neighbour at ``addr``, if any."""
        nid = self._by_addr.get(addr)
        return None if nid is None else self.neighbours.get(nid)

    # ------------------------------------------------------------------ membership

    def add(self, now: float, contact: Contact) -> NeighbourState | None:
        """Make ``contact`` a neighbour (or refresh it); ``None`` if full or it is this node."""
        if contact.node_id == self.own_id:
            return None
        s = self.neighbours.get(contact.node_id)
        if s is not None:
            if s.contact != contact:
                self._by_addr.pop(s.contact.addr, None)
                s.contact = contact
                self._by_addr[contact.addr] = contact.node_id
            s.last_heard = now
            return s
        if len(self.neighbours) >= self.config.max_neighbours:
            return None
        old = self._by_addr.get(contact.addr)
        if old is not None:  # another id at the same address: the peer restarted with a new identity
            self.remove(old)
        s = NeighbourState(contact, now, now, float(self.config.query_burst), now)
        self.neighbours[contact.node_id] = s
        self._by_addr[contact.addr] = contact.node_id
        self._backoff.pop(contact.node_id, None)
        self._exchange.pop(contact.node_id, None)
        return s

    def accept(self, now: float, contact: Contact) -> bool:
        """Answer a join (or keep-alive) from ``contact``: accepted while there is room."""
        if not self.config.enabled:
            return False
        return self.add(now, contact) is not None

    def remove(self, node_id: int) -> NeighbourState | None:
        """Drop a neighbour; returns its state or ``None``."""
        s = self.neighbours.pop(node_id, None)
        if s is not None and self._by_addr.get(s.contact.addr) == node_id:
            del self._by_addr[s.contact.addr]
        return s

    def heard(self, now: float, addr: Address) -> NeighbourState | None:
        """Note a datagram from ``addr``; returns the neighbour there, if any."""
        s = self.by_addr(addr)
        if s is not None:
            s.last_heard = now
        return s

    # ------------------------------------------------------------------ rate limit

    def admit(self, now: float, s: NeighbourState) -> bool:
        """Take one token from the neighbour's bucket; ``False`` when it is empty (drop the message)."""
        cfg = self.config
        s.tokens = min(float(cfg.query_burst), s.tokens + (now - s.refilled_at) * cfg.query_rate)
        s.refilled_at = now
        if s.tokens < 1.0:
            return False
        s.tokens -= 1.0
        return True

    # ------------------------------------------------------------------ finding neighbours

    def wanted(self) -> int:
        """How many more join requests to send now to reach ``target_neighbours``."""
        if not self.config.enabled:
            return 0
        return max(0, self.config.target_neighbours - len(self.neighbours) - len(self.joining))

    def back_off(self, now: float, node_id: int) -> None:
        """Do not ask ``node_id`` again for ``candidate_backoff`` seconds."""
        self._backoff.pop(node_id, None)
        self._backoff[node_id] = now + self.config.candidate_backoff
        while len(self._backoff) > _BACKOFF_SIZE:
            self._backoff.popitem(last=False)

    def learn(self, contacts: Iterable[Contact]) -> None:
        """Remember peer-exchange candidates."""
        for c in contacts:
            if c.node_id == self.own_id or c.node_id in self.neighbours:
                continue
            self._exchange.pop(c.node_id, None)
            self._exchange[c.node_id] = c
            while len(self._exchange) > _EXCHANGE_SIZE:
                self._exchange.popitem(last=False)

    def exchange(self, exclude: int, n: int = 8) -> list[Contact]:
        """Up to ``n`` neighbours to offer a peer (peer exchange), ``exclude`` left out."""
        return [s.contact for nid, s in self.neighbours.items() if nid != exclude][:n]

    def candidates(self, now: float, rng: random.Random, contacts: Iterable[Contact], n: int) -> list[Contact]:
        """Up to ``n`` peers to ask, drawn at random from ``contacts`` (the routing table) and the
        peer-exchange list, skipping neighbours, joins in flight and backed-off peers."""
        if n <= 0:
            return []
        pool: dict[int, Contact] = {}
        for c in list(contacts) + list(self._exchange.values()):
            nid = c.node_id
            if nid == self.own_id or nid in self.neighbours or nid in self.joining or nid in pool:
                continue
            until = self._backoff.get(nid)
            if until is not None:
                if until > now:
                    continue
                del self._backoff[nid]
            pool[nid] = c
        ordered = sorted(pool.values())
        return rng.sample(ordered, min(n, len(ordered)))

    def due_keepalives(self, now: float) -> list[NeighbourState]:
        """Neighbours due a keep-alive, without one in flight.

        One end of each link keeps it alive: the end with the lower node id asks after
        ``keepalive_interval`` seconds of silence (its request and the reply refresh both ends); the other
        end asks only after twice that, i.e. when the lower end has gone quiet.
        """
        interval = self.config.keepalive_interval
        own = self.own_id
        return [
            s
            for nid, s in self.neighbours.items()
            if not s.keepalive_pending and now - s.last_heard >= (interval if own < nid else 2 * interval)
        ]
