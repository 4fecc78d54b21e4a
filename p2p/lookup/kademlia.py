"""Iterative Kademlia node lookup as a pure state machine (layer L3).

The lookup keeps the candidates it has heard of sorted by XOR distance to the target and keeps α requests
in flight at all times: as soon as one peer answers (or stalls, or fails), the next closest un-asked
candidate is asked. There are no lock-step rounds, so one slow or dead peer never holds the others back
(the paper's §2.3 "the initiator can begin a new RPC as soon as any of the α in flight return"). The lookup
ends when the k closest candidates that are not unreachable have all answered.

References
----------
Maymounkov & Mazières, IPTPS 2002, §2.3 (node lookup, α, termination on the k closest having answered).
rust-libp2p ``protocols/kad/src/query/peers/closest.rs`` (``ClosestPeersIter``, peer states).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable

from ..wire import Contact
from .base import PeerState

__all__ = ["ClosestPeersLookup"]

_HEARD = PeerState.HEARD
_WAITING = PeerState.WAITING
_STALLED = PeerState.STALLED
_SUCCEEDED = PeerState.SUCCEEDED
_UNREACHABLE = PeerState.UNREACHABLE


class _Peer:
    __slots__ = ("contact", "state", "hops")

    def __init__(self, contact: Contact, hops: int) -> None:
        self.contact = contact
        self.state = _HEARD
        self.hops = hops


class ClosestPeersLookup:
    """Find the k nodes closest to ``target``.

    Parameters
    ----------
    target : int
        The 160-bit id looked up.
    k : int
        Number of closest peers wanted (and replication factor).
    alpha : int
        Requests kept in flight.
    seeds : iterable of Contact
        Starting candidates (from the local routing table); they are at hop 1.
    own_id : int or None
        This node's id, never added as a candidate.
    max_candidates : int
        Candidates remembered at most (the farthest un-asked are forgotten first), bounding memory
        whatever peers reply. Defaults to ``8 * k``.
    """

    def __init__(
        self,
        target: int,
        k: int,
        alpha: int,
        seeds: Iterable[Contact],
        own_id: int | None = None,
        max_candidates: int | None = None,
    ) -> None:
        self.target = target
        self.k = k
        self.alpha = alpha
        self.own_id = own_id
        self.max_candidates = max_candidates or 8 * k
        self._peers: dict[int, _Peer] = {}
        self._order: list[tuple[int, int]] = []  # (distance, node_id), sorted
        self._in_flight = 0
        self._finished = False
        self.requests = 0
        self.max_hops = 0
        self._add(seeds, 1)
        self._update_finished()

    # -------------------------------------------------------------------------------------- internals

    def _add(self, contacts: Iterable[Contact], hops: int) -> None:
        peers = self._peers
        order = self._order
        target = self.target
        for c in contacts:
            nid = c.node_id
            if nid in peers or nid == self.own_id:
                continue
            peers[nid] = _Peer(c, hops)
            bisect.insort(order, (nid ^ target, nid))
        while len(order) > self.max_candidates:
            # Forget the farthest candidate that was never asked; stop if every one was asked.
            for i in range(len(order) - 1, -1, -1):
                nid = order[i][1]
                if peers[nid].state is _HEARD:
                    del order[i]
                    del peers[nid]
                    break
            else:
                break

    def _update_finished(self) -> None:
        results = 0
        for _, nid in self._order:
            state = self._peers[nid].state
            if state is _SUCCEEDED:
                results += 1
                if results >= self.k:
                    break
            elif state is not _UNREACHABLE:
                self._finished = False
                return
        self._finished = True

    def _settle(self, node_id: int, state: PeerState) -> _Peer | None:
        peer = self._peers.get(node_id)
        if peer is None or peer.state not in (_WAITING, _STALLED):
            return None
        if peer.state is _WAITING:
            self._in_flight -= 1
        peer.state = state
        return peer

    # -------------------------------------------------------------------------------------- interface

    def next(self, now: float = 0.0) -> list[Contact]:
        """Ask the closest un-asked candidates while fewer than α requests are in flight.

        Only candidates among the k closest still in the running are asked: a farther one cannot change
        the result.
        """
        if self._finished:
            return []
        out: list[Contact] = []
        results = 0
        for _, nid in self._order:
            if self._in_flight >= self.alpha or results >= self.k:
                break
            peer = self._peers[nid]
            state = peer.state
            if state is _UNREACHABLE:
                continue
            results += 1
            if state is _HEARD:
                peer.state = _WAITING
                self._in_flight += 1
                self.requests += 1
                out.append(peer.contact)
        return out

    def on_success(self, node_id: int, closer: Iterable[Contact], now: float = 0.0) -> None:
        """``node_id`` answered; its ``closer`` contacts become candidates one hop further."""
        peer = self._settle(node_id, _SUCCEEDED)
        if peer is None:
            return
        self.max_hops = max(self.max_hops, peer.hops)
        if not self._finished:
            self._add(closer, peer.hops + 1)
        self._update_finished()

    def on_failure(self, node_id: int, now: float = 0.0) -> None:
        """``node_id`` never answered."""
        if self._settle(node_id, _UNREACHABLE) is not None:
            self._update_finished()

    def on_stall(self, node_id: int, now: float = 0.0) -> None:
        """``node_id`` is slow: give its α slot to the next candidate (it may still answer)."""
        peer = self._peers.get(node_id)
        if peer is not None and peer.state is _WAITING:
            peer.state = _STALLED
            self._in_flight -= 1

    def finish(self) -> None:
        """End the lookup early (a FIND_VALUE that found the value)."""
        self._finished = True

    @property
    def finished(self) -> bool:
        """``True`` once the k closest non-unreachable candidates have answered (or none is left)."""
        return self._finished

    @property
    def in_flight(self) -> int:
        """Requests occupying α slots."""
        return self._in_flight

    def state(self, node_id: int) -> PeerState | None:
        """The state of one candidate, or ``None`` if unknown."""
        peer = self._peers.get(node_id)
        return None if peer is None else peer.state

    def hops(self, node_id: int) -> int:
        """Hop at which ``node_id`` was learnt (seeds are hop 1)."""
        return self._peers[node_id].hops

    def result(self) -> list[Contact]:
        """Up to k peers that answered, closest first."""
        out = []
        for _, nid in self._order:
            peer = self._peers[nid]
            if peer.state is _SUCCEEDED:
                out.append(peer.contact)
                if len(out) >= self.k:
                    break
        return out
