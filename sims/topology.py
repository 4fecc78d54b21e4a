"""Seeded overlay topologies as networkx graphs (graph-level simulation, DESIGN.md §9).

Every builder takes an ``int`` seed and draws only from its own ``random.Random(seed)`` (or a numpy
``Generator`` derived from it), never from the global generator, so the same seed gives the same graph on
every run and platform. Nodes are labelled ``0..n-1``.

Unstructured neighbour graphs (:func:`random_regular`, :func:`erdos_renyi`, :func:`barabasi_albert`,
:func:`watts_strogatz`) and the super-peer graph (:func:`two_tier`) are undirected. The Kademlia overlay
(:func:`kademlia_overlay`) is a directed graph with one edge ``u -> v`` per routing-table contact; its compact
form :class:`KademliaTables` (CSR arrays) is what the graph-level lookups use at 10^5–10^6 nodes, where a
networkx graph of tens of millions of edges costs gigabytes.

References
----------
Maymounkov & Mazières, "Kademlia: A Peer-to-peer Information System Based on the XOR Metric", IPTPS 2002,
§2.1 (XOR metric) and §2.2 (node state: k-buckets).
"""

from __future__ import annotations

import gc
import random
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx
import numpy as np

from p2p.errors import ConfigError
from p2p.ids import ID_BITS, ID_SPACE, id_to_hex, random_id

__all__ = [
    "random_regular",
    "erdos_renyi",
    "barabasi_albert",
    "watts_strogatz",
    "two_tier",
    "KademliaTables",
    "kademlia_tables",
    "kademlia_overlay",
    "overlay_from_tables",
    "write_graphml",
]

_INT64_MAX = (1 << 63) - 1


def _check(cond: bool, name: str, why: str) -> None:
    if not cond:
        raise ConfigError(f"{name}: {why}")


def _check_seed(seed: object) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"seed: must be an int, got {type(seed).__name__}")


# ----------------------------------------------------------------------------------------------------------
# Unstructured and super-peer graphs
# ----------------------------------------------------------------------------------------------------------


def random_regular(n: int, degree: int, seed: int = 0) -> nx.Graph:
    """Uniform-ish random ``degree``-regular graph on ``n`` nodes (an unstructured neighbour overlay).

    Parameters
    ----------
    n : int
        Number of nodes, labelled ``0..n-1``.
    degree : int
        Degree of every node; ``0 <= degree < n`` and ``n * degree`` even.
    seed : int
        Seed of the generator.

    Returns
    -------
    networkx.Graph
        Undirected graph; ``graph.graph`` records the builder and its parameters.

    Raises
    ------
    p2p.errors.ConfigError
        If ``n``, ``degree`` or ``seed`` is invalid (the message names the field).

    References
    ----------
    Steger & Wormald, "Generating random regular graphs quickly", Combinatorics, Probability and Computing
    8 (1999) (the pairing algorithm networkx implements).

    Examples
    --------
    >>> g = random_regular(10, 3, seed=1)
    >>> sorted({d for _, d in g.degree()}), g.number_of_edges()
    ([3], 15)
    """
    _check_seed(seed)
    _check(n >= 1, "n", "must be >= 1")
    _check(0 <= degree < n, "degree", "must be in 0..n-1")
    _check(n * degree % 2 == 0, "degree", "n * degree must be even")
    graph = nx.random_regular_graph(degree, n, seed=random.Random(seed))
    graph.graph.update(builder="random_regular", n=n, degree=degree, seed=seed)
    return graph


def erdos_renyi(n: int, mean_degree: float, seed: int = 0) -> nx.Graph:
    """Erdős–Rényi G(n, p) graph with ``p = mean_degree / (n - 1)``.

    Uses :func:`networkx.fast_gnp_random_graph` (O(n + m) expected time), so it scales to 10^6 nodes.

    Parameters
    ----------
    n : int
        Number of nodes, labelled ``0..n-1``.
    mean_degree : float
        Expected degree of a node, ``0 <= mean_degree <= n - 1``.
    seed : int
        Seed of the generator.

    Returns
    -------
    networkx.Graph
        Undirected graph.

    Raises
    ------
    p2p.errors.ConfigError
        If a parameter is out of range.

    References
    ----------
    Erdős & Rényi, "On random graphs I", Publicationes Mathematicae 6 (1959). Batagelj & Brandes, "Efficient
    generation of large random networks", Physical Review E 71 (2005) (the G(n, p) algorithm of fast_gnp).

    Examples
    --------
    >>> erdos_renyi(1000, 8.0, seed=3).number_of_nodes()
    1000
    """
    _check_seed(seed)
    _check(n >= 1, "n", "must be >= 1")
    _check(0 <= mean_degree <= max(n - 1, 0), "mean_degree", "must be in [0, n - 1]")
    p = mean_degree / (n - 1) if n > 1 else 0.0
    graph = nx.fast_gnp_random_graph(n, p, seed=random.Random(seed))
    graph.graph.update(builder="erdos_renyi", n=n, mean_degree=mean_degree, seed=seed)
    return graph


def barabasi_albert(n: int, m: int, seed: int = 0) -> nx.Graph:
    """Barabási–Albert preferential-attachment graph (power-law degrees, as in Gnutella-like overlays).

    Parameters
    ----------
    n : int
        Number of nodes, labelled ``0..n-1``.
    m : int
        Edges each new node attaches with; ``1 <= m < n``.
    seed : int
        Seed of the generator.

    Returns
    -------
    networkx.Graph
        Undirected graph with ``(n - m) * m`` edges.

    Raises
    ------
    p2p.errors.ConfigError
        If a parameter is out of range.

    References
    ----------
    Barabási & Albert, "Emergence of scaling in random networks", Science 286 (1999), model description.

    Examples
    --------
    >>> barabasi_albert(100, 2, seed=0).number_of_edges()
    196
    """
    _check_seed(seed)
    _check(n >= 2, "n", "must be >= 2")
    _check(1 <= m < n, "m", "must be in 1..n-1")
    graph = nx.barabasi_albert_graph(n, m, seed=random.Random(seed))
    graph.graph.update(builder="barabasi_albert", n=n, m=m, seed=seed)
    return graph


def watts_strogatz(n: int, k: int, p: float, seed: int = 0) -> nx.Graph:
    """Watts–Strogatz small-world graph: a ring lattice of degree ``k`` with rewiring probability ``p``.

    Parameters
    ----------
    n : int
        Number of nodes, labelled ``0..n-1``.
    k : int
        Each node is joined to its ``k`` nearest ring neighbours (``k // 2`` on each side); ``1 <= k < n``.
    p : float
        Probability of rewiring each edge, in ``[0, 1]``.
    seed : int
        Seed of the generator.

    Returns
    -------
    networkx.Graph
        Undirected graph with ``n * (k // 2)`` edges.

    Raises
    ------
    p2p.errors.ConfigError
        If a parameter is out of range.

    References
    ----------
    Watts & Strogatz, "Collective dynamics of 'small-world' networks", Nature 393 (1998), Fig. 1 procedure.

    Examples
    --------
    >>> watts_strogatz(100, 4, 0.1, seed=0).number_of_edges()
    200
    """
    _check_seed(seed)
    _check(n >= 2, "n", "must be >= 2")
    _check(1 <= k < n, "k", "must be in 1..n-1")
    _check(0.0 <= p <= 1.0, "p", "must be in [0, 1]")
    graph = nx.watts_strogatz_graph(n, k, p, seed=random.Random(seed))
    graph.graph.update(builder="watts_strogatz", n=n, k=k, p=p, seed=seed)
    return graph


def two_tier(
    n_leaves: int,
    n_super: int,
    super_degree: int,
    seed: int = 0,
    *,
    redundancy: int = 1,
    core: str = "regular",
) -> nx.Graph:
    """Super-peer graph: a random core of super-peers, every leaf attached to ``redundancy`` super-peers.

    Super-peers are nodes ``0..n_super-1``, leaves are ``n_super..n_super+n_leaves-1``. The core is a random
    ``super_degree``-regular graph (``core="regular"``) or an Erdős–Rényi graph of mean degree
    ``super_degree`` (``core="er"``). Leaves are spread evenly: the leaf-to-super assignment walks a shuffled
    order of super-peers round-robin, so every super-peer serves ``floor`` or ``ceil`` of
    ``n_leaves * redundancy / n_super`` leaves, and a leaf's ``redundancy`` super-peers are distinct.

    Parameters
    ----------
    n_leaves : int
        Number of leaf peers (``>= 0``).
    n_super : int
        Number of super-peers (``>= 1``).
    super_degree : int
        Degree (``"regular"``) or mean degree (``"er"``) of the super-peer core.
    seed : int
        Seed of the generator.
    redundancy : int
        Super-peers per leaf (the "k-redundant" super-peer design), ``1 <= redundancy <= n_super``.
    core : {"regular", "er"}
        Model of the super-peer core.

    Returns
    -------
    networkx.Graph
        Undirected graph; node attribute ``"tier"`` is ``"super"`` or ``"leaf"``.

    Raises
    ------
    p2p.errors.ConfigError
        If a parameter is out of range.

    References
    ----------
    Yang & Garcia-Molina, "Designing a Super-Peer Network", ICDE 2003 (super-peer clusters and k-redundancy).

    Examples
    --------
    >>> g = two_tier(90, 10, 3, seed=0, redundancy=2)
    >>> sum(1 for _, t in g.nodes(data="tier") if t == "super"), g.degree(50)
    (10, 2)
    """
    _check_seed(seed)
    _check(n_leaves >= 0, "n_leaves", "must be >= 0")
    _check(n_super >= 1, "n_super", "must be >= 1")
    _check(1 <= redundancy <= n_super, "redundancy", "must be in 1..n_super")
    _check(core in ("regular", "er"), "core", "must be 'regular' or 'er'")
    rng = random.Random(seed)
    core_seed = rng.getrandbits(63)
    if core == "regular":
        _check(0 <= super_degree < n_super, "super_degree", "must be in 0..n_super-1")
        _check(n_super * super_degree % 2 == 0, "super_degree", "n_super * super_degree must be even")
        graph = nx.random_regular_graph(super_degree, n_super, seed=random.Random(core_seed))
    else:
        _check(0 <= super_degree <= max(n_super - 1, 0), "super_degree", "must be in [0, n_super - 1]")
        p = super_degree / (n_super - 1) if n_super > 1 else 0.0
        graph = nx.fast_gnp_random_graph(n_super, p, seed=random.Random(core_seed))
    graph.add_nodes_from(range(n_super))
    nx.set_node_attributes(graph, "super", "tier")
    order = list(range(n_super))
    rng.shuffle(order)
    slot = 0
    for leaf in range(n_super, n_super + n_leaves):
        graph.add_node(leaf, tier="leaf")
        for _ in range(redundancy):
            graph.add_edge(leaf, order[slot % n_super])
            slot += 1
    graph.graph.update(
        builder="two_tier",
        n_leaves=n_leaves,
        n_super=n_super,
        super_degree=super_degree,
        redundancy=redundancy,
        core=core,
        seed=seed,
    )
    return graph


# ----------------------------------------------------------------------------------------------------------
# Kademlia overlay
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class KademliaTables:
    """Converged Kademlia routing tables of a whole network in compressed sparse row (CSR) form.

    Node ``u`` (a label in ``0..n-1``) has id ``ids[u]`` and contacts
    ``indices[indptr[u]:indptr[u + 1]]`` (labels), grouped by bucket from the farthest bucket (159) down,
    with ``buckets[e]`` the bucket index of contact ``e``. This is the form the graph-level lookups run on;
    :meth:`to_networkx` gives the :class:`networkx.DiGraph` view.

    Attributes
    ----------
    ids : tuple of int
        160-bit node id of each label.
    k : int
        Bucket capacity.
    indptr : numpy.ndarray
        ``int64`` array of length ``n + 1``.
    indices : numpy.ndarray
        ``int32`` array of contact labels, length = number of edges.
    buckets : numpy.ndarray
        ``int16`` bucket index of each contact (non-increasing along each row).
    seed : int or None
        Seed the tables were built with (None when converted from a graph).
    """

    ids: tuple[int, ...]
    k: int
    indptr: np.ndarray = field(repr=False)
    indices: np.ndarray = field(repr=False)
    buckets: np.ndarray = field(repr=False)
    seed: int | None = None

    @property
    def n(self) -> int:
        """Number of nodes."""
        return len(self.ids)

    @property
    def num_edges(self) -> int:
        """Number of routing-table entries (directed edges)."""
        return int(self.indices.shape[0])

    def contacts(self, node: int) -> list[int]:
        """Contact labels of ``node`` (farthest bucket first)."""
        return self.indices[self.indptr[node] : self.indptr[node + 1]].tolist()

    def to_networkx(self) -> nx.DiGraph:
        """Return the overlay as a :class:`networkx.DiGraph` (see :func:`kademlia_overlay`).

        Costs roughly 150–200 bytes per edge: about 5 GB for 100,000 nodes with ``k = 20``.
        """
        graph = nx.DiGraph(kind="kademlia", n=self.n, k=self.k, seed=self.seed)
        labels = list(range(self.n))  # shared int objects: one per node, not one per edge endpoint
        graph.add_nodes_from((u, {"node_id": i, "node_id_hex": id_to_hex(i)}) for u, i in enumerate(self.ids))
        indptr = self.indptr.tolist()
        # Millions of new edge dicts trigger the cyclic collector again and again (about 25% of the time);
        # nothing built here is cyclic garbage, so pause it.
        collecting = gc.isenabled()
        gc.disable()
        try:
            for u in labels:
                row = self.indices[indptr[u] : indptr[u + 1]].tolist()
                graph.add_edges_from((u, labels[v]) for v in row)
        finally:
            if collecting:
                gc.enable()
        return graph

    @classmethod
    def from_networkx(cls, graph: nx.DiGraph, k: int | None = None) -> KademliaTables:
        """Build the compact form of a directed overlay whose nodes carry a ``"node_id"`` attribute.

        Nodes must be labelled ``0..n-1`` (as every builder here does). Each row is ordered by bucket, farthest
        first (stable within a bucket), as the lookups expect.

        Raises
        ------
        p2p.errors.ConfigError
            If the labels are not ``0..n-1`` or a node lacks ``"node_id"``.
        """
        n = graph.number_of_nodes()
        _check(set(graph.nodes) == set(range(n)), "graph", "nodes must be labelled 0..n-1")
        ids = []
        for u in range(n):
            node_id = graph.nodes[u].get("node_id")
            _check(isinstance(node_id, int), "graph", f"node {u} has no int 'node_id' attribute")
            ids.append(node_id)
        succ = graph.succ
        counts = np.fromiter((len(succ[u]) for u in range(n)), dtype=np.int64, count=n)
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        total = int(indptr[-1])
        indices = np.fromiter((v for u in range(n) for v in succ[u]), dtype=np.int32, count=total)
        buckets = np.fromiter(
            ((ids[u] ^ ids[v]).bit_length() - 1 for u in range(n) for v in succ[u]),
            dtype=np.int16,
            count=total,
        )
        src = np.repeat(np.arange(n, dtype=np.int64), counts)
        perm = np.argsort(src * 256 + (255 - buckets), kind="stable")
        if k is None:
            k = int(graph.graph.get("k", 20))
        return cls(tuple(ids), k, indptr, indices[perm], buckets[perm], graph.graph.get("seed"))


def _bucket_ranges(sorted_ids: Sequence[int]) -> tuple[list[int], list[int], list[int], list[int]]:
    """For each position and each non-empty bucket: (position, bucket, first position, size).

    The ids in bucket ``i`` of ``x`` share the top ``159 - i`` bits with ``x`` and differ at bit ``i``, so they
    form a contiguous run of the sorted ids. Walking the bits from the top, the run of ids sharing the prefix
    with ``x`` halves each step until ``x`` is alone: about ``log2(n)`` bisections per node.
    """
    n = len(sorted_ids)
    pos_out: list[int] = []
    bucket_out: list[int] = []
    lo_out: list[int] = []
    size_out: list[int] = []
    for p in range(n):
        x = sorted_ids[p]
        lo, hi = 0, n
        bit = ID_BITS - 1
        while hi - lo > 1:
            half = 1 << bit
            mid = bisect_left(sorted_ids, ((x >> bit) | 1) << bit, lo, hi)
            if x & half:
                if mid > lo:
                    pos_out.append(p)
                    bucket_out.append(bit)
                    lo_out.append(lo)
                    size_out.append(mid - lo)
                lo = mid
            else:
                if hi > mid:
                    pos_out.append(p)
                    bucket_out.append(bit)
                    lo_out.append(mid)
                    size_out.append(hi - mid)
                hi = mid
            bit -= 1
    return pos_out, bucket_out, lo_out, size_out


def _sample_offsets(sizes: np.ndarray, k: int, gen: np.random.Generator) -> np.ndarray:
    """Uniform k-subsets of ``range(size)`` for every row, vectorised Floyd sampling (exact, no rejection)."""
    rows = sizes.shape[0]
    chosen = np.empty((rows, k), dtype=np.int64)
    for step in range(k):
        upper = sizes - k + step  # draw in 0..upper inclusive
        pick = gen.integers(0, upper + 1)
        if step:
            dup = (chosen[:, :step] == pick[:, None]).any(axis=1)
            pick = np.where(dup, upper, pick)
        chosen[:, step] = pick
    return chosen


def kademlia_tables(
    n: int, k: int = 20, seed: int = 0, *, ids: Sequence[int] | None = None
) -> KademliaTables:
    """Build the converged routing tables of an ``n``-node Kademlia network in compact CSR form.

    Same model as :func:`kademlia_overlay` (which is ``kademlia_tables(...).to_networkx()``) without the
    networkx graph: about 20 bytes per edge instead of about 180.

    Parameters
    ----------
    n : int
        Number of nodes (``>= 1``); ignored when ``ids`` is given (except that it must equal ``len(ids)``).
    k : int
        Bucket capacity (``>= 1``).
    seed : int
        Seed: ids come from ``random.Random(seed)`` via :func:`p2p.ids.random_id`, the choice of contacts
        from a numpy generator seeded from the same ``Random``.
    ids : sequence of int, optional
        Distinct 160-bit ids; node ``u`` gets ``ids[u]``.

    Returns
    -------
    KademliaTables

    Raises
    ------
    p2p.errors.ConfigError
        If ``n`` or ``k`` is out of range, or ``ids`` has duplicates, out-of-range values or the wrong length.

    References
    ----------
    Maymounkov & Mazières, IPTPS 2002, §2.2 (k-buckets). Bentley & Floyd, "Programming pearls: a sample of
    brilliance", CACM 30(9) 1987 (the sampling algorithm).

    Examples
    --------
    >>> t = kademlia_tables(200, k=4, seed=1)
    >>> t.n, t.num_edges == len(t.indices)
    (200, True)
    """
    _check_seed(seed)
    _check(k >= 1, "k", "must be >= 1")
    rng = random.Random(seed)
    if ids is None:
        _check(n >= 1, "n", "must be >= 1")
        id_list = [random_id(rng) for _ in range(n)]
        while len(set(id_list)) != n:  # pragma: no cover - probability ~ n^2 / 2^161
            id_list = [random_id(rng) for _ in range(n)]
    else:
        id_list = [int(i) for i in ids]
        _check(len(id_list) == n, "ids", f"has {len(id_list)} ids but n is {n}")
        _check(n >= 1, "n", "must be >= 1")
        _check(all(0 <= i < ID_SPACE for i in id_list), "ids", "every id must be in [0, 2**160)")
        _check(len(set(id_list)) == n, "ids", "must be distinct")
    gen = np.random.default_rng(rng.getrandbits(64))

    order = sorted(range(n), key=id_list.__getitem__)  # order[position] = label
    sorted_ids = [id_list[u] for u in order]
    pos, bucket, lo, size = _bucket_ranges(sorted_ids)
    pos_a = np.asarray(pos, dtype=np.int64)
    bucket_a = np.asarray(bucket, dtype=np.int64)
    lo_a = np.asarray(lo, dtype=np.int64)
    size_a = np.asarray(size, dtype=np.int64)

    # Edges come out grouped by (sorted position, bucket descending): one block of min(size, k) per bucket.
    count = np.minimum(size_a, k)
    block = np.cumsum(count) - count
    total = int(count.sum())
    dst_pos = np.empty(total, dtype=np.int64)
    small = size_a <= k
    # Buckets with at most k members: every member is a contact.
    s_count = count[small]
    within = np.arange(int(s_count.sum())) - np.repeat(np.cumsum(s_count) - s_count, s_count)
    dst_pos[np.repeat(block[small], s_count) + within] = np.repeat(lo_a[small], s_count) + within
    # Buckets with more than k members: a uniform random k-subset.
    big = ~small
    offsets = _sample_offsets(size_a[big], k, gen)
    slots = block[big][:, None] + np.arange(k)
    dst_pos[slots.ravel()] = (lo_a[big][:, None] + offsets).ravel()
    bkt_pos = np.repeat(bucket_a, count)

    # Rows are in sorted-id order; permute them into label order (no sort needed).
    order_a = np.asarray(order, dtype=np.int64)
    row_count = np.bincount(pos_a, weights=count, minlength=n).astype(np.int64)
    row_start = np.zeros(n, dtype=np.int64)
    np.cumsum(row_count[:-1], out=row_start[1:])
    position_of = np.empty(n, dtype=np.int64)
    position_of[order_a] = np.arange(n)
    counts_by_label = row_count[position_of]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts_by_label, out=indptr[1:])
    gather = np.repeat(row_start[position_of] - indptr[:-1], counts_by_label) + np.arange(total)
    dst = order_a[dst_pos[gather]]
    bkt = bkt_pos[gather]
    return KademliaTables(
        ids=tuple(id_list),
        k=k,
        indptr=indptr,
        indices=dst.astype(np.int32),
        buckets=bkt.astype(np.int16),
        seed=seed,
    )


def kademlia_overlay(n: int, k: int = 20, seed: int = 0, *, ids: Sequence[int] | None = None) -> nx.DiGraph:
    """Directed overlay of a converged ``n``-node Kademlia network: one edge ``u -> v`` per contact.

    The id model: ``n`` uniformly random 160-bit ids (or ``ids``). Every node has a fully populated,
    converged routing table (paper §2.2): for each of its non-empty buckets ``i`` (the ids at XOR distance in
    ``[2**i, 2**(i+1))``) it holds ``min(k, size)`` contacts, chosen **uniformly at random** among the bucket's
    members. (A real node prefers its longest-lived contacts, which in a static network is an arbitrary
    subset; random choice models that. The k *closest* members would be a different, over-optimistic model.)

    Runs in ``O(n log n)`` bisections plus vectorised sampling: about 10 s and a few GB for ``n = 100,000``
    (the networkx graph dominates; use :func:`kademlia_tables` to skip it).

    Parameters
    ----------
    n : int
        Number of nodes, labelled ``0..n-1``.
    k : int
        Bucket capacity.
    seed : int
        Seed of the generator.
    ids : sequence of int, optional
        Distinct ids to use instead of random ones; node ``u`` gets ``ids[u]``.

    Returns
    -------
    networkx.DiGraph
        Node attributes ``"node_id"`` (int) and ``"node_id_hex"`` (40 hex digits; GraphML cannot store
        160-bit ints); graph attributes ``kind="kademlia"``, ``n``, ``k``, ``seed``.

    Raises
    ------
    p2p.errors.ConfigError
        If a parameter is out of range (see :func:`kademlia_tables`).

    References
    ----------
    Maymounkov & Mazières, "Kademlia: A Peer-to-peer Information System Based on the XOR Metric", IPTPS 2002,
    §2.1 (XOR metric), §2.2 (node state: k-buckets).

    Examples
    --------
    >>> g = kademlia_overlay(100, k=5, seed=7)
    >>> g.number_of_nodes(), len(g.nodes[0]["node_id_hex"])
    (100, 40)
    """
    return kademlia_tables(n, k, seed, ids=ids).to_networkx()


def overlay_from_tables(tables: Mapping[int, Iterable[int]]) -> nx.DiGraph:
    """Directed overlay from real routing tables: ``{node id: [contact id, ...]}``.

    Every id that appears (as a key or a contact) becomes a node; labels ``0..m-1`` follow increasing id.
    Self-contacts are dropped and duplicates collapse.

    Parameters
    ----------
    tables : mapping of int to iterable of int
        Routing table contents by node id (e.g. collected from ``NodeCore``s of a simulation).

    Returns
    -------
    networkx.DiGraph
        Node attributes ``"node_id"``, ``"node_id_hex"`` and ``"has_table"`` (whether the id was a key, i.e.
        its table is known; contacts seen only in others' tables have no out-edges).

    Raises
    ------
    p2p.errors.ConfigError
        If an id is outside ``[0, 2**160)``.

    References
    ----------
    Maymounkov & Mazières, IPTPS 2002, §2.2 (routing table contents).

    Examples
    --------
    >>> g = overlay_from_tables({5: [9, 7], 9: [5]})
    >>> sorted(g.edges()), g.nodes[1]["node_id"]
    ([(0, 1), (0, 2), (2, 0)], 7)
    """
    contacts = {int(u): [int(v) for v in vs] for u, vs in tables.items()}
    all_ids = set(contacts)
    for vs in contacts.values():
        all_ids.update(vs)
    _check(all(0 <= i < ID_SPACE for i in all_ids), "tables", "every id must be in [0, 2**160)")
    ordered = sorted(all_ids)
    label = {i: u for u, i in enumerate(ordered)}
    graph = nx.DiGraph(kind="kademlia")
    graph.add_nodes_from(
        (u, {"node_id": i, "node_id_hex": id_to_hex(i), "has_table": i in contacts})
        for u, i in enumerate(ordered)
    )
    for i, vs in contacts.items():
        u = label[i]
        graph.add_edges_from((u, label[v]) for v in vs if v != i)
    return graph


def _graphml_safe(attrs: Mapping[str, object], big: set[str]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in attrs.items():
        if key in big and isinstance(value, int) and not isinstance(value, bool):
            out[key] = id_to_hex(value) if 0 <= value < ID_SPACE else format(value, "x")
        elif value is None:
            continue
        else:
            out[key] = value
    return out


def _big_keys(items: Iterable[Mapping[str, object]]) -> set[str]:
    big: set[str] = set()
    for attrs in items:
        for key, value in attrs.items():
            if (
                isinstance(value, int)
                and not isinstance(value, bool)
                and not -_INT64_MAX - 1 <= value <= _INT64_MAX
            ):
                big.add(key)
    return big


def write_graphml(graph: nx.Graph, path: str | Path) -> None:
    """Write ``graph`` as GraphML, storing ints wider than 64 bits as hex strings.

    An attribute (graph, node or edge) that holds any int outside the int64 range is written as a string for
    every element: 40 hex digits for values in ``[0, 2**160)`` (so ``"node_id"`` matches ``"node_id_hex"``),
    plain hex otherwise. ``None`` values are omitted. The input graph is not modified.

    Parameters
    ----------
    graph : networkx.Graph or networkx.DiGraph
        Graph to write.
    path : str or pathlib.Path
        Output file.

    Raises
    ------
    OSError
        If the file cannot be written.

    References
    ----------
    Brandes et al., "GraphML Progress Report", Graph Drawing 2001 (the format; its ``long`` is 64-bit).

    Examples
    --------
    >>> import tempfile, os
    >>> g = kademlia_overlay(20, k=3, seed=0)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     write_graphml(g, os.path.join(d, "o.graphml"))
    ...     len(nx.read_graphml(os.path.join(d, "o.graphml")))
    20
    """
    node_big = _big_keys(attrs for _, attrs in graph.nodes(data=True))
    edge_big = _big_keys(attrs for _, _, attrs in graph.edges(data=True))
    graph_big = _big_keys([graph.graph])
    out = graph.__class__()
    out.graph.update(_graphml_safe(graph.graph, graph_big))
    out.add_nodes_from((u, _graphml_safe(attrs, node_big)) for u, attrs in graph.nodes(data=True))
    out.add_edges_from((u, v, _graphml_safe(attrs, edge_big)) for u, v, attrs in graph.edges(data=True))
    nx.write_graphml(out, str(path))
