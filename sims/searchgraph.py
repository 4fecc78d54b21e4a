"""Graph-level model of unstructured search: flooding, expanding ring and random walks.

This is the *graph* fidelity of DESIGN.md §9: no protocol code runs, the overlay is a networkx graph and
a query is computed directly on its adjacency, hop-synchronously. It reaches 10^6-node graphs because the
adjacency is converted once to CSR arrays (:class:`CSRGraph`, numpy only; scipy is not a dependency) and
floods are computed frontier by frontier with vectorised numpy operations.

Model
-----
* **Flooding** (Gnutella style, duplicate suppression by GUID): the origin sends the query to all its
  neighbours with TTL ``ttl``; every node handles the query at most once, on first arrival, and, if the
  remaining TTL is positive, forwards it to all its neighbours except the one it came from. Arrivals are
  hop-synchronous, so "first arrival" is the BFS depth. Every forward is one message, including the ones
  that reach a node that has already seen the query (those are *duplicates*). Hence, for a flood that
  reaches ``R`` nodes, ``messages = sum over handling nodes at depth < ttl of (deg - 1)`` (the origin sends
  ``deg``), and ``duplicates = messages - (R - 1)``. A hit does not stop a flood (the flood has no
  feedback channel); success means that some holder was reached and ``hops`` is the BFS depth of the
  closest holder reached. Query-hit replies are not counted.
* **Expanding ring** (Lv et al. §3.2): successive floods with growing TTLs until one finds a holder; the
  messages of all rounds are summed (every round re-floods from scratch).
* **Random walks** (Lv et al. §4): ``walkers`` walkers leave the origin in lockstep; at every step each
  walker moves to a uniformly random neighbour other than the previous hop (back to the previous hop only
  from a degree-1 node). Each step is one query message. A walker that arrives at a holder is a hit and
  stops. After every ``check_every`` steps each walker still walking sends a check-back message to the
  origin and stops if the query has been satisfied by then (the origin is assumed to learn of a hit in the
  step it happens; the origin's answer to a check-back is not counted). Walkers stop at ``ttl`` steps.
  Lv et al. count only the query messages; we report ``messages`` = query messages + check-back messages,
  and the two parts separately as ``query_messages`` and ``checkback_messages``.
* **Replication** (Cohen & Shenker, "Replication strategies in unstructured peer-to-peer networks",
  SIGCOMM 2002, §3): ``uniform`` puts every object on ``round(ratio * n)`` nodes; ``proportional`` and
  ``square-root`` distribute the *same total* number of replicas in proportion to the query rate
  ``q_i``, resp. ``sqrt(q_i)``, each object on at least 1 and at most ``n`` nodes. Queries follow a Zipf
  distribution over objects, ``q_i ∝ (i + 1) ** -zipf_s`` for object ``i = 0 .. n_objects - 1`` (object 0
  is the most popular); ``zipf_s`` defaults to 1.0. Replicas of one object sit on distinct nodes chosen
  uniformly at random.

References
----------
Q. Lv, P. Cao, E. Cohen, K. Li, S. Shenker, "Search and Replication in Unstructured Peer-to-Peer
Networks", ICS 2002. E. Cohen, S. Shenker, "Replication Strategies in Unstructured Peer-to-Peer
Networks", SIGCOMM 2002.
"""

from __future__ import annotations

import math
import time
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np

__all__ = [
    "CSRGraph",
    "QueryOutcome",
    "as_csr",
    "build_graph",
    "expanding_ring",
    "expected_search_size",
    "flood",
    "lv_comparison",
    "place_objects",
    "plot_lv",
    "query_stream",
    "random_walk",
    "replica_counts",
    "search_experiment",
    "zipf_weights",
]

REPLICATION_STRATEGIES = ("uniform", "proportional", "square-root")
_STRATEGY_ALIASES = {"sqrt": "square-root", "square_root": "square-root", "squareroot": "square-root"}


# --------------------------------------------------------------------------------------------- graphs


@dataclass(frozen=True, eq=False)
class CSRGraph:
    """Undirected graph as compressed sparse row arrays (neighbours of ``i`` are
    ``indices[indptr[i]:indptr[i + 1]]``).

    Nodes are the integers ``0 .. n - 1``; ``labels`` maps them back to the networkx labels (``None`` when
    the networkx graph was already labelled ``0 .. n - 1``, so that no dictionary is kept at 10^6 nodes).
    Convert once with :func:`as_csr` and pass the result to the query functions when running many queries
    on one graph: they accept a networkx graph too but would convert it on every call.
    """

    indptr: np.ndarray  # int64, n + 1
    indices: np.ndarray  # int32, 2 * edges
    degree: np.ndarray  # int64, n
    labels: list[Hashable] | None = None
    _index: dict[Hashable, int] | None = field(default=None, repr=False)

    @property
    def n(self) -> int:
        return int(self.degree.shape[0])

    @property
    def n_edges(self) -> int:
        return int(self.indices.shape[0]) // 2

    @classmethod
    def from_edges(cls, n: int, edges: np.ndarray, labels: list[Hashable] | None = None) -> CSRGraph:
        """Build from an ``(m, 2)`` integer array of undirected edges over ``0 .. n - 1``."""
        edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
        src = np.concatenate([edges[:, 0], edges[:, 1]])
        dst = np.concatenate([edges[:, 1], edges[:, 0]])
        order = np.argsort(src, kind="stable")
        indices = dst[order].astype(np.int32 if n < 2**31 else np.int64)
        degree = np.bincount(src, minlength=n).astype(np.int64)
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(degree, out=indptr[1:])
        index = None if labels is None else {label: i for i, label in enumerate(labels)}
        return cls(indptr=indptr, indices=indices, degree=degree, labels=labels, _index=index)

    @classmethod
    def from_networkx(cls, graph: nx.Graph) -> CSRGraph:
        """Convert an undirected networkx graph (directed graphs are rejected)."""
        if graph.is_directed():
            raise ValueError("searchgraph models undirected overlays; pass graph.to_undirected()")
        n = graph.number_of_nodes()
        m = graph.number_of_edges()
        flat = (x for edge in graph.edges() for x in edge)
        identity = n == 0 or (all(type(v) is int for v in graph) and min(graph) == 0 and max(graph) == n - 1)
        if identity:
            edges = np.fromiter(flat, dtype=np.int64, count=2 * m)
            return cls.from_edges(n, edges)
        labels = list(graph)
        index = {label: i for i, label in enumerate(labels)}
        edges = np.fromiter((index[x] for x in flat), dtype=np.int64, count=2 * m)
        return cls.from_edges(n, edges, labels)

    def to_index(self, node: Hashable) -> int:
        """Index of a node label."""
        if self._index is None:
            i = int(node)  # type: ignore[call-overload]
            if not 0 <= i < self.n or i != node:
                raise KeyError(node)
            return i
        return self._index[node]

    def to_label(self, i: int) -> Hashable:
        """Label of a node index."""
        return int(i) if self.labels is None else self.labels[int(i)]

    def labels_of(self, idx: Iterable[int]) -> frozenset[Hashable]:
        if self.labels is None:
            return frozenset(int(i) for i in idx)
        return frozenset(self.labels[int(i)] for i in idx)

    def neighbours(self, idx: np.ndarray) -> np.ndarray:
        """Concatenated neighbour lists of the nodes ``idx`` (one entry per edge end, repeats kept)."""
        counts = self.degree[idx]
        total = int(counts.sum())
        if total == 0:
            return self.indices[:0]
        starts = self.indptr[idx]
        offsets = np.cumsum(counts) - counts
        pos = np.repeat(starts - offsets, counts) + np.arange(total, dtype=np.int64)
        return self.indices[pos]


GraphLike = nx.Graph | CSRGraph


def as_csr(graph: GraphLike) -> CSRGraph:
    """Return ``graph`` itself if it is a :class:`CSRGraph`, else convert the networkx graph."""
    return graph if isinstance(graph, CSRGraph) else CSRGraph.from_networkx(graph)


def build_graph(kind: str, n: int, *, mean_degree: int = 4, seed: int | None = None) -> nx.Graph:
    """Build an overlay graph with networkx.

    ``"ba"``: Barabási–Albert preferential attachment with ``m = mean_degree // 2`` (power-law degrees,
    mean degree ≈ ``mean_degree``); ``"rr"``: random ``mean_degree``-regular graph (Lv et al.'s "random"
    topology); ``"er"``: Erdős–Rényi G(n, p) with ``p = mean_degree / (n - 1)`` (may be disconnected).
    """
    if kind == "ba":
        return nx.barabasi_albert_graph(n, max(1, mean_degree // 2), seed=seed)
    if kind == "rr":
        return nx.random_regular_graph(mean_degree, n, seed=seed)
    if kind == "er":
        return nx.fast_gnp_random_graph(n, mean_degree / max(1, n - 1), seed=seed)
    raise ValueError(f"unknown graph kind {kind!r} (expected 'ba', 'er' or 'rr')")


def _holder_mask(g: CSRGraph, holders: Iterable[Hashable] | np.ndarray) -> np.ndarray:
    if isinstance(holders, np.ndarray) and holders.dtype == np.bool_:
        if holders.shape != (g.n,):
            raise ValueError("a boolean holder mask must have one entry per node")
        return holders
    mask = np.zeros(g.n, dtype=np.bool_)
    if isinstance(holders, np.ndarray) and g.labels is None:
        mask[holders.astype(np.int64)] = True
    else:
        idx = [g.to_index(h) for h in holders]
        if idx:
            mask[np.asarray(idx, dtype=np.int64)] = True
    return mask


# --------------------------------------------------------------------------------------------- outcome


@dataclass(frozen=True, slots=True)
class QueryOutcome:
    """Result of one query.

    ``messages`` counts every message sent (for walks: query steps + check-backs); ``checkback_messages``
    is the check-back part (0 for floods); ``hops`` is the hop count of the first hit (``None`` on
    failure); ``nodes_reached`` counts distinct nodes that saw the query, origin included;
    ``duplicates`` counts query messages that arrived at a node that had already seen it; ``max_hops`` is
    the largest hop count any query message travelled; ``rounds`` is the number of floods (expanding
    ring); ``reached`` holds the labels of the nodes reached when ``record_nodes=True`` was passed.
    """

    success: bool
    messages: int
    hops: int | None
    nodes_reached: int
    duplicates: int
    checkback_messages: int = 0
    max_hops: int = 0
    rounds: int = 1
    reached: frozenset[Hashable] | None = None

    @property
    def query_messages(self) -> int:
        """Messages that carry the query (what Lv et al. count)."""
        return self.messages - self.checkback_messages


# --------------------------------------------------------------------------------------------- flooding


class _LevelBFS:
    """Incremental BFS from one origin that records, per depth, the flood messages sent by the nodes at
    that depth, the number of nodes first reached, and the depth of the first holder."""

    def __init__(self, g: CSRGraph, origin: int, holder_mask: np.ndarray) -> None:
        self.g = g
        self.holder_mask = holder_mask
        self.visited = np.zeros(g.n, dtype=np.bool_)
        self.visited[origin] = True
        self._slot: np.ndarray | None = None
        self.frontier = np.asarray([origin], dtype=np.int64)
        self.depth = 0  # depth of the current frontier
        self.new_nodes = [1]  # nodes first reached at depth d
        self.sent: list[int] = []  # messages sent by the nodes at depth d (computed when expanding d)
        self.first_hit: int | None = 0 if holder_mask[origin] else None
        self.exhausted = False  # the frontier became empty: deeper levels send nothing

    def advance_to(self, depth: int) -> None:
        """Expand until the frontier is at ``depth`` (or the component is exhausted)."""
        g = self.g
        while self.depth < depth and not self.exhausted:
            frontier = self.frontier
            sent = int(g.degree[frontier].sum()) - (frontier.size if self.depth > 0 else 0)
            self.sent.append(sent)
            nbrs = g.neighbours(frontier)
            cand = nbrs[~self.visited[nbrs]]
            if cand.size:
                if self._slot is None:
                    self._slot = np.empty(g.n, dtype=np.int64)
                ar = np.arange(cand.size, dtype=np.int64)
                self._slot[cand] = ar
                new = cand[self._slot[cand] == ar]  # one copy of each candidate
                self.visited[new] = True
            else:
                new = cand
            self.depth += 1
            self.new_nodes.append(int(new.size))
            if self.first_hit is None and new.size and self.holder_mask[new].any():
                self.first_hit = self.depth
            self.frontier = new.astype(np.int64, copy=False)
            if new.size == 0:
                self.exhausted = True

    def outcome(self, ttl: int, *, record: bool = False) -> QueryOutcome:
        """The outcome of a flood with TTL ``ttl`` (levels up to ``ttl`` must have been computed, or the
        BFS must be exhausted)."""
        messages = sum(self.sent[:ttl])
        reached = sum(self.new_nodes[: ttl + 1])
        last_sender = max((d for d, s in enumerate(self.sent[:ttl]) if s > 0), default=None)
        hit = self.first_hit is not None and self.first_hit <= ttl
        reached_set = None
        if record:
            if self.depth > ttl:
                raise ValueError("record=True needs the BFS to stop at the TTL")
            reached_set = self.g.labels_of(np.flatnonzero(self.visited))
        return QueryOutcome(
            success=hit,
            messages=messages,
            hops=self.first_hit if hit else None,
            nodes_reached=reached,
            duplicates=messages - (reached - 1),
            max_hops=0 if last_sender is None else last_sender + 1,
            reached=reached_set,
        )


def _ttl_value(ttl: int | None, g: CSRGraph) -> int:
    if ttl is None or ttl == math.inf:
        return max(g.n, 1)
    ttl = int(ttl)
    if ttl < 0:
        raise ValueError("ttl must be >= 0")
    return ttl


def flood(
    graph: GraphLike,
    origin: Hashable,
    holders: Iterable[Hashable] | np.ndarray,
    ttl: int | None,
    *,
    record_nodes: bool = False,
) -> QueryOutcome:
    """Flood a query from ``origin`` with duplicate suppression (see the module docstring for the model).

    Parameters
    ----------
    graph : networkx.Graph or CSRGraph
        The overlay (undirected). Convert big graphs once with :func:`as_csr`.
    origin : node
        The querying node.
    holders : iterable of nodes, or boolean numpy mask over node indices
        The nodes that hold the object.
    ttl : int or None
        Maximum hop count of a message; ``None`` floods the whole component.
    record_nodes : bool
        Also return the set of reached nodes in ``QueryOutcome.reached``.

    Returns
    -------
    QueryOutcome

    Examples
    --------
    On a 6-cycle, a TTL-2 flood from node 0 reaches nodes 1, 2, 4 and 5 with 4 messages and finds node 2 at
    2 hops:

    >>> import networkx as nx
    >>> out = flood(nx.cycle_graph(6), 0, {2}, ttl=2)
    >>> out.success, out.hops, out.messages, out.nodes_reached
    (True, 2, 4, 5)
    """
    g = as_csr(graph)
    ttl_v = _ttl_value(ttl, g)
    bfs = _LevelBFS(g, g.to_index(origin), _holder_mask(g, holders))
    bfs.advance_to(ttl_v)
    return bfs.outcome(ttl_v, record=record_nodes)


def _doubling(start: int = 1) -> Iterable[int]:
    t = start
    while True:
        yield t
        t *= 2


def expanding_ring(
    graph: GraphLike,
    origin: Hashable,
    holders: Iterable[Hashable] | np.ndarray,
    ttls: Iterable[int] | None = None,
) -> QueryOutcome:
    """Expanding ring search: floods with TTLs ``ttls`` in turn until one reaches a holder.

    ``ttls=None`` means 1, 2, 4, 8, ... until a hit or until a flood covers the whole component (Lv et
    al. use 1, 3, 5, ...; pass ``range(1, 100, 2)`` for that). Every round is a fresh flood; ``messages``
    and ``duplicates`` are summed over rounds, ``nodes_reached`` and ``max_hops`` are those of the last
    round, ``rounds`` is the number of floods. Computed from one incremental BFS: the cost of a flood with
    TTL ``t`` is the sum of the per-level message counts below depth ``t``.
    """
    g = as_csr(graph)
    bfs = _LevelBFS(g, g.to_index(origin), _holder_mask(g, holders))
    schedule = _doubling() if ttls is None else iter(ttls)
    messages = duplicates = rounds = 0
    last: QueryOutcome | None = None
    for t in schedule:
        t = _ttl_value(t, g)
        bfs.advance_to(t)
        last = bfs.outcome(t)
        rounds += 1
        messages += last.messages
        duplicates += last.duplicates
        if last.success or (bfs.exhausted and bfs.depth <= t):
            break  # found, or this flood already covered the component: a bigger TTL cannot help
    if last is None:
        raise ValueError("empty TTL schedule")
    return QueryOutcome(
        success=last.success,
        messages=messages,
        hops=last.hops,
        nodes_reached=last.nodes_reached,
        duplicates=duplicates,
        max_hops=last.max_hops,
        rounds=rounds,
    )


# --------------------------------------------------------------------------------------------- walks


def random_walk(
    graph: GraphLike,
    origin: Hashable,
    holders: Iterable[Hashable] | np.ndarray,
    walkers: int = 16,
    ttl: int = 1024,
    check_every: int | None = 4,
    seed: int | None = None,
    *,
    rng: np.random.Generator | None = None,
    record_nodes: bool = False,
) -> QueryOutcome:
    """k-walker random walk with periodic check-back (Lv et al., ICS 2002, §4).

    Parameters
    ----------
    graph, origin, holders
        As for :func:`flood`.
    walkers : int
        Number of walkers ``k``; they step in lockstep.
    ttl : int
        Maximum number of steps per walker.
    check_every : int or None
        Each walker checks back with the origin after every ``check_every`` steps (not after its last
        step at ``ttl``); one check-back = one message. ``None`` or 0 disables checking: walkers then stop
        only on a hit or at the TTL.
    seed : int or None
        Seed of a fresh ``numpy.random.Generator``; ignored when ``rng`` is given.
    rng : numpy.random.Generator, optional
        Random source (for drawing many queries from one stream).
    record_nodes : bool
        Return the visited nodes in ``QueryOutcome.reached``.

    Returns
    -------
    QueryOutcome
        ``messages`` = walk steps + check-backs, ``checkback_messages`` the latter, ``hops`` the step of
        the first hit, ``nodes_reached`` the distinct nodes visited (origin included), ``duplicates`` the
        steps that landed on an already visited node, ``max_hops`` the most steps any walker took.
    """
    g = as_csr(graph)
    if rng is None:
        rng = np.random.default_rng(seed)
    o = g.to_index(origin)
    mask = _holder_mask(g, holders)
    ttl = int(ttl)
    if walkers < 1 or ttl < 0:
        raise ValueError("need walkers >= 1 and ttl >= 0")
    check = int(check_every or 0)

    def done(success: bool, hops: int | None, steps: int, checks: int, dups: int, visited: Any, s: int):
        idx = np.fromiter(visited, dtype=np.int64) if isinstance(visited, set) else visited
        return QueryOutcome(
            success=success,
            messages=steps + checks,
            hops=hops,
            nodes_reached=len(idx),
            duplicates=dups,
            checkback_messages=checks,
            max_hops=s,
            reached=g.labels_of(idx) if record_nodes else None,
        )

    if mask[o]:
        return done(True, 0, 0, 0, 0, {o}, 0)
    visited = {o}  # a set: a walk visits far fewer than n nodes, and a set avoids an O(n) array per query
    pos = np.full(walkers, o, dtype=np.int64)
    prev = np.full(walkers, -1, dtype=np.int64)
    indptr, indices, degree = g.indptr, g.indices, g.degree
    steps = checks = dups = 0
    first_hit: int | None = None
    s = 0
    if degree[o] == 0:
        return done(False, None, 0, 0, 0, visited, 0)
    while s < ttl and pos.size:
        s += 1
        d = degree[pos]
        excl = (prev >= 0) & (d > 1)
        choices = np.where(excl, d - 1, d)
        j = (rng.random(pos.size) * choices).astype(np.int64)
        start = indptr[pos]
        nxt = indices[start + j].astype(np.int64)
        clash = excl & (nxt == prev)
        if clash.any():  # the previous hop was drawn: take the last neighbour instead (never drawn)
            nxt[clash] = indices[start[clash] + d[clash] - 1]
        steps += pos.size
        for v in nxt.tolist():
            if v in visited:
                dups += 1
            else:
                visited.add(v)
        hit = mask[nxt]
        if hit.any():
            if first_hit is None:
                first_hit = s
            keep = ~hit
            prev, pos = pos[keep], nxt[keep]
        else:
            prev, pos = pos, nxt
        if check and s % check == 0 and s < ttl and pos.size:
            checks += pos.size
            if first_hit is not None:
                break
    return done(first_hit is not None, first_hit, steps, checks, dups, visited, s)


# --------------------------------------------------------------------------------------------- replication


def zipf_weights(n_objects: int, zipf_s: float = 1.0) -> np.ndarray:
    """Query probabilities ``q_i ∝ (i + 1) ** -zipf_s`` of objects ``0 .. n_objects - 1``."""
    if n_objects < 1:
        raise ValueError("n_objects must be >= 1")
    w = np.arange(1, n_objects + 1, dtype=np.float64) ** (-float(zipf_s))
    return w / w.sum()


def _canonical_strategy(strategy: str) -> str:
    s = _STRATEGY_ALIASES.get(strategy, strategy)
    if s not in REPLICATION_STRATEGIES:
        raise ValueError(
            f"unknown replication strategy {strategy!r} (expected one of {REPLICATION_STRATEGIES})"
        )
    return s


def _bounded_allocation(weights: np.ndarray, total: int, lo: int, hi: int) -> np.ndarray:
    """Integers ``r_i`` in ``[lo, hi]`` summing to ``total``, as close as possible to ``c * w_i``
    (water-filling: ``r_i = clip(c * w_i, lo, hi)`` with ``c`` found by bisection, then largest-remainder
    rounding)."""
    m = weights.size
    total = min(max(total, lo * m), hi * m)

    def filled(c: float) -> np.ndarray:
        return np.clip(c * weights, lo, hi)

    a, b = 0.0, 1.0
    while filled(b).sum() < total:
        b *= 2.0
    for _ in range(200):
        c = 0.5 * (a + b)
        if filled(c).sum() < total:
            a = c
        else:
            b = c
    x = filled(b)
    base = np.floor(x).astype(np.int64)
    base = np.clip(base, lo, hi)
    deficit = total - int(base.sum())
    frac = x - base
    if deficit > 0:
        room = np.flatnonzero(base < hi)
        order = room[np.argsort(-frac[room], kind="stable")]
        base[order[:deficit]] += 1
    elif deficit < 0:
        room = np.flatnonzero(base > lo)
        order = room[np.argsort(frac[room], kind="stable")]
        base[order[:-deficit]] -= 1
    return base


def replica_counts(
    n_nodes: int,
    n_objects: int,
    strategy: str = "uniform",
    *,
    ratio: float = 0.01,
    zipf_s: float = 1.0,
) -> np.ndarray:
    """Number of replicas of each object (Cohen & Shenker §3).

    Every strategy places the same total ``R = n_objects * max(1, round(ratio * n_nodes))``; ``uniform``
    gives every object ``R / n_objects``, ``proportional`` ``∝ q_i``, ``square-root`` ``∝ sqrt(q_i)``, with
    ``q`` = :func:`zipf_weights` and every object on between 1 and ``n_nodes`` nodes.
    """
    strategy = _canonical_strategy(strategy)
    per = max(1, round(ratio * n_nodes))
    per = min(per, n_nodes)
    total = per * n_objects
    if strategy == "uniform":
        return np.full(n_objects, per, dtype=np.int64)
    q = zipf_weights(n_objects, zipf_s)
    w = q if strategy == "proportional" else np.sqrt(q)
    return _bounded_allocation(w, total, 1, n_nodes)


def expected_search_size(counts: Sequence[int] | np.ndarray, n_nodes: int, zipf_s: float = 1.0) -> float:
    """Cohen & Shenker's expected search size ``sum_i q_i * n / r_i`` (nodes probed by a random search
    until a hit, sampling with replacement). Uniform and proportional give the same value; square-root
    minimises it."""
    r = np.asarray(counts, dtype=np.float64)
    q = zipf_weights(r.size, zipf_s)
    return float(np.sum(q * n_nodes / r))


def _base_seed(seed: int | None) -> int:
    if seed is None:
        return int(np.random.SeedSequence().entropy) & ((1 << 63) - 1)
    return int(seed)


class _Placement:
    """Replica placement: object ``i``'s holders are ``counts[i]`` distinct node indices drawn by a
    generator seeded with ``(seed, i)``, computed lazily (so that a 10^6-node experiment only samples the
    objects it queries) and identical to what :func:`place_objects` returns for the same seed."""

    def __init__(self, n: int, counts: np.ndarray, seed: int) -> None:
        self.n = n
        self.counts = counts
        self.seed = seed
        self._cache: dict[int, np.ndarray] = {}

    def holders(self, obj: int) -> np.ndarray:
        h = self._cache.get(obj)
        if h is None:
            rng = np.random.default_rng([self.seed, int(obj)])
            h = np.sort(rng.choice(self.n, size=int(self.counts[obj]), replace=False))
            self._cache[obj] = h
        return h


def place_objects(
    graph: GraphLike,
    n_objects: int,
    strategy: str = "uniform",
    *,
    ratio: float = 0.01,
    zipf_s: float = 1.0,
    seed: int | None = None,
) -> dict[int, set[Hashable]]:
    """Place replicas of objects ``0 .. n_objects - 1`` on nodes of ``graph``.

    Parameters
    ----------
    graph : networkx.Graph or CSRGraph
    n_objects : int
    strategy : {"uniform", "proportional", "square-root"}
        See :func:`replica_counts`; all use the same total number of replicas.
    ratio : float
        Fraction of nodes holding each object under uniform replication (the mean over objects for the
        other strategies).
    zipf_s : float
        Exponent of the Zipf query distribution that drives proportional and square-root allocation
        (default 1.0; object 0 is the most popular).
    seed : int or None

    Returns
    -------
    dict
        object -> set of holder nodes (labels).
    """
    g = as_csr(graph)
    counts = replica_counts(g.n, n_objects, strategy, ratio=ratio, zipf_s=zipf_s)
    placement = _Placement(g.n, counts, _base_seed(seed))
    return {i: set(g.labels_of(placement.holders(i))) for i in range(n_objects)}


def query_stream(n_objects: int, n_queries: int, zipf_s: float = 1.0, seed: int | None = None) -> list[int]:
    """``n_queries`` object ids drawn i.i.d. from the Zipf distribution :func:`zipf_weights`."""
    rng = np.random.default_rng(seed)
    return rng.choice(n_objects, size=n_queries, p=zipf_weights(n_objects, zipf_s)).tolist()


# --------------------------------------------------------------------------------------------- experiments


def _summary(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"mean": None, "p50": None, "p90": None}
    a = np.asarray(values, dtype=np.float64)
    return {"mean": float(a.mean()), "p50": float(np.percentile(a, 50)), "p90": float(np.percentile(a, 90))}


def search_experiment(
    graph_kind: str = "ba",
    n: int = 10_000,
    strategy: str = "flood",
    replication: str = "uniform",
    ratio: float = 0.01,
    ttl: int | None = None,
    walkers: int = 16,
    check_every: int | None = 4,
    queries: int = 100,
    seed: int = 0,
    *,
    n_objects: int = 100,
    zipf_s: float = 1.0,
    mean_degree: int = 4,
    ring_ttls: Sequence[int] | None = None,
    graph: GraphLike | None = None,
) -> dict[str, Any]:
    """Run ``queries`` searches on one graph and summarise them (JSON-serialisable).

    The graph is :func:`build_graph` ``(graph_kind, n, mean_degree=mean_degree)`` unless ``graph`` is given
    (then ``graph_kind`` and ``n`` are only echoed, ``n`` is taken from the graph). Objects are placed with
    ``replication`` (:func:`place_objects`); each query picks a uniformly random origin and an object from
    :func:`query_stream`. ``strategy`` is ``"flood"`` (``ttl=None``: whole component), ``"ring"``
    (expanding ring with ``ring_ttls``, default 1, 2, 4, ...; ``ttl`` caps the schedule) or ``"walk"``
    (``ttl=None``: 1024). The graph, placement, query and walk random streams are independent children of
    ``seed``, so different strategies with the same seed answer the same queries from the same origins.
    """
    t0 = time.perf_counter()
    ss_graph, ss_place, ss_query, ss_walk = np.random.SeedSequence(seed).spawn(4)
    if graph is None:
        graph_seed = int(ss_graph.generate_state(1)[0])
        g = as_csr(build_graph(graph_kind, n, mean_degree=mean_degree, seed=graph_seed))
    else:
        g = as_csr(graph)
    build_seconds = time.perf_counter() - t0

    counts = replica_counts(g.n, n_objects, replication, ratio=ratio, zipf_s=zipf_s)
    placement = _Placement(g.n, counts, int(ss_place.generate_state(1)[0]))
    qrng = np.random.default_rng(ss_query)
    objects = qrng.choice(n_objects, size=queries, p=zipf_weights(n_objects, zipf_s))
    origins = qrng.integers(0, g.n, size=queries)
    wrng = np.random.default_rng(ss_walk)

    if strategy == "walk":
        eff_ttl: int | None = 1024 if ttl is None else int(ttl)
    else:
        eff_ttl = None if ttl is None else int(ttl)
    schedule: list[int] | None = None
    if strategy == "ring":
        if ring_ttls is not None:
            schedule = [int(t) for t in ring_ttls]
        elif eff_ttl is not None:
            schedule = [t for t in (2**i for i in range(64)) if t < eff_ttl] + [eff_ttl]
    elif strategy not in ("flood", "walk"):
        raise ValueError(f"unknown search strategy {strategy!r} (expected 'flood', 'ring' or 'walk')")

    t1 = time.perf_counter()
    outcomes: list[QueryOutcome] = []
    mask = np.zeros(g.n, dtype=np.bool_)
    for obj, origin in zip(objects.tolist(), origins.tolist(), strict=True):
        h = placement.holders(obj)
        mask[h] = True
        if strategy == "flood":
            out = flood(g, origin, mask, eff_ttl)
        elif strategy == "ring":
            out = expanding_ring(g, origin, mask, schedule)
        else:
            out = random_walk(g, origin, mask, walkers, eff_ttl or 0, check_every, rng=wrng)
        mask[h] = False
        outcomes.append(out)
    query_seconds = time.perf_counter() - t1

    q = max(1, len(outcomes))
    hops = [o.hops for o in outcomes if o.hops is not None]
    return {
        "graph_kind": graph_kind,
        "n": g.n,
        "nodes": g.n,
        "edges": g.n_edges,
        "mean_degree": mean_degree,
        "strategy": strategy,
        "replication": _canonical_strategy(replication),
        "ratio": ratio,
        "n_objects": n_objects,
        "zipf_s": zipf_s,
        "replicas_total": int(counts.sum()),
        "ttl": eff_ttl,
        "ring_ttls": schedule,
        "walkers": walkers if strategy == "walk" else None,
        "check_every": check_every if strategy == "walk" else None,
        "queries": len(outcomes),
        "seed": seed,
        "messages_per_query": sum(o.messages for o in outcomes) / q,
        "query_messages_per_query": sum(o.query_messages for o in outcomes) / q,
        "checkback_messages_per_query": sum(o.checkback_messages for o in outcomes) / q,
        "messages": _summary([o.messages for o in outcomes]),
        "success_rate": sum(o.success for o in outcomes) / q,
        "hops_to_first_hit": _summary(hops),
        "duplicates_per_query": sum(o.duplicates for o in outcomes) / q,
        "nodes_reached": sum(o.nodes_reached for o in outcomes) / q,
        "fraction_reached": sum(o.nodes_reached for o in outcomes) / q / max(1, g.n),
        "rounds_per_query": sum(o.rounds for o in outcomes) / q,
        "build_seconds": build_seconds,
        "query_seconds": query_seconds,
        "seconds_per_query": query_seconds / q,
        "wall_seconds": time.perf_counter() - t0,
    }


def _reach_ttl(g: CSRGraph, seed: int, samples: int = 8) -> int:
    """The largest BFS depth (eccentricity) over ``samples`` random origins: a flood with this TTL reaches
    every node from those origins and nearly every node from the others."""
    rng = np.random.default_rng(seed)
    ecc = 0
    empty = np.zeros(g.n, dtype=np.bool_)
    for o in rng.integers(0, g.n, size=samples).tolist():
        bfs = _LevelBFS(g, o, empty)
        bfs.advance_to(g.n)
        ecc = max(ecc, bfs.depth - 1)
    return max(ecc, 1)


def lv_comparison(
    n: int = 10_000,
    seed: int = 1,
    queries: int = 200,
    *,
    ba_m: int = 2,
    rr_degree: int = 4,
    ratio: float = 0.01,
    walkers: Sequence[int] = (16, 32),
    walk_ttl: int = 1024,
    check_every: int = 4,
    flood_ttl: int | None = None,
    include_ring: bool = True,
) -> list[dict[str, Any]]:
    """Flooding vs k-walker random walks after Lv et al. (ICS 2002), on two ``n``-node graphs.

    Graphs: Barabási–Albert with ``m = ba_m`` (power-law, mean degree ≈ 4) and a random
    ``rr_degree``-regular graph (Lv et al.'s "random" graph has mean degree 4). Every object is on
    ``ratio`` of the nodes (uniform replication). Rows per graph: flooding with TTL ``flood_ttl`` (default:
    the largest eccentricity seen from 8 random origins, i.e. large enough to reach nearly every node),
    random walks with each of ``walkers`` walkers (TTL ``walk_ttl``, check-back every ``check_every``
    steps) and, with ``include_ring``, expanding ring (TTLs 1, 2, 4, ...). All rows of one graph answer the
    same queries (same origins and objects).

    Returns a list of dicts (one per row) with the :func:`search_experiment` summary plus ``graph`` (the
    graph's name), ``label`` (``"flood"``, ``"walk k=16"``, ..., ``"expanding ring"``) and
    ``graph_build_seconds``.
    """
    rows: list[dict[str, Any]] = []
    graphs = [
        ("ba", f"BA m={ba_m}", lambda s: nx.barabasi_albert_graph(n, ba_m, seed=s)),
        ("rr", f"random {rr_degree}-regular", lambda s: nx.random_regular_graph(rr_degree, n, seed=s)),
    ]
    for i, (kind, name, make) in enumerate(graphs):
        t0 = time.perf_counter()
        g = as_csr(make(seed * 1000 + i))
        build = time.perf_counter() - t0
        ttl = flood_ttl if flood_ttl is not None else _reach_ttl(g, seed)
        common = dict(ratio=ratio, queries=queries, seed=seed, graph=g, replication="uniform")
        runs: list[tuple[str, dict[str, Any]]] = [
            ("flood", dict(strategy="flood", ttl=ttl)),
        ]
        runs += [
            (f"walk k={k}", dict(strategy="walk", ttl=walk_ttl, walkers=k, check_every=check_every))
            for k in walkers
        ]
        if include_ring:
            runs.append(("expanding ring", dict(strategy="ring")))
        for label, kw in runs:
            res = search_experiment(kind, n, **kw, **common)  # type: ignore[arg-type]
            res.update(graph=name, label=label, graph_build_seconds=build)
            rows.append(res)
    return rows


def plot_lv(table: Sequence[dict[str, Any]], path: str) -> None:
    """Write a PNG comparing messages per query (log scale) and success rate for each row of
    :func:`lv_comparison`, grouped by graph."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    graphs = list(dict.fromkeys(r["graph"] for r in table))
    labels = list(dict.fromkeys(r["label"] for r in table))
    by = {(r["graph"], r["label"]): r for r in table}
    x = np.arange(len(graphs))
    width = 0.8 / max(1, len(labels))
    fig, (ax_m, ax_s) = plt.subplots(1, 2, figsize=(12, 4.5))
    for j, label in enumerate(labels):
        msgs = [by.get((gname, label), {}).get("messages_per_query", np.nan) for gname in graphs]
        succ = [by.get((gname, label), {}).get("success_rate", np.nan) for gname in graphs]
        offs = x + (j - (len(labels) - 1) / 2) * width
        bars = ax_m.bar(offs, msgs, width, label=label)
        ax_m.bar_label(bars, fmt="%.0f", fontsize=7)
        ax_s.bar(offs, succ, width, label=label)
    ax_m.set_yscale("log")
    ax_m.set_ylabel("messages per query (log)")
    ax_m.set_title("Cost")
    ax_s.set_ylim(0, 1.05)
    ax_s.axhline(0.99, color="grey", linestyle="--", linewidth=0.8)
    ax_s.set_ylabel("success rate")
    ax_s.set_title("Success")
    flood_ttl = {r["graph"]: r["ttl"] for r in table if r["strategy"] == "flood"}
    ticks = [f"{gname}\n(flood TTL {flood_ttl[gname]})" if gname in flood_ttl else gname for gname in graphs]
    for ax in (ax_m, ax_s):
        ax.set_xticks(x, ticks)
    n_nodes = table[0]["nodes"] if table else 0
    ratio = table[0]["ratio"] if table else 0
    fig.suptitle(f"Flooding vs random walks (Lv et al. 2002), n={n_nodes}, replication {ratio:.0%}")
    ax_s.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":  # pragma: no cover - manual run: python -m p2p.sims.searchgraph [out.png]
    import json
    import sys

    t = time.perf_counter()
    table = lv_comparison()
    print(json.dumps(table, indent=1))
    print(f"lv_comparison wall {time.perf_counter() - t:.1f} s", file=sys.stderr)
    if len(sys.argv) > 1:
        plot_lv(table, sys.argv[1])
