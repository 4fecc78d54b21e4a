"""The transport interface: the only seam between real and simulated networks (layer L5).

A transport moves whole datagrams between UDP-style addresses. :class:`p2p.node.Node` drives one
:class:`p2p.core.NodeCore` over one transport and does not know which kind it has.
"""

from __future__ import annotations

import abc

from ..wire import Address

__all__ = ["Transport", "Address"]


class Transport(abc.ABC):
    """A datagram endpoint.

    Implementations: :class:`p2p.transport.udp.UDPTransport` (a trio UDP socket) and
    :class:`p2p.transport.sim.SimTransport` (an endpoint on an in-memory :class:`~p2p.transport.sim.SimNetwork`).
    """

    @property
    @abc.abstractmethod
    def local_address(self) -> Address:
        """The ``(host, port)`` peers reach this endpoint at."""

    @abc.abstractmethod
    async def send(self, addr: Address, data: bytes) -> None:
        """Send one datagram to ``addr``.

        Best effort, like UDP: a datagram may be lost. Network errors (unreachable host, buffer full) are
        counted in :meth:`statistics` and swallowed, never raised. Raises :class:`p2p.errors.NodeClosed`
        after :meth:`aclose`.
        """

    def send_nowait(self, addr: Address, data: bytes) -> None:
        """Send one datagram without waiting: if it cannot leave at once (a full socket buffer) it is
        dropped and counted, as a kernel drops UDP datagrams. The node driver uses this on its hot path.

        Raises :class:`p2p.errors.NodeClosed` after :meth:`aclose`.
        """
        raise NotImplementedError

    @abc.abstractmethod
    async def receive(self) -> tuple[Address, bytes]:
        """Wait for the next datagram; return ``(source address, payload)``.

        Raises :class:`p2p.errors.NodeClosed` after :meth:`aclose`.
        """

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Release the endpoint. Idempotent."""

    def statistics(self) -> dict[str, int]:
        """Counters: at least ``datagrams_sent``, ``datagrams_received``, ``bytes_sent``, ``bytes_received``,
        ``send_errors``."""
        return {}
