"""The discrete-event engine and the trio virtual-time engine replay the same datagram trace for the same seed.

Both run the same driver coroutine: staggered joins, a few crashes, then lookups from random live nodes over a
lossy link with log-normal (continuous) delays, so no two events on one node share an instant -- the tie rule
of :mod:`p2p.sims.des` (timers, then datagrams in ``(time, src, k)`` order, then driver actions) is then never
needed to decide anything trio would decide differently.

Timings on an idle 2-core machine: 1000 nodes (joins, 20 crashes, 30 lookups, ~56,000 datagrams) take about
8 s in the DES and 17 s in the virtual engine; under a loaded machine much longer, so that comparison is marked
``slow`` and a 200-node comparison always runs.
"""

from __future__ import annotations

import random
import time
from typing import Any

import pytest

from p2p.core import Completed, FindNodeResult
from p2p.linkmodel import LinkModel, LognormalLatency
from p2p.sims.des import DES, auto_address, jump, run_des
from p2p.sims.virtual import run_virtual

LINK = LinkModel(latency=LognormalLatency(0.05, 0.5), loss=0.02, reorder=0.05, reorder_delay=0.2)


async def joins_and_lookups(drv: Any, n: int, lookups: int, crashes: int, seed: int) -> dict[str, Any]:
    rng = random.Random(f"test:{seed}")
    addrs: list[Any] = []
    tickets = []
    for i in range(n):
        await drv.sleep_until(i * 0.2 + rng.random() * 0.2)
        a = await drv.add_node()
        if addrs:
            tickets.append(await drv.start(a, "bootstrap", rng.sample(addrs, min(3, len(addrs)))))
        addrs.append(a)
    joins = [type(await drv.wait(t)).__name__ for t in tickets]
    await drv.sleep_until(drv.now + 2.0 + rng.random())
    for a in rng.sample(addrs, crashes):
        await drv.remove_node(a)
    live = drv.live()
    results = []
    t0 = drv.now + 1.0
    for j in range(lookups):
        await drv.sleep_until(t0 + j * 0.37 + rng.random() * 0.3)
        effect = await drv.query(rng.choice(live), "find_node", rng.getrandbits(160))
        assert type(effect) is Completed and isinstance(effect.result, FindNodeResult)
        r = effect.result
        results.append((r.hops, r.requests, r.seconds, [c.node_id for c in r.closest]))
    return {"joins": joins, "lookups": results, "now": drv.now}


def run_both(n: int, lookups: int, crashes: int, seed: int) -> tuple[Any, ...]:
    traces: tuple[list[Any], list[Any]] = ([], [])
    t = time.perf_counter()
    des = run_des(
        joins_and_lookups,
        n,
        lookups,
        crashes,
        seed,
        seed=seed,
        link=LINK,
        tracer=lambda *e: traces[0].append(e),
    )
    t_des = time.perf_counter() - t
    t = time.perf_counter()
    virt = run_virtual(
        joins_and_lookups,
        n,
        lookups,
        crashes,
        seed,
        seed=seed,
        link=LINK,
        tracer=lambda *e: traces[1].append(e),
    )
    t_virt = time.perf_counter() - t
    return des, virt, traces[0], traces[1], t_des, t_virt


def first_difference(a: list[Any], b: list[Any]) -> str:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return f"entry {i}: des {x[:3]} vs virtual {y[:3]}"
    return f"lengths {len(a)} vs {len(b)}"


@pytest.fixture(scope="module")
def thousand() -> tuple[Any, ...]:
    return run_both(1000, 30, 20, seed=11)


@pytest.mark.slow
def test_identical_traces_1000_nodes(thousand: tuple[Any, ...]) -> None:
    des, virt, tr_des, tr_virt, t_des, t_virt = thousand
    print(f"1000 nodes: des {t_des:.1f} s, virtual {t_virt:.1f} s, {len(tr_des)} datagrams")
    assert len(tr_des) > 50_000
    assert tr_des == tr_virt, first_difference(tr_des, tr_virt)
    assert des == virt
    assert all(j == "Completed" for j in des["joins"])


def test_identical_traces_200_nodes_and_repeatable() -> None:
    des1, virt1, tr_des1, tr_virt1, _, _ = run_both(200, 20, 10, seed=5)
    des2, virt2, tr_des2, tr_virt2, _, _ = run_both(200, 20, 10, seed=5)
    assert tr_des1 == tr_virt1, first_difference(tr_des1, tr_virt1)
    assert tr_des1 == tr_des2 and tr_virt1 == tr_virt2
    assert des1 == virt1 == des2 == virt2
    other = run_des(joins_and_lookups, 200, 20, 10, 6, seed=6, link=LINK)
    assert other != des1


def test_des_api_and_crash_semantics() -> None:
    trace: list[Any] = []
    des = DES(seed=3, link=LINK, tracer=lambda *e: trace.append(e))
    a, b, c = des.add_node(), des.add_node(), des.add_node()
    assert (
        (a, b, c)
        == (auto_address(0), auto_address(1), auto_address(2))
        == (("127.0.0.1", 4000), ("127.0.0.2", 4000), ("127.0.0.3", 4000))
    )
    assert type(des.run_query(b, des.core(b).start_bootstrap(des.now, [a]))) is Completed
    ticket = des.start(c, "bootstrap", [a])
    des.remove_node(c)
    assert ticket.done and ticket.effect is None
    des.run_until(des.now + 10.0)
    assert des.statistics()["nodes"] == 2 and des.statistics()["nodes_removed"] == 1
    assert all(t2 >= t1 for (t1, *_), (t2, *_) in zip(trace, trace[1:], strict=False))
    assert des.node_statistics(a)["datagrams_received"] > 0
    before = des.now
    des.run_until(before + 1000.0)  # maintenance timers only
    assert des.now == jump(before, before + 1000.0)
    assert des.statistics()["timer_events"] > 0


def test_clock_jump_matches_mockclock() -> None:
    import trio
    import trio.testing

    targets = [0.1, 0.30000000000000004, 5.7, 1234.5678901, 1e6 + 0.1]

    async def main() -> list[float]:
        seen = []
        for t in targets:
            await trio.sleep_until(t)
            seen.append(trio.current_time())
        return seen

    got = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    now, expect = 0.0, []
    for t in targets:
        now = jump(now, t)
        expect.append(now)
    assert got == expect
