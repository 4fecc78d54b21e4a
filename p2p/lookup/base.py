"""The lookup interface shared by Kademlia and Chord (layer L3).

A lookup is an iterator-like state machine that never performs I/O: the core asks :meth:`Lookup.next` which
peers to query, sends the requests, and reports every outcome back. Vocabulary (DESIGN.md §4): a *request*
is one RPC to one peer; a *query* is a multi-peer operation with a query id.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Protocol

from ..wire import Contact

__all__ = ["PeerState", "Lookup"]


class PeerState(enum.Enum):
    """What a lookup knows of one peer (rust-libp2p ``query/peers/closest.rs``)."""

    HEARD = "heard"
    """Learnt of, not yet asked."""
    WAITING = "waiting"
    """Asked; occupies one of the α slots."""
    STALLED = "stalled"
    """Asked, first transmission timed out; a retransmission is out but the slot is given back."""
    SUCCEEDED = "succeeded"
    """Answered."""
    UNREACHABLE = "unreachable"
    """No answer after every retransmission."""


class Lookup(Protocol):
    """What the core drives."""

    def next(self, now: float) -> list[Contact]:
        """Peers to send a request to now (each is then WAITING)."""

    def on_success(self, node_id: int, closer: Iterable[Contact], now: float) -> None:
        """``node_id`` answered with ``closer`` contacts."""

    def on_failure(self, node_id: int, now: float) -> None:
        """``node_id`` did not answer."""

    def on_stall(self, node_id: int, now: float) -> None:
        """``node_id`` is slow: its first transmission timed out."""

    @property
    def finished(self) -> bool:
        """No further request is needed."""

    def result(self) -> list[Contact]:
        """The closest peers that answered, closest first."""
