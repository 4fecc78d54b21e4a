"""Seeded churn models shared by every simulation engine (graph, discrete-event, virtual time; DESIGN.md §9).

A churn model turns a seed into a schedule of ``leave``/``join`` events. Session (online) and downtime
(offline) lengths come from a session model (:class:`ExponentialSessions`, :class:`ParetoSessions`);
:class:`MassFailure` adds correlated failures. The schedule depends only on the model, ``n_nodes``,
``horizon_seconds`` and ``seed``: each node draws from its own ``random.Random`` derived from
``(seed, node)``, so a node's churn does not change when other nodes are added.

References
----------
Rhea, Geels, Roscoe & Kubiatowicz, "Handling Churn in a DHT", USENIX ATC 2004 (churn driven by exponential
session times). Stutzbach & Rejaie, "Understanding Churn in Peer-to-Peer Networks", IMC 2006 (measured session
lengths are heavy-tailed). Yao, Leonard, Wang & Loguinov, "Modeling Heterogeneity and Churn in Random Graphs
and P2P Networks", ICNP 2006 (Pareto lifetimes and alternating on/off model).
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from p2p.errors import ConfigError

__all__ = [
    "SessionModel",
    "ExponentialSessions",
    "ParetoSessions",
    "MassFailure",
    "ChurnEvent",
    "ChurnModel",
]


def _check(cond: bool, name: str, why: str) -> None:
    if not cond:
        raise ConfigError(f"{name}: {why}")


def _positive_finite(value: object) -> bool:
    return (
        isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    )


@runtime_checkable
class SessionModel(Protocol):
    """Anything with ``sample(rng) -> float`` seconds (> 0), drawing only from ``rng``."""

    def sample(self, rng: random.Random) -> float: ...  # pragma: no cover


@dataclass(frozen=True, slots=True)
class ExponentialSessions:
    """Exponentially distributed durations (memoryless churn).

    Parameters
    ----------
    mean_seconds : float
        Mean duration, ``> 0``; the median is ``mean_seconds * ln 2``.

    Raises
    ------
    p2p.errors.ConfigError
        If ``mean_seconds`` is not a positive finite number.

    References
    ----------
    Rhea et al., "Handling Churn in a DHT", USENIX ATC 2004 (Poisson churn with exponential sessions).

    Examples
    --------
    >>> round(ExponentialSessions(60.0).sample(random.Random(1)), 3)
    8.657
    """

    mean_seconds: float

    def __post_init__(self) -> None:
        _check(_positive_finite(self.mean_seconds), "mean_seconds", "must be a finite number > 0")

    def sample(self, rng: random.Random) -> float:
        """Draw one duration in seconds from ``rng``."""
        return rng.expovariate(1.0 / self.mean_seconds)

    @property
    def median_seconds(self) -> float:
        """Median duration, ``mean * ln 2``."""
        return self.mean_seconds * math.log(2.0)


@dataclass(frozen=True, slots=True)
class ParetoSessions:
    """Pareto (type I) durations given by their median: heavy-tailed sessions as measured in P2P systems.

    ``P(X > x) = (scale / x) ** shape`` for ``x >= scale``, with ``scale = median / 2 ** (1 / shape)`` so that
    the median is ``median_seconds``. The mean ``shape * scale / (shape - 1)`` is finite only for ``shape > 1``.
    Sampling is by inversion: ``scale / (1 - u) ** (1 / shape)`` with ``u = rng.random()``.

    Parameters
    ----------
    median_seconds : float
        Median duration, ``> 0``.
    shape : float
        Tail index α, ``> 0`` (smaller is heavier-tailed); default 2.

    Raises
    ------
    p2p.errors.ConfigError
        If ``median_seconds`` or ``shape`` is not a positive finite number.

    References
    ----------
    Yao, Leonard, Wang & Loguinov, ICNP 2006 (Pareto lifetimes in the on/off churn model). Stutzbach &
    Rejaie, IMC 2006 (heavy-tailed session lengths).

    Examples
    --------
    >>> s = ParetoSessions(3600.0, shape=2.0)
    >>> round(s.scale_seconds, 1), s.sample(random.Random(1)) >= s.scale_seconds
    (2545.6, True)
    """

    median_seconds: float
    shape: float = 2.0

    def __post_init__(self) -> None:
        _check(_positive_finite(self.median_seconds), "median_seconds", "must be a finite number > 0")
        _check(_positive_finite(self.shape), "shape", "must be a finite number > 0")

    @property
    def scale_seconds(self) -> float:
        """Minimum duration ``x_m = median / 2 ** (1 / shape)``."""
        return self.median_seconds / 2.0 ** (1.0 / self.shape)

    @property
    def mean_seconds(self) -> float:
        """Mean duration, ``inf`` when ``shape <= 1``."""
        if self.shape <= 1.0:
            return math.inf
        return self.shape * self.scale_seconds / (self.shape - 1.0)

    def sample(self, rng: random.Random) -> float:
        """Draw one duration in seconds from ``rng``."""
        return self.scale_seconds / (1.0 - rng.random()) ** (1.0 / self.shape)


@dataclass(frozen=True, slots=True)
class MassFailure:
    """At ``at_seconds``, a ``fraction`` of the nodes online at that moment leave together.

    Parameters
    ----------
    at_seconds : float
        Time of the failure, ``>= 0``.
    fraction : float
        Fraction of the online nodes that fail, in ``(0, 1]`` (``round(fraction * online)`` nodes).

    Raises
    ------
    p2p.errors.ConfigError
        If a field is out of range.
    """

    at_seconds: float
    fraction: float

    def __post_init__(self) -> None:
        _check(
            isinstance(self.at_seconds, int | float)
            and math.isfinite(self.at_seconds)
            and self.at_seconds >= 0,
            "at_seconds",
            "must be a finite number >= 0",
        )
        _check(
            isinstance(self.fraction, int | float) and 0.0 < self.fraction <= 1.0,
            "fraction",
            "must be in (0, 1]",
        )


@dataclass(frozen=True, slots=True, order=True)
class ChurnEvent:
    """One scheduled event: ``node`` leaves or (re)joins at ``time`` seconds.

    Events order by ``(time, node, kind)``.
    """

    time: float
    node: int
    kind: Literal["leave", "join"]


@dataclass(frozen=True, slots=True)
class ChurnModel:
    """Alternating sessions, optional arrivals of fresh nodes, and mass failures.

    All ``n_nodes`` initial nodes are online at time 0, each starting a fresh session (no stationary
    warm-up: discard an initial period of the horizon if steady state matters).

    - With ``downtime``: a node that leaves comes back (same node, same id) after a downtime drawn from
      ``downtime``, then starts a new session: the alternating on/off model.
    - With ``arrival_rate``: departures are permanent; fresh nodes ``n_nodes, n_nodes + 1, ...`` arrive as a
      Poisson process of ``arrival_rate`` per second, each with one session.
    - With neither: departures are permanent and nobody arrives.

    A :class:`MassFailure` takes its nodes down at once; they come back after a downtime if ``downtime`` is
    set, and otherwise never.

    Parameters
    ----------
    sessions : SessionModel
        Distribution of online durations.
    downtime : SessionModel, optional
        Distribution of offline durations (exclusive with ``arrival_rate``).
    arrival_rate : float, optional
        Arrivals of new nodes per second, ``> 0`` (exclusive with ``downtime``).
    mass_failures : sequence of MassFailure
        Correlated failures.

    Raises
    ------
    p2p.errors.ConfigError
        If a field is invalid (the message names it).

    References
    ----------
    Yao et al., ICNP 2006 (alternating on/off lifetimes). Rhea et al., USENIX ATC 2004 (arrival/departure
    process). Godfrey, Shenker & Stoica, "Minimizing Churn in Distributed Systems", SIGCOMM 2006.

    Examples
    --------
    >>> model = ChurnModel(ExponentialSessions(100.0), downtime=ExponentialSessions(50.0))
    >>> events = model.schedule(10, 300.0, seed=1)
    >>> events == model.schedule(10, 300.0, seed=1), events[0].kind
    (True, 'leave')
    """

    sessions: SessionModel
    downtime: SessionModel | None = None
    arrival_rate: float | None = None
    mass_failures: tuple[MassFailure, ...] = field(default=())

    def __post_init__(self) -> None:
        _check(isinstance(self.sessions, SessionModel), "sessions", "must have a sample(rng) method")
        _check(
            self.downtime is None or isinstance(self.downtime, SessionModel),
            "downtime",
            "must have a sample(rng) method",
        )
        _check(
            self.arrival_rate is None or _positive_finite(self.arrival_rate),
            "arrival_rate",
            "must be a finite number > 0",
        )
        _check(
            self.downtime is None or self.arrival_rate is None,
            "arrival_rate",
            "give downtime (nodes rejoin) or arrival_rate (fresh nodes arrive), not both",
        )
        failures = tuple(self.mass_failures)
        _check(
            all(isinstance(f, MassFailure) for f in failures), "mass_failures", "must be MassFailure items"
        )
        object.__setattr__(self, "mass_failures", failures)

    def schedule(self, n_nodes: int, horizon_seconds: float, seed: int = 0) -> list[ChurnEvent]:
        """Draw the churn events in ``[0, horizon_seconds]``, sorted by ``(time, node)``.

        Parameters
        ----------
        n_nodes : int
            Nodes online at time 0, labelled ``0..n_nodes-1`` (``>= 0``).
        horizon_seconds : float
            End of the schedule, ``>= 0``; events after it are not returned.
        seed : int
            Seed. Node ``u`` draws from ``random.Random(f"...:{seed}:{u}")``; arrivals and each mass failure
            have their own derived generators.

        Returns
        -------
        list of ChurnEvent
            Deterministic for a given model, arguments and seed.

        Raises
        ------
        p2p.errors.ConfigError
            If an argument is out of range.

        References
        ----------
        Yao et al., ICNP 2006 (on/off process per node).
        """
        _check(isinstance(seed, int) and not isinstance(seed, bool), "seed", "must be an int")
        _check(isinstance(n_nodes, int) and n_nodes >= 0, "n_nodes", "must be an int >= 0")
        _check(
            isinstance(horizon_seconds, int | float)
            and math.isfinite(horizon_seconds)
            and horizon_seconds >= 0,
            "horizon_seconds",
            "must be a finite number >= 0",
        )
        prefix = f"p2p.sims.churn:{seed}"
        rngs: dict[int, random.Random] = {}

        def node_rng(node: int) -> random.Random:
            rng = rngs.get(node)
            if rng is None:
                rng = rngs[node] = random.Random(f"{prefix}:{node}")
            return rng

        # Heap entries: (time, node, kind, generation). Mass failures use node -1 so they run before node
        # events at the same instant; a node's generation invalidates its pending leave when it fails early.
        heap: list[tuple[float, int, str, int]] = []
        generation: dict[int, int] = {}
        online: set[int] = set()
        for node in range(n_nodes):
            online.add(node)
            generation[node] = 0
            heap.append((self.sessions.sample(node_rng(node)), node, "leave", 0))
        for number, failure in enumerate(self.mass_failures):
            heap.append((float(failure.at_seconds), -1, "mass", number))
        arrivals = random.Random(f"{prefix}:arrivals")
        next_node = n_nodes
        if self.arrival_rate is not None:
            heap.append((arrivals.expovariate(self.arrival_rate), -2, "arrival", 0))
        heapq.heapify(heap)

        events: list[ChurnEvent] = []

        def leave(now: float, node: int) -> None:
            online.discard(node)
            generation[node] += 1
            events.append(ChurnEvent(now, node, "leave"))
            if self.downtime is not None:
                back = now + self.downtime.sample(node_rng(node))
                heapq.heappush(heap, (back, node, "join", generation[node]))

        while heap and heap[0][0] <= horizon_seconds:
            now, node, kind, tag = heapq.heappop(heap)
            if kind == "mass":
                failure = self.mass_failures[tag]
                victims = sorted(online)
                count = round(failure.fraction * len(victims))
                chosen = random.Random(f"{prefix}:mass:{tag}").sample(victims, count)
                for victim in sorted(chosen):
                    leave(now, victim)
            elif kind == "arrival":
                node = next_node
                next_node += 1
                generation[node] = 0
                online.add(node)
                events.append(ChurnEvent(now, node, "join"))
                heapq.heappush(heap, (now + self.sessions.sample(node_rng(node)), node, "leave", 0))
                heapq.heappush(heap, (now + arrivals.expovariate(self.arrival_rate), -2, "arrival", 0))
            elif tag != generation[node]:
                continue  # superseded by a mass failure
            elif kind == "leave":
                leave(now, node)
            else:  # join after downtime
                online.add(node)
                events.append(ChurnEvent(now, node, "join"))
                heapq.heappush(heap, (now + self.sessions.sample(node_rng(node)), node, "leave", tag))
        events.sort(key=lambda e: (e.time, e.node))
        return events

    @staticmethod
    def online_counts(events: Sequence[ChurnEvent], n_nodes: int, times: Sequence[float]) -> list[int]:
        """Number of nodes online at each of ``times`` (sorted ascending), given a schedule.

        Examples
        --------
        >>> ChurnModel.online_counts([ChurnEvent(1.0, 0, "leave")], 2, [0.5, 1.0])
        [2, 1]
        """
        counts: list[int] = []
        online = n_nodes
        i = 0
        for t in times:
            while i < len(events) and events[i].time <= t:
                online += 1 if events[i].kind == "join" else -1
                i += 1
            counts.append(online)
        return counts
