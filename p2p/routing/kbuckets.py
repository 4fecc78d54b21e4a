"""Kademlia routing table: k-buckets in LRU order with replacement caches (layer L2).

The table is a data structure and performs no I/O. When a contact arrives for a full bucket, :meth:`update`
returns the bucket's least-recently seen contact: the core pings it (an effect) and reports the outcome with
:meth:`ping_result`; a live oldest contact stays (the paper's preference for long-lived nodes), a dead one is
replaced by the most recent entry of the replacement cache.

Buckets are indexed by the position of the highest differing bit, as in rust-libp2p's ``kbucket`` module:
bucket ``i`` holds the contacts at XOR distance in ``[2**i, 2**(i+1))``. This is the fully split form of the
paper's bucket tree.

References
----------
Maymounkov & Mazières, IPTPS 2002: §2.2 (k-buckets, LRU order, ping-before-evict), §2.3 (refresh),
§4.1 (replacement cache, not removing a contact on one failure).
"""

from __future__ import annotations

import bisect
from collections import OrderedDict

from ..ids import ID_BITS, bucket_index
from ..wire import Contact

__all__ = ["KBucket", "RoutingTable"]

MAX_FAILURES = 3
"""Failed requests after which a contact is dropped even when no replacement is waiting (paper §4.1)."""


class KBucket:
    """One k-bucket: up to k contacts, least-recently seen first, plus a replacement cache."""

    __slots__ = ("contacts", "replacements", "pending", "failures", "last_lookup", "last_seen")

    def __init__(self) -> None:
        self.contacts: OrderedDict[int, Contact] = OrderedDict()
        self.replacements: OrderedDict[int, Contact] = OrderedDict()
        self.pending: int | None = None
        self.failures: dict[int, int] = {}
        self.last_lookup = 0.0
        self.last_seen: dict[int, float] = {}


class RoutingTable:
    """The 160 k-buckets of one node.

    Parameters
    ----------
    own_id : int
        This node's id; it is never added to its own table.
    k : int
        Bucket capacity.
    replacement_cache_size : int
        Replacement contacts kept per bucket.
    now : float
        Creation time in seconds (buckets count as looked-up at this time).
    questionable_after : float
        Seconds without hearing from a contact after which it is *questionable* (BEP 5): only then is the
        oldest contact of a full bucket pinged before a newcomer is turned away. A contact heard from more
        recently is known good, and the newcomer just waits in the replacement cache.
    """

    def __init__(
        self,
        own_id: int,
        k: int = 20,
        replacement_cache_size: int = 8,
        now: float = 0.0,
        questionable_after: float = 900.0,
    ) -> None:
        self.own_id = own_id
        self.k = k
        self.replacement_cache_size = replacement_cache_size
        self.questionable_after = questionable_after
        self._buckets: dict[int, KBucket] = {}
        self._indices: list[int] = []  # sorted keys of _buckets
        self._created = now
        self._size = 0

    # -------------------------------------------------------------------------------------- updates

    def _bucket(self, index: int) -> KBucket:
        b = self._buckets.get(index)
        if b is None:
            b = self._buckets[index] = KBucket()
            b.last_lookup = self._created
            bisect.insort(self._indices, index)
        return b

    def update(self, contact: Contact, now: float = 0.0) -> tuple[bool, Contact | None]:
        """Record that ``contact`` was seen at ``now`` (it sent us a request or answered one).

        Returns
        -------
        added : bool
            ``True`` if the contact is new in the table.
        ping : Contact or None
            The bucket's least-recently seen contact when the bucket is full, that contact is questionable
            and no ping is already out for the bucket: the caller must ping it and call :meth:`ping_result`.
            ``contact`` waits in the replacement cache meanwhile.
        """
        node_id = contact.node_id
        if node_id == self.own_id:
            return False, None
        b = self._bucket(bucket_index(self.own_id, node_id))
        known = b.contacts.get(node_id)
        if known is not None:
            # First address wins: a contact is re-addressed only after it failed and was dropped.
            b.contacts.move_to_end(node_id)
            b.failures.pop(node_id, None)
            b.last_seen[node_id] = now
            b.last_lookup = max(b.last_lookup, now)
            return False, None
        if len(b.contacts) < self.k:
            b.contacts[node_id] = contact
            b.last_seen[node_id] = now
            b.last_lookup = max(b.last_lookup, now)
            b.replacements.pop(node_id, None)
            self._size += 1
            return True, None
        if self.replacement_cache_size:
            b.replacements[node_id] = contact
            b.replacements.move_to_end(node_id)
            while len(b.replacements) > self.replacement_cache_size:
                b.replacements.popitem(last=False)
        if b.pending is None:
            oldest = next(iter(b.contacts.values()))
            if now - b.last_seen.get(oldest.node_id, now) >= self.questionable_after:
                b.pending = oldest.node_id
                return False, oldest
        return False, None

    def ping_result(self, node_id: int, alive: bool) -> Contact | None:
        """Report the outcome of a ping asked for by :meth:`update`.

        Returns
        -------
        Contact or None
            The replacement promoted into the bucket when the pinged contact was dead.
        """
        b = self._buckets.get(bucket_index(self.own_id, node_id))
        if b is None or b.pending != node_id:
            return None
        b.pending = None
        if alive:
            if node_id in b.contacts:
                b.contacts.move_to_end(node_id)
                b.last_seen[node_id] = max(b.last_seen.get(node_id, 0.0), self._latest(b))
            return None
        return self._remove(b, node_id)

    def fail(self, node_id: int) -> Contact | None:
        """Report that a request to ``node_id`` failed after all retries.

        The contact is dropped when a replacement is waiting or after :data:`MAX_FAILURES` failures.

        Returns
        -------
        Contact or None
            The replacement promoted, if any.
        """
        b = self._buckets.get(bucket_index(self.own_id, node_id))
        if b is None or node_id not in b.contacts:
            return None
        count = b.failures.get(node_id, 0) + 1
        if b.replacements or count >= MAX_FAILURES:
            return self._remove(b, node_id)
        b.failures[node_id] = count
        return None

    def remove(self, node_id: int) -> None:
        """Drop ``node_id`` at once (for example when its address was found to be wrong)."""
        b = self._buckets.get(bucket_index(self.own_id, node_id))
        if b is not None and node_id in b.contacts:
            self._remove(b, node_id)

    def _remove(self, b: KBucket, node_id: int) -> Contact | None:
        if b.contacts.pop(node_id, None) is None:
            return None
        self._size -= 1
        b.failures.pop(node_id, None)
        b.last_seen.pop(node_id, None)
        if b.pending == node_id:
            b.pending = None
        if b.replacements:
            _, repl = b.replacements.popitem(last=True)
            b.contacts[repl.node_id] = repl
            b.last_seen[repl.node_id] = self._latest(b)
            self._size += 1
            return repl
        return None

    @staticmethod
    def _latest(b: KBucket) -> float:
        return max(b.last_seen.values(), default=0.0)

    # -------------------------------------------------------------------------------------- queries

    def get(self, node_id: int) -> Contact | None:
        """The contact with ``node_id``, or ``None``."""
        b = self._buckets.get(bucket_index(self.own_id, node_id))
        return None if b is None else b.contacts.get(node_id)

    def closest(self, target: int, count: int, exclude: int | None = None) -> list[Contact]:
        """The ``count`` contacts closest to ``target`` by XOR distance, closest first (``exclude`` left out).

        Visits buckets in distance order instead of sorting the whole table: with ``b`` the bucket of
        ``target``, bucket ``b`` holds every contact at distance ``< 2**b`` from the target, the buckets
        below ``b`` hold those in ``[2**b, 2**(b+1))``, and each bucket ``i > b`` those in
        ``[2**i, 2**(i+1))``.
        """
        buckets = self._buckets
        b = (self.own_id ^ target).bit_length() - 1
        near: list[Contact] = []
        for i in self._indices:
            if i > b:
                break
            near.extend(buckets[i].contacts.values())
        if exclude is not None:
            near = [c for c in near if c.node_id != exclude]

        def distance(c: Contact) -> int:
            return c.node_id ^ target

        near.sort(key=distance)
        if len(near) >= count:
            return near[:count]
        for i in self._indices[bisect.bisect_right(self._indices, b):]:
            group = [c for c in buckets[i].contacts.values() if c.node_id != exclude]
            group.sort(key=distance)
            near.extend(group)
            if len(near) >= count:
                break
        return near[:count]

    def occupancy_mask(self, exclude: int | None = None) -> int:
        """Bit ``i`` set iff bucket ``i`` has a contact (not counting ``exclude``).

        This node is closer to ``key`` than every contact iff ``occupancy_mask() & (own_id ^ key) == 0``:
        with ``d = own_id ^ key`` and ``b`` its top bit, the contacts closer to ``key`` than this node are
        exactly those in bucket ``b`` and in the buckets ``i < b`` where bit ``i`` of ``d`` is set.
        """
        mask = 0
        for i, b in self._buckets.items():
            n = len(b.contacts)
            if exclude is not None and n == 1 and exclude in b.contacts:
                continue
            if n:
                mask |= 1 << i
        return mask

    def contacts(self) -> list[Contact]:
        """Every contact, bucket by bucket (lowest index first), least-recently seen first within a bucket."""
        return [c for i in sorted(self._buckets) for c in self._buckets[i].contacts.values()]

    def bucket_sizes(self) -> dict[int, int]:
        """``{bucket index: contact count}`` for the non-empty buckets."""
        return {i: len(b.contacts) for i, b in sorted(self._buckets.items()) if b.contacts}

    def __len__(self) -> int:
        return self._size

    def __contains__(self, node_id: int) -> bool:
        return self.get(node_id) is not None

    # -------------------------------------------------------------------------------------- refresh

    def touch(self, target: int, now: float) -> None:
        """Note that a lookup for ``target`` ran at ``now`` (it refreshes the target's bucket, §2.3)."""
        index = bucket_index(self.own_id, target)
        if index >= 0:
            self._bucket(index).last_lookup = now

    def stale_buckets(self, now: float, interval: float) -> list[int]:
        """Buckets due for refresh: no lookup in their range and no change within ``interval`` seconds.

        A bucket counts as fresh when a lookup targeted its range (paper §2.3) or when one of its contacts
        was added or heard from (BEP 5's "last changed"): traffic through a bucket keeps it fresh, so
        refresh lookups are only spent on quiet buckets.

        Only buckets from the closest non-empty one outward count: closer buckets are empty because nodes
        that close are unlikely to exist (paper §2.3 refreshes buckets "further away than its closest
        neighbor" on join).
        """
        if not self._size:
            return []
        lowest = min(i for i, b in self._buckets.items() if b.contacts)
        due = []
        for i in range(lowest, ID_BITS):
            b = self._buckets.get(i)
            last = self._created if b is None else b.last_lookup
            if now - last >= interval:
                due.append(i)
        return due
