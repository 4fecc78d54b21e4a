"""Graph-level simulation: topology builders, churn models, greedy/iterative lookups, removal resilience."""

from __future__ import annotations

import json
import math
import random
import statistics
from collections import Counter

import networkx as nx
import numpy as np
import pytest

from p2p.errors import ConfigError
from p2p.ids import bucket_index, id_to_hex, random_id
from p2p.sims import churn, graphsim, topology

# ---------------------------------------------------------------------------------------------------------
# Unstructured and super-peer builders
# ---------------------------------------------------------------------------------------------------------


def _same(a: nx.Graph, b: nx.Graph) -> bool:
    return sorted(a.nodes) == sorted(b.nodes) and sorted(map(sorted, a.edges)) == sorted(map(sorted, b.edges))


@pytest.mark.parametrize(
    ("build", "args"),
    [
        (topology.random_regular, (300, 4)),
        (topology.erdos_renyi, (2000, 6.0)),
        (topology.barabasi_albert, (500, 3)),
        (topology.watts_strogatz, (300, 6, 0.2)),
        (topology.two_tier, (400, 20, 4)),
    ],
)
def test_builders_are_deterministic_for_a_seed(build, args) -> None:
    assert _same(build(*args, seed=5), build(*args, seed=5))
    assert not _same(build(*args, seed=5), build(*args, seed=6))


def test_builders_sizes_and_degrees() -> None:
    g = topology.random_regular(300, 4, seed=1)
    assert g.number_of_nodes() == 300 and {d for _, d in g.degree()} == {4}
    assert sorted(g.nodes) == list(range(300))

    g = topology.erdos_renyi(5000, 8.0, seed=1)
    assert g.number_of_nodes() == 5000
    assert 2 * g.number_of_edges() / 5000 == pytest.approx(8.0, rel=0.05)

    g = topology.barabasi_albert(500, 3, seed=1)
    assert g.number_of_edges() == (500 - 3) * 3

    g = topology.watts_strogatz(300, 6, 0.2, seed=1)
    assert g.number_of_edges() == 300 * 3


def test_two_tier_structure() -> None:
    n_leaves, n_super = 1000, 30
    g = topology.two_tier(n_leaves, n_super, 4, seed=2, redundancy=2)
    tiers = Counter(t for _, t in g.nodes(data="tier"))
    assert tiers == {"super": n_super, "leaf": n_leaves}
    supers = [u for u, t in g.nodes(data="tier") if t == "super"]
    assert supers == list(range(n_super))
    for leaf in range(n_super, n_super + n_leaves):
        nbrs = list(g.neighbors(leaf))
        assert len(nbrs) == 2 and all(g.nodes[v]["tier"] == "super" for v in nbrs)
    core = g.subgraph(supers)
    assert {d for _, d in core.degree()} == {4}
    loads = [sum(1 for v in g.neighbors(s) if v >= n_super) for s in supers]
    assert max(loads) - min(loads) <= 1 and sum(loads) == 2 * n_leaves

    er = topology.two_tier(100, 50, 6, seed=2, core="er")
    assert er.number_of_nodes() == 150


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: topology.random_regular(5, 3), "degree"),
        (lambda: topology.erdos_renyi(10, 20.0), "mean_degree"),
        (lambda: topology.watts_strogatz(10, 4, 1.5), "p"),
        (lambda: topology.two_tier(10, 3, 1, redundancy=4), "redundancy"),
        (lambda: topology.kademlia_overlay(10, k=0), "k"),
        (lambda: topology.kademlia_overlay(2, ids=[1, 1]), "ids"),
        (lambda: topology.random_regular(10, 3, seed=None), "seed"),
    ],
)
def test_builders_validate(call, field) -> None:
    with pytest.raises(ConfigError, match=f"^{field}:"):
        call()


# ---------------------------------------------------------------------------------------------------------
# Kademlia overlay
# ---------------------------------------------------------------------------------------------------------


def _check_bucket_structure(graph: nx.DiGraph, k: int, nodes) -> None:
    ids = dict(graph.nodes(data="node_id"))
    for u in nodes:
        own = ids[u]
        sizes = Counter(bucket_index(own, other) for v, other in ids.items() if v != u)
        got = Counter(bucket_index(own, ids[v]) for v in graph.successors(u))
        assert u not in graph.successors(u)
        # Every contact falls in a non-empty bucket, no bucket holds more than k, each holds min(k, size).
        assert set(got) <= set(sizes)
        assert got == {b: min(k, size) for b, size in sizes.items()}


def test_kademlia_overlay_bucket_structure_random_ids() -> None:
    g = topology.kademlia_overlay(1500, k=8, seed=11)
    assert g.number_of_nodes() == 1500 and sorted(g.nodes) == list(range(1500))
    assert g.graph["k"] == 8 and g.graph["kind"] == "kademlia"
    for u in (0, 1, 749):
        assert g.nodes[u]["node_id_hex"] == id_to_hex(g.nodes[u]["node_id"])
    _check_bucket_structure(g, 8, range(0, 1500, 7))


def test_kademlia_overlay_bucket_structure_clustered_ids() -> None:
    rng = random.Random(3)
    base = random_id(rng)
    ids = [random_id(rng) for _ in range(60)]
    ids += [base ^ rng.getrandbits(10) for _ in range(300)]  # share a 150-bit prefix: deep buckets
    ids = list(dict.fromkeys(ids))
    g = topology.kademlia_overlay(len(ids), k=5, seed=1, ids=ids)
    assert [g.nodes[u]["node_id"] for u in g] == ids
    _check_bucket_structure(g, 5, g.nodes)


def test_kademlia_overlay_deterministic_and_matches_tables() -> None:
    a = topology.kademlia_overlay(800, k=6, seed=4)
    b = topology.kademlia_overlay(800, k=6, seed=4)
    c = topology.kademlia_overlay(800, k=6, seed=5)
    assert list(a.edges) == list(b.edges)
    assert list(a.edges) != list(c.edges)
    tables = topology.kademlia_tables(800, k=6, seed=4)
    assert tables.num_edges == a.number_of_edges()
    assert all(tables.contacts(u) == list(a.successors(u)) for u in range(800))
    back = topology.KademliaTables.from_networkx(a)
    assert back.ids == tables.ids and np.array_equal(back.indices, tables.indices)
    assert np.array_equal(back.buckets, tables.buckets)


def test_overlay_from_tables_and_graphml(tmp_path) -> None:
    rng = random.Random(0)
    ids = [random_id(rng) for _ in range(30)]
    tables = {i: rng.sample([j for j in ids if j != i], 5) + [i] for i in ids[:20]}
    g = topology.overlay_from_tables(tables)
    assert g.number_of_nodes() == len(set(ids[:20]).union(*tables.values()))
    assert [g.nodes[u]["node_id"] for u in g] == sorted(ids)
    assert sum(1 for _, t in g.nodes(data="has_table") if t) == 20
    assert g.number_of_edges() == 20 * 5 and nx.number_of_selfloops(g) == 0

    path = tmp_path / "overlay.graphml"
    topology.write_graphml(g, path)
    back = nx.read_graphml(path)
    first = back.nodes["0"]
    assert first["node_id"] == first["node_id_hex"] == id_to_hex(min(ids))
    assert back.number_of_edges() == g.number_of_edges()
    assert isinstance(g.nodes[0]["node_id"], int)  # input untouched


def test_xor_index_matches_brute_force() -> None:
    rng = random.Random(9)
    ids = {u: random_id(rng) for u in range(0, 3000, 3)}
    index = graphsim.XorIndex(ids)
    for _ in range(200):
        target = random_id(rng) if rng.random() < 0.8 else ids[rng.choice(list(ids))]
        count = rng.choice([1, 3, 20])
        brute = sorted(ids, key=lambda u: ids[u] ^ target)[:count]
        assert index.closest(target, count) == brute


# ---------------------------------------------------------------------------------------------------------
# Lookups
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def overlay_2000() -> nx.DiGraph:
    return topology.kademlia_overlay(2000, k=20, seed=21)


def test_greedy_and_iterative_lookups_succeed(overlay_2000) -> None:
    g = overlay_2000
    n = g.number_of_nodes()
    index = graphsim.XorIndex(dict(g.nodes(data="node_id")))
    rng = random.Random(5)
    greedy, iterative = [], []
    for _ in range(300):
        source, target = rng.randrange(n), random_id(rng)
        gt = graphsim.greedy_xor_lookup(g, source, target, index=index)
        it = graphsim.iterative_lookup(g, source, target, k=20, alpha=3, index=index)
        dists = [g.nodes[u]["node_id"] ^ target for u in gt.path]
        # strictly closer every hop
        assert dists == sorted(dists, reverse=True) and len(set(dists)) == len(dists)
        assert gt.hops == gt.messages == len(gt.path) - 1
        assert len(it.found) == 20 and it.messages == len(set(it.path))
        assert it.hops >= math.ceil(20 / 3)
        greedy.append(gt)
        iterative.append(it)
    log2n = math.log2(n)
    assert sum(t.success for t in greedy) / len(greedy) >= 0.99
    assert sum(t.success for t in iterative) / len(iterative) >= 0.99
    assert statistics.mean(t.hops for t in greedy) <= log2n / 2
    assert statistics.mean(t.hops for t in iterative) <= log2n
    assert statistics.mean(t.hops_to_found for t in iterative) <= log2n / 2
    json.dumps(iterative[0].to_dict())


def test_lookups_same_on_graph_and_tables(overlay_2000) -> None:
    tables = topology.KademliaTables.from_networkx(overlay_2000)
    index = graphsim.XorIndex(tables.ids)
    rng = random.Random(8)
    for _ in range(20):
        source, target = rng.randrange(2000), random_id(rng)
        for alpha in (1, 3):
            assert graphsim.greedy_xor_lookup(
                overlay_2000, source, target, alpha=alpha
            ) == graphsim.greedy_xor_lookup(tables, source, target, alpha=alpha, index=index)
        assert graphsim.iterative_lookup(overlay_2000, source, target) == graphsim.iterative_lookup(
            tables, source, target, index=index
        )


def test_lookup_validation(overlay_2000) -> None:
    with pytest.raises(ConfigError, match="^alpha:"):
        graphsim.greedy_xor_lookup(overlay_2000, 0, 1, alpha=0)
    with pytest.raises(ConfigError, match="^target_id:"):
        graphsim.iterative_lookup(overlay_2000, 0, 1 << 160)
    with pytest.raises(KeyError):
        graphsim.iterative_lookup(overlay_2000, 5000, 1)


def test_lookup_experiment_result() -> None:
    a = graphsim.lookup_experiment(1000, 200, k=20, alpha=3, seed=4)
    b = graphsim.lookup_experiment(1000, 200, k=20, alpha=3, seed=4)
    timings = ("build_seconds", "lookup_seconds", "wall_seconds")
    assert {key: v for key, v in a.items() if key not in timings} == {
        key: v for key, v in b.items() if key not in timings
    }
    json.loads(json.dumps(a))
    assert a["success_rate"] == 1.0 and a["engine"] == "graph"
    assert a["hops"]["p50"] <= a["hops"]["p90"] <= math.log2(1000)
    assert sum(a["hops_histogram"]) == 200
    greedy = graphsim.lookup_experiment(1000, 200, seed=4, method="greedy", alpha=1)
    assert greedy["success_rate"] == 1.0 and greedy["hops"]["mean"] < a["hops"]["mean"]


# ---------------------------------------------------------------------------------------------------------
# Resilience
# ---------------------------------------------------------------------------------------------------------


def test_removal_resilience_degrades() -> None:
    tables = topology.kademlia_tables(2000, k=3, seed=3)
    for mode in ("random", "targeted"):
        rows = graphsim.removal_resilience(tables, [0.0, 0.6, 0.85], mode=mode, lookups=300, seed=1)
        json.dumps(rows)
        assert [r["survivors"] for r in rows] == [2000, 800, 300]
        assert rows[0]["success_rate"] == 1.0 and rows[0]["largest_scc_fraction"] == 1.0
        rates = [r["success_rate"] for r in rows]
        assert rates == sorted(rates, reverse=True) and rates[-1] < 0.9
        greedy = [r["greedy_success_rate"] for r in rows]
        assert greedy == sorted(greedy, reverse=True) and greedy[-1] < rates[-1]
    with pytest.raises(ConfigError, match="^fractions:"):
        graphsim.removal_resilience(tables, [1.0])
    with pytest.raises(ConfigError, match="^mode:"):
        graphsim.removal_resilience(tables, [0.1], mode="sideways")


def test_largest_components_match_networkx() -> None:
    g = topology.kademlia_overlay(1500, k=2, seed=5)
    tables = topology.KademliaTables.from_networkx(g)
    rng = np.random.default_rng(0)
    for keep in (0.95, 0.2, 0.02):  # the last two are fragmented: exercises the Tarjan fallback
        alive = rng.random(1500) < keep
        sub = g.subgraph([u for u in range(1500) if alive[u]])
        got = graphsim.largest_components(tables, alive)
        assert got["nodes"] == sub.number_of_nodes()
        assert got["largest_scc"] == max(map(len, nx.strongly_connected_components(sub)))
        assert got["largest_wcc"] == max(map(len, nx.weakly_connected_components(sub)))


# ---------------------------------------------------------------------------------------------------------
# Churn
# ---------------------------------------------------------------------------------------------------------


def test_pareto_median_and_exponential_mean() -> None:
    rng = random.Random(1)
    pareto = churn.ParetoSessions(3600.0, shape=1.5)
    samples = [pareto.sample(rng) for _ in range(20_000)]
    assert statistics.median(samples) == pytest.approx(3600.0, rel=0.03)
    assert min(samples) >= pareto.scale_seconds == pytest.approx(3600.0 / 2 ** (1 / 1.5))
    expo = churn.ExponentialSessions(120.0)
    assert statistics.mean(expo.sample(rng) for _ in range(20_000)) == pytest.approx(120.0, rel=0.03)


def test_churn_schedule_deterministic_and_consistent() -> None:
    model = churn.ChurnModel(
        churn.ParetoSessions(600.0, shape=2.0),
        downtime=churn.ExponentialSessions(300.0),
        mass_failures=[churn.MassFailure(1000.0, 0.5)],
    )
    events = model.schedule(200, 3600.0, seed=7)
    assert events == model.schedule(200, 3600.0, seed=7)
    assert events != model.schedule(200, 3600.0, seed=8)
    assert events == sorted(events, key=lambda e: (e.time, e.node))
    assert all(0 <= e.time <= 3600.0 and e.kind in ("leave", "join") for e in events)
    by_node: dict[int, list[str]] = {}
    for e in events:
        by_node.setdefault(e.node, []).append(e.kind)
    for kinds in by_node.values():  # every node starts online, then alternates leave/join
        assert kinds == ["leave", "join"] * (len(kinds) // 2) + ["leave"] * (len(kinds) % 2)
    online_before = churn.ChurnModel.online_counts([e for e in events if e.time < 1000.0], 200, [1000.0])[0]
    at_failure = [e for e in events if e.time == 1000.0]
    assert len(at_failure) == round(0.5 * online_before) and all(e.kind == "leave" for e in at_failure)
    # A node's churn does not depend on how many other nodes there are (without mass failures).
    plain = churn.ChurnModel(churn.ExponentialSessions(600.0), downtime=churn.ExponentialSessions(300.0))
    small = [e for e in plain.schedule(10, 3600.0, seed=1)]
    large = [e for e in plain.schedule(50, 3600.0, seed=1) if e.node < 10]
    assert small == large


def test_churn_arrivals() -> None:
    model = churn.ChurnModel(churn.ExponentialSessions(100.0), arrival_rate=0.5)
    events = model.schedule(20, 1000.0, seed=3)
    joins = [e for e in events if e.kind == "join"]
    assert all(e.node >= 20 for e in joins)
    assert len(joins) == pytest.approx(500, rel=0.2)
    first = {}
    for e in events:
        first.setdefault(e.node, e.kind)
    assert all(kind == ("leave" if node < 20 else "join") for node, kind in first.items())


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: churn.ExponentialSessions(0.0), "mean_seconds"),
        (lambda: churn.ParetoSessions(-1.0), "median_seconds"),
        (lambda: churn.ParetoSessions(10.0, shape=0.0), "shape"),
        (lambda: churn.MassFailure(10.0, 1.5), "fraction"),
        (lambda: churn.MassFailure(-1.0, 0.5), "at_seconds"),
        (lambda: churn.ChurnModel(object()), "sessions"),
        (lambda: churn.ChurnModel(churn.ExponentialSessions(1.0), arrival_rate=-2.0), "arrival_rate"),
        (
            lambda: churn.ChurnModel(
                churn.ExponentialSessions(1.0), downtime=churn.ExponentialSessions(1.0), arrival_rate=1.0
            ),
            "arrival_rate",
        ),
        (lambda: churn.ChurnModel(churn.ExponentialSessions(1.0)).schedule(-1, 10.0), "n_nodes"),
        (lambda: churn.ChurnModel(churn.ExponentialSessions(1.0)).schedule(1, -10.0), "horizon_seconds"),
    ],
)
def test_churn_validation(call, field) -> None:
    with pytest.raises(ConfigError, match=f"^{field}:"):
        call()


def test_table_closest_contacts_fast_path_is_exact() -> None:
    # The compact view finds a node's closest contacts from its bucket layout; check it against brute force,
    # including ids clustered so that low buckets are populated and counts larger than k.
    rng = random.Random(12)
    base = random_id(rng)
    ids = list(
        dict.fromkeys([random_id(rng) for _ in range(400)] + [base ^ rng.getrandbits(12) for _ in range(400)])
    )
    tables = topology.kademlia_tables(len(ids), k=6, seed=2, ids=ids)
    view = graphsim._View(tables)
    for _ in range(500):
        u = rng.randrange(len(ids))
        target = random_id(rng) if rng.random() < 0.5 else base ^ rng.getrandbits(14)
        count = rng.choice([1, 3, 6, 13, 40])
        row = tables.contacts(u)
        expected = sorted(row, key=lambda v: ids[v] ^ target)[:count]
        assert sorted(view.closest(u, target, count)) == sorted(expected)
