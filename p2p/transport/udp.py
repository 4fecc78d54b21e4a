"""UDP transport on a trio socket (layer L5).

One socket per node carries both requests and replies, so peers learn the node's address from the source of
its datagrams (DESIGN.md §5). IPv4 and IPv6 literals are accepted; host names are resolved once by
:func:`resolve_address` before they reach the core, which only ever sees IP literals.
"""

from __future__ import annotations

import errno
import socket as _socket

import trio

from ..errors import NodeClosed, P2PError
from ..wire import MAX_DATAGRAM, Address
from .base import Transport

__all__ = ["UDPTransport", "parse_address", "resolve_address", "AddressError"]


_BURST = 8
"""Datagrams received back to back before ``receive`` yields to the scheduler."""


class AddressError(P2PError, ValueError):
    """A ``HOST:PORT`` string is malformed, does not resolve, or cannot be bound."""


def parse_address(text: str) -> tuple[str, int]:
    """Split ``"HOST:PORT"`` (or ``"[v6]:PORT"``) into ``(host, port)`` without resolving.

    Raises
    ------
    AddressError
        If there is no port, the port is not an integer in 1..65535, or the host is empty.
    """
    text = text.strip()
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise AddressError(f"malformed address {text!r}: expected [IPv6]:PORT")
        port_text = rest[1:]
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            raise AddressError(f"malformed address {text!r}: expected HOST:PORT")
    if not host:
        raise AddressError(f"malformed address {text!r}: the host is empty")
    try:
        port = int(port_text)
    except ValueError:
        raise AddressError(f"malformed address {text!r}: the port is not a number") from None
    if not 0 < port < 65536:
        raise AddressError(f"malformed address {text!r}: the port must be in 1..65535")
    return host, port


async def resolve_address(text: str | tuple[str, int]) -> Address:
    """Parse and resolve ``HOST:PORT`` (or a tuple) to ``(IP literal, port)`` for UDP.

    Raises
    ------
    AddressError
        If the address is malformed or the host does not resolve.
    """
    host, port = parse_address(text) if isinstance(text, str) else text
    try:
        infos = await trio.socket.getaddrinfo(host, port, type=_socket.SOCK_DGRAM)
    except OSError as exc:
        raise AddressError(f"cannot resolve {host!r}: {exc.strerror or exc}") from None
    ip = infos[0][4][0]
    return (ip, port)


class UDPTransport(Transport):
    """A bound non-blocking UDP socket driven by trio's I/O primitives. Build it with :meth:`bind`.

    The datagram path calls the socket directly and waits with :func:`trio.lowlevel.wait_readable` /
    :func:`trio.lowlevel.wait_writable` only when the socket would block: peer addresses are already IP
    literals (the core never sees host names), so the per-call address resolution of ``trio.socket`` is
    not needed. ``receive`` still yields to the scheduler once per datagram so that one busy node cannot
    starve the others in the same process.
    """

    def __init__(self, sock: _socket.socket) -> None:
        sock.setblocking(False)
        self._sock = sock
        name = sock.getsockname()
        self._addr: Address = (name[0], name[1])
        self._closed = False
        self._burst = 0
        self._stats = dict.fromkeys(
            ("datagrams_sent", "datagrams_received", "bytes_sent", "bytes_received", "send_errors", "receive_errors"),
            0,
        )

    @classmethod
    async def bind(cls, host: str = "127.0.0.1", port: int = 0) -> UDPTransport:
        """Open a UDP socket bound to ``(host, port)``; port 0 picks a free one.

        Raises
        ------
        AddressError
            If the host does not resolve, the port is in use, or the address is not local.
        """
        if not 0 <= port < 65536:
            raise AddressError(f"port {port} is outside 0..65535")
        ip, _ = await resolve_address((host, port or 1))
        family = _socket.AF_INET6 if ":" in ip else _socket.AF_INET
        sock = _socket.socket(family, _socket.SOCK_DGRAM)
        try:
            sock.bind((ip, port))
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE:
                raise AddressError(f"UDP port {port} on {ip} is already in use") from None
            raise AddressError(f"cannot bind UDP {ip}:{port}: {exc.strerror or exc}") from None
        return cls(sock)

    @property
    def local_address(self) -> Address:
        return self._addr

    def _attempt(self, addr: Address, data: bytes) -> bool:
        """Try to send once: ``True`` when the datagram left or is dropped for good (counted), ``False``
        when the socket buffer is full."""
        if self._closed:
            raise NodeClosed("transport closed")
        if len(data) > MAX_DATAGRAM:
            self._stats["send_errors"] += 1
            return True
        try:
            self._sock.sendto(data, addr)
        except BlockingIOError:
            return False
        except OSError:
            self._stats["send_errors"] += 1
            return True
        self._stats["datagrams_sent"] += 1
        self._stats["bytes_sent"] += len(data)
        return True

    async def send(self, addr: Address, data: bytes) -> None:
        if self._attempt(addr, data):
            return
        try:
            await trio.lowlevel.wait_writable(self._sock)
        except (OSError, trio.BusyResourceError):  # closed meanwhile, or another task waits: drop
            self._stats["send_errors"] += 1
            return
        if not self._attempt(addr, data):
            self._stats["send_errors"] += 1

    def send_nowait(self, addr: Address, data: bytes) -> None:
        if not self._attempt(addr, data):  # the buffer is full: dropped, as the kernel drops UDP
            self._stats["send_errors"] += 1

    async def receive(self) -> tuple[Address, bytes]:
        while True:
            if self._closed:
                raise NodeClosed("transport closed")
            try:
                data, addr = self._sock.recvfrom(MAX_DATAGRAM + 1)
            except BlockingIOError:
                self._burst = 0
                try:
                    await trio.lowlevel.wait_readable(self._sock)
                except trio.ClosedResourceError:
                    raise NodeClosed("transport closed") from None
                continue
            except OSError as exc:
                if self._closed or exc.errno == errno.EBADF:
                    raise NodeClosed("transport closed") from None
                # ICMP port unreachable from an earlier send surfaces here on Linux; it is not fatal.
                self._stats["receive_errors"] += 1
                continue
            self._stats["datagrams_received"] += 1
            self._stats["bytes_received"] += len(data)
            self._burst += 1
            if self._burst >= _BURST:
                # Datagrams were waiting: yield now and then so other tasks (other nodes) get their turn
                # and cancellation can arrive.
                self._burst = 0
                await trio.lowlevel.checkpoint()
            return (addr[0], addr[1]), data

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            trio.lowlevel.notify_closing(self._sock)
            self._sock.close()
        await trio.lowlevel.checkpoint()

    def statistics(self) -> dict[str, int]:
        return dict(self._stats)
