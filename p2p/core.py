"""NodeCore: one node's whole protocol as a pure state machine that returns effects (layer L4).

The core never performs I/O and never reads a clock or the global RNG. Drivers feed it datagrams and time
and carry out the effects it returns (DESIGN.md §4; the model is h11's ``Connection``)::

    core = NodeCore(config, node_id, rng=random.Random(seed), store=MemoryStore(), now=t0)
    effects = core.handle_datagram(now, src_addr, data)   # bad bytes -> counted, no effect
    qid, effects = core.start_get(now, key)               # also start_put, start_bootstrap, start_find_node
    effects = core.poll(now)                              # timers: retransmissions, refresh, replication
    deadline = core.next_deadline()                       # seconds; math.inf when idle
    stats = core.statistics()

Effects are :class:`Send`, :class:`Completed` and :class:`Failed`. A query's final effect is exactly one
``Completed`` or ``Failed`` carrying its query id.

References
----------
Maymounkov & Mazières, IPTPS 2002: §2.3 (lookup, FIND_VALUE, caching on the closest node that lacked the
value, refresh), §2.5 (replication, republishing, join and hand-over of keys to a new node), §4.1.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from .config import NodeConfig
from .errors import BootstrapFailed, NoContacts, P2PError, ValueTooLarge
from .ids import key_id as _key_id
from .ids import random_id_in_bucket
from .lookup.kademlia import ClosestPeersLookup
from .routing.kbuckets import RoutingTable
from .rpc import CACHE_NEW, CACHE_PENDING, Outstanding, ReplyCache, RPCClient
from .search import flood as _flood
from .search import walk as _walk
from .search.catalogue import Catalogue, InvalidQuery, Item, query_keywords
from .search.overlay import NeighbourState, Overlay
from .search.query import STRATEGIES, ActiveSearch, SearchHit, SearchResult
from .search.seen import SeenCache
from .store import MemoryStore, Record, RecordStore
from .wire import (
    GUID_BYTES,
    MAX_EXCHANGE,
    Address,
    Check,
    CheckReply,
    Contact,
    DecodeError,
    EncodeError,
    FindNode,
    FindValue,
    Message,
    Neighbour,
    NeighbourReply,
    NodesReply,
    Ping,
    PingReply,
    Query,
    QueryHit,
    Request,
    Store,
    StoreReply,
    Value,
    ValueReply,
    Walk,
    check_value,
    decode,
    encode_request,
    encode_response,
    encoded_size,
    rpc_spec,
)

if TYPE_CHECKING:  # pragma: no cover
    import random

__all__ = [
    "NodeCore",
    "Send",
    "Completed",
    "Failed",
    "Effect",
    "GetResult",
    "PutResult",
    "BootstrapResult",
    "FindNodeResult",
    "CoreStatistics",
    "SearchStatistics",
    "SearchHit",
    "SearchResult",
    "Item",
    "QueryId",
]

QueryId = int


# ------------------------------------------------------------------------------------------------ effects


@dataclass(frozen=True, slots=True)
class Send:
    """Send ``data`` (one datagram) to ``addr``."""

    addr: Address
    data: bytes


@dataclass(frozen=True, slots=True)
class Completed:
    """Query ``qid`` finished; ``result`` is a ``GetResult``, ``PutResult``, ``BootstrapResult`` or
    ``FindNodeResult``."""

    qid: QueryId
    result: Any


@dataclass(frozen=True, slots=True)
class Failed:
    """Query ``qid`` could not run to the end; ``error`` says why (:class:`p2p.errors.P2PError`)."""

    qid: QueryId
    error: P2PError


Effect = Send | Completed | Failed


@dataclass(frozen=True, slots=True)
class GetResult:
    """Outcome of an iterative FIND_VALUE.

    Attributes
    ----------
    key_id : int
    found : bool
    value : Value or None
    hops : int
        Hop at which the value was found (0: local store; 1: a contact of our own table).
    requests : int
        FIND_VALUE requests the query sent.
    seconds : float
        Time from start to completion.
    """

    key_id: int
    found: bool
    value: Value | None
    hops: int
    requests: int
    seconds: float


@dataclass(frozen=True, slots=True)
class PutResult:
    """Outcome of a put: FIND_NODE lookup, then STORE on the k closest.

    Attributes
    ----------
    key_id : int
    acks : int
        Remote nodes that acknowledged the STORE (the record is durable there).
    targets : int
        Remote nodes a STORE was sent to (≤ k).
    stored_locally : bool
        This node is among the k closest, so its own copy counts as one of the k replicas. (The
        publisher always keeps a copy, to republish it every ``republish_interval``.)
    requests : int
        Requests sent (lookup and stores).
    seconds : float
    """

    key_id: int
    acks: int
    targets: int
    stored_locally: bool
    requests: int
    seconds: float


@dataclass(frozen=True, slots=True)
class BootstrapResult:
    """Outcome of joining: pings to the bootstrap addresses, then a lookup of the own id (paper §2.3)."""

    responded: int
    contacts: int
    requests: int
    seconds: float


@dataclass(frozen=True, slots=True)
class FindNodeResult:
    """Outcome of an iterative FIND_NODE: the closest nodes that answered, closest first."""

    target: int
    closest: tuple[Contact, ...]
    hops: int
    requests: int
    seconds: float


@dataclass(frozen=True, slots=True)
class SearchStatistics:
    """Counters of unstructured search (part of :class:`CoreStatistics`).

    ``queries_seen`` counts distinct flooded GUIDs this node handled (each at most once);
    ``duplicates_dropped`` the further copies. Queries and walkers from a peer that is not a neighbour, or
    beyond a neighbour's rate, are dropped (``not_neighbour``, ``rate_limited``); malformed ones are dropped
    by the decoder and counted under ``drops["bad_query"]``.
    """

    neighbours: int
    neighbours_joined: int
    neighbours_lost: int
    joins_refused: int
    keepalives_sent: int
    queries_seen: int
    queries_forwarded: int
    duplicates_dropped: int
    ttl_clamped: int
    not_neighbour: int
    rate_limited: int
    hits_sent: int
    hits_forwarded: int
    hits_unroutable: int
    hits_received: int
    walker_visits: int
    walkers_forwarded: int
    walkers_stopped: int
    walkers_expired: int
    checks_sent: int
    checks_answered: int
    searches_started: int
    active_searches: int
    seen_cache_entries: int
    seen_cache_evicted: int
    items: int


@dataclass(frozen=True, slots=True)
class CoreStatistics:
    """Counters of one core (trio's ``statistics()`` convention). Drops are by reason, e.g. ``"msgpack"``,
    ``"unknown_xid"``, ``"wrong_source"``."""

    datagrams_received: int
    datagrams_sent: int
    dropped: int
    drops: dict[str, int]
    requests_received: dict[str, int]
    requests_executed: dict[str, int]
    replies_sent: int
    replies_from_cache: int
    duplicates_pending: int
    requests_sent: int
    retransmissions: int
    timeouts: int
    replies_accepted: int
    outstanding: int
    reply_cache_entries: int
    queries_started: int
    queries_completed: int
    queries_failed: int
    active_queries: int
    contacts: int
    records: int
    store_refused: int
    eviction_pings: int
    handovers: int
    replications: int
    cache_stores: int
    search: SearchStatistics


# ------------------------------------------------------------------------------------------------ queries


@dataclass(slots=True, eq=False)
class _Query:
    qid: QueryId
    kind: str  # get | put | replicate | find_node | refresh | bootstrap
    target: int
    started: float
    internal: bool = False
    value: Value | None = None
    phase: str = "lookup"  # ping | lookup | store
    lookup: ClosestPeersLookup | None = None
    pending: set[bytes] = field(default_factory=set)
    seeds: list[Contact] = field(default_factory=list)
    responded: int = 0
    acks: int = 0
    targets: int = 0
    stored_locally: bool = False
    requests: int = 0


_EVICT = "evict"
_QUERY = "query"
_FIRE = "fire"  # fire-and-forget (cache store, hand-over)
_NBR = "neighbour"  # owner ("neighbour", node_id, "join" | "keepalive")
_CHECK = "check"  # owner ("check", _Walker)
_OVERLAY_SOON = 0.2  # seconds after a new contact appears that a node short of neighbours looks again
_PLACEHOLDER_HOST = ("0.0.0.0", 1)  # own address when unknown; the first hop rewrites it from the datagram
_SEARCH_COUNTERS = (
    "neighbours_joined",
    "neighbours_lost",
    "joins_refused",
    "keepalives_sent",
    "queries_seen",
    "queries_forwarded",
    "duplicates_dropped",
    "ttl_clamped",
    "not_neighbour",
    "rate_limited",
    "hits_sent",
    "hits_forwarded",
    "hits_unroutable",
    "hits_received",
    "walker_visits",
    "walkers_forwarded",
    "walkers_stopped",
    "walkers_expired",
    "checks_sent",
    "checks_answered",
    "searches_started",
)


@dataclass(slots=True, eq=False)
class _Walker:
    guid: bytes
    ttl: int
    hops: int
    origin: Contact
    keywords: tuple[str, ...]
    walker: int
    prev: int | None


class NodeCore:
    """The protocol state of one Kademlia node.

    Parameters
    ----------
    config : NodeConfig
        Parameters (k, α, timeouts, intervals).
    node_id : int
        This node's 160-bit id.
    rng : random.Random
        All randomness (XIDs, refresh targets) comes from here.
    store : RecordStore, optional
        Where records live; a :class:`p2p.store.MemoryStore` by default. Its ``put`` is called before a STORE
        is acknowledged.
    now : float
        Creation time in seconds (the drivers' clock).
    """

    def __init__(
        self,
        config: NodeConfig,
        node_id: int,
        *,
        rng: random.Random,
        store: RecordStore | None = None,
        now: float = 0.0,
    ) -> None:
        self.config = config
        self.node_id = node_id
        self.rng = rng
        self.store: RecordStore = store if store is not None else MemoryStore()
        kad = config.kademlia
        self.table = RoutingTable(node_id, kad.k, kad.replacement_cache_size, now, kad.questionable_after)
        self.rpc = RPCClient(config.rpc, rng)
        self.reply_cache = ReplyCache(config.rpc.reply_cache_ttl, config.rpc.reply_cache_size)
        self._queries: dict[QueryId, _Query] = {}
        self._next_qid = 1
        self._maintenance_period = max(
            1.0, min(kad.refresh_interval, kad.replicate_interval, kad.republish_interval, kad.expire_after) / 20
        )
        self._next_maintenance = now + self._maintenance_period
        self._c: dict[str, int] = dict.fromkeys(
            (
                "datagrams_received",
                "datagrams_sent",
                "dropped",
                "replies_sent",
                "replies_from_cache",
                "duplicates_pending",
                "queries_started",
                "queries_completed",
                "queries_failed",
                "store_refused",
                "eviction_pings",
                "handovers",
                "replications",
                "cache_stores",
            ),
            0,
        )
        self._drops: dict[str, int] = {}
        self._received: dict[str, int] = {}
        self._executed: dict[str, int] = {}
        # unstructured search (p2p.search)
        sc = config.search
        self.address: Address | None = None  # set by the driver; only a hint (the first hop rewrites it)
        self.overlay = Overlay(sc, node_id)
        self.seen = SeenCache(sc.seen_cache_size, sc.seen_cache_ttl)
        self.catalogue = Catalogue()
        self._searches: dict[QueryId, ActiveSearch] = {}
        self._by_guid: dict[bytes, ActiveSearch] = {}
        # With search disabled the overlay timer has nothing to do: it never fires (fewer wake-ups, same trace).
        self._overlay_period = max(0.5, min(sc.keepalive_interval / 3, 5.0)) if sc.enabled else math.inf
        self._next_overlay = now + self._overlay_period
        self._join_budget = 2 * sc.min_neighbours
        self._next_growth = now
        self._s: dict[str, int] = dict.fromkeys(_SEARCH_COUNTERS, 0)

    # ============================================================================== public: inputs

    def handle_datagram(self, now: float, src: Address, data: bytes) -> list[Effect]:
        """Process one datagram from ``src``.

        Never raises on bad input: a datagram that fails decoding, a reply with an unknown XID or from the
        wrong address, or a malformed reply is dropped and counted in :meth:`statistics`.

        Returns
        -------
        list of Effect
        """
        self._c["datagrams_received"] += 1
        out: list[Effect] = []
        try:
            msg = decode(data)
        except DecodeError as exc:
            self._drop(str(exc))
            return out
        if isinstance(msg, Request):
            self._on_request(now, src, msg, out)
        else:
            self._on_response(now, src, msg.xid, msg.body, out)
        return out

    def poll(self, now: float) -> list[Effect]:
        """Fire due timers: retransmissions, request timeouts, and maintenance (expiry, bucket refresh,
        replication, republication) every twentieth of the shortest of ``refresh_interval``, ``replicate_interval``,
        ``republish_interval`` and ``expire_after`` (at least 1 s)."""
        out: list[Effect] = []
        retransmit, failed = self.rpc.poll(now)
        for o in retransmit:
            self._emit(out, o.addr, o.data)
            if o.attempts == 2 and o.contact_id is not None:
                q = self._query_of(o)
                if q is not None and q.phase == "lookup" and q.lookup is not None:
                    q.lookup.on_stall(o.contact_id, now)
                    self._advance(now, q, out)
        for o in failed:
            self._on_request_failed(now, o, out)
        if now >= self._next_maintenance:
            self._next_maintenance = now + self._maintenance_period
            self._maintain(now, out)
        if now >= self._next_overlay:
            self._next_overlay = now + self._overlay_period
            self._overlay_tick(now, out)
        if self._searches:
            self._search_timers(now, out)
        return out

    def next_deadline(self) -> float:
        """When :meth:`poll` next has work, in seconds (``math.inf`` if never)."""
        d = min(self.rpc.next_deadline(), self._next_maintenance, self._next_overlay)
        for srch in self._searches.values():
            d = min(d, srch.deadline, srch.round_ends)
        return d

    # ============================================================================== public: queries

    def start_get(self, now: float, key: str | bytes | int) -> tuple[QueryId, list[Effect]]:
        """Start an iterative FIND_VALUE for ``key`` (a str/bytes key, or an int key id).

        Completes with a :class:`GetResult` (``found`` may be ``False``); fails with
        :class:`p2p.errors.NoContacts` when the routing table is empty and the value is not held locally.
        """
        kid = key if isinstance(key, int) else _key_id(key)
        q = self._new_query(now, "get", kid)
        out: list[Effect] = []
        rec = self.store.get(kid)
        if rec is not None and rec.expires_at > now:
            self._complete(q, GetResult(kid, True, rec.value, 0, 0, 0.0), out)
            return q.qid, out
        self._start_lookup(now, q, out)
        return q.qid, out

    def start_put(self, now: float, key: str | bytes | int, value: Value) -> tuple[QueryId, list[Effect]]:
        """Store ``value`` under ``key`` on the k closest nodes.

        Completes with a :class:`PutResult`.

        Raises
        ------
        p2p.errors.InvalidValue
            If ``value`` is not int, float, bool, str or bytes.
        p2p.errors.ValueTooLarge
            If the packed value exceeds ``max_value_size`` bytes.
        """
        check_value(value)
        size = encoded_size(value)
        if size > self.config.kademlia.max_value_size:
            raise ValueTooLarge(f"value is {size} bytes packed; the limit is {self.config.kademlia.max_value_size}")
        kid = key if isinstance(key, int) else _key_id(key)
        q = self._new_query(now, "put", kid)
        q.value = value
        out: list[Effect] = []
        self._start_lookup(now, q, out)
        return q.qid, out

    def start_find_node(self, now: float, target: int) -> tuple[QueryId, list[Effect]]:
        """Start an iterative FIND_NODE for ``target``; completes with a :class:`FindNodeResult`."""
        q = self._new_query(now, "find_node", target)
        out: list[Effect] = []
        self._start_lookup(now, q, out)
        return q.qid, out

    def start_bootstrap(
        self, now: float, addrs: Iterable[Address] = (), contacts: Iterable[Contact] = ()
    ) -> tuple[QueryId, list[Effect]]:
        """Join the network: ping each address in ``addrs`` to learn its id, add ``contacts`` (known ids,
        e.g. restored from disk), then look up the own id (paper §2.3). Buckets farther than the closest
        neighbour are refreshed afterwards by maintenance.

        Completes with a :class:`BootstrapResult`; fails with :class:`p2p.errors.BootstrapFailed` when no
        address answered and no contact is known.
        """
        q = self._new_query(now, "bootstrap", self.node_id)
        out: list[Effect] = []
        for c in contacts:
            self._seen(now, c, out)
        q.seeds = list(contacts)
        q.phase = "ping"
        for addr in dict.fromkeys(addrs):
            o = self.rpc.request(now, addr, Ping(self.node_id), (_QUERY, q.qid), None)
            if o is not None:
                q.pending.add(o.xid)
                q.requests += 1
                self._emit(out, o.addr, o.data)
        if not q.pending:
            self._bootstrap_lookup(now, q, out)
        return q.qid, out

    def add_contacts(self, now: float, contacts: Iterable[Contact]) -> list[Effect]:
        """Put known contacts (restored from disk) into the routing table without asking them."""
        out: list[Effect] = []
        for c in contacts:
            self._seen(now, c, out)
        return out

    def cancel(self, qid: QueryId) -> None:
        """Forget a query (or search); it emits no further effect."""
        self._queries.pop(qid, None)
        if qid in self._searches:
            self.cancel_search(qid)

    # ============================================================================== public: state

    def statistics(self) -> CoreStatistics:
        """A snapshot of the counters (see :class:`CoreStatistics`)."""
        c = self._c
        return CoreStatistics(
            datagrams_received=c["datagrams_received"],
            datagrams_sent=c["datagrams_sent"],
            dropped=c["dropped"],
            drops=dict(self._drops),
            requests_received=dict(self._received),
            requests_executed=dict(self._executed),
            replies_sent=c["replies_sent"],
            replies_from_cache=c["replies_from_cache"],
            duplicates_pending=c["duplicates_pending"],
            requests_sent=self.rpc.requests_sent,
            retransmissions=self.rpc.retransmissions,
            timeouts=self.rpc.timeouts,
            replies_accepted=self.rpc.replies_accepted,
            outstanding=len(self.rpc),
            reply_cache_entries=len(self.reply_cache),
            queries_started=c["queries_started"],
            queries_completed=c["queries_completed"],
            queries_failed=c["queries_failed"],
            active_queries=len(self._queries),
            contacts=len(self.table),
            records=len(self.store),
            store_refused=c["store_refused"],
            eviction_pings=c["eviction_pings"],
            handovers=c["handovers"],
            replications=c["replications"],
            cache_stores=c["cache_stores"],
            search=SearchStatistics(
                neighbours=len(self.overlay),
                active_searches=len(self._searches),
                seen_cache_entries=len(self.seen),
                seen_cache_evicted=self.seen.evicted,
                items=len(self.catalogue),
                **self._s,
            ),
        )

    @property
    def datagrams_sent(self) -> int:
        """Datagrams this core has emitted (the cheap form of ``statistics().datagrams_sent``)."""
        return self._c["datagrams_sent"]

    def contacts(self) -> list[Contact]:
        """Every contact of the routing table."""
        return self.table.contacts()

    # ============================================================================== server side

    def _on_request(self, now: float, src: Address, req: Request, out: list[Effect]) -> None:
        m = req.message
        name = m.NAME
        self._received[name] = self._received.get(name, 0) + 1
        sender = getattr(m, "sender", None)
        if sender is not None and sender != self.node_id:
            self._seen(now, Contact(sender, src[0], src[1]), out)
        if name in _ONE_WAY:
            self._executed[name] = self._executed.get(name, 0) + 1
            _ONE_WAY[name](self, now, src, m, out)
            return
        spec = rpc_spec(name)
        cached = spec is not None and not spec.idempotent
        key = (src, req.xid)
        if cached:
            state = self.reply_cache.begin(now, key)
            if state is CACHE_PENDING:
                self._c["duplicates_pending"] += 1
                return
            if state is not CACHE_NEW:
                self._c["replies_from_cache"] += 1
                self._emit(out, src, state)  # the cached reply datagram
                return
        reply = self._execute(now, src, m)
        self._executed[name] = self._executed.get(name, 0) + 1
        if reply is None:
            if cached:
                self.reply_cache.abandon(key)
            return
        data = encode_response(req.xid, reply)
        if cached:
            self.reply_cache.complete(key, data)
        self._c["replies_sent"] += 1
        self._emit(out, src, data)

    def _execute(self, now: float, src: Address, m: Message) -> Any:
        kad = self.config.kademlia
        if type(m) is FindNode:
            return NodesReply(tuple(self.table.closest(m.target, kad.k, exclude=m.sender)))
        if type(m) is FindValue:
            rec = self.store.get(m.key)
            if rec is not None and rec.expires_at > now:
                return ValueReply(rec.value)
            return NodesReply(tuple(self.table.closest(m.key, kad.k, exclude=m.sender)))
        if type(m) is Ping:
            return PingReply(self.node_id)
        if type(m) is Store:
            return StoreReply(self._accept_store(now, m.key, m.value))
        if type(m) is Neighbour:
            return self._on_neighbour(now, src, m)
        if type(m) is Check:
            srch = self._by_guid.get(m.guid)
            self._s["checks_answered"] += 1
            return CheckReply(srch is not None and not srch.satisfied and now < srch.deadline)
        return None  # a registered extension this core does not serve: no reply, like the stock package

    def _accept_store(self, now: float, key: int, value: Value, publisher: int | None = None) -> bool:
        kad = self.config.kademlia
        old = self.store.get(key)
        if old is None and len(self.store) >= kad.max_records:
            self._c["store_refused"] += 1
            return False
        if encoded_size(value) > kad.max_value_size:
            self._c["store_refused"] += 1
            return False
        if publisher is None and old is not None and old.publisher is not None and old.value == value:
            publisher = old.publisher
        expires = now + kad.expire_after
        if publisher == self.node_id:
            # The publisher's own copy outlives the next republication (paper §2.5).
            expires += kad.republish_interval
        self.store.put(Record(key, value, now, expires, publisher))
        return True

    # ============================================================================== client side

    def _on_response(self, now: float, src: Address, xid: bytes, body: Any, out: list[Effect]) -> None:
        r = self.rpc.on_response(src, xid, body)
        if isinstance(r, str):
            self._drop(r)
            return
        o, reply = r
        cid = o.contact_id
        if cid is None and type(reply) is PingReply:
            cid = reply.node_id
        if cid is not None and cid != self.node_id:
            self._seen(now, Contact(cid, o.addr[0], o.addr[1]), out)
        owner = o.owner
        if owner[0] == _EVICT:
            self.table.ping_result(owner[1], alive=True)
            return
        if owner[0] == _NBR:
            self._on_neighbour_reply(now, o, reply, out)
            return
        if owner[0] == _CHECK:
            w = owner[1]
            if type(reply) is CheckReply and reply.go_on:
                self._forward_walker(now, w, out)
            else:
                self._s["walkers_stopped"] += 1
            return
        if owner[0] != _QUERY:
            return
        q = self._queries.get(owner[1])
        if q is None:
            return
        q.pending.discard(o.xid)
        if q.phase == "ping":
            if type(reply) is PingReply and reply.node_id != self.node_id:
                q.responded += 1
                q.seeds.append(Contact(reply.node_id, o.addr[0], o.addr[1]))
            if not q.pending:
                self._bootstrap_lookup(now, q, out)
        elif q.phase == "lookup":
            assert q.lookup is not None and o.contact_id is not None
            if type(reply) is ValueReply:
                self._found_value(now, q, o.contact_id, reply.value, out)
                return
            if type(reply) is NodesReply:
                q.lookup.on_success(o.contact_id, reply.contacts, now)
            else:  # a find_node answered with something else: treat as unusable
                q.lookup.on_failure(o.contact_id, now)
            self._advance(now, q, out)
        elif q.phase == "store":
            if type(reply) is StoreReply and reply.ok:
                q.acks += 1
            if not q.pending:
                self._finish_store(now, q, out)

    def _on_request_failed(self, now: float, o: Outstanding, out: list[Effect]) -> None:
        if o.contact_id is not None:
            self.table.fail(o.contact_id)
        owner = o.owner
        if owner[0] == _EVICT:
            self.table.ping_result(owner[1], alive=False)
            return
        if owner[0] == _NBR:
            self._on_neighbour_reply(now, o, None, out)
            return
        if owner[0] == _CHECK:
            self._s["walkers_stopped"] += 1  # the origin is gone: the walker stops
            return
        if owner[0] != _QUERY:
            return
        q = self._queries.get(owner[1])
        if q is None:
            return
        q.pending.discard(o.xid)
        if q.phase == "ping":
            if not q.pending:
                self._bootstrap_lookup(now, q, out)
        elif q.phase == "lookup":
            assert q.lookup is not None and o.contact_id is not None
            q.lookup.on_failure(o.contact_id, now)
            self._advance(now, q, out)
        elif q.phase == "store" and not q.pending:
            self._finish_store(now, q, out)

    # ============================================================================== query machinery

    def _new_query(self, now: float, kind: str, target: int, internal: bool = False) -> _Query:
        q = _Query(self._next_qid, kind, target, now, internal)
        self._next_qid += 1
        self._queries[q.qid] = q
        self._c["queries_started"] += 1
        return q

    def _query_of(self, o: Outstanding) -> _Query | None:
        owner = o.owner
        return self._queries.get(owner[1]) if owner[0] == _QUERY else None

    def _start_lookup(self, now: float, q: _Query, out: list[Effect], seeds: Iterable[Contact] = ()) -> None:
        kad = self.config.kademlia
        initial = list(seeds) or self.table.closest(q.target, kad.k)
        if not initial:
            self._fail(q, NoContacts("the routing table is empty: bootstrap first"), out)
            return
        self.table.touch(q.target, now)
        q.phase = "lookup"
        q.lookup = ClosestPeersLookup(q.target, kad.k, kad.alpha, initial, own_id=self.node_id)
        self._advance(now, q, out)

    def _advance(self, now: float, q: _Query, out: list[Effect]) -> None:
        lookup = q.lookup
        assert lookup is not None
        while not lookup.finished:
            batch = lookup.next(now)
            if not batch:
                break
            for c in batch:
                msg: Message = FindValue(self.node_id, q.target) if q.kind == "get" else FindNode(self.node_id, q.target)
                o = self.rpc.request(now, c.addr, msg, (_QUERY, q.qid), c.node_id)
                if o is None:  # too many requests in flight
                    lookup.on_failure(c.node_id, now)
                    continue
                q.pending.add(o.xid)
                q.requests += 1
                self._emit(out, o.addr, o.data)
        if lookup.finished:
            self._lookup_done(now, q, out)

    def _lookup_done(self, now: float, q: _Query, out: list[Effect]) -> None:
        lookup = q.lookup
        assert lookup is not None
        closest = lookup.result()
        if q.kind == "get":
            self._complete(q, GetResult(q.target, False, None, lookup.max_hops, q.requests, now - q.started), out)
        elif q.kind in ("put", "replicate"):
            self._store_phase(now, q, closest, out)
        elif q.kind == "bootstrap":
            result = BootstrapResult(q.responded, len(self.table), q.requests, now - q.started)
            self._complete(q, result, out)
            if self.config.search.enabled:
                self._next_overlay = min(self._next_overlay, now)  # joined: look for neighbours at once
        else:
            result = FindNodeResult(q.target, tuple(closest), lookup.max_hops, q.requests, now - q.started)
            self._complete(q, result, out)

    def _found_value(self, now: float, q: _Query, holder: int, value: Value, out: list[Effect]) -> None:
        lookup = q.lookup
        assert lookup is not None
        hops = lookup.hops(holder)
        lookup.finish()
        if self.config.kademlia.cache_on_get:
            lacking = lookup.result()  # answered with contacts, so they lacked the value
            if lacking:
                self._fire(now, lacking[0], Store(self.node_id, q.target, value), out)
                self._c["cache_stores"] += 1
        self._complete(q, GetResult(q.target, True, value, hops, q.requests, now - q.started), out)

    def _store_phase(self, now: float, q: _Query, closest: list[Contact], out: list[Effect]) -> None:
        kad = self.config.kademlia
        assert q.value is not None
        own_distance = self.node_id ^ q.target
        q.stored_locally = len(closest) < kad.k or own_distance < (closest[-1].node_id ^ q.target)
        if q.kind == "put":
            # The publisher always keeps its copy (marked with its own id) to republish it every
            # republish_interval; it serves it too, but only counts as a holder among the k closest.
            self._accept_store(now, q.target, q.value, self.node_id)
        q.phase = "store"
        for c in closest:
            o = self.rpc.request(now, c.addr, Store(self.node_id, q.target, q.value), (_QUERY, q.qid), c.node_id)
            if o is None:
                continue
            q.pending.add(o.xid)
            q.requests += 1
            q.targets += 1
            self._emit(out, o.addr, o.data)
        if not q.pending:
            self._finish_store(now, q, out)

    def _finish_store(self, now: float, q: _Query, out: list[Effect]) -> None:
        result = PutResult(q.target, q.acks, q.targets, q.stored_locally, q.requests, now - q.started)
        self._complete(q, result, out)

    def _bootstrap_lookup(self, now: float, q: _Query, out: list[Effect]) -> None:
        if not q.seeds and not len(self.table):
            self._fail(q, BootstrapFailed("no bootstrap address answered"), out)
            return
        self._start_lookup(now, q, out, seeds=q.seeds + self.table.closest(self.node_id, self.config.kademlia.k))

    def _complete(self, q: _Query, result: Any, out: list[Effect]) -> None:
        if self._queries.pop(q.qid, None) is None:
            return
        self._c["queries_completed"] += 1
        if not q.internal:
            out.append(Completed(q.qid, result))

    def _fail(self, q: _Query, error: P2PError, out: list[Effect]) -> None:
        if self._queries.pop(q.qid, None) is None:
            return
        self._c["queries_failed"] += 1
        if not q.internal:
            out.append(Failed(q.qid, error))

    # ============================================================================== routing upkeep

    def _seen(self, now: float, contact: Contact, out: list[Effect]) -> None:
        added, oldest = self.table.update(contact, now)
        if oldest is not None:
            o = self.rpc.request(now, oldest.addr, Ping(self.node_id), (_EVICT, oldest.node_id), oldest.node_id)
            if o is None:
                self.table.ping_result(oldest.node_id, alive=True)
            else:
                self._c["eviction_pings"] += 1
                self._emit(out, o.addr, o.data)
        if added and self.config.kademlia.handover and len(self.store):
            self._handover(now, contact, out)
        if added and self.overlay.wanted() > 0 and len(self.overlay) < self.config.search.min_neighbours:
            # Below the minimum: look for neighbours soon (from the timer, so a request is still answered by one datagram).
            self._next_overlay = min(self._next_overlay, now + _OVERLAY_SOON)

    def _handover(self, now: float, contact: Contact, out: list[Effect]) -> None:
        """Send a new contact the records it should now hold (paper §2.5, the stock ``welcome_if_new``):
        those for which this node is closer to the key than every other contact and the newcomer is among
        the k closest contacts to the key."""
        k = self.config.kademlia.k
        new = contact.node_id
        mask = self.table.occupancy_mask(exclude=new)
        own = self.node_id
        for rec in self.store:
            key = rec.key
            if mask & (own ^ key) or rec.expires_at <= now:
                continue  # some other contact is closer to the key than this node
            if all(c.node_id != new for c in self.table.closest(key, k)):
                continue
            self._fire(now, contact, Store(own, key, rec.value), out)
            self._c["handovers"] += 1

    def _fire(self, now: float, contact: Contact, msg: Message, out: list[Effect]) -> None:
        o = self.rpc.request(now, contact.addr, msg, (_FIRE, None), contact.node_id)
        if o is not None:
            self._emit(out, o.addr, o.data)

    def _maintain(self, now: float, out: list[Effect]) -> None:
        kad = self.config.kademlia
        self.store.expire(now)
        self.reply_cache.expire(now)
        # Bucket refresh (§2.3): a lookup of a random id in each bucket without a lookup for an hour.
        for index in self.table.stale_buckets(now, kad.refresh_interval)[:8]:
            target = random_id_in_bucket(self.node_id, index, self.rng)
            q = self._new_query(now, "refresh", target, internal=True)
            self._start_lookup(now, q, out)
            self.table.touch(target, now)
        # Replication and republication (§2.5). A holder re-stores a record on the k closest
        # replicate_interval after the last STORE it received for it (a STORE from another holder resets
        # that clock, so usually one holder replicates per interval); replicating does not extend the
        # holder's own copy. The original publisher re-stores its own records every republish_interval.
        # Up to +10% per node and key keeps holders from firing together.
        started = 0
        own = self.node_id
        for rec in self.store:
            if started >= 64:
                break
            jitter = 1.0 + ((rec.key ^ own) & 0xFFFF) / 0xFFFF * 0.1
            mine = rec.publisher == own
            interval = (kad.republish_interval if mine else kad.replicate_interval) * jitter
            if now - rec.stored_at < interval or rec.expires_at <= now:
                continue
            if not mine:
                # Paper §2.5, second optimization: a holder's buckets near its own id are accurate (kept
                # fresh by traffic and refresh), so it replicates to the k closest of its own table
                # without a lookup per record. A holder that churn has pushed out of the k closest
                # leaves replication to those that are and lets its copy lapse at its expiry; otherwise
                # every displaced copy would re-store k copies every hour without end.
                targets = self.table.closest(rec.key, kad.k)
                if len(targets) >= kad.k and (own ^ rec.key) > (targets[-1].node_id ^ rec.key):
                    continue
            started += 1
            self._c["replications"] += 1
            q = self._new_query(now, "put" if mine else "replicate", rec.key, internal=True)
            q.value = rec.value
            if mine:
                self.store.put(replace(rec, stored_at=now, expires_at=now + kad.expire_after + kad.republish_interval))
                self._start_lookup(now, q, out)  # the publisher looks up: it may be far from the key
            else:
                self.store.put(replace(rec, stored_at=now))
                self._store_phase(now, q, targets, out)

    # ============================================================================== unstructured search

    def share(self, item: Item) -> bool:
        """Share ``item`` (a :class:`p2p.search.Item`); ``True`` if new. Persisting it is the driver's job."""
        return self.catalogue.add(item)

    def unshare(self, content_hash: bytes | str) -> Item | None:
        """Stop sharing the item with this sha256 (bytes or hex); returns it or ``None``."""
        if isinstance(content_hash, str):
            try:
                content_hash = bytes.fromhex(content_hash)
            except ValueError:
                return None
        return self.catalogue.remove(content_hash)

    def items(self) -> list[Item]:
        """The shared items, by name."""
        return sorted(self.catalogue, key=lambda i: (i.name, i.content_hash))

    def neighbours(self) -> list[Contact]:
        """The current neighbours of the search overlay."""
        return self.overlay.contacts()

    def leave(self, now: float) -> list[Effect]:
        """Leave the search overlay before a graceful shutdown: one ``neighbour [id, false]`` to each neighbour
        (the Gnutella 0.6 *Bye*), so that each drops this node and looks for a replacement at once instead
        of after failed keep-alives. The overlay is empty afterwards. A crash sends nothing; neighbours then
        notice at the next keep-alive (``SearchConfig.keepalive_interval``). The DHT side needs no goodbye:
        Kademlia contacts age out of k-buckets on their own (paper §2.2).

        Returns
        -------
        list of Effect
            ``Send`` effects, one datagram per neighbour, not retransmitted.
        """
        out: list[Effect] = []
        for c in self.overlay.contacts():
            self._one_way(out, c.addr, Neighbour(self.node_id, False))
            self.overlay.remove(c.node_id)
        return out

    def add_neighbour(self, now: float, contact: Contact) -> bool:
        """Make ``contact`` a neighbour without asking it (static overlays in tests and simulations; the
        peer must add this node too). ``False`` when full."""
        return self.overlay.add(now, contact) is not None

    def start_search(
        self,
        now: float,
        keywords: str | Iterable[str],
        strategy: str = "flood",
        *,
        ttl: int | None = None,
        walkers: int | None = None,
        max_hits: int | None = None,
        timeout: float = 5.0,
        direct: bool | None = None,
    ) -> tuple[QueryId, list[Effect]]:
        """Search the neighbour overlay for items matching every keyword.

        Parameters
        ----------
        keywords : str or iterable of str
            Split into case-insensitive tokens; an item matches when each token is a token of its name or tags.
        strategy : {"flood", "walk", "ring"}
            Flooding with duplicate suppression; ``walkers`` random walkers with check-backs (Lv et al. §4);
            or an expanding ring (floods with TTL 1, 3, 5, ... up to ``ttl``).
        ttl : int, optional
            Flood TTL (default ``default_ttl``) or walker TTL (default ``default_walk_ttl``); larger values
            are clamped to ``max_ttl`` / ``max_walk_ttl``.
        walkers : int, optional
            Walkers of a random-walk search (default ``SearchConfig.walkers``), 1..255.
        max_hits : int, optional
            Complete as soon as this many hits arrived. Without it a flood collects hits until ``timeout``,
            walkers stop at the first hit (the search still ends at ``timeout``), and a ring ends after the
            first round with a hit.
        timeout : float
            Seconds until the search completes with what it has.
        direct : bool, optional
            Hits go straight to this node instead of back along the query path (default
            ``SearchConfig.direct_hits``). Walk hits always go straight to the origin.

        Completes with a :class:`SearchResult` (never fails: with no neighbours it completes with no hits).

        Raises
        ------
        p2p.search.InvalidQuery
            For keywords that cannot be sent (none, more than 8, longer than 64 characters), an unknown
            strategy, ``walkers`` or ``max_hits`` out of range, or a timeout that is not positive.
        """
        sc = self.config.search
        kws = query_keywords(keywords)
        if strategy not in STRATEGIES:
            raise InvalidQuery(f"strategy must be one of {', '.join(STRATEGIES)}, not {strategy!r}")
        if not timeout > 0:
            raise InvalidQuery("timeout must be > 0 seconds")
        if max_hits is not None and max_hits < 1:
            raise InvalidQuery("max_hits must be >= 1")
        if strategy == "walk":
            limit, default = sc.max_walk_ttl, sc.default_walk_ttl
        else:
            limit, default = sc.max_ttl, sc.default_ttl
        want = default if ttl is None else int(ttl)
        if want < 1:
            raise InvalidQuery("ttl must be >= 1")
        want, clamped = _flood.clamp_ttl(want, limit)
        if clamped:
            self._s["ttl_clamped"] += 1
        k = sc.walkers if walkers is None else int(walkers)
        if not 1 <= k <= 255:
            raise InvalidQuery("walkers must be in 1..255")
        q = self._new_query(now, "search", 0)
        srch = ActiveSearch(
            q.qid, strategy, kws, now, now + timeout, max_hits, want, want,
            sc.direct_hits if direct is None else bool(direct), walkers=k,
        )
        self._searches[q.qid] = srch
        self._s["searches_started"] += 1
        out: list[Effect] = []
        if strategy == "walk":
            self._launch_walkers(now, srch, out)
        else:
            if strategy == "ring":
                srch.ttl = _flood.ring_ttls(want)[0]
            self._flood_round(now, srch, out)
        return q.qid, out

    # ------------------------------------------------------------------ origin side

    def _own_contact(self) -> Contact:
        host, port = self.address if self.address is not None else _PLACEHOLDER_HOST
        return Contact(self.node_id, host, port)

    def _new_guid(self, srch: ActiveSearch) -> bytes:
        guid = self.rng.getrandbits(8 * GUID_BYTES).to_bytes(GUID_BYTES, "big")
        srch.guid = guid
        srch.guids.append(guid)
        self._by_guid[guid] = srch
        return guid

    def _flood_round(self, now: float, srch: ActiveSearch, out: list[Effect]) -> None:
        guid = self._new_guid(srch)
        self.seen.add(now, guid, None)  # the origin handles its own GUID once: echoes are duplicates
        srch.rounds += 1
        msg = Query(self.node_id, guid, srch.ttl, 1, self._own_contact(), srch.keywords, srch.direct)
        for c in self.overlay.contacts():
            self._one_way(out, c.addr, msg)
            srch.messages += 1
        if srch.strategy == "ring" and srch.ttl < srch.max_ttl:
            srch.round_ends = min(srch.deadline, now + _flood.ring_wait(srch.ttl, self.config.search.ring_hop_wait))
        else:
            srch.round_ends = float("inf")

    def _launch_walkers(self, now: float, srch: ActiveSearch, out: list[Effect]) -> None:
        guid = self._new_guid(srch)
        self.seen.add(now, guid, None)
        srch.rounds = 1
        me = self._own_contact()
        for i, c in enumerate(_walk.spread(self.rng, self.overlay.contacts(), srch.walkers)):
            self._one_way(out, c.addr, Walk(self.node_id, guid, srch.ttl, 1, me, srch.keywords, i))
            srch.messages += 1

    def _search_timers(self, now: float, out: list[Effect]) -> None:
        for srch in list(self._searches.values()):
            if now >= srch.deadline:
                self._finish_search(now, srch, out)
            elif now >= srch.round_ends:
                if srch.satisfied:
                    self._finish_search(now, srch, out)
                else:
                    later = [t for t in _flood.ring_ttls(srch.max_ttl) if t > srch.ttl]
                    srch.ttl = later[0] if later else srch.max_ttl
                    self._flood_round(now, srch, out)

    def _finish_search(self, now: float, srch: ActiveSearch, out: list[Effect]) -> None:
        self._searches.pop(srch.qid, None)
        for g in srch.guids:
            self._by_guid.pop(g, None)
        q = self._queries.get(srch.qid)
        if q is not None:
            self._complete(q, srch.result(now), out)

    def cancel_search(self, qid: QueryId) -> None:
        """Forget a search (its late hits are then unroutable and dropped)."""
        srch = self._searches.pop(qid, None)
        if srch is not None:
            for g in srch.guids:
                self._by_guid.pop(g, None)
        self._queries.pop(qid, None)

    # ------------------------------------------------------------------ serving

    def _one_way(self, out: list[Effect], addr: Address, msg: Message) -> None:
        xid = self.rng.getrandbits(160).to_bytes(20, "big")
        self._emit(out, addr, encode_request(xid, msg))

    def _on_neighbour(self, now: float, src: Address, m: Neighbour) -> NeighbourReply:
        contact = Contact(m.sender, src[0], src[1])
        if not m.join:
            # A neighbour leaves (Bye), heard from its own address (no one else can say goodbye for it): drop
            # it, do not ask it again soon, and look for a replacement from the timer.
            st = self.overlay.neighbours.get(m.sender)
            if st is not None and st.contact.addr == src:
                self.overlay.remove(m.sender)
                self.overlay.back_off(now, m.sender)
                self._s["neighbours_lost"] += 1
                if self.overlay.wanted() > 0:
                    self._next_overlay = min(self._next_overlay, now + _OVERLAY_SOON)
            return NeighbourReply(True, ())
        known = m.sender in self.overlay.neighbours
        accepted = m.sender != self.node_id and self.overlay.accept(now, contact)
        if accepted and not known:
            self._s["neighbours_joined"] += 1
            self.overlay.joining.pop(m.sender, None)
        elif not accepted:
            self._s["joins_refused"] += 1
        return NeighbourReply(accepted, tuple(self.overlay.exchange(m.sender, MAX_EXCHANGE)))

    def _on_neighbour_reply(self, now: float, o: Outstanding, reply: Any, out: list[Effect]) -> None:
        _, nid, kind = o.owner
        ok = type(reply) is NeighbourReply and reply.accepted
        if type(reply) is NeighbourReply:
            self.overlay.learn(reply.contacts)
        if kind == "join":
            self.overlay.joining.pop(nid, None)
            if ok:
                contact = Contact(nid, o.addr[0], o.addr[1])
                known = nid in self.overlay.neighbours
                if self.overlay.add(now, contact) is None:
                    # filled up meanwhile by peers joining us: tell this one we leave again
                    self._fire(now, contact, Neighbour(self.node_id, False), out)
                elif not known:
                    self._s["neighbours_joined"] += 1
            else:
                self.overlay.back_off(now, nid)
        else:
            st = self.overlay.neighbours.get(nid)
            if st is None:
                return
            st.keepalive_pending = False
            if ok:
                st.last_heard = now
                return
            self.overlay.remove(nid)
            self._s["neighbours_lost"] += 1
            self.overlay.back_off(now, nid)
        self._fill_overlay(now, out)

    def _fill_overlay(self, now: float, out: list[Effect], among: Iterable[Contact] | None = None) -> None:
        ov = self.overlay
        n = ov.wanted()
        if n <= 0:
            return
        if len(ov) >= self.config.search.min_neighbours:
            # Enough to search: grow towards the target by one join per keep-alive interval, politely.
            if ov.joining or now < self._next_growth:
                return
            n = 1
            self._next_growth = now + self.config.search.keepalive_interval
        # Refusals (full peers) trigger the next attempt at once; a budget per overlay tick bounds that.
        n = min(n, self._join_budget)
        if n <= 0:
            return
        self._join_budget -= n
        pool = self.table.contacts() if among is None else among
        for c in ov.candidates(now, self.rng, pool, n):
            o = self.rpc.request(now, c.addr, Neighbour(self.node_id, True), (_NBR, c.node_id, "join"), None)
            if o is None:
                return
            ov.joining[c.node_id] = c
            self._emit(out, o.addr, o.data)

    def _overlay_tick(self, now: float, out: list[Effect]) -> None:
        self._join_budget = 2 * self.config.search.min_neighbours
        self.seen.expire(now)
        for st in self.overlay.due_keepalives(now):
            o = self.rpc.request(
                now, st.contact.addr, Neighbour(self.node_id, True), (_NBR, st.contact.node_id, "keepalive"), None
            )
            if o is None:
                break
            st.keepalive_pending = True
            self._s["keepalives_sent"] += 1
            self._emit(out, o.addr, o.data)
        self._fill_overlay(now, out)

    def _from_neighbour(self, now: float, src: Address, sender: int) -> NeighbourState | None:
        st = self.overlay.heard(now, src)
        if st is None or st.contact.node_id != sender:
            self._s["not_neighbour"] += 1
            return None
        return st

    def _on_query(self, now: float, src: Address, m: Query, out: list[Effect]) -> None:
        st = self._from_neighbour(now, src, m.sender)
        if st is None:
            return
        origin = st.contact if m.origin.node_id == m.sender else m.origin
        ttl, clamped = _flood.clamp_ttl(m.ttl, self.config.search.max_ttl)
        if clamped:
            self._s["ttl_clamped"] += 1
        entry = self.seen.add(now, m.guid, src)
        if entry is None:
            self._s["duplicates_dropped"] += 1
            return
        if not self.overlay.admit(now, st):
            self._s["rate_limited"] += 1
            return
        self._s["queries_seen"] += 1
        if origin.node_id != self.node_id:
            found = self.catalogue.match(m.keywords, self.config.search.max_items_per_hit)
            if found:
                entry.answered = True
                dst = origin.addr if m.direct else src
                self._send_hit(out, dst, m.guid, m.hops, tuple(i.to_hit() for i in found))
        nxt, targets = _flood.flood_targets(self.overlay.contacts(), m.sender, ttl)
        if targets:
            fwd = Query(self.node_id, m.guid, nxt, m.hops + 1, origin, m.keywords, m.direct)
            for c in targets:
                self._one_way(out, c.addr, fwd)
            self._s["queries_forwarded"] += len(targets)

    def _send_hit(self, out: list[Effect], dst: Address, guid: bytes, hops: int, items: tuple[Any, ...]) -> None:
        while items:
            try:
                self._one_way(out, dst, QueryHit(self.node_id, guid, hops, self._own_contact(), items))
            except EncodeError:  # too big for one request body: send fewer items
                items = items[: len(items) // 2]
                continue
            self._s["hits_sent"] += 1
            return

    def _on_query_hit(self, now: float, src: Address, m: QueryHit, out: list[Effect]) -> None:
        holder = Contact(m.sender, src[0], src[1]) if m.holder.node_id == m.sender else m.holder
        srch = self._by_guid.get(m.guid)
        if srch is not None:
            self._s["hits_received"] += 1
            srch.add_hits(now, holder, m.hops, m.items, self.config.search.max_hits_kept)
            if srch.max_hits is not None and srch.satisfied:
                self._finish_search(now, srch, out)
            return
        entry = self.seen.get(now, m.guid)
        if entry is None or entry.upstream is None:
            self._s["hits_unroutable"] += 1
            return
        self._one_way(out, entry.upstream, QueryHit(self.node_id, m.guid, m.hops, holder, m.items))
        self._s["hits_forwarded"] += 1

    def _on_walk(self, now: float, src: Address, m: Walk, out: list[Effect]) -> None:
        st = self._from_neighbour(now, src, m.sender)
        if st is None:
            return
        if not self.overlay.admit(now, st):
            self._s["rate_limited"] += 1
            return
        sc = self.config.search
        origin = st.contact if m.origin.node_id == m.sender else m.origin
        ttl, clamped = _flood.clamp_ttl(m.ttl, sc.max_walk_ttl)
        if clamped:
            self._s["ttl_clamped"] += 1
        self._s["walker_visits"] += 1
        w = _Walker(m.guid, ttl, m.hops, origin, m.keywords, m.walker, m.sender)
        if origin.node_id == self.node_id:  # a walker back at its origin: ask ourselves
            srch = self._by_guid.get(m.guid)
            if srch is None or srch.satisfied or now >= srch.deadline:
                self._s["walkers_stopped"] += 1
            elif ttl - 1 < 1:
                self._s["walkers_expired"] += 1
            else:
                self._forward_walker(now, w, out)
            return
        entry = self.seen.get(now, m.guid) or self.seen.add(now, m.guid, src)
        if entry is not None and not entry.answered:
            found = self.catalogue.match(m.keywords, sc.max_items_per_hit)
            if found:  # a hit: answer the origin directly; this walker is done
                entry.answered = True
                self._send_hit(out, origin.addr, m.guid, m.hops, tuple(i.to_hit() for i in found))
                self._s["walkers_stopped"] += 1
                return
        # nothing (new) here: walk on
        action = _walk.walker_action(ttl, m.hops, sc.check_every)
        if action == _walk.EXPIRE:
            self._s["walkers_expired"] += 1
        elif action == _walk.CHECK:
            o = self.rpc.request(now, origin.addr, Check(self.node_id, m.guid), (_CHECK, w), None)
            if o is None:
                self._s["walkers_stopped"] += 1
                return
            self._s["checks_sent"] += 1
            self._emit(out, o.addr, o.data)
        else:
            self._forward_walker(now, w, out)

    def _forward_walker(self, now: float, w: _Walker, out: list[Effect]) -> None:
        nxt = _walk.next_hop(self.rng, self.overlay.contacts(), w.prev)
        if nxt is None:
            self._s["walkers_expired"] += 1
            return
        self._one_way(out, nxt.addr, Walk(self.node_id, w.guid, w.ttl - 1, w.hops + 1, w.origin, w.keywords, w.walker))
        self._s["walkers_forwarded"] += 1

    # ============================================================================== helpers

    def _emit(self, out: list[Effect], addr: Address, data: bytes) -> None:
        self._c["datagrams_sent"] += 1
        out.append(Send(addr, data))

    def _drop(self, reason: str) -> None:
        self._c["dropped"] += 1
        self._drops[reason] = self._drops.get(reason, 0) + 1


_ONE_WAY = {
    "query": NodeCore._on_query,
    "query_hit": NodeCore._on_query_hit,
    "walk": NodeCore._on_walk,
}
