"""Exception hierarchy of p2p (layer L0).

Every error the library raises on purpose derives from :class:`P2PError`, so callers can catch one class.
Errors caused by bad input *from the network* are never raised out of the core: such input is dropped and
counted (see :meth:`p2p.core.NodeCore.statistics`). These classes are for the local user and the drivers.
"""

from __future__ import annotations

__all__ = [
    "P2PError",
    "ConfigError",
    "DecodeError",
    "EncodeError",
    "ValueTooLarge",
    "InvalidValue",
    "RPCTimeout",
    "NotFound",
    "NoContacts",
    "BootstrapFailed",
    "NodeClosed",
    "ControlError",
]


class P2PError(Exception):
    """Base class of every error raised by p2p."""


class ConfigError(P2PError, ValueError):
    """A configuration value is out of range or inconsistent (raised when the config is built)."""


class DecodeError(P2PError, ValueError):
    """A datagram does not follow the wire format (raised by :func:`p2p.wire.decode`; the core counts it)."""


class EncodeError(P2PError, ValueError):
    """A message cannot be encoded (for example a request body over 8192 bytes, DESIGN.md §6)."""


class ValueTooLarge(EncodeError):
    """A record value is larger than ``KademliaConfig.max_value_size`` bytes once encoded."""


class InvalidValue(EncodeError, TypeError):
    """A record value is not one of the types the wire carries: int, float, bool, str or bytes."""


class RPCTimeout(P2PError):
    """A request got no reply after all its retries."""


class NotFound(P2PError, LookupError):
    """An iterative FIND_VALUE ended without any node returning the key."""


class NoContacts(P2PError):
    """A query was started on a node whose routing table is empty (bootstrap first)."""


class BootstrapFailed(P2PError):
    """None of the bootstrap addresses answered a ping."""


class NodeClosed(P2PError):
    """An operation was started on a node that is shutting down or closed."""


class ControlError(P2PError):
    """The local control endpoint could not be reached or returned an error."""
