"""Wire compatibility with the PyPI ``kademlia`` 2.2.3 package (DESIGN.md §6), over real UDP on 127.0.0.1.

Our nodes run in this trio process (``open_node``); stock ``kademlia.network.Server`` instances run in a
separate asyncio subprocess driven through :class:`StockPeers` (tests/stockpeer.py). Every stock call goes
through ``await peers.acall(...)`` (a worker thread), so our nodes keep answering the stock nodes' RPCs while
the controller waits for a stock operation to finish.

Besides values and types, each test checks that neither side rejects the other's datagrams:

* the stock subprocess counts exceptions escaping its asyncio tasks (``task_errors``): a datagram of ours that
  stock code cannot handle (wrong arity, wrong types) raises there;
* stock logs "Did not receive reply" when a request of its own goes unanswered for 5 s (we must always reply);
* our cores count every dropped datagram by reason; only ``unknown_xid`` (a late duplicate reply after one of
  our retransmissions) is expected between well-behaved peers.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio

from p2p.config import KademliaConfig, NodeConfig
from p2p.node import Node, open_node
from p2p.store import MemoryStore, Record

pytestmark = pytest.mark.slow


import stockpeer  # noqa: E402  (tests/conftest.py puts tests/ on sys.path)

OP_TIMEOUT = 12.0
"""Bound on any single operation (stock's own RPC timeout is 5 s; ours is 1 s with 2 retransmissions)."""

EXPECTED_DROPS = {"unknown_xid"}
"""Drop reasons that are legitimate between well-behaved peers (a late duplicate reply)."""


@asynccontextmanager
async def stock_peers() -> AsyncIterator[Any]:
    peers = await trio.to_thread.run_sync(lambda: stockpeer.StockPeers.spawn(timeout=OP_TIMEOUT))
    try:
        yield peers
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(peers.close)


@asynccontextmanager
async def our_nodes(
    count: int, *, first_seed: int = 0, config: NodeConfig | None = None
) -> AsyncIterator[list[Node]]:
    async with contextlib.AsyncExitStack() as stack:
        nodes = [
            await stack.enter_async_context(open_node(seed=first_seed + i, config=config))
            for i in range(count)
        ]
        yield nodes


class ForgetfulStore(MemoryStore):
    """Acknowledges STOREs but keeps nothing, so every get of this node must come over the wire."""

    def put(self, record: Record) -> None:
        pass


def check_our_drops(nodes: list[Node]) -> dict[str, int]:
    """Sum the drop reasons of our cores, print them, and assert only expected reasons occurred."""
    total: dict[str, int] = {}
    for node in nodes:
        for reason, count in node.core.statistics().drops.items():
            total[reason] = total.get(reason, 0) + count
        assert node.internal_errors == 0, "an exception escaped our protocol core"
    print(f"our drops: {total}")
    unexpected = {r: c for r, c in total.items() if r not in EXPECTED_DROPS}
    assert not unexpected, f"our nodes dropped datagrams from stock peers: {unexpected}"
    return total


async def check_stock_health(peers: Any) -> dict:
    stats = await peers.acall("stats")
    tail = peers.stderr_tail()
    print(f"stock stats: task_errors={stats['task_errors']} rpc_sent={stats['rpc_sent']}")
    assert stats["task_errors"] == 0, f"our datagrams raised inside stock code:\n{tail}"
    assert "Did not receive reply" not in tail, (
        f"a stock request to one of our nodes went unanswered:\n{tail}"
    )
    return stats


# ------------------------------------------------------------------------------------------------------ (a)


async def test_open_node_uses_the_given_empty_store() -> None:
    """Regression: open_node once did ``store=store or MemoryStore()``, which replaced a caller's store that
    is empty when the node opens (``len(store) == 0`` makes it falsy) with a new MemoryStore, so the caller's
    store silently never received a record (ForgetfulStore below depends on this)."""
    store = MemoryStore()
    async with open_node(seed=1, store=store) as node:
        assert node.core.store is store, "open_node replaced the given (empty) store with a new MemoryStore"


async def test_stock_sets_via_our_node_and_we_get_typed_values() -> None:
    """A stock server bootstraps from our node A and sets a str and a bytes value (A receives the stock
    STORE). Our A and our B (joined through the stock node afterwards) return both values with their types.
    Then a node of ours that keeps nothing locally gets them from a network of stock holders only, so the
    values reach it in stock ``{"value": v}`` find_value replies."""
    async with stock_peers() as peers, our_nodes(2) as (a, b):
        with trio.fail_after(OP_TIMEOUT):
            (stock,) = await peers.acall("start", 1, seed=11)
        stock_addr = ("127.0.0.1", stock["port"])
        with trio.fail_after(OP_TIMEOUT):
            assert await peers.acall("bootstrap", 0, [a.address]) == 1
        with trio.fail_after(OP_TIMEOUT):
            assert await peers.acall("set", 0, "interop-str", "héllo wörld")
            assert await peers.acall("set", 0, "interop-bytes", b"\x00\xff\x80raw")
        with trio.fail_after(OP_TIMEOUT):
            joined = await b.bootstrap([stock_addr])
        assert joined.responded == 1

        for node in (a, b):
            with trio.fail_after(OP_TIMEOUT):
                got_str = await node.get("interop-str")
                got_bytes = await node.get("interop-bytes")
            assert got_str.found and got_str.value == "héllo wörld" and type(got_str.value) is str
            assert (
                got_bytes.found and got_bytes.value == b"\x00\xff\x80raw" and type(got_bytes.value) is bytes
            )

        # the stock STORE reached our node A over the wire
        assert a.core.statistics().requests_executed.get("store", 0) >= 2
        # B had nothing locally; its get went over the wire (hops ≥ 1)
        with trio.fail_after(OP_TIMEOUT):
            remote = await b.get("interop-bytes")
        assert remote.found

        # the other value types the stock package accepts
        extra: dict[str, Any] = {"interop-int": -(2**62), "interop-float": 2.5e-300, "interop-bool": True}
        for key, value in extra.items():
            with trio.fail_after(OP_TIMEOUT):
                assert await peers.acall("set", 0, key, value)
                got = await b.get(key)
            assert got.found and got.value == value and type(got.value) is type(value), (key, got)
        check_our_drops([a, b])
        await check_stock_health(peers)

        # values only stock nodes hold, fetched by a node that cannot keep anything
        with trio.fail_after(OP_TIMEOUT):
            s1, s2 = await peers.acall("start", 2, seed=14)
            assert await peers.acall("bootstrap", 2, [("127.0.0.1", s1["port"])]) == 1
            assert await peers.acall("set", 1, "stock-only-bytes", b"\x01\x02" * 100)
            assert await peers.acall("set", 1, "stock-only-str", "ünïcode")
        async with open_node(seed=3, store=ForgetfulStore()) as c:
            with trio.fail_after(OP_TIMEOUT):
                await c.bootstrap([("127.0.0.1", s1["port"])])
                for key, value in (("stock-only-bytes", b"\x01\x02" * 100), ("stock-only-str", "ünïcode")):
                    got = await c.get(key)
                    assert got.found and got.hops >= 1 and got.requests >= 1, (key, got)
                    assert got.value == value and type(got.value) is type(value), (key, got)
            check_our_drops([c])
        await check_stock_health(peers)


# ------------------------------------------------------------------------------------------------------ (b)


async def test_we_put_and_stock_gets() -> None:
    """Our node A puts a str and an int (stored on our B too). Then a stock server joins through A and gets
    both: it holds nothing locally, so its find_value crawl must parse our ``{"value": v}`` replies.
    Hand-over is off on our side so the values reach the stock node only through its own get."""
    config = NodeConfig(kademlia=KademliaConfig(handover=False))
    async with stock_peers() as peers, our_nodes(2, first_seed=100, config=config) as (a, b):
        with trio.fail_after(OP_TIMEOUT):
            await b.bootstrap([a.address])
        values: dict[str, Any] = {"ours-str": "from trio", "ours-int": 1234567890123, "ours-neg": -7}
        for key, value in values.items():
            with trio.fail_after(OP_TIMEOUT):
                put = await a.put(key, value)
            assert put.acks == 1  # B acknowledged

        with trio.fail_after(OP_TIMEOUT):
            await peers.acall("start", 2, seed=12)
            assert await peers.acall("bootstrap", 0, [a.address]) >= 1
        with trio.fail_after(OP_TIMEOUT):
            assert await peers.acall("storage", 0) == {}
        for key, value in values.items():
            with trio.fail_after(OP_TIMEOUT):
                found, got = await peers.acall("get", 0, key)
            assert found, key
            assert got == value and type(got) is type(value), (key, got)

        # a second stock node joins through the first stock node; stock's own hand-over may give it
        # copies, but its get must work either way
        with trio.fail_after(OP_TIMEOUT):
            assert await peers.acall("bootstrap", 1, [a.address, b.address]) >= 2
        for key, value in values.items():
            with trio.fail_after(OP_TIMEOUT):
                assert await peers.acall("get", 1, key) == (True, value)

        # we also serve stock's STOREs (its cache-after-get / hand-over) without dropping anything
        check_our_drops([a, b])
        await check_stock_health(peers)


# ------------------------------------------------------------------------------------------------------ (c)


N_EACH = 20
"""Nodes of each kind: 40 in all, twice k = 20, so about half the getters do not hold a key and must fetch
it over the wire (with 20 nodes every node would be among the k closest of every key)."""
N_PUTS = 20


async def test_mixed_network_of_stock_and_our_nodes() -> None:
    """20 stock and 20 of our nodes join interleaved, each through up to 3 earlier nodes of either kind.
    20 puts from random nodes of both kinds; every key is then got from a node of the other kind and from
    another node of the same kind as its setter. Every get succeeds with the right value and type, stock
    code never raises on our datagrams, and our cores drop nothing but late duplicates."""
    rng = random.Random(2024)
    async with stock_peers() as peers, our_nodes(N_EACH, first_seed=200) as ours:
        with trio.fail_after(OP_TIMEOUT):
            stock_nodes = await peers.acall("start", N_EACH, seed=13)
        # members: ("stock", index, addr) or ("ours", index, addr), in join order (interleaved)
        members: list[tuple[str, int, tuple[str, int]]] = []
        for i in range(N_EACH):
            members.append(("stock", i, ("127.0.0.1", stock_nodes[i]["port"])))
            members.append(("ours", i, ours[i].address))
        rng.shuffle(members)  # a random interleaving, fixed by the seed

        for j, (kind, idx, _addr) in enumerate(members):
            earlier = [members[m][2] for m in rng.sample(range(j), min(j, 3))]
            with trio.fail_after(OP_TIMEOUT):
                if kind == "stock":
                    await peers.acall("bootstrap", idx, earlier)
                elif earlier:
                    result = await ours[idx].bootstrap(earlier)
                    assert result.responded == len(earlier)

        written: list[tuple[str, Any, str, int]] = []
        for p in range(N_PUTS):
            if p < 2:  # make sure both kinds put, whatever the draw
                kind, idx = ("stock", "ours")[p], rng.randrange(N_EACH)
            else:
                kind, idx, _ = members[rng.randrange(len(members))]
            key = f"mixed-{p}-{rng.randbytes(4).hex()}"
            value: Any = rng.choice(
                [f"value-{p}-" + "x" * rng.randrange(200), rng.randrange(-(2**40), 2**40)]
            )
            with trio.fail_after(OP_TIMEOUT):
                if kind == "stock":
                    assert await peers.acall("set", idx, key, value), key
                else:
                    put = await ours[idx].put(key, value)
                    assert put.acks >= 1, (key, put)
            written.append((key, value, kind, idx))
        assert {k for _, _, k, _ in written} == {"stock", "ours"}

        failures: list[str] = []
        counts = {"stock": 0, "ours": 0}
        remote = {"stock": 0, "ours": 0}  # gets the getter could not answer from its own store
        for key, value, kind, idx in written:
            other = "ours" if kind == "stock" else "stock"
            same_idx = rng.choice([i for i in range(N_EACH) if i != idx])
            for getter_kind, getter in ((other, rng.randrange(N_EACH)), (kind, same_idx)):
                with trio.fail_after(OP_TIMEOUT):
                    if getter_kind == "stock":
                        reply = await peers.acall("get_ex", getter, key)
                        found, got = reply["found"], reply["value"]
                        remote["stock"] += reply["datagrams"] > 0
                    else:
                        r = await ours[getter].get(key)
                        found, got = r.found, r.value
                        remote["ours"] += r.hops > 0
                counts[getter_kind] += 1
                if not (found and got == value and type(got) is type(value)):
                    failures.append(
                        f"{getter_kind}[{getter}] get {key!r} (set by {kind}[{idx}]): {found} {got!r}"
                    )
        assert not failures, "\n".join(failures)
        print(f"gets per getter kind: {counts}; of which over the wire: {remote}")
        assert counts["stock"] >= 10 and counts["ours"] >= 10
        assert remote["stock"] >= 3 and remote["ours"] >= 3, remote

        # a miss crawls both kinds of node and ends cleanly on both sides
        with trio.fail_after(OP_TIMEOUT):
            assert await peers.acall("get", rng.randrange(N_EACH), "never-stored") == (False, None)
            miss = await ours[rng.randrange(N_EACH)].get("never-stored")
        assert not miss.found and miss.value is None

        drops = check_our_drops(ours)
        stats = await check_stock_health(peers)
        received: dict[str, int] = {}
        for node in ours:
            for name, c in node.core.statistics().requests_received.items():
                received[name] = received.get(name, 0) + c
        print(f"requests our nodes received: {received}; drops: {drops}")
        # both directions really carried every RPC
        for name in ("ping", "find_node", "find_value", "store"):
            assert received.get(name, 0) > 0, name
            assert stats["rpc_sent"].get(name, 0) > 0, name
