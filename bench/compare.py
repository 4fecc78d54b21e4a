"""Ours vs the stock PyPI ``kademlia`` 2.2.3 package on the same workload, over UDP on 127.0.0.1.

::

    python -m bench.compare --nodes 64 256 --puts 200 --gets 200 --seed 1 [--markdown FILE] [--json]
                            [--data-dirs]

For each network size N, two runs, one after the other (never concurrently, so they do not compete for the
cores): the stock side (:func:`bench.stock_side.run_stock_workload`: N stock ``Server`` instances in one
asyncio subprocess, ksize 20, alpha 3) and our side (:func:`bench.our_side.run_our_workload`: N of our nodes in
this one trio process, k 20, α 3, ephemeral in-memory stores unless ``--data-dirs``). Both run the same
workload, draw for draw from ``random.Random(seed)``: sequential joins, each node bootstrapping from
``min(i, 3)`` earlier nodes; ``--puts`` puts of random keys (random 32-character values), one at a time, each
from a random node; ``--gets`` gets of those keys, each from a random node other than the setter.

What each row measures (per side):

``join ms/node``     mean wall time of one node's bootstrap (ping the contacts, then look up the own id).
``put median/p95``   wall time of one put: iterative FIND_NODE for the key, then STORE to the k closest and
                     wait for their acknowledgements (stock: ``await server.set``; ours: ``await node.put``).
``get median/p95``   wall time of one get (stock: ``await server.get``; ours: ``await node.get``), including
                     gets the getter answers from its own store (0 datagrams).
``gets ok``          gets that returned the value that was put.
``datagrams/put``    datagrams sent by all nodes of the side (requests and replies) while one put ran.
``datagrams/get``    the same while one get ran (includes the cache-STORE after a successful lookup).
``CPU s``            process CPU time (user + system) of the process hosting the side's nodes, whole run
                     (stock: the subprocess from the first ``start``; ours: from opening the first node,
                     minus the CPU spent reading our counters between ops).

Latency is ``time.perf_counter`` around the awaited call, measured in the process that runs the nodes (inside
the stock subprocess for the stock side, so the controller's JSON pipe is not included). The ratio column is
ours / stock: below 1 is better for every row except ``gets ok``.

Targets (from the issue, checked at the largest N): our put median ≤ ½ of stock's; our get p95 ≤ ½ of stock's;
all our gets succeed; our datagrams per put ≤ stock's.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
from typing import Any

from bench.our_side import run_our_workload_sync
from bench.stock_side import run_stock_workload

__all__ = ["ROWS", "run_comparison", "targets", "main"]

# (label, function of a side's result dict -> float, number format)
ROWS: list[tuple[str, Any, str]] = [
    ("join ms/node", lambda r: r["join_seconds_mean"] * 1e3, "{:.2f}"),
    ("put median ms", lambda r: r["put_median"] * 1e3, "{:.2f}"),
    ("put p95 ms", lambda r: r["put_p95"] * 1e3, "{:.2f}"),
    ("get median ms", lambda r: r["get_median"] * 1e3, "{:.3f}"),
    ("get p95 ms", lambda r: r["get_p95"] * 1e3, "{:.3f}"),
    ("gets ok", lambda r: r["get_success"], "{:.0f}"),
    ("datagrams/put", lambda r: r["datagrams_per_put"], "{:.1f}"),
    ("datagrams/get", lambda r: r["datagrams_per_get"], "{:.2f}"),
    ("CPU s", lambda r: r["cpu_seconds"], "{:.2f}"),
]


def run_comparison(
    sizes: list[int], puts: int, gets: int, seed: int, *, data_dirs: bool = False, log: Any = None
) -> list[dict[str, Any]]:
    """Run both sides for each size, sequentially; returns ``[{"n", "ours", "stock"}, ...]``."""
    results = []
    for n in sizes:
        if log:
            log(f"N={n}: stock side ...")
        stock = run_stock_workload(n, puts, gets, seed)
        if log:
            log(f"N={n}: our side ...")
        ours = run_our_workload_sync(n, puts, gets, seed, data_dirs=data_dirs)
        results.append({"n": n, "ours": ours, "stock": stock})
    return results


def _ratio(ours: float, stock: float) -> str:
    if stock == 0 or math.isnan(stock) or math.isnan(ours):
        return "-"
    return f"{ours / stock:.2f}"


def table_rows(result: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """``(row, ours, stock, ours/stock)`` strings for one size."""
    out = []
    for label, fn, fmt in ROWS:
        o, s = float(fn(result["ours"])), float(fn(result["stock"]))
        if label == "gets ok":
            out.append(
                (
                    label,
                    f"{o:.0f}/{result['ours']['gets']}",
                    f"{s:.0f}/{result['stock']['gets']}",
                    _ratio(o, s),
                )
            )
        else:
            out.append((label, fmt.format(o), fmt.format(s), _ratio(o, s)))
    return out


def targets(result: dict[str, Any]) -> list[tuple[str, bool, str]]:
    """The issue's targets for one size: ``(target, holds, detail)``."""
    o, s = result["ours"], result["stock"]
    return [
        (
            "put median ≤ ½ stock",
            o["put_median"] <= s["put_median"] / 2,
            f"{o['put_median'] * 1e3:.2f} ms vs {s['put_median'] * 1e3:.2f} ms "
            f"(ratio {o['put_median'] / s['put_median']:.2f})",
        ),
        (
            "get p95 ≤ ½ stock",
            o["get_p95"] <= s["get_p95"] / 2,
            f"{o['get_p95'] * 1e3:.3f} ms vs {s['get_p95'] * 1e3:.3f} ms (ratio {o['get_p95'] / s['get_p95']:.2f})",
        ),
        (
            "all gets succeed",
            o["get_success"] == o["gets"],
            f"{o['get_success']}/{o['gets']} (stock {s['get_success']}/{s['gets']})",
        ),
        (
            "datagrams/put ≤ stock",
            o["datagrams_per_put"] <= s["datagrams_per_put"],
            f"{o['datagrams_per_put']:.1f} vs {s['datagrams_per_put']:.1f}",
        ),
    ]


def machine() -> str:
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()} ({platform.python_implementation()})"
    )


def to_markdown(results: list[dict[str, Any]], command: str) -> str:
    lines = [f"Command: `{command}`", "", f"Machine: {machine()}", ""]
    for result in results:
        lines += [f"### N = {result['n']}", "", "| | ours | stock | ours/stock |", "|---|---:|---:|---:|"]
        lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in table_rows(result)]
        lines += ["", "| target | holds | figures |", "|---|---|---|"]
        lines += [f"| {t} | {'yes' if ok else '**no**'} | {d} |" for t, ok, d in targets(result)]
        lines.append("")
    return "\n".join(lines)


def print_tables(results: list[dict[str, Any]]) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # pragma: no cover - rich is a dependency, but keep plain output working
        for result in results:
            print(f"\nN = {result['n']}")
            print(f"{'':16} {'ours':>10} {'stock':>10} {'ours/stock':>11}")
            for a, b, c, d in table_rows(result):
                print(f"{a:16} {b:>10} {c:>10} {d:>11}")
            for t, ok, d in targets(result):
                print(f"  {'HOLDS' if ok else 'FAILS'}  {t}: {d}")
        return
    console = Console()
    for result in results:
        table = Table(title=f"N = {result['n']}")
        table.add_column("")
        for col in ("ours", "stock", "ours/stock"):
            table.add_column(col, justify="right")
        for row in table_rows(result):
            table.add_row(*row)
        console.print(table)
        for t, ok, d in targets(result):
            console.print(f"  {'[green]HOLDS[/]' if ok else '[red]FAILS[/]'}  {t}: {d}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[64, 256], help="network sizes")
    parser.add_argument("--puts", type=int, default=200)
    parser.add_argument("--gets", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--markdown", metavar="FILE", help="also write the tables as Markdown to FILE")
    parser.add_argument("--json", action="store_true", help="also print the raw results as JSON")
    parser.add_argument("--data-dirs", action="store_true", help="our nodes keep records in sqlite")
    args = parser.parse_args(argv)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    results = run_comparison(args.nodes, args.puts, args.gets, args.seed, data_dirs=args.data_dirs, log=log)
    print_tables(results)
    if args.json:
        print(json.dumps(results, indent=2))
    if args.markdown:
        command = "python -m bench.compare " + " ".join(argv if argv is not None else sys.argv[1:])
        with open(args.markdown, "w", encoding="utf-8") as fh:
            fh.write(to_markdown(results, command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
