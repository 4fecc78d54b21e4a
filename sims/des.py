"""Discrete-event engine: the real :class:`p2p.core.NodeCore` objects driven directly, without trio (DESIGN.md §9).

One heap holds every datagram in flight, keyed ``(deliver_time, src, k)`` with ``k`` the sender's running copy
counter, exactly as :class:`p2p.transport.sim.SimNetwork`; each sender draws its datagrams' fate from its own
``random.Random(source_seed(seed, src))`` through :meth:`p2p.linkmodel.LinkModel.deliveries` (the recipe in the
:mod:`p2p.linkmodel` docstring). Node ``i`` (0-based creation order) listens on SimNetwork's ``i + 1``-th automatic
address ``("127.A.B.C", 4000)`` and is seeded like ``open_node(seed=f"{seed}:{i}")``: ``rng =
random.Random(f"{seed}:{i}")``, node id ``random_id(rng)`` drawn first, the same ``rng`` then given to the core.
So a scenario run here and in :mod:`p2p.sims.virtual` (real nodes over SimNetwork in trio virtual time) with the
same seed produces the same datagram trace.

Clock and event order
---------------------
The engine reproduces what ``trio.testing.MockClock(autojump_threshold=0)`` does, float for float:

- time moves only by *jumps* to the earliest pending event (a datagram's delivery time, a core's
  ``next_deadline()``, a driver's ``sleep_until`` target), computed as trio does, ``now = now + (t - now)``
  (repeated once when rounding lands just short of ``t``); a core is given that ``now``, never the event's own
  time, and datagrams it sends are due at ``now + delay``;
- at one instant, due timers fire first (``core.poll``), then due datagrams are delivered in heap order
  (``core.handle_datagram``) -- in trio a node whose deadline has expired is cancelled out of ``receive()``
  before it reads its inbox; between different nodes the order does not matter, since a node's outputs depend
  only on its own inputs and the heap key does not depend on who sent first;
- driver actions (starting a query, adding or crashing a node) happen after everything due at that instant (the
  virtual engine waits with ``trio.testing.wait_all_tasks_blocked()`` before each action).

With a continuous latency model (``LognormalLatency``, ``UniformLatency``) two events on the *same* node at the
same instant have probability zero; if they did occur, trio's randomised scheduling could order a driver action
and a node's own work differently from this engine, which is the only known source of divergence.

Routing tables
--------------
Joining 10^5 nodes through the protocol is slow in pure Python, so :meth:`DES.populate` (and the scenarios in
:mod:`p2p.sims.scenarios`) can fill a core's table directly from the id model of
:func:`p2p.sims.topology.kademlia_tables` (a converged table); results then say ``"tables": "id_model"``
instead of ``"joined"``.

Example
-------
>>> from p2p.linkmodel import LinkModel, UniformLatency
>>> des = DES(seed=1, link=LinkModel(latency=UniformLatency(0.01, 0.05)))
>>> a, b = des.add_node(), des.add_node()
>>> effect = des.run_query(b, des.core(b).start_bootstrap(des.now, [a]))
>>> type(effect).__name__, effect.result.responded
('Completed', 1)
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from p2p.config import NodeConfig
from p2p.core import Completed, Effect, Failed, NodeCore, Send
from p2p.ids import random_id
from p2p.linkmodel import LinkModel, Partition, source_seed
from p2p.store import MemoryStore
from p2p.wire import MAX_DATAGRAM, Address, Contact

__all__ = ["DES", "Ticket", "DESDriver", "run_des", "auto_address", "node_seed", "jump"]

_INF = math.inf

Tracer = Callable[[float, Address, Address, bytes], None]


def auto_address(i: int) -> Address:
    """Address of the ``i``-th node (0-based): SimNetwork's ``(i + 1)``-th automatic address."""
    n = i + 1
    return (f"127.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}", 4000)


def node_seed(seed: int, i: int) -> str:
    """Seed of node ``i``'s RNG (the ``seed`` argument of ``open_node``), ``f"{seed}:{i}"``."""
    return f"{seed}:{i}"


def jump(now: float, t: float) -> float:
    """The time ``MockClock`` reaches when it autojumps from ``now`` to a deadline ``t``.

    trio adds ``t - now`` to its virtual base, which can round to just below ``t``; the deadline then has not
    expired and trio jumps again by the (now exact) remainder.
    """
    if t > now:
        now = now + (t - now)
        if now < t:
            now = now + (t - now)
    return now


@dataclass(slots=True, eq=False)
class Ticket:
    """A query started by a driver: ``effect`` is its final :class:`~p2p.core.Completed` /
    :class:`~p2p.core.Failed`, or ``None`` while running or when its node crashed (``done`` then tells)."""

    addr: Address
    qid: int
    effect: Effect | None = None
    done: bool = False


class DES:
    """A network of :class:`p2p.core.NodeCore` objects in simulated time, no trio.

    Parameters
    ----------
    seed : int
        Run seed: node ``i`` gets ``random.Random(f"{seed}:{i}")``; sender ``src`` draws its link decisions
        from ``random.Random(source_seed(seed, src))``.
    link : LinkModel, optional
        Latency, loss, duplication, reordering (default ``LinkModel()``: constant 10 ms).
    config : NodeConfig, optional
        Protocol parameters of every core.
    tracer : callable, optional
        ``tracer(time, src, dst, data)`` for each datagram delivered to a live node, in delivery order, ``time``
        being the datagram's due time (as SimNetwork's tracer).

    Attributes
    ----------
    now : float
        Current simulated time in seconds.
    cores : dict
        Live cores by address, in creation order.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        link: LinkModel | None = None,
        config: NodeConfig | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        self.seed = seed
        self.link = link if link is not None else LinkModel()
        self.config = config or NodeConfig()
        self.tracer = tracer
        self.partition = Partition()
        self.now = 0.0
        self.cores: dict[Address, NodeCore] = {}
        self.created = 0
        self._heap: list[tuple[float, Address, int, Address, bytes]] = []
        self._timers: list[tuple[float, Address]] = []
        self._deadline: dict[Address, float] = {}
        self._rngs: dict[Address, random.Random] = {}
        self._counters: dict[Address, int] = {}
        self._tickets: dict[Address, dict[int, Ticket]] = {}
        self._stats = dict.fromkeys(
            (
                "datagrams_sent",
                "datagrams_delivered",
                "bytes_delivered",
                "send_errors",
                "dropped_lost",
                "dropped_partition",
                "dropped_unknown",
                "duplicated",
                "timer_events",
                "nodes_added",
                "nodes_removed",
            ),
            0,
        )

    # ---------------------------------------------------------------------------------------- nodes

    def add_node(self, node_id: int | None = None) -> Address:
        """Create node number ``created`` at the next automatic address, at time ``now``; returns its address.

        As ``open_node(seed=f"{seed}:{i}", node_id=node_id)``: the core's RNG is ``random.Random(f"{seed}:{i}")``
        and, unless ``node_id`` is given, the id is drawn first from it with :func:`p2p.ids.random_id`.
        """
        i = self.created
        self.created += 1
        addr = auto_address(i)
        rng = random.Random(node_seed(self.seed, i))
        if node_id is None:
            node_id = random_id(rng)
        core = NodeCore(self.config, node_id, rng=rng, store=MemoryStore(), now=self.now)
        self.cores[addr] = core
        self._stats["nodes_added"] += 1
        self._rearm(addr, core)
        return addr

    def remove_node(self, addr: Address) -> None:
        """Crash a node: its state is gone, datagrams still to arrive for it are dropped, its queries end with
        no effect (their tickets become ``done`` with ``effect=None``)."""
        if self.cores.pop(addr, None) is None:
            return
        self._stats["nodes_removed"] += 1
        self._deadline.pop(addr, None)
        for t in self._tickets.pop(addr, {}).values():
            t.done = True

    def core(self, addr: Address) -> NodeCore:
        """The live core at ``addr`` (``KeyError`` if none)."""
        return self.cores[addr]

    def alive(self, addr: Address) -> bool:
        return addr in self.cores

    def populate(self, addr: Address, contacts: Iterable[Contact]) -> None:
        """Put ``contacts`` straight into a core's routing table (``core.add_contacts``), e.g. a converged table
        from the id model; any effect (an eviction ping) is carried out."""
        self._apply(addr, self.cores[addr].add_contacts(self.now, contacts))

    # ---------------------------------------------------------------------------------------- queries

    def apply_started(self, addr: Address, started: tuple[int, list[Effect]]) -> Ticket:
        """Carry out the effects of a ``core.start_*(now, ...)`` return value; returns its :class:`Ticket`."""
        qid, effects = started
        ticket = Ticket(addr, qid)
        self._tickets.setdefault(addr, {})[qid] = ticket
        self._apply(addr, effects)
        return ticket

    def start(self, addr: Address, kind: str, *args: Any) -> Ticket:
        """Start a query now: ``kind`` is ``"get"``, ``"put"``, ``"find_node"`` or ``"bootstrap"``; ``args`` are
        those of ``NodeCore.start_<kind>`` after ``now``."""
        core = self.cores[addr]
        return self.apply_started(addr, getattr(core, f"start_{kind}")(self.now, *args))

    def wait(self, ticket: Ticket, limit: float = _INF) -> Effect | None:
        """Run until ``ticket``'s query ends (then finish that instant); returns its final effect, or ``None``
        if its node crashed, nothing is left to happen, or ``limit`` simulated seconds passed."""
        deadline = self.now + limit
        while not ticket.done:
            t = self._next_time()
            if t == _INF or t > deadline:
                break
            self._instant(t)
        return ticket.effect

    def run_query(
        self, addr: Address, started: tuple[int, list[Effect]], limit: float = _INF
    ) -> Effect | None:
        """Apply a ``start_*`` return value and run until that query ends; returns its final effect."""
        return self.wait(self.apply_started(addr, started), limit)

    def run_until(self, t: float) -> None:
        """Process every event due at or before ``t``, then move the clock to ``t`` (as ``trio.sleep_until``)."""
        while True:
            nt = self._next_time()
            if nt > t:
                break
            self._instant(nt)
        if t > self.now and t != _INF:
            self.now = jump(self.now, t)
            # events between t and the rounded clock (if the jump overshot) belong to this instant too
            while self._next_time() <= self.now:
                self._instant(self.now)

    # ---------------------------------------------------------------------------------------- stats

    def statistics(self) -> dict[str, int]:
        """Engine totals: ``datagrams_sent`` (accepted sends), ``datagrams_delivered``, ``bytes_delivered``,
        ``send_errors``, ``dropped_lost``, ``dropped_partition``, ``dropped_unknown`` (destination gone),
        ``duplicated``, ``timer_events`` (``poll`` calls), ``nodes_added``, ``nodes_removed``, ``in_flight``,
        ``nodes`` (live)."""
        s = dict(self._stats)
        s["in_flight"] = len(self._heap)
        s["nodes"] = len(self.cores)
        return s

    def node_statistics(self, addr: Address) -> dict[str, int]:
        """Per-node counters: ``datagrams_sent``/``received``, ``requests_sent``, ``timeouts``, ``contacts``,
        ``records`` (from the core's statistics)."""
        st = self.cores[addr].statistics()
        return {
            "datagrams_sent": st.datagrams_sent,
            "datagrams_received": st.datagrams_received,
            "requests_sent": st.requests_sent,
            "timeouts": st.timeouts,
            "contacts": st.contacts,
            "records": st.records,
        }

    # ---------------------------------------------------------------------------------------- internals

    def _next_time(self) -> float:
        timers, reg = self._timers, self._deadline
        while timers:
            d, a = timers[0]
            if reg.get(a) == d:
                break
            heapq.heappop(timers)
        tn = timers[0][0] if timers else _INF
        hn = self._heap[0][0] if self._heap else _INF
        return tn if tn < hn else hn

    def _instant(self, t: float) -> None:
        now = self.now = jump(self.now, t)
        timers, reg, cores, heap = self._timers, self._deadline, self.cores, self._heap
        while timers and timers[0][0] <= now:
            d, a = heapq.heappop(timers)
            if reg.get(a) != d:
                continue
            del reg[a]
            core = cores[a]
            self._stats["timer_events"] += 1
            self._apply(a, core.poll(now))
        stats = self._stats
        tracer = self.tracer
        while heap and heap[0][0] <= now:
            td, src, _k, dst, data = heapq.heappop(heap)
            core = cores.get(dst)
            if core is None:
                stats["dropped_unknown"] += 1
                continue
            stats["datagrams_delivered"] += 1
            stats["bytes_delivered"] += len(data)
            if tracer is not None:
                tracer(td, src, dst, data)
            self._apply(dst, core.handle_datagram(now, src, data))

    def _rearm(self, addr: Address, core: NodeCore) -> None:
        d = core.next_deadline()
        reg = self._deadline
        if reg.get(addr) != d:
            if d == _INF:
                reg.pop(addr, None)
            else:
                reg[addr] = d
                heapq.heappush(self._timers, (d, addr))

    def _apply(self, addr: Address, effects: list[Effect]) -> None:
        for e in effects:
            if type(e) is Send:
                self._send(addr, e.addr, e.data)
            elif type(e) is Completed or type(e) is Failed:
                tickets = self._tickets.get(addr)
                t = tickets.pop(e.qid, None) if tickets else None
                if t is not None:
                    t.effect = e
                    t.done = True
        core = self.cores.get(addr)
        if core is not None:
            self._rearm(addr, core)

    def _send(self, src: Address, dst: Address, data: bytes) -> None:
        stats = self._stats
        if len(data) > MAX_DATAGRAM:
            stats["send_errors"] += 1
            return
        stats["datagrams_sent"] += 1
        if self.partition and self.partition.blocks(src, dst):
            stats["dropped_partition"] += 1
            return
        rng = self._rngs.get(src)
        if rng is None:
            rng = self._rngs[src] = random.Random(source_seed(self.seed, src))
        delays = self.link.deliveries(rng, src, dst)
        if not delays:
            stats["dropped_lost"] += 1
            return
        if len(delays) > 1:
            stats["duplicated"] += len(delays) - 1
        now = self.now
        k = self._counters.get(src, 0)
        for delay in delays:
            heapq.heappush(self._heap, (now + delay, src, k, dst, data))
            k += 1
        self._counters[src] = k


class DESDriver:
    """The scenario-driver interface (shared with :class:`p2p.sims.virtual.VirtualDriver`) over a :class:`DES`.

    Every method a scenario awaits completes without suspending, so :func:`run_des` runs a scenario coroutine
    to its end with a single ``send(None)``.
    """

    engine_name = "des"

    def __init__(self, des: DES) -> None:
        self.des = des

    @property
    def now(self) -> float:
        return self.des.now

    def live(self) -> list[Address]:
        """Addresses of the live nodes, in creation order."""
        return list(self.des.cores)

    def core(self, addr: Address) -> NodeCore:
        return self.des.cores[addr]

    def alive(self, addr: Address) -> bool:
        return addr in self.des.cores

    async def add_node(self) -> Address:
        return self.des.add_node()

    async def remove_node(self, addr: Address) -> None:
        self.des.remove_node(addr)

    async def populate(self, addr: Address, contacts: Iterable[Contact]) -> None:
        self.des.populate(addr, contacts)

    async def start(self, addr: Address, kind: str, *args: Any) -> Ticket:
        return self.des.start(addr, kind, *args)

    async def wait(self, ticket: Ticket) -> Effect | None:
        return self.des.wait(ticket)

    async def query(self, addr: Address, kind: str, *args: Any) -> Effect | None:
        return self.des.wait(self.des.start(addr, kind, *args))

    async def sleep_until(self, t: float) -> None:
        self.des.run_until(t)

    def statistics(self) -> dict[str, int]:
        return self.des.statistics()


def run_des(
    scenario: Callable[..., Any],
    *args: Any,
    seed: int = 0,
    link: LinkModel | None = None,
    config: NodeConfig | None = None,
    tracer: Tracer | None = None,
    **kwargs: Any,
) -> Any:
    """Run ``await scenario(driver, *args, **kwargs)`` on a fresh :class:`DES`; returns its result.

    Raises
    ------
    RuntimeError
        If the scenario awaits anything other than the driver's methods (it would need an event loop).
    """
    driver = DESDriver(DES(seed=seed, link=link, config=config, tracer=tracer))
    coro = scenario(driver, *args, **kwargs)
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    raise RuntimeError("a DES scenario may only await the driver's methods")
