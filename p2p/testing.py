"""Public test helpers (layer L7).

- :class:`CoreMesh`: many :class:`p2p.core.NodeCore` objects wired together in a pure, deterministic,
  single-threaded event loop with constant latency (no trio, no sockets). Fast enough for unit tests of the
  protocol and for property tests.
- :func:`open_sim_network` (re-exported from :mod:`p2p.transport.sim`) and :func:`open_sim_nodes`: real
  :class:`p2p.node.Node` objects over an in-memory network, for trio tests in virtual time.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator
from contextlib import asynccontextmanager
from typing import Any

from .config import NodeConfig
from .core import Completed, Effect, Failed, NodeCore, Send
from .ids import random_id
from .wire import Address

__all__ = ["CoreMesh", "open_sim_network", "open_sim_nodes"]


class CoreMesh:
    """A deterministic network of cores driven by one heap of ``(time, seq, dst, src, data)``.

    Parameters
    ----------
    n : int
        Number of cores; core ``i`` listens on ``("127.0.0.1", 10000 + i)``.
    seed : int
        Seeds the node ids and each core's RNG (``random.Random(f"{seed}:{i}")``).
    config : NodeConfig, optional
    latency : float
        One-way delay of every datagram, in seconds.
    loss : float
        Probability that a datagram is dropped (drawn from the mesh's own RNG).
    """

    def __init__(
        self, n: int, seed: int = 0, config: NodeConfig | None = None, latency: float = 0.005, loss: float = 0.0
    ) -> None:
        self.config = config or NodeConfig()
        self.latency = latency
        self.loss = loss
        self.now = 0.0
        self._rng = random.Random(f"{seed}:mesh")
        self._heap: list[tuple[float, int, Address, Address, bytes]] = []
        self._seq = 0
        self.cores: dict[Address, NodeCore] = {}
        self.addresses: list[Address] = []
        self.results: dict[tuple[Address, int], Effect] = {}
        self.datagrams = 0
        for i in range(n):
            self.add(random.Random(f"{seed}:id:{i}"), random.Random(f"{seed}:{i}"))

    def add(self, id_rng: random.Random, rng: random.Random) -> Address:
        """Add one core; returns its address."""
        addr = ("127.0.0.1", 10000 + len(self.addresses))
        self.cores[addr] = NodeCore(self.config, random_id(id_rng), rng=rng, now=self.now)
        self.addresses.append(addr)
        return addr

    def remove(self, addr: Address) -> None:
        """Crash a core: datagrams to it are lost from now on."""
        self.cores.pop(addr, None)

    def apply(self, src: Address, effects: list[Effect]) -> None:
        """Queue the sends of ``effects`` and record completions under ``(src, qid)``."""
        for e in effects:
            if type(e) is Send:
                self.datagrams += 1
                if self.loss and self._rng.random() < self.loss:
                    continue
                self._seq += 1
                heapq.heappush(self._heap, (self.now + self.latency, self._seq, e.addr, src, e.data))
            elif type(e) in (Completed, Failed):
                self.results[(src, e.qid)] = e

    def run_until(self, t: float) -> None:
        """Deliver datagrams and fire timers up to time ``t`` (seconds)."""
        while True:
            next_msg = self._heap[0][0] if self._heap else float("inf")
            next_timer, timer_addr = min(
                ((c.next_deadline(), a) for a, c in self.cores.items()), default=(float("inf"), None)
            )
            step = min(next_msg, next_timer)
            if step > t:
                self.now = t
                return
            self.now = max(self.now, step)
            if next_msg <= next_timer:
                _, _, dst, src, data = heapq.heappop(self._heap)
                core = self.cores.get(dst)
                if core is not None:
                    self.apply(dst, core.handle_datagram(self.now, src, data))
            else:
                assert timer_addr is not None
                self.apply(timer_addr, self.cores[timer_addr].poll(self.now))

    def run_query(self, addr: Address, started: tuple[int, list[Effect]], limit: float = 60.0) -> Effect:
        """Apply a ``start_*`` return value and run until that query ends; returns its final effect.

        Raises
        ------
        TimeoutError
            If the query has not ended within ``limit`` simulated seconds.
        """
        qid, effects = started
        self.apply(addr, effects)
        deadline = self.now + limit
        while (addr, qid) not in self.results:
            if self.now >= deadline:
                raise TimeoutError(f"query {qid} on {addr} did not end within {limit} s")
            self.run_until(min(deadline, self._next_event()))
        return self.results.pop((addr, qid))

    def _next_event(self) -> float:
        next_msg = self._heap[0][0] if self._heap else float("inf")
        next_timer = min((c.next_deadline() for c in self.cores.values()), default=float("inf"))
        return min(next_msg, next_timer)

    def join_all(self, bootstrap_from: int = 3) -> None:
        """Join cores one at a time, each bootstrapping from up to ``bootstrap_from`` earlier ones."""
        for i, addr in enumerate(self.addresses):
            if i == 0:
                continue
            seeds = self._rng.sample(self.addresses[:i], min(i, bootstrap_from))
            effect = self.run_query(addr, self.cores[addr].start_bootstrap(self.now, seeds))
            if type(effect) is not Completed:
                raise RuntimeError(f"bootstrap of {addr} failed: {effect}")

    def __iter__(self) -> Iterator[tuple[Address, NodeCore]]:
        return iter(self.cores.items())


def open_sim_network(*args: Any, **kwargs: Any) -> Any:
    """See :func:`p2p.transport.sim.open_sim_network`."""
    from .transport.sim import open_sim_network as _open

    return _open(*args, **kwargs)


@asynccontextmanager
async def open_sim_nodes(n: int, *, seed: int = 0, link: Any = None, config: NodeConfig | None = None,
                         join: bool = True):
    """Start ``n`` real :class:`p2p.node.Node` objects on one in-memory network and (optionally) join them,
    each bootstrapping from up to 3 earlier nodes. Yields ``(network, nodes)``.

    Use it under ``trio.testing.MockClock(autojump_threshold=0)`` to run in virtual time.
    """
    import trio

    from .node import open_node
    from .transport.sim import open_sim_network as _open

    rng = random.Random(f"{seed}:join")
    async with _open(link, seed=seed) as net, trio.open_nursery() as nursery:
        nodes = []
        for i in range(n):
            transport = net.endpoint()
            node = await nursery.start(_run_node, open_node, config, transport, seed, i)
            nodes.append(node)
        if join:
            for i, node in enumerate(nodes[1:], start=1):
                seeds = [nodes[j].address for j in rng.sample(range(i), min(i, 3))]
                await node.bootstrap(seeds)
        try:
            yield net, nodes
        finally:
            nursery.cancel_scope.cancel()


async def _run_node(open_node: Any, config: Any, transport: Any, seed: int, i: int, task_status: Any) -> None:
    import trio

    async with open_node(transport=transport, config=config, seed=f"{seed}:{i}") as node:
        task_status.started(node)
        await trio.sleep_forever()
