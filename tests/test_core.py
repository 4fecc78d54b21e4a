"""Tests of NodeCore through CoreMesh (pure cores, no trio): join, put/get, local hits, errors, caching on get,
bucket refresh, replication, expiry and hand-over of records to new close nodes."""

from __future__ import annotations

import random

import pytest

from p2p.config import KademliaConfig, NodeConfig
from p2p.core import Completed, Failed, GetResult, NodeCore, PutResult, Send
from p2p.errors import BootstrapFailed, InvalidValue, NoContacts, ValueTooLarge
from p2p.ids import bucket_index, key_id
from p2p.testing import CoreMesh
from p2p.wire import FindNode, Request, Store, decode


def kconf(**kw) -> NodeConfig:
    return NodeConfig(kademlia=KademliaConfig(**kw))


def holders(mesh: CoreMesh, kid: int) -> set:
    return {a for a, core in mesh if core.store.get(kid) is not None}


def true_closest(mesh: CoreMesh, kid: int, k: int) -> set:
    return {a for a, _ in sorted(mesh, key=lambda ac: ac[1].node_id ^ kid)[:k]}


def ok(effect) -> object:
    assert type(effect) is Completed, effect
    return effect.result


@pytest.fixture(scope="module")
def mesh50() -> CoreMesh:
    mesh = CoreMesh(50, seed=1)
    mesh.join_all()
    return mesh


def test_join_put_get_50_nodes(mesh50):
    mesh = mesh50
    for _, core in mesh:
        assert len(core.table) >= 10
    a = mesh.addresses
    put = ok(mesh.run_query(a[3], mesh.cores[a[3]].start_put(mesh.now, "alpha", "one")))
    assert isinstance(put, PutResult)
    assert put.key_id == key_id("alpha")
    assert put.targets == 20 and put.acks == 20
    mesh.run_until(mesh.now + 5)
    kid = key_id("alpha")
    # The record is on the k closest nodes of the whole network (the publisher counts if it is one).
    assert true_closest(mesh, kid, 20) <= holders(mesh, kid)
    assert put.stored_locally == (a[3] in true_closest(mesh, kid, 20))
    for addr in (a[0], a[17], a[49]):
        got = ok(mesh.run_query(addr, mesh.cores[addr].start_get(mesh.now, "alpha")))
        assert isinstance(got, GetResult)
        assert got.found and got.value == "one"
    missing = ok(mesh.run_query(a[9], mesh.cores[a[9]].start_get(mesh.now, "no such key")))
    assert not missing.found and missing.value is None and missing.requests >= 20


def test_get_from_local_store_is_hop_0(mesh50):
    mesh = mesh50
    a = mesh.addresses
    ok(mesh.run_query(a[5], mesh.cores[a[5]].start_put(mesh.now, "beta", b"\x00\x01")))
    kid = key_id("beta")
    holder = next(iter(holders(mesh, kid)))
    qid, effects = mesh.cores[holder].start_get(mesh.now, "beta")
    assert not [e for e in effects if type(e) is Send]  # no request at all
    (done,) = effects
    assert done == Completed(qid, GetResult(kid, True, b"\x00\x01", 0, 0, 0.0))
    # An int key id works too.
    _, effects = mesh.cores[holder].start_get(mesh.now, kid)
    assert effects[0].result.found


def test_put_get_with_empty_table_fail_with_no_contacts():
    core = NodeCore(NodeConfig(), 42, rng=random.Random(0))
    qid, effects = core.start_put(0.0, "k", "v")
    assert len(effects) == 1 and type(effects[0]) is Failed and effects[0].qid == qid
    assert isinstance(effects[0].error, NoContacts)
    qid, effects = core.start_get(0.0, "k")
    assert type(effects[0]) is Failed and isinstance(effects[0].error, NoContacts)
    _, effects = core.start_find_node(0.0, 7)
    assert isinstance(effects[0].error, NoContacts)
    _, effects = core.start_bootstrap(0.0, [])
    assert isinstance(effects[0].error, BootstrapFailed)
    s = core.statistics()
    assert s.queries_failed == 4 and s.active_queries == 0 and s.datagrams_sent == 0


def test_bootstrap_fails_when_no_address_answers():
    core = NodeCore(NodeConfig(), 42, rng=random.Random(0))
    qid, effects = core.start_bootstrap(0.0, [("10.0.0.1", 1)])
    assert [type(e) for e in effects] == [Send]
    out = []
    t = 0.0
    while not any(type(e) is Failed for e in out):
        t = core.next_deadline()
        assert t < 10
        out += core.poll(t)
    (failed,) = [e for e in out if type(e) is Failed]
    assert failed.qid == qid and isinstance(failed.error, BootstrapFailed)
    assert len([e for e in out if type(e) is Send]) == 2  # two retransmissions, then give up
    assert core.statistics().timeouts == 1


def test_value_errors_raise_before_any_query():
    core = NodeCore(kconf(max_value_size=100), 42, rng=random.Random(0))
    with pytest.raises(ValueTooLarge):
        core.start_put(0.0, "k", "x" * 100)  # 102 bytes packed
    core.start_put(0.0, "k", "x" * 98)  # exactly 100: accepted (fails later for lack of contacts)
    for bad in (None, [1], {"a": 1}, (1, 2), object()):
        with pytest.raises(InvalidValue):
            core.start_put(0.0, "k", bad)
    assert core.statistics().queries_started == 1


def test_store_refused_over_limits():
    core = NodeCore(kconf(max_value_size=50, max_records=2), 42, rng=random.Random(0))
    from p2p.wire import encode_request

    def store(i, value, xid):
        (e,) = core.handle_datagram(1.0, ("10.0.0.1", 5), encode_request(xid, Store(7, i, value)))
        return decode(e.data).body

    assert store(1, "a", b"\x01" * 20) is True
    assert store(2, "b" * 60, b"\x02" * 20) is False  # too large
    assert store(3, "c", b"\x03" * 20) is True
    assert store(4, "d", b"\x04" * 20) is False  # store full
    assert store(1, "a2", b"\x05" * 20) is True  # replacing an existing record is fine
    assert core.statistics().store_refused == 2 and len(core.store) == 2


def _cache_mesh(cache_on_get: bool) -> tuple[CoreMesh, int]:
    mesh = CoreMesh(40, seed=3, config=kconf(k=3, alpha=1, cache_on_get=cache_on_get))
    mesh.join_all()
    a = mesh.addresses
    ok(mesh.run_query(a[0], mesh.cores[a[0]].start_put(mesh.now, "gamma", 7)))
    mesh.run_until(mesh.now + 5)
    return mesh, key_id("gamma")


def test_cache_on_get_stores_at_closest_node_lacking_the_value():
    mesh, kid = _cache_mesh(True)
    traffic: list[tuple] = []  # (src, dst, decoded datagram)
    apply = mesh.apply

    def tracing_apply(src, effects):
        for e in effects:
            if type(e) is Send:
                traffic.append((src, e.addr, decode(e.data)))
        apply(src, effects)

    mesh.apply = tracing_apply
    cached = 0
    for addr in mesh.addresses:
        before = holders(mesh, kid)
        if addr in before:
            continue
        core = mesh.cores[addr]
        n = core.statistics().cache_stores
        traffic.clear()
        qid, effects = core.start_get(mesh.now, kid)
        mesh.apply(addr, effects)
        while (addr, qid) not in mesh.results:
            mesh.run_until(mesh._next_event())
        got = mesh.results.pop((addr, qid)).result
        assert got.found and got.value == 7
        mesh.run_until(mesh.now + 5)
        new = holders(mesh, kid) - before
        if core.statistics().cache_stores == n:
            assert not new
            continue
        cached += 1
        assert len(new) == 1
        (target,) = new
        # The cached copy went to the node closest to the key among those that answered the get's FIND_VALUE
        # without the value.
        asked = {
            m.xid: dst
            for src, dst, m in traffic
            if src == addr and isinstance(m, Request) and m.message.NAME == "find_value"
        }
        lacking = {
            src
            for src, dst, m in traffic
            if dst == addr
            and not isinstance(m, Request)
            and m.xid in asked
            and asked[m.xid] == src
            and isinstance(m.body, list)
        }
        assert target in lacking
        assert target == min(lacking, key=lambda x: mesh.cores[x].node_id ^ kid)
        assert mesh.cores[target].store.get(kid).value == 7
        if cached >= 3:
            break
    assert cached == 3


def test_no_cache_on_get_when_disabled():
    mesh, kid = _cache_mesh(False)
    before = holders(mesh, kid)
    for addr in mesh.addresses:
        if addr not in before:
            got = ok(mesh.run_query(addr, mesh.cores[addr].start_get(mesh.now, kid)))
            assert got.found
    mesh.run_until(mesh.now + 5)
    assert holders(mesh, kid) == before
    assert all(core.statistics().cache_stores == 0 for _, core in mesh)


def test_bucket_refresh_emits_lookups_after_refresh_interval():
    interval = 100.0
    mesh = CoreMesh(30, seed=4, config=kconf(k=4, refresh_interval=interval))
    mesh.join_all()
    addr = mesh.addresses[7]
    core = mesh.cores[addr]
    mesh.run_until(mesh.now + 1)
    t0 = mesh.now
    assert not [
        e
        for e in core.poll(t0)
        if type(e) is Send
        and isinstance(decode(e.data), Request)
        and isinstance(decode(e.data).message, FindNode)
    ]
    now = t0 + interval + 10
    stale = core.table.stale_buckets(now, interval)
    assert stale
    started = core.statistics().queries_started
    effects = core.poll(now)
    targets = set()
    for e in effects:
        msg = decode(e.data) if type(e) is Send else None
        if isinstance(msg, Request) and isinstance(msg.message, FindNode):
            targets.add(msg.message.target)
    refreshed = {bucket_index(core.node_id, t) for t in targets}
    assert refreshed == set(stale[:8])
    assert core.statistics().queries_started - started == len(refreshed)
    assert not set(stale[:8]) & set(core.table.stale_buckets(now, interval))
    assert not [e for e in effects if type(e) in (Completed, Failed)]  # internal queries: no user effect
    # The refresh lookups run to completion over the mesh.
    mesh.now = now
    mesh.apply(addr, effects)
    mesh.run_until(now + 30)
    assert core.statistics().active_queries == 0


def test_replication_restores_a_lost_copy():
    mesh = CoreMesh(25, seed=5, config=kconf(k=4, replicate_interval=100.0))
    mesh.join_all()
    a = mesh.addresses
    ok(mesh.run_query(a[2], mesh.cores[a[2]].start_put(mesh.now, "delta", "d")))
    kid = key_id("delta")
    mesh.run_until(mesh.now + 1)
    closest = true_closest(mesh, kid, 4)
    assert closest <= holders(mesh, kid)
    victim = sorted(closest)[0]
    assert mesh.cores[victim].store.delete(kid)
    mesh.run_until(mesh.now + 50)
    assert victim not in holders(mesh, kid)  # nothing replicates before the interval
    mesh.run_until(mesh.now + 100)
    assert victim in holders(mesh, kid)
    assert sum(core.statistics().replications for _, core in mesh) >= 1


def test_records_expire_after_expire_after():
    mesh = CoreMesh(20, seed=6, config=kconf(k=4, expire_after=50.0))
    mesh.join_all()
    a = mesh.addresses
    ok(mesh.run_query(a[1], mesh.cores[a[1]].start_put(mesh.now, "eps", 1.5)))
    kid = key_id("eps")
    mesh.run_until(mesh.now + 1)
    h = holders(mesh, kid)
    assert len(h) >= 4
    # The publisher keeps its record alive by republishing it (paper §2.5); once it is gone, the copies
    # expire expire_after seconds after their last STORE.
    mesh.remove(a[1])
    holder = next(iter(h - {a[1]}))
    mesh.run_until(mesh.now + 55)
    # Past its expiry a record is never served, even before maintenance purges it.
    got = ok(mesh.run_query(holder, mesh.cores[holder].start_get(mesh.now, kid)))
    assert not got.found
    mesh.run_until(mesh.now + 200)  # maintenance runs at least every 180 s
    assert holders(mesh, kid) == set()
    assert all(len(core.store) == 0 for _, core in mesh)


def test_handover_sends_records_to_a_new_close_node():
    mesh = CoreMesh(20, seed=7, config=kconf(k=3))
    mesh.join_all()
    a = mesh.addresses
    ok(mesh.run_query(a[4], mesh.cores[a[4]].start_put(mesh.now, "zeta", "z")))
    kid = key_id("zeta")
    mesh.run_until(mesh.now + 1)
    before = holders(mesh, kid)

    class FixedId(random.Random):
        def getrandbits(self, n: int) -> int:
            return kid ^ 1  # the closest possible id to the key

    new = mesh.add(FixedId(), random.Random("new"))
    assert mesh.cores[new].node_id == kid ^ 1 and new not in before
    handovers = sum(core.statistics().handovers for _, core in mesh)
    ok(mesh.run_query(new, mesh.cores[new].start_bootstrap(mesh.now, [a[0]])))
    mesh.run_until(mesh.now + 5)
    assert mesh.cores[new].store.get(kid).value == "z"
    assert sum(core.statistics().handovers for _, core in mesh) > handovers
    got = ok(mesh.run_query(new, mesh.cores[new].start_get(mesh.now, "zeta")))
    assert got.found and got.hops == 0


def test_handover_to_new_closest_node_outside_own_neighbourhood():
    """Paper §2.5 / stock ``welcomeIfNewNode``: a node that is the closest known to a key it holds sends the
    record to a new contact that is among the k closest to the key -- even when that contact is not among
    the k closest to the node's own id. Ids (k = 2): self 0, neighbours 1 and 2, key 8, newcomer 9.
    closest(8) = [9, 1] contains the newcomer and self (distance 8) beats 1 (distance 9), so 9 must get the
    record; but closest(0) = [1, 2] does not contain 9."""
    from p2p.store import Record
    from p2p.wire import Ping, encode_request

    core = NodeCore(kconf(k=2, alpha=1), 0, rng=random.Random(0))
    for i, nid in enumerate((1, 2)):
        core.handle_datagram(1.0, (f"10.0.0.{i + 1}", 4000), encode_request(bytes([i]) * 20, Ping(nid)))
    core.store.put(Record(8, "v", 1.0, 1e9))
    effects = core.handle_datagram(2.0, ("10.0.0.9", 4000), encode_request(b"\x09" * 20, Ping(9)))
    assert [c.node_id for c in core.table.closest(8, 2)] == [9, 1]
    stores = [
        m.message
        for e in effects
        if type(e) is Send and e.addr == ("10.0.0.9", 4000)
        for m in [decode(e.data)]
        if isinstance(m, Request) and isinstance(m.message, Store)
    ]
    assert [(s.key, s.value) for s in stores] == [(8, "v")]
    assert core.statistics().handovers == 1


def test_publisher_republishes_after_republish_interval():
    """KademliaConfig.republish_interval (tRepublish, paper §2.5) and Record.publisher document that the
    original publisher re-publishes its records every republish_interval. With replication effectively off and
    expire_after = 150 s, a record published with republish_interval = 100 s must still be found after 400 s."""
    config = kconf(
        k=4, replicate_interval=1e6, refresh_interval=1e6, republish_interval=100.0, expire_after=150.0
    )
    mesh = CoreMesh(20, seed=8, config=config)
    mesh.join_all()
    a = mesh.addresses
    ok(mesh.run_query(a[3], mesh.cores[a[3]].start_put(mesh.now, "eta", "h")))
    mesh.run_until(mesh.now + 400)
    getter = next(x for x in a if x != a[3])
    got = ok(mesh.run_query(getter, mesh.cores[getter].start_get(mesh.now, "eta")))
    assert got.found and got.value == "h"
