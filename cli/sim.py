"""``p2p sim list`` and ``p2p sim run``: simulations from :data:`p2p.sims.scenarios.SCENARIOS`.

``p2p sim run SCENARIO [--engine E] [--nodes N] [--seed S] [--out DIR] [--<scenario option> VALUE ...]``
runs one scenario with a progress bar, prints a summary table, and writes ``DIR/results.json`` and the
scenario's PNG figures. Scenario options are the keyword arguments of the scenario function; their values
are parsed by the type of the option's default (``--fractions 0.1,0.3`` for a list). No simulation logic
lives here.
"""

from __future__ import annotations

import inspect
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from .common import UsageProblem, emit_json, guard, stderr_console

app = typer.Typer(
    help="Simulations: the real protocol cores in a discrete-event engine, real nodes in trio virtual time, "
    "or graph-level models (networkx).",
    no_args_is_help=True,
)

_PASSTHROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}


def _registry() -> dict[str, tuple[Callable[..., dict[str, Any]], str, dict[str, Any]]]:
    from p2p.sims.scenarios import SCENARIOS

    return SCENARIOS


def _options(fn: Callable[..., Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """Every keyword option of a scenario with its default (the registry's default first)."""
    out: dict[str, Any] = {}
    for name, p in inspect.signature(fn).parameters.items():
        if name in ("progress",) or p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            continue
        default = defaults.get(name, None if p.default is inspect.Parameter.empty else p.default)
        if default is None:
            continue  # objects such as a LinkModel: for the Python API, not the command line
        out[name] = default
    return out


def _coerce(name: str, text: str, default: Any) -> Any:
    try:
        if isinstance(default, bool):
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
        if isinstance(default, list | tuple):
            items = [t for t in text.split(",") if t.strip()]
            kind = type(default[0]) if default else float
            return [kind(t) for t in items]
    except ValueError:
        raise UsageProblem(f"--{name.replace('_', '-')}: {text!r} is not a valid {type(default).__name__}") from None
    return text


def _parse_extra(args: list[str], options: dict[str, Any]) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    i = 0
    while i < len(args):
        token = args[i]
        if not token.startswith("--"):
            raise UsageProblem(f"unexpected argument {token!r}")
        name, eq, value = token[2:].partition("=")
        key = name.replace("-", "_")
        if key not in options:
            known = ", ".join("--" + o.replace("_", "-") for o in options)
            raise UsageProblem(f"unknown option --{name} for this scenario (options: {known})")
        if not eq:
            if i + 1 >= len(args):
                raise UsageProblem(f"--{name} needs a value")
            i += 1
            value = args[i]
        parsed[key] = _coerce(key, value, options[key])
        i += 1
    return parsed


@app.command("list")
@guard
def list_(json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List the scenarios with their options and defaults."""
    rows = []
    for name, (fn, description, defaults) in _registry().items():
        rows.append({"scenario": name, "description": description, "options": _options(fn, defaults)})
    if json_:
        emit_json(rows)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="p2p sim scenarios")
    table.add_column("scenario", style="bold")
    table.add_column("what it measures")
    table.add_column("options (defaults)")
    for row in rows:
        opts = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in row["options"].items())
        table.add_row(row["scenario"], row["description"], opts)
    Console().print(table)


@app.command("run", context_settings=_PASSTHROUGH)
@guard
def run(
    ctx: typer.Context,
    scenario: Annotated[str, typer.Argument(help="Scenario name (see 'p2p sim list').")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Directory for results.json and figures.", show_default=False)
    ] = None,
    json_: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Run a scenario. Scenario options follow as --name VALUE (see 'p2p sim list'), e.g.
    'p2p sim run kademlia_lookup --engine des --nodes 10000 --lookups 1000 --seed 1 --out out/'."""
    registry = _registry()
    if scenario not in registry:
        raise UsageProblem(f"unknown scenario {scenario!r} (scenarios: {', '.join(registry)})")
    fn, _, defaults = registry[scenario]
    options = _options(fn, defaults)
    kwargs = {k: v for k, v in options.items() if v is not None}
    kwargs.update(_parse_extra(list(ctx.args), options))

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = stderr_console()
    began = time.perf_counter()
    lines = _ProgressLines(scenario, began) if not json_ and not console.is_terminal else None
    with Progress(
        TextColumn(f"{scenario}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=json_ or not console.is_terminal,
        transient=True,
    ) as bar:
        task = bar.add_task(scenario, total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)
            if lines is not None:
                lines(done, total)

        if "progress" in inspect.signature(fn).parameters:
            kwargs["progress"] = progress
        results = fn(**kwargs)
    results.setdefault("wall_seconds", time.perf_counter() - began)
    figures: list[str] = []
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
        figures = [str(p) for p in _figures(scenario, results, out)]
    if json_:
        emit_json(results)
        return
    _summary(scenario, results, out, figures)


class _ProgressLines:
    """Progress as plain lines on stderr when it is not a terminal (``nohup``, CI logs, pipes).

    One line per tenth of each phase, and at least one a minute: ``scenario: done/total (pct) after H:MM:SS``.
    A phase starts whenever ``total`` changes (building a network, then running lookups, ...).
    """

    def __init__(self, scenario: str, began: float, every_seconds: float = 60.0) -> None:
        self.scenario = scenario
        self.began = began
        self.every = every_seconds
        self.total = -1
        self.tenth = -1
        self.last = began

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        tenth = 10 * done // total if total > 0 else 0
        if total == self.total and tenth == self.tenth and now - self.last < self.every:
            return
        self.total, self.tenth, self.last = total, tenth, now
        pct = f" ({100 * done / total:.0f}%)" if total > 0 else ""
        elapsed = int(now - self.began)
        clock = f"{elapsed // 3600}:{elapsed // 60 % 60:02d}:{elapsed % 60:02d}"
        print(f"{self.scenario}: {done}/{total}{pct} after {clock}", file=sys.stderr, flush=True)


def _figures(scenario: str, results: dict[str, Any], out: Path) -> list[Path]:
    from p2p.sims import plots

    maker = getattr(plots, "FIGURES", {}).get(scenario)
    return list(maker(results, out)) if maker else []


def _summary(scenario: str, results: dict[str, Any], out: Path | None, figures: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{scenario} ({results.get('engine', '')}, seed {results.get('seed', '')})")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in results.items():
        if isinstance(value, dict):
            inner = {k: v for k, v in value.items() if isinstance(v, int | float | str)}
            if inner and len(inner) <= 8:
                table.add_row(key, ", ".join(f"{k} {_fmt(v)}" for k, v in inner.items()))
        elif isinstance(value, int | float | str | bool) or value is None:
            table.add_row(key, _fmt(value))
    console = Console()
    console.print(table)
    if out is not None:
        console.print(f"results: {out / 'results.json'}")
    for f in figures:
        console.print(f"figure: {f}")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
