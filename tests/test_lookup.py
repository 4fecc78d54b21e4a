"""Unit tests of the iterative lookup state machine (p2p.lookup.kademlia.ClosestPeersLookup)."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from p2p.lookup.base import PeerState
from p2p.lookup.kademlia import ClosestPeersLookup
from p2p.routing.kbuckets import RoutingTable
from p2p.wire import Contact


def c(node_id: int) -> Contact:
    return Contact(node_id, "10.0.0.1", 1 + node_id % 65535)


TARGET = 0


def test_alpha_in_flight_never_exceeded_and_results_sorted():
    seeds = [c(i) for i in range(100, 110)]
    lk = ClosestPeersLookup(TARGET, k=4, alpha=2, seeds=seeds)
    first = lk.next()
    assert [x.node_id for x in first] == [100, 101]  # closest first
    assert lk.in_flight == 2 and lk.next() == []  # no third request
    lk.on_success(100, [c(5), c(6), c(50)])
    nxt = lk.next()
    assert [x.node_id for x in nxt] == [5]  # the freed slot goes to the closest un-asked candidate
    assert lk.in_flight == 2
    assert lk.state(5) is PeerState.WAITING and lk.hops(5) == 2 and lk.hops(100) == 1


def test_stalled_peer_frees_its_slot_and_may_still_answer():
    lk = ClosestPeersLookup(TARGET, k=3, alpha=1, seeds=[c(1), c(2), c(3)])
    assert [x.node_id for x in lk.next()] == [1]
    assert lk.next() == []
    lk.on_stall(1)
    assert lk.state(1) is PeerState.STALLED and lk.in_flight == 0
    assert [x.node_id for x in lk.next()] == [2]
    lk.on_stall(1)  # a second stall report changes nothing
    assert lk.in_flight == 1
    lk.on_success(1, [])  # the slow peer answers after all
    assert lk.state(1) is PeerState.SUCCEEDED and lk.in_flight == 1
    lk.on_success(2, [])
    assert [x.node_id for x in lk.next()] == [3]
    lk.on_failure(3)
    assert lk.finished
    assert [x.node_id for x in lk.result()] == [1, 2]


def test_failure_frees_the_slot():
    lk = ClosestPeersLookup(TARGET, k=2, alpha=1, seeds=[c(1), c(2), c(3)])
    lk.next()
    lk.on_failure(1)
    assert lk.state(1) is PeerState.UNREACHABLE and lk.in_flight == 0
    assert [x.node_id for x in lk.next()] == [2]
    lk.on_failure(1)  # a second report is ignored
    assert lk.in_flight == 1


def test_terminates_when_k_closest_answered():
    seeds = [c(i) for i in (1, 2, 3, 40, 50)]
    lk = ClosestPeersLookup(TARGET, k=3, alpha=3, seeds=seeds)
    asked = lk.next()
    assert [x.node_id for x in asked] == [1, 2, 3]
    lk.on_success(1, [])
    lk.on_success(2, [])
    assert not lk.finished
    lk.on_success(3, [c(60)])
    assert lk.finished and lk.next() == []
    # 40 and 50 were never asked: the 3 closest had already answered.
    assert lk.state(40) is PeerState.HEARD
    assert [x.node_id for x in lk.result()] == [1, 2, 3]
    assert lk.requests == 3


def test_farther_candidates_not_asked_while_k_closest_pending():
    lk = ClosestPeersLookup(TARGET, k=2, alpha=3, seeds=[c(1), c(2), c(3)])
    assert [x.node_id for x in lk.next()] == [1, 2]  # 3 is beyond the k closest still in the running
    lk.on_failure(1)
    assert [x.node_id for x in lk.next()] == [3]


def test_own_id_and_duplicates_ignored():
    lk = ClosestPeersLookup(TARGET, k=5, alpha=3, seeds=[c(7), c(7), c(9)], own_id=3)
    lk.next()
    lk.on_success(7, [c(3), c(7), c(9), c(1)])
    assert lk.state(3) is None
    assert lk.hops(9) == 1  # learnt first as a seed
    assert lk.state(1) is PeerState.HEARD


def test_unknown_and_late_reports_are_ignored():
    lk = ClosestPeersLookup(TARGET, k=2, alpha=2, seeds=[c(1)])
    lk.on_success(99, [c(2)])
    lk.on_failure(99)
    lk.on_stall(99)
    assert lk.state(2) is None and lk.in_flight == 0
    lk.next()
    lk.on_success(1, [])
    lk.on_success(1, [c(2)])  # a duplicate answer adds nothing
    assert lk.state(2) is None
    assert lk.finished


def test_empty_seeds_finish_at_once():
    lk = ClosestPeersLookup(TARGET, k=3, alpha=3, seeds=[])
    assert lk.finished and lk.next() == [] and lk.result() == []


def test_finish_early():
    lk = ClosestPeersLookup(TARGET, k=3, alpha=3, seeds=[c(1), c(2)])
    lk.next()
    lk.finish()
    assert lk.finished and lk.next() == []


def test_candidate_cap():
    lk = ClosestPeersLookup(TARGET, k=2, alpha=1, seeds=[c(1000)], max_candidates=10)
    lk.next()
    lk.on_success(1000, [c(i) for i in range(2000, 2050)])
    assert len(lk._peers) == 10 and len(lk._order) == 10
    # The farthest un-asked are forgotten; the closest are kept, and the asked peer is never dropped.
    assert lk.state(1000) is PeerState.SUCCEEDED
    assert lk.state(2000) is PeerState.HEARD and lk.state(2049) is None
    asked = lk.next()
    lk.on_success(asked[0].node_id, [c(i) for i in range(1, 30)])
    assert len(lk._peers) <= 10
    assert lk.state(1) is PeerState.HEARD
    assert lk.state(1000) is PeerState.SUCCEEDED  # answered peers are kept even when far


def test_default_candidate_cap_is_8k():
    lk = ClosestPeersLookup(TARGET, k=3, alpha=1, seeds=[c(1 << 100)])
    assert lk.max_candidates == 24
    lk.next()
    lk.on_success(1 << 100, [c(i + 5) for i in range(500)])
    assert len(lk._peers) == 24


# ------------------------------------------------------------------------------------------ honest network


def run_lookup(target, k, alpha, network, start, rng, fail=frozenset(), stall=frozenset()):
    """Drive a lookup to the end against ``network``: ``node_id -> RoutingTable``. Replies arrive in a random
    order; peers in ``fail`` never answer; peers in ``stall`` stall first, then answer."""
    table = network[start]
    lk = ClosestPeersLookup(target, k, alpha, table.closest(target, k), own_id=start)
    waiting: list[int] = []
    stalled: set[int] = set()
    max_in_flight = 0
    steps = 0
    while not lk.finished:
        steps += 1
        assert steps < 100_000
        waiting += [x.node_id for x in lk.next()]
        max_in_flight = max(max_in_flight, lk.in_flight)
        assert lk.in_flight <= alpha
        if not waiting:
            break
        nid = waiting.pop(rng.randrange(len(waiting)))
        if nid in fail:
            lk.on_failure(nid)
        elif nid in stall and nid not in stalled:
            stalled.add(nid)
            lk.on_stall(nid)
            waiting.append(nid)
        else:
            lk.on_success(nid, network[nid].closest(target, k, exclude=start))
    return lk, max_in_flight


def build_network(ids, k, known=None):
    """Every node knows every id in ``known`` (default ``ids``) that fits its k-buckets."""
    network = {}
    for nid in ids:
        t = RoutingTable(nid, k, 0, 0.0)
        for other in ids if known is None else known:
            t.update(c(other), 0.0)
        network[nid] = t
    return network


@settings(deadline=None, derandomize=True, max_examples=60)
@given(
    ids=st.lists(st.integers(0, (1 << 160) - 1), min_size=2, max_size=70, unique=True),
    target=st.integers(0, (1 << 160) - 1),
    k=st.integers(1, 8),
    alpha=st.integers(1, 4),
    seed=st.integers(0, 1000),
)
def test_honest_network_finds_true_k_closest(ids, target, k, alpha, seed):
    alpha = min(alpha, k)
    network = build_network(ids, k)
    rng = random.Random(seed)
    start = ids[0]
    lk, max_in_flight = run_lookup(target, k, alpha, network, start, rng)
    assert lk.finished
    truth = sorted((x for x in ids if x != start), key=lambda x: x ^ target)[:k]
    got = [x.node_id for x in lk.result()]
    assert got == truth
    assert max_in_flight <= alpha


@settings(deadline=None, derandomize=True, max_examples=40)
@given(
    ids=st.lists(st.integers(0, (1 << 160) - 1), min_size=10, max_size=60, unique=True),
    target=st.integers(0, (1 << 160) - 1),
    seed=st.integers(0, 1000),
    data=st.data(),
)
def test_dead_and_stalled_peers(ids, target, seed, data):
    k, alpha = 4, 2
    start = ids[0]
    others = ids[1:]
    fail = frozenset(data.draw(st.lists(st.sampled_from(others), max_size=len(others) // 3)))
    stall = frozenset(data.draw(st.lists(st.sampled_from(others), max_size=len(others) // 3))) - fail
    # The live nodes have evicted the dead ones; the starting node still lists them.
    network = build_network(ids, k, known=[x for x in ids if x not in fail])
    network[start] = build_network([start], k, known=ids)[start]
    lk, _ = run_lookup(target, k, alpha, network, start, random.Random(seed), fail, stall)
    assert lk.finished
    alive = sorted((x for x in others if x not in fail), key=lambda x: x ^ target)[:k]
    assert [x.node_id for x in lk.result()] == alive
    for nid in fail:
        assert lk.state(nid) in (None, PeerState.HEARD, PeerState.UNREACHABLE)
