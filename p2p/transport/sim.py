"""An in-memory datagram network for trio, in real or virtual time (layer L5).

:class:`SimNetwork` holds every datagram in flight in **one** heap keyed ``(deliver_time, src, k)`` -- ``k`` a
per-sender counter -- and one router task delivers them in key order into the endpoints' inboxes. Latency, loss,
duplication and reordering come from a :class:`p2p.linkmodel.LinkModel`, partitions from a
:class:`p2p.linkmodel.Partition`, following the recipe in :mod:`p2p.linkmodel` that the discrete-event engine in
``p2p.sims`` follows too; so a seed gives the same per-datagram decisions and the same delivery order in both.

The network never touches the OS: the router only sleeps with :func:`trio.sleep_until` semantics, so under
``trio.testing.MockClock(autojump_threshold=0)`` virtual time jumps straight to the next delivery::

    async with open_sim_network(LinkModel(loss=0.1), seed=7) as net:
        a, b = net.endpoint(), net.endpoint()
        await a.send(b.local_address, b"hello")
        src, data = await b.receive()

Determinism
-----------
Each sender has its own ``random.Random(source_seed(seed, src))`` stream and its own counter, both created on its
first send and kept for the life of the network (also across ``aclose`` and a new endpoint at the same address).
A sender's decisions therefore depend only on its own sequence of sends, never on the order in which trio (which
deliberately shuffles its run queue) happened to schedule the senders, and equal delivery times break ties by
``(src, k)``. A datagram's fate (partition, loss, delays) is decided when it is sent; whether its destination
exists and has room is checked when it arrives.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

import trio

from ..errors import NodeClosed
from ..linkmodel import LinkModel, Partition, source_seed
from ..wire import MAX_DATAGRAM, Address
from .base import Transport

__all__ = ["SimNetwork", "SimTransport", "open_sim_network", "DEFAULT_INBOX_SIZE"]

DEFAULT_INBOX_SIZE = 4096
"""Datagrams an endpoint's inbox holds before further arrivals are dropped (like a full socket buffer)."""

_ENDPOINT_COUNTERS = (
    "datagrams_sent",
    "datagrams_received",
    "bytes_sent",
    "bytes_received",
    "send_errors",
    "dropped_lost",
    "dropped_partition",
    "dropped_queue_full",
    "dropped_unknown",
    "duplicated",
)

# heap entry: (deliver_time, src, k, dst, data)
_Entry = tuple[float, Address, int, Address, bytes]
Tracer = Callable[[float, Address, Address, bytes], None]


def _check_address(addr: Any) -> Address:
    if (
        not isinstance(addr, tuple)
        or len(addr) != 2
        or not isinstance(addr[0], str)
        or not addr[0]
        or not isinstance(addr[1], int)
        or isinstance(addr[1], bool)
        or not 0 < addr[1] < 65536
    ):
        raise ValueError(f"not a (host, port) address: {addr!r}")
    return (addr[0], addr[1])


class SimTransport(Transport):
    """One endpoint of a :class:`SimNetwork`; create it with :meth:`SimNetwork.endpoint`.

    Statistics (:meth:`statistics`), all counts of datagrams unless named ``bytes_*``:

    ``datagrams_sent``, ``bytes_sent``
        Accepted by :meth:`send` (before loss; a duplicated datagram counts once).
    ``datagrams_received``, ``bytes_received``
        Returned by :meth:`receive`.
    ``send_errors``
        Refused by :meth:`send`: larger than 65507 bytes (``EMSGSIZE`` on a real socket).
    ``dropped_lost``, ``dropped_partition``, ``duplicated``
        Sent datagrams the link model lost, the partition cut off, or duplicated (sender side).
    ``dropped_unknown``
        Sent datagrams whose destination did not exist when they arrived (sender side; counted only while the
        sender is still open).
    ``dropped_queue_full``
        Datagrams that arrived while this endpoint's inbox was full (receiver side).
    """

    def __init__(self, network: SimNetwork, addr: Address, inbox_size: int) -> None:
        self._network = network
        self._addr = addr
        self._send_channel, self._receive_channel = trio.open_memory_channel[tuple[Address, bytes]](
            inbox_size
        )
        self._closed = False
        self._stats = dict.fromkeys(_ENDPOINT_COUNTERS, 0)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<SimTransport {self._addr[0]}:{self._addr[1]} {state}>"

    @property
    def local_address(self) -> Address:
        return self._addr

    @property
    def network(self) -> SimNetwork:
        """The network this endpoint belongs to."""
        return self._network

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called (or the network shut down)."""
        return self._closed

    async def send(self, addr: Address, data: bytes) -> None:
        """Send one datagram to ``addr``: decide its fate now, queue its copies for delivery.

        Never blocks beyond a checkpoint and never raises for network conditions (loss, partition, unknown
        destination, oversize): those are counted. Raises :class:`~p2p.errors.NodeClosed` after :meth:`aclose`.
        """
        if self._closed:
            raise NodeClosed(f"endpoint {self._addr} is closed")
        self._network._send(self, addr, bytes(data))
        await trio.lowlevel.checkpoint()

    def send_nowait(self, addr: Address, data: bytes) -> None:
        """Like :meth:`send` without the checkpoint (the in-memory network never blocks)."""
        if self._closed:
            raise NodeClosed(f"endpoint {self._addr} is closed")
        self._network._send(self, addr, bytes(data))

    async def receive(self) -> tuple[Address, bytes]:
        """Wait for the next datagram; return ``(source address, payload)``.

        Raises :class:`~p2p.errors.NodeClosed` after :meth:`aclose`, also in a task already waiting here.
        """
        if self._closed:
            raise NodeClosed(f"endpoint {self._addr} is closed")
        try:
            src, data = await self._receive_channel.receive()
        except (trio.ClosedResourceError, trio.EndOfChannel):
            raise NodeClosed(f"endpoint {self._addr} is closed") from None
        self._stats["datagrams_received"] += 1
        self._stats["bytes_received"] += len(data)
        return src, data

    async def aclose(self) -> None:
        """Close the endpoint and leave the network: datagrams still to arrive here are dropped. Idempotent."""
        self._close()
        await trio.lowlevel.checkpoint()

    def crash(self) -> None:
        """Leave the network at this instant, synchronously (a crash): nothing sent to this endpoint is
        delivered from now on, and a task blocked in :meth:`receive` wakes with ``ClosedResourceError``.
        :meth:`aclose` does the same and then checkpoints. Idempotent."""
        self._close()

    def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._network._remove(self)
        self._send_channel.close()
        self._receive_channel.close()  # wakes a task blocked in receive() with ClosedResourceError

    def _deliver(self, src: Address, data: bytes) -> bool:
        try:
            self._send_channel.send_nowait((src, data))
        except trio.WouldBlock:
            self._stats["dropped_queue_full"] += 1
            return False
        return True

    def statistics(self) -> dict[str, int]:
        """Counters of this endpoint (see the class docstring), plus ``inbox``: datagrams waiting in it."""
        stats = dict(self._stats)
        stats["inbox"] = 0 if self._closed else self._receive_channel.statistics().current_buffer_used
        return stats


class SimNetwork:
    """An in-memory datagram network: endpoints, one delivery heap and one router task.

    Use :func:`open_sim_network`, or construct it and run :meth:`run` in a nursery yourself
    (``await nursery.start(net.run)``).

    Parameters
    ----------
    link : LinkModel, optional
        Impairments for every datagram; default ``LinkModel()`` (constant 10 ms, no loss). See :meth:`set_link`.
    seed : int
        Seed of the per-sender random streams (:func:`p2p.linkmodel.source_seed`).
    inbox_size : int
        Default inbox capacity of new endpoints, in datagrams (>= 1).
    tracer : callable, optional
        ``tracer(time, src, dst, data)`` is called for every datagram put into a live endpoint's inbox, in
        delivery order, with ``time`` from :func:`trio.current_time`. For traces and cross-engine checks.
    """

    def __init__(
        self,
        link: LinkModel | None = None,
        *,
        seed: int = 0,
        inbox_size: int = DEFAULT_INBOX_SIZE,
        tracer: Tracer | None = None,
    ) -> None:
        if inbox_size < 1:
            raise ValueError("inbox_size must be >= 1")
        self._link = link if link is not None else LinkModel()
        self._seed = seed
        self._inbox_size = inbox_size
        self._tracer = tracer
        self._partition = Partition()
        self._endpoints: dict[Address, SimTransport] = {}
        self._rngs: dict[Address, random.Random] = {}
        self._counters: dict[Address, int] = {}
        self._heap: list[_Entry] = []
        self._wake = trio.Event()
        self._next_auto = 0
        self._closed = False
        self._stats = dict.fromkeys(
            (
                "datagrams_sent",
                "bytes_sent",
                "datagrams_delivered",
                "bytes_delivered",
                "send_errors",
                "dropped_lost",
                "dropped_partition",
                "dropped_queue_full",
                "dropped_unknown",
                "duplicated",
            ),
            0,
        )

    # ------------------------------------------------------------------------------------ configuration

    @property
    def seed(self) -> int:
        return self._seed

    @property
    def link(self) -> LinkModel:
        """The current link model."""
        return self._link

    def set_link(self, link: LinkModel) -> None:
        """Replace the link model; it applies to datagrams sent from now on (those in flight keep their fate)."""
        if not isinstance(link, LinkModel):
            raise TypeError(f"expected a LinkModel, got {type(link).__name__}")
        self._link = link

    @property
    def current_partition(self) -> Partition:
        """The partition in force (empty when healed)."""
        return self._partition

    def partition(self, *groups: Iterable[Address | SimTransport] | Partition) -> Partition:
        """Split the network: datagrams sent from now on between different groups are dropped.

        Parameters
        ----------
        *groups : iterables of Address or SimTransport, or one Partition
            Disjoint groups. Addresses in no group still reach everyone (see :class:`~p2p.linkmodel.Partition`).
            Replaces any previous partition.

        Returns
        -------
        Partition
            The partition now in force.
        """
        if len(groups) == 1 and isinstance(groups[0], Partition):
            part = groups[0]
        else:
            part = Partition.of(
                *(
                    [m.local_address if isinstance(m, SimTransport) else _check_address(m) for m in g]
                    for g in groups  # type: ignore[union-attr]
                )
            )
        self._partition = part
        return part

    def heal(self) -> None:
        """Remove the partition."""
        self._partition = Partition()

    # ------------------------------------------------------------------------------------------ endpoints

    def endpoint(self, addr: Address | None = None, *, inbox_size: int | None = None) -> SimTransport:
        """Create an endpoint at ``addr``, or at the next free automatic address.

        Automatic addresses are ``("127.A.B.C", 4000)`` with ``A.B.C`` the 24-bit count of automatic addresses
        handed out so far plus one (``127.0.0.1``, ``127.0.0.2``, ...), skipping addresses already in use:
        valid IPv4 literals, so they can travel in contact lists.

        Raises
        ------
        ValueError
            ``addr`` is malformed or already in use, or ``inbox_size < 1``.
        NodeClosed
            The network has shut down.
        """
        if self._closed:
            raise NodeClosed("the simulated network is closed")
        size = self._inbox_size if inbox_size is None else inbox_size
        if size < 1:
            raise ValueError("inbox_size must be >= 1")
        if addr is None:
            while True:
                self._next_auto += 1
                i = self._next_auto
                if i >= 1 << 24:
                    raise ValueError("out of automatic addresses")
                addr = (f"127.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}", 4000)
                if addr not in self._endpoints:
                    break
        else:
            addr = _check_address(addr)
            if addr in self._endpoints:
                raise ValueError(f"address {addr[0]}:{addr[1]} is already in use")
        ep = SimTransport(self, addr, size)
        self._endpoints[addr] = ep
        return ep

    def endpoints(self) -> list[SimTransport]:
        """The open endpoints, in creation order."""
        return list(self._endpoints.values())

    def _remove(self, ep: SimTransport) -> None:
        if self._endpoints.get(ep.local_address) is ep:
            del self._endpoints[ep.local_address]

    # ------------------------------------------------------------------------------------------ delivery

    def _send(self, ep: SimTransport, dst: Address, data: bytes) -> None:
        src = ep._addr
        st, net = ep._stats, self._stats
        if len(data) > MAX_DATAGRAM:
            st["send_errors"] += 1
            net["send_errors"] += 1
            return
        st["datagrams_sent"] += 1
        st["bytes_sent"] += len(data)
        net["datagrams_sent"] += 1
        net["bytes_sent"] += len(data)
        if self._partition.blocks(src, dst):
            st["dropped_partition"] += 1
            net["dropped_partition"] += 1
            return
        rng = self._rngs.get(src)
        if rng is None:
            rng = self._rngs[src] = random.Random(source_seed(self._seed, src))
        delays = self._link.deliveries(rng, src, dst)
        if not delays:
            st["dropped_lost"] += 1
            net["dropped_lost"] += 1
            return
        if len(delays) > 1:
            st["duplicated"] += len(delays) - 1
            net["duplicated"] += len(delays) - 1
        now = trio.current_time()
        k = self._counters.get(src, 0)
        heap = self._heap
        wake = False
        for delay in delays:
            entry = (now + delay, src, k, dst, data)
            k += 1
            if not heap or entry < heap[0]:
                wake = True
            heapq.heappush(heap, entry)
        self._counters[src] = k
        if wake:
            self._wake.set()

    def _deliver_due(self, now: float) -> None:
        heap = self._heap
        endpoints = self._endpoints
        net = self._stats
        tracer = self._tracer
        while heap and heap[0][0] <= now:
            t, src, _k, dst, data = heapq.heappop(heap)
            ep = endpoints.get(dst)
            if ep is None:
                net["dropped_unknown"] += 1
                sender = endpoints.get(src)
                if sender is not None:
                    sender._stats["dropped_unknown"] += 1
                continue
            if ep._deliver(src, data):
                net["datagrams_delivered"] += 1
                net["bytes_delivered"] += len(data)
                if tracer is not None:
                    tracer(t, src, dst, data)
            else:
                net["dropped_queue_full"] += 1

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The router: sleep until the earliest delivery time, deliver everything due, repeat. Runs until
        cancelled; woken early when a send puts a sooner datagram at the head of the heap."""
        task_status.started()
        heap = self._heap
        while True:
            self._deliver_due(trio.current_time())
            self._wake = trio.Event()
            if heap:
                with trio.move_on_at(heap[0][0]):
                    await self._wake.wait()
            else:
                await self._wake.wait()

    def close(self) -> None:
        """Close every endpoint and drop the datagrams in flight (the router task is cancelled separately)."""
        self._closed = True
        for ep in list(self._endpoints.values()):
            ep._close()
        self._heap.clear()

    # -------------------------------------------------------------------------------------------- stats

    def statistics(self) -> dict[str, int]:
        """Network totals: ``datagrams_sent``, ``bytes_sent``, ``datagrams_delivered``, ``bytes_delivered``,
        ``send_errors``, ``dropped_lost``, ``dropped_partition``, ``dropped_queue_full``, ``dropped_unknown``,
        ``duplicated``; ``in_flight`` (copies in the heap) and ``endpoints`` (open endpoints)."""
        stats = dict(self._stats)
        stats["in_flight"] = len(self._heap)
        stats["endpoints"] = len(self._endpoints)
        return stats


@asynccontextmanager
async def open_sim_network(
    link: LinkModel | None = None,
    *,
    seed: int = 0,
    inbox_size: int = DEFAULT_INBOX_SIZE,
    tracer: Tracer | None = None,
) -> AsyncIterator[SimNetwork]:
    """Open a :class:`SimNetwork` with its router task running; on exit cancel the router and close every
    endpoint (their ``send``/``receive`` then raise :class:`~p2p.errors.NodeClosed`).

    Parameters are those of :class:`SimNetwork`.
    """
    net = SimNetwork(link, seed=seed, inbox_size=inbox_size, tracer=tracer)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(net.run)
            try:
                yield net
            finally:
                nursery.cancel_scope.cancel()
    finally:
        net.close()
