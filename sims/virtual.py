"""Virtual-time engine: real :class:`p2p.node.Node` objects over :class:`p2p.transport.sim.SimNetwork`, in
``trio.run(..., clock=trio.testing.MockClock(autojump_threshold=0))`` (DESIGN.md §9).

:class:`VirtualDriver` offers the same scenario-driver interface as :class:`p2p.sims.des.DESDriver`, so one
``async def scenario(driver, ...)`` runs on either engine (:func:`run_virtual`, :func:`p2p.sims.des.run_des`).
Node ``i`` is ``open_node(transport=net.endpoint(), seed=f"{seed}:{i}", config=config)``, on SimNetwork's
``i + 1``-th automatic address, exactly as the DES numbers and seeds its cores.

Every driver action first waits until every other task is blocked (``trio.testing.wait_all_tasks_blocked``,
which under ``MockClock`` takes precedence over jumping the clock): it then runs after all the work due at that
virtual instant, the order the DES uses. A query is started synchronously in the driver's task
(``core.start_*`` then the node's own ``_apply``), so its datagrams are sent in effect order before any other
task runs on that node.

Example
-------
>>> from p2p.linkmodel import LinkModel, UniformLatency
>>> async def two(driver):
...     a, b = await driver.add_node(), await driver.add_node()
...     effect = await driver.query(b, "bootstrap", [a])
...     return effect.result.responded
>>> run_virtual(two, seed=1, link=LinkModel(latency=UniformLatency(0.01, 0.05)))
1
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import trio
import trio.testing

from p2p.config import NodeConfig
from p2p.core import Effect, NodeCore
from p2p.linkmodel import LinkModel
from p2p.node import Node, QueryTicket, open_node
from p2p.transport.sim import SimNetwork, SimTransport, open_sim_network
from p2p.wire import Address, Contact

from .des import node_seed

__all__ = ["VirtualDriver", "VirtualTicket", "run_virtual"]

Tracer = Callable[[float, Address, Address, bytes], None]


class VirtualTicket:
    """A query started by :meth:`VirtualDriver.start`: the node's :class:`p2p.node.QueryTicket` and where."""

    __slots__ = ("addr", "ticket")

    def __init__(self, addr: Address, ticket: QueryTicket) -> None:
        self.addr = addr
        self.ticket = ticket

    @property
    def qid(self) -> int:
        return self.ticket.qid

    @property
    def done(self) -> bool:
        return self.ticket.done

    @property
    def effect(self) -> Effect | None:
        return self.ticket.effect


class VirtualDriver:
    """The scenario-driver interface over real nodes in trio virtual time. Build it with :func:`run_virtual`."""

    engine_name = "virtual"

    def __init__(self, net: SimNetwork, nursery: trio.Nursery, seed: int, config: NodeConfig | None) -> None:
        self.net = net
        self.seed = seed
        self.config = config or NodeConfig()
        self._nursery = nursery
        self._nodes: dict[Address, tuple[Node, trio.CancelScope]] = {}
        self.created = 0

    @property
    def now(self) -> float:
        return trio.current_time()

    def live(self) -> list[Address]:
        """Addresses of the live nodes, in creation order."""
        return list(self._nodes)

    def core(self, addr: Address) -> NodeCore:
        return self._nodes[addr][0].core

    def node(self, addr: Address) -> Node:
        return self._nodes[addr][0]

    def alive(self, addr: Address) -> bool:
        return addr in self._nodes

    async def _settle(self) -> None:
        await trio.testing.wait_all_tasks_blocked()

    async def _run_node(
        self, transport: SimTransport, i: int, task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED
    ) -> None:
        with trio.CancelScope() as scope:
            async with open_node(
                transport=transport, config=self.config, seed=node_seed(self.seed, i)
            ) as node:
                task_status.started((node, scope))
                await trio.sleep_forever()

    async def add_node(self) -> Address:
        await self._settle()
        i = self.created
        self.created += 1
        transport = self.net.endpoint()
        node, scope = await self._nursery.start(self._run_node, transport, i)
        self._nodes[node.address] = (node, scope)
        await self._settle()
        return node.address

    async def remove_node(self, addr: Address) -> None:
        """Crash the node: its endpoint leaves the network at once, its queries end with no effect."""
        await self._settle()
        entry = self._nodes.pop(addr, None)
        if entry is None:
            return
        node, scope = entry
        node.transport.crash()  # synchronous: no datagram can reach it from this instant on
        await node.aclose()
        scope.cancel()
        await self._settle()

    async def populate(self, addr: Address, contacts: Iterable[Contact]) -> None:
        await self._nodes[addr][0].add_contacts(contacts)

    async def start(self, addr: Address, kind: str, *args: Any) -> VirtualTicket:
        await self._settle()
        return VirtualTicket(addr, await self._nodes[addr][0].start(kind, *args))

    async def wait(self, ticket: VirtualTicket) -> Effect | None:
        effect = await ticket.ticket.wait()
        await self._settle()
        return effect

    async def query(self, addr: Address, kind: str, *args: Any) -> Effect | None:
        return await self.wait(await self.start(addr, kind, *args))

    async def sleep_until(self, t: float) -> None:
        await trio.sleep_until(t)
        await self._settle()

    def statistics(self) -> dict[str, int]:
        s = self.net.statistics()
        s["nodes"] = len(self._nodes)
        return s


def run_virtual(
    scenario: Callable[..., Any],
    *args: Any,
    seed: int = 0,
    link: LinkModel | None = None,
    config: NodeConfig | None = None,
    tracer: Tracer | None = None,
    **kwargs: Any,
) -> Any:
    """Run ``await scenario(driver, *args, **kwargs)`` over a fresh SimNetwork in trio virtual time.

    Parameters
    ----------
    scenario : async callable
        Receives a :class:`VirtualDriver` first.
    seed : int
        SimNetwork seed and node seeds (``f"{seed}:{i}"``).
    link : LinkModel, optional
    config : NodeConfig, optional
    tracer : callable, optional
        SimNetwork's ``tracer(time, src, dst, data)``.

    Returns
    -------
    The scenario's return value.
    """

    async def main() -> Any:
        async with open_sim_network(link, seed=seed, tracer=tracer) as net, trio.open_nursery() as nursery:
            driver = VirtualDriver(net, nursery, seed, config)
            try:
                return await scenario(driver, *args, **kwargs)
            finally:
                nursery.cancel_scope.cancel()

    return trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
