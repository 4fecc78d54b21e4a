"""Frozen configuration dataclasses (layer L0).

Defaults follow the Kademlia paper (Maymounkov & Mazières, IPTPS 2002, §2.3 and §2.5: k = 20, α = 3,
tRefresh = tReplicate = 3600 s, tRepublish = tExpire = 86400 s) and the stock ``kademlia`` 2.2.3 package's
wire limits (request body ≤ 8192 bytes). Every value is validated when the object is built; a bad value raises
:class:`p2p.errors.ConfigError` naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import ConfigError

__all__ = ["RPCConfig", "KademliaConfig", "SearchConfig", "NodeConfig"]


def _check(cond: bool, name: str, why: str) -> None:
    if not cond:
        raise ConfigError(f"{name}: {why}")


@dataclass(frozen=True, slots=True)
class RPCConfig:
    """Request/reply settings (DESIGN.md §6, lecture notes on at-most-once RPC).

    Parameters
    ----------
    timeout : float
        Seconds to wait for a reply to one transmission before retransmitting with the same XID.
    retries : int
        Retransmissions after the first transmission (so ``retries + 1`` datagrams at most per request).
    reply_cache_ttl : float
        Seconds a cached reply (for at-most-once execution of retried non-idempotent requests) is kept.
        Must exceed ``timeout * (retries + 1)`` so every retransmission of a request still finds it.
    reply_cache_size : int
        Maximum number of cached replies; the oldest are discarded first.
    max_outstanding : int
        Maximum number of requests this node keeps in flight; further requests fail at once.
    """

    timeout: float = 1.0
    retries: int = 2
    reply_cache_ttl: float = 60.0
    reply_cache_size: int = 4096
    max_outstanding: int = 4096

    def __post_init__(self) -> None:
        _check(self.timeout > 0, "timeout", "must be > 0 seconds")
        _check(0 <= self.retries <= 10, "retries", "must be in 0..10")
        _check(self.reply_cache_size >= 1, "reply_cache_size", "must be >= 1")
        _check(self.max_outstanding >= 1, "max_outstanding", "must be >= 1")
        _check(
            self.reply_cache_ttl > self.timeout * (self.retries + 1),
            "reply_cache_ttl",
            "must exceed timeout * (retries + 1) so retransmissions find the cached reply",
        )


@dataclass(frozen=True, slots=True)
class KademliaConfig:
    """Kademlia parameters (paper §2.3, §2.5, §4.1).

    Parameters
    ----------
    k : int
        Bucket size and replication factor.
    alpha : int
        Requests kept in flight by an iterative lookup.
    replacement_cache_size : int
        Contacts remembered per bucket to replace a dead one (paper §4.1).
    questionable_after : float
        Seconds of silence after which a contact is pinged before a newcomer may evict it (BEP 5 "good" and
        "questionable" nodes; the paper §2.2 pings the least-recently seen contact).
    refresh_interval : float
        Seconds after which a bucket without lookups is refreshed by a lookup of a random id in it (tRefresh).
    replicate_interval : float
        Seconds between a holder's re-stores of each record to the k closest nodes (tReplicate).
    republish_interval : float
        Seconds between the original publisher's re-publications of its own records (tRepublish).
    expire_after : float
        Seconds after its last STORE that a record is dropped (tExpire).
    max_value_size : int
        Largest encoded value accepted, in bytes; requests over 8192 bytes are refused by stock nodes.
    max_records : int
        Most records held; STOREs beyond it are refused (``False`` reply) so memory stays bounded.
    cache_on_get : bool
        After a successful FIND_VALUE, store the value at the closest queried node that lacked it (§2.3).
    handover : bool
        When a new contact appears and is closer to a held key than this node's k-th closest, send it the
        record (paper §2.5, as the stock package does).
    """

    k: int = 20
    alpha: int = 3
    replacement_cache_size: int = 8
    questionable_after: float = 900.0
    refresh_interval: float = 3600.0
    replicate_interval: float = 3600.0
    republish_interval: float = 86400.0
    expire_after: float = 86400.0
    max_value_size: int = 7900
    max_records: int = 100_000
    cache_on_get: bool = True
    handover: bool = True

    def __post_init__(self) -> None:
        _check(1 <= self.k <= 64, "k", "must be in 1..64")
        _check(1 <= self.alpha <= self.k, "alpha", "must be in 1..k")
        _check(self.replacement_cache_size >= 0, "replacement_cache_size", "must be >= 0")
        for name in ("questionable_after", "refresh_interval", "replicate_interval", "republish_interval", "expire_after"):
            _check(getattr(self, name) > 0, name, "must be > 0 seconds")
        _check(1 <= self.max_value_size <= 8000, "max_value_size", "must be in 1..8000 bytes")
        _check(self.max_records >= 1, "max_records", "must be >= 1")


@dataclass(frozen=True, slots=True)
class SearchConfig:
    """Unstructured search: the neighbour overlay, flooding and random walks (Gnutella 0.4; Lv et al.,
    "Search and Replication in Unstructured Peer-to-Peer Networks", ICS 2002, §3-§4).

    Parameters
    ----------
    enabled : bool
        Take part in the neighbour overlay (join neighbours, answer ``neighbour`` requests). A node with
        ``enabled=False`` refuses every neighbour, so it never forwards searches (like a stock node).
    min_neighbours, target_neighbours, max_neighbours : int
        A node actively looks for neighbours until it has ``target_neighbours``; it accepts joins from
        others up to ``max_neighbours``. Below ``min_neighbours`` it looks on every maintenance tick and
        whenever a new contact appears. ``target_neighbours = 0`` disables looking (static overlays in tests).
    keepalive_interval : float
        Seconds between keep-alives (a ``neighbour`` request) to a neighbour not heard from in that time; a
        keep-alive that fails (after the RPC retries) or is refused removes the neighbour, which is replaced.
    candidate_backoff : float
        Seconds a peer that refused or ignored a join (e.g. a stock kademlia node) is not asked again.
    default_ttl, max_ttl : int
        Flood TTL when the caller gives none, and the largest TTL a node accepts or forwards (a larger one,
        local or from the network, is clamped to it).
    default_walk_ttl, max_walk_ttl : int
        The same for random walkers (steps per walker); at most 255 (one byte on the wire).
    walkers : int
        Walkers a random-walk search starts (Lv et al. use 16-64).
    check_every : int
        A walker checks back with the origin every ``check_every`` hops and stops once it is satisfied.
    seen_cache_size, seen_cache_ttl : int, float
        The duplicate-suppression cache of query GUIDs is bounded both by count (oldest evicted first) and
        by age in seconds. Reverse-path routing of hits needs an entry to outlive the searches' timeouts.
    query_rate, query_burst : float, int
        Token bucket per neighbour: queries and walkers beyond ``query_rate`` per second (bursts up to
        ``query_burst``) are dropped and counted, so one peer cannot make a node flood the overlay.
    direct_hits : bool
        Default for searches started here: hits go straight to the origin instead of back along the path.
    max_items_per_hit : int
        Most items one QUERY_HIT carries (more matches are cut off).
    ring_hop_wait : float
        Expanding ring: a round with TTL t waits ``2 * t * ring_hop_wait`` seconds for hits before the next.
    max_hits_kept : int
        Most hits a search keeps (memory bound).
    """

    enabled: bool = True
    min_neighbours: int = 4
    target_neighbours: int = 8
    max_neighbours: int = 12
    keepalive_interval: float = 30.0
    candidate_backoff: float = 300.0
    default_ttl: int = 5
    max_ttl: int = 7
    default_walk_ttl: int = 64
    max_walk_ttl: int = 255
    walkers: int = 16
    check_every: int = 4
    seen_cache_size: int = 10_000
    seen_cache_ttl: float = 60.0
    query_rate: float = 100.0
    query_burst: int = 200
    direct_hits: bool = False
    max_items_per_hit: int = 16
    ring_hop_wait: float = 0.1
    max_hits_kept: int = 1024

    def __post_init__(self) -> None:
        _check(0 <= self.min_neighbours <= self.target_neighbours, "min_neighbours", "must be in 0..target_neighbours")
        _check(self.target_neighbours <= self.max_neighbours, "target_neighbours", "must be <= max_neighbours")
        _check(1 <= self.max_neighbours <= 256, "max_neighbours", "must be in 1..256")
        _check(self.keepalive_interval > 0, "keepalive_interval", "must be > 0 seconds")
        _check(self.candidate_backoff >= 0, "candidate_backoff", "must be >= 0 seconds")
        _check(1 <= self.max_ttl <= 255, "max_ttl", "must be in 1..255")
        _check(1 <= self.default_ttl <= self.max_ttl, "default_ttl", "must be in 1..max_ttl")
        _check(1 <= self.max_walk_ttl <= 255, "max_walk_ttl", "must be in 1..255")
        _check(1 <= self.default_walk_ttl <= self.max_walk_ttl, "default_walk_ttl", "must be in 1..max_walk_ttl")
        _check(1 <= self.walkers <= 255, "walkers", "must be in 1..255")
        _check(self.check_every >= 1, "check_every", "must be >= 1")
        _check(self.seen_cache_size >= 1, "seen_cache_size", "must be >= 1")
        _check(self.seen_cache_ttl > 0, "seen_cache_ttl", "must be > 0 seconds")
        _check(self.query_rate > 0, "query_rate", "must be > 0 per second")
        _check(self.query_burst >= 1, "query_burst", "must be >= 1")
        _check(1 <= self.max_items_per_hit <= 64, "max_items_per_hit", "must be in 1..64")
        _check(self.ring_hop_wait > 0, "ring_hop_wait", "must be > 0 seconds")
        _check(self.max_hits_kept >= 1, "max_hits_kept", "must be >= 1")


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """Everything a :class:`p2p.core.NodeCore` needs besides its id, store and RNG.

    Parameters
    ----------
    kademlia : KademliaConfig
        DHT parameters.
    rpc : RPCConfig
        Request/reply parameters.
    search : SearchConfig
        Neighbour overlay and unstructured search parameters.
    """

    kademlia: KademliaConfig = field(default_factory=KademliaConfig)
    rpc: RPCConfig = field(default_factory=RPCConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
