"""Small, fast versions of the simulation scenarios, asserting real protocol behaviour."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from p2p.sims import plots
from p2p.sims.scenarios import SCENARIOS, churn_durability, failure_resilience, kademlia_lookup


def strip(r: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in r.items() if k != "wall_seconds"}


@pytest.fixture(scope="module")
def lookup200() -> dict[str, Any]:
    return kademlia_lookup(engine="des", nodes=200, lookups=300, seed=4)


def test_lookup_joined_network(lookup200: dict[str, Any]) -> None:
    r = lookup200
    assert r["tables"] == "joined" and r["join_failures"] == 0
    assert r["success_rate"] >= 0.99
    assert r["hops"]["max"] <= math.log2(200) + 2
    assert 20 <= r["messages_per_lookup"] < 60  # at least the k closest are asked
    assert 0 < r["latency"]["p50"] <= r["latency"]["p90"] < 3.0
    json.dumps(r)


def test_lookup_reproducible(lookup200: dict[str, Any]) -> None:
    again = kademlia_lookup(engine="des", nodes=200, lookups=300, seed=4)
    assert strip(again) == strip(lookup200)
    other = kademlia_lookup(engine="des", nodes=200, lookups=300, seed=5)
    assert strip(other) != strip(lookup200)


def test_lookup_id_model_tables() -> None:
    r = kademlia_lookup(engine="des", nodes=400, lookups=200, seed=2, tables="id_model")
    assert r["tables"] == "id_model"
    assert r["success_rate"] >= 0.99
    assert r["hops"]["p90"] <= math.log2(400) + 2


def test_lookup_engines_agree() -> None:
    des = kademlia_lookup(engine="des", nodes=80, lookups=40, seed=9, k=10)
    virt = kademlia_lookup(engine="virtual", nodes=80, lookups=40, seed=9, k=10)
    keys = ("success_rate", "hops", "hops_histogram", "messages", "latency", "simulated_seconds")
    assert {k: des[k] for k in keys} == {k: virt[k] for k in keys}
    assert des["network"]["datagrams_delivered"] == virt["network"]["datagrams_delivered"]


def test_lookup_graph_engine() -> None:
    r = kademlia_lookup(engine="graph", nodes=500, lookups=100, seed=1)
    assert r["engine"] == "graph" and r["success_rate"] >= 0.99
    json.dumps(r)


def test_churn_durability_small(tmp_path: Any) -> None:
    r = churn_durability(nodes=80, records=60, k=20, hours=3, seed=3, sample_every_hours=1, sample_gets=30)
    assert r["leaves"] > 0 and r["joins"] > 0
    assert r["records_lost"] == 0
    assert all(s["lost"] == 0 for s in r["samples"])
    assert all(f is None or f >= 0.95 for f in r["retrievable_fraction"])
    json.dumps(r)
    assert plots.churn_over_time(r, tmp_path / "churn.png").stat().st_size > 1000
    again = churn_durability(
        nodes=80, records=60, k=20, hours=3, seed=3, sample_every_hours=1, sample_gets=30
    )
    assert strip(again) == strip(r)


def test_failure_resilience_small(tmp_path: Any) -> None:
    r = failure_resilience(
        nodes=150, fractions=(0.1, 0.5, 0.8), lookups=150, seed=1, k=8, refresh_interval=600
    )
    before, after = r["success_before"], r["success_after"]
    assert before[0] >= 0.99
    assert before[0] >= before[1] >= before[2] and before[2] < before[0]
    assert after[2] >= before[2]
    json.dumps(r)
    assert plots.failure_bars(r, tmp_path / "fail.png").stat().st_size > 1000


def test_plots_lookup(tmp_path: Any, lookup200: dict[str, Any]) -> None:
    small = kademlia_lookup(engine="des", nodes=50, lookups=50, seed=4)
    assert plots.hop_cdf([small, lookup200], tmp_path / "cdf.png").stat().st_size > 1000
    assert plots.hops_vs_n([small, lookup200], tmp_path / "n.png").stat().st_size > 1000


def test_registry() -> None:
    for name, (fn, description, defaults) in SCENARIOS.items():
        assert callable(fn) and description and isinstance(defaults, dict)
        assert fn.__name__ == name
        json.dumps(defaults)


def test_search_scenario_des_and_graph_agree_and_reproduce():
    from p2p.sims.scenarios import search

    flood = search(engine="des", graph="rr", nodes=200, strategy="flood", ttl=7, queries=6, seed=3)
    walk = search(engine="des", graph="rr", nodes=200, strategy="walk", queries=6, seed=3)
    assert flood["success_rate"] == 1.0 and walk["success_rate"] == 1.0
    # Each node handles a GUID at most once: a flood reaches at most the other 199 nodes, and on a connected
    # 4-regular graph of 200 nodes TTL 7 reaches most of them; every message beyond a first arrival is a
    # suppressed duplicate.
    assert 150 < flood["nodes_reached"] <= 199
    assert flood["duplicates_per_query"] > 0
    assert walk["messages_per_query"] < flood["messages_per_query"] / 2
    graph_walk = search(engine="graph", graph="rr", nodes=200, strategy="walk", queries=30, seed=3)
    assert graph_walk["success_rate"] == 1.0
    again = search(engine="des", graph="rr", nodes=200, strategy="walk", queries=6, seed=3)
    assert {k: v for k, v in again.items() if k != "wall_seconds"} == {
        k: v for k, v in walk.items() if k != "wall_seconds"
    }
