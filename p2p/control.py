"""The local control endpoint of a running node (layer L6).

A node started with a data directory serves newline-delimited JSON on a UNIX stream socket,
``data_dir/control.sock``. ``p2p put``, ``p2p get`` and ``p2p node status`` are clients of it
(:class:`ControlClient`). :func:`p2p.node.open_node` starts :func:`serve_control` itself.

Protocol
--------
One JSON object per line in each direction; a connection may carry any number of requests, answered in order.

=============================================================================  ==================================
request                                                                        ``result`` of a successful reply
=============================================================================  ==================================
``{"op": "status"}``                                                           ``node.status()``
``{"op": "get", "key": str}``                                                  ``found``, ``value``, ``value_type``,
                                                                               ``hops``, ``requests``, ``seconds``
``{"op": "put", "key": str, "value": v, "value_type": t}``                     ``acks``, ``targets``,
                                                                               ``stored_locally``, ``seconds``
``{"op": "bootstrap", "addrs": ["host:port", ...]}``                           ``responded``, ``contacts``,
                                                                               ``requests``, ``seconds``
``{"op": "share", "path": str, "name"?, "tags"?: [str], "hash"?, "size"?}``    the item: ``name``, ``hash``,
                                                                               ``size``, ``tags``, ``path``
``{"op": "unshare", "hash": str}``                                             the removed item
``{"op": "shared"}``                                                           ``items``: list of items
``{"op": "search", "keywords": str, "strategy"?, "ttl"?, "walkers"?,           ``hits`` (``name``, ``hash``,
"max_hits"?, "timeout"?, "direct"?}``                                          ``size``, ``tags``, ``holder``,
                                                                               ``hops``, ``seconds``), ``ttl``,
                                                                               ``rounds``, ``messages``, ...
=============================================================================  ==================================

``share`` with ``hash`` (sha256 hex) and ``size`` records the item as given (the CLI hashes the file itself);
without them the node reads and hashes ``path``.

``value_type`` is one of ``"str"``, ``"int"``, ``"float"``, ``"bool"`` or ``"bytes"``; a bytes value travels
as base64 text. Floats that JSON cannot spell (NaN, infinities) are written ``NaN``/``Infinity`` as Python's
:mod:`json` does. Replies are ``{"ok": true, "result": {...}}`` or
``{"ok": false, "error": "one-line message", "kind": "ExceptionClassName"}``.

A request line is at most :data:`MAX_LINE` bytes; a longer one gets an error reply and the connection is closed.
Malformed JSON, unknown ops and bad arguments get error replies (kind ``"BadRequest"``); the server keeps
serving. At most :data:`MAX_CONNECTIONS` connections are served at once.

Access control
--------------
The socket file is created with permissions ``0600`` inside the data directory, which
:func:`p2p.persist.resolve_data_dir` creates ``0700``: only the owning user (and root) can connect. There is
no further authentication, so whoever can connect controls the node. Do not loosen these permissions.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import json
import logging
import math
import os
import socket
import stat
import time
from pathlib import Path
from typing import Any

import trio

from .errors import ControlError, P2PError

__all__ = [
    "SOCKET_NAME",
    "MAX_LINE",
    "MAX_CONNECTIONS",
    "BadRequest",
    "ControlReplyError",
    "ControlClient",
    "serve_control",
    "encode_value",
    "decode_value",
    "item_json",
    "hit_json",
    "search_json",
]

log = logging.getLogger("p2p.control")

SOCKET_NAME = "control.sock"
"""File name of the control socket inside a data directory."""
MAX_LINE = 64 * 1024
"""Longest request line (bytes, without the newline) the server accepts."""
MAX_REPLY = 4 * 1024 * 1024
"""Longest reply line the client accepts."""
MAX_CONNECTIONS = 64
"""Connections served at once; more are answered with an error and closed."""

_UNIX_PATH_MAX = 107  # sun_path is 108 bytes on Linux, including the terminating NUL
_VALUE_TYPES = ("str", "int", "float", "bool", "bytes")


class BadRequest(ControlError):
    """A control request is not valid JSON, names an unknown op, or has bad arguments."""


class ControlReplyError(ControlError):
    """The node answered a control request with an error.

    Attributes
    ----------
    kind : str
        The class name of the exception on the node's side (e.g. ``"NoContacts"``, ``"ValueTooLarge"``).
    """

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


# ------------------------------------------------------------------------------------------ values


def encode_value(value: Any) -> tuple[Any, str]:
    """A record value as ``(json_value, value_type)``; bytes become base64 text.

    Raises
    ------
    BadRequest
        If ``value`` is not int, float, bool, str or bytes.
    """
    kind = type(value)
    if kind is bool:
        return value, "bool"
    if kind is int:
        return value, "int"
    if kind is float:
        return value, "float"
    if kind is str:
        return value, "str"
    if kind is bytes:
        return base64.b64encode(value).decode("ascii"), "bytes"
    raise BadRequest(f"a value is int, float, bool, str or bytes, not {kind.__name__}")


def decode_value(value: Any, value_type: Any) -> Any:
    """The record value a ``(json_value, value_type)`` pair stands for (inverse of :func:`encode_value`).

    Raises
    ------
    BadRequest
        If ``value_type`` is unknown or ``value`` does not match it.
    """
    if value_type not in _VALUE_TYPES:
        raise BadRequest(f"value_type must be one of {', '.join(_VALUE_TYPES)}, not {value_type!r}")
    expected = {"str": str, "int": int, "float": float, "bool": bool, "bytes": str}[value_type]
    if value_type == "float" and type(value) is int:
        value = float(value)
    if type(value) is not expected:
        raise BadRequest(f"value does not match value_type {value_type!r}: got {type(value).__name__}")
    if value_type == "bytes":
        try:
            return base64.b64decode(value.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            raise BadRequest("a bytes value must be base64 text") from None
    return value


# ------------------------------------------------------------------------------------------ server


def _check_path_length(path: Path) -> None:
    if len(os.fsencode(str(path))) > _UNIX_PATH_MAX:
        raise ControlError(
            f"control socket path {path} is longer than {_UNIX_PATH_MAX} bytes (a UNIX socket limit); "
            "use a shorter data dir"
        )


def _bind(path: Path) -> tuple[socket.socket, int]:
    """Bind and listen on ``path`` with mode 0600, clearing a stale socket file first."""
    _check_path_length(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        pass
    else:
        if not stat.S_ISSOCK(st.st_mode):
            raise ControlError(f"{path} exists and is not a socket; remove it or use another data dir")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.settimeout(1.0)
        try:
            probe.connect(str(path))
        except OSError:
            # Nobody listens (ECONNREFUSED) or it vanished: a stale socket from a node that died.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        else:
            raise ControlError(f"another node answers on {path}")
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        old = os.umask(0o177)  # the socket file is born 0600, so there is no window with looser permissions
        try:
            sock.bind(str(path))
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        sock.listen(128)
        sock.setblocking(False)
        return sock, os.stat(path).st_ino
    except OSError as exc:
        sock.close()
        raise ControlError(f"cannot listen on {path}: {exc.strerror or exc}") from None


def _unlink_if_ours(path: Path, inode: int) -> None:
    with contextlib.suppress(OSError):
        if os.lstat(path).st_ino == inode:
            os.unlink(path)


async def serve_control(node: Any, path: Path, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    """Serve the control protocol for ``node`` on the UNIX socket ``path`` until cancelled.

    Use it with ``await nursery.start(serve_control, node, path)``: it reports started (with ``path``) once
    the socket listens. The socket file is removed when the server stops.

    Parameters
    ----------
    node : p2p.node.Node
        The running node (anything with ``status()``, ``get()``, ``put()`` and ``bootstrap()``).
    path : Path
        The socket file, normally ``data_dir / "control.sock"``.

    Raises
    ------
    p2p.errors.ControlError
        If another process answers on ``path``, ``path`` is not a socket, is too long for a UNIX socket, or
        cannot be bound.
    """
    path = Path(path)
    raw, inode = _bind(path)
    sock = trio.socket.from_stdlib_socket(raw)
    limiter = trio.CapacityLimiter(MAX_CONNECTIONS)
    try:
        async with trio.open_nursery() as nursery:
            task_status.started(path)
            while True:
                try:
                    conn, _ = await sock.accept()
                except OSError as exc:
                    if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                        log.warning("control: accept failed (%s); retrying", exc)
                        await trio.sleep(0.1)
                    continue
                nursery.start_soon(_serve_connection, node, trio.SocketStream(conn), limiter)
    finally:
        sock.close()
        _unlink_if_ours(path, inode)


def _reply_bytes(reply: dict[str, Any]) -> bytes:
    return json.dumps(reply, separators=(",", ":")).encode("utf-8") + b"\n"


def _error(message: str, kind: str) -> dict[str, Any]:
    return {"ok": False, "error": message, "kind": kind}


async def _serve_connection(node: Any, stream: trio.SocketStream, limiter: trio.CapacityLimiter) -> None:
    # Never lets an exception out: one misbehaving client must not take the server (or the node) down.
    try:
        async with stream:
            try:
                limiter.acquire_nowait()
            except trio.WouldBlock:
                await stream.send_all(_reply_bytes(_error("too many control connections", "ControlError")))
                return
            try:
                await _connection_loop(node, stream)
            finally:
                limiter.release()
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    except Exception:
        log.exception("control: internal error serving a connection")


async def _connection_loop(node: Any, stream: trio.SocketStream) -> None:
    buf = bytearray()
    eof = False
    while True:
        nl = buf.find(b"\n")
        if nl < 0:
            if len(buf) > MAX_LINE:
                await stream.send_all(
                    _reply_bytes(_error(f"request line longer than {MAX_LINE} bytes", "BadRequest"))
                )
                return
            if eof:
                if buf.strip():  # a last request without its newline
                    await stream.send_all(_reply_bytes(await handle_request(node, bytes(buf))))
                return
            data = await stream.receive_some(MAX_LINE)
            if not data:
                eof = True
            buf += data
            continue
        line = bytes(buf[:nl])
        del buf[: nl + 1]
        if len(line) > MAX_LINE:
            await stream.send_all(
                _reply_bytes(_error(f"request line longer than {MAX_LINE} bytes", "BadRequest"))
            )
            return
        if not line.strip():
            continue
        await stream.send_all(_reply_bytes(await handle_request(node, line)))


async def handle_request(node: Any, line: bytes) -> dict[str, Any]:
    """Answer one request line (without its newline) for ``node``; never raises except on cancellation."""
    try:
        try:
            request = json.loads(line)
        except (ValueError, RecursionError) as exc:
            raise BadRequest(f"request is not valid JSON: {_one_line(exc)}") from None
        if type(request) is not dict:
            raise BadRequest("a request is a JSON object")
        op = request.pop("op", None)
        handler = _OPS.get(op) if type(op) is str else None
        if handler is None:
            raise BadRequest(f"unknown op {op!r}; expected one of {', '.join(sorted(_OPS))}")
        result = await handler(node, request)
        reply = {"ok": True, "result": result}
        _reply_bytes(reply)  # fail here (and answer an error) if the result does not serialise
        return reply
    except P2PError as exc:
        return _error(_one_line(exc), type(exc).__name__)
    except Exception as exc:
        log.exception("control: internal error handling a request")
        return _error(f"internal error: {_one_line(exc)}", type(exc).__name__)


def _args(
    op: str, request: dict[str, Any], required: dict[str, type], optional: tuple[str, ...] = ()
) -> None:
    unknown = set(request) - set(required) - set(optional)
    if unknown:
        raise BadRequest(f"unknown field(s) for op {op!r}: {', '.join(sorted(unknown))}")
    for name, kind in required.items():
        if name not in request:
            raise BadRequest(f"op {op!r} needs the field {name!r}")
        if type(request[name]) is not kind:
            raise BadRequest(f"field {name!r} of op {op!r} must be a {kind.__name__}")


async def _op_status(node: Any, request: dict[str, Any]) -> dict[str, Any]:
    _args("status", request, {})
    return node.status()


def _seconds(x: float) -> float:
    return round(x, 6) if math.isfinite(x) else x


async def _op_get(node: Any, request: dict[str, Any]) -> dict[str, Any]:
    _args("get", request, {"key": str})
    result = await node.get(request["key"])
    if result.found:
        value, value_type = encode_value(result.value)
    else:
        value, value_type = None, None
    return {
        "found": bool(result.found),
        "value": value,
        "value_type": value_type,
        "hops": result.hops,
        "requests": result.requests,
        "seconds": _seconds(result.seconds),
    }


async def _op_put(node: Any, request: dict[str, Any]) -> dict[str, Any]:
    _args("put", request, {"key": str, "value_type": str}, optional=("value",))
    if "value" not in request:
        raise BadRequest("op 'put' needs the field 'value'")
    value = decode_value(request["value"], request["value_type"])
    result = await node.put(request["key"], value)
    return {
        "acks": result.acks,
        "targets": result.targets,
        "stored_locally": bool(result.stored_locally),
        "requests": result.requests,
        "seconds": _seconds(result.seconds),
    }


async def _op_bootstrap(node: Any, request: dict[str, Any]) -> dict[str, Any]:
    _args("bootstrap", request, {"addrs": list})
    addrs = request["addrs"]
    if not addrs or any(type(a) is not str for a in addrs):
        raise BadRequest("field 'addrs' of op 'bootstrap' must be a non-empty list of \"host:port\" strings")
    if len(addrs) > 64:
        raise BadRequest("at most 64 bootstrap addresses")
    result = await node.bootstrap(addrs)
    return {
        "responded": result.responded,
        "contacts": result.contacts,
        "requests": result.requests,
        "seconds": _seconds(result.seconds),
    }


def item_json(item: Any) -> dict[str, Any]:
    """A shared item as JSON: ``name``, ``hash`` (sha256 hex), ``size``, ``tags``, ``path``."""
    return {"name": item.name, "hash": item.content_hash.hex(), "size": item.size, "tags": list(item.tags),
            "path": item.path}


def hit_json(hit: Any) -> dict[str, Any]:
    """A search hit as JSON: ``name``, ``hash``, ``size``, ``tags``, ``holder`` (``{node_id, address}``),
    ``hops``, ``seconds``."""
    h = hit.holder
    return {
        "name": hit.name,
        "hash": hit.content_hash,
        "size": hit.size,
        "tags": list(hit.tags),
        "holder": {"node_id": f"{h.node_id:040x}", "address": f"[{h.host}]:{h.port}" if ":" in h.host else f"{h.host}:{h.port}"},
        "hops": hit.hops,
        "seconds": _seconds(hit.seconds),
    }


def _str_list(op: str, name: str, value: Any) -> list[str]:
    if type(value) is not list or any(type(x) is not str for x in value):
        raise BadRequest(f"field {name!r} of op {op!r} must be a list of strings")
    return value


async def _op_share(node: Any, request: dict[str, Any]) -> dict[str, Any]:
    from .search.catalogue import Item

    _args("share", request, {"path": str}, optional=("name", "tags", "size", "hash"))
    tags = _str_list("share", "tags", request.get("tags", []))
    name = request.get("name")
    if name is not None and type(name) is not str:
        raise BadRequest("field 'name' of op 'share' must be a string")
    if "hash" in request or "size" in request:
        digest, size = request.get("hash"), request.get("size")
        if type(digest) is not str or type(size) is not int:
            raise BadRequest("op 'share' takes 'hash' (sha256 hex) and 'size' (int) together")
        try:
            raw = bytes.fromhex(digest)
        except ValueError:
            raise BadRequest("field 'hash' of op 'share' must be hexadecimal") from None
        what: Any = Item(name or Path(request["path"]).name, raw, size, tuple(tags), request["path"])
        item = await node.share(what)
    else:
        item = await node.share(request["path"], name=name, tags=tags)
    return item_json(item)


async def _op_unshare(node: Any, request: dict[str, Any]) -> dict[str, Any]:
    _args("unshare", request, {"hash": str})
    item = node.unshare(request["hash"].strip().lower())
    if item is None:
        from .errors import NotFound

        raise NotFound(f"no shared item has hash {request['hash']}")
    return item_json(item)


async def _op_shared(node: Any, request: dict[str, Any]) -> dict[str, Any]:
    _args("shared", request, {})
    return {"items": [item_json(i) for i in node.items()]}


async def _op_search(node: Any, request: dict[str, Any]) -> dict[str, Any]:
    _args("search", request, {"keywords": str}, optional=("strategy", "ttl", "walkers", "max_hits", "timeout", "direct"))
    kwargs: dict[str, Any] = {}
    for name in ("ttl", "walkers", "max_hits"):
        v = request.get(name)
        if v is not None:
            if type(v) is not int:
                raise BadRequest(f"field {name!r} of op 'search' must be an int")
            kwargs[name] = v
    strategy = request.get("strategy", "flood")
    if type(strategy) is not str:
        raise BadRequest("field 'strategy' of op 'search' must be a string")
    timeout = request.get("timeout", 5.0)
    if type(timeout) not in (int, float) or not 0 < timeout <= 300:
        raise BadRequest("field 'timeout' of op 'search' must be a number of seconds in (0, 300]")
    direct = request.get("direct")
    if direct is not None and type(direct) is not bool:
        raise BadRequest("field 'direct' of op 'search' must be a bool")
    result = await node.search(request["keywords"], strategy=strategy, timeout=float(timeout), direct=direct, **kwargs)
    return search_json(result)


def search_json(result: Any) -> dict[str, Any]:
    """A :class:`p2p.core.SearchResult` as JSON."""
    return {
        "keywords": list(result.keywords),
        "strategy": result.strategy,
        "hits": [hit_json(h) for h in result.hits],
        "ttl": result.ttl,
        "rounds": result.rounds,
        "messages": result.messages,
        "satisfied": bool(result.satisfied),
        "seconds": _seconds(result.seconds),
    }


_OPS = {
    "status": _op_status,
    "get": _op_get,
    "put": _op_put,
    "bootstrap": _op_bootstrap,
    "share": _op_share,
    "unshare": _op_unshare,
    "shared": _op_shared,
    "search": _op_search,
}


# ------------------------------------------------------------------------------------------ client


class ControlClient:
    """A synchronous client of a node's control endpoint (what the CLI uses).

    Parameters
    ----------
    path : path-like
        The control socket, or a data directory (then ``path / "control.sock"`` is used).
    timeout : float
        Seconds to wait for connecting and for each reply.

    Every method raises :class:`p2p.errors.ControlError` with a one-line message when no node runs there,
    the connection fails or times out, or the node answers with an error (then a :class:`ControlReplyError`
    whose ``kind`` names the node-side exception).
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 60.0) -> None:
        p = Path(path).expanduser()
        if p.is_dir():
            p = p / SOCKET_NAME
        self.path = p
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"ControlClient({str(self.path)!r})"

    def request(self, op: str, **args: Any) -> dict[str, Any]:
        """Send ``{"op": op, **args}`` and return the reply's ``result``.

        Raises
        ------
        p2p.errors.ControlError
            See the class docstring.
        """
        line = json.dumps({"op": op, **args}, separators=(",", ":")).encode("utf-8") + b"\n"
        if len(line) > MAX_LINE:
            raise ControlError(
                f"request is {len(line)} bytes, more than the control endpoint accepts ({MAX_LINE}); "
                "record values are limited to a few KiB"
            )
        raw = self._exchange(line)
        try:
            reply = json.loads(raw)
        except ValueError:
            raise ControlError(f"malformed reply from the node at {self.path}") from None
        if type(reply) is not dict:
            raise ControlError(f"malformed reply from the node at {self.path}")
        if reply.get("ok") is True and type(reply.get("result")) is dict:
            return reply["result"]
        message = reply.get("error")
        kind = reply.get("kind")
        raise ControlReplyError(
            message if type(message) is str and message else "the node replied with an error",
            kind if type(kind) is str else "ControlError",
        )

    def _exchange(self, line: bytes) -> bytes:
        where = self.path.parent
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            try:
                self._connect(sock)
            except FileNotFoundError:
                raise ControlError(f"no node is running with data dir {where} (no {self.path})") from None
            except ConnectionRefusedError:
                raise ControlError(f"no node is running with data dir {where} (stale {self.path})") from None
            except PermissionError:
                raise ControlError(
                    f"permission denied on {self.path} (the control endpoint is owner-only)"
                ) from None
            except TimeoutError:
                raise ControlError(f"timed out connecting to {self.path}") from None
            except OSError as exc:
                raise ControlError(f"cannot connect to {self.path}: {exc.strerror or exc}") from None
            try:
                sock.sendall(line)
                buf = bytearray()
                while b"\n" not in buf:
                    chunk = sock.recv(65536)
                    if not chunk:
                        raise ControlError(f"the node at {self.path} closed the connection without replying")
                    buf += chunk
                    if len(buf) > MAX_REPLY:
                        raise ControlError(f"reply from the node at {self.path} is too long")
            except TimeoutError:
                raise ControlError(
                    f"the node at {self.path} did not reply within {self.timeout:g} s"
                ) from None
            except OSError as exc:
                raise ControlError(
                    f"control connection to {self.path} failed: {exc.strerror or exc}"
                ) from None
            return bytes(buf[: buf.index(b"\n")])
        finally:
            sock.close()

    def _connect(self, sock: socket.socket) -> None:
        # A UNIX socket whose listen backlog is full refuses at once with EAGAIN; retry until the timeout.
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                sock.connect(str(self.path))
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise TimeoutError from None
                time.sleep(0.01)

    # ------------------------------------------------------------------ conveniences

    def status(self) -> dict[str, Any]:
        """``node.status()`` of the node."""
        return self.request("status")

    def get(self, key: str) -> dict[str, Any]:
        """Get ``key``; the returned ``value`` is decoded (bytes are bytes again)."""
        result = self.request("get", key=key)
        if result.get("found"):
            try:
                result["value"] = decode_value(result.get("value"), result.get("value_type"))
            except BadRequest as exc:
                raise ControlError(f"malformed reply from the node at {self.path}: {exc}") from None
        return result

    def put(self, key: str, value: Any) -> dict[str, Any]:
        """Put ``value`` (int, float, bool, str or bytes) under ``key``."""
        encoded, value_type = encode_value(value)
        return self.request("put", key=key, value=encoded, value_type=value_type)

    def bootstrap(self, addrs: list[str]) -> dict[str, Any]:
        """Join (again) through ``addrs`` (``"host:port"`` strings)."""
        return self.request("bootstrap", addrs=list(addrs))

    def share(self, path: str, **fields: Any) -> dict[str, Any]:
        """Share a file (``name``, ``tags``, ``hash``, ``size`` optional)."""
        return self.request("share", path=path, **{k: v for k, v in fields.items() if v is not None})

    def unshare(self, content_hash: str) -> dict[str, Any]:
        """Stop sharing the item with this sha256 hex."""
        return self.request("unshare", hash=content_hash)

    def shared(self) -> list[dict[str, Any]]:
        """The shared items."""
        return self.request("shared")["items"]

    def search(self, keywords: str, **options: Any) -> dict[str, Any]:
        """Search the overlay (``strategy``, ``ttl``, ``walkers``, ``max_hits``, ``timeout``, ``direct``)."""
        return self.request("search", keywords=keywords, **{k: v for k, v in options.items() if v is not None})
