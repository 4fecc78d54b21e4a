"""Simulation scenarios: lookups, durability under churn, resilience to mass failure (DESIGN.md §9).

Each scenario is an ``async def _driver(driver, ...)`` written against the driver interface shared by the
discrete-event engine (:class:`p2p.sims.des.DESDriver`) and the virtual-time engine
(:class:`p2p.sims.virtual.VirtualDriver`), wrapped in a plain function that picks the engine, runs it and returns
a JSON-serialisable dict. For a given seed the result is identical from run to run apart from
``wall_seconds``; with the same seed the ``"des"`` and ``"virtual"`` engines give the same result too (they
replay the same datagram trace; see :mod:`p2p.sims.des`).

Routing tables are built either by joining every node through the protocol (``"joined"``: node ``i`` bootstraps
from up to 3 earlier nodes, joins staggered 0.2 s apart) or from the id model (``"id_model"``: each core's table
is filled directly with a converged table from :func:`p2p.sims.topology.kademlia_tables`). ``tables="auto"``
joins up to :data:`JOIN_LIMIT` nodes and uses the id model above; every result says which was used.

:data:`SCENARIOS` maps names to ``(function, description, default options)`` for ``p2p sim list/run``; every
scenario takes ``progress=callable(done, total)``.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from p2p.config import KademliaConfig, NodeConfig, SearchConfig
from p2p.core import Completed
from p2p.ids import key_id, random_id
from p2p.linkmodel import LinkModel, LognormalLatency
from p2p.sims.churn import ChurnModel, ParetoSessions
from p2p.sims.graphsim import XorIndex, _summary, lookup_experiment
from p2p.sims.topology import kademlia_tables
from p2p.wire import Address, Contact

from .des import run_des

__all__ = [
    "kademlia_lookup",
    "churn_durability",
    "failure_resilience",
    "SCENARIOS",
    "DEFAULT_LINK",
    "JOIN_LIMIT",
]

DEFAULT_LINK = LinkModel(latency=LognormalLatency(0.05, 0.5))
"""One-way delays log-normal around 50 ms (continuous: no exact ties between events), no loss."""

JOIN_LIMIT = 2000
"""Largest network ``tables="auto"`` builds by joining through the protocol."""

JOIN_SPACING = 0.2
"""Seconds between successive joins (each join overlaps the next few)."""

Progress = Callable[[int, int], None] | None


# ------------------------------------------------------------------------------------------------ helpers


def _run(
    engine: str, fn: Callable[..., Any], *args: Any, seed: int, link: LinkModel, config: NodeConfig
) -> Any:
    if engine == "des":
        return run_des(fn, *args, seed=seed, link=link, config=config)
    if engine == "virtual":
        from .virtual import run_virtual

        return run_virtual(fn, *args, seed=seed, link=link, config=config)
    raise ValueError(f"unknown engine {engine!r}: expected 'des', 'virtual' or 'graph'")


def _tables_mode(tables: str, nodes: int) -> str:
    if tables == "auto":
        return "joined" if nodes <= JOIN_LIMIT else "id_model"
    if tables not in ("joined", "id_model"):
        raise ValueError(f"tables must be 'auto', 'joined' or 'id_model', not {tables!r}")
    return tables


async def _build(
    drv: Any, n: int, k: int, seed: int, mode: str, rng: random.Random, progress: Progress
) -> dict:
    """Create ``n`` nodes and their routing tables; returns ``{"addrs": [...], "join_failures": int}``."""
    addrs: list[Address] = []
    failures = 0
    if mode == "id_model":
        for _ in range(n):
            addrs.append(await drv.add_node())
        ids = [drv.core(a).node_id for a in addrs]
        tables = kademlia_tables(n, k, seed, ids=ids)
        contacts = [Contact(ids[u], a[0], a[1]) for u, a in enumerate(addrs)]
        indptr, indices = tables.indptr, tables.indices
        for u, a in enumerate(addrs):
            row = indices[indptr[u] : indptr[u + 1]].tolist()
            await drv.populate(a, [contacts[v] for v in row])
            if progress is not None and (u + 1) % 1000 == 0:
                progress(u + 1, n)
        return {"addrs": addrs, "join_failures": 0}
    tickets = []
    start = drv.now
    for i in range(n):
        await drv.sleep_until(start + i * JOIN_SPACING + rng.random() * JOIN_SPACING)
        a = await drv.add_node()
        if addrs:
            tickets.append(await drv.start(a, "bootstrap", rng.sample(addrs, min(3, len(addrs)))))
        addrs.append(a)
        if progress is not None and (i + 1) % 100 == 0:
            progress(i + 1, n)
    for t in tickets:
        if type(await drv.wait(t)) is not Completed:
            failures += 1
    return {"addrs": addrs, "join_failures": failures}


async def _lookups(
    drv: Any, live: list[Address], count: int, rng: random.Random, rate: float, progress: Progress
) -> dict[str, Any]:
    """``count`` FIND_NODE lookups of random ids from random live nodes, started at random times at ``rate`` per
    second; success = the true closest live node (or the source itself, if it is the closest) was found."""
    ids = {a: drv.core(a).node_id for a in live}
    index = XorIndex([ids[a] for a in live])
    t0 = drv.now + 1.0
    window = count / rate
    plan = sorted((t0 + rng.random() * window, j, rng.choice(live), random_id(rng)) for j in range(count))
    started = []
    for done, (t, _j, src, target) in enumerate(plan, 1):
        await drv.sleep_until(t)
        started.append((src, target, await drv.start(src, "find_node", target)))
        if progress is not None and (done % 100 == 0 or done == count):
            progress(done, count)
    hops: list[int] = []
    requests: list[int] = []
    latency: list[float] = []
    successes = 0
    failed = 0
    for src, target, ticket in started:
        effect = await drv.wait(ticket)
        if type(effect) is not Completed:
            failed += 1
            continue
        res = effect.result
        truth = live[index.closest(target, 1)[0]]
        best = min([ids[src], *(c.node_id for c in res.closest[:1])], key=lambda i: i ^ target)
        successes += best == ids[truth]
        hops.append(res.hops)
        requests.append(res.requests)
        latency.append(res.seconds)
    histogram = np.bincount(np.asarray(hops, dtype=np.int64)).tolist() if hops else []
    return {
        "lookups": count,
        "success_rate": successes / count if count else 0.0,
        "failed": failed,
        "hops": _summary(hops),
        "hops_histogram": histogram,
        "messages_per_lookup": float(np.mean(requests)) if requests else 0.0,
        "messages": _summary(requests),
        "latency": _summary(latency),
    }


def _config(k: int, alpha: int, **kademlia: Any) -> NodeConfig:
    # DHT scenarios: the unstructured-search overlay is off (it is studied by the search scenario).
    return NodeConfig(kademlia=KademliaConfig(k=k, alpha=alpha, **kademlia), search=SearchConfig(enabled=False))


# ------------------------------------------------------------------------------------------------ lookups


async def _lookup_driver(
    drv: Any, nodes: int, lookups: int, seed: int, k: int, mode: str, rate: float, progress: Progress
) -> dict[str, Any]:
    rng = random.Random(f"p2p.sims.scenarios.kademlia_lookup:{seed}")
    built = await _build(drv, nodes, k, seed, mode, rng, progress)
    out = await _lookups(drv, built["addrs"], lookups, rng, rate, progress)
    out["join_failures"] = built["join_failures"]
    out["network"] = drv.statistics()
    out["simulated_seconds"] = drv.now
    return out


def kademlia_lookup(
    engine: str = "des",
    nodes: int = 1000,
    lookups: int = 1000,
    seed: int = 0,
    k: int = 20,
    alpha: int = 3,
    link: LinkModel | None = None,
    progress: Progress = None,
    tables: str = "auto",
    rate: float = 100.0,
) -> dict[str, Any]:
    """Iterative FIND_NODE lookups of random ids in a static Kademlia network.

    Parameters
    ----------
    engine : {"des", "virtual", "graph"}
        Discrete-event engine (real cores), real nodes in trio virtual time, or the graph-level model
        (:func:`p2p.sims.graphsim.lookup_experiment`, which has no link model and no latency).
    nodes : int
        Network size.
    lookups : int
        Number of lookups, from uniformly random nodes to uniformly random 160-bit ids.
    seed : int
        Seed of everything (ids, tables, link decisions, sources, targets, start times).
    k, alpha : int
        Bucket size / replication factor and lookup parallelism.
    link : LinkModel, optional
        Default :data:`DEFAULT_LINK`.
    progress : callable, optional
        ``progress(done, total)`` while building and while starting lookups.
    tables : {"auto", "joined", "id_model"}
        How routing tables are built (see the module docstring).
    rate : float
        Lookups started per simulated second (they overlap; the network has no congestion model).

    Returns
    -------
    dict
        ``engine``, ``nodes``, ``lookups``, ``seed``, ``k``, ``alpha``, ``tables``, ``success_rate`` (the lookup
        found the true closest live node), ``hops`` and ``messages`` (``mean``/``p50``/``p90``/``p99``/``max``;
        hops are ``FindNodeResult.hops``, messages its ``requests``), ``messages_per_lookup``, ``latency``
        (seconds of simulated time), ``hops_histogram``, ``log2_nodes``, ``network`` (datagram counters),
        ``wall_seconds``.

    Examples
    --------
    >>> r = kademlia_lookup(nodes=60, lookups=20, seed=3, k=8)
    >>> r["success_rate"], r["tables"], r["hops"]["max"] <= 6
    (1.0, 'joined', True)
    """
    begin = time.perf_counter()
    if engine == "graph":
        g = lookup_experiment(nodes, lookups, k, alpha, seed)
        return {
            "scenario": "kademlia_lookup",
            "engine": "graph",
            "nodes": nodes,
            "lookups": lookups,
            "seed": seed,
            "k": k,
            "alpha": alpha,
            "tables": "id_model",
            "success_rate": g["success_rate"],
            "hops": g["hops"],
            "hops_histogram": g["hops_histogram"],
            "messages_per_lookup": g["messages"]["mean"],
            "messages": g["messages"],
            "latency": None,
            "log2_nodes": math.log2(nodes),
            "wall_seconds": time.perf_counter() - begin,
        }
    mode = _tables_mode(tables, nodes)
    link = link if link is not None else DEFAULT_LINK
    out = _run(
        engine,
        _lookup_driver,
        nodes,
        lookups,
        seed,
        k,
        mode,
        rate,
        progress,
        seed=seed,
        link=link,
        config=_config(k, alpha),
    )
    return {
        "scenario": "kademlia_lookup",
        "engine": engine,
        "nodes": nodes,
        "seed": seed,
        "k": k,
        "alpha": alpha,
        "tables": mode,
        "link": repr(link),
        "log2_nodes": math.log2(nodes),
        **out,
        "wall_seconds": time.perf_counter() - begin,
    }


# ------------------------------------------------------------------------------------------------ churn


class _LiveSet:
    """Live node labels with O(1) add, remove and seeded uniform choice."""

    def __init__(self) -> None:
        self.items: list[int] = []
        self.pos: dict[int, int] = {}

    def add(self, x: int) -> None:
        self.pos[x] = len(self.items)
        self.items.append(x)

    def remove(self, x: int) -> None:
        i = self.pos.pop(x)
        last = self.items.pop()
        if last != x:
            self.items[i] = last
            self.pos[last] = i

    def choice(self, rng: random.Random) -> int:
        return self.items[rng.randrange(len(self.items))]

    def __len__(self) -> int:
        return len(self.items)


def _holders(drv: Any, live: list[Address], keys: dict[int, int]) -> list[int]:
    now = drv.now
    counts = [0] * len(keys)
    for a in live:
        for rec in drv.core(a).store:
            i = keys.get(rec.key)
            if i is not None and rec.expires_at > now:
                counts[i] += 1
    return counts


async def _churn_driver(
    drv: Any,
    nodes: int,
    records: int,
    k: int,
    mode: str,
    seed: int,
    model: ChurnModel,
    hours: float,
    sample_every: float,
    sample_gets: int,
    put_rate: float,
    progress: Progress,
) -> dict[str, Any]:
    rng = random.Random(f"p2p.sims.scenarios.churn_durability:{seed}")
    built = await _build(drv, nodes, k, seed, mode, rng, None)
    addr_of: dict[int, Address] = dict(enumerate(built["addrs"]))
    live = _LiveSet()
    for label in range(nodes):
        live.add(label)
    # --- puts
    names = [f"record-{i}" for i in range(records)]
    keys = {key_id(name): i for i, name in enumerate(names)}
    t0 = drv.now + 1.0
    plan = sorted((t0 + rng.random() * records / put_rate, i, live.choice(rng)) for i in range(records))
    tickets = []
    for t, i, label in plan:
        await drv.sleep_until(t)
        tickets.append(await drv.start(addr_of[label], "put", names[i], f"value-{i}"))
    acks = []
    for t in tickets:
        effect = await drv.wait(t)
        acks.append(effect.result.acks + effect.result.stored_locally if type(effect) is Completed else 0)
    # --- churn
    start = drv.now + 1.0
    horizon = hours * 3600.0
    events = model.schedule(nodes, horizon, seed=seed)
    samples: list[dict[str, Any]] = []
    pending_gets: list[tuple[int, Any]] = []
    sample_times = [j * sample_every for j in range(int(horizon // sample_every) + 1)]
    if sample_times[-1] < horizon:
        sample_times.append(horizon)
    queue = sorted(
        [(e.time, 0, e.node, e.kind) for e in events]
        + [(t, 1, j, "sample") for j, t in enumerate(sample_times)]
    )
    joins = leaves = join_failures = 0
    join_tickets: list[Any] = []
    total_steps = len(queue)

    async def take_sample(t_rel: float) -> None:
        nonlocal pending_gets
        live_addrs = [addr_of[x] for x in live.items]
        counts = _holders(drv, live_addrs, keys)
        found = asked = 0
        for _i, ticket in pending_gets:
            effect = await drv.wait(ticket)  # normally finished long ago
            if effect is None:
                continue  # its node left while it ran
            asked += 1
            found += type(effect) is Completed and effect.result.found
        if samples:
            samples[-1]["gets_asked"] = asked
            samples[-1]["gets_found"] = found
        samples.append(
            {
                "hours": t_rel / 3600.0,
                "live_nodes": len(live),
                "records_with_holder": sum(c > 0 for c in counts),
                "lost": sum(c == 0 for c in counts),
                "holders": _summary(counts),
                "gets_asked": 0,
                "gets_found": 0,
            }
        )
        pending_gets = []
        for _ in range(sample_gets):
            i = rng.randrange(records)
            pending_gets.append((i, await drv.start(addr_of[live.choice(rng)], "get", names[i])))

    for step, (t_rel, _order, label, kind) in enumerate(queue, 1):
        await drv.sleep_until(start + t_rel)
        if kind == "sample":
            await take_sample(t_rel)
        elif kind == "leave":
            live.remove(label)
            leaves += 1
            await drv.remove_node(addr_of[label])
        else:
            joins += 1
            bootstrap = addr_of[live.choice(rng)] if len(live) else None
            a = await drv.add_node()
            addr_of[label] = a
            live.add(label)
            if bootstrap is not None:
                join_tickets.append(await drv.start(a, "bootstrap", [bootstrap]))
        if progress is not None and (step % 500 == 0 or step == total_steps):
            progress(step, total_steps)
    for _i, ticket in pending_gets:  # the gets of the last sample
        effect = await drv.wait(ticket)
        if effect is not None:
            samples[-1]["gets_asked"] += 1
            samples[-1]["gets_found"] += type(effect) is Completed and effect.result.found
    for t in join_tickets:
        effect = await drv.wait(t)
        if effect is not None and type(effect) is not Completed:
            join_failures += 1
    final = samples[-1]
    return {
        "put_acks": _summary(acks),
        "puts_unacknowledged": sum(a == 0 for a in acks),
        "initial_join_failures": built["join_failures"],
        "joins": joins,
        "leaves": leaves,
        "join_failures": join_failures,
        "samples": samples,
        "records_lost": final["lost"],
        "retrievable_fraction": [
            (s["gets_found"] / s["gets_asked"]) if s["gets_asked"] else None for s in samples
        ],
        "network": drv.statistics(),
        "simulated_seconds": drv.now,
    }


def churn_durability(
    nodes: int = 2000,
    records: int = 10000,
    k: int = 20,
    median_session_hours: float = 2.0,
    hours: float = 48.0,
    seed: int = 0,
    engine: str = "des",
    replicate_interval: float = 3600.0,
    refresh_interval: float = 3600.0,
    *,
    shape: float = 2.0,
    sample_every_hours: float = 2.0,
    sample_gets: int = 100,
    put_rate: float = 50.0,
    alpha: int = 3,
    link: LinkModel | None = None,
    tables: str = "auto",
    progress: Progress = None,
) -> dict[str, Any]:
    """Store records, then run Pareto churn with replication and bucket refresh; track how many survive.

    The population is stationary: departures are permanent (a node that leaves crashes and its records are
    gone) and fresh nodes arrive as a Poisson process at ``nodes / mean_session`` per second (Little's law),
    each bootstrapping from one random live node (:class:`p2p.sims.churn.ChurnModel` with ``arrival_rate``).
    Replication (each holder re-stores a record on the k closest every ``replicate_interval``), hand-over of
    keys to new close nodes and bucket refresh are the cores' own maintenance.

    Parameters
    ----------
    nodes : int
        Initial (and mean) number of live nodes.
    records : int
        Records put (from random nodes) before churn starts.
    k : int
        Replication factor and bucket size.
    median_session_hours : float
        Median session length; sessions are Pareto with tail index ``shape``.
    hours : float
        Simulated churn duration.
    seed : int
    engine : {"des", "virtual"}
    replicate_interval, refresh_interval : float
        Seconds (tReplicate, tRefresh).
    shape : float
        Pareto tail index of session lengths.
    sample_every_hours : float
        Interval between samples.
    sample_gets : int
        Gets of random records from random live nodes started at each sample (reported at the next one).
    put_rate : float
        Puts started per simulated second.
    alpha : int
    link : LinkModel, optional
    tables : {"auto", "joined", "id_model"}
        Initial routing tables.
    progress : callable, optional

    Returns
    -------
    dict
        ``samples`` (each: ``hours``, ``live_nodes``, ``records_with_holder``, ``lost`` = records no live node
        holds, ``holders`` summary, ``gets_asked``/``gets_found`` for the gets started at that sample),
        ``records_lost`` (at the end), ``retrievable_fraction`` per sample, ``joins``, ``leaves``, ``put_acks``,
        ``network``, ``wall_seconds`` and the parameters.

    References
    ----------
    Trautwein et al., "Design and Evaluation of IPFS", SIGCOMM 2022 (0 of 10,000 records lost over 36 h with
    k = 20 in the live network). Maymounkov & Mazières, IPTPS 2002, §2.5 (replication, hand-over).

    Examples
    --------
    >>> r = churn_durability(nodes=40, records=20, k=8, hours=2, sample_every_hours=1, seed=1, sample_gets=5)
    >>> r["records_lost"], len(r["samples"])
    (0, 3)
    """
    begin = time.perf_counter()
    mode = _tables_mode(tables, nodes)
    link = link if link is not None else DEFAULT_LINK
    sessions = ParetoSessions(median_session_hours * 3600.0, shape)
    model = ChurnModel(sessions, arrival_rate=nodes / sessions.mean_seconds)
    config = _config(k, alpha, replicate_interval=replicate_interval, refresh_interval=refresh_interval)
    out = _run(
        engine,
        _churn_driver,
        nodes,
        records,
        k,
        mode,
        seed,
        model,
        hours,
        sample_every_hours * 3600.0,
        sample_gets,
        put_rate,
        progress,
        seed=seed,
        link=link,
        config=config,
    )
    return {
        "scenario": "churn_durability",
        "engine": engine,
        "nodes": nodes,
        "records": records,
        "k": k,
        "median_session_hours": median_session_hours,
        "shape": shape,
        "hours": hours,
        "seed": seed,
        "replicate_interval": replicate_interval,
        "refresh_interval": refresh_interval,
        "tables": mode,
        "link": repr(link),
        **out,
        "wall_seconds": time.perf_counter() - begin,
    }


# ------------------------------------------------------------------------------------------------ failures


async def _failure_driver(
    drv: Any,
    nodes: int,
    fraction: float,
    lookups: int,
    seed: int,
    k: int,
    mode: str,
    rate: float,
    refresh_wait: float | None,
    progress: Progress,
) -> dict[str, Any]:
    rng = random.Random(f"p2p.sims.scenarios.failure_resilience:{seed}")
    built = await _build(drv, nodes, k, seed, mode, rng, None)
    addrs = built["addrs"]
    frng = random.Random(f"p2p.sims.scenarios.failure_resilience:{seed}:{fraction!r}")
    dead = set(frng.sample(range(nodes), round(fraction * nodes)))
    await drv.sleep_until(drv.now + 1.0)
    failed_at = drv.now
    for u in sorted(dead):
        await drv.remove_node(addrs[u])
    live = [a for u, a in enumerate(addrs) if u not in dead]
    before = await _lookups(drv, live, lookups, frng, rate, None)
    out: dict[str, Any] = {"fraction": fraction, "failed_nodes": len(dead), "before": before}
    if refresh_wait is not None:
        await drv.sleep_until(failed_at + refresh_wait)
        out["after"] = await _lookups(drv, live, lookups, frng, rate, None)
        out["after_at_seconds"] = drv.now - failed_at
    if progress is not None:
        progress(1, 1)
    return out


def failure_resilience(
    nodes: int = 10000,
    fractions: Sequence[float] = (0.1, 0.3, 0.5),
    lookups: int = 1000,
    seed: int = 0,
    k: int = 20,
    alpha: int = 3,
    engine: str = "des",
    *,
    refresh: bool = True,
    refresh_interval: float = 3600.0,
    link: LinkModel | None = None,
    tables: str = "auto",
    rate: float = 100.0,
    progress: Progress = None,
) -> dict[str, Any]:
    """Lookup success right after a fraction of the nodes fail at once, and again after bucket refresh.

    For each fraction the same network (same seed) is built, ``round(fraction * nodes)`` random nodes crash
    together, ``lookups`` random lookups run from live nodes (success: the true closest *live* node was found);
    then, with ``refresh``, simulated time advances past ``refresh_interval`` plus two maintenance periods --
    every node refreshes its stale buckets, learning live contacts and dropping dead ones -- and the lookups
    are repeated.

    Parameters
    ----------
    nodes : int
    fractions : sequence of float
        Fractions in ``[0, 1)`` of nodes that fail.
    lookups : int
        Lookups per phase.
    seed : int
    k, alpha : int
    engine : {"des", "virtual"}
    refresh : bool
        Also measure after a refresh interval.
    refresh_interval : float
        tRefresh in seconds (every core's setting).
    link : LinkModel, optional
    tables : {"auto", "joined", "id_model"}
    rate : float
        Lookups started per simulated second.
    progress : callable, optional
        ``progress(done, total)`` per fraction.

    Returns
    -------
    dict
        ``results``: one entry per fraction with ``fraction``, ``failed_nodes``, ``before`` and (with
        ``refresh``) ``after`` lookup summaries (``success_rate``, ``hops``, ``messages_per_lookup``,
        ``latency``, ...); ``success_before`` and ``success_after`` lists; parameters; ``wall_seconds``.

    Examples
    --------
    >>> r = failure_resilience(nodes=60, fractions=(0.2,), lookups=20, seed=2, k=8, refresh=False)
    >>> r["success_before"]
    [1.0]
    """
    begin = time.perf_counter()
    mode = _tables_mode(tables, nodes)
    link = link if link is not None else DEFAULT_LINK
    config = _config(k, alpha, refresh_interval=refresh_interval)
    period = max(1.0, min(refresh_interval, config.kademlia.replicate_interval) / 20)
    refresh_wait = refresh_interval + 2 * period if refresh else None
    results = []
    for done, f in enumerate(fractions, 1):
        results.append(
            _run(
                engine,
                _failure_driver,
                nodes,
                float(f),
                lookups,
                seed,
                k,
                mode,
                rate,
                refresh_wait,
                None,
                seed=seed,
                link=link,
                config=config,
            )
        )
        if progress is not None:
            progress(done, len(fractions))
    return {
        "scenario": "failure_resilience",
        "engine": engine,
        "nodes": nodes,
        "fractions": [float(f) for f in fractions],
        "lookups": lookups,
        "seed": seed,
        "k": k,
        "alpha": alpha,
        "tables": mode,
        "refresh_interval": refresh_interval,
        "link": repr(link),
        "results": results,
        "success_before": [r["before"]["success_rate"] for r in results],
        "success_after": [r["after"]["success_rate"] for r in results] if refresh else None,
        "wall_seconds": time.perf_counter() - begin,
    }



# ------------------------------------------------------------------------------------------------ search


def search(
    engine: str = "graph",
    graph: str = "ba",
    nodes: int = 10_000,
    strategy: str = "flood",
    replication: str = "uniform",
    ratio: float = 0.01,
    ttl: int = 0,
    walkers: int = 16,
    check_every: int = 4,
    queries: int = 100,
    seed: int = 0,
    *,
    objects: int = 100,
    zipf_s: float = 1.0,
    mean_degree: int = 4,
    progress: Progress = None,
) -> dict[str, Any]:
    """Unstructured search (flooding, expanding ring, random walks) over a neighbour graph.

    Parameters
    ----------
    engine : {"graph", "des"}
        ``"graph"``: the networkx/CSR model of :func:`p2p.sims.searchgraph.search_experiment` (10^6 nodes);
        ``"des"``: the real :class:`p2p.core.NodeCore` search code in the discrete-event engine, each core's
        neighbours fixed to the graph's edges, 10 ms links.
    graph : {"ba", "er", "rr"}
        Barabási–Albert, Erdős–Rényi or random regular, mean degree ``mean_degree``.
    nodes, queries, objects : int
        Graph size, queries issued one after the other from random nodes, distinct objects.
    strategy : {"flood", "walk", "ring"}
    replication : {"uniform", "proportional", "square-root"}
        Replica allocation for Zipf(``zipf_s``) query popularity (Cohen & Shenker, SIGCOMM 2002, §3); ``ratio``
        is the mean fraction of nodes holding an object.
    ttl : int
        Flood / ring TTL or walker TTL; 0 picks the engine's default (graph: the whole component for a
        flood, 1024 for walkers; DES: ``SearchConfig.default_ttl`` / ``default_walk_ttl``).
    walkers, check_every : int
        Random walkers and check-back period in hops (Lv et al., ICS 2002, §4).
    seed : int

    Returns
    -------
    dict
        ``messages_per_query`` (query, walker and check-back messages), ``success_rate``,
        ``hops_to_first_hit`` (``mean``/``p50``/``p90``), ``duplicates_per_query``, ``nodes_reached`` (mean nodes
        that handled the query), parameters, ``wall_seconds``; the DES adds ``datagrams_per_query`` (all
        datagrams, hits and check-back replies included).

    Examples
    --------
    >>> r = search(engine="graph", graph="rr", nodes=500, strategy="walk", queries=20, seed=1)
    >>> r["success_rate"]
    1.0
    """
    begin = time.perf_counter()
    if engine == "graph":
        from p2p.sims.searchgraph import search_experiment

        out = search_experiment(
            graph, nodes, strategy, replication, ratio, ttl or None, walkers, check_every, queries, seed,
            n_objects=objects, zipf_s=zipf_s, mean_degree=mean_degree,
        )
        out.update(engine="graph", scenario="search", graph=graph, strategy=strategy, replication=replication)
        return out
    if engine != "des":
        raise ValueError(f"engine must be 'graph' or 'des', not {engine!r}")
    return _search_des(
        graph, nodes, strategy, replication, ratio, ttl, walkers, check_every, queries, seed,
        objects, zipf_s, mean_degree, progress, begin,
    )


def _search_des(
    graph: str, nodes: int, strategy: str, replication: str, ratio: float, ttl: int, walkers: int,
    check_every: int, queries: int, seed: int, objects: int, zipf_s: float, mean_degree: int,
    progress: Progress, begin: float,
) -> dict[str, Any]:
    import hashlib

    from p2p.search import Item
    from p2p.sims.searchgraph import build_graph, place_objects, query_stream

    from .des import DES

    g = build_graph(graph, nodes, mean_degree=mean_degree, seed=seed)
    labels = sorted(g.nodes)
    max_degree = max((d for _, d in g.degree()), default=1)
    search_config = SearchConfig(
        min_neighbours=0, target_neighbours=0, max_neighbours=max(max_degree, 1), keepalive_interval=1e9,
        max_ttl=max(ttl, 7) if strategy != "walk" else 7, max_walk_ttl=max(ttl, 255) if strategy == "walk" else 255,
        walkers=walkers, check_every=check_every, seen_cache_size=max(10_000, 4 * queries),
        seen_cache_ttl=1e9, query_rate=1e9, query_burst=1_000_000,
    )
    config = NodeConfig(search=search_config)
    des = DES(seed=seed, config=config, link=LinkModel())
    addr = {u: des.add_node() for u in labels}
    contact = {u: Contact(des.core(addr[u]).node_id, *addr[u]) for u in labels}
    for u, v in g.edges:
        des.core(addr[u]).add_neighbour(des.now, contact[v])
        des.core(addr[v]).add_neighbour(des.now, contact[u])
    placement = place_objects(g, objects, replication, ratio=ratio, zipf_s=zipf_s, seed=seed)
    for obj, holders in placement.items():
        item = Item(f"object {obj}", hashlib.sha256(f"object {obj}".encode()).digest(), 1, (f"o{obj}",))
        for u in holders:
            des.core(addr[u]).share(item)
    rng = random.Random(f"p2p.sims.scenarios.search:{seed}")
    stream = query_stream(objects, queries, zipf_s, seed)
    cores = [des.core(addr[u]) for u in labels]

    def counters() -> tuple[int, int, int, int]:
        msgs = dups = seen = 0
        for c in cores:
            st = c.statistics().search
            msgs += st.queries_forwarded + st.walkers_forwarded + st.checks_sent
            dups += st.duplicates_dropped
            seen += st.queries_seen + st.walker_visits
        return msgs, dups, seen, des.statistics()["datagrams_sent"]

    messages: list[int] = []
    duplicates: list[int] = []
    reached: list[int] = []
    datagrams: list[int] = []
    first_hit: list[int] = []
    successes = 0
    drain = 30.0
    for i, obj in enumerate(stream):
        origin = addr[labels[rng.randrange(len(labels))]]
        before = counters()
        t0 = des.now
        started = des.core(origin).start_search(
            des.now, (f"o{obj}",), strategy, ttl=ttl or None, walkers=walkers, max_hits=1, timeout=drain
        )
        ticket = des.apply_started(origin, started)
        effect = des.wait(ticket)
        des.run_until(t0 + drain)  # let the rest of the query die out before counting
        after = counters()
        result = effect.result if isinstance(effect, Completed) else None
        own = result.messages if result is not None else 0
        messages.append(after[0] - before[0] + own)
        duplicates.append(after[1] - before[1])
        reached.append(after[2] - before[2])
        datagrams.append(after[3] - before[3])
        if result is not None and result.hits:
            successes += 1
            first_hit.append(result.hits[0].hops)
        elif obj in placement and origin in {addr[u] for u in placement[obj]}:
            successes += 1  # the origin holds it itself
            first_hit.append(0)
        if progress:
            progress(i + 1, len(stream))
    return {
        "scenario": "search",
        "engine": "des",
        "graph": graph,
        "nodes": nodes,
        "edges": g.number_of_edges(),
        "strategy": strategy,
        "replication": replication,
        "ratio": ratio,
        "ttl": ttl,
        "walkers": walkers,
        "check_every": check_every,
        "queries": queries,
        "objects": objects,
        "seed": seed,
        "success_rate": successes / len(stream) if stream else math.nan,
        "messages_per_query": float(np.mean(messages)) if messages else math.nan,
        "datagrams_per_query": float(np.mean(datagrams)) if datagrams else math.nan,
        "duplicates_per_query": float(np.mean(duplicates)) if duplicates else math.nan,
        "nodes_reached": float(np.mean(reached)) if reached else math.nan,
        "hops_to_first_hit": _summary(first_hit),
        "wall_seconds": time.perf_counter() - begin,
    }



def lv_comparison(
    nodes: int = 10_000, queries: int = 1000, seed: int = 1, ratio: float = 0.01, check_every: int = 4,
    walkers: Sequence[int] = (16, 32),
) -> dict[str, Any]:
    """Flooding against 16 and 32 random walkers, after Lv et al. (ICS 2002, §4 and §6), at graph level.

    Runs :func:`p2p.sims.searchgraph.lv_comparison` on an ``nodes``-node Barabási–Albert graph (m = 2) and an
    ``nodes``-node random 4-regular graph, every object on ``ratio`` of the nodes, walkers checking back every
    ``check_every`` hops, floods with a TTL that reaches nearly every node.

    Returns
    -------
    dict
        ``rows``: one dict per (graph, method) with ``messages_per_query``, ``success_rate``,
        ``hops_to_first_hit``...; ``walk_vs_flood``: per graph, flood messages / walk messages for each walker
        count; parameters and ``wall_seconds``.
    """
    from p2p.sims.searchgraph import lv_comparison as _lv

    begin = time.perf_counter()
    rows = _lv(nodes, seed, queries, ratio=ratio, walkers=tuple(walkers), check_every=check_every)
    ratios: dict[str, dict[str, float]] = {}
    for r in rows:
        if r["strategy"] == "walk":
            flood = next(f for f in rows if f["graph"] == r["graph"] and f["strategy"] == "flood")
            ratios.setdefault(r["graph"], {})[f"{r['walkers']} walkers"] = (
                flood["messages_per_query"] / r["messages_per_query"]
            )
    return {
        "scenario": "lv_comparison",
        "engine": "graph",
        "nodes": nodes,
        "queries": queries,
        "seed": seed,
        "ratio": ratio,
        "check_every": check_every,
        "walkers": list(walkers),
        "rows": rows,
        "walk_vs_flood": ratios,
        "wall_seconds": time.perf_counter() - begin,
    }


SCENARIOS: dict[str, tuple[Callable[..., dict[str, Any]], str, dict[str, Any]]] = {
    "kademlia_lookup": (
        kademlia_lookup,
        "Random FIND_NODE lookups in a static network: success, hops vs log2(N), messages, latency.",
        {"engine": "des", "nodes": 1000, "lookups": 1000, "seed": 0, "k": 20, "alpha": 3},
    ),
    "churn_durability": (
        churn_durability,
        "Put records, then Pareto churn with replication for hours; how many records survive.",
        {
            "engine": "des",
            "nodes": 2000,
            "records": 10000,
            "k": 20,
            "median_session_hours": 2.0,
            "hours": 48.0,
            "seed": 0,
        },
    ),
    "search": (
        search,
        "Unstructured search: flooding, expanding ring or random walks over a neighbour graph; messages, success.",
        {"engine": "graph", "graph": "ba", "nodes": 10000, "strategy": "flood", "replication": "uniform",
         "ttl": 0, "walkers": 16, "queries": 100, "seed": 0},
    ),
    "lv_comparison": (
        lv_comparison,
        "Lv et al. (ICS 2002): flooding vs 16 and 32 random walkers on 10,000-node BA and random graphs.",
        {"nodes": 10000, "queries": 1000, "seed": 1, "walkers": [16, 32]},
    ),
    "failure_resilience": (
        failure_resilience,
        "Lookup success after a fraction of nodes fail at once, before and after bucket refresh.",
        {"engine": "des", "nodes": 10000, "fractions": [0.1, 0.3, 0.5], "lookups": 1000, "seed": 0},
    ),
}
"""Scenario name -> (function, one-line description, default options) for ``p2p sim list/run``."""
