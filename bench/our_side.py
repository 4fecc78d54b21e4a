"""Our side of the ours-vs-stock benchmark: the workload of :mod:`bench.stock_side`, run on our nodes.

``n`` of our nodes (``p2p.node.open_node``), each a UDP socket on 127.0.0.1, all in this one trio process
(as the stock servers all share one asyncio process). By default the nodes are *ephemeral*: records live in
an in-memory :class:`p2p.store.MemoryStore`, like the stock package's ``ForgetfulStorage``. With
``data_dirs=True`` (``--data-dirs``) each node gets a data directory in a temporary folder and keeps its
records in sqlite (``synchronous=normal``: a STORE is acknowledged only after its record is committed).

Workload (identical to the stock side, draw for draw; all randomness from ``random.Random(seed)``):
  1. open ``n`` nodes (node ids from per-node seeds derived from ``seed``);
  2. sequential joins: node 0 has nothing to join (0 s recorded, as stock's empty bootstrap returns at once),
     node i bootstraps from ``min(i, 3)`` distinct earlier nodes drawn with ``rng.sample``;
  3. ``puts`` puts, one at a time, of random 16-byte hex keys with random 32-char values, each from a random
     node;
  4. ``gets`` gets of those keys (cycling through them), each from a random node different from the setter.

Measured: latency with ``time.perf_counter`` around ``await node.put(...)`` / ``await node.get(...)``;
datagrams per op as the sum over all our nodes of ``core.statistics().datagrams_sent`` deltas around the op
(requests and responses, as the stock side counts every ``sendto``; sends that outlive an op are counted by
the next one, as on the stock side); ``cpu_seconds`` is ``time.process_time()`` of this process over the whole
run minus the CPU spent reading those counters (the stock side counts with a free in-process counter);
``wall_seconds`` the whole run. ``set_failures`` counts puts that no remote node acknowledged (stock's
``set`` returns ``False`` in that case).
"""

from __future__ import annotations

import argparse
import json
import random
import string
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import trio

from bench.common import per_op, summary
from p2p.node import Node, open_node

__all__ = ["run_our_workload", "run_our_workload_sync"]





class _Counter:
    """Sums ``datagrams_sent`` over all nodes and keeps the CPU time spent doing so."""

    def __init__(self, nodes: list[Node]) -> None:
        self.nodes = nodes
        self.overhead = 0.0

    def sent(self) -> int:
        t0 = time.process_time()
        total = sum(node.core.datagrams_sent for node in self.nodes)
        self.overhead += time.process_time() - t0
        return total

    def rpcs(self) -> dict[str, int]:
        """Requests by name received by all nodes, plus ``"response"``: replies sent (stock's ``rpc_sent``)."""
        t0 = time.process_time()
        out: dict[str, int] = {}
        for node in self.nodes:
            s = node.core.statistics()
            for name, c in s.requests_received.items():
                out[name] = out.get(name, 0) + c
            out["response"] = out.get("response", 0) + s.replies_sent + s.replies_from_cache
        self.overhead += time.process_time() - t0
        return out


async def run_our_workload(
    n: int, puts: int, gets: int, seed: int, *, data_dirs: bool = False
) -> dict[str, Any]:
    """Run the benchmark workload on ``n`` of our nodes and return its figures (see the module docstring)."""
    if n < 2:
        raise ValueError("need at least 2 nodes (gets come from a node other than the setter)")
    rng = random.Random(seed)
    alphabet = string.ascii_letters + string.digits
    cpu0 = time.process_time()
    wall0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="p2p-bench-") as tmp:
        async with AsyncExitStack() as stack:
            nodes: list[Node] = []
            for i in range(n):
                kw: dict[str, Any] = {"seed": f"bench-{seed}-{i}"}
                if data_dirs:
                    kw.update(data_dir=Path(tmp) / f"node{i}", control=False)
                nodes.append(await stack.enter_async_context(open_node(**kw)))
            counter = _Counter(nodes)

            join_seconds: list[float] = []
            join_datagrams: list[int] = []
            for i in range(n):
                contacts = rng.sample(range(i), min(i, 3))
                if not contacts:
                    join_seconds.append(0.0)
                    join_datagrams.append(0)
                    continue
                d0 = counter.sent()
                t0 = time.perf_counter()
                await nodes[i].bootstrap([nodes[j].address for j in contacts])
                join_seconds.append(time.perf_counter() - t0)
                join_datagrams.append(counter.sent() - d0)

            rpc_before_puts = counter.rpcs()
            written: list[tuple[str, str, int]] = []
            put_seconds: list[float] = []
            put_datagrams: list[int] = []
            set_failures = 0
            for _ in range(puts):
                key = rng.randbytes(16).hex()
                value = "".join(rng.choice(alphabet) for _ in range(32))
                setter = rng.randrange(n)
                d0 = counter.sent()
                t0 = time.perf_counter()
                result = await nodes[setter].put(key, value)
                put_seconds.append(time.perf_counter() - t0)
                put_datagrams.append(counter.sent() - d0)
                if result.acks == 0:
                    set_failures += 1
                written.append((key, value, setter))

            rpc_before_gets = counter.rpcs()
            get_seconds: list[float] = []
            get_datagrams: list[int] = []
            get_success = 0
            for g in range(gets if written else 0):
                key, value, setter = written[g % len(written)]
                getter = rng.randrange(n - 1)
                if getter >= setter:
                    getter += 1  # uniform over the other n - 1 nodes
                d0 = counter.sent()
                t0 = time.perf_counter()
                got = await nodes[getter].get(key)
                get_seconds.append(time.perf_counter() - t0)
                get_datagrams.append(counter.sent() - d0)
                if got.found and got.value == value:
                    get_success += 1

            rpc_after = counter.rpcs()
            drops: dict[str, int] = {}
            internal_errors = 0
            for node in nodes:
                for reason, c in node.core.statistics().drops.items():
                    drops[reason] = drops.get(reason, 0) + c
                internal_errors += node.internal_errors
        cpu = time.process_time() - cpu0 - counter.overhead
    wall = time.perf_counter() - wall0


    return {
        **summary(
            n,
            join_seconds=join_seconds,
            join_datagrams=join_datagrams,
            put_seconds=put_seconds,
            put_datagrams=put_datagrams,
            get_seconds=get_seconds,
            get_datagrams=get_datagrams,
            get_success=get_success,
            puts=puts,
            set_failures=set_failures,
        ),
        "cpu_seconds": cpu,
        "counter_cpu_seconds": counter.overhead,
        "rpc_sent": rpc_after,
        "rpc_per_put": per_op(rpc_before_puts, rpc_before_gets, puts),
        "rpc_per_get": per_op(rpc_before_gets, rpc_after, len(get_seconds)),
        "drops": drops,
        "internal_errors": internal_errors,
        "store": "sqlite" if data_dirs else "memory",
        "wall_seconds": wall,
    }


def run_our_workload_sync(
    n: int, puts: int, gets: int, seed: int, *, data_dirs: bool = False
) -> dict[str, Any]:
    """:func:`run_our_workload` under ``trio.run``."""
    return trio.run(lambda: run_our_workload(n, puts, gets, seed, data_dirs=data_dirs))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.our_side", description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=64)
    parser.add_argument("--puts", type=int, default=100)
    parser.add_argument("--gets", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--data-dirs", action="store_true", help="sqlite stores in temporary data directories"
    )
    args = parser.parse_args(argv)
    result = run_our_workload_sync(args.nodes, args.puts, args.gets, args.seed, data_dirs=args.data_dirs)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
