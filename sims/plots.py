"""PNG figures of scenario results (matplotlib, Agg; no pyplot global state).

Each function takes the dicts returned by :mod:`p2p.sims.scenarios` and writes one PNG, returning its path.

Example
-------
>>> import tempfile, pathlib
>>> from p2p.sims.scenarios import kademlia_lookup
>>> r = kademlia_lookup(nodes=40, lookups=10, seed=1, k=8)
>>> path = hop_cdf([r], pathlib.Path(tempfile.mkdtemp()) / "cdf.png")
>>> path.stat().st_size > 1000
True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["hop_cdf", "hops_vs_n", "churn_over_time", "failure_bars"]


def _figure(size: tuple[float, float] = (6.4, 4.2)) -> Figure:
    fig = Figure(figsize=size, dpi=110)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path


def _label(r: Mapping[str, Any]) -> str:
    return f"N={r['nodes']:,} ({r.get('engine', '?')}, {r.get('tables', '?')})"


def hop_cdf(results: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    """Cumulative distribution of lookup hop counts, one curve per ``kademlia_lookup`` result."""
    fig = _figure()
    ax = fig.add_subplot()
    for r in results:
        hist = r.get("hops_histogram") or []
        total = sum(hist)
        if not total:
            continue
        xs, ys, acc = [], [], 0
        for h, c in enumerate(hist):
            acc += c
            xs.append(h)
            ys.append(acc / total)
        ax.step(xs, ys, where="post", label=_label(r))
    ax.set_xlabel("hops (FindNodeResult.hops)")
    ax.set_ylabel("fraction of lookups ≤ hops")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Kademlia lookup hop-count CDF")
    return _save(fig, path)


def hops_vs_n(results: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    """Mean, median and 90th-percentile hops against N (log scale), with ``log2(N)`` drawn beside them."""
    rs = sorted(results, key=lambda r: r["nodes"])
    ns = [r["nodes"] for r in rs]
    fig = _figure()
    ax = fig.add_subplot()
    ax.plot(ns, [r["hops"]["mean"] for r in rs], "o-", label="mean hops")
    ax.plot(ns, [r["hops"]["p50"] for r in rs], "s--", label="p50")
    ax.plot(ns, [r["hops"]["p90"] for r in rs], "^--", label="p90")
    if ns:
        grid = [ns[0] * (ns[-1] / ns[0]) ** (i / 50) for i in range(51)] if ns[-1] > ns[0] else ns
        ax.plot(grid, [math.log2(n) for n in grid], "k:", label="log2(N)")
    ax.set_xscale("log")
    ax.set_xlabel("nodes N")
    ax.set_ylabel("hops")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    ax.set_title("Lookup hops vs network size")
    return _save(fig, path)


def churn_over_time(result: Mapping[str, Any], path: str | Path) -> Path:
    """Two panels over the hours of churn. Top: records still held by a live node and the fraction of sampled
    gets that found their record, with live nodes on a second axis. Bottom: live (unexpired) copies per
    record (mean, p50, p90 and max over the records) against the replication parameter k."""
    samples = result["samples"]
    hours = [s["hours"] for s in samples]
    records = result["records"]
    fig = _figure((6.4, 6.8))
    ax, low = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    ax.plot(
        hours, [s["records_with_holder"] / records for s in samples], "o-", label="records with a live holder"
    )
    got = [(s["hours"], s["gets_found"] / s["gets_asked"]) for s in samples if s["gets_asked"]]
    if got:
        ax.plot([g[0] for g in got], [g[1] for g in got], "s--", label="gets that found the record")
    ax.set_ylim(min(0.9, *(s["records_with_holder"] / records for s in samples)) - 0.01, 1.005)
    ax.set_ylabel("fraction")
    ax.grid(alpha=0.3)
    ax2 = ax.twinx()
    ax2.plot(hours, [s["live_nodes"] for s in samples], color="grey", alpha=0.5, label="live nodes")
    ax2.set_ylabel("live nodes")
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize=8, loc="lower left")
    ax.set_title(
        f"Durability: {result['nodes']:,} nodes, {records:,} records, k={result['k']}, "
        f"median session {result['median_session_hours']} h"
    )
    for stat, style in (("max", ":"), ("p90", "--"), ("mean", "-"), ("p50", "-.")):
        if all(stat in s["holders"] for s in samples):
            low.plot(hours, [s["holders"][stat] for s in samples], style, label=stat)
    low.axhline(result["k"], color="black", lw=0.8, alpha=0.6, label=f"k = {result['k']}")
    top = max([result["k"], *(s["holders"].get("max", 0) for s in samples)])
    low.set_ylim(0, top * 1.3)  # room for the legend above the lines
    low.set_xlabel("hours of churn")
    low.set_ylabel("live copies per record")
    low.grid(alpha=0.3)
    low.legend(fontsize=8, loc="upper left", ncol=5)
    return _save(fig, path)


def failure_bars(result: Mapping[str, Any], path: str | Path) -> Path:
    """Lookups after a mass failure, per failed fraction, before and after bucket refresh: success rate,
    messages per lookup and median latency (three panels)."""
    fractions = result["fractions"]
    phases = result.get("results") or []
    panels: list[tuple[str, list[float], list[float] | None]] = [
        ("lookup success rate", list(result["success_before"]), result.get("success_after")),
    ]
    if phases and all("before" in r for r in phases):
        after_ok = all(r.get("after") for r in phases)
        panels.append((
            "messages per lookup",
            [r["before"]["messages_per_lookup"] for r in phases],
            [r["after"]["messages_per_lookup"] for r in phases] if after_ok else None,
        ))
        panels.append((
            "median lookup latency (s)",
            [r["before"]["latency"]["p50"] for r in phases],
            [r["after"]["latency"]["p50"] for r in phases] if after_ok else None,
        ))
    fig = _figure((4.2 * len(panels), 4.0))
    xs = range(len(fractions))
    for i, (label, before, after) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        width = 0.38 if after else 0.6
        ax.bar([x - (width / 2 if after else 0) for x in xs], before, width, label="right after the failure")
        if after:
            ax.bar([x + width / 2 for x in xs], after, width, label="after bucket refresh")
        ax.set_xticks(list(xs), [f"{f:.0%}" for f in fractions])
        ax.set_xlabel("fraction of nodes failed at once")
        ax.set_ylabel(label)
        if i == 0:
            ax.set_ylim(0, 1.05)
            ax.legend(fontsize=8, loc="lower left")
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle(f"Failure resilience, N={result['nodes']:,}, k={result['k']}")
    return _save(fig, path)


def _lookup_figures(result: Mapping[str, Any], out: Path) -> list[Path]:
    return [hop_cdf([result], Path(out) / "hop_cdf.png")]


def _churn_figures(result: Mapping[str, Any], out: Path) -> list[Path]:
    return [churn_over_time(result, Path(out) / "durability.png")]


def _failure_figures(result: Mapping[str, Any], out: Path) -> list[Path]:
    return [failure_bars(result, Path(out) / "resilience.png")]


def _lv_figures(result: Mapping[str, Any], out: Path) -> list[Path]:
    from .searchgraph import plot_lv

    path = Path(out) / "lv_comparison.png"
    plot_lv(result["rows"], path)
    return [path]


FIGURES: dict[str, Callable[[Mapping[str, Any], Path], list[Path]]] = {
    "kademlia_lookup": _lookup_figures,
    "churn_durability": _churn_figures,
    "failure_resilience": _failure_figures,
    "lv_comparison": _lv_figures,
}
"""Scenario name -> function writing that scenario's PNG figures into a directory (used by ``p2p sim run``)."""
