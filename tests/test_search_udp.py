"""Unstructured search on real sockets: 30 nodes on loopback form a random neighbour overlay; items shared on
3 of them are found by a flood and by a random-walk search from another node (issue 4, acceptance)."""

from __future__ import annotations

import hashlib
import random

import pytest
import trio

from p2p.config import NodeConfig, SearchConfig
from p2p.node import open_node
from p2p.search import Item

pytestmark = pytest.mark.timeout(120)

N = 30
CONFIG = NodeConfig(search=SearchConfig(keepalive_interval=5.0, candidate_backoff=5.0))


async def _run(nursery_nodes: list, i: int, task_status=trio.TASK_STATUS_IGNORED) -> None:  # type: ignore[no-untyped-def]
    async with open_node(host="127.0.0.1", port=0, config=CONFIG, seed=f"udp-search:{i}") as node:
        nursery_nodes[i] = node
        task_status.started(node)
        await trio.sleep_forever()


async def test_30_nodes_flood_and_walk_find_items_on_loopback(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(4)
    nodes: list = [None] * N
    # A bound so the test stops by itself if the network misbehaves; not a performance assertion.
    with trio.fail_after(180):
        await _run_30_nodes(rng, nodes)


async def _run_30_nodes(rng: random.Random, nodes: list) -> None:  # type: ignore[type-arg]
    async with trio.open_nursery() as nursery:
        for i in range(N):
            await nursery.start(_run, nodes, i)
        for i in range(1, N):
            seeds = [nodes[j].address for j in rng.sample(range(i), min(i, 3))]
            await nodes[i].bootstrap(seeds)
        # The overlay forms: every node reaches at least min_neighbours.
        with trio.fail_after(30):
            while min(len(n.core.overlay) for n in nodes) < CONFIG.search.min_neighbours:
                await trio.sleep(0.1)
        degrees = [len(n.core.overlay) for n in nodes]
        assert max(degrees) <= CONFIG.search.max_neighbours
        # Neighbour relations are symmetric.
        for n in nodes:
            for c in n.core.neighbours():
                peer = next(p for p in nodes if p.node_id == c.node_id)
                assert n.node_id in {x.node_id for x in peer.core.neighbours()}

        holders = {}
        for idx in (3, 11, 22):
            item = Item(f"needle report {idx}.pdf", hashlib.sha256(f"content {idx}".encode()).digest(), 1000 + idx,
                        ("needle", "report"))
            await nodes[idx].share(item)
            holders[nodes[idx].node_id] = (nodes[idx].address, item.content_hash.hex())
        origin = nodes[17]

        flood = await origin.search("Needle", strategy="flood", timeout=3.0)
        assert flood.strategy == "flood"
        found = {h.holder.node_id for h in flood.hits}
        assert found == set(holders)
        for h in flood.hits:  # every hit names a real holder, at its real address, with its real item
            addr, digest = holders[h.holder.node_id]
            assert h.holder.addr == addr and h.content_hash == digest
            assert 1 <= h.hops <= CONFIG.search.default_ttl and 0 < h.seconds < 3.0
        # No node handled the flood's GUID twice; every node but the origin handled it once.
        for n in nodes:
            st = n.core.statistics()
            s = st.search
            received = st.requests_received.get("query", 0)
            assert received == s.queries_seen + s.duplicates_dropped + s.not_neighbour + s.rate_limited
            assert s.queries_seen == (0 if n is origin else 1), (n.address, s)
        assert sum(n.core.statistics().search.duplicates_dropped for n in nodes) > 0

        walk = await origin.search("needle report", strategy="walk", max_hits=3, timeout=5.0)
        assert walk.hits and {h.holder.node_id for h in walk.hits} <= set(holders)
        for h in walk.hits:
            assert h.holder.addr == holders[h.holder.node_id][0]
        assert len(walk.hits) == 3 and walk.satisfied

        ring = await origin.search("needle", strategy="ring", timeout=3.0)
        assert ring.hits and {h.holder.node_id for h in ring.hits} <= set(holders)

        nursery.cancel_scope.cancel()


async def test_cli_share_shared_search_unshare(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from typer.testing import CliRunner

    from p2p.cli.main import app

    runner = CliRunner()

    def cli(*args: str):  # type: ignore[no-untyped-def]
        return trio.to_thread.run_sync(lambda: runner.invoke(app, list(args)))

    data = tmp_path / "d"
    f = tmp_path / "Holiday Photos.zip"
    f.write_bytes(b"x" * 3000)
    nodes: list = [None] * 6
    async with trio.open_nursery() as nursery:
        for i in range(5):
            await nursery.start(_run, nodes, i)

        async def with_dir(task_status=trio.TASK_STATUS_IGNORED) -> None:  # type: ignore[no-untyped-def]
            async with open_node(port=0, config=CONFIG, data_dir=data) as node:
                nodes[5] = node
                task_status.started()
                await trio.sleep_forever()

        await nursery.start(with_dir)
        for i in range(1, 6):
            await nodes[i].bootstrap([nodes[0].address])
        await nodes[2].share(Item("holiday video.mp4", hashlib.sha256(b"v").digest(), 77, ("holiday",)))
        with trio.fail_after(20):
            while min(len(n.core.overlay) for n in nodes) < 1:
                await trio.sleep(0.05)

        r = await cli("share", str(f), "--tag", "Summer", "--data-dir", str(data), "--json")
        assert r.exit_code == 0, r.output + r.stderr
        shared = json.loads(r.stdout)
        assert shared["size"] == 3000 and shared["hash"] == hashlib.sha256(b"x" * 3000).hexdigest()
        r = await cli("shared", "--data-dir", str(data), "--json")
        assert [i["name"] for i in json.loads(r.stdout)["items"]] == ["Holiday Photos.zip"]
        r = await cli("shared", "--data-dir", str(data))
        assert "Holiday Photos.zip" in r.stdout

        r = await cli("search", "holiday", "--timeout", "1", "--data-dir", str(data), "--json")
        assert r.exit_code == 0, r.output + r.stderr
        out = json.loads(r.stdout)
        assert [h["name"] for h in out["hits"]] == ["holiday video.mp4"]
        assert out["hits"][0]["holder"]["address"] == "{}:{}".format(*nodes[2].address)
        r = await cli("search", "holiday video", "--strategy", "walk", "--max-hits", "1", "--data-dir", str(data))
        assert r.exit_code == 0 and "holiday video.mp4" in r.stdout, r.output + r.stderr
        r = await cli("search", "nothing-like-this", "--timeout", "0.5", "--data-dir", str(data))
        assert r.exit_code == 1 and r.stderr.strip() == "no hits for: nothing-like-this"

        # --bootstrap: a short-lived node joins through node 0, gets neighbours, searches, and exits
        boot = "{}:{}".format(*nodes[0].address)
        r = await cli("search", "holiday", "--bootstrap", boot, "--timeout", "2", "--json")
        assert r.exit_code == 0, r.output + r.stderr
        out = json.loads(r.stdout)
        assert {h["name"] for h in out["hits"]} == {"holiday video.mp4", "Holiday Photos.zip"}
        holder = {h["name"]: h["holder"]["address"] for h in out["hits"]}
        assert holder["holiday video.mp4"] == "{}:{}".format(*nodes[2].address)
        assert holder["Holiday Photos.zip"] == "{}:{}".format(*nodes[5].address)
        r = await cli("search", "nothing-like-this", "--bootstrap", boot, "--timeout", "0.5")
        assert r.exit_code == 1 and r.stderr.strip() == "no hits for: nothing-like-this"

        status = await cli("node", "status", "--data-dir", str(data), "--json")
        st = json.loads(status.stdout)
        assert st["neighbours"] and st["search"]["searches_started"] == 3 and st["items"] == 1
        status = await cli("node", "status", "--data-dir", str(data))
        assert "queries seen" in status.stdout and "neighbours" in status.stdout

        r = await cli("unshare", shared["hash"], "--data-dir", str(data))
        assert r.exit_code == 0 and "unshared Holiday Photos.zip" in r.stdout
        for args in (["unshare", shared["hash"]], ["unshare", "xyz"], ["search", "!!!"],
                     ["share", str(tmp_path / "missing")]):
            r = await cli(*args, "--data-dir", str(data))
            assert r.exit_code in (1, 2), r.output
            lines = r.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
        nursery.cancel_scope.cancel()
