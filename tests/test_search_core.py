"""Unstructured search in the pure core: seen cache, TTL clamp, flooding on a cyclic graph checked against
networkx BFS, random walkers (TTL, no back-tracking, check-back stopping), malformed-query drops, the
neighbour overlay (formation, symmetry, replacement), and the catalogue's persistence in the data dir."""

from __future__ import annotations

import hashlib
import random
import sqlite3

import networkx as nx
import pytest
import trio

from p2p.config import NodeConfig, SearchConfig
from p2p.core import Completed, NodeCore, Send
from p2p.persist import SCHEMA_VERSION, SqliteStore
from p2p.search import Catalogue, InvalidQuery, Item, SeenCache, query_keywords
from p2p.search.flood import ring_ttls
from p2p.testing import CoreMesh
from p2p.wire import Contact, HitItem, Neighbour, Query, QueryHit, Walk, decode, encode_request

STATIC = SearchConfig(min_neighbours=0, target_neighbours=0, max_neighbours=64, keepalive_interval=1e6)


def item(name: str, *tags: str, seed: str | None = None) -> Item:
    return Item(name, hashlib.sha256((seed or name).encode()).digest(), len(name), tuple(tags))


def static_mesh(g: nx.Graph, seed: int = 0, **search: object) -> tuple[CoreMesh, dict[int, tuple[str, int]]]:
    """A CoreMesh whose neighbour overlay is exactly ``g`` (node i is core i); no DHT join, no keep-alives."""
    cfg = NodeConfig(search=SearchConfig(**{**{f: getattr(STATIC, f) for f in STATIC.__slots__}, **search}))
    mesh = CoreMesh(g.number_of_nodes(), seed=seed, config=cfg)
    addr = dict(enumerate(mesh.addresses))
    for u, v in g.edges():
        a, b = mesh.cores[addr[u]], mesh.cores[addr[v]]
        assert a.add_neighbour(0.0, Contact(b.node_id, *addr[v]))
        assert b.add_neighbour(0.0, Contact(a.node_id, *addr[u]))
    return mesh, addr


def search_stats(mesh: CoreMesh, a: tuple[str, int]):  # type: ignore[no-untyped-def]
    return mesh.cores[a].statistics().search


# ------------------------------------------------------------------------------------------ seen cache


def test_seen_cache_is_bounded_by_count_and_age() -> None:
    c = SeenCache(size=100, ttl=10.0)
    for i in range(1000):
        assert c.add(float(i) * 0.001, i.to_bytes(16, "big"), None) is not None
        assert len(c) <= 100
    assert c.evicted == 900
    last = (999).to_bytes(16, "big")
    assert c.add(1.0, last, None) is None  # a duplicate
    assert c.get(1.0, (0).to_bytes(16, "big")) is None  # evicted
    assert c.get(100.0, last) is None and len(c) < 100  # expired
    c.expire(100.0)
    assert len(c) == 0 and c.expired >= 1


# ------------------------------------------------------------------------------------------ catalogue


def test_keywords_match_all_tokens_case_insensitively() -> None:
    cat = Catalogue()
    cat.add(item("Free_Software Song.ogg", "Music", "GNU"))
    cat.add(item("free beer.txt"))
    assert [i.name for i in cat.match(query_keywords("FREE song"))] == ["Free_Software Song.ogg"]
    assert [i.name for i in cat.match(query_keywords("gnu music"))] == ["Free_Software Song.ogg"]
    assert len(cat.match(query_keywords("free"))) == 2
    assert cat.match(query_keywords("fre")) == []  # whole tokens only
    assert cat.match(query_keywords("free jazz")) == []  # every keyword must match
    assert cat.remove(item("free beer.txt").content_hash) is not None
    assert [i.name for i in cat.match(["free"])] == ["Free_Software Song.ogg"]
    for bad in ("", "  !! ", " ".join(f"k{i}" for i in range(9)), "x" * 65):
        with pytest.raises(InvalidQuery):
            query_keywords(bad)


# ------------------------------------------------------------------------------------------ flooding


@pytest.mark.parametrize("ttl", [1, 2, 3, 4])
def test_flood_reaches_the_bfs_ball_and_each_node_handles_the_guid_once(ttl: int) -> None:
    g = nx.connected_watts_strogatz_graph(60, 4, 0.3, seed=5)  # many cycles
    assert not nx.is_tree(g)
    mesh, addr = static_mesh(g)
    depth = nx.single_source_shortest_path_length(g, 0)
    ball = {v for _, v in nx.bfs_edges(g, 0, depth_limit=ttl)}
    holders = [v for v in g if v != 0][::7]
    for v in holders:
        mesh.cores[addr[v]].share(item(f"needle {v}", "hay"))
    res = mesh.run_query(addr[0], mesh.cores[addr[0]].start_search(mesh.now, "Needle", ttl=ttl, timeout=2.0))
    assert type(res) is Completed
    result = res.result
    handled = {v for v in g if search_stats(mesh, addr[v]).queries_seen == 1}
    assert handled == ball
    assert all(search_stats(mesh, addr[v]).queries_seen <= 1 for v in g)
    # exactly the messages of the graph model (sims/searchgraph.py): origin deg, then deg-1 per handler
    # at depth < ttl; every extra copy is a counted duplicate
    received = sum(mesh.cores[addr[v]].statistics().requests_received.get("query", 0) for v in g)
    expected = g.degree(0) + sum(g.degree(v) - 1 for v in ball if depth[v] < ttl)
    assert received == expected
    dups = sum(search_stats(mesh, addr[v]).duplicates_dropped for v in g)
    assert dups == received - len(ball)
    # hits: exactly the holders in the ball, at their BFS depth, named by their real id and address
    found = {h.holder.node_id: h for h in result.hits}
    want = {mesh.cores[addr[v]].node_id: v for v in holders if v in ball}
    assert set(found) == set(want)
    for nid, v in want.items():
        assert found[nid].hops == depth[v]
        assert found[nid].holder.addr == addr[v]


def test_hits_return_on_the_reverse_path_or_directly() -> None:
    g = nx.path_graph(5)
    for direct in (False, True):
        mesh, addr = static_mesh(g)
        mesh.cores[addr[4]].share(item("far away"))
        res = mesh.run_query(
            addr[0], mesh.cores[addr[0]].start_search(mesh.now, "far", ttl=4, max_hits=1, direct=direct)
        )
        (hit,) = res.result.hits
        assert hit.hops == 4 and hit.holder.addr == addr[4]
        forwarded = sum(search_stats(mesh, addr[v]).hits_forwarded for v in g)
        assert forwarded == (0 if direct else 3)


def test_ttl_above_the_maximum_is_clamped() -> None:
    mesh, addr = static_mesh(nx.path_graph(12), max_ttl=3, default_ttl=2)
    origin = mesh.cores[addr[0]]
    res = mesh.run_query(addr[0], origin.start_search(mesh.now, "x", ttl=200, timeout=1.0))
    assert res.result.ttl == 3
    assert origin.statistics().search.ttl_clamped == 1
    assert {v for v in range(12) if search_stats(mesh, addr[v]).queries_seen} == {1, 2, 3}
    # a query arriving with a TTL above the maximum is clamped too (and forwarded with max_ttl - 1)
    core = mesh.cores[addr[5]]
    sender = mesh.cores[addr[4]]
    q = Query(sender.node_id, b"\x07" * 16, 250, 1, Contact(sender.node_id, *addr[4]), ("x",))
    out = core.handle_datagram(mesh.now, addr[4], encode_request(b"\x01" * 20, q))
    fwd = [decode(e.data).message for e in out if type(e) is Send]
    assert [m.ttl for m in fwd] == [2] and core.statistics().search.ttl_clamped == 1


def test_expanding_ring_grows_the_ttl_until_a_hit() -> None:
    assert ring_ttls(7) == [1, 3, 5, 7] and ring_ttls(1) == [1] and ring_ttls(4) == [1, 3, 4]
    mesh, addr = static_mesh(nx.path_graph(10))
    mesh.cores[addr[4]].share(item("ring target"))
    res = mesh.run_query(addr[0], mesh.cores[addr[0]].start_search(mesh.now, "target", "ring", ttl=7, timeout=5))
    r = res.result
    assert r.rounds == 3 and r.ttl == 5 and [h.hops for h in r.hits] == [4] and r.satisfied
    assert r.seconds < 5  # ended after the round that found it, not at the deadline


def test_malformed_and_unsolicited_queries_are_dropped_and_counted() -> None:
    core = NodeCore(NodeConfig(), 42, rng=random.Random(0))
    peer = Contact(7, "10.0.0.1", 5)
    good = [b"\x07" * 20, b"g" * 16, 3, 1, peer.to_wire(), ["a"], False]
    bad_args = [
        good[:6],
        [good[0], b"g" * 15, *good[2:]],  # GUID not 16 bytes
        [*good[:2], 256, *good[3:]],  # ttl out of range
        [*good[:3], -1, *good[4:]],  # hops negative
        [*good[:4], ["x" * 20, "10.0.0.1", 5], *good[5:]],  # origin id not 20 bytes
        [*good[:5], [], good[6]],  # no keyword
        [*good[:5], ["k"] * 9, good[6]],  # too many keywords
        [*good[:5], ["k" * 65], good[6]],  # keyword too long
        [*good[:5], [3], good[6]],  # keyword not str
        [*good[:6], 1],  # direct not bool
    ]
    import msgpack

    for args in bad_args:
        data = b"\x00" + b"\x09" * 20 + msgpack.packb(["query", args], use_bin_type=True)
        assert core.handle_datagram(1.0, peer.addr, data) == []
    hit = ["query_hit", [b"\x07" * 20, b"g" * 16, 1, peer.to_wire(), [["n", b"short", 1, []]]]]
    assert core.handle_datagram(1.0, peer.addr, b"\x00" + b"\x09" * 20 + msgpack.packb(hit, use_bin_type=True)) == []
    st = core.statistics()
    assert st.drops == {"bad_query": len(bad_args) + 1}
    # a well-formed query from a peer that is not a neighbour is dropped and counted too
    q = Query(7, b"g" * 16, 3, 1, peer, ("a",))
    assert [e for e in core.handle_datagram(1.0, peer.addr, encode_request(b"\x01" * 20, q)) if type(e) is Send] == []
    assert core.statistics().search.not_neighbour == 1 and core.statistics().search.queries_seen == 0


def test_queries_beyond_a_neighbours_rate_are_dropped() -> None:
    cfg = NodeConfig(search=SearchConfig(query_rate=10.0, query_burst=20))
    core = NodeCore(cfg, 42, rng=random.Random(0))
    peer = Contact(7, "10.0.0.1", 5)
    (reply,) = core.handle_datagram(0.0, peer.addr, encode_request(b"\x01" * 20, Neighbour(7, True)))
    assert decode(reply.data).body[0] is True
    for i in range(100):
        q = Query(7, i.to_bytes(16, "big"), 2, 1, peer, ("a",))
        core.handle_datagram(1.0, peer.addr, encode_request(b"\x02" * 20, q))
    s = core.statistics().search
    assert s.queries_seen == 20 and s.rate_limited == 80  # the bucket holds a burst of 20
    for i in range(100, 200):  # half a second later: 5 more tokens
        q = Query(7, i.to_bytes(16, "big"), 2, 1, peer, ("a",))
        core.handle_datagram(1.5, peer.addr, encode_request(b"\x02" * 20, q))
    s = core.statistics().search
    assert s.queries_seen == 25 and s.rate_limited == 175


# ------------------------------------------------------------------------------------------ random walks


def test_walkers_take_exactly_ttl_steps_and_never_turn_back_on_a_cycle() -> None:
    g = nx.cycle_graph(30)
    mesh, addr = static_mesh(g, check_every=1000)
    origin = mesh.cores[addr[0]]
    res = mesh.run_query(addr[0], origin.start_search(mesh.now, "nothing", "walk", ttl=10, walkers=2, timeout=3))
    assert res.result.hits == () and res.result.messages == 2
    visits = {v: search_stats(mesh, addr[v]).walker_visits for v in g}
    assert sum(visits.values()) == 2 * 10
    assert sum(search_stats(mesh, addr[v]).walkers_expired for v in g) == 2
    # on a cycle a walker that never turns back walks 10 distinct nodes in each direction
    assert {v for v, n in visits.items() if n} == set(range(1, 11)) | set(range(20, 30))


def test_walk_ttl_is_clamped() -> None:
    mesh, addr = static_mesh(nx.cycle_graph(8), max_walk_ttl=5, default_walk_ttl=5, check_every=1000)
    res = mesh.run_query(addr[0], mesh.cores[addr[0]].start_search(mesh.now, "x", "walk", ttl=99, walkers=1, timeout=2))
    assert res.result.ttl == 5
    assert sum(search_stats(mesh, addr[v]).walker_visits for v in range(8)) == 5


def test_walkers_check_back_and_stop_once_satisfied() -> None:
    g = nx.random_regular_graph(4, 80, seed=3)
    mesh, addr = static_mesh(g, check_every=4, seed=3)
    holder = max(g, key=lambda v: nx.shortest_path_length(g, 0, v))
    mesh.cores[addr[holder]].share(item("rare item"))
    k, ttl = 16, 200
    res = mesh.run_query(addr[0], mesh.cores[addr[0]].start_search(mesh.now, "rare", "walk", ttl=ttl, walkers=k, timeout=30))
    r = res.result
    assert [h.holder.addr for h in r.hits] == [addr[holder]] and r.satisfied
    mesh.run_until(mesh.now + 30)  # let every walker reach its next check-back
    stats = [search_stats(mesh, addr[v]) for v in g]
    stopped = sum(s.walkers_stopped for s in stats)
    expired = sum(s.walkers_expired for s in stats)
    assert stopped + expired == k  # every walker ended
    assert expired == 0  # none ran out its TTL: check-backs stopped them
    visits = sum(s.walker_visits for s in stats)
    assert visits < k * ttl / 4
    assert sum(s.checks_sent for s in stats) == mesh.cores[addr[0]].statistics().search.checks_answered


# ------------------------------------------------------------------------------------------ overlay


def overlay_mesh(n: int, seed: int = 1) -> CoreMesh:
    cfg = NodeConfig(search=SearchConfig(keepalive_interval=5.0, candidate_backoff=10.0))
    mesh = CoreMesh(n, seed=seed, config=cfg)
    mesh.join_all()
    mesh.run_until(mesh.now + 20)
    return mesh


def assert_overlay_ok(mesh: CoreMesh) -> None:
    sc = mesh.config.search
    ids = {c.node_id: a for a, c in mesh}
    for a, core in mesh:
        nbrs = core.neighbours()
        assert sc.min_neighbours <= len(nbrs) <= sc.max_neighbours, (a, len(nbrs))
        for c in nbrs:
            assert c.node_id in ids and ids[c.node_id] == c.addr
            assert core.node_id in {x.node_id for x in mesh.cores[c.addr].neighbours()}  # symmetric


def test_overlay_forms_within_bounds_and_is_symmetric() -> None:
    mesh = overlay_mesh(40)
    assert_overlay_ok(mesh)
    g = nx.Graph((a, c.addr) for a, core in mesh for c in core.neighbours())
    assert nx.is_connected(g)


def test_a_failed_neighbour_is_replaced() -> None:
    mesh = overlay_mesh(40)
    victim = mesh.addresses[10]
    vid = mesh.cores[victim].node_id
    had = [a for a, core in mesh if vid in {c.node_id for c in core.neighbours()}]
    assert had
    mesh.remove(victim)
    mesh.run_until(mesh.now + 60)
    for a in had:
        assert vid not in {c.node_id for c in mesh.cores[a].neighbours()}
    assert sum(mesh.cores[a].statistics().search.neighbours_lost for a in had) >= len(had)
    assert_overlay_ok(mesh)


def test_a_leaving_neighbour_says_bye_and_is_replaced_at_once() -> None:
    mesh = overlay_mesh(40)
    victim = mesh.addresses[10]
    core = mesh.cores[victim]
    vid = core.node_id
    had = [a for a, c in mesh if vid in {x.node_id for x in c.neighbours()}]
    assert len(had) >= 2
    # A forged goodbye (right node id, wrong address) changes nothing.
    forger = mesh.addresses[11]
    mesh.apply(forger, [Send(had[0], encode_request(b"\x01" * 20, Neighbour(vid, False)))])
    mesh.run_until(mesh.now + 0.5)
    assert vid in {x.node_id for x in mesh.cores[had[0]].neighbours()}
    lost_before = sum(mesh.cores[a].statistics().search.neighbours_lost for a in had)

    bye = core.leave(mesh.now)
    assert len(bye) == len(had) and all(type(e) is Send for e in bye) and len(core.overlay) == 0
    mesh.apply(victim, bye)
    mesh.remove(victim)
    mesh.run_until(mesh.now + 0.5)  # far less than a keep-alive period (5 s) plus its timeouts
    for a in had:
        assert vid not in {x.node_id for x in mesh.cores[a].neighbours()}
    assert sum(mesh.cores[a].statistics().search.neighbours_lost for a in had) == lost_before + len(had)
    mesh.run_until(mesh.now + 3)  # replacements come from the overlay timer, not from failed keep-alives
    assert_overlay_ok(mesh)
    assert all(vid not in {x.node_id for x in c.neighbours()} for _, c in mesh)


async def test_a_closing_node_says_bye_to_its_neighbours(autojump_clock) -> None:  # type: ignore[no-untyped-def]
    """Graceful close of a real Node (open_node's exit) sends the goodbye; its neighbours drop it at once."""
    from p2p.testing import open_sim_nodes

    cfg = NodeConfig(search=SearchConfig(keepalive_interval=1000.0))
    async with open_sim_nodes(6, seed=2, config=cfg) as (_net, nodes):
        with trio.fail_after(30):
            while min(len(n.core.overlay) for n in nodes) < 2:
                await trio.sleep(0.1)
        leaver = nodes[5]
        had = [n for n in nodes[:5] if leaver.node_id in {c.node_id for c in n.core.neighbours()}]
        assert had
        await leaver.aclose()
        await trio.sleep(1.0)  # with a 1000 s keep-alive, only the goodbye can explain this
        for n in had:
            assert leaver.node_id not in {c.node_id for c in n.core.neighbours()}
            assert n.core.statistics().search.neighbours_lost >= 1


def test_a_node_that_ignores_neighbour_requests_never_becomes_one() -> None:
    """A stock kademlia node does not know the RPC; model it with enabled=False (it refuses)."""
    cfg = NodeConfig(search=SearchConfig(enabled=False))
    mesh = overlay_mesh(12)
    stock = NodeCore(cfg, 99, rng=random.Random(1), now=mesh.now)
    mesh.cores[("127.0.0.1", 19999)] = stock
    mesh.addresses.append(("127.0.0.1", 19999))
    mesh.run_query(("127.0.0.1", 19999), stock.start_bootstrap(mesh.now, mesh.addresses[:3]))
    mesh.run_until(mesh.now + 30)
    assert len(stock.overlay) == 0
    assert all(99 not in {c.node_id for c in core.neighbours()} for _, core in mesh)


# ------------------------------------------------------------------------------------------ persistence


async def test_shared_items_persist_and_v1_files_migrate(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from p2p.node import open_node

    f = tmp_path / "song.ogg"
    f.write_bytes(b"la la la")
    d = tmp_path / "node"
    async with open_node(data_dir=d, port=0) as node:
        it = await node.share(f, tags=["Music"])
        assert it.size == 8 and it.content_hash == hashlib.sha256(b"la la la").digest()
        assert it.name == "song.ogg" and it.path == str(f.resolve())
        await node.share(item("other"))
        assert node.unshare(item("other").content_hash.hex()) is not None
    async with open_node(data_dir=d, port=0) as node:
        assert node.items() == [it]
        assert node.status()["items"] == 1
    # a version-1 file (no items table) is migrated in place
    old = tmp_path / "old"
    old.mkdir()
    db = sqlite3.connect(old / "node.sqlite3")
    db.executescript(
        "CREATE TABLE records (key BLOB PRIMARY KEY, value BLOB, value_type TEXT NOT NULL, stored_at REAL NOT NULL,"
        " expires_at REAL NOT NULL, publisher BLOB);"
        "CREATE TABLE contacts (node_id BLOB PRIMARY KEY, host TEXT NOT NULL, port INTEGER NOT NULL,"
        " last_seen REAL NOT NULL);"
        "CREATE TABLE meta (name TEXT PRIMARY KEY, value BLOB);"
        "INSERT INTO meta VALUES ('x', 'kept');"
        "PRAGMA application_id = 1882353713; PRAGMA user_version = 1;"
    )
    db.commit()
    db.close()
    with SqliteStore.open(old) as s:
        assert s.get_meta("x") == "kept" and s.load_items() == []
        s.save_item(it, 1.0)
        assert s.load_items() == [it]
        assert s._c().execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2


def test_hit_items_round_trip_through_the_wire() -> None:
    h = QueryHit(1, b"g" * 16, 2, Contact(2, "::1", 7), (HitItem("n", b"h" * 32, 5, ("t",)),))
    assert decode(encode_request(b"\x01" * 20, h)).message == h
    w = Walk(1, b"g" * 16, 9, 3, Contact(2, "127.0.0.1", 7), ("a", "b"), 4)
    assert decode(encode_request(b"\x01" * 20, w)).message == w


_ = trio  # pytest-trio runs the async test


def test_with_search_disabled_the_overlay_timer_never_wakes_the_node() -> None:
    """A DHT-only core wakes for maintenance and RPC timers only (the overlay tick would have nothing to do)."""
    off = NodeCore(NodeConfig(search=SearchConfig(enabled=False)), 7, rng=random.Random(1), now=0.0)
    on = NodeCore(NodeConfig(), 7, rng=random.Random(1), now=0.0)
    assert on.next_deadline() <= 5.0  # the overlay tick
    assert off.next_deadline() == 180.0  # maintenance: a twentieth of the 3600 s refresh interval
    off.poll(180.0)
    assert off.next_deadline() == 360.0
    mesh = CoreMesh(20, seed=3, config=NodeConfig(search=SearchConfig(enabled=False)))
    mesh.join_all()  # a bootstrap does not start the overlay either
    mesh.run_until(mesh.now + 30)
    assert all(len(c.overlay) == 0 and c.next_deadline() > mesh.now + 5 for _, c in mesh)
