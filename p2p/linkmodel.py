"""A pure model of an imperfect datagram network: latency, loss, duplication, reordering, partitions (layer L2).

The same model drives both simulated networks, so that a seed gives the same decisions in each:

- :class:`p2p.transport.sim.SimNetwork`, real :class:`~p2p.transport.base.Transport` endpoints in trio (virtual)
  time, and
- the discrete-event engine in ``p2p.sims``, which calls the cores directly without trio.

Both engines follow the same recipe for each datagram ``data`` that ``src`` sends to ``dst`` at time ``now``:

1. if the current :class:`Partition` ``blocks(src, dst)``, drop it (no random number is drawn);
2. otherwise ``delays = link.deliveries(rng_src, src, dst)`` with ``rng_src`` the sender's own
   ``random.Random(source_seed(seed, src))``;
3. push one entry ``(now + delay, src, k, dst, data)`` per delay onto a heap, ``k`` being the sender's running
   datagram-copy counter (0, 1, 2, ... over the whole run), and deliver entries in heap order.

The heap key ``(deliver_time, src, k)`` is unique and does not depend on the order in which the engine happened
to run the senders, so ties break the same way everywhere; a per-source random stream likewise makes the draws of
one sender independent of what the others do.

This module is pure: it never reads a clock, never performs I/O and never uses the module-level ``random``
functions. Every random number comes from the ``random.Random`` passed in, in a documented order, so
``deliveries`` is deterministic given the generator's state and the sequence of calls.

The impairments follow the usual Linux ``netem`` qdisc vocabulary (``delay``, ``loss``, ``duplicate``,
``reorder``), with the differences noted on :class:`LinkModel`. The idea of testing a protocol over a "terrible
network" in virtual time -- datagrams randomly dropped, duplicated and delayed while ``trio.testing.MockClock``
jumps over the waits -- comes from trio's ``src/trio/_tests/test_dtls.py``
(``test_handshake_over_terrible_network``).

References
----------
.. [1] tc-netem(8), Linux manual page: "NetEm - Network Emulator".
.. [2] trio, ``src/trio/_tests/test_dtls.py``, ``test_handshake_over_terrible_network``.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from .errors import ConfigError
from .wire import Address

if TYPE_CHECKING:
    import random

__all__ = [
    "LatencyModel",
    "ConstantLatency",
    "UniformLatency",
    "LognormalLatency",
    "LatencyMatrix",
    "Partition",
    "LinkModel",
    "source_seed",
    "address_region",
]


def _check(cond: bool, name: str, why: str) -> None:
    if not cond:
        raise ConfigError(f"{name}: {why}")


def _finite_nonneg(x: float) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) and x >= 0


def _probability(x: float) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and 0.0 <= x <= 1.0


def source_seed(seed: int, src: Address) -> str:
    """The seed of the random stream that decides the fate of ``src``'s datagrams.

    Parameters
    ----------
    seed : int
        The run's seed.
    src : Address
        The sending ``(host, port)``.

    Returns
    -------
    str
        ``"{seed}:{host}:{port}"``. ``random.Random`` hashes a ``str`` seed with SHA-512, which unlike
        ``hash()`` does not change between processes, so every engine derives the same stream from it.
    """
    return f"{seed}:{src[0]}:{src[1]}"


def address_region(addr: Address, regions: int) -> int:
    """Deterministic region index of an address: ``crc32(b"host:port") % regions``.

    Parameters
    ----------
    addr : Address
        ``(host, port)``.
    regions : int
        Number of regions, >= 1.

    Returns
    -------
    int
        In ``0 .. regions - 1``; the same in every process (``zlib.crc32`` is not salted like ``hash()``).
    """
    return zlib.crc32(f"{addr[0]}:{addr[1]}".encode()) % regions


# ----------------------------------------------------------------------------------------------- latency


@runtime_checkable
class LatencyModel(Protocol):
    """One-way propagation delay of a datagram from ``src`` to ``dst``."""

    def sample(self, rng: random.Random, src: Address, dst: Address) -> float:
        """Draw one delay in seconds (>= 0) using only ``rng``."""
        ...


@dataclass(frozen=True, slots=True)
class ConstantLatency:
    """Every datagram takes the same time (netem ``delay TIME``). Draws no random number.

    Parameters
    ----------
    seconds : float
        One-way delay in seconds, >= 0.
    """

    seconds: float = 0.01

    def __post_init__(self) -> None:
        _check(_finite_nonneg(self.seconds), "seconds", "must be a finite number >= 0")

    def sample(self, rng: random.Random, src: Address, dst: Address) -> float:
        """Return ``seconds``."""
        return float(self.seconds)


@dataclass(frozen=True, slots=True)
class UniformLatency:
    """Delay uniform in ``[low, high]`` seconds (netem ``delay`` with uniform jitter). One draw.

    Parameters
    ----------
    low, high : float
        Bounds in seconds, ``0 <= low <= high``.
    """

    low: float
    high: float

    def __post_init__(self) -> None:
        _check(_finite_nonneg(self.low), "low", "must be a finite number >= 0")
        _check(_finite_nonneg(self.high), "high", "must be a finite number >= 0")
        _check(self.low <= self.high, "high", "must be >= low")

    def sample(self, rng: random.Random, src: Address, dst: Address) -> float:
        """Return ``rng.uniform(low, high)`` seconds."""
        return rng.uniform(self.low, self.high)


@dataclass(frozen=True, slots=True)
class LognormalLatency:
    """Heavy-tailed delay: ``median * exp(sigma * Z)`` seconds with ``Z`` standard normal.

    Measured Internet round-trip times are roughly log-normal; ``sigma`` near 0.5 gives a tail where the 99th
    percentile is about 3.2 times the median. Uses ``rng.lognormvariate``.

    Parameters
    ----------
    median : float
        Median delay in seconds, > 0.
    sigma : float
        Standard deviation of ``log(delay)``, >= 0 (dimensionless). 0 gives a constant ``median``.
    """

    median: float = 0.05
    sigma: float = 0.5

    def __post_init__(self) -> None:
        _check(_finite_nonneg(self.median) and self.median > 0, "median", "must be a finite number > 0")
        _check(_finite_nonneg(self.sigma), "sigma", "must be a finite number >= 0")

    def sample(self, rng: random.Random, src: Address, dst: Address) -> float:
        """Return ``rng.lognormvariate(log(median), sigma)`` seconds."""
        return rng.lognormvariate(math.log(self.median), self.sigma)


@dataclass(frozen=True, slots=True)
class LatencyMatrix:
    """Delay by region: ``matrix[region(src)][region(dst)]`` seconds, plus optional uniform jitter.

    Each address belongs to region :func:`address_region` ``(addr, len(matrix))`` -- a stable hash of
    ``host:port`` -- so the assignment needs no shared state and is the same in every engine and process.

    Parameters
    ----------
    matrix : sequence of sequences of float
        Square ``regions x regions`` table of one-way delays in seconds (each >= 0). It need not be symmetric.
        Stored as a tuple of tuples.
    jitter : float
        Extra delay drawn uniformly in ``[0, jitter]`` seconds per datagram (one draw, only when > 0).

    Examples
    --------
    Two continents 80 ms apart, 5 ms within each::

        LatencyMatrix(((0.005, 0.080), (0.080, 0.005)))
    """

    matrix: tuple[tuple[float, ...], ...]
    jitter: float = 0.0

    def __post_init__(self) -> None:
        try:
            rows = tuple(tuple(float(x) for x in row) for row in self.matrix)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"matrix: must be a sequence of sequences of seconds ({exc})") from None
        n = len(rows)
        _check(n >= 1, "matrix", "needs at least one region")
        _check(all(len(r) == n for r in rows), "matrix", f"must be square ({n} x {n})")
        _check(
            all(_finite_nonneg(x) for r in rows for x in r), "matrix", "entries must be finite seconds >= 0"
        )
        _check(_finite_nonneg(self.jitter), "jitter", "must be a finite number >= 0")
        object.__setattr__(self, "matrix", rows)

    @property
    def regions(self) -> int:
        """Number of regions."""
        return len(self.matrix)

    def region(self, addr: Address) -> int:
        """Region index of ``addr`` (see :func:`address_region`)."""
        return address_region(addr, len(self.matrix))

    def sample(self, rng: random.Random, src: Address, dst: Address) -> float:
        """Return the table entry for ``(region(src), region(dst))`` plus jitter, in seconds."""
        n = len(self.matrix)
        d = self.matrix[address_region(src, n)][address_region(dst, n)]
        if self.jitter > 0:
            d += rng.uniform(0.0, self.jitter)
        return d


# --------------------------------------------------------------------------------------------- partition


@dataclass(frozen=True, slots=True)
class Partition:
    """A network split into groups of addresses that cannot reach each other.

    ``blocks(src, dst)`` is true exactly when ``src`` and ``dst`` are both listed, in *different* groups.
    An address listed in no group is unaffected: it reaches, and is reached by, everyone (think of a host on
    the cut itself, or one that joined after the split was declared). To isolate a single host, give it a group
    of its own: ``Partition.of([lonely], [everyone, else, ...])``. The empty partition blocks nothing.

    Partitions are not part of the frozen :class:`LinkModel`; a network holds its current partition and
    replaces it (``SimNetwork.partition(...)`` / ``heal()``).

    Parameters
    ----------
    groups : tuple of frozenset of Address
        Disjoint groups. An address in two groups raises :class:`~p2p.errors.ConfigError`.
    """

    groups: tuple[frozenset[Address], ...] = ()
    _group_of: Mapping[Address, int] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        groups = tuple(frozenset(g) for g in self.groups)
        index: dict[Address, int] = {}
        for i, g in enumerate(groups):
            for addr in g:
                if addr in index:
                    raise ConfigError(f"groups: address {addr!r} is in more than one group")
                index[addr] = i
        object.__setattr__(self, "groups", groups)
        object.__setattr__(self, "_group_of", index)

    @classmethod
    def of(cls, *groups: Iterable[Address]) -> Partition:
        """Build a partition from any iterables of addresses: ``Partition.of([a, b], [c])``."""
        return cls(tuple(frozenset(g) for g in groups))

    def group_of(self, addr: Address) -> int | None:
        """Index of the group ``addr`` is in, or ``None`` when it is not listed."""
        return self._group_of.get(addr)

    def blocks(self, src: Address, dst: Address) -> bool:
        """Whether a datagram from ``src`` to ``dst`` is cut off (both listed, in different groups)."""
        g = self._group_of
        a = g.get(src)
        if a is None:
            return False
        b = g.get(dst)
        return b is not None and a != b

    def __bool__(self) -> bool:
        return bool(self.groups)


# -------------------------------------------------------------------------------------------- link model


@dataclass(frozen=True, slots=True)
class LinkModel:
    """How one datagram fares on the way from ``src`` to ``dst``: lost, delayed, duplicated, reordered.

    Parameters
    ----------
    latency : LatencyModel
        One-way delay model (seconds). Default ``ConstantLatency(0.01)``: 10 ms.
    loss : float
        Probability in ``[0, 1]`` that a datagram is lost (netem ``loss random P``; independent per datagram).
    duplicate : float
        Probability in ``[0, 1]`` that a datagram that was not lost arrives twice (netem ``duplicate P``). The
        copy gets its own latency and reorder draws, like netem's duplicate, which is re-enqueued.
    reorder : float
        Probability in ``[0, 1]`` that a copy is held back by an extra delay uniform in
        ``[0, reorder_delay]`` seconds, so later datagrams can overtake it. This differs from netem, whose
        ``reorder P`` instead sends P of the packets *without* the configured delay; both reorder a fraction of
        the traffic, ours also works with ``ConstantLatency(0)``.
    reorder_delay : float
        Upper bound in seconds (>= 0) of the extra delay of a reordered copy.

    Raises
    ------
    ConfigError
        A probability outside ``[0, 1]``, a negative or non-finite delay, or a latency model without
        ``sample``.

    Notes
    -----
    Random draws of :meth:`deliveries`, in this order (a probability that is exactly 0 draws nothing):

    1. ``loss > 0``: one ``rng.random()``; below ``loss`` means lost, return ``()``.
    2. First copy: ``latency.sample(rng, src, dst)``, then if ``reorder > 0`` one ``rng.random()`` and, when
       below ``reorder``, one ``rng.uniform(0, reorder_delay)`` added.
    3. ``duplicate > 0``: one ``rng.random()``; below ``duplicate`` means a second copy, drawn as in step 2.

    Two engines that feed the same generator the same sequence of calls therefore get the same delays.
    """

    latency: LatencyModel = field(default_factory=lambda: ConstantLatency(0.01))
    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    reorder_delay: float = 0.05

    def __post_init__(self) -> None:
        _check(
            callable(getattr(self.latency, "sample", None)), "latency", "must have a sample(rng, src, dst)"
        )
        _check(_probability(self.loss), "loss", "must be a probability in [0, 1]")
        _check(_probability(self.duplicate), "duplicate", "must be a probability in [0, 1]")
        _check(_probability(self.reorder), "reorder", "must be a probability in [0, 1]")
        _check(_finite_nonneg(self.reorder_delay), "reorder_delay", "must be a finite number of seconds >= 0")

    def _copy_delay(self, rng: random.Random, src: Address, dst: Address) -> float:
        d = self.latency.sample(rng, src, dst)
        if self.reorder > 0 and rng.random() < self.reorder:
            d += rng.uniform(0.0, self.reorder_delay)
        return d

    def deliveries(self, rng: random.Random, src: Address, dst: Address) -> tuple[float, ...]:
        """Decide the fate of one datagram.

        Parameters
        ----------
        rng : random.Random
            The sender's random stream (see :func:`source_seed`); the only source of randomness.
        src, dst : Address
            Sender and destination ``(host, port)``.

        Returns
        -------
        tuple of float
            Delays in seconds from now at which copies arrive, in draw order (not sorted): ``()`` when the
            datagram is lost, one entry normally, two when it is duplicated.
        """
        if self.loss > 0 and rng.random() < self.loss:
            return ()
        first = self._copy_delay(rng, src, dst)
        if self.duplicate > 0 and rng.random() < self.duplicate:
            return (first, self._copy_delay(rng, src, dst))
        return (first,)

    @classmethod
    def perfect(cls, latency: float = 0.0) -> LinkModel:
        """A lossless, in-order link with a constant delay of ``latency`` seconds (default 0)."""
        return cls(latency=ConstantLatency(latency))

    @classmethod
    def terrible(cls, *, latency: LatencyModel | None = None) -> LinkModel:
        """The impairments of trio's "terrible network" DTLS test: 10 % loss, 10 % duplication, 10 % of copies
        held back up to 3 s (with ``LognormalLatency(0.05, 0.5)`` delays unless ``latency`` is given)."""
        return cls(
            latency=latency if latency is not None else LognormalLatency(0.05, 0.5),
            loss=0.1,
            duplicate=0.1,
            reorder=0.1,
            reorder_delay=3.0,
        )
