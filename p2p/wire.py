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
Further RPC names (Chord, search, super-peer) register themselves with :func:`register`.
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
    if type(raw_id) is not bytes or len(raw_id) != ID_BYTES:
        raise DecodeError("bad_reply")
    if type(host) is not str or not 2 <= len(host) <= 45 or type(port) is not int or not 0 < port < 65536:
        raise DecodeError("bad_reply")
    if not _is_ip_literal(host):
        raise DecodeError("bad_reply")
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


register(RPCSpec("ping", _parse_ping, _reply_ping))
register(RPCSpec("store", _parse_store, _reply_store, idempotent=False))
register(RPCSpec("find_node", _parse_find_node, _reply_find_node))
register(RPCSpec("find_value", _parse_find_value, _reply_find_value))


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
