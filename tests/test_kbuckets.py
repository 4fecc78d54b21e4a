"""Unit tests of the routing table (p2p.routing.kbuckets): LRU order, ping-before-evict only for questionable
contacts, replacement caches, failures, closest() against a brute-force sort, stale buckets."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from p2p.ids import bucket_index
from p2p.routing.kbuckets import MAX_FAILURES, RoutingTable
from p2p.wire import Contact

OWN = 0
K = 3


def c(node_id: int) -> Contact:
    return Contact(node_id, "10.0.0.1", 1000 + node_id % 60000)


def in_bucket(i: int, n: int) -> list[Contact]:
    """``n`` distinct contacts in bucket ``i`` of ``OWN`` (XOR distance in [2**i, 2**(i+1)))."""
    return [c((1 << i) | j) for j in range(n)]


def ids(contacts) -> list[int]:
    return [x.node_id for x in contacts]


def table(**kw) -> RoutingTable:
    kw.setdefault("questionable_after", 100.0)
    return RoutingTable(OWN, K, kw.pop("replacement_cache_size", 2), 0.0, **kw)


def test_own_id_never_added():
    t = table()
    assert t.update(c(OWN), 1.0) == (False, None)
    assert len(t) == 0


def test_lru_order_and_move_to_end():
    t = table()
    a, b, d = in_bucket(10, 3)
    for x in (a, b, d):
        assert t.update(x, 1.0) == (True, None)
    assert ids(t.contacts()) == ids([a, b, d])
    assert t.update(a, 2.0) == (False, None)  # seen again: most recently seen
    assert ids(t.contacts()) == ids([b, d, a])
    assert len(t) == 3 and a.node_id in t and t.get(a.node_id) == a


def test_first_address_wins():
    t = table()
    (a,) = in_bucket(5, 1)
    t.update(a, 1.0)
    t.update(Contact(a.node_id, "10.9.9.9", 9), 2.0)
    assert t.get(a.node_id) == a


def test_full_bucket_pings_only_questionable_oldest():
    t = table()
    a, b, d, e, f = in_bucket(20, 5)
    for x in (a, b, d):
        t.update(x, 0.0)
    # The oldest was heard from recently: no ping, the newcomer waits in the replacement cache.
    assert t.update(e, 50.0) == (False, None)
    assert e.node_id not in t
    # Once questionable (silent for >= questionable_after), the oldest is pinged; one ping per bucket at a time.
    assert t.update(f, 100.0) == (False, a)
    assert t.update(c(e.node_id), 101.0) == (False, None)  # ping already pending
    assert ids(t.contacts()) == ids([a, b, d])


def test_ping_result_alive_keeps_the_oldest():
    t = table()
    a, b, d, e = in_bucket(20, 4)
    for x in (a, b, d):
        t.update(x, 0.0)
    assert t.update(e, 200.0) == (False, a)
    assert t.ping_result(a.node_id, alive=True) is None
    assert ids(t.contacts()) == ids([b, d, a])  # alive: most recently seen, newcomer stays out
    assert e.node_id not in t
    assert t.ping_result(a.node_id, alive=True) is None  # no ping pending any more: ignored
    # a is no longer questionable right away; b (still silent since 0) is the next to be pinged.
    assert t.update(c((1 << 20) | 77), 201.0) == (False, b)


def test_ping_result_dead_promotes_most_recent_replacement():
    t = table(replacement_cache_size=2)
    a, b, d, e, f, g = in_bucket(30, 6)
    for x in (a, b, d):
        t.update(x, 0.0)
    assert t.update(e, 200.0) == (False, a)
    t.update(f, 201.0)
    t.update(g, 202.0)  # cache holds 2: e is pushed out
    promoted = t.ping_result(a.node_id, alive=False)
    assert promoted == g  # the most recently seen replacement
    assert ids(t.contacts()) == ids([b, d, g])
    assert len(t) == 3
    assert t.ping_result(a.node_id, alive=False) is None  # stale report ignored
    assert ids(t.contacts()) == ids([b, d, g])


def test_ping_result_dead_without_replacement_just_removes():
    t = table(replacement_cache_size=0)
    a, b, d, e = in_bucket(30, 4)
    for x in (a, b, d):
        t.update(x, 0.0)
    assert t.update(e, 500.0) == (False, a)
    assert t.ping_result(a.node_id, alive=False) is None
    assert ids(t.contacts()) == ids([b, d])
    assert t.update(e, 501.0) == (True, None)  # room again


def test_fail_without_replacement_needs_max_failures():
    t = table()
    a, b = in_bucket(7, 2)
    t.update(a, 0.0)
    t.update(b, 0.0)
    for _ in range(MAX_FAILURES - 1):
        assert t.fail(a.node_id) is None
        assert a.node_id in t
    assert t.fail(a.node_id) is None
    assert a.node_id not in t and len(t) == 1
    assert t.fail(a.node_id) is None  # unknown: nothing happens
    assert t.fail(123456789) is None


def test_fail_count_resets_when_seen():
    t = table()
    (a,) = in_bucket(7, 1)
    t.update(a, 0.0)
    for _ in range(MAX_FAILURES - 1):
        t.fail(a.node_id)
    t.update(a, 1.0)  # it answered after all
    for _ in range(MAX_FAILURES - 1):
        t.fail(a.node_id)
    assert a.node_id in t


def test_fail_with_replacement_replaces_at_once():
    t = table()
    a, b, d, e = in_bucket(40, 4)
    for x in (a, b, d):
        t.update(x, 0.0)
    t.update(e, 1.0)  # waits in the replacement cache (a not questionable)
    assert t.fail(b.node_id) == e
    assert ids(t.contacts()) == ids([a, d, e])
    assert len(t) == 3


def test_remove():
    t = table()
    a, b = in_bucket(3, 2)
    t.update(a, 0.0)
    t.update(b, 0.0)
    t.remove(a.node_id)
    t.remove(a.node_id)
    assert ids(t.contacts()) == [b.node_id] and len(t) == 1


def test_bucket_sizes_and_contacts_order():
    t = table()
    for x in in_bucket(9, 2) + in_bucket(2, 1) + in_bucket(150, 3):
        t.update(x, 0.0)
    assert t.bucket_sizes() == {2: 1, 9: 2, 150: 3}
    assert [bucket_index(OWN, x) for x in ids(t.contacts())] == [2, 9, 9, 150, 150, 150]


@settings(deadline=None, derandomize=True, max_examples=150)
@given(
    own=st.integers(0, (1 << 160) - 1),
    others=st.lists(st.integers(0, (1 << 160) - 1), max_size=120),
    target=st.integers(0, (1 << 160) - 1),
    count=st.integers(1, 30),
)
def test_closest_matches_brute_force(own, others, target, count):
    t = RoutingTable(own, 8, 0, 0.0)
    for x in others:
        t.update(c(x), 0.0)
    everyone = t.contacts()
    assert len(everyone) == len(t) <= len(set(others))
    for bucket in t.bucket_sizes().values():
        assert bucket <= 8
    expected = sorted(everyone, key=lambda x: x.node_id ^ target)[:count]
    assert t.closest(target, count) == expected
    if everyone:
        excl = everyone[0].node_id
        expected = sorted((x for x in everyone if x.node_id != excl), key=lambda x: x.node_id ^ target)[
            :count
        ]
        assert t.closest(target, count, exclude=excl) == expected


def test_table_never_exceeds_k_per_bucket():
    rng = random.Random(1)
    t = RoutingTable(rng.getrandbits(160), 4, 3, 0.0, questionable_after=1.0)
    now = 0.0
    for _ in range(5000):
        now += 0.5
        added, ping = t.update(c(rng.getrandbits(160)), now)
        if ping is not None:
            t.ping_result(ping.node_id, alive=rng.random() < 0.5)
    assert all(n <= 4 for n in t.bucket_sizes().values())
    assert len(t) == sum(t.bucket_sizes().values()) <= 160 * 4


def test_stale_buckets_and_touch():
    t = RoutingTable(OWN, K, 2, 0.0)
    assert t.stale_buckets(10_000.0, 3600.0) == []  # empty table: nothing to refresh
    t.update(in_bucket(150, 1)[0], 0.0)
    # From the closest non-empty bucket (150) outwards.
    assert t.stale_buckets(3599.0, 3600.0) == []
    assert t.stale_buckets(3600.0, 3600.0) == list(range(150, 160))
    t.touch((1 << 155) | 5, 3000.0)  # a lookup in bucket 155 refreshes it
    assert t.stale_buckets(3600.0, 3600.0) == [150, 151, 152, 153, 154, 156, 157, 158, 159]
    assert 155 in t.stale_buckets(6600.0, 3600.0)
    t.update(in_bucket(100, 1)[0], 4000.0)  # a closer neighbour widens the range ...
    stale = t.stale_buckets(4000.0, 3600.0)
    # ... and, added just now, freshens its own bucket (BEP 5 "last changed")
    assert stale[0] == 101 and 100 not in stale and 155 not in stale and len(stale) == 60 - 2
    assert 100 in t.stale_buckets(7600.0, 3600.0)
    t.touch(OWN, 5000.0)  # the own id has no bucket: ignored
