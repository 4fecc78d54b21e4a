"""Property tests: a :class:`p2p.core.NodeCore` (pure, no trio) fed malformed datagrams never raises, counts
each bad datagram once under the right reason, keeps its memory bounded, and still answers a well-formed ping.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import msgpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from p2p.config import KademliaConfig, NodeConfig, RPCConfig
from p2p.core import Completed, NodeCore, Send
from p2p.errors import DecodeError
from p2p.ids import ID_BITS, id_to_bytes
from p2p.wire import (
    MAX_DATAGRAM,
    MAX_REQUEST_BODY,
    Contact,
    FindNode,
    FindValue,
    Ping,
    PingReply,
    Request,
    Response,
    Store,
    decode,
    encode_request,
    encode_response,
    parse_reply,
    rpc_names,
)

FUZZ = settings(
    deadline=None,
    derandomize=True,
    max_examples=250,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
FEW = settings(FUZZ, max_examples=40)

K = 4
CONFIG = NodeConfig(
    kademlia=KademliaConfig(k=K, alpha=2, max_records=50, replacement_cache_size=2),
    rpc=RPCConfig(timeout=1.0, retries=2, reply_cache_ttl=10.0, reply_cache_size=32, max_outstanding=16),
)
OWN_ID = 0x1234 << 140
SRC = ("10.0.0.1", 5000)
PEER = Contact(0x777 << 140, "10.0.0.2", 6000)

XIDS = st.binary(min_size=20, max_size=20)
INTS = st.integers(min_value=-(2**63), max_value=2**64 - 1)  # what msgpack can carry
IDS = st.integers(min_value=0, max_value=(1 << ID_BITS) - 1)
VALUES = st.one_of(
    INTS,
    st.floats(allow_nan=False),
    st.booleans(),
    st.text(max_size=30),
    st.binary(max_size=30),
)
# Any msgpack-able object (the bodies a hostile peer may send).
OBJECTS = st.recursive(
    st.one_of(st.none(), VALUES),
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=15,
)


def make_core(now: float = 0.0) -> NodeCore:
    return NodeCore(CONFIG, OWN_ID, rng=random.Random(7), now=now)


def pack(obj: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


def request_frame(xid: bytes, name: Any, args: Any) -> bytes:
    return b"\x00" + xid + pack([name, args])


def feed(core: NodeCore, items: list[tuple[bytes, str]], src: Any = SRC, now: float = 1.0) -> None:
    """Feed bad datagrams; each must be dropped (no effect) and counted under its expected reason."""
    before = core.statistics()
    for data, _ in items:
        effects = core.handle_datagram(now, src, data)
        assert effects == [], (data[:40], effects)
    after = core.statistics()
    assert after.dropped - before.dropped == len(items)
    delta = Counter(after.drops)
    delta.subtract(before.drops)
    assert +delta == Counter(reason for _, reason in items)
    assert after.datagrams_received - before.datagrams_received == len(items)
    assert after.requests_received == before.requests_received  # nothing reached a handler
    assert after.contacts == before.contacts  # a bad datagram teaches nothing


def assert_answers_ping(core: NodeCore, now: float = 2.0) -> None:
    xid = b"\xab" * 20
    effects = core.handle_datagram(now, ("10.9.9.9", 9999), encode_request(xid, Ping(0xBEEF)))
    sends = [e for e in effects if type(e) is Send and e.addr == ("10.9.9.9", 9999)]
    assert len(sends) == 1
    reply = decode(sends[0].data)
    assert isinstance(reply, Response) and reply.xid == xid
    assert parse_reply(Ping(0xBEEF), reply.body) == PingReply(OWN_ID)


def assert_bounded(core: NodeCore) -> None:
    s = core.statistics()
    assert s.contacts <= ID_BITS * K
    assert len(core.table) == s.contacts
    assert s.outstanding <= CONFIG.rpc.max_outstanding
    assert s.reply_cache_entries <= CONFIG.rpc.reply_cache_size
    assert s.records <= CONFIG.kademlia.max_records


# ----------------------------------------------------------------------------------------- datagrams


def _valid_request():
    return st.one_of(
        st.builds(Ping, IDS),
        st.builds(FindNode, IDS, IDS),
        st.builds(FindValue, IDS, IDS),
        st.builds(Store, IDS, IDS, VALUES),
    )


@st.composite
def truncated_frames(draw):
    xid = draw(XIDS)
    if draw(st.booleans()):
        data = encode_request(xid, draw(_valid_request()))
    else:
        data = encode_response(xid, draw(OBJECTS))
    cut = draw(st.integers(min_value=0, max_value=len(data) - 1))
    data = data[:cut]
    return data, "short" if len(data) <= 21 else "msgpack"


def _expected(data: bytes) -> str | None:
    """The drop reason of an arbitrary datagram fed to a fresh core (no outstanding requests), or ``None``
    if it is a valid request."""
    try:
        msg = decode(data)
    except DecodeError as exc:
        return str(exc)
    return None if isinstance(msg, Request) else "unknown_xid"


@st.composite
def random_datagrams(draw):
    head = draw(st.sampled_from([b"", b"\x00", b"\x01", b"\x02", b"\xff"]))
    data = head + draw(st.binary(max_size=120))
    reason = _expected(data)
    return data, reason


WRONG_ID = st.one_of(
    st.binary(min_size=19, max_size=19),
    st.binary(min_size=21, max_size=21),
    st.binary(max_size=18),
    st.text(min_size=20, max_size=20),  # str, not bin
    INTS,
    st.none(),
    st.lists(INTS, max_size=3),
    st.floats(allow_nan=False),
    st.booleans(),
)
WRONG_VALUE = st.one_of(
    st.none(),
    st.lists(INTS, max_size=3),
    st.dictionaries(st.text(max_size=3), INTS, max_size=2),
    st.builds(msgpack.ExtType, st.integers(min_value=0, max_value=127), st.binary(max_size=8)),
)


@st.composite
def bad_args_frames(draw):
    """Valid frames of each RPC with one argument of the wrong type or width, or the wrong argument count."""
    xid = draw(XIDS)
    name = draw(st.sampled_from(["ping", "store", "find_node", "find_value"]))
    good = {"ping": [id_to_bytes(1)], "store": [id_to_bytes(1), id_to_bytes(2), b"v"]}.get(
        name, [id_to_bytes(1), id_to_bytes(2)]
    )
    args = list(good)
    how = draw(st.sampled_from(["id", "value", "count"]))
    if how == "count":
        n = draw(st.integers(min_value=0, max_value=6).filter(lambda n: n != len(good)))
        args = (good * 6)[:n]
    elif how == "value" and name == "store":
        args[2] = draw(WRONG_VALUE)
    else:
        args[draw(st.integers(min_value=0, max_value=min(1, len(args) - 1)))] = draw(WRONG_ID)
    return request_frame(xid, name, args), "bad_args"


@st.composite
def shape_frames(draw):
    xid = draw(XIDS)
    body = draw(
        st.one_of(
            OBJECTS.filter(lambda o: not (isinstance(o, list) and len(o) == 2)),
            st.tuples(OBJECTS.filter(lambda o: not isinstance(o, str)), st.lists(INTS, max_size=2)).map(list),
            st.tuples(
                st.sampled_from(["ping", "store"]), OBJECTS.filter(lambda o: not isinstance(o, list))
            ).map(list),
        )
    )
    return b"\x00" + xid + pack(body), "shape"


@st.composite
def unknown_rpc_frames(draw):
    name = draw(st.text(max_size=20).filter(lambda s: s not in rpc_names()))
    return request_frame(draw(XIDS), name, draw(st.lists(OBJECTS, max_size=3))), "unknown_rpc"


@st.composite
def type_frames(draw):
    kind = draw(st.integers(min_value=2, max_value=255))
    body = draw(st.one_of(st.binary(min_size=1, max_size=50), OBJECTS.map(pack)))
    return bytes([kind]) + draw(XIDS) + body, "type"


@st.composite
def oversize_frames(draw):
    xid = draw(XIDS)
    which = draw(st.sampled_from(["request", "datagram", "any_type"]))
    if which == "request":  # a well-formed request whose body exceeds 8192 bytes
        size = draw(st.integers(min_value=MAX_REQUEST_BODY, max_value=MAX_REQUEST_BODY + 5000))
        body = pack(["store", [id_to_bytes(1), id_to_bytes(2), b"x" * size]])
        assert len(body) > MAX_REQUEST_BODY
        return b"\x00" + xid + body, "oversize"
    extra = draw(st.integers(min_value=1, max_value=100))
    kind = b"\x01" if which == "datagram" else bytes([draw(st.integers(min_value=2, max_value=255))])
    return kind + xid + pack(b"x" * (MAX_DATAGRAM + extra)), "oversize"


@st.composite
def nesting_frames(draw):
    """Deep nesting (beyond msgpack's stack limit) and huge container headers with no data behind them."""
    kind = draw(st.sampled_from([b"\x00", b"\x01"]))
    which = draw(st.sampled_from(["deep_array", "deep_map", "map32", "array32", "str32", "bin32", "int_key"]))
    if which == "deep_array":
        body = b"\x91" * draw(st.integers(min_value=1100, max_value=8000)) + b"\xc0"
    elif which == "deep_map":
        body = b"\x81\xa1k" * draw(st.integers(min_value=1100, max_value=2500)) + b"\xc0"
    elif which == "map32":
        body = b"\xdf" + draw(st.integers(min_value=1000, max_value=2**32 - 1)).to_bytes(4, "big") + b"\xc0"
    elif which == "array32":
        body = b"\xdd" + draw(st.integers(min_value=1000, max_value=2**32 - 1)).to_bytes(4, "big") + b"\xc0"
    elif which == "str32":
        body = b"\xdb" + draw(st.integers(min_value=1000, max_value=2**32 - 1)).to_bytes(4, "big") + b"ab"
    elif which == "bin32":
        body = b"\xc6" + draw(st.integers(min_value=1000, max_value=2**32 - 1)).to_bytes(4, "big") + b"ab"
    else:  # maps with non-str keys are refused (strict_map_key)
        body = pack({draw(INTS): 1})
    body = body[:MAX_REQUEST_BODY]
    return kind + draw(XIDS) + body, "msgpack"


@st.composite
def big_valid_containers(draw):
    """Large but well-formed msgpack: a huge map as a request body (shape) or as a stray response."""
    n = draw(st.integers(min_value=100, max_value=600))
    body = pack({f"k{i}": i for i in range(n)})
    if draw(st.booleans()):
        return b"\x00" + draw(XIDS) + body[:MAX_REQUEST_BODY] if len(
            body
        ) <= MAX_REQUEST_BODY else None, "shape"
    return b"\x01" + draw(XIDS) + body, "unknown_xid"


@st.composite
def ext_frames(draw):
    ext = draw(st.builds(msgpack.ExtType, st.integers(min_value=0, max_value=127), st.binary(max_size=16)))
    where = draw(st.sampled_from(["arg", "value", "body", "response"]))
    xid = draw(XIDS)
    if where == "arg":
        return request_frame(xid, "find_node", [ext, id_to_bytes(3)]), "bad_args"
    if where == "value":
        return request_frame(xid, "store", [id_to_bytes(1), id_to_bytes(3), ext]), "bad_args"
    if where == "body":
        return b"\x00" + xid + pack(ext), "shape"
    return b"\x01" + xid + pack([ext]), "unknown_xid"


@st.composite
def unknown_xid_responses(draw):
    return b"\x01" + draw(XIDS) + pack(draw(OBJECTS)), "unknown_xid"


CATEGORIES = {
    "truncated": truncated_frames(),
    "bad_args": bad_args_frames(),
    "shape": shape_frames(),
    "unknown_rpc": unknown_rpc_frames(),
    "type": type_frames(),
    "ext": ext_frames(),
    "unknown_xid": unknown_xid_responses(),
}


def _storm(items: list[tuple[bytes, str]]) -> None:
    core = make_core()
    feed(core, items)
    assert_bounded(core)
    assert_answers_ping(core)


@FUZZ
@given(st.lists(st.one_of(*CATEGORIES.values()), min_size=1, max_size=12))
def test_mixed_storm_of_bad_datagrams(items):
    _storm(items)


@FUZZ
@given(st.lists(random_datagrams(), min_size=1, max_size=20))
def test_random_bytes_never_raise(items):
    core = make_core()
    bad = [(d, r) for d, r in items if r is not None]
    before = core.statistics()
    for data, _ in items:
        core.handle_datagram(1.0, SRC, data)
    after = core.statistics()
    assert after.dropped - before.dropped == len(bad)
    assert Counter(after.drops) == Counter(r for _, r in bad)
    assert_bounded(core)
    assert_answers_ping(core)


@FUZZ
@given(st.lists(truncated_frames(), min_size=1, max_size=10))
def test_truncated_frames(items):
    _storm(items)


@FUZZ
@given(st.lists(bad_args_frames(), min_size=1, max_size=10))
def test_wrong_argument_types_and_id_widths(items):
    _storm(items)


@FEW
@given(st.lists(oversize_frames(), min_size=1, max_size=3))
def test_oversized_datagrams(items):
    _storm(items)


@FEW
@given(st.lists(nesting_frames(), min_size=1, max_size=4))
def test_deep_nesting_and_huge_headers(items):
    _storm(items)


@FEW
@given(st.lists(big_valid_containers().filter(lambda x: x[0] is not None), min_size=1, max_size=3))
def test_huge_maps(items):
    _storm(items)


@FUZZ
@given(
    st.lists(
        st.one_of(unknown_rpc_frames(), type_frames(), shape_frames(), ext_frames()), min_size=1, max_size=10
    )
)
def test_unknown_names_wrong_types_shapes_ext(items):
    _storm(items)


# ----------------------------------------------------------------------------------------- replies to real requests


def _start_get(core: NodeCore) -> tuple[int, bytes]:
    """Start a get on a core that knows one contact; return the query id and the request's XID."""
    assert core.add_contacts(0.5, [PEER]) == []
    qid, effects = core.start_get(1.0, "some key")
    sends = [e for e in effects if type(e) is Send]
    assert len(sends) == 1 and sends[0].addr == PEER.addr
    req = decode(sends[0].data)
    assert isinstance(req, Request) and isinstance(req.message, FindValue)
    return qid, req.xid


def _is_bad_find_value_reply(body: Any) -> bool:
    try:
        parse_reply(FindValue(1, 2), body)
    except DecodeError:
        return True
    return False


BAD_FIND_VALUE_REPLIES = st.one_of(
    st.sampled_from(
        [
            None,
            True,
            1,
            "value",
            b"x" * 20,
            {"value": None},
            {"value": [1]},
            {"value": 1, "extra": 2},
            {"valu": 1},
            {},
            [[id_to_bytes(5), "10.0.0.3"]],  # contact of the wrong length
            [[id_to_bytes(5)[:19], "10.0.0.3", 80]],  # 19-byte id
            [[id_to_bytes(5) + b"\x00", "10.0.0.3", 80]],  # 21-byte id
            [["a" * 20, "10.0.0.3", 80]],  # str id
            [[id_to_bytes(5), "not an ip", 80]],
            [[id_to_bytes(5), b"10.0.0.3", 80]],
            [[id_to_bytes(5), "10.0.0.3", 0]],
            [[id_to_bytes(5), "10.0.0.3", 65536]],
            [[id_to_bytes(5), "10.0.0.3", True]],
            [[id_to_bytes(5), "10.0.0.3", 80.0]],
            [[id_to_bytes(i + 1), "10.0.0.3", 80] for i in range(65)],  # more than 64 contacts
            msgpack.ExtType(1, b"x"),
            {"value": msgpack.ExtType(1, b"x")},
        ]
    ),
    OBJECTS.filter(_is_bad_find_value_reply),
)


@FUZZ
@given(st.lists(BAD_FIND_VALUE_REPLIES, min_size=1, max_size=6), st.lists(OBJECTS, max_size=4))
def test_wrong_source_and_malformed_replies_to_an_outstanding_request(bad_bodies, stray_bodies):
    core = make_core()
    qid, xid = _start_get(core)
    items = []
    for body in stray_bodies:  # right XID, wrong address (another host, or the right host on another port)
        items.append((b"\x01" + xid + pack(body), "wrong_source", ("10.0.0.66", 6000)))
        items.append((b"\x01" + xid + pack(body), "wrong_source", (PEER.host, PEER.port + 1)))
    for body in bad_bodies:
        items.append((b"\x01" + xid + pack(body), "bad_reply", PEER.addr))
    before = core.statistics()
    for data, _, src in items:
        assert core.handle_datagram(1.5, src, data) == []
    after = core.statistics()
    assert after.dropped - before.dropped == len(items)
    assert Counter(after.drops) == Counter(r for _, r, _ in items)
    assert after.outstanding == 1  # the request still waits for a good reply
    assert_bounded(core)
    # The real reply from the right address still completes the query.
    effects = core.handle_datagram(
        1.6, PEER.addr, encode_response(xid, [list(Contact(5, "10.0.0.3", 80).to_wire())])
    )
    effects += core.handle_datagram(1.6, PEER.addr, b"\x01" + xid + pack([]))  # a late duplicate: unknown XID
    assert core.statistics().drops.get("unknown_xid", 0) == 1
    # The lookup learnt contact 5 and asks it next; the query is not over until it answers or times out.
    assert not [e for e in effects if type(e) is Completed]
    (ask,) = [e for e in effects if type(e) is Send and e.addr == ("10.0.0.3", 80)]
    xid5 = decode(ask.data).xid
    effects = core.handle_datagram(1.7, ("10.0.0.3", 80), encode_response(xid5, []))
    (done,) = [e for e in effects if type(e) is Completed]
    assert done.qid == qid and done.result.found is False and done.result.requests == 2
    assert_answers_ping(core)


@FUZZ
@given(
    st.lists(
        st.one_of(
            OBJECTS.filter(lambda o: not (type(o) is bytes and len(o) == 20)),
            st.binary(min_size=19, max_size=19),
            st.binary(min_size=21, max_size=21),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_malformed_ping_replies_during_bootstrap(bodies):
    core = make_core()
    qid, effects = core.start_bootstrap(0.0, [PEER.addr])
    (send,) = effects
    xid = decode(send.data).xid
    for body in bodies:
        assert core.handle_datagram(0.5, PEER.addr, b"\x01" + xid + pack(body)) == []
    s = core.statistics()
    assert s.drops == {"bad_reply": len(bodies)} and s.dropped == len(bodies)
    assert s.contacts == 0 and s.outstanding == 1
    effects = core.handle_datagram(0.6, PEER.addr, encode_response(xid, PingReply(PEER.node_id)))
    assert core.statistics().contacts == 1
    assert any(type(e) is Send and e.addr == PEER.addr for e in effects)  # the own-id lookup starts


# ----------------------------------------------------------------------------------------- memory bounds


@FEW
@given(
    st.lists(
        st.tuples(_valid_request(), IDS, st.integers(min_value=1, max_value=65535), XIDS),
        min_size=50,
        max_size=300,
    )
)
def test_valid_request_flood_keeps_memory_bounded(reqs):
    core = make_core()
    now = 0.0
    for msg, host_bits, port, xid in reqs:
        now += 7.0  # contacts become questionable, so full buckets trigger eviction pings
        src = (f"10.{(host_bits >> 16) & 255}.{(host_bits >> 8) & 255}.{host_bits & 255}", port)
        core.handle_datagram(now, src, encode_request(xid, msg))
        assert_bounded(core)
    s = core.statistics()
    assert s.dropped == 0
    assert sum(s.requests_executed.values()) == len(reqs)


def test_flood_from_many_sources_stays_within_limits():
    """Thousands of valid requests from distinct senders and addresses, with time advancing past
    ``questionable_after``: the routing table, the outstanding eviction pings, the reply cache and the record
    store all stay within their configured limits."""
    core = make_core()
    rng = random.Random(3)
    now = 0.0
    peak_outstanding = peak_cache = 0
    for i in range(6000):
        now += 0.01 if i < 3000 else 1.0  # first a burst (the reply cache fills), then slow (contacts age)
        sender = rng.getrandbits(160) if i % 3 else OWN_ID ^ rng.getrandbits(rng.randrange(1, 30))
        src = (f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}", 1000 + i % 50000)
        msg = Store(sender, rng.getrandbits(160), i) if i % 2 else FindNode(sender, rng.getrandbits(160))
        core.handle_datagram(now, src, encode_request(rng.getrandbits(160).to_bytes(20, "big"), msg))
        if i % 500 == 0:
            core.poll(now)
        s = core.statistics()
        peak_outstanding = max(peak_outstanding, s.outstanding)
        peak_cache = max(peak_cache, s.reply_cache_entries)
        assert_bounded(core)
    s = core.statistics()
    assert s.store_refused > 0  # max_records was reached and STOREs were refused
    assert peak_cache == CONFIG.rpc.reply_cache_size  # the cache filled up and was trimmed
    assert s.eviction_pings > 0
    assert s.contacts > K * 10
    assert_answers_ping(core, now)


def test_lookup_replies_with_many_contacts_keep_candidates_bounded():
    """Every answer carries 64 fresh contacts; the lookup's candidate list stays capped."""
    core = make_core()
    core.add_contacts(0.0, [PEER])
    qid, effects = core.start_find_node(0.0, 0xABC)
    rng = random.Random(5)
    now = 0.0
    pending = [e for e in effects if type(e) is Send]
    answered = 0
    while pending and answered < 200:
        e = pending.pop(0)
        req = decode(e.data)
        if not isinstance(req, Request) or not isinstance(req.message, FindNode):
            continue
        now += 0.01
        contacts = [Contact(rng.getrandbits(160), "10.1.2.3", 1 + j) for j in range(64)]
        out = core.handle_datagram(now, e.addr, encode_response(req.xid, [c.to_wire() for c in contacts]))
        answered += 1
        q = core._queries.get(qid)
        if q is not None:
            assert len(q.lookup._order) <= q.lookup.max_candidates
            assert q.lookup.in_flight <= CONFIG.kademlia.alpha
        pending += [x for x in out if type(x) is Send]
        assert_bounded(core)
    assert answered > 5
