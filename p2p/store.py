"""Record store protocol and the in-memory store (layer L2).

A store is a data structure: it never sends anything. The core calls it synchronously, so an implementation
that writes to disk (:class:`p2p.persist.SqliteStore`) makes a record durable *before* ``put`` returns, and
the core sends the STORE acknowledgement only after that (DESIGN.md §7).

Times are the core's clock, in seconds (the drivers pass wall-clock epoch seconds on real networks, so expiry
survives restarts; virtual seconds in simulation).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from .wire import Value

__all__ = ["Record", "RecordStore", "MemoryStore"]


@dataclass(frozen=True, slots=True)
class Record:
    """One stored key/value pair.

    Parameters
    ----------
    key : int
        160-bit key id (``sha1`` of the user's key).
    value : Value
        int, float, bool, str or bytes.
    stored_at : float
        When this node last received (or made) a STORE for it, in seconds.
    expires_at : float
        When it is dropped unless stored again, in seconds.
    publisher : int or None
        Node id of the original publisher when this node published it itself (then the node republishes it
        every ``republish_interval``); ``None`` for records held on behalf of others.
    """

    key: int
    value: Value
    stored_at: float
    expires_at: float
    publisher: int | None = None


@runtime_checkable
class RecordStore(Protocol):
    """What the core needs from a record store."""

    def get(self, key: int) -> Record | None:
        """The record under ``key``, or ``None``."""

    def put(self, record: Record) -> None:
        """Insert or replace the record under ``record.key``; durable when it returns."""

    def delete(self, key: int) -> bool:
        """Remove the record; ``True`` if there was one."""

    def expire(self, now: float) -> int:
        """Remove every record with ``expires_at <= now``; return how many were removed."""

    def __len__(self) -> int:
        """Number of records."""

    def __iter__(self) -> Iterator[Record]:
        """All records (a snapshot: the store may be changed while iterating)."""


class MemoryStore:
    """A :class:`RecordStore` in a dict: for simulations, tests and ephemeral nodes."""

    def __init__(self) -> None:
        self._records: dict[int, Record] = {}

    def get(self, key: int) -> Record | None:
        return self._records.get(key)

    def put(self, record: Record) -> None:
        self._records[record.key] = record

    def delete(self, key: int) -> bool:
        return self._records.pop(key, None) is not None

    def expire(self, now: float) -> int:
        dead = [k for k, r in self._records.items() if r.expires_at <= now]
        for k in dead:
            del self._records[k]
        return len(dead)

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[Record]:
        return iter(list(self._records.values()))
