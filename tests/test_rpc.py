"""Unit tests of the RPC layer (p2p.rpc): XIDs, retransmissions with the same bytes, timeouts, reply matching,
and the server-side reply cache (hit, pending, expiry by age and by size)."""

from __future__ import annotations

import math
import random

from p2p.config import RPCConfig
from p2p.rpc import CACHE_NEW, CACHE_PENDING, ReplyCache, RPCClient
from p2p.wire import FindNode, Ping, PingReply, Store, StoreReply, decode, encode_request

ADDR = ("10.0.0.1", 4000)
CFG = RPCConfig(timeout=1.0, retries=2, reply_cache_ttl=10.0, reply_cache_size=4, max_outstanding=3)


def client(seed: int = 1, config: RPCConfig = CFG) -> RPCClient:
    return RPCClient(config, random.Random(seed))


def test_request_frames_with_fresh_xid():
    rpc = client()
    a = rpc.request(0.0, ADDR, Ping(5), "owner", 5)
    b = rpc.request(0.0, ADDR, Ping(5), "owner", 5)
    assert a.xid != b.xid and len(a.xid) == 20
    assert a.data == encode_request(a.xid, Ping(5))
    assert decode(a.data).xid == a.xid
    assert a.deadline == 1.0 and a.attempts == 1 and a.sent_at == 0.0
    assert len(rpc) == 2 and rpc.requests_sent == 2
    # XIDs come from the injected RNG: same seed, same XIDs.
    assert client().request(0.0, ADDR, Ping(5), None).xid == a.xid


def test_retransmission_reuses_xid_and_bytes_then_times_out():
    rpc = client()
    o = rpc.request(0.0, ADDR, FindNode(1, 2), "q", 9)
    assert rpc.next_deadline() == 1.0
    assert rpc.poll(0.999) == ([], [])
    seen = []
    t = 1.0
    for attempt in (2, 3):
        retransmit, failed = rpc.poll(t)
        assert failed == [] and retransmit == [o]
        assert o.attempts == attempt
        seen.append(retransmit[0].data)
        assert rpc.next_deadline() == t + 1.0
        t += 1.0
    assert seen == [o.data, o.data]
    assert decode(seen[0]).xid == o.xid
    retransmit, failed = rpc.poll(t)
    assert retransmit == [] and failed == [o]
    assert o.done and len(rpc) == 0
    assert rpc.retransmissions == 2 and rpc.timeouts == 1
    assert rpc.next_deadline() == math.inf
    assert rpc.on_response(ADDR, o.xid, o.message.sender.to_bytes(20, "big")) == "unknown_xid"  # too late


def test_no_retries_config():
    rpc = client(config=RPCConfig(timeout=2.0, retries=0, reply_cache_ttl=5.0))
    o = rpc.request(0.0, ADDR, Ping(1), None)
    assert rpc.poll(2.0) == ([], [o])


def test_reply_accepted_only_from_the_right_address():
    rpc = client()
    o = rpc.request(0.0, ADDR, Ping(1), "owner", 1)
    body = (77).to_bytes(20, "big")
    assert rpc.on_response(("10.0.0.2", 4000), o.xid, body) == "wrong_source"
    assert rpc.on_response(("10.0.0.1", 4001), o.xid, body) == "wrong_source"
    assert rpc.on_response(ADDR, b"\x00" * 20, body) == "unknown_xid"
    assert rpc.on_response(ADDR, o.xid, "not an id") == "bad_reply"
    assert len(rpc) == 1  # still outstanding after all that
    got, reply = rpc.on_response(ADDR, o.xid, body)
    assert got is o and reply == PingReply(77) and o.done
    assert len(rpc) == 0 and rpc.replies_accepted == 1
    assert rpc.on_response(ADDR, o.xid, body) == "unknown_xid"  # a duplicate reply
    assert rpc.poll(100.0) == ([], [])  # its timer is dead
    assert rpc.next_deadline() == math.inf


def test_max_outstanding_and_cancel():
    rpc = client()
    outs = [rpc.request(0.0, ADDR, Ping(1), None) for _ in range(3)]
    assert rpc.request(0.0, ADDR, Ping(1), None) is None
    rpc.cancel(outs[0].xid)
    assert outs[0].done and len(rpc) == 2
    assert rpc.on_response(ADDR, outs[0].xid, (1).to_bytes(20, "big")) == "unknown_xid"
    assert rpc.request(0.0, ADDR, Ping(1), None) is not None
    _, failed = rpc.poll(10.0)
    assert outs[0] not in failed


def test_store_reply_parsed_against_the_request():
    rpc = client()
    o = rpc.request(0.0, ADDR, Store(1, 2, "v"), None)
    assert rpc.on_response(ADDR, o.xid, (1).to_bytes(20, "big")) == "bad_reply"
    assert rpc.on_response(ADDR, o.xid, True)[1] == StoreReply(True)


# ------------------------------------------------------------------------------------------ reply cache

K1 = (ADDR, b"\x01" * 20)
K2 = (ADDR, b"\x02" * 20)


def test_cache_new_pending_hit():
    c = ReplyCache(ttl=10.0, max_entries=4)
    assert c.begin(0.0, K1) is CACHE_NEW
    assert c.begin(0.1, K1) is CACHE_PENDING  # still running
    assert c.pending_hits == 1
    c.complete(K1, b"reply-1")
    assert c.begin(0.2, K1) == b"reply-1"
    assert c.begin(0.3, K1) == b"reply-1"
    assert c.hits == 2
    # keyed by (source, XID)
    assert c.begin(0.4, (("10.0.0.2", 4000), K1[1])) is CACHE_NEW
    assert c.begin(0.4, K2) is CACHE_NEW
    assert len(c) == 3


def test_cache_abandon_releases_a_pending_entry_only():
    c = ReplyCache(ttl=10.0, max_entries=4)
    assert c.begin(0.0, K1) is CACHE_NEW
    c.abandon(K1)
    assert c.begin(0.1, K1) is CACHE_NEW  # a retransmission may run it now
    c.complete(K1, b"r")
    c.abandon(K1)  # completed entries stay
    assert c.begin(0.2, K1) == b"r"


def test_cache_expiry_by_age():
    c = ReplyCache(ttl=10.0, max_entries=4)
    c.begin(0.0, K1)
    c.complete(K1, b"r1")
    c.begin(5.0, K2)
    c.complete(K2, b"r2")
    assert c.begin(9.99, K1) == b"r1"
    c.expire(10.0)
    assert len(c) == 1
    assert c.begin(10.0, K1) is CACHE_NEW  # expired: a very late retransmission runs again
    assert c.begin(14.9, K2) == b"r2"
    assert c.begin(15.0, K2) is CACHE_NEW  # begin() expires old entries itself


def test_cache_bounded_by_size_oldest_first():
    c = ReplyCache(ttl=100.0, max_entries=3)
    keys = [(ADDR, bytes([i]) * 20) for i in range(5)]
    for i, k in enumerate(keys):
        assert c.begin(float(i), k) is CACHE_NEW
        c.complete(k, b"r%d" % i)
        assert len(c) <= 3
    assert c.evicted == 2
    assert c.begin(5.0, keys[0]) is CACHE_NEW  # evicted
    assert c.begin(5.0, keys[4]) == b"r4"
    assert len(c) == 3
    c.complete(("x", b"unknown"), b"r")  # completing an unknown key does not add it
    assert len(c) == 3
