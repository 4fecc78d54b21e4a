"""Unit tests of the wire format (p2p.wire): round trips, byte-exact compatibility with the stock framing
(rpcudp 5.0.1 packs with u-msgpack-python), and every strictness check of the decoder."""

from __future__ import annotations

import msgpack
import pytest
import umsgpack
from hypothesis import given, settings
from hypothesis import strategies as st

from p2p.errors import DecodeError, EncodeError, InvalidValue
from p2p.ids import id_to_bytes
from p2p.wire import (
    MAX_CONTACTS_PER_REPLY,
    MAX_DATAGRAM,
    MAX_REQUEST_BODY,
    Contact,
    FindNode,
    FindValue,
    NodesReply,
    Ping,
    PingReply,
    Request,
    Response,
    RPCSpec,
    Store,
    StoreReply,
    ValueReply,
    check_value,
    decode,
    encode_request,
    encode_response,
    encoded_size,
    parse_reply,
    register,
    rpc_names,
    rpc_spec,
)

XID = bytes(range(20))
A, B = 0x0123456789ABCDEF0123456789ABCDEF01234567, 0xFEDCBA9876543210FEDCBA9876543210FEDCBA98
HYP = settings(deadline=None, derandomize=True, max_examples=200)

ids = st.integers(min_value=0, max_value=(1 << 160) - 1)
values = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False),
    st.booleans(),
    st.text(max_size=50),
    st.binary(max_size=50),
)
hosts = st.one_of(
    st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t))),
    st.sampled_from(["::1", "fe80::1", "2001:db8::dead:beef", "::ffff:10.0.0.1"]),
)
contacts = st.builds(Contact, ids, hosts, st.integers(1, 65535))
messages = st.one_of(
    st.builds(Ping, ids),
    st.builds(Store, ids, ids, values),
    st.builds(FindNode, ids, ids),
    st.builds(FindValue, ids, ids),
)


def reason(data: bytes) -> str:
    with pytest.raises(DecodeError) as exc:
        decode(data)
    return str(exc.value)


def req(body: object, xid: bytes = XID) -> bytes:
    return b"\x00" + xid + msgpack.packb(body, use_bin_type=True)


# ------------------------------------------------------------------------------------------ round trips


def test_registry_has_the_stock_rpcs():
    assert {"ping", "store", "find_node", "find_value"} <= set(rpc_names())
    assert rpc_names() == sorted(rpc_names())
    assert rpc_spec("store").idempotent is False
    assert all(rpc_spec(n).idempotent for n in ("ping", "find_node", "find_value"))
    assert rpc_spec("nope") is None
    with pytest.raises(ValueError):
        register(RPCSpec("ping", lambda a: Ping(0), lambda m, b: b))


@HYP
@given(xid=st.binary(min_size=20, max_size=20), msg=messages)
def test_request_round_trip(xid, msg):
    data = encode_request(xid, msg)
    assert data[0] == 0 and data[1:21] == xid
    out = decode(data)
    assert out == Request(xid, msg)


@HYP
@given(node_id=ids, ok=st.booleans(), cs=st.lists(contacts, max_size=MAX_CONTACTS_PER_REPLY), v=values)
def test_reply_round_trips(node_id, ok, cs, v):
    cases = [
        (Ping(A), PingReply(node_id)),
        (Store(A, B, 1), StoreReply(ok)),
        (FindNode(A, B), NodesReply(tuple(cs))),
        (FindValue(A, B), NodesReply(tuple(cs))),
        (FindValue(A, B), ValueReply(v)),
    ]
    for request, reply in cases:
        data = encode_response(XID, reply)
        assert data[0] == 1 and data[1:21] == XID
        r = decode(data)
        assert isinstance(r, Response) and r.xid == XID
        assert parse_reply(request, r.body) == reply


def test_encode_response_takes_raw_bodies():
    assert decode(encode_response(XID, [1, "a"])).body == [1, "a"]


# ------------------------------------------------------------------------------------------ stock framing


@HYP
@given(xid=st.binary(min_size=20, max_size=20), msg=messages)
def test_request_is_byte_exact_with_the_stock_framing(xid, msg):
    data = encode_request(xid, msg)
    name_args = umsgpack.unpackb(data[21:])
    assert name_args == [msg.NAME, msg.args()]
    assert isinstance(name_args[0], str)
    for arg in name_args[1][: 2 if msg.NAME != "ping" else 1]:
        assert type(arg) is bytes and len(arg) == 20  # ids travel as bin 20
    # rpcudp builds b"\x00" + msgid + umsgpack.packb([name, args]); ours is byte-identical.
    assert data == b"\x00" + xid + umsgpack.packb([msg.NAME, msg.args()])


def test_stock_request_example_bytes():
    data = encode_request(XID, Ping(A))
    assert data == b"\x00" + XID + b"\x92\xa4ping\x91\xc4\x14" + id_to_bytes(A)


@HYP
@given(node_id=ids, cs=st.lists(contacts, max_size=20), v=values)
def test_stock_packed_replies_decode(node_id, cs, v):
    # What the stock package's handlers return, packed by u-msgpack-python as rpcudp does.
    cases = [
        (Ping(A), id_to_bytes(node_id), PingReply(node_id)),
        (Store(A, B, 1), True, StoreReply(True)),
        (FindNode(A, B), [(id_to_bytes(c.node_id), c.host, c.port) for c in cs], NodesReply(tuple(cs))),
        (FindValue(A, B), {"value": v}, ValueReply(v)),
    ]
    for request, body, expected in cases:
        r = decode(b"\x01" + XID + umsgpack.packb(body))
        assert parse_reply(request, r.body) == expected


def test_stock_packed_request_decodes():
    data = b"\x00" + XID + umsgpack.packb(["store", [id_to_bytes(A), id_to_bytes(B), "hello"]])
    assert decode(data) == Request(XID, Store(A, B, "hello"))


# ------------------------------------------------------------------------------------------ strictness


def test_short():
    assert reason(b"") == "short"
    assert reason(b"\x00") == "short"
    assert reason(b"\x00" + XID) == "short"  # header only, no body
    assert isinstance(decode(b"\x01" + XID + b"\xc0"), Response)  # one body byte is enough


def test_wrong_type_byte():
    for t in (2, 3, 0x7F, 0xFF):
        assert reason(bytes([t]) + XID + b"\xc0") == "type"


def test_oversize():
    body = msgpack.packb(
        ["store", [id_to_bytes(A), id_to_bytes(B), b"x" * MAX_REQUEST_BODY]], use_bin_type=True
    )
    assert reason(b"\x00" + XID + body) == "oversize"
    at_limit = b"\x00" + XID + b"\xc0" * MAX_REQUEST_BODY
    assert reason(at_limit) != "oversize"  # exactly 8192 body bytes is allowed (then fails msgpack)
    assert reason(b"\x00" + XID + b"\xc0" * (MAX_REQUEST_BODY + 1)) == "oversize"
    big = msgpack.packb(b"x" * (MAX_DATAGRAM - 21 - 3), use_bin_type=True)  # bin16 header: 3 bytes
    assert len(big) + 21 == MAX_DATAGRAM
    assert isinstance(decode(b"\x01" + XID + big), Response)  # the largest UDP payload is fine for a reply
    assert reason(b"\x01" + XID + big + b"\x00") == "oversize"
    assert reason(b"\x05" + XID + big + b"\x00") == "oversize"


def test_msgpack_errors():
    assert reason(b"\x01" + XID + b"\xc1") == "msgpack"  # never-used byte
    assert reason(b"\x01" + XID + b"\xc0\xc0") == "msgpack"  # extra data
    assert reason(b"\x01" + XID + b"\x92\x01") == "msgpack"  # truncated
    assert reason(b"\x01" + XID + b"\xa2\xff\xfe") == "msgpack"  # invalid UTF-8 str
    assert reason(b"\x01" + XID + msgpack.packb({1: 2})) == "msgpack"  # non-str map key
    assert reason(b"\x00" + XID + b"\x91" * 2000 + b"\xc0") == "msgpack"  # nesting too deep
    assert reason(b"\x01" + XID + b"\xdf\xff\xff\xff\xff") == "msgpack"  # huge map header, no data
    assert reason(b"\x01" + XID + b"\xdd\xff\xff\xff\xff") == "msgpack"
    assert reason(b"\x01" + XID + b"\xc6\xff\xff\xff\xff\x00") == "msgpack"


def test_shape():
    assert reason(req("ping")) == "shape"
    assert reason(req(["ping"])) == "shape"
    assert reason(req(["ping", [id_to_bytes(A)], 1])) == "shape"
    assert reason(req([b"ping", [id_to_bytes(A)]])) == "shape"  # name as bin, not str
    assert reason(req([1, [id_to_bytes(A)]])) == "shape"
    assert reason(req(["ping", id_to_bytes(A)])) == "shape"  # args not an array
    assert reason(req(["ping", {"a": 1}])) == "shape"
    assert reason(req({"ping": [1]})) == "shape"
    assert reason(req(msgpack.ExtType(1, b"x"))) == "shape"


def test_unknown_rpc():
    assert reason(req(["pong", [id_to_bytes(A)]])) == "unknown_rpc"
    assert reason(req(["", []])) == "unknown_rpc"
    assert reason(req(["PING", [id_to_bytes(A)]])) == "unknown_rpc"


@pytest.mark.parametrize(
    "name,args",
    [
        ("ping", []),
        ("ping", [id_to_bytes(A), id_to_bytes(B)]),
        ("ping", [id_to_bytes(A)[:19]]),
        ("ping", [id_to_bytes(A) + b"\x00"]),
        ("ping", ["x" * 20]),  # str instead of bin
        ("ping", [A & 0xFFFF]),
        ("ping", [None]),
        ("store", [id_to_bytes(A), id_to_bytes(B)]),
        ("store", [id_to_bytes(A), id_to_bytes(B), "v", 1]),
        ("store", [id_to_bytes(A), id_to_bytes(B), None]),
        ("store", [id_to_bytes(A), id_to_bytes(B), [1, 2]]),
        ("store", [id_to_bytes(A), id_to_bytes(B), {"v": 1}]),
        ("store", [id_to_bytes(A), id_to_bytes(B), msgpack.ExtType(1, b"x")]),
        ("store", [id_to_bytes(A), id_to_bytes(B)[:19], "v"]),
        ("store", ["a" * 20, id_to_bytes(B), "v"]),
        ("find_node", [id_to_bytes(A)]),
        ("find_node", [id_to_bytes(A), id_to_bytes(B)[1:]]),
        ("find_node", [id_to_bytes(A), "b" * 20]),
        ("find_node", [id_to_bytes(A), id_to_bytes(B), id_to_bytes(B)]),
        ("find_value", [id_to_bytes(A)]),
        ("find_value", [id_to_bytes(A) + b"\x01", id_to_bytes(B)]),
        ("find_value", [id_to_bytes(A), 5]),
    ],
)
def test_bad_args(name, args):
    assert reason(req([name, args])) == "bad_args"


def _bad_reply(request, body) -> None:
    with pytest.raises(DecodeError) as exc:
        parse_reply(request, body)
    assert str(exc.value) == "bad_reply"


def test_bad_replies():
    c = [id_to_bytes(B), "10.0.0.1", 4000]
    for body in (None, True, 5, "x" * 20, id_to_bytes(A)[:19], id_to_bytes(A) + b"\x00", [id_to_bytes(A)]):
        _bad_reply(Ping(A), body)
    for body in (None, 1, 0, "true", b"\x01", [True]):
        _bad_reply(Store(A, B, 1), body)
    bad_contact_lists = [
        None,
        c,  # a contact, not a list of contacts
        [c[:2]],
        [c + [1]],
        [(id_to_bytes(B)[:19], "10.0.0.1", 4000)],
        [["b" * 20, "10.0.0.1", 4000]],
        [[id_to_bytes(B), "example.org", 4000]],
        [[id_to_bytes(B), "1", 4000]],
        [[id_to_bytes(B), "x" * 46, 4000]],
        [[id_to_bytes(B), b"10.0.0.1", 4000]],
        [[id_to_bytes(B), "10.0.0.1", 0]],
        [[id_to_bytes(B), "10.0.0.1", 65536]],
        [[id_to_bytes(B), "10.0.0.1", -1]],
        [[id_to_bytes(B), "10.0.0.1", True]],
        [[id_to_bytes(B), "10.0.0.1", "4000"]],
        [[id_to_bytes(B), "10.0.0.1", 4000.0]],
        [c] * (MAX_CONTACTS_PER_REPLY + 1),
    ]
    for body in bad_contact_lists:
        _bad_reply(FindNode(A, B), body)
        _bad_reply(FindValue(A, B), body)
    for body in (
        {},
        {"value": None},
        {"value": [1]},
        {"value": {"a": 1}},
        {"value": 1, "x": 2},
        {"values": 1},
    ):
        _bad_reply(FindValue(A, B), body)
    _bad_reply(FindNode(A, B), {"value": 1})  # find_node never returns a value


def test_good_edge_replies():
    assert parse_reply(FindNode(A, B), []) == NodesReply(())
    assert parse_reply(Store(A, B, 1), False) == StoreReply(False)
    full = [[id_to_bytes(i + 1), "10.0.0.1", 65535] for i in range(MAX_CONTACTS_PER_REPLY)]
    assert len(parse_reply(FindNode(A, B), full).contacts) == MAX_CONTACTS_PER_REPLY
    assert parse_reply(FindValue(A, B), {"value": False}) == ValueReply(False)
    assert parse_reply(FindValue(A, B), {"value": b""}) == ValueReply(b"")


# ------------------------------------------------------------------------------------------ encoder checks


def test_encode_request_limits():
    with pytest.raises(EncodeError):
        encode_request(XID[:19], Ping(A))
    with pytest.raises(EncodeError):
        encode_request(XID + b"\x00", Ping(A))
    with pytest.raises(EncodeError):
        encode_request(XID, Store(A, B, b"x" * MAX_REQUEST_BODY))
    # The largest value that fits goes through and decodes.
    overhead = len(encode_request(XID, Store(A, B, b""))) - 21 - 2  # b"" packs as c4 00
    n = MAX_REQUEST_BODY - overhead - 3  # bin16 header is 3 bytes
    data = encode_request(XID, Store(A, B, b"x" * n))
    assert len(data) - 21 == MAX_REQUEST_BODY
    assert decode(data).message.value == b"x" * n


def test_encode_response_limit():
    with pytest.raises(EncodeError):
        encode_response(XID, b"x" * MAX_DATAGRAM)


def test_check_value_and_size():
    for v in (0, -1, 2**64 - 1, 1.5, True, False, "", "é", b"\x00"):
        assert check_value(v) is v
    for v in (None, [1], {"a": 1}, (1,), bytearray(b"x"), object()):
        with pytest.raises(InvalidValue):
            check_value(v)
    assert issubclass(InvalidValue, TypeError)
    assert encoded_size(1) == 1
    assert encoded_size("abc") == 4
    assert encoded_size(b"abc") == 5  # bin8 header: bytes travel as bin
    assert encoded_size(1.0) == 9


def test_contact_wire_form():
    c = Contact(A, "10.1.2.3", 4000)
    assert c.addr == ("10.1.2.3", 4000)
    assert c.to_wire() == [id_to_bytes(A), "10.1.2.3", 4000]
