"""Node state on disk: records, identity, contacts and metadata in one sqlite file (layer L5).

One data directory per node (DESIGN.md §7) holds ``node.sqlite3``, opened by :meth:`SqliteStore.open`. The
store implements :class:`p2p.store.RecordStore`, so the core uses it exactly as it uses
:class:`p2p.store.MemoryStore`, and additionally keeps the node id, the routing table's contacts and generic
metadata (the election layer keeps its term and vote there).

Durability
----------
Every mutating call (:meth:`SqliteStore.put`, :meth:`~SqliteStore.delete`, :meth:`~SqliteStore.expire`,
:meth:`~SqliteStore.save_node_id`, :meth:`~SqliteStore.save_contacts`, :meth:`~SqliteStore.set_meta`) is one
transaction that is committed before the call returns. The core sends a STORE acknowledgement only after
``put`` returns, so *an acknowledged record is on disk*.

The database runs in write-ahead-log mode (``PRAGMA journal_mode=WAL``). With ``synchronous="normal"`` (the
default) a committed transaction is in the WAL file in the operating system's page cache: it survives the
process crashing or being killed with SIGKILL, but the last transactions may be lost if the machine loses power
or the kernel crashes (the database itself stays consistent). With ``synchronous="full"`` every commit also
fsyncs the WAL, so it survives power failure and OS crashes too, at the cost of one fsync per commit.

Layout (schema version 2, kept in ``PRAGMA user_version``; a version-1 file is migrated in place by adding the
``items`` table)
----------------------------------------------------------
``records(key BLOB PRIMARY KEY, value BLOB, value_type TEXT, stored_at REAL, expires_at REAL, publisher BLOB)``
    ``key`` and ``publisher`` are 20-byte big-endian ids. ``value`` is stored by ``value_type``:
    ``"int"`` (INTEGER, for ``-2**63 <= v < 2**63``), ``"bigint"`` (TEXT, Python ``hex(v)``, for other ints),
    ``"bool"`` (INTEGER 0 or 1), ``"float"`` (8-byte big-endian IEEE 754 BLOB, so NaN and -0.0 round-trip
    bit-exactly), ``"str"`` (TEXT, UTF-8) and ``"bytes"`` (BLOB).
``contacts(node_id BLOB PRIMARY KEY, host TEXT, port INTEGER, last_seen REAL)``
    The last saved routing-table contacts, in the order they were saved.
``meta(name TEXT PRIMARY KEY, value BLOB)``
    Generic ``str`` or ``bytes`` values; the name ``"node_id"`` is reserved for the node's identity.
``items(hash BLOB PRIMARY KEY, name TEXT, tags TEXT, size INTEGER, path TEXT, added_at REAL)``
    The items the node shares for unstructured search (schema version 2): ``hash`` is the 32-byte sha256
    of the content, ``tags`` a JSON list of strings, ``path`` the local file (or NULL).

Rows that do not decode (a key that is not 20 bytes, an unknown ``value_type``, text that is not UTF-8, ...
because the file was edited by hand) are skipped by every read, never raised.

One data directory is meant to be used by one process at a time: the record count is cached in memory, so a
second writer on the same file would make :meth:`SqliteStore.__len__` stale (nothing else goes wrong).
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import stat
import struct
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import platformdirs

from .errors import ConfigError, P2PError
from .ids import ID_BYTES, ID_SPACE, id_to_bytes
from .search.catalogue import Item
from .store import Record
from .wire import Contact, Value, check_value

__all__ = [
    "DB_FILENAME",
    "SCHEMA_VERSION",
    "APPLICATION_ID",
    "PersistError",
    "UnknownSchema",
    "default_data_dir",
    "resolve_data_dir",
    "SqliteStore",
]

DB_FILENAME = "node.sqlite3"
"""Name of the database file inside a data directory."""
SCHEMA_VERSION = 2
"""Schema version this module writes and reads (``PRAGMA user_version``). Version 1 (no ``items`` table) is
migrated to 2 when opened."""
APPLICATION_ID = 0x70327031
"""``PRAGMA application_id`` marking a p2p state file (ASCII ``"p2p1"``)."""
NODE_ID_META = "node_id"
"""Meta name under which :meth:`SqliteStore.save_node_id` keeps the node id (20 bytes)."""

_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_FLOAT = struct.Struct(">d")
_SYNCHRONOUS = {"normal": "NORMAL", "full": "FULL"}

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS records (
        key BLOB PRIMARY KEY,
        value BLOB,
        value_type TEXT NOT NULL,
        stored_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        publisher BLOB
    )""",
    "CREATE INDEX IF NOT EXISTS records_expires_at ON records(expires_at)",
    """CREATE TABLE IF NOT EXISTS contacts (
        node_id BLOB PRIMARY KEY,
        host TEXT NOT NULL,
        port INTEGER NOT NULL,
        last_seen REAL NOT NULL
    )""",
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB)",
)

_SCHEMA_V2 = (
    """CREATE TABLE IF NOT EXISTS items (
        hash BLOB PRIMARY KEY,
        name TEXT NOT NULL,
        tags TEXT NOT NULL,
        size INTEGER NOT NULL,
        path TEXT,
        added_at REAL NOT NULL
    )""",
)

_RECORD_COLUMNS = "key, value, value_type, stored_at, expires_at, publisher"


class PersistError(P2PError):
    """The state file cannot be used: it is not a sqlite database, belongs to another application, is
    locked for longer than the busy timeout, or the store has been closed."""


class UnknownSchema(PersistError):
    """The state file was written by a newer version of p2p (its schema version is unknown to this one)."""


# ------------------------------------------------------------------------------------------ directories


def default_data_dir() -> Path:
    """The platform's default data directory of a node: ``platformdirs.user_data_dir("p2p") / "node"``.

    On Linux this is ``$XDG_DATA_HOME/p2p/node`` (``~/.local/share/p2p/node`` by default). Nothing is created.
    """
    return Path(platformdirs.user_data_dir("p2p")) / "node"


def resolve_data_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """Return the data directory to use, creating it if needed.

    Parameters
    ----------
    path : path-like or None
        The directory (``~`` is expanded); ``None`` means :func:`default_data_dir`.

    Returns
    -------
    Path
        The absolute directory. When it did not exist it is created (with missing parents) with permissions
        ``0700`` (owner only), whatever the umask; an existing directory's permissions are left as they are.

    Raises
    ------
    ConfigError
        If ``path`` exists and is not a directory, or cannot be created.
    """
    directory = default_data_dir() if path is None else Path(path).expanduser()
    directory = directory.absolute()
    if directory.exists():
        if not directory.is_dir():
            raise ConfigError(f"data dir: {directory} exists and is not a directory")
        return directory
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(directory, 0o700)  # mkdir's mode is masked by the umask
    except OSError as exc:
        raise ConfigError(f"data dir: cannot create {directory}: {exc}") from exc
    return directory


# ------------------------------------------------------------------------------------------ encoding


class _BadText:
    """Stands in for a TEXT cell that is not valid UTF-8, so the row is skipped instead of raising."""

    __slots__ = ("raw",)

    def __init__(self, raw: bytes) -> None:
        self.raw = raw


def _text_factory(raw: bytes) -> str | _BadText:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return _BadText(raw)


def _encode_value(value: Value) -> tuple[Any, str]:
    kind = type(value)
    if kind is bool:
        return int(value), "bool"
    if kind is int:
        if _INT64_MIN <= value <= _INT64_MAX:  # type: ignore[operator]
            return value, "int"
        return hex(value), "bigint"  # type: ignore[arg-type]
    if kind is float:
        return _FLOAT.pack(value), "float"
    if kind is str:
        return value, "str"
    return value, "bytes"  # check_value admitted only these five types


def _decode_value(raw: Any, kind: Any) -> Value | None:
    """The value a ``(value, value_type)`` cell pair stands for, or ``None`` if it does not decode."""
    if kind == "int":
        return raw if type(raw) is int else None
    if kind == "str":
        return raw if type(raw) is str else None
    if kind == "bytes":
        return raw if type(raw) is bytes else None
    if kind == "float":
        return _FLOAT.unpack(raw)[0] if type(raw) is bytes and len(raw) == _FLOAT.size else None
    if kind == "bool":
        return bool(raw) if type(raw) is int and raw in (0, 1) else None
    if kind == "bigint" and type(raw) is str:
        try:
            return int(raw, 16)
        except ValueError:
            return None
    return None


def _id_cell(raw: Any) -> int | None:
    if type(raw) is bytes and len(raw) == ID_BYTES:
        return int.from_bytes(raw, "big")
    return None


def _time_cell(raw: Any) -> float | None:
    if type(raw) in (int, float):
        return float(raw)
    return None


def _decode_record(row: tuple[Any, ...]) -> Record | None:
    raw_key, raw_value, kind, raw_stored, raw_expires, raw_publisher = row
    key = _id_cell(raw_key)
    value = _decode_value(raw_value, kind)
    stored_at = _time_cell(raw_stored)
    expires_at = _time_cell(raw_expires)
    if key is None or value is None or stored_at is None or expires_at is None:
        return None
    if raw_publisher is None:
        publisher = None
    else:
        publisher = _id_cell(raw_publisher)
        if publisher is None:
            return None
    return Record(key, value, stored_at, expires_at, publisher)


def _check_time(name: str, t: float) -> float:
    if type(t) not in (int, float) or math.isnan(t):
        raise ValueError(f"{name} must be a number of seconds, not {t!r}")
    return float(t)


def _key_bytes(key: int) -> bytes | None:
    """20-byte form of ``key``, or ``None`` when no record can be stored under it."""
    if type(key) is not int or not 0 <= key < ID_SPACE:
        return None
    return key.to_bytes(ID_BYTES, "big")


# ------------------------------------------------------------------------------------------ the store


class SqliteStore:
    """A :class:`p2p.store.RecordStore` in sqlite, plus the node's identity, contacts and metadata.

    Build it with :meth:`open`; close it with :meth:`close` or use it as a context manager. All methods are
    synchronous and thread-safe (one internal lock); each mutating method commits before returning.

    Errors
    ------
    Every method raises :class:`PersistError` once the store is closed, and :class:`sqlite3.Error` for I/O
    failures of the underlying database (disk full, file deleted, locked past the busy timeout, ...); a
    failed mutating call leaves the store as it was.
    """

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        """Wrap an already configured connection; use :meth:`open` instead."""
        self._conn: sqlite3.Connection | None = conn
        self._path = path
        self._lock = threading.Lock()
        self._count: int = conn.execute("SELECT COUNT(*) FROM records").fetchone()[0]

    # ---------------------------------------------------------------------------------- lifecycle

    @classmethod
    def open(
        cls,
        data_dir: str | os.PathLike[str],
        *,
        synchronous: str = "normal",
        busy_timeout: float = 5.0,
    ) -> SqliteStore:
        """Open (creating if needed) ``data_dir / "node.sqlite3"``.

        Parameters
        ----------
        data_dir : path-like
            The node's data directory; created with permissions ``0700`` if missing (see
            :func:`resolve_data_dir`). A new database file is created with permissions ``0600``.
        synchronous : {"normal", "full"}
            ``"normal"``: a committed transaction survives a process crash or SIGKILL but may be lost on power
            failure or OS crash. ``"full"``: it survives those too, at the cost of an fsync per commit.
        busy_timeout : float
            Seconds to wait for a lock held by another connection before failing.

        Returns
        -------
        SqliteStore

        Raises
        ------
        ConfigError
            If ``synchronous`` is not ``"normal"`` or ``"full"``, ``busy_timeout`` is negative, or the data
            directory cannot be created.
        UnknownSchema
            If the file was written by a newer p2p (its ``user_version`` is above :data:`SCHEMA_VERSION`).
        PersistError
            If the file is not a sqlite database, belongs to another application, cannot be switched to WAL
            mode (e.g. some network file systems), or cannot be opened.
        """
        level = _SYNCHRONOUS.get(synchronous)
        if level is None:
            raise ConfigError(f"synchronous: must be 'normal' or 'full', not {synchronous!r}")
        if not busy_timeout >= 0:
            raise ConfigError(f"busy_timeout: must be >= 0 seconds, not {busy_timeout!r}")
        directory = resolve_data_dir(data_dir)
        path = directory / DB_FILENAME
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, stat.S_IRUSR | stat.S_IWUSR)
            os.close(fd)
        except OSError as exc:
            raise PersistError(f"cannot create {path}: {exc}") from exc
        try:
            conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise PersistError(f"cannot open {path}: {exc}") from exc
        try:
            conn.text_factory = _text_factory  # type: ignore[assignment]
            _configure(conn, path, level, busy_timeout)
            return cls(conn, path)
        except BaseException:
            conn.close()
            raise

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._conn is None

    def close(self) -> None:
        """Close the database (idempotent). Later calls of other methods raise :class:`PersistError`."""
        with self._lock:
            if self._conn is not None:
                conn, self._conn = self._conn, None
                conn.close()

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._conn is None else f"{self._count} records"
        return f"<SqliteStore {str(self._path)!r} {state}>"

    def _c(self) -> sqlite3.Connection:
        if self._conn is None:
            raise PersistError(f"store {self._path} is closed")
        return self._conn

    # ---------------------------------------------------------------------------------- records

    def get(self, key: int) -> Record | None:
        """The record under ``key``, or ``None`` (also for a key outside ``[0, 2**160)`` or a bad row)."""
        raw = _key_bytes(key)
        if raw is None:
            return None
        with self._lock:
            row = self._c().execute(f"SELECT {_RECORD_COLUMNS} FROM records WHERE key = ?", (raw,)).fetchone()
        return None if row is None else _decode_record(row)

    def put(self, record: Record) -> None:
        """Insert or replace the record under ``record.key``, committed (durable) when it returns.

        Times are stored as floats, so a record put with ``int`` times comes back with equal ``float`` ones.

        Raises
        ------
        ValueError
            If ``record.key`` or ``record.publisher`` is outside ``[0, 2**160)``, or a time is not a number
            (or NaN).
        p2p.errors.InvalidValue
            If ``record.value`` is not an int, float, bool, str or bytes.
        """
        key = id_to_bytes(record.key)
        value, kind = _encode_value(check_value(record.value))
        publisher = None if record.publisher is None else id_to_bytes(record.publisher)
        stored_at = _check_time("stored_at", record.stored_at)
        expires_at = _check_time("expires_at", record.expires_at)
        with self._lock:
            conn = self._c()
            with _transaction(conn):
                inserted = (
                    conn.execute(
                        f"INSERT INTO records ({_RECORD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) "
                        "ON CONFLICT(key) DO NOTHING",
                        (key, value, kind, stored_at, expires_at, publisher),
                    ).rowcount
                    == 1
                )
                if not inserted:
                    conn.execute(
                        "UPDATE records SET value = ?, value_type = ?, stored_at = ?, expires_at = ?, "
                        "publisher = ? WHERE key = ?",
                        (value, kind, stored_at, expires_at, publisher, key),
                    )
            if inserted:
                self._count += 1

    def delete(self, key: int) -> bool:
        """Remove the record under ``key`` (committed on return); ``True`` if there was one."""
        raw = _key_bytes(key)
        if raw is None:
            return False
        with self._lock:
            removed = self._c().execute("DELETE FROM records WHERE key = ?", (raw,)).rowcount
            self._count -= removed
        return removed > 0

    def expire(self, now: float) -> int:
        """Remove every record with ``expires_at <= now`` (seconds) in one statement; return how many."""
        with self._lock:
            removed = self._c().execute("DELETE FROM records WHERE expires_at <= ?", (now,)).rowcount
            self._count -= removed
        return removed

    def __len__(self) -> int:
        """Number of record rows (cached; counts a hand-damaged row that iteration skips)."""
        self._c()
        return self._count

    def __iter__(self) -> Iterator[Record]:
        """All records, read into a list first (a snapshot); rows that do not decode are skipped."""
        return iter(self.records())

    def records(self) -> list[Record]:
        """All records as a list, in key order; rows that do not decode are skipped."""
        with self._lock:
            rows = self._c().execute(f"SELECT {_RECORD_COLUMNS} FROM records ORDER BY key").fetchall()
        return [r for r in map(_decode_record, rows) if r is not None]

    # ---------------------------------------------------------------------------------- identity

    def load_node_id(self) -> int | None:
        """The saved node id, or ``None`` if none was saved (or the saved one is not 20 bytes)."""
        return _id_cell(self.get_meta(NODE_ID_META))

    def save_node_id(self, node_id: int) -> None:
        """Save the node id (committed on return), replacing any saved one.

        Raises
        ------
        ValueError
            If ``node_id`` is outside ``[0, 2**160)``.
        """
        self.set_meta(NODE_ID_META, id_to_bytes(node_id))

    # ---------------------------------------------------------------------------------- contacts

    def load_contacts(self) -> list[Contact]:
        """The contacts last saved, in the order they were saved; bad rows are skipped."""
        with self._lock:
            rows = self._c().execute("SELECT node_id, host, port FROM contacts ORDER BY rowid").fetchall()
        out = []
        for raw_id, host, port in rows:
            node_id = _id_cell(raw_id)
            if node_id is None or type(host) is not str or not host:
                continue
            if type(port) is not int or not 0 < port < 65536:
                continue
            out.append(Contact(node_id, host, port))
        return out

    def save_contacts(self, contacts: Iterable[Contact], now: float) -> None:
        """Replace the whole saved set of contacts in one transaction (committed on return).

        Parameters
        ----------
        contacts : iterable of Contact
            The contacts to keep; when one node id occurs twice the later contact wins.
        now : float
            Stored as every contact's ``last_seen``, in seconds.

        Raises
        ------
        ValueError
            If a node id is outside ``[0, 2**160)`` or a port outside ``1..65535``; nothing is changed then.
        """
        rows = []
        for c in contacts:
            if type(c.port) is not int or not 0 < c.port < 65536:
                raise ValueError(f"port out of range 1..65535: {c.port!r}")
            rows.append((id_to_bytes(c.node_id), str(c.host), c.port, float(now)))
        with self._lock:
            conn = self._c()
            with _transaction(conn):
                conn.execute("DELETE FROM contacts")
                conn.executemany(
                    "INSERT OR REPLACE INTO contacts (node_id, host, port, last_seen) VALUES (?, ?, ?, ?)",
                    rows,
                )

    # ---------------------------------------------------------------------------------- meta

    def get_meta(self, name: str) -> bytes | str | None:
        """The value saved under ``name``, or ``None`` (also when the stored cell is neither str nor bytes)."""
        with self._lock:
            row = self._c().execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        if row is None or type(row[0]) not in (bytes, str):
            return None
        return row[0]

    def set_meta(self, name: str, value: bytes | str) -> None:
        """Save ``value`` under ``name`` (committed on return), replacing any earlier value.

        Raises
        ------
        TypeError
            If ``name`` is not a str or ``value`` is neither str nor bytes (``bytearray`` and ``memoryview``
            are stored as bytes).
        """
        if type(name) is not str:
            raise TypeError(f"a meta name is a str, not {type(name).__name__}")
        if isinstance(value, bytearray | memoryview):
            value = bytes(value)
        if type(value) not in (bytes, str):
            raise TypeError(f"a meta value is str or bytes, not {type(value).__name__}")
        with self._lock:
            self._c().execute(
                "INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                (name, value),
            )

    def delete_meta(self, name: str) -> bool:
        """Remove the value saved under ``name`` (committed on return); ``True`` if there was one."""
        with self._lock:
            return self._c().execute("DELETE FROM meta WHERE name = ?", (name,)).rowcount > 0


    # ---------------------------------------------------------------------------------- shared items

    def save_item(self, item: Item, now: float) -> None:
        """Insert or replace a shared item (committed on return)."""
        with self._lock:
            self._c().execute(
                "INSERT OR REPLACE INTO items (hash, name, tags, size, path, added_at) VALUES (?, ?, ?, ?, ?, ?)",
                (item.content_hash, item.name, json.dumps(list(item.tags)), item.size, item.path, float(now)),
            )

    def delete_item(self, content_hash: bytes) -> bool:
        """Remove a shared item (committed on return); ``True`` if there was one."""
        with self._lock:
            return self._c().execute("DELETE FROM items WHERE hash = ?", (content_hash,)).rowcount > 0

    def load_items(self) -> list[Item]:
        """The shared items, in the order they were added; rows that do not decode are skipped."""
        with self._lock:
            rows = self._c().execute("SELECT hash, name, tags, size, path FROM items ORDER BY added_at, rowid").fetchall()
        out = []
        for raw_hash, name, tags, size, path in rows:
            try:
                parsed = json.loads(tags) if type(tags) is str else None
                if type(parsed) is not list or (path is not None and type(path) is not str):
                    continue
                out.append(Item(name, raw_hash, size, tuple(parsed), path))
            except (ValueError, TypeError, P2PError):
                continue
        return out


# ------------------------------------------------------------------------------------------ helpers


class _transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back if the body (or the commit) raises."""

    __slots__ = ("_conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            try:
                self._conn.execute("COMMIT")
                return
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")


def _configure(conn: sqlite3.Connection, path: Path, level: str, busy_timeout: float) -> None:
    """Check the file is ours and not newer, switch to WAL, set durability, create or check the schema."""
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise PersistError(f"{path} is not a usable sqlite database: {exc}") from exc
    _check_identity(path, version, app_id)
    try:
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        conn.execute(f"PRAGMA synchronous = {level}")
        with _transaction(conn):
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            _check_identity(path, version, app_id)
            if version == 0:
                for statement in _SCHEMA + _SCHEMA_V2:
                    conn.execute(statement)
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            elif version == 1:  # migration 1 -> 2: the shared items of unstructured search
                for statement in _SCHEMA_V2:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except sqlite3.OperationalError as exc:
        raise PersistError(f"cannot initialise {path}: {exc}") from exc
    if str(mode).lower() != "wal":
        raise PersistError(f"{path}: cannot switch to WAL journal mode (got {mode!r})")


def _check_identity(path: Path, version: int, app_id: int) -> None:
    if app_id not in (0, APPLICATION_ID):
        raise PersistError(f"{path} belongs to another application (application_id {app_id:#x})")
    if version > SCHEMA_VERSION:
        raise UnknownSchema(
            f"{path} has schema version {version}, newer than {SCHEMA_VERSION} which this p2p knows; "
            "upgrade p2p or use another data dir"
        )
