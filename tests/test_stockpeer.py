"""The stock-kademlia subprocess harness (tests/stockpeer.py) works end to end."""

from __future__ import annotations

import stockpeer  # noqa: E402  (tests/conftest.py puts tests/ on sys.path)


def test_stock_servers_store_and_fetch_typed_values() -> None:
    peers = stockpeer.StockPeers.spawn(timeout=15.0)
    try:
        nodes = peers.start(5, seed=1)
        nodes += peers.start(3)  # indices continue across start calls
        assert [n["index"] for n in nodes] == list(range(8))
        assert all(n["port"] > 0 and len(n["node_id"]) == 40 for n in nodes)
        assert len({n["port"] for n in nodes}) == 8

        assert peers.bootstrap(0, []) == 0
        for i in range(1, 8):
            addrs = [("127.0.0.1", nodes[j]["port"]) for j in range(max(0, i - 3), i)]
            assert peers.bootstrap(i, addrs) >= 1
        assert len(peers.neighbors(7)) >= 3
        assert all(len(c) == 3 and len(c[0]) == 40 for c in peers.neighbors(0))

        before = peers.stats()
        assert before["datagrams_sent"] > 0 and before["bytes_sent"] > 0
        assert before["servers"] == 8 and before["task_errors"] == 0

        assert peers.set(2, "greeting", "hello")
        assert peers.set(2, "blob", b"\x00\xffraw")
        assert peers.set(2, "answer", 42)

        assert peers.get(6, "greeting") == (True, "hello")
        found, blob = peers.get(5, "blob")
        assert found and blob == b"\x00\xffraw" and isinstance(blob, bytes)
        found, answer = peers.get(7, "answer")
        assert found and answer == 42 and type(answer) is int
        mid = peers.stats()
        assert mid["datagrams_sent"] > before["datagrams_sent"]
        assert peers.get(4, "missing") == (False, None)  # a miss always crawls the network

        after = peers.stats()
        assert after["datagrams_sent"] > mid["datagrams_sent"]
        assert after["rpc_sent"].get("find_value", 0) > 0
        assert after["rpc_sent"].get("store", 0) > 0
        assert after["cpu_seconds"] > 0

        stored = {}
        for n in nodes:
            stored.update(peers.storage(n["index"]))
        assert len(stored) >= 3

        try:
            peers.get(99, "x")
        except stockpeer.StockPeerError as exc:
            assert "bad index" in str(exc)
        else:
            raise AssertionError("bad index accepted")
        assert peers.get(1, "greeting") == (True, "hello")  # still alive after an error
    finally:
        peers.close()
    assert peers.proc.poll() is not None
