"""``p2p demo``: a real UDP network of N nodes on 127.0.0.1 in one process, puts and gets, a summary."""

from __future__ import annotations

import random
import statistics
import sys
import time
from contextlib import AsyncExitStack
from typing import Annotated, Any

import trio
import typer

from p2p.config import KademliaConfig, NodeConfig
from p2p.errors import P2PError
from p2p.node import Node, open_node

from .common import JsonOpt, emit_json, guard, one_line, stderr_console


def _percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil
    return ordered[int(rank) - 1]


def _ms(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "p95": None}
    return {
        "median": round(statistics.median(values) * 1000, 2),
        "p95": round(_percentile(values, 95) * 1000, 2),
    }


class _Progress:
    """A rich progress bar on stderr, or nothing."""

    def __init__(self, enabled: bool, total: int) -> None:
        self._bar: Any = None
        if enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(
                TextColumn("{task.description:<6}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=stderr_console(),
                transient=True,
            )
            self._task = self._bar.add_task("join", total=total)

    def __enter__(self) -> _Progress:
        if self._bar is not None:
            self._bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def step(self, description: str) -> None:
        if self._bar is not None:
            self._bar.update(self._task, advance=1, description=description)


async def _run(n: int, puts: int, seed: int, k: int, progress: _Progress) -> dict[str, Any]:
    rng = random.Random(seed)
    config = NodeConfig(kademlia=KademliaConfig(k=k, alpha=min(3, k)))
    async with AsyncExitStack() as stack:
        nodes: list[Node] = []
        join_times: list[float] = []
        for i in range(n):
            node = await stack.enter_async_context(
                open_node(config=config, host="127.0.0.1", port=0, seed=f"demo-{seed}-{i}")
            )
            if nodes:
                seeds = rng.sample(nodes, min(3, len(nodes)))
                t0 = time.perf_counter()
                await node.bootstrap([s.address for s in seeds])
                join_times.append(time.perf_counter() - t0)
            nodes.append(node)
            progress.step("join")

        expected: dict[str, tuple[str, int]] = {}
        acks: list[int] = []
        put_latency: list[float] = []
        put_errors: list[str] = []
        for i in range(puts):
            key = f"demo-{seed}-{i}-{rng.getrandbits(32):08x}"
            value = f"value-{rng.getrandbits(64):016x}"
            writer = rng.randrange(n)
            t0 = time.perf_counter()
            try:
                result = await nodes[writer].put(key, value)
            except P2PError as exc:
                put_errors.append(one_line(exc))
            else:
                put_latency.append(time.perf_counter() - t0)
                acks.append(result.acks)
            expected[key] = (value, writer)
            progress.step("put")

        get_latency: list[float] = []
        hops: list[int] = []
        succeeded = 0
        failures: list[str] = []
        for key, (value, writer) in expected.items():
            reader = rng.choice([i for i in range(n) if i != writer])
            t0 = time.perf_counter()
            try:
                result = await nodes[reader].get(key)
            except P2PError as exc:
                failures.append(f"{key}: {one_line(exc)}")
            else:
                get_latency.append(time.perf_counter() - t0)
                hops.append(result.hops)
                if result.found and result.value == value:
                    succeeded += 1
                elif result.found:
                    failures.append(f"{key}: wrong value {result.value!r}")
                else:
                    failures.append(f"{key}: not found")
            progress.step("get")

        datagrams = sum(node.transport.statistics().get("datagrams_sent", 0) for node in nodes)
    return {
        "nodes": n,
        "k": k,
        "seed": seed,
        "join_ms_per_node": round(statistics.mean(join_times) * 1000, 2) if join_times else 0.0,
        "puts": puts,
        "put_errors": len(put_errors),
        "acks_min": min(acks) if acks else None,
        "acks_median": statistics.median(acks) if acks else None,
        "gets": puts,
        "gets_succeeded": succeeded,
        "put_latency_ms": _ms(put_latency),
        "get_latency_ms": _ms(get_latency),
        "get_hops_median": statistics.median(hops) if hops else None,
        "datagrams_sent": datagrams,
        "failures": (put_errors + failures)[:10],
        "ok": succeeded == puts,
    }


def _print_summary(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    def fmt(x: Any) -> str:
        return "-" if x is None else f"{x:g}" if isinstance(x, float) else str(x)

    table = Table(title=f"p2p demo (seed {summary['seed']})", title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("nodes (k)", f"{summary['nodes']} ({summary['k']})")
    table.add_row("join time per node", f"{fmt(summary['join_ms_per_node'])} ms")
    table.add_row("puts", str(summary["puts"]))
    table.add_row("acks min / median", f"{fmt(summary['acks_min'])} / {fmt(summary['acks_median'])}")
    table.add_row("gets succeeded", f"{summary['gets_succeeded']}/{summary['gets']}")
    put, get = summary["put_latency_ms"], summary["get_latency_ms"]
    table.add_row("put latency median / p95", f"{fmt(put['median'])} / {fmt(put['p95'])} ms")
    table.add_row("get latency median / p95", f"{fmt(get['median'])} / {fmt(get['p95'])} ms")
    table.add_row("get hops median", fmt(summary["get_hops_median"]))
    table.add_row("datagrams sent", str(summary["datagrams_sent"]))
    console = Console(highlight=False)
    console.print(table)
    for failure in summary["failures"]:
        console.print(f"failed: {failure}", style="red")


@guard
def demo(
    nodes: Annotated[
        int, typer.Option("--nodes", "-n", min=2, max=1000, help="Number of nodes to start.")
    ] = 64,
    puts: Annotated[
        int, typer.Option("--puts", "-p", min=0, max=100_000, help="Records to put (and get).")
    ] = 50,
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed", "-s", help="Seed for node ids and choices (default: random, printed in the summary)."
        ),
    ] = None,
    k: Annotated[int, typer.Option("--k", min=1, max=64, help="Bucket size and replication factor.")] = 20,
    json_out: JsonOpt = False,
) -> None:
    """Start N real UDP nodes on 127.0.0.1 in this process, join them, do P puts and P gets, summarise.

    Each node joins through up to 3 earlier nodes; each record is put from a random node and read back from another random node. Exit 0 only if every get returned the value that was put. With k = 20, each record lives on 20 of the 64 default nodes, so most gets are real lookups across the network (the summary shows their hops); in a network of k nodes or fewer every node holds every record.
    """
    if seed is None:
        seed = random.SystemRandom().randrange(1 << 31)
    progress = _Progress(enabled=not json_out and sys.stderr.isatty(), total=nodes + 2 * puts)
    with progress:
        summary = trio.run(_run, nodes, puts, seed, k, progress)
    if json_out:
        emit_json(summary)
    else:
        _print_summary(summary)
    if not summary["ok"]:
        raise typer.Exit(1)
