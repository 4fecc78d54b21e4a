"""Wire format: framing, RPC registry, strict encode/decode (layer L1).

The framing is that of ``rpcudp`` 5.0.1, which the PyPI ``kademlia`` 2.2.3 package speaks, so stock nodes and
ours form one network (DESIGN.md §6)::

    datagram = type (1 byte: 0x00 request, 0x01 response) | XID (20 bytes) | msgpack body
    request body  = [name: str, args: array]
    response body = the result

Bodies are packed with ``use_bin_type=True`` and unpacked with ``raw=False``: ids and keys are msgpack *bin*
of 20 bytes, names are *str*. A response carries no RPC name, so :func:`decode` returns its raw body and
:func:`parse_reply` validates it against the request it answers.

Every check is strict. A datagram that fails one raises :class:`p2p.errors.DecodeError` whose ``reason``
names the check (``"short"``, ``"type"``, ``"oversize"``, ``"msgpack"``, ``"shape"``, ``"unknown_rpc"``,
``"bad_args"``, ``"bad_reply"``); the core counts the drop under that reason and never lets it escape.

RPCs (all from the stock package except where noted)
----------------------------------------------------
========== ================================ ============================================ ==========
name       args                             result                                       idempotent
========== ================================ ============================================ ==========
ping       [sender_id]                      sender's id (bin 20)                         yes
store      [sender_id, key_id, value]       ``true`` (ours: ``false`` when refused)      no
find_node  [sender_id, target_id]           [[id, ip, port], ...] (≤ k, requester out)   yes
find_value [sender_id, key_id]              {"value": v} on a hit, else as find_node     yes
========== ================================ ============================================ ==========

Values are ``int``, ``float``, ``bool``, ``str`` or ``bytes`` (what the stock package accepts).

Unstructured search (our extension; stock nodes ignore these names)
-------------------------------------------------------------------
========== ====================================================== ======================= ==========
name       args                                                   result                  kind
========== ====================================================== ======================= ==========
neighbour  [sender_id, join: bool]                                [accepted, [contact..]] request
query      [sender_id, guid, ttl, hops, origin, [kw..], direct]   none                    one-way
query_hit  [sender_id, guid, hops, holder, [[name, hash, size,     none                    one-way
           [tag..]], ...]]
walk       [sender_id, guid, ttl, hops, origin, [kw..], walker]   none                    one-way
check      [sender_id, guid]                                      bool (keep walking)     request
========== ====================================================== ======================= ==========

``guid`` is bin 16, ``hash`` bin 32 (sha256), ``origin``/``holder``/``contact`` are ``[id, ip, port]``,
``ttl``/``hops``/``walker`` ints 0..255, keywords 1..8 str of 1..64 chars, item names 1..255 chars, tags
at most 8 of 1..64 chars, sizes 0..2**63-1, at most 64 items per hit. One-way messages are framed as requests
with a fresh XID; the receiver never replies and the sender keeps nothing outstanding (as Gnutella
descriptors). A malformed search message is dropped with the reason ``"bad_query"``.
Further RPC names (Chord, super-peer) register themselves with :func:`register`.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import msgpack

from .errors import DecodeError, EncodeError, InvalidValue
from .ids import ID_BYTES, id_from_bytes, id_to_bytes

__all__ = [
    "TYPE_REQUEST",
    "TYPE_RESPONSE",
    "XID_BYTES",
    "MAX_REQUEST_BODY",
    "MAX_DATAGRAM",
    "MAX_CONTACTS_PER_REPLY",
    "Address",
    "Value",
    "Contact",
    "Message",
    "Ping",
    "Store",
    "FindNode",
    "FindValue",
    "PingReply",
    "StoreReply",
    "NodesReply",
    "ValueReply",
    "Request",
    "Response",
    "RPCSpec",
    "register",
    "rpc_spec",
    "rpc_names",
    "encode_request",
    "encode_response",
    "decode",
    "parse_reply",
    "check_value",
    "encoded_size",
    "GUID_BYTES",
    "HASH_BYTES",
    "MAX_KEYWORDS",
    "MAX_KEYWORD_CHARS",
    "MAX_NAME_CHARS",
    "MAX_TAGS",
    "MAX_HIT_ITEMS",
    "MAX_EXCHANGE",
    "HitItem",
    "Neighbour",
    "NeighbourReply",
    "Query",
    "QueryHit",
    "Walk",
    "Check",
    "CheckReply",
]

TYPE_REQUEST = 0x00
TYPE_RESPONSE = 0x01
XID_BYTES = 20
HEADER_BYTES = 1 + XID_BYTES
MAX_REQUEST_BODY = 8192
"""Largest request body in bytes; the stock package refuses to send more (rpcudp ``MalformedMessage``)."""
MAX_DATAGRAM = 65507
"""Largest UDP payload over IPv4, in bytes."""
MAX_CONTACTS_PER_REPLY = 64
"""Most contacts accepted in one find_node / find_value reply (k ≤ 64)."""

Address = tuple[str, int]
"""A UDP address: (IP literal, port)."""
Value = int | float | bool | str | bytes
"""A record value as the wire carries it."""

_VALUE_TYPES = (int, float, bool, str, bytes)


class Contact(NamedTuple):
    """A peer: its node id and the UDP address it answers on (an immutable named tuple: cheap to build in
    the reply decoder's hot path).

    Parameters
    ----------
    node_id : int
        160-bit node id.
    host : str
        IP literal (v4 or v6).
    port : int
        UDP port, 1..65535.
    """

    node_id: int
    host: str
    port: int

    @property
    def addr(self) -> Address:
        """The ``(host, port)`` tuple."""
        return (self.host, self.port)

    def to_wire(self) -> list[Any]:
        """``[id (bin 20), host, port]``, the stock package's ``tuple(Node)`` form."""
        return [id_to_bytes(self.node_id), self.host, self.port]


# --------------------------------------------------------------------------------------------- messages


class Message:
    """Base of request messages; subclasses set ``NAME`` and are registered with :func:`register`."""

    NAME: ClassVar[str] = ""
    __slots__ = ()

    def args(self) -> list[Any]:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Ping(Message):
    """``ping [sender_id]``: liveness check; the reply is the responder's id."""

    NAME: ClassVar[str] = "ping"
    sender: int

    def args(self) -> list[Any]:
        return [id_to_bytes(self.sender)]


@dataclass(frozen=True, slots=True)
class Store(Message):
    """``store [sender_id, key_id, value]``: keep ``value`` under ``key_id``."""

    NAME: ClassVar[str] = "store"
    sender: int
    key: int
    value: Value

    def args(self) -> list[Any]:
        return [id_to_bytes(self.sender), id_to_bytes(self.key), self.value]


@dataclass(frozen=True, slots=True)
class FindNode(Message):
    """``find_node [sender_id, target_id]``: the k contacts closest to ``target`` the responder knows."""

    NAME: ClassVar[str] = "find_node"
    sender: int
    target: int

    def args(self) -> list[Any]:
        return [id_to_bytes(self.sender), id_to_bytes(self.target)]


@dataclass(frozen=True, slots=True)
class FindValue(Message):
    """``find_value [sender_id, key_id]``: the value if held, else like ``find_node``."""

    NAME: ClassVar[str] = "find_value"
    sender: int
    key: int

    def args(self) -> list[Any]:
        return [id_to_bytes(self.sender), id_to_bytes(self.key)]


@dataclass(frozen=True, slots=True)
class PingReply:
    """Reply to ``ping``: the responder's node id."""

    node_id: int

    def body(self) -> Any:
        return id_to_bytes(self.node_id)


@dataclass(frozen=True, slots=True)
class StoreReply:
    """Reply to ``store``: whether the record was kept."""

    ok: bool

    def body(self) -> Any:
        return self.ok


@dataclass(frozen=True, slots=True)
class NodesReply:
    """Reply to ``find_node`` (and to ``find_value`` on a miss): closest known contacts."""

    contacts: tuple[Contact, ...]

    def body(self) -> Any:
        return [c.to_wire() for c in self.contacts]


@dataclass(frozen=True, slots=True)
class ValueReply:
    """Reply to ``find_value`` on a hit: ``{"value": v}``."""

    value: Value

    def body(self) -> Any:
        return {"value": self.value}


@dataclass(frozen=True, slots=True)
class Request:
    """A decoded request datagram."""

    xid: bytes
    message: Message


@dataclass(frozen=True, slots=True)
class Response:
    """A decoded response datagram; ``body`` is checked later by :func:`parse_reply`."""

    xid: bytes
    body: Any


# --------------------------------------------------------------------------------------------- registry


@dataclass(frozen=True, slots=True)
class RPCSpec:
    """How one RPC name is parsed and replied to.

    Parameters
    ----------
    name : str
        The RPC name on the wire.
    parse_args : callable
        ``list -> Message``; raises ``DecodeError("bad_args")`` on a bad shape.
    parse_reply : callable
        ``(Message, body) -> reply object``; raises ``DecodeError("bad_reply")``.
    idempotent : bool
        ``False`` for requests whose replies go through the server reply cache so a retransmission
        (same XID) executes at most once.
    """

    name: str
    parse_args: Callable[[list[Any]], Message]
    parse_reply: Callable[[Message, Any], Any]
    idempotent: bool = True


_REGISTRY: dict[str, RPCSpec] = {}


def register(spec: RPCSpec) -> RPCSpec:
    """Add an RPC to the registry (extensions call this at import).

    Raises
    ------
    ValueError
        If the name is already registered.
    """
    if spec.name in _REGISTRY:
        raise ValueError(f"RPC {spec.name!r} already registered")
    _REGISTRY[spec.name] = spec
    return spec


def rpc_spec(name: str) -> RPCSpec | None:
    """The registered spec for ``name``, or ``None``."""
    return _REGISTRY.get(name)


def rpc_names() -> list[str]:
    """All registered RPC names, sorted."""
    return sorted(_REGISTRY)


# --------------------------------------------------------------------------------------------- checks


def _id(value: Any, reason: str) -> int:
    if type(value) is not bytes or len(value) != ID_BYTES:
        raise DecodeError(reason)
    return id_from_bytes(value)


def check_value(value: Any) -> Value:
    """Return ``value`` if it is a wire value (int, float, bool, str, bytes).

    Raises
    ------
    InvalidValue
        For any other type (``None``, lists, dicts, ...), or an int outside ``[-2**63, 2**64)``.
    """
    if type(value) not in _VALUE_TYPES:
        raise InvalidValue(f"a value is int, float, bool, str or bytes, not {type(value).__name__}")
    if type(value) is int and not -(2**63) <= value < 2**64:
        raise InvalidValue("an int value must fit msgpack: -2**63 <= value < 2**64")
    return value


def encoded_size(value: Value) -> int:
    """Size of ``value`` packed as msgpack, in bytes."""
    return len(msgpack.packb(value, use_bin_type=True))


@functools.lru_cache(maxsize=4096)
def _is_ip_literal(host: str) -> bool:
    # Cached: a network has few distinct hosts and parsing them is the decoder's hottest path.
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _contact(item: Any) -> Contact:
    if type(item) is not list or len(item) != 3:
        raise DecodeError("bad_reply")
    raw_id, host, port = item
    if type(raw_id) is not bytes or type(host) is not str or type(port) is not int:
        raise DecodeError("bad_reply")
    contact = _contact_memo(raw_id, host, port)
    if contact is None:
        raise DecodeError("bad_reply")
    return contact


@functools.lru_cache(maxsize=65536)
def _contact_memo(raw_id: bytes, host: str, port: int) -> Contact | None:
    # The same contacts come back in reply after reply; memoising the checked result of the (bytes, str,
    # int) triple makes decoding a contact list a dict lookup per entry. Pure and bounded.
    if len(raw_id) != ID_BYTES or not 2 <= len(host) <= 45 or not 0 < port < 65536 or not _is_ip_literal(host):
        return None
    return Contact(int.from_bytes(raw_id, "big"), host, port)


def _contacts(body: Any) -> NodesReply:
    if type(body) is not list or len(body) > MAX_CONTACTS_PER_REPLY:
        raise DecodeError("bad_reply")
    return NodesReply(tuple(_contact(item) for item in body))


def _parse_ping(args: list[Any]) -> Message:
    if len(args) != 1:
        raise DecodeError("bad_args")
    return Ping(_id(args[0], "bad_args"))


def _parse_store(args: list[Any]) -> Message:
    if len(args) != 3 or type(args[2]) not in _VALUE_TYPES:
        raise DecodeError("bad_args")
    return Store(_id(args[0], "bad_args"), _id(args[1], "bad_args"), args[2])


def _parse_find_node(args: list[Any]) -> Message:
    if len(args) != 2:
        raise DecodeError("bad_args")
    return FindNode(_id(args[0], "bad_args"), _id(args[1], "bad_args"))


def _parse_find_value(args: list[Any]) -> Message:
    if len(args) != 2:
        raise DecodeError("bad_args")
    return FindValue(_id(args[0], "bad_args"), _id(args[1], "bad_args"))


def _reply_ping(_: Message, body: Any) -> PingReply:
    return PingReply(_id(body, "bad_reply"))


def _reply_store(_: Message, body: Any) -> StoreReply:
    if type(body) is not bool:
        raise DecodeError("bad_reply")
    return StoreReply(body)


def _reply_find_node(_: Message, body: Any) -> NodesReply:
    return _contacts(body)


def _reply_find_value(_: Message, body: Any) -> NodesReply | ValueReply:
    if type(body) is dict:
        if len(body) != 1 or "value" not in body or type(body["value"]) not in _VALUE_TYPES:
            raise DecodeError("bad_reply")
        return ValueReply(body["value"])
    return _contacts(body)


# --------------------------------------------------------------------------------------------- search

GUID_BYTES = 16
"""Width of a query GUID (as Gnutella's descriptor id)."""
HASH_BYTES = 32
"""Width of an item's content hash (sha256)."""
MAX_KEYWORDS = 8
MAX_KEYWORD_CHARS = 64
MAX_NAME_CHARS = 255
MAX_TAGS = 8
MAX_HIT_ITEMS = 64
MAX_EXCHANGE = 16
"""Most contacts a ``neighbour`` reply offers for peer exchange."""
_BYTE = 255
_SIZE_MAX = 2**63 - 1
_BAD = "bad_query"


@dataclass(frozen=True, slots=True)
class HitItem:
    """One matching item in a QUERY_HIT: ``[name, content hash (bin 32), size, [tags]]``."""

    name: str
    content_hash: bytes
    size: int
    tags: tuple[str, ...] = ()

    def to_wire(self) -> list[Any]:
        return [self.name, self.content_hash, self.size, list(self.tags)]


@dataclass(frozen=True, slots=True)
class Neighbour(Message):
    """``neighbour [sender_id, join]``: ask to become (or stay: the keep-alive) a neighbour; ``join=False``
    leaves. Reply ``[accepted, [contact, ...]]``: the contacts are some of the responder's other neighbours
    (peer exchange)."""

    NAME: ClassVar[str] = "neighbour"
    sender: int
    join: bool

    def args(self) -> list[Any]:
        return [id_to_bytes(self.sender), self.join]


@dataclass(frozen=True, slots=True)
class NeighbourReply:
    """Reply to ``neighbour``."""

    accepted: bool
    contacts: tuple[Contact, ...] = ()

    def body(self) -> Any:
        return [self.accepted, [c.to_wire() for c in self.contacts]]


@dataclass(frozen=True, slots=True)
class Query(Message):
    """``query [sender_id, guid, ttl, hops, origin, keywords, direct]`` (one-way): a flooded search. ``hops``
    is the receiver's distance from the origin; ``direct`` asks holders to send hits to ``origin``."""

    NAME: ClassVar[str] = "query"
    sender: int
    guid: bytes
    ttl: int
    hops: int
    origin: Contact
    keywords: tuple[str, ...]
    direct: bool = False

    def args(self) -> list[Any]:
        return [id_to_bytes(self.sender), self.guid, self.ttl, self.hops, self.origin.to_wire(),
                list(self.keywords), self.direct]


@dataclass(frozen=True, slots=True)
class QueryHit(Message):
    """``query_hit [sender_id, guid, hops, holder, items]`` (one-way): matches at ``holder``, found ``hops``
    hops from the origin; routed back along the query's path or sent to the origin directly."""

    NAME: ClassVar[str] = "query_hit"
    sender: int
    guid: bytes
    hops: int
    holder: Contact
    items: tuple[HitItem, ...]

    def args(self) -> list[Any]:
        return [id_to_bytes(self.sender), self.guid, self.hops, self.holder.to_wire(),
                [i.to_wire() for i in self.items]]


@dataclass(frozen=True, slots=True)
class Walk(Message):
    """``walk [sender_id, guid, ttl, hops, origin, keywords, walker]`` (one-way): one random walker."""

    NAME: ClassVar[str] = "walk"
    sender: int
    guid: bytes
    ttl: int
    hops: int
    origin: Contact
    keywords: tuple[str, ...]
    walker: int = 0

    def args(self) -> list[Any]:
        return [id_to_bytes(self.sender), self.guid, self.ttl, self.hops, self.origin.to_wire(),
                list(self.keywords), self.walker]


@dataclass(frozen=True, slots=True)
class Check(Message):
    """``check [sender_id, guid]``: a walker's check-back with its origin; the reply says whether to go on."""

    NAME: ClassVar[str] = "check"
    sender: int
    guid: bytes

    def args(self) -> list[Any]:
        return [id_to_bytes(self.sender), self.guid]


@dataclass(frozen=True, slots=True)
class CheckReply:
    """Reply to ``check``: ``true`` while the search wants more hits."""

    go_on: bool

    def body(self) -> Any:
        return self.go_on


def _small_int(v: Any, hi: int = _BYTE) -> int:
    if type(v) is not int or not 0 <= v <= hi:
        raise DecodeError(_BAD)
    return v


def _guid(v: Any) -> bytes:
    if type(v) is not bytes or len(v) != GUID_BYTES:
        raise DecodeError(_BAD)
    return v


def _text(v: Any, hi: int) -> str:
    if type(v) is not str or not 1 <= len(v) <= hi:
        raise DecodeError(_BAD)
    return v


def _texts(v: Any, lo: int, hi: int, chars: int) -> tuple[str, ...]:
    if type(v) is not list or not lo <= len(v) <= hi:
        raise DecodeError(_BAD)
    return tuple(_text(x, chars) for x in v)


def _peer(v: Any) -> Contact:
    try:
        return _contact(v)
    except DecodeError:
        raise DecodeError(_BAD) from None


def _search_id(v: Any) -> int:
    return _id(v, _BAD)


def _parse_neighbour(args: list[Any]) -> Message:
    if len(args) != 2 or type(args[1]) is not bool:
        raise DecodeError("bad_args")
    return Neighbour(_id(args[0], "bad_args"), args[1])


def _parse_query(args: list[Any]) -> Message:
    if len(args) != 7 or type(args[6]) is not bool:
        raise DecodeError(_BAD)
    return Query(_search_id(args[0]), _guid(args[1]), _small_int(args[2]), _small_int(args[3]), _peer(args[4]),
                 _texts(args[5], 1, MAX_KEYWORDS, MAX_KEYWORD_CHARS), args[6])


def _hit_item(v: Any) -> HitItem:
    if type(v) is not list or len(v) != 4:
        raise DecodeError(_BAD)
    name, digest, size, tags = v
    if type(digest) is not bytes or len(digest) != HASH_BYTES:
        raise DecodeError(_BAD)
    return HitItem(_text(name, MAX_NAME_CHARS), digest, _small_int(size, _SIZE_MAX),
                   _texts(tags, 0, MAX_TAGS, MAX_KEYWORD_CHARS))


def _parse_query_hit(args: list[Any]) -> Message:
    if len(args) != 5 or type(args[4]) is not list or not 1 <= len(args[4]) <= MAX_HIT_ITEMS:
        raise DecodeError(_BAD)
    return QueryHit(_search_id(args[0]), _guid(args[1]), _small_int(args[2]), _peer(args[3]),
                    tuple(_hit_item(i) for i in args[4]))


def _parse_walk(args: list[Any]) -> Message:
    if len(args) != 7:
        raise DecodeError(_BAD)
    return Walk(_search_id(args[0]), _guid(args[1]), _small_int(args[2]), _small_int(args[3]), _peer(args[4]),
                _texts(args[5], 1, MAX_KEYWORDS, MAX_KEYWORD_CHARS), _small_int(args[6]))


def _parse_check(args: list[Any]) -> Message:
    if len(args) != 2:
        raise DecodeError(_BAD)
    return Check(_search_id(args[0]), _guid(args[1]))


def _reply_neighbour(_: Message, body: Any) -> NeighbourReply:
    if type(body) is not list or len(body) != 2 or type(body[0]) is not bool or type(body[1]) is not list:
        raise DecodeError("bad_reply")
    if len(body[1]) > MAX_EXCHANGE:
        raise DecodeError("bad_reply")
    return NeighbourReply(body[0], tuple(_contact(c) for c in body[1]))


def _reply_check(_: Message, body: Any) -> CheckReply:
    if type(body) is not bool:
        raise DecodeError("bad_reply")
    return CheckReply(body)


def _no_reply(_: Message, body: Any) -> Any:
    raise DecodeError("bad_reply")  # one-way messages are never answered


register(RPCSpec("ping", _parse_ping, _reply_ping))
register(RPCSpec("store", _parse_store, _reply_store, idempotent=False))
register(RPCSpec("find_node", _parse_find_node, _reply_find_node))
register(RPCSpec("find_value", _parse_find_value, _reply_find_value))
register(RPCSpec("neighbour", _parse_neighbour, _reply_neighbour))
register(RPCSpec("query", _parse_query, _no_reply))
register(RPCSpec("query_hit", _parse_query_hit, _no_reply))
register(RPCSpec("walk", _parse_walk, _no_reply))
register(RPCSpec("check", _parse_check, _reply_check))


# --------------------------------------------------------------------------------------------- codec


def _pack(obj: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


def encode_request(xid: bytes, message: Message) -> bytes:
    """Frame a request.

    Parameters
    ----------
    xid : bytes
        20-byte request id; retransmissions reuse it.
    message : Message
        A registered request message.

    Returns
    -------
    bytes
        ``b"\\x00" + xid + msgpack([name, args])``.

    Raises
    ------
    EncodeError
        If the body exceeds :data:`MAX_REQUEST_BODY` (8192 bytes) or ``xid`` is not 20 bytes.
    """
    if len(xid) != XID_BYTES:
        raise EncodeError("an XID is 20 bytes")
    body = _pack([message.NAME, message.args()])
    if len(body) > MAX_REQUEST_BODY:
        raise EncodeError(f"request body of {len(body)} bytes exceeds {MAX_REQUEST_BODY}")
    return b"\x00" + xid + body


def encode_response(xid: bytes, reply: Any) -> bytes:
    """Frame a response; ``reply`` is a reply object (with ``body()``) or a raw msgpack-able body.

    Raises
    ------
    EncodeError
        If the datagram would exceed :data:`MAX_DATAGRAM` bytes.
    """
    body = _pack(reply.body() if hasattr(reply, "body") else reply)
    if len(body) + HEADER_BYTES > MAX_DATAGRAM:
        raise EncodeError("response too large for one datagram")
    return b"\x01" + xid + body


def decode(data: bytes) -> Request | Response:
    """Decode one datagram.

    Parameters
    ----------
    data : bytes
        The UDP payload.

    Returns
    -------
    Request or Response

    Raises
    ------
    DecodeError
        With ``reason`` set, on any deviation from the format (see module docstring).
    """
    if len(data) <= HEADER_BYTES:
        raise DecodeError("short")
    if len(data) > MAX_DATAGRAM:
        raise DecodeError("oversize")
    kind = data[0]
    if kind == TYPE_REQUEST and len(data) - HEADER_BYTES > MAX_REQUEST_BODY:
        raise DecodeError("oversize")
    if kind != TYPE_REQUEST and kind != TYPE_RESPONSE:
        raise DecodeError("type")
    xid = bytes(data[1:HEADER_BYTES])
    try:
        body = msgpack.unpackb(data[HEADER_BYTES:], raw=False, strict_map_key=True, use_list=True)
    except Exception:  # msgpack raises several types (ExtraData, ValueError, UnicodeDecodeError, ...)
        raise DecodeError("msgpack") from None
    if kind == TYPE_RESPONSE:
        return Response(xid, body)
    if type(body) is not list or len(body) != 2 or type(body[0]) is not str or type(body[1]) is not list:
        raise DecodeError("shape")
    spec = _REGISTRY.get(body[0])
    if spec is None:
        raise DecodeError("unknown_rpc")
    return Request(xid, spec.parse_args(body[1]))


def parse_reply(request: Message, body: Any) -> Any:
    """Validate a response body against the request it answers.

    Returns
    -------
    PingReply, StoreReply, NodesReply or ValueReply (or an extension's reply type)

    Raises
    ------
    DecodeError
        ``reason="bad_reply"`` if the body does not have the shape the RPC returns.
    """
    return _REGISTRY[request.NAME].parse_reply(request, body)
