"""Load on the search layer, on the sim network in trio virtual time: one raw endpoint that got itself accepted
as a neighbour sends 10,000 distinct query GUIDs per second for 10 seconds (some with absurd TTLs). The node's
memory stays bounded (seen cache, neighbours, outstanding requests, reply cache), the excess is dropped and
counted, and DHT gets through the node keep being answered during and after the flood."""

from __future__ import annotations

import trio
import trio.testing

from p2p.config import NodeConfig, SearchConfig
from p2p.testing import open_sim_nodes
from p2p.wire import Contact, Neighbour, Query, decode, encode_request

RATE = 10_000  # GUIDs per second
SECONDS = 10
BATCH = 100  # datagrams per 10 ms
CONFIG = NodeConfig(search=SearchConfig(seen_cache_size=5000, query_rate=20.0, query_burst=40, keepalive_interval=5.0))


async def scenario() -> dict:
    async with open_sim_nodes(12, seed=9, config=CONFIG) as (net, nodes):
        victim, other = nodes[1], nodes[7]
        await trio.sleep(10)  # the overlay forms
        put = await nodes[0].put("during-flood", "still here")
        assert put.acks >= 1
        attacker = net.endpoint()
        me = 0xA77AC4E5
        await attacker.send(victim.address, encode_request(b"\x01" * 20, Neighbour(me, True)))
        _, reply = await attacker.receive()
        assert decode(reply).body[0] is True  # accepted as a neighbour
        origin = Contact(me, *attacker.local_address)
        gets: list = []
        peak = {"seen": 0, "outstanding": 0, "reply_cache": 0, "neighbours": 0, "active": 0}

        async def getter() -> None:
            for _ in range(SECONDS):
                await trio.sleep(1.0)
                gets.append(await victim.get("during-flood"))
                gets.append(await other.get("during-flood"))

        async def flood() -> None:
            n = 0
            t0 = trio.current_time()
            for step in range(RATE * SECONDS // BATCH):
                for _ in range(BATCH):
                    ttl = 255 if n % 1000 == 0 else 3
                    q = Query(me, n.to_bytes(16, "big"), ttl, 1, origin, ("warez", f"k{n % 7}"))
                    attacker.send_nowait(victim.address, encode_request(n.to_bytes(20, "big"), q))
                    n += 1
                await trio.sleep_until(t0 + (step + 1) * BATCH / RATE)
                st = victim.core.statistics()
                peak["seen"] = max(peak["seen"], st.search.seen_cache_entries)
                peak["outstanding"] = max(peak["outstanding"], st.outstanding)
                peak["reply_cache"] = max(peak["reply_cache"], st.reply_cache_entries)
                peak["neighbours"] = max(peak["neighbours"], st.search.neighbours)
                peak["active"] = max(peak["active"], st.active_queries)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(flood)
            nursery.start_soon(getter)
        after = await other.get("during-flood")
        return {
            "gets": gets + [after],
            "peak": peak,
            "stats": victim.core.statistics(),
            "transport": victim.transport.statistics(),
            "sent": RATE * SECONDS,
        }


def test_a_guid_flood_leaves_memory_bounded_and_the_dht_answering() -> None:
    out = trio.run(scenario, clock=trio.testing.MockClock(autojump_threshold=0))
    sc = CONFIG.search
    peak, st = out["peak"], out["stats"]
    s = st.search
    assert peak["seen"] <= sc.seen_cache_size and s.seen_cache_entries <= sc.seen_cache_size
    assert s.seen_cache_evicted > 0  # the bound really bit
    assert peak["neighbours"] <= sc.max_neighbours
    assert peak["outstanding"] <= CONFIG.rpc.max_outstanding and peak["reply_cache"] <= CONFIG.rpc.reply_cache_size
    assert peak["active"] <= 4
    received = st.requests_received["query"]
    assert received >= 0.99 * out["sent"], out["transport"]
    # admitted at most burst + rate * duration; the rest dropped and counted
    assert s.queries_seen <= sc.query_burst + sc.query_rate * (SECONDS + 1)
    assert received == s.queries_seen + s.duplicates_dropped + s.rate_limited + s.not_neighbour
    assert s.rate_limited >= received - s.queries_seen - s.duplicates_dropped
    assert s.ttl_clamped >= 1
    # the DHT kept answering: every get during and after the flood found the value
    assert len(out["gets"]) == 2 * SECONDS + 1
    assert all(g.found and g.value == "still here" for g in out["gets"])
