"""Graph-level routing and resilience on Kademlia overlays (DESIGN.md §9, "graph" fidelity).

The lookups run on the directed overlay of :func:`p2p.sims.topology.kademlia_overlay` (a
:class:`networkx.DiGraph` with a ``"node_id"`` attribute per node) or, at 10^5–10^6 nodes, on its compact form
:class:`p2p.sims.topology.KademliaTables`. A "query" of a node returns, in zero time and without loss, the ``k``
contacts of its routing table closest to the target; there is no latency, timeout or churn at this level (the
DES and virtual-time engines add those).

Results are frozen dataclasses with ``to_dict()`` or plain dicts of JSON-serialisable values (160-bit ids as
40-digit hex strings).

References
----------
Maymounkov & Mazières, "Kademlia: A Peer-to-peer Information System Based on the XOR Metric", IPTPS 2002,
§2.3 (node lookup), §3 (O(log n) lookup bound). Albert, Jeong & Barabási, "Error and attack tolerance of
complex networks", Nature 406 (2000) (random failures versus targeted attacks).
"""

from __future__ import annotations

import heapq
import random
import time
from bisect import bisect_left, insort
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass

import networkx as nx
import numpy as np

from p2p.ids import ID_BITS, ID_SPACE, id_to_hex, random_id
from p2p.sims.topology import KademliaTables, _check, _check_seed, kademlia_tables

__all__ = [
    "XorIndex",
    "LookupTrace",
    "greedy_xor_lookup",
    "iterative_lookup",
    "lookup_experiment",
    "removal_resilience",
    "largest_components",
]

Graph = nx.DiGraph | KademliaTables


# ----------------------------------------------------------------------------------------------------------
# Closest-node oracle
# ----------------------------------------------------------------------------------------------------------


class XorIndex:
    """Sorted index of node ids answering "which nodes are XOR-closest to this id?" exactly.

    The ids sharing a prefix with the target form a contiguous run of the sorted ids, so the closest nodes
    are found by descending the implicit binary trie with bisections: ``O(count + log n)`` per query after an
    ``O(n log n)`` build.

    Parameters
    ----------
    ids : mapping of label to id, or sequence of ids (label = position)
        Node ids (distinct 160-bit ints).

    References
    ----------
    Maymounkov & Mazières, IPTPS 2002, §2.1 (XOR metric: the closest ids share the longest prefix).

    Examples
    --------
    >>> XorIndex({10: 0b1000, 11: 0b0111, 12: 0b0001}).closest(0b0000, 2)
    [12, 11]
    """

    __slots__ = ("_ids", "_labels")

    def __init__(self, ids: Mapping[int, int] | Sequence[int]) -> None:
        items = ids.items() if isinstance(ids, Mapping) else enumerate(ids)
        pairs = sorted((node_id, label) for label, node_id in items)
        self._ids = [p[0] for p in pairs]
        self._labels = [p[1] for p in pairs]

    def __len__(self) -> int:
        return len(self._ids)

    def closest(self, target: int, count: int = 1) -> list[int]:
        """Labels of the ``count`` nodes closest to ``target``, closest first."""
        out: list[int] = []
        if count > 0 and self._ids:
            self._collect(target, count, 0, len(self._ids), ID_BITS - 1, out)
        return out

    def _collect(self, target: int, count: int, lo: int, hi: int, bit: int, out: list[int]) -> None:
        ids = self._ids
        while hi - lo > count - len(out) and bit >= 0:
            mid = bisect_left(ids, ((ids[lo] >> bit) | 1) << bit, lo, hi)
            if target >> bit & 1:
                near, far = (mid, hi), (lo, mid)
            else:
                near, far = (lo, mid), (mid, hi)
            if near[0] == near[1]:
                lo, hi = far
            elif far[0] == far[1]:
                lo, hi = near
            else:
                self._collect(target, count, near[0], near[1], bit - 1, out)
                lo, hi = far
                if len(out) >= count:
                    return
            bit -= 1
        take = sorted(range(lo, hi), key=lambda p: ids[p] ^ target)[: count - len(out)]
        out.extend(self._labels[p] for p in take)


# ----------------------------------------------------------------------------------------------------------
# Access to either graph form
# ----------------------------------------------------------------------------------------------------------


class _View:
    """Uniform access for a DiGraph or KademliaTables (optionally restricted to ``alive`` nodes).

    ``closest(u, target, count)`` returns the ``count`` contacts of ``u`` closest to ``target`` (as a set: order
    unspecified), which is what a queried node answers.
    """

    __slots__ = ("ids", "closest", "k")

    def __init__(self, graph: Graph, alive: Sequence[bool] | None = None) -> None:
        if isinstance(graph, KademliaTables):
            ids: Sequence[int] | Mapping[int, int] = graph.ids
            self.k = graph.k
            indptr = graph.indptr.tolist()
            indices = graph.indices
            buckets = graph.buckets
            width = graph.k

            if alive is None:

                def closest(u: int, target: int, count: int) -> list[int]:
                    # A row is ordered by bucket, farthest first: [159 ... b+1][b][b-1 ... 0]. Contacts in the
                    # target's bucket b are closer than all others, then those in lower buckets, then b+1, ...
                    lo, hi = indptr[u], indptr[u + 1]
                    if hi - lo <= count:
                        return indices[lo:hi].tolist()
                    b = (ids[u] ^ target).bit_length() - 1
                    after_b, from_b = np.searchsorted(buckets[lo:hi][::-1], (b - 1, b), side="right").tolist()
                    start, stop = hi - from_b, hi - after_b  # bucket b is indices[start:stop]
                    if stop - start >= count:
                        row = indices[start:stop].tolist()
                        if len(row) == count:
                            return row
                        return sorted(row, key=lambda v: ids[v] ^ target)[:count]
                    near = indices[start:hi].tolist()  # bucket b and every lower bucket
                    if len(near) >= count:
                        return sorted(near, key=lambda v: ids[v] ^ target)[:count]
                    need = count - len(near)
                    # The need closest of the higher buckets lie within need + (one bucket <= k) positions.
                    pool = indices[max(lo, start - need - width) : start].tolist()
                    return near + sorted(pool, key=lambda v: ids[v] ^ target)[:need]

            else:

                def closest(u: int, target: int, count: int) -> list[int]:
                    row = [v for v in indices[indptr[u] : indptr[u + 1]].tolist() if alive[v]]
                    if len(row) <= count:
                        return row
                    return sorted(row, key=lambda v: ids[v] ^ target)[:count]

        elif isinstance(graph, nx.DiGraph):
            ids = _NodeIds(graph)
            self.k = int(graph.graph.get("k", 20))
            succ = graph.succ

            def closest(u: int, target: int, count: int) -> list[int]:
                row = list(succ[u]) if alive is None else [v for v in succ[u] if alive[v]]
                if len(row) <= count:
                    return row
                return sorted(row, key=lambda v: ids[v] ^ target)[:count]

        else:
            raise TypeError(f"graph must be a networkx.DiGraph or KademliaTables, not {type(graph).__name__}")
        self.ids = ids
        self.closest: Callable[[int, int, int], list[int]] = closest


class _NodeIds(Mapping[int, int]):
    """Read-only ``label -> node_id`` view of a DiGraph's node attributes."""

    __slots__ = ("_nodes",)

    def __init__(self, graph: nx.DiGraph) -> None:
        self._nodes = graph.nodes

    def __getitem__(self, label: int) -> int:
        return self._nodes[label]["node_id"]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._nodes)

    def __len__(self) -> int:
        return len(self._nodes)


def _index_for(graph: Graph, index: XorIndex | None) -> XorIndex:
    if index is not None:
        return index
    if isinstance(graph, KademliaTables):
        return XorIndex(graph.ids)
    return XorIndex(dict(graph.nodes(data="node_id")))


# ----------------------------------------------------------------------------------------------------------
# Lookups
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LookupTrace:
    """Outcome of one graph-level lookup.

    Attributes
    ----------
    method : str
        ``"greedy"`` or ``"iterative"``.
    source : int
        Label of the node that started the lookup.
    target_id : int
        The 160-bit id looked up.
    hops : int
        Greedy: forwarding steps. Iterative: rounds of (up to) α parallel queries, including the final
        rounds that only confirm the k closest (so at least ``ceil(k / alpha)``).
    messages : int
        Nodes queried (each query is one request/reply).
    path : tuple of int
        Greedy: the nodes visited, source first. Iterative: the queried nodes in query order.
    found : tuple of int
        Closest nodes known at the end, closest first (greedy: the end node only; iterative: up to k).
    expected : int
        Label of the globally closest node to ``target_id`` (among the nodes the lookup could reach).
    success : bool
        Whether ``found[0] == expected``.
    hops_to_found : int
        Hops after which ``found[0]`` was first known (0: it was in the source's table or is the source).
    """

    method: str
    source: int
    target_id: int
    hops: int
    messages: int
    path: tuple[int, ...]
    found: tuple[int, ...]
    expected: int
    success: bool
    hops_to_found: int

    def to_dict(self) -> dict[str, object]:
        """JSON-serialisable form (``target_id`` as 40 hex digits)."""
        out = asdict(self)
        out["target_id"] = id_to_hex(self.target_id)
        out["path"] = list(self.path)
        out["found"] = list(self.found)
        return out


def _greedy(
    ids: Sequence[int] | Mapping[int, int],
    closest: Callable[[int, int, int], list[int]],
    source: int,
    target: int,
    alpha: int,
) -> tuple[int, int, list[int], int, int]:
    """Return (hops, messages, path, end node, hops after which the end node was first known)."""
    if alpha == 1:
        current = source
        dist = ids[current] ^ target
        path = [current]
        while True:
            best, best_dist = current, dist
            for v in closest(current, target, 1):
                d = ids[v] ^ target
                if d < best_dist:
                    best, best_dist = v, d
            if best == current:
                return len(path) - 1, len(path) - 1, path, current, len(path) - 1
            current, dist = best, best_dist
            path.append(current)
    # Beam of width alpha: the alpha closest nodes known; consult the tables of the new ones each step.
    known = {source: ids[source] ^ target}
    learned = dict.fromkeys(known, 0)
    consulted = {source}
    for v in closest(source, target, alpha):
        if v not in known:
            known[v] = ids[v] ^ target
            learned[v] = 0
    frontier = heapq.nsmallest(alpha, known, key=known.__getitem__)
    path = [source]
    hops = messages = 0
    while True:
        fresh = [v for v in frontier if v not in consulted]
        if not fresh:
            return hops, messages, path, frontier[0], learned[frontier[0]]
        hops += 1
        for v in fresh:
            consulted.add(v)
            messages += 1
            for c in closest(v, target, alpha):
                if c not in known:
                    known[c] = ids[c] ^ target
                    learned[c] = hops
        frontier = heapq.nsmallest(alpha, known, key=known.__getitem__)
        path.append(frontier[0])


def greedy_xor_lookup(
    graph: Graph,
    source: int,
    target_id: int,
    *,
    alpha: int = 1,
    index: XorIndex | None = None,
) -> LookupTrace:
    """Greedy XOR routing: forward to the out-neighbour closest to ``target_id`` until none is closer.

    With ``alpha == 1`` this is plain greedy forwarding; ``hops == messages == len(path) - 1``. With
    ``alpha > 1`` it is a beam of width α: the α closest nodes known so far each contribute their contacts,
    until the beam stops changing (``path`` then lists the best node after each step). On complete tables
    (every non-empty bucket holds a contact) greedy forwarding always ends at the globally closest node and
    takes ``O(log n)`` steps.

    Parameters
    ----------
    graph : networkx.DiGraph or KademliaTables
        Overlay from :func:`p2p.sims.topology.kademlia_overlay` (nodes carry ``"node_id"``) or its compact form.
    source : int
        Label of the starting node.
    target_id : int
        Id looked up, in ``[0, 2**160)``.
    alpha : int
        Beam width (``>= 1``).
    index : XorIndex, optional
        Closest-node oracle over the graph's nodes; built (``O(n log n)``) when omitted, so pass one when
        running many lookups.

    Returns
    -------
    LookupTrace

    Raises
    ------
    p2p.errors.ConfigError
        If ``alpha`` or ``target_id`` is out of range.
    KeyError
        If ``source`` is not a node of the graph.

    References
    ----------
    Maymounkov & Mazières, IPTPS 2002, §2.1 (XOR metric), §3 (each step at least halves the distance
    in expectation, hence O(log n) steps).

    Examples
    --------
    >>> from p2p.sims.topology import kademlia_overlay
    >>> g = kademlia_overlay(500, k=8, seed=1)
    >>> greedy_xor_lookup(g, 0, g.nodes[42]["node_id"]).path[-1]
    42
    """
    _check(alpha >= 1, "alpha", "must be >= 1")
    _check(0 <= target_id < ID_SPACE, "target_id", "must be in [0, 2**160)")
    view = _View(graph)
    view.ids[source]  # noqa: B018 - KeyError for an unknown source
    hops, messages, path, end, learned = _greedy(view.ids, view.closest, source, target_id, alpha)
    expected = _index_for(graph, index).closest(target_id, 1)[0]
    return LookupTrace(
        "greedy", source, target_id, hops, messages, tuple(path), (end,), expected, end == expected, learned
    )


def _iterative(
    ids: Sequence[int] | Mapping[int, int],
    closest: Callable[[int, int, int], list[int]],
    source: int,
    target: int,
    k: int,
    alpha: int,
) -> tuple[int, list[int], list[tuple[int, int]], int]:
    """Return (rounds, queried nodes in order, shortlist of (distance, label), rounds to learn the closest)."""

    seen = {source}
    queried = {source}
    shortlist = [(ids[source] ^ target, source)]
    for v in closest(source, target, k):
        if v not in seen:
            seen.add(v)
            insort(shortlist, (ids[v] ^ target, v))
    del shortlist[k:]
    best, learned = shortlist[0][1], 0
    rounds = 0
    order: list[int] = []
    while True:
        batch = [v for _, v in shortlist if v not in queried][:alpha]
        if not batch:
            return rounds, order, shortlist, learned
        rounds += 1
        for v in batch:
            queried.add(v)
            order.append(v)
            for c in closest(v, target, k):
                if c not in seen:
                    seen.add(c)
                    d = ids[c] ^ target
                    if len(shortlist) < k or d < shortlist[-1][0]:
                        insort(shortlist, (d, c))
                        if len(shortlist) > k:
                            shortlist.pop()
        if shortlist[0][1] != best:
            best, learned = shortlist[0][1], rounds


def iterative_lookup(
    graph: Graph,
    source: int,
    target_id: int,
    k: int = 20,
    alpha: int = 3,
    *,
    index: XorIndex | None = None,
) -> LookupTrace:
    """Kademlia's iterative node lookup simulated on the graph, in synchronous rounds.

    The initiator seeds a shortlist with the ``k`` contacts of its own table closest to ``target_id`` (itself
    included, as already queried). Each round it queries the α closest shortlist members not yet queried; a
    queried node answers with the ``k`` contacts of its table closest to the target, which are merged into the
    shortlist (kept to the ``k`` closest seen). The lookup ends when the ``k`` closest nodes seen have all
    been queried. ``hops`` counts rounds, ``messages`` counts queried nodes. (The paper's refinement "if a
    round finds nothing closer, query all k closest unqueried" is subsumed: those are queried α at a time.)

    Parameters
    ----------
    graph : networkx.DiGraph or KademliaTables
        Overlay from :func:`p2p.sims.topology.kademlia_overlay` or its compact form.
    source : int
        Label of the initiating node.
    target_id : int
        Id looked up, in ``[0, 2**160)``.
    k : int
        Shortlist size and number of contacts a node returns (``>= 1``).
    alpha : int
        Parallel queries per round (``>= 1``).
    index : XorIndex, optional
        Closest-node oracle; built when omitted (pass one when running many lookups).

    Returns
    -------
    LookupTrace
        ``found`` is the final shortlist (up to ``k`` labels, closest first).

    Raises
    ------
    p2p.errors.ConfigError
        If ``k``, ``alpha`` or ``target_id`` is out of range.
    KeyError
        If ``source`` is not a node of the graph.

    References
    ----------
    Maymounkov & Mazières, IPTPS 2002, §2.3 (node lookup: α parallel FIND_NODE, shortlist of k, termination
    when the k closest have responded).

    Examples
    --------
    >>> from p2p.sims.topology import kademlia_tables
    >>> t = kademlia_tables(1000, k=20, seed=2)
    >>> trace = iterative_lookup(t, 0, 12345, k=20, alpha=3)
    >>> trace.success, trace.messages >= 20
    (True, True)
    """
    _check(k >= 1, "k", "must be >= 1")
    _check(alpha >= 1, "alpha", "must be >= 1")
    _check(0 <= target_id < ID_SPACE, "target_id", "must be in [0, 2**160)")
    view = _View(graph)
    view.ids[source]  # noqa: B018 - KeyError for an unknown source
    rounds, order, shortlist, learned = _iterative(view.ids, view.closest, source, target_id, k, alpha)
    expected = _index_for(graph, index).closest(target_id, 1)[0]
    found = tuple(v for _, v in shortlist)
    return LookupTrace(
        "iterative",
        source,
        target_id,
        rounds,
        len(order),
        tuple(order),
        found,
        expected,
        found[0] == expected,
        learned,
    )


# ----------------------------------------------------------------------------------------------------------
# Experiments
# ----------------------------------------------------------------------------------------------------------


def _summary(values: Sequence[float]) -> dict[str, float]:
    """mean, p50, p90, p99 and max of ``values`` (zeros when empty); shared by the scenarios."""
    if not len(values):
        return {"mean": 0.0, "p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0}
    arr = np.asarray(values, dtype=np.float64)
    return {
        "mean": float(arr.mean()),
        "p50": float(np.percentile(arr, 50)),
        "p90": float(np.percentile(arr, 90)),
        "p99": float(np.percentile(arr, 99)),
        "max": float(arr.max()),
    }


def _run_lookups(
    view: _View,
    labels: Sequence[int],
    index: XorIndex,
    lookups: int,
    k: int,
    alpha: int,
    method: str,
    rng: random.Random,
) -> dict[str, object]:
    hops: list[int] = []
    to_found: list[int] = []
    messages: list[int] = []
    successes = 0
    ids, closest = view.ids, view.closest
    for _ in range(lookups):
        source = labels[rng.randrange(len(labels))]
        target = random_id(rng)
        if method == "iterative":
            h, order, shortlist, learned = _iterative(ids, closest, source, target, k, alpha)
            m, end = len(order), shortlist[0][1]
        else:
            h, m, _, end, learned = _greedy(ids, closest, source, target, alpha)
        hops.append(h)
        to_found.append(learned)
        messages.append(m)
        successes += end == index.closest(target, 1)[0]
    histogram = np.bincount(np.asarray(hops, dtype=np.int64)).tolist() if hops else []
    return {
        "hops": _summary(hops),
        "hops_histogram": histogram,
        "hops_to_closest": _summary(to_found),
        "messages": _summary(messages),
        "success_rate": successes / lookups if lookups else None,
    }


def lookup_experiment(
    n: int,
    lookups: int,
    k: int = 20,
    alpha: int = 3,
    seed: int = 0,
    *,
    method: str = "iterative",
) -> dict[str, object]:
    """Build an ``n``-node Kademlia overlay and run ``lookups`` lookups of uniformly random ids.

    This is the graph engine of ``p2p sim run kademlia_lookup``. Sources are uniformly random nodes; targets
    are uniformly random 160-bit ids; success means the lookup's closest node is the globally closest one.

    Parameters
    ----------
    n : int
        Number of nodes (``>= 1``).
    lookups : int
        Number of lookups (``>= 0``).
    k : int
        Bucket capacity and shortlist size.
    alpha : int
        Parallel queries per round (iterative) or beam width (greedy).
    seed : int
        Seed: the overlay is ``kademlia_tables(n, k, seed)``; sources and targets come from a separate
        ``random.Random`` derived from ``seed``.
    method : {"iterative", "greedy"}
        Lookup algorithm.

    Returns
    -------
    dict
        JSON-serialisable: ``engine``, ``n``, ``k``, ``alpha``, ``seed``, ``lookups``, ``method``, ``edges``,
        ``hops``, ``hops_to_closest`` (hops after which the final closest
        node was known) and ``messages`` (each ``mean``/``p50``/``p90``/``p99``/``max``), ``hops_histogram``
        (counts by hop count), ``success_rate``, ``build_seconds``, ``lookup_seconds``, ``wall_seconds``.

    Raises
    ------
    p2p.errors.ConfigError
        If a parameter is out of range.

    References
    ----------
    Maymounkov & Mazières, IPTPS 2002, §2.3 (lookup), §3 (hop bound ``log2(n)`` in expectation, with
    ``ceil(log2 n)/b`` rounds for ``b``-bit digits).

    Examples
    --------
    >>> r = lookup_experiment(500, 50, k=20, alpha=3, seed=1)
    >>> r["success_rate"], r["hops"]["max"] <= 9
    (1.0, True)
    """
    _check_seed(seed)
    _check(lookups >= 0, "lookups", "must be >= 0")
    _check(k >= 1, "k", "must be >= 1")
    _check(alpha >= 1, "alpha", "must be >= 1")
    _check(method in ("iterative", "greedy"), "method", "must be 'iterative' or 'greedy'")
    start = time.perf_counter()
    tables = kademlia_tables(n, k, seed)
    index = XorIndex(tables.ids)
    built = time.perf_counter()
    rng = random.Random(f"p2p.sims.graphsim.lookups:{seed}")
    view = _View(tables)
    stats = _run_lookups(view, range(n), index, lookups, k, alpha, method, rng)
    done = time.perf_counter()
    return {
        "engine": "graph",
        "protocol": "kademlia",
        "method": method,
        "n": n,
        "k": k,
        "alpha": alpha,
        "seed": seed,
        "lookups": lookups,
        "edges": tables.num_edges,
        **stats,
        "build_seconds": built - start,
        "lookup_seconds": done - built,
        "wall_seconds": done - start,
    }


# ----------------------------------------------------------------------------------------------------------
# Connectivity
# ----------------------------------------------------------------------------------------------------------


def _reach(indptr: np.ndarray, indices: np.ndarray, start: int, n: int) -> np.ndarray:
    """Boolean mask of the nodes reachable from ``start`` (vectorised BFS over CSR)."""
    seen = np.zeros(n, dtype=bool)
    seen[start] = True
    frontier = np.array([start], dtype=np.int64)
    while frontier.size:
        counts = indptr[frontier + 1] - indptr[frontier]
        total = int(counts.sum())
        if not total:
            break
        offs = np.repeat(indptr[frontier] - (np.cumsum(counts) - counts), counts) + np.arange(total)
        nxt = np.unique(indices[offs])
        nxt = nxt[~seen[nxt]]
        seen[nxt] = True
        frontier = nxt
    return seen


def _csr(src: np.ndarray, dst: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(src, kind="stable")
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
    return indptr, dst[order]


def _tarjan_largest(indptr: np.ndarray, indices: np.ndarray, n: int) -> int:
    """Size of the largest strongly connected component (iterative Tarjan)."""
    ptr = indptr.tolist()
    adj = indices.tolist()
    index = [-1] * n
    low = [0] * n
    on_stack = [False] * n
    stack: list[int] = []
    counter = 0
    best = 0
    for root in range(n):
        if index[root] != -1:
            continue
        work = [(root, ptr[root])]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack[root] = True
        while work:
            v, e = work[-1]
            end = ptr[v + 1]
            while e < end:
                w = adj[e]
                e += 1
                if index[w] == -1:
                    work[-1] = (v, e)
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack[w] = True
                    work.append((w, ptr[w]))
                    break
                if on_stack[w] and index[w] < low[v]:
                    low[v] = index[w]
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    if low[v] < low[parent]:
                        low[parent] = low[v]
                if low[v] == index[v]:
                    size = 0
                    while True:
                        w = stack.pop()
                        on_stack[w] = False
                        size += 1
                        if w == v:
                            break
                    best = max(best, size)
    return best


def _largest_wcc(src: np.ndarray, dst: np.ndarray, n: int) -> int:
    """Size of the largest weakly connected component (min-label propagation with pointer jumping)."""
    if n == 0:
        return 0
    label = np.arange(n, dtype=np.int64)
    while True:
        new = label.copy()
        m = np.minimum(label[src], label[dst])
        np.minimum.at(new, src, m)
        np.minimum.at(new, dst, m)
        new = new[new]
        if np.array_equal(new, label):
            break
        label = new
    return int(np.bincount(label).max())


def largest_components(graph: Graph, alive: Sequence[bool] | np.ndarray | None = None) -> dict[str, int]:
    """Sizes of the largest strongly and weakly connected components of the (surviving) overlay.

    The largest SCC is found by forward/backward reachability from the highest-degree survivor; when that
    component holds more than half the survivors it is necessarily the largest, otherwise an iterative
    Tarjan pass over the whole graph decides. The largest WCC uses vectorised label propagation.

    Parameters
    ----------
    graph : networkx.DiGraph or KademliaTables
        Overlay with nodes labelled ``0..n-1``.
    alive : sequence of bool, optional
        Survivor mask indexed by label; every node when omitted.

    Returns
    -------
    dict
        ``{"nodes": survivors, "largest_scc": int, "largest_wcc": int}``.

    References
    ----------
    Tarjan, "Depth-first search and linear graph algorithms", SIAM J. Computing 1(2) 1972 (SCC algorithm).
    Fleischer, Hendrickson & Pinar, "On identifying strongly connected components in parallel", IPDPS 2000
    workshops (forward-backward pivot).

    Examples
    --------
    >>> from p2p.sims.topology import kademlia_tables
    >>> largest_components(kademlia_tables(300, k=5, seed=0))
    {'nodes': 300, 'largest_scc': 300, 'largest_wcc': 300}
    """
    tables = graph if isinstance(graph, KademliaTables) else KademliaTables.from_networkx(graph)
    n = tables.n
    keep = np.ones(n, dtype=bool) if alive is None else np.asarray(alive, dtype=bool)
    _check(keep.shape == (n,), "alive", "must have one flag per node")
    survivors = int(keep.sum())
    if survivors == 0:
        return {"nodes": 0, "largest_scc": 0, "largest_wcc": 0}
    src = np.repeat(np.arange(n, dtype=np.int64), np.diff(tables.indptr))
    dst = tables.indices.astype(np.int64)
    mask = keep[src] & keep[dst]
    relabel = np.cumsum(keep) - 1
    src, dst = relabel[src[mask]], relabel[dst[mask]]
    fwd_ptr, fwd_idx = _csr(src, dst, survivors)
    bwd_ptr, bwd_idx = _csr(dst, src, survivors)
    degree = np.diff(fwd_ptr) + np.diff(bwd_ptr)
    pivot = int(np.argmax(degree))
    scc = int((_reach(fwd_ptr, fwd_idx, pivot, survivors) & _reach(bwd_ptr, bwd_idx, pivot, survivors)).sum())
    if 2 * scc <= survivors:
        scc = _tarjan_largest(fwd_ptr, fwd_idx, survivors)
    return {"nodes": survivors, "largest_scc": scc, "largest_wcc": _largest_wcc(src, dst, survivors)}


def removal_resilience(
    graph: Graph,
    fractions: Sequence[float],
    *,
    mode: str = "random",
    lookups: int = 1000,
    seed: int = 0,
    k: int | None = None,
    alpha: int = 3,
) -> list[dict[str, object]]:
    """Remove a growing fraction of nodes and measure lookups and connectivity among the survivors.

    Removed nodes vanish with their edges (survivors' tables keep holes, nothing is repaired). The removal
    sets are nested: fraction ``f`` removes the first ``round(f * n)`` nodes of one order, a seeded random
    permutation (``mode="random"``, failures) or decreasing in-degree in the intact overlay, ties by label
    (``mode="targeted"``, attack). For each fraction, ``lookups`` iterative and greedy lookups run from random
    survivors to random ids; success means reaching the closest *surviving* node.

    Parameters
    ----------
    graph : networkx.DiGraph or KademliaTables
        Overlay with nodes labelled ``0..n-1`` carrying ``"node_id"``.
    fractions : sequence of float
        Fractions to remove, each in ``[0, 1)``.
    mode : {"random", "targeted"}
        Removal order.
    lookups : int
        Lookups per fraction.
    seed : int
        Seed of the removal order and the lookups.
    k : int, optional
        Shortlist size; defaults to the overlay's bucket size.
    alpha : int
        Parallel queries per round of the iterative lookup.

    Returns
    -------
    list of dict
        One per fraction: ``fraction``, ``removed``, ``survivors``, ``success_rate`` (iterative),
        ``greedy_success_rate``, ``hops_mean``, ``messages_mean``, ``largest_scc``, ``largest_scc_fraction``,
        ``largest_wcc``, ``largest_wcc_fraction`` (fractions of the survivors).

    Raises
    ------
    p2p.errors.ConfigError
        If a fraction, ``mode``, ``lookups``, ``k`` or ``alpha`` is out of range.

    References
    ----------
    Albert, Jeong & Barabási, "Error and attack tolerance of complex networks", Nature 406 (2000) (random
    versus highest-degree-first removal). Maymounkov & Mazières, IPTPS 2002, §2.2 (k contacts per bucket for
    resilience to failures).

    Examples
    --------
    >>> from p2p.sims.topology import kademlia_tables
    >>> rows = removal_resilience(kademlia_tables(400, k=4, seed=0), [0.0, 0.5], lookups=100, seed=1)
    >>> rows[0]["success_rate"], rows[1]["survivors"]
    (1.0, 200)
    """
    _check_seed(seed)
    _check(mode in ("random", "targeted"), "mode", "must be 'random' or 'targeted'")
    _check(lookups >= 1, "lookups", "must be >= 1")
    _check(alpha >= 1, "alpha", "must be >= 1")
    _check(all(0.0 <= f < 1.0 for f in fractions), "fractions", "each must be in [0, 1)")
    tables = graph if isinstance(graph, KademliaTables) else KademliaTables.from_networkx(graph)
    k = tables.k if k is None else k
    _check(k >= 1, "k", "must be >= 1")
    n = tables.n
    rng = random.Random(f"p2p.sims.graphsim.removal:{seed}")
    if mode == "random":
        order = list(range(n))
        rng.shuffle(order)
    else:
        in_degree = np.bincount(tables.indices, minlength=n)
        order = sorted(range(n), key=lambda u: (-int(in_degree[u]), u))
    rows: list[dict[str, object]] = []
    for fraction in fractions:
        removed = round(fraction * n)
        alive_np = np.ones(n, dtype=bool)
        alive_np[order[:removed]] = False
        alive = alive_np.tolist()
        survivors = [u for u in range(n) if alive[u]]
        index = XorIndex({u: tables.ids[u] for u in survivors})
        view = _View(tables, alive)
        lookup_rng = random.Random(f"p2p.sims.graphsim.removal:{seed}:{fraction!r}")
        iterative = _run_lookups(view, survivors, index, lookups, k, alpha, "iterative", lookup_rng)
        lookup_rng = random.Random(f"p2p.sims.graphsim.removal:{seed}:{fraction!r}")
        greedy = _run_lookups(view, survivors, index, lookups, k, 1, "greedy", lookup_rng)
        comps = largest_components(tables, alive_np)
        rows.append(
            {
                "fraction": fraction,
                "mode": mode,
                "removed": removed,
                "survivors": len(survivors),
                "success_rate": iterative["success_rate"],
                "greedy_success_rate": greedy["success_rate"],
                "hops_mean": iterative["hops"]["mean"],  # type: ignore[index]
                "messages_mean": iterative["messages"]["mean"],  # type: ignore[index]
                "largest_scc": comps["largest_scc"],
                "largest_scc_fraction": comps["largest_scc"] / len(survivors),
                "largest_wcc": comps["largest_wcc"],
                "largest_wcc_fraction": comps["largest_wcc"] / len(survivors),
            }
        )
    return rows
