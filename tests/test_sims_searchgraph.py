"""Tests for the graph-level search model (p2p.sims.searchgraph)."""

from __future__ import annotations

import json
import math
from collections import Counter

import networkx as nx
import numpy as np
import pytest

from p2p.sims import searchgraph as sg

# ------------------------------------------------------------------------------------------ helpers


def reference_flood(graph: nx.Graph, origin, ttl: int):
    """Message-by-message synchronous flood: every message is explicit (dst, sender, remaining TTL)."""
    seen = {origin}
    handled = Counter({origin: 1})
    frontier = [(origin, None, ttl)]
    messages = duplicates = max_hop = 0
    while frontier:
        sent = []
        for node, came_from, t in frontier:
            if t == 0:
                continue
            for nb in graph[node]:
                if nb != came_from:
                    sent.append((nb, node, t - 1))
        messages += len(sent)
        frontier = []
        for dst, src, t in sent:
            max_hop = max(max_hop, ttl - t)
            if dst in seen:
                duplicates += 1
                continue
            seen.add(dst)
            handled[dst] += 1
            frontier.append((dst, src, t))
    return seen, messages, duplicates, max_hop, handled


def cyclic_graphs():
    return [
        ("petersen", nx.petersen_graph()),
        ("grid", nx.grid_2d_graph(5, 6)),  # tuple labels
        ("cycle", nx.cycle_graph(11)),
        ("gnp", nx.fast_gnp_random_graph(60, 0.07, seed=3)),  # may be disconnected
        ("ba", nx.barabasi_albert_graph(120, 2, seed=4)),
        ("labels", nx.relabel_nodes(nx.random_regular_graph(3, 30, seed=5), lambda v: f"n{v}")),
    ]


# ------------------------------------------------------------------------------------------ flooding


@pytest.mark.parametrize("name,graph", cyclic_graphs())
def test_flood_reaches_exactly_bfs_ball_and_matches_reference(name, graph):
    nodes = list(graph)
    g = sg.as_csr(graph)
    for origin in nodes[:: max(1, len(nodes) // 6)]:
        for ttl in (0, 1, 2, 3, 5, 50):
            out = sg.flood(graph, origin, [], ttl, record_nodes=True)
            ball = {origin} | {v for _, v in nx.bfs_edges(graph, origin, depth_limit=ttl)}
            assert out.reached == ball
            assert out.nodes_reached == len(ball)
            assert not out.success and out.hops is None
            seen, messages, duplicates, max_hop, handled = reference_flood(graph, origin, ttl)
            assert seen == ball
            assert max(handled.values()) == 1  # each node handles the query at most once
            assert out.messages == messages
            assert out.duplicates == duplicates
            assert out.max_hops == max_hop <= ttl
            # CSR input gives the same result as the networkx input
            assert sg.flood(g, origin, [], ttl) == sg.flood(graph, origin, [], ttl)


def test_flood_hand_computed_counts():
    # square 0-1-2-3-0 with a tail 2-4
    graph = nx.Graph([(0, 1), (1, 2), (2, 3), (3, 0), (2, 4)])
    out = sg.flood(graph, 0, [], 1)
    assert (out.messages, out.nodes_reached, out.duplicates, out.max_hops) == (2, 3, 0, 1)
    # ttl 2: 0 sends 2; 1 and 3 each send 1 to node 2, which is reached twice
    out = sg.flood(graph, 0, [], 2)
    assert (out.messages, out.nodes_reached, out.duplicates, out.max_hops) == (4, 4, 1, 2)
    # ttl 3: node 2 (degree 3) forwards to 4 (new) and to the other of 1/3 (duplicate)
    out = sg.flood(graph, 0, [], 3)
    assert (out.messages, out.nodes_reached, out.duplicates, out.max_hops) == (6, 5, 2, 3)
    # node 4 has degree 1: a larger TTL sends nothing more
    assert sg.flood(graph, 0, [], 10).messages == 6
    assert sg.flood(graph, 0, [], None).messages == 6
    # triangle: 2 messages at ttl 1; at ttl 2 the two neighbours send each other a duplicate
    tri = nx.cycle_graph(3)
    assert (sg.flood(tri, 0, [], 1).messages, sg.flood(tri, 0, [], 1).duplicates) == (2, 0)
    assert (sg.flood(tri, 0, [], 2).messages, sg.flood(tri, 0, [], 2).duplicates) == (4, 2)
    # ttl 0: nothing is sent; the origin alone is reached
    out = sg.flood(tri, 0, [0], 0)
    assert (out.messages, out.nodes_reached, out.success, out.hops) == (0, 1, True, 0)


def test_full_flood_message_formula():
    graph = nx.barabasi_albert_graph(500, 2, seed=9)
    out = sg.flood(graph, 17, [], None)
    # every node handles once; the origin sends deg, every other node deg - 1
    assert out.messages == 2 * graph.number_of_edges() - (graph.number_of_nodes() - 1)
    assert out.nodes_reached == graph.number_of_nodes()
    assert out.duplicates == out.messages - (out.nodes_reached - 1)


@pytest.mark.parametrize("name,graph", cyclic_graphs())
def test_hops_to_first_hit_is_distance_to_nearest_holder(name, graph):
    rng = np.random.default_rng(11)
    nodes = list(graph)
    for _ in range(15):
        origin = nodes[rng.integers(len(nodes))]
        holders = {nodes[i] for i in rng.choice(len(nodes), size=3, replace=False)}
        dist = nx.single_source_shortest_path_length(graph, origin)
        nearest = min((dist[h] for h in holders if h in dist), default=None)
        for ttl in (1, 2, 4, None):
            out = sg.flood(graph, origin, holders, ttl)
            limit = math.inf if ttl is None else ttl
            if nearest is not None and nearest <= limit:
                assert out.success and out.hops == nearest
            else:
                assert not out.success and out.hops is None
        ring = sg.expanding_ring(graph, origin, holders)
        assert ring.success == (nearest is not None)
        assert ring.hops == nearest


def test_expanding_ring_sums_successive_floods():
    graph = nx.barabasi_albert_graph(300, 2, seed=2)
    holders = {299, 298}
    origin = 0
    nearest = min(nx.single_source_shortest_path_length(graph, origin)[h] for h in holders)
    ttls = (1, 2, 4, 8)
    ring = sg.expanding_ring(graph, origin, holders, ttls)
    expected = 0
    rounds = 0
    for t in ttls:
        rounds += 1
        f = sg.flood(graph, origin, holders, t)
        expected += f.messages
        if f.success:
            break
    assert ring.messages == expected
    assert ring.rounds == rounds
    assert ring.hops == nearest
    # a schedule that stops short fails and pays for every round
    short = sg.expanding_ring(graph, origin, holders, [t for t in ttls if t < nearest] or [0])
    assert not short.success
    # no holder at all: the ring stops once a flood covers the component
    none = sg.expanding_ring(graph, origin, [])
    assert not none.success and none.nodes_reached == graph.number_of_nodes()


# ------------------------------------------------------------------------------------------ random walks


def test_random_walk_deterministic_and_within_ttl():
    graph = nx.barabasi_albert_graph(2000, 2, seed=1)
    holders = set(range(1980, 2000))
    a = sg.random_walk(graph, 5, holders, walkers=16, ttl=64, check_every=4, seed=42, record_nodes=True)
    b = sg.random_walk(graph, 5, holders, walkers=16, ttl=64, check_every=4, seed=42, record_nodes=True)
    assert a == b
    c = sg.random_walk(graph, 5, holders, walkers=16, ttl=64, check_every=4, rng=np.random.default_rng(42))
    assert c.messages == a.messages and c.hops == a.hops
    for seed in range(20):
        for ttl in (1, 7, 30):
            out = sg.random_walk(graph, 5, holders, walkers=8, ttl=ttl, check_every=4, seed=seed)
            assert out.max_hops <= ttl
            assert out.query_messages <= 8 * ttl
            assert out.nodes_reached - 1 + out.duplicates == out.query_messages
            if out.success:
                assert 1 <= out.hops <= out.max_hops


def test_random_walk_without_holders_runs_to_ttl():
    graph = nx.random_regular_graph(4, 500, seed=3)
    out = sg.random_walk(graph, 0, [], walkers=5, ttl=41, check_every=4, seed=1)
    assert not out.success and out.hops is None
    assert out.max_hops == 41
    assert out.query_messages == 5 * 41
    assert out.checkback_messages == 5 * 10  # checks after steps 4, 8, ..., 40
    assert out.messages == out.query_messages + out.checkback_messages
    out = sg.random_walk(graph, 0, [], walkers=5, ttl=41, check_every=None, seed=1)
    assert out.checkback_messages == 0 and out.messages == 5 * 41


def test_random_walk_stops_at_next_checkback_after_hit():
    graph = nx.barabasi_albert_graph(3000, 2, seed=8)
    holders = set(range(2900, 3000))
    checked = 0
    for seed in range(30):
        out = sg.random_walk(graph, 0, holders, walkers=16, ttl=1024, check_every=4, seed=seed)
        assert out.success
        if out.max_hops % 4 == 0 and out.max_hops == math.ceil(out.hops / 4) * 4:
            checked += 1
        else:  # every walker hit before the next check
            assert out.max_hops < math.ceil(out.hops / 4) * 4
        assert out.max_hops < out.hops + 4
        unchecked = sg.random_walk(graph, 0, holders, walkers=16, ttl=1024, check_every=None, seed=seed)
        assert unchecked.hops == out.hops  # same random choices up to the first hit
        assert unchecked.query_messages > out.query_messages
    assert checked > 20


def test_random_walk_never_backtracks_unless_forced():
    ring = nx.cycle_graph(50)
    out = sg.random_walk(ring, 0, [], walkers=1, ttl=30, check_every=None, seed=5, record_nodes=True)
    assert out.nodes_reached == 31 and out.duplicates == 0  # straight on around the cycle
    out = sg.random_walk(ring, 0, [], walkers=1, ttl=120, check_every=None, seed=5)
    assert out.nodes_reached == 50 and out.duplicates == 120 - 49
    path = nx.path_graph(5)  # a walker must bounce at the degree-1 end
    out = sg.random_walk(path, 0, [], walkers=1, ttl=8, check_every=None, seed=0, record_nodes=True)
    assert out.reached == set(range(5)) and out.duplicates == 4
    assert sg.random_walk(path, 0, {4}, walkers=1, ttl=8, check_every=None, seed=0).hops == 4


def test_random_walk_origin_holder_and_isolated_origin():
    graph = nx.path_graph(4)
    out = sg.random_walk(graph, 2, {2}, seed=0)
    assert out.success and out.hops == 0 and out.messages == 0
    graph.add_node(99)
    out = sg.random_walk(graph, 99, {0}, seed=0)
    assert not out.success and out.messages == 0


# ------------------------------------------------------------------------------------------ replication


def test_replica_counts_totals_and_square_root_between():
    n, m = 1000, 50
    uni = sg.replica_counts(n, m, "uniform", ratio=0.01)
    prop = sg.replica_counts(n, m, "proportional", ratio=0.01, zipf_s=1.0)
    sqrt = sg.replica_counts(n, m, "square-root", ratio=0.01, zipf_s=1.0)
    assert uni.tolist() == [10] * m
    assert uni.sum() == prop.sum() == sqrt.sum() == 500
    for r in (prop, sqrt):
        assert r.min() >= 1 and r.max() <= n
        assert all(np.diff(r) <= 0)  # more popular objects get at least as many replicas
    # square-root lies between uniform and proportional: in the skew between any two objects (1 for
    # uniform, q_i / q_j for proportional, sqrt(q_i / q_j) for square-root), and at both ends
    log_spread = {k: float(np.std(np.log(r))) for k, r in (("u", uni), ("p", prop), ("s", sqrt))}
    assert log_spread["u"] < log_spread["s"] < log_spread["p"]
    q = sg.zipf_weights(m)
    for i, j in ((0, m - 1), (0, 10), (5, 30), (20, 49)):
        assert 1 <= sqrt[i] / sqrt[j] <= prop[i] / prop[j]
        assert sqrt[i] / sqrt[j] == pytest.approx(math.sqrt(q[i] / q[j]), rel=0.35)
    assert prop[0] > sqrt[0] > uni[0] and prop[-1] < sqrt[-1] < uni[-1]
    ess = {k: sg.expected_search_size(r, n) for k, r in (("u", uni), ("p", prop), ("s", sqrt))}
    assert ess["s"] < ess["u"]
    assert ess["p"] == pytest.approx(ess["u"], rel=0.05)
    # the alias and a steeper Zipf; heavy skew pushes proportional onto the lower bound of 1
    assert sg.replica_counts(n, m, "sqrt").tolist() == sqrt.tolist()
    steep = sg.replica_counts(100, 200, "proportional", ratio=0.05, zipf_s=2.0)
    assert steep.sum() == 1000 and steep.min() == 1 and steep.max() <= 100
    with pytest.raises(ValueError):
        sg.replica_counts(n, m, "random")


def test_place_objects_and_query_stream():
    graph = nx.relabel_nodes(nx.barabasi_albert_graph(400, 2, seed=1), lambda v: f"p{v}")
    for strategy in sg.REPLICATION_STRATEGIES:
        placed = sg.place_objects(graph, 20, strategy, ratio=0.02, seed=7)
        counts = sg.replica_counts(400, 20, strategy, ratio=0.02)
        assert [len(placed[i]) for i in range(20)] == counts.tolist()
        assert sum(len(h) for h in placed.values()) == 20 * 8
        assert all(h <= set(graph) for h in placed.values())
        assert placed == sg.place_objects(graph, 20, strategy, ratio=0.02, seed=7)
    assert sg.place_objects(graph, 5, seed=1) != sg.place_objects(graph, 5, seed=2)
    qs = sg.query_stream(50, 5000, zipf_s=1.0, seed=3)
    assert qs == sg.query_stream(50, 5000, zipf_s=1.0, seed=3)
    assert len(qs) == 5000 and set(qs) <= set(range(50))
    c = Counter(qs)
    assert c[0] > c[5] > c[40]
    assert c[0] / 5000 == pytest.approx(sg.zipf_weights(50)[0], abs=0.03)


# ------------------------------------------------------------------------------------------ experiments


def test_search_experiment_json_and_shared_queries():
    results = {}
    for strategy in ("flood", "ring", "walk"):
        r = sg.search_experiment("ba", 1500, strategy, queries=30, seed=4)
        json.dumps(r)
        for key in (
            "nodes",
            "queries",
            "messages_per_query",
            "success_rate",
            "hops_to_first_hit",
            "duplicates_per_query",
            "nodes_reached",
            "wall_seconds",
            "seed",
            "strategy",
            "replication",
            "ratio",
            "ttl",
            "walkers",
            "check_every",
        ):
            assert key in r
        assert set(r["hops_to_first_hit"]) == {"mean", "p50", "p90"}
        results[strategy] = r
    assert results["flood"]["success_rate"] == 1.0  # BA graphs are connected; ttl=None floods everything
    # flood and ring answer the same queries, so the nearest holder is the same
    assert results["ring"]["hops_to_first_hit"] == results["flood"]["hops_to_first_hit"]
    assert results["ring"]["messages_per_query"] < results["flood"]["messages_per_query"]
    for kind in ("er", "rr"):
        r = sg.search_experiment(kind, 800, "walk", replication="square-root", queries=10, seed=1)
        assert r["nodes"] == 800 and r["replication"] == "square-root"
    with pytest.raises(ValueError):
        sg.search_experiment("ba", 100, "gossip", queries=1)
    with pytest.raises(ValueError):
        sg.search_experiment("torus", 100, "flood", queries=1)


def test_lv_comparison_small(tmp_path):
    table = sg.lv_comparison(n=2000, seed=1, queries=20)
    for graph in {r["graph"] for r in table}:
        rows = {r["label"].split()[0]: r for r in table if r["graph"] == graph}
        flood = next(r for r in table if r["graph"] == graph and r["strategy"] == "flood")
        walks = [r for r in table if r["graph"] == graph and r["strategy"] == "walk"]
        assert len(walks) == 2 and "expanding" in rows
        assert flood["success_rate"] >= 0.95
        for w in walks:
            assert w["messages_per_query"] * 5 < flood["messages_per_query"]
            assert w["success_rate"] >= 0.95
    path = tmp_path / "lv.png"
    sg.plot_lv(table, str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
