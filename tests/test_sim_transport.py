"""Tests of the in-memory trio network (p2p.transport.sim), mostly in virtual time."""

from __future__ import annotations

import heapq
import random

import pytest
import trio
import trio.testing

from p2p.errors import NodeClosed
from p2p.linkmodel import ConstantLatency, LinkModel, LognormalLatency, Partition, UniformLatency, source_seed
from p2p.transport.base import Transport
from p2p.transport.sim import SimNetwork, SimTransport, open_sim_network


async def drain(ep: SimTransport, timeout: float = 100.0) -> list[tuple[float, tuple[str, int], bytes]]:
    """Receive until nothing arrives for ``timeout`` virtual seconds; return (time, src, data)."""
    got = []
    while True:
        with trio.move_on_after(timeout) as cs:
            src, data = await ep.receive()
        if cs.cancelled_caught:
            return got
        got.append((trio.current_time(), src, data))


# ------------------------------------------------------------------------------------------ endpoints


async def test_endpoints_and_addresses(autojump_clock):
    async with open_sim_network() as net:
        a, b = net.endpoint(), net.endpoint()
        assert isinstance(a, Transport)
        assert a.local_address == ("127.0.0.1", 4000)
        assert b.local_address == ("127.0.0.2", 4000)
        c = net.endpoint(("127.0.0.3", 4000))
        d = net.endpoint()  # skips the explicitly taken 127.0.0.3
        assert d.local_address == ("127.0.0.4", 4000)
        with pytest.raises(ValueError):
            net.endpoint(("127.0.0.1", 4000))
        for bad in [("127.0.0.9", 0), ("127.0.0.9", 70000), ("", 1), ["127.0.0.9", 1], ("127.0.0.9", True)]:
            with pytest.raises(ValueError):
                net.endpoint(bad)  # type: ignore[arg-type]
        assert net.endpoints() == [a, b, c, d]
        assert net.statistics()["endpoints"] == 4


async def test_constant_latency_arrives_exactly_on_time(autojump_clock):
    async with open_sim_network(LinkModel(latency=ConstantLatency(0.25))) as net:
        a, b = net.endpoint(), net.endpoint()
        await trio.sleep(3.0)
        t0 = trio.current_time()
        await a.send(b.local_address, b"hello")
        src, data = await b.receive()
        assert (src, data) == (a.local_address, b"hello")
        assert trio.current_time() == t0 + 0.25
        # the reply takes the same time back
        await b.send(src, b"world")
        assert await a.receive() == (b.local_address, b"world")
        assert trio.current_time() == t0 + 0.5
        sa, sb = a.statistics(), b.statistics()
        assert sa["datagrams_sent"] == 1 and sa["bytes_sent"] == 5
        assert sa["datagrams_received"] == 1 and sa["bytes_received"] == 5
        assert sb["datagrams_sent"] == 1 and sb["datagrams_received"] == 1
        assert sa["send_errors"] == 0
        ns = net.statistics()
        assert ns["datagrams_sent"] == ns["datagrams_delivered"] == 2
        assert ns["in_flight"] == 0


async def test_zero_latency_and_loopback(autojump_clock):
    async with open_sim_network(LinkModel.perfect()) as net:
        a = net.endpoint()
        t0 = trio.current_time()
        await a.send(a.local_address, b"me")
        assert await a.receive() == (a.local_address, b"me")
        assert trio.current_time() == t0


async def test_sooner_datagram_wakes_the_router(autojump_clock):
    async with open_sim_network(LinkModel(latency=ConstantLatency(10.0))) as net:
        a, b = net.endpoint(), net.endpoint()
        t0 = trio.current_time()
        await a.send(b.local_address, b"slow")
        await trio.sleep(1.0)  # the router is now asleep until t0 + 10
        net.set_link(LinkModel(latency=ConstantLatency(0.5)))
        await a.send(b.local_address, b"fast")
        assert await b.receive() == (a.local_address, b"fast")
        assert trio.current_time() == t0 + 1.5
        assert await b.receive() == (a.local_address, b"slow")
        assert trio.current_time() == t0 + 10.0


async def test_works_with_the_real_clock():
    async with open_sim_network(LinkModel(latency=ConstantLatency(0.01))) as net:
        a, b = net.endpoint(), net.endpoint()
        t0 = trio.current_time()
        with trio.fail_after(5):
            for i in range(3):
                await a.send(b.local_address, bytes([i]))
            assert [(await b.receive())[1] for _ in range(3)] == [b"\x00", b"\x01", b"\x02"]
        assert trio.current_time() - t0 >= 0.01


def test_virtual_time_via_trio_run():
    """The plain-trio form: a whole second of traffic costs no real time."""

    async def main() -> float:
        async with open_sim_network(LinkModel(latency=ConstantLatency(1.0))) as net:
            a, b = net.endpoint(), net.endpoint()
            for _ in range(100):
                await a.send(b.local_address, b"x")
                await b.receive()
            return trio.current_time()

    assert trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0)) == pytest.approx(100.0)


# ----------------------------------------------------------------------------------------- impairments


async def test_total_loss_delivers_nothing(autojump_clock):
    async with open_sim_network(LinkModel(loss=1.0)) as net:
        a, b = net.endpoint(), net.endpoint()
        for _ in range(100):
            await a.send(b.local_address, b"x")
        assert await drain(b) == []
        assert a.statistics()["dropped_lost"] == 100
        assert a.statistics()["datagrams_sent"] == 100
        assert net.statistics()["dropped_lost"] == 100
        assert net.statistics()["datagrams_delivered"] == 0


async def test_ten_percent_loss(autojump_clock):
    async with open_sim_network(LinkModel(loss=0.1), seed=3, inbox_size=20_000) as net:
        a, b = net.endpoint(), net.endpoint()
        for i in range(10_000):
            await a.send(b.local_address, i.to_bytes(2, "big"))
        await trio.sleep(1.0)
        got = b.statistics()["inbox"]
        lost = a.statistics()["dropped_lost"]
        assert got + lost == 10_000
        assert 850 <= lost <= 1150  # binomial sd 30: 5 sd
        assert net.statistics()["datagrams_delivered"] == got


async def test_duplication_produces_two_copies(autojump_clock):
    link = LinkModel(latency=UniformLatency(0.01, 0.05), duplicate=1.0)
    async with open_sim_network(link) as net:
        a, b = net.endpoint(), net.endpoint()
        for i in range(20):
            await a.send(b.local_address, bytes([i]))
        got = await drain(b)
        assert sorted(d for _, _, d in got) == sorted([bytes([i]) for i in range(20)] * 2)
        assert a.statistics()["duplicated"] == 20
        assert net.statistics()["duplicated"] == 20
        assert b.statistics()["datagrams_received"] == 40


async def test_reordering_reorders_some_datagrams(autojump_clock):
    link = LinkModel(latency=ConstantLatency(0.01), reorder=0.3, reorder_delay=0.1)
    async with open_sim_network(link, seed=1) as net:
        a, b = net.endpoint(), net.endpoint()
        for i in range(200):
            await a.send(b.local_address, i.to_bytes(2, "big"))
            await trio.sleep(0.005)
        got = [int.from_bytes(d, "big") for _, _, d in await drain(b)]
        assert sorted(got) == list(range(200))  # nothing lost or duplicated
        inversions = sum(1 for x, y in zip(got, got[1:], strict=False) if x > y)
        assert inversions >= 10
        assert got != list(range(200))

    # without reordering, the same traffic stays in order
    async with open_sim_network(LinkModel(latency=ConstantLatency(0.01)), seed=1) as net:
        a, b = net.endpoint(), net.endpoint()
        for i in range(200):
            await a.send(b.local_address, i.to_bytes(2, "big"))
            await trio.sleep(0.005)
        assert [int.from_bytes(d, "big") for _, _, d in await drain(b)] == list(range(200))


# ------------------------------------------------------------------------------------------ partitions


async def test_partition_blocks_and_heal_restores(autojump_clock):
    async with open_sim_network() as net:
        a, b, c, d = (net.endpoint() for _ in range(4))
        part = net.partition([a, b.local_address], [c])
        assert part == Partition.of([a.local_address, b.local_address], [c.local_address])
        assert net.current_partition is part
        await a.send(c.local_address, b"a->c")  # cut
        await c.send(b.local_address, b"c->b")  # cut
        await a.send(b.local_address, b"a->b")  # same group
        await a.send(d.local_address, b"a->d")  # d is in no group
        await d.send(c.local_address, b"d->c")
        assert [x[2] for x in await drain(c)] == [b"d->c"]
        assert [x[2] for x in await drain(b)] == [b"a->b"]
        assert [x[2] for x in await drain(d)] == [b"a->d"]
        assert a.statistics()["dropped_partition"] == 1
        assert c.statistics()["dropped_partition"] == 1
        assert net.statistics()["dropped_partition"] == 2

        net.heal()
        assert not net.current_partition
        await a.send(c.local_address, b"a->c again")
        await c.send(b.local_address, b"c->b again")
        assert [x[2] for x in await drain(c)] == [b"a->c again"]
        assert [x[2] for x in await drain(b)] == [b"c->b again"]


async def test_partition_accepts_a_partition_object(autojump_clock):
    async with open_sim_network() as net:
        a, b = net.endpoint(), net.endpoint()
        net.partition(Partition.of([a.local_address], [b.local_address]))
        await a.send(b.local_address, b"x")
        assert await drain(b) == []
        with pytest.raises(ValueError):
            net.partition([a], [a])


# ---------------------------------------------------------------------------------------- determinism


def run_scenario(seed: int, link: LinkModel, *, senders: int = 5, rounds: int = 40):
    """Several sender tasks (scheduled in whatever order trio picks) sending to one another; return the
    network trace and each endpoint's receive log."""
    trace: list[tuple[float, tuple[str, int], tuple[str, int], bytes]] = []

    async def main():
        logs: dict[tuple[str, int], list] = {}
        async with open_sim_network(link, seed=seed, tracer=lambda *ev: trace.append(ev)) as net:
            eps = [net.endpoint() for _ in range(senders)]

            async def sender(i: int, ep: SimTransport) -> None:
                for r in range(rounds):
                    dst = eps[(i + 1 + r) % senders].local_address
                    await ep.send(dst, f"{i}:{r}".encode())
                    await trio.sleep(0.01 * (1 + (r % 3)))

            async def receiver(ep: SimTransport) -> None:
                log = logs.setdefault(ep.local_address, [])
                while True:
                    src, data = await ep.receive()
                    log.append((trio.current_time(), src, data))

            async with trio.open_nursery() as nursery:
                for ep in eps:
                    nursery.start_soon(receiver, ep)
                async with trio.open_nursery() as senders_nursery:
                    for i, ep in enumerate(eps):
                        senders_nursery.start_soon(sender, i, ep)
                await trio.sleep(100)
                nursery.cancel_scope.cancel()
            stats = net.statistics()
        return logs, stats

    logs, stats = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    return trace, logs, stats


def test_identical_seeds_give_identical_traces():
    link = LinkModel(
        latency=LognormalLatency(0.02, 0.5), loss=0.1, duplicate=0.1, reorder=0.2, reorder_delay=0.05
    )
    t1, logs1, s1 = run_scenario(11, link)
    t2, logs2, s2 = run_scenario(11, link)
    assert t1 == t2
    assert logs1 == logs2
    assert s1 == s2
    assert s1["dropped_lost"] > 0 and s1["duplicated"] > 0
    assert len(t1) == s1["datagrams_delivered"] > 100
    # the receivers saw exactly the traced deliveries, at the traced times
    for addr, log in logs1.items():
        assert log == [(t, src, data) for t, src, dst, data in t1 if dst == addr]
    t3, _, _ = run_scenario(12, link)
    assert t3 != t1


def test_ties_break_by_source_then_counter():
    """Equal delivery times are ordered by (src, per-source counter), not by send order."""
    trace = []

    async def main():
        link = LinkModel(latency=ConstantLatency(0.1))
        async with open_sim_network(link, tracer=lambda *ev: trace.append(ev)) as net:
            late = net.endpoint(("127.9.0.1", 5000))
            early = net.endpoint(("127.1.0.1", 5000))
            dst = net.endpoint(("127.5.0.1", 5000))
            for i in range(3):
                await late.send(dst.local_address, b"late%d" % i)
            for i in range(3):
                await early.send(dst.local_address, b"early%d" % i)
            got = [(await dst.receive())[1] for _ in range(6)]
            return got

    got = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert got == [b"early0", b"early1", b"early2", b"late0", b"late1", b"late2"]
    assert len({t for t, *_ in trace}) == 1


def test_matches_a_pure_discrete_event_replay():
    """The recipe of p2p.linkmodel, run by hand with a heap and no trio, predicts the network's trace."""
    link = LinkModel(
        latency=UniformLatency(0.0, 0.02), loss=0.2, duplicate=0.2, reorder=0.3, reorder_delay=0.03
    )
    seed = 4
    addrs = [(f"127.0.0.{i}", 4000) for i in range(1, 5)]
    # (send time, src, dst, data), chosen so that equal delivery times happen too (latency 0 is possible)
    plan_rng = random.Random(0)
    sends = sorted(
        (round(plan_rng.uniform(0, 1), 2), addrs[s], addrs[d], b"%d" % n)
        for n, (s, d) in enumerate((plan_rng.randrange(4), plan_rng.randrange(4)) for _ in range(300))
    )
    partition = Partition.of(addrs[:1], addrs[1:2])

    # pure replay
    rngs: dict = {}
    counters: dict = {}
    heap: list = []
    for t, src, dst, data in sends:
        if partition.blocks(src, dst):
            continue
        rng = rngs.setdefault(src, random.Random(source_seed(seed, src)))
        for delay in link.deliveries(rng, src, dst):
            k = counters.get(src, 0)
            counters[src] = k + 1
            heapq.heappush(heap, (t + delay, src, k, dst, data))
    expected = [
        (t, src, dst, data) for t, src, _k, dst, data in (heapq.heappop(heap) for _ in range(len(heap)))
    ]

    trace: list = []

    async def main():
        async with open_sim_network(
            link, seed=seed, tracer=lambda *ev: trace.append(ev), inbox_size=10_000
        ) as net:
            eps = {a: net.endpoint(a) for a in addrs}
            net.partition(*partition.groups)
            for t, src, dst, data in sends:
                await trio.sleep_until(t)
                await eps[src].send(dst, data)
            await trio.sleep(10)

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert trace == expected
    assert len(expected) > 200


# ------------------------------------------------------------------------------------- drops and close


async def test_full_inbox_drops_and_counts(autojump_clock):
    async with open_sim_network(LinkModel(latency=ConstantLatency(0.01))) as net:
        a = net.endpoint()
        b = net.endpoint(inbox_size=4)
        for i in range(10):
            await a.send(b.local_address, bytes([i]))
        await trio.sleep(1)
        assert b.statistics()["inbox"] == 4
        assert b.statistics()["dropped_queue_full"] == 6
        assert net.statistics()["dropped_queue_full"] == 6
        assert [(await b.receive())[1] for _ in range(4)] == [bytes([i]) for i in range(4)]
        await a.send(b.local_address, b"room again")
        assert await b.receive() == (a.local_address, b"room again")


async def test_default_inbox_is_bounded(autojump_clock):
    async with open_sim_network(LinkModel.perfect()) as net:
        a, b = net.endpoint(), net.endpoint()
        for _ in range(4100):
            await a.send(b.local_address, b"x")
        await trio.sleep(1)
        assert b.statistics()["inbox"] == 4096
        assert b.statistics()["dropped_queue_full"] == 4


async def test_unknown_destination_is_dropped_and_counted(autojump_clock):
    async with open_sim_network() as net:
        a = net.endpoint()
        await a.send(("127.200.0.1", 9), b"nobody")
        await trio.sleep(1)
        assert a.statistics()["dropped_unknown"] == 1
        assert a.statistics()["send_errors"] == 0
        assert net.statistics()["dropped_unknown"] == 1


async def test_oversize_datagram_is_a_send_error(autojump_clock):
    async with open_sim_network() as net:
        a, b = net.endpoint(), net.endpoint()
        await a.send(b.local_address, b"x" * 65508)
        await a.send(b.local_address, bytearray(b"y" * 65507))
        assert await b.receive() == (a.local_address, b"y" * 65507)
        assert a.statistics()["send_errors"] == 1
        assert a.statistics()["datagrams_sent"] == 1


async def test_closed_endpoint_raises_and_leaves_the_network(autojump_clock):
    async with open_sim_network(LinkModel(latency=ConstantLatency(1.0))) as net:
        a, b = net.endpoint(), net.endpoint()
        await a.send(b.local_address, b"in flight")
        await b.aclose()
        await b.aclose()  # idempotent
        assert b.closed
        with pytest.raises(NodeClosed):
            await b.send(a.local_address, b"x")
        with pytest.raises(NodeClosed):
            await b.receive()
        await trio.sleep(2)
        assert a.statistics()["dropped_unknown"] == 1
        assert b not in net.endpoints()
        # the address can be taken again; the old datagram is not resurrected
        b2 = net.endpoint(b.local_address)
        await a.send(b2.local_address, b"new")
        assert await b2.receive() == (a.local_address, b"new")


async def test_close_wakes_a_blocked_receiver(autojump_clock):
    async with open_sim_network() as net:
        a = net.endpoint()
        await a.send(a.local_address, b"unread")
        await trio.sleep(1)
        raised = trio.Event()

        async def reader():
            await a.receive()  # the buffered datagram
            with pytest.raises(NodeClosed):
                await a.receive()
            raised.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader)
            await trio.sleep(1)
            await a.aclose()
        assert raised.is_set()


async def test_network_exit_closes_endpoints(autojump_clock):
    async with open_sim_network() as net:
        a = net.endpoint()
        await a.send(a.local_address, b"x")
    assert a.closed
    with pytest.raises(NodeClosed):
        await a.send(a.local_address, b"y")
    with pytest.raises(NodeClosed):
        await a.receive()
    with pytest.raises(NodeClosed):
        net.endpoint()
    assert net.statistics()["in_flight"] == 0


async def test_run_in_own_nursery(autojump_clock):
    net = SimNetwork(LinkModel(latency=ConstantLatency(0.2)), seed=9)
    a, b = net.endpoint(), net.endpoint()
    async with trio.open_nursery() as nursery:
        await nursery.start(net.run)
        await a.send(b.local_address, b"x")
        assert await b.receive() == (a.local_address, b"x")
        assert trio.current_time() == pytest.approx(0.2)
        nursery.cancel_scope.cancel()
    net.close()
    assert a.closed and b.closed


def test_set_link_type_checked():
    net = SimNetwork()
    with pytest.raises(TypeError):
        net.set_link(ConstantLatency(0.1))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        SimNetwork(inbox_size=0)
