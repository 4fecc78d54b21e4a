"""Request/reply with at-most-once semantics over datagrams (layer L3, pure).

Client side (:class:`RPCClient`): every request gets a fresh 20-byte XID from the injected RNG; it is
retransmitted with the *same* XID after ``timeout`` seconds, at most ``retries`` times; a reply is accepted
only if its XID is outstanding and it comes from the address the request went to.

Server side (:class:`ReplyCache`): the reply to a non-idempotent request is kept under ``(source address,
XID)``, so a retransmission gets the same reply without running the handler again. A duplicate that arrives
while the original is still running is held back ("pending") and answered by the original's reply. Entries
are discarded by age (``reply_cache_ttl``) and by count (``reply_cache_size``).

References
----------
MIT 6.824 lecture notes on RPC, "at most once" (``shared/seeds``): XIDs, seen/old tables, pending flag,
discarding old entries. Birrell & Nelson, "Implementing Remote Procedure Calls", TOCS 1984.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .config import RPCConfig
from .errors import DecodeError
from .wire import Address, Message, encode_request, parse_reply

if TYPE_CHECKING:  # pragma: no cover
    import random

__all__ = ["Outstanding", "RPCClient", "ReplyCache", "CACHE_NEW", "CACHE_PENDING"]


@dataclass(slots=True, eq=False)
class Outstanding:
    """One request in flight.

    Attributes
    ----------
    xid : bytes
        The request id (20 bytes), reused by retransmissions.
    addr : Address
        Where it went; only a reply from there is accepted.
    message : Message
        The request.
    data : bytes
        The encoded datagram (retransmitted as is).
    owner : Any
        Opaque tag of whoever asked (a query, an eviction ping, ...).
    contact_id : int or None
        Node id of the peer if known (``None`` for a bootstrap ping to a bare address).
    attempts : int
        Transmissions so far.
    deadline : float
        When the current transmission times out, in seconds.
    sent_at : float
        First transmission time, in seconds.
    """

    xid: bytes
    addr: Address
    message: Message
    data: bytes
    owner: Any
    contact_id: int | None
    attempts: int = 1
    deadline: float = 0.0
    sent_at: float = 0.0
    done: bool = field(default=False)


class RPCClient:
    """Outstanding requests, their timers and retransmissions.

    Parameters
    ----------
    config : RPCConfig
        Timeout, retries and the in-flight limit.
    rng : random.Random
        Source of XIDs (injected; never the global RNG).
    """

    def __init__(self, config: RPCConfig, rng: random.Random) -> None:
        self.config = config
        self._rng = rng
        self._out: dict[bytes, Outstanding] = {}
        self._timers: list[tuple[float, int, bytes]] = []
        self._seq = 0
        self.requests_sent = 0
        self.retransmissions = 0
        self.timeouts = 0
        self.replies_accepted = 0

    def __len__(self) -> int:
        return len(self._out)

    def request(
        self, now: float, addr: Address, message: Message, owner: Any, contact_id: int | None = None
    ) -> Outstanding | None:
        """Register a request and return it (send ``.data`` to ``.addr``).

        Returns ``None`` when ``max_outstanding`` requests are already in flight (the caller treats it as
        a failure). Raises :class:`p2p.errors.EncodeError` if the message cannot be encoded.
        """
        if len(self._out) >= self.config.max_outstanding:
            return None
        xid = self._rng.getrandbits(160).to_bytes(20, "big")
        while xid in self._out:  # pragma: no cover - 2**-160
            xid = self._rng.getrandbits(160).to_bytes(20, "big")
        out = Outstanding(xid, addr, message, encode_request(xid, message), owner, contact_id)
        out.sent_at = now
        out.deadline = now + self.config.timeout
        self._out[xid] = out
        self._push(out)
        self.requests_sent += 1
        return out

    def _push(self, out: Outstanding) -> None:
        self._seq += 1
        heapq.heappush(self._timers, (out.deadline, self._seq, out.xid))

    def on_response(self, src: Address, xid: bytes, body: Any) -> tuple[Outstanding, Any] | str:
        """Match a response to its request.

        Returns
        -------
        (Outstanding, reply) or str
            The request and its validated reply, or the reason the datagram is dropped:
            ``"unknown_xid"``, ``"wrong_source"`` or ``"bad_reply"``. A bad reply leaves the request
            outstanding (a good one may still come).
        """
        out = self._out.get(xid)
        if out is None:
            return "unknown_xid"
        if out.addr != src:
            return "wrong_source"
        try:
            reply = parse_reply(out.message, body)
        except DecodeError:
            return "bad_reply"
        del self._out[xid]
        out.done = True
        self.replies_accepted += 1
        return out, reply

    def cancel(self, xid: bytes) -> None:
        """Forget a request (its reply, if any, will be dropped as ``unknown_xid``)."""
        out = self._out.pop(xid, None)
        if out is not None:
            out.done = True

    def poll(self, now: float) -> tuple[list[Outstanding], list[Outstanding]]:
        """Fire due timers.

        Returns
        -------
        retransmit : list of Outstanding
            Requests to send again (same XID, same bytes); ``attempts`` already incremented.
        failed : list of Outstanding
            Requests that got no reply after ``retries`` retransmissions; they are forgotten.
        """
        retransmit: list[Outstanding] = []
        failed: list[Outstanding] = []
        timers = self._timers
        while timers and timers[0][0] <= now:
            deadline, _, xid = heapq.heappop(timers)
            out = self._out.get(xid)
            if out is None or out.deadline != deadline:
                continue
            if out.attempts <= self.config.retries:
                out.attempts += 1
                out.deadline = now + self.config.timeout
                self._push(out)
                self.retransmissions += 1
                retransmit.append(out)
            else:
                del self._out[xid]
                out.done = True
                self.timeouts += 1
                failed.append(out)
        return retransmit, failed

    def next_deadline(self) -> float:
        """Earliest pending timer in seconds, or ``math.inf``."""
        timers = self._timers
        while timers:
            deadline, _, xid = timers[0]
            out = self._out.get(xid)
            if out is not None and out.deadline == deadline:
                return deadline
            heapq.heappop(timers)
        return float("inf")


CACHE_NEW = "new"
"""The request has not been seen: run it, then :meth:`ReplyCache.complete`."""
CACHE_PENDING = "pending"
"""The request is running: hold the duplicate back (the original's reply answers it)."""


class ReplyCache:
    """Server-side replies of non-idempotent requests, keyed by ``(source address, XID)``.

    Parameters
    ----------
    ttl : float
        Seconds an entry is kept.
    max_entries : int
        Entries kept at most; the oldest go first.
    """

    def __init__(self, ttl: float, max_entries: int) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[Address, bytes], tuple[float, bytes | None]] = OrderedDict()
        self.hits = 0
        self.pending_hits = 0
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._entries)

    def begin(self, now: float, key: tuple[Address, bytes]) -> str | bytes:
        """Look a request up and claim it if new.

        Returns
        -------
        str or bytes
            :data:`CACHE_NEW` (now marked pending: run the handler), :data:`CACHE_PENDING` (drop the
            duplicate), or the cached reply datagram to send again.
        """
        self.expire(now)
        entry = self._entries.get(key)
        if entry is None:
            self._entries[key] = (now, None)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
                self.evicted += 1
            return CACHE_NEW
        if entry[1] is None:
            self.pending_hits += 1
            return CACHE_PENDING
        self.hits += 1
        return entry[1]

    def complete(self, key: tuple[Address, bytes], reply: bytes) -> None:
        """Store the reply datagram of a request claimed with :meth:`begin`."""
        entry = self._entries.get(key)
        if entry is not None:
            self._entries[key] = (entry[0], reply)

    def abandon(self, key: tuple[Address, bytes]) -> None:
        """Release a claimed request that produced no reply (a retransmission may then run it)."""
        entry = self._entries.get(key)
        if entry is not None and entry[1] is None:
            del self._entries[key]

    def expire(self, now: float) -> None:
        """Drop entries older than ``ttl`` (insertion order is time order)."""
        entries = self._entries
        limit = now - self.ttl
        while entries:
            key, (t, _) = next(iter(entries.items()))
            if t > limit:
                break
            del entries[key]
            self.evicted += 1
