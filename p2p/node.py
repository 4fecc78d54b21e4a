"""The trio runtime: one task drives one :class:`p2p.core.NodeCore` over one transport (layer L6).

::

    async with open_node(port=4000, data_dir="~/.p2p-a") as node:
        await node.bootstrap(["127.0.0.1:4001"])
        result = await node.put("greeting", "hello")     # PutResult(acks=...)
        result = await node.get("greeting")              # GetResult(found=True, value="hello")

The driver is thin: it waits on ``transport.receive()`` under ``trio.move_on_at(core.next_deadline())``,
feeds datagrams and time to the core, and carries out the effects: ``Send`` goes to the transport,
``Completed``/``Failed`` wake the task awaiting that query. It works the same over UDP and over the in-memory
:class:`p2p.transport.sim.SimNetwork` (in virtual time under ``trio.testing.MockClock``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import random
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import trio

from .config import NodeConfig
from .core import (
    BootstrapResult,
    Completed,
    Effect,
    FindNodeResult,
    GetResult,
    NodeCore,
    PutResult,
    SearchResult,
    Send,
)
from .errors import ConfigError, NodeClosed, P2PError
from .ids import id_to_hex, random_id
from .persist import SqliteStore, resolve_data_dir
from .search.catalogue import InvalidQuery, Item
from .store import MemoryStore, RecordStore
from .transport.base import Transport
from .transport.udp import UDPTransport, resolve_address
from .wire import Address, Value

__all__ = ["Node", "QueryTicket", "open_node", "DataDirLocked", "item_from_file"]

log = logging.getLogger("p2p.node")

CONTACT_SAVE_INTERVAL = 30.0
"""Seconds between snapshots of the routing table to the data directory."""


class DataDirLocked(P2PError):
    """Another node process already runs with this data directory."""


def item_from_file(path: str | os.PathLike[str], *, name: str | None = None, tags: Iterable[str] = ()) -> Item:
    """Describe a local file as a shareable :class:`p2p.search.Item`: its size and sha256 (read in 1 MiB
    chunks), ``name`` defaulting to the file name, the absolute path kept locally.

    Raises
    ------
    p2p.search.InvalidQuery
        If the path is not a readable regular file, or the name or tags are too long.
    """
    p = Path(path).expanduser()
    try:
        p = p.resolve()
        if not p.is_file():
            raise InvalidQuery(f"not a regular file: {p}")
        digest = hashlib.sha256()
        size = 0
        with open(p, "rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
                size += len(chunk)
    except OSError as exc:
        raise InvalidQuery(f"cannot read {p}: {exc.strerror or exc}") from None
    return Item(name or p.name, digest.digest(), size, tuple(tags), str(p))


QUERY_KINDS = ("bootstrap", "get", "put", "find_node", "search")
"""The queries :meth:`Node.start` can begin: the ``NodeCore.start_<kind>`` methods."""


class QueryTicket:
    """A query begun with :meth:`Node.start`; :meth:`wait` gives its final effect.

    Attributes
    ----------
    qid : int
        The core's query id.
    """

    __slots__ = ("qid", "_slot")

    def __init__(self, qid: int, slot: list[Any]) -> None:
        self.qid = qid
        self._slot = slot

    @property
    def done(self) -> bool:
        """Whether the query has ended (or its node closed)."""
        return bool(self._slot[0].is_set())

    @property
    def effect(self) -> Effect | None:
        """The final effect once :attr:`done`, else ``None``."""
        return self._slot[1]  # type: ignore[no-any-return]

    async def wait(self) -> Effect | None:
        """The query's final effect: ``Completed`` (its ``result`` as the awaiting methods return it) or
        ``Failed`` (its ``error`` as they would raise it); ``None`` if the node closed first."""
        await self._slot[0].wait()
        return self._slot[1]  # type: ignore[no-any-return]


class Node:
    """A running node. Build it with :func:`open_node`; do not instantiate directly.

    Attributes
    ----------
    core : NodeCore
        The protocol state (read it; drive it only through this object).
    transport : Transport
    data_dir : Path or None
        Where state persists, ``None`` for an ephemeral node.
    """

    def __init__(
        self,
        core: NodeCore,
        transport: Transport,
        *,
        clock_offset: float = 0.0,
        data_dir: Path | None = None,
        persist: SqliteStore | None = None,
    ) -> None:
        self.core = core
        self.transport = transport
        self.data_dir = data_dir
        self._persist = persist
        self._offset = clock_offset
        self._waiters: dict[int, list[Any]] = {}  # qid -> [event, effect]
        self._scope: trio.CancelScope | None = None
        self._closed = False
        self._started = self.now()
        self.internal_errors = 0
        self._nowait = type(transport).send_nowait is not Transport.send_nowait

    # -------------------------------------------------------------------------------------- identity

    @property
    def node_id(self) -> int:
        """This node's 160-bit id."""
        return self.core.node_id

    @property
    def address(self) -> Address:
        """The ``(ip, port)`` peers reach this node at."""
        return self.transport.local_address

    def now(self) -> float:
        """The core's clock: trio time plus a fixed offset (wall-clock epoch seconds for persistent nodes)."""
        return trio.current_time() + self._offset

    # -------------------------------------------------------------------------------------- queries

    async def bootstrap(self, addrs: Iterable[str | Address] = (), *, contacts: Iterable[Any] = ()) -> BootstrapResult:
        """Join through ``addrs`` (``"HOST:PORT"`` strings or ``(ip, port)`` tuples).

        Raises
        ------
        p2p.transport.udp.AddressError
            If an address is malformed or does not resolve.
        p2p.errors.BootstrapFailed
            If none answered and no contact is known.
        """
        resolved = [await resolve_address(a) for a in addrs]
        return await self._run_query(self.core.start_bootstrap(self.now(), resolved, contacts))

    async def get(self, key: str | bytes) -> GetResult:
        """Iterative FIND_VALUE. ``result.found`` tells whether any node had the key.

        Raises
        ------
        p2p.errors.NoContacts
            If the routing table is empty and the key is not held locally.
        """
        return await self._run_query(self.core.start_get(self.now(), key))

    async def put(self, key: str | bytes, value: Value) -> PutResult:
        """Store ``value`` on the k closest nodes; ``result.acks`` counts durable acknowledgements.

        Raises
        ------
        p2p.errors.InvalidValue, p2p.errors.ValueTooLarge
            For a value the wire cannot carry.
        p2p.errors.NoContacts
            If the routing table is empty.
        """
        return await self._run_query(self.core.start_put(self.now(), key, value))

    async def find_node(self, target: int) -> FindNodeResult:
        """Iterative FIND_NODE for ``target``."""
        return await self._run_query(self.core.start_find_node(self.now(), target))

    # -------------------------------------------------------------------------------------- search

    async def search(
        self,
        keywords: str | Iterable[str],
        *,
        strategy: str = "flood",
        ttl: int | None = None,
        walkers: int | None = None,
        max_hits: int | None = None,
        timeout: float = 5.0,
        direct: bool | None = None,
    ) -> SearchResult:
        """Search the neighbour overlay (see :meth:`p2p.core.NodeCore.start_search`).

        Returns a :class:`p2p.core.SearchResult` after ``timeout`` seconds or as soon as ``max_hits`` hits
        arrived.

        Raises
        ------
        p2p.search.InvalidQuery
            For bad keywords, strategy or limits.
        """
        return await self._run_query(
            self.core.start_search(
                self.now(), keywords, strategy, ttl=ttl, walkers=walkers, max_hits=max_hits,
                timeout=timeout, direct=direct,
            )
        )

    async def share(
        self, what: Item | str | os.PathLike[str], *, name: str | None = None, tags: Iterable[str] = ()
    ) -> Item:
        """Share an item, or a file (hashed in a worker thread). Persisted in the data dir, if any."""
        if isinstance(what, Item):
            item = what
        else:
            item = await trio.to_thread.run_sync(lambda: item_from_file(what, name=name, tags=tags))
        if self._persist is not None:
            self._persist.save_item(item, time.time())
        self.core.share(item)
        return item

    def unshare(self, content_hash: bytes | str) -> Item | None:
        """Stop sharing the item with this sha256 (bytes or hex); returns it, or ``None`` if not shared."""
        item = self.core.unshare(content_hash)
        if item is not None and self._persist is not None:
            self._persist.delete_item(item.content_hash)
        return item

    def items(self) -> list[Item]:
        """The shared items, by name."""
        return self.core.items()

    async def wait_neighbours(self, n: int = 1, timeout: float = 5.0) -> int:
        """Wait until the node has at least ``n`` neighbours or ``timeout`` seconds passed; return how many."""
        with trio.move_on_after(timeout):
            while len(self.core.overlay) < n:
                await trio.sleep(0.05)
        return len(self.core.overlay)

    async def start(self, kind: str, *args: Any) -> QueryTicket:
        """Begin a query without waiting for its end, for drivers that run many at once (the virtual-time
        simulation engine). ``kind`` and ``args`` are those of ``NodeCore.start_<kind>(now, *args)``: for
        example ``start("get", key)``, ``start("put", key, value)``, ``start("bootstrap", [(ip, port)])``.

        Unlike the awaiting methods, an unanswered ticket is not cancelled when the caller stops waiting;
        the query runs to its own end (its timeouts bound it).

        Returns
        -------
        QueryTicket

        Raises
        ------
        ValueError
            If ``kind`` is not one of ``bootstrap``, ``get``, ``put``, ``find_node``, ``search``.
        p2p.errors.NodeClosed
            If the node is closed.
        p2p.errors.P2PError
            What the core's ``start_<kind>`` raises for bad arguments (e.g. ``ValueTooLarge``).
        """
        if kind not in QUERY_KINDS:
            raise ValueError(f"unknown query kind {kind!r} (one of {', '.join(QUERY_KINDS)})")
        if self._closed:
            raise NodeClosed("the node is closed")
        return await self._begin(getattr(self.core, f"start_{kind}")(self.now(), *args))

    async def add_contacts(self, contacts: Iterable[Any]) -> None:
        """Put contacts into the routing table without a lookup (a saved table, or a simulation's id model);
        k-bucket rules apply as for any contact heard from (full buckets may ping their oldest entry).

        Parameters
        ----------
        contacts : iterable of p2p.wire.Contact
        """
        await self._apply(self.core.add_contacts(self.now(), contacts))
        self._rearm()

    async def _begin(self, started: tuple[int, list[Effect]]) -> QueryTicket:
        """Register a waiter for a query the core has just started, carry out its first effects."""
        qid, effects = started
        slot: list[Any] = [trio.Event(), None]
        self._waiters[qid] = slot
        await self._apply(effects)
        self._rearm()
        return QueryTicket(qid, slot)

    async def _run_query(self, started: tuple[int, list[Effect]]) -> Any:
        if self._closed:
            raise NodeClosed("the node is closed")
        qid = started[0]
        try:
            effect = await (await self._begin(started)).wait()
        finally:
            slot = self._waiters.pop(qid, None)
            if slot is not None and slot[1] is None:  # the caller stopped waiting: end the query in the core
                self.core.cancel(qid)
        if type(effect) is Completed:
            return effect.result
        if effect is None:
            raise NodeClosed("the node closed during the query")
        raise effect.error

    # -------------------------------------------------------------------------------------- status

    def status(self) -> dict[str, Any]:
        """A JSON-ready summary: ``node_id`` (hex), ``address`` (``"ip:port"``), ``contacts`` (count),
        ``buckets`` (``{index: count}``), ``records`` (count), ``neighbours`` (list of ``{node_id, address}``),
        ``items`` (shared items), ``search`` (search counters), ``uptime`` (seconds), ``data_dir``,
        ``statistics`` (core counters) and ``transport`` (transport counters)."""
        stats = asdict(self.core.statistics())
        host, port = self.address
        neighbours = [
            {"node_id": id_to_hex(c.node_id), "address": f"[{c.host}]:{c.port}" if ":" in c.host else f"{c.host}:{c.port}"}
            for c in self.core.neighbours()
        ]
        return {
            "node_id": id_to_hex(self.node_id),
            "address": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
            "contacts": len(self.core.table),
            "buckets": {str(i): n for i, n in self.core.table.bucket_sizes().items()},
            "records": len(self.core.store),
            "neighbours": neighbours,
            "items": len(self.core.catalogue),
            "search": stats["search"],
            "uptime": round(self.now() - self._started, 3),
            "data_dir": str(self.data_dir) if self.data_dir else None,
            "statistics": stats,
            "transport": self.transport.statistics(),
        }

    # -------------------------------------------------------------------------------------- the loop

    async def _apply(self, effects: list[Effect]) -> None:
        if self._nowait:
            self._apply_now(effects)
            return
        # A transport without send_nowait: wake the awaiting queries first, then send shielded, so that a
        # deadline firing in the middle cannot drop the rest of an effect list.
        sends = [e for e in effects if type(e) is Send]
        self._wake(e for e in effects if type(e) is not Send)
        if sends:
            with trio.CancelScope(shield=True):
                for e in sends:
                    try:
                        await self.transport.send(e.addr, e.data)
                    except NodeClosed:
                        return

    def _apply_now(self, effects: list[Effect]) -> None:
        # Synchronous on purpose: nothing can interrupt an effect list half way.
        send = self.transport.send_nowait
        for e in effects:
            if type(e) is Send:
                try:
                    send(e.addr, e.data)
                except NodeClosed:
                    pass
            else:
                self._wake((e,))

    def _wake(self, effects: Iterable[Any]) -> None:
        for e in effects:
            slot = self._waiters.pop(e.qid, None)
            if slot is not None:
                slot[1] = e
                slot[0].set()

    def _rearm(self) -> None:
        if self._scope is not None:
            self._scope.deadline = min(self._scope.deadline, self.core.next_deadline() - self._offset)

    async def _loop(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        core = self.core
        offset = self._offset
        nowait = self._nowait
        next_save = trio.current_time() + CONTACT_SAVE_INTERVAL
        while True:
            # One cancel scope serves many datagrams: its deadline follows core.next_deadline() and it is
            # only rebuilt after it fires (then the core's timers run).
            with trio.CancelScope(deadline=core.next_deadline() - offset) as scope:
                self._scope = scope
                while True:
                    try:
                        src, data = await self.transport.receive()
                    except NodeClosed:
                        return
                    effects = self._guard(core.handle_datagram, trio.current_time() + offset, src, data)
                    if nowait:
                        self._apply_now(effects)
                    else:
                        await self._apply(effects)
                    scope.deadline = core.next_deadline() - offset
            self._scope = None
            await self._apply(self._guard(core.poll, trio.current_time() + offset))
            if self._persist is not None and trio.current_time() >= next_save:
                next_save = trio.current_time() + CONTACT_SAVE_INTERVAL
                self.save_contacts()

    def _guard(self, fn: Any, *args: Any) -> list[Effect]:
        # The core never raises on bad network input; anything else is a bug. Count and log it instead of
        # letting one datagram take the node down.
        try:
            return fn(*args)
        except Exception:
            self.internal_errors += 1
            log.exception("internal error in the protocol core")
            return []

    def save_contacts(self) -> None:
        """Snapshot the routing table to the data directory (no-op for an ephemeral node)."""
        if self._persist is not None:
            self._persist.save_contacts(self.core.contacts(), time.time())

    async def aclose(self) -> None:
        """Stop: tell the search overlay's neighbours (:meth:`NodeCore.leave`), wake pending queries with
        :class:`NodeClosed`, save contacts, close transport and store."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):  # best effort: a goodbye must never keep a node from closing
            await self._apply(self.core.leave(self.now()))
        for slot in self._waiters.values():
            slot[0].set()
        self._waiters.clear()
        with contextlib.suppress(Exception):
            self.save_contacts()
        await self.transport.aclose()


def _lock_data_dir(data_dir: Path) -> Any:
    fh = open(data_dir / "lock", "a+")  # noqa: SIM115 - held for the node's lifetime
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        raise DataDirLocked(f"another node is running with data dir {data_dir}") from None
    fh.seek(0)
    fh.truncate()
    fh.write(f"{os.getpid()}\n")
    fh.flush()
    return fh


@asynccontextmanager
async def open_node(
    *,
    config: NodeConfig | None = None,
    transport: Transport | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    data_dir: str | os.PathLike[str] | None = None,
    store: RecordStore | None = None,
    seed: int | str | None = None,
    node_id: int | None = None,
    synchronous: str = "normal",
    control: bool | None = None,
) -> AsyncIterator[Node]:
    """Run a node for the duration of the ``async with`` block.

    Parameters
    ----------
    config : NodeConfig, optional
        Protocol parameters (defaults from the paper).
    transport : Transport, optional
        An existing transport (e.g. a SimNetwork endpoint). Default: a UDP socket bound to ``(host, port)``.
    host, port : str, int
        Where to bind the UDP socket when no transport is given (port 0: any free port).
    data_dir : path, optional
        Persistent state (node id, contacts, records in sqlite). ``None``: an ephemeral in-memory node.
        Only one node may use a data directory at a time.
    store : RecordStore, optional
        Record store for an ephemeral node (default :class:`p2p.store.MemoryStore`).
    seed : int or str, optional
        Seeds the node's RNG (and its id when new) for reproducible simulations. ``None``: the OS's
        randomness (unpredictable XIDs, as a real network needs).
    node_id : int, optional
        Force a node id (otherwise restored from ``data_dir`` or drawn at random).
    synchronous : {"normal", "full"}
        sqlite durability: ``"normal"`` survives a process crash, ``"full"`` also a power failure.
    control : bool, optional
        Serve the local control endpoint (a 0600 UNIX socket ``control.sock`` in ``data_dir``) for
        ``p2p get/put/node status``. Default: on when ``data_dir`` is given.

    Raises
    ------
    p2p.transport.udp.AddressError
        If the socket cannot be bound (port in use, bad host).
    DataDirLocked
        If another node runs with ``data_dir``.
    p2p.errors.ConfigError
        For inconsistent arguments.
    """
    config = config or NodeConfig()
    rng: random.Random = random.SystemRandom() if seed is None else random.Random(seed)
    persist: SqliteStore | None = None
    lock = None
    path: Path | None = None
    offset = 0.0
    async with contextlib.AsyncExitStack() as stack:
        if data_dir is not None:
            if store is not None:
                raise ConfigError("give either data_dir or store, not both")
            path = resolve_data_dir(data_dir)
            lock = _lock_data_dir(path)
            stack.callback(lock.close)
            persist = SqliteStore.open(path, synchronous=synchronous)
            stack.callback(persist.close)
            saved = persist.load_node_id()
            if node_id is None:
                node_id = saved if saved is not None else random_id(rng)
            if saved != node_id:
                persist.save_node_id(node_id)
            store = persist
            offset = time.time() - trio.current_time()  # records carry wall-clock times across restarts
        if node_id is None:
            node_id = random_id(rng)
        if transport is None:
            transport = await UDPTransport.bind(host, port)
        stack.push_async_callback(transport.aclose)
        core = NodeCore(config, node_id, rng=rng, store=store if store is not None else MemoryStore(), now=trio.current_time() + offset)
        core.address = transport.local_address
        node = Node(core, transport, clock_offset=offset, data_dir=path, persist=persist)
        if persist is not None:
            for item in persist.load_items():
                core.share(item)
            await node._apply(core.add_contacts(node.now(), persist.load_contacts()))
        stack.push_async_callback(node.aclose)
        async with trio.open_nursery() as nursery:
            await nursery.start(node._loop)
            if control if control is not None else path is not None:
                if path is None:
                    raise ConfigError("the control endpoint needs a data_dir")
                from .control import serve_control

                await nursery.start(serve_control, node, path / "control.sock")
            try:
                yield node
            finally:
                nursery.cancel_scope.cancel()
