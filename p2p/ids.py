"""160-bit node ids and keys, XOR and ring distance (layer L0).

Ids are plain Python ``int`` values in ``[0, 2**160)`` inside the library (fast XOR and comparison) and
20-byte big-endian strings on the wire. A key (``str`` or ``bytes``) maps to its key id with SHA-1, exactly as
the PyPI ``kademlia`` package's ``digest`` does, so both implementations place a key on the same nodes.

References
----------
Maymounkov & Mazières, "Kademlia: A Peer-to-peer Information System Based on the XOR Metric", IPTPS 2002,
§2.1 (XOR metric). Stoica et al., "Chord", SIGCOMM 2001, §4.1 (identifier circle).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import random

__all__ = [
    "ID_BITS",
    "ID_BYTES",
    "ID_SPACE",
    "NodeId",
    "key_id",
    "key_bytes",
    "id_to_bytes",
    "id_from_bytes",
    "id_to_hex",
    "id_from_hex",
    "xor_distance",
    "bucket_index",
    "ring_distance",
    "random_id",
    "random_id_in_bucket",
]

ID_BITS = 160
"""Width of node ids and key ids, in bits."""
ID_BYTES = ID_BITS // 8
"""Width of node ids and key ids on the wire, in bytes (20)."""
ID_SPACE = 1 << ID_BITS
"""Number of distinct ids (2**160)."""

NodeId = int
"""A node id or key id: an int in ``[0, 2**160)``."""


def key_bytes(key: str | bytes) -> bytes:
    """Return the bytes a key is hashed from: ``key`` itself, or its UTF-8 encoding when it is a ``str``.

    Raises
    ------
    TypeError
        If ``key`` is neither ``str`` nor ``bytes``.
    """
    if isinstance(key, bytes):
        return key
    if isinstance(key, str):
        return key.encode("utf-8")
    raise TypeError(f"a key is str or bytes, not {type(key).__name__}")


def key_id(key: str | bytes) -> NodeId:
    """Return the 160-bit key id of ``key``: ``int(sha1(key_bytes(key)))``.

    Examples
    --------
    >>> id_to_hex(key_id("greeting"))[:8]
    'a0f7e779'
    """
    return int.from_bytes(hashlib.sha1(key_bytes(key)).digest(), "big")


def id_to_bytes(node_id: NodeId) -> bytes:
    """Encode an id as 20 big-endian bytes (the wire form).

    Raises
    ------
    ValueError
        If ``node_id`` is outside ``[0, 2**160)``.
    """
    if not 0 <= node_id < ID_SPACE:
        raise ValueError("id out of range [0, 2**160)")
    return node_id.to_bytes(ID_BYTES, "big")


def id_from_bytes(data: bytes) -> NodeId:
    """Decode a 20-byte big-endian id.

    Raises
    ------
    ValueError
        If ``data`` is not exactly 20 bytes long.
    """
    if len(data) != ID_BYTES:
        raise ValueError(f"an id is {ID_BYTES} bytes, got {len(data)}")
    return int.from_bytes(data, "big")


def id_to_hex(node_id: NodeId) -> str:
    """Return the 40-character lower-case hex form of an id."""
    return id_to_bytes(node_id).hex()


def id_from_hex(text: str) -> NodeId:
    """Parse the 40-character hex form of an id.

    Raises
    ------
    ValueError
        If ``text`` is not 40 hex digits.
    """
    if len(text) != 2 * ID_BYTES:
        raise ValueError(f"an id is {2 * ID_BYTES} hex digits, got {len(text)}")
    return int(text, 16)


def xor_distance(a: NodeId, b: NodeId) -> int:
    """Kademlia distance ``a XOR b`` (paper §2.1): symmetric, zero only for ``a == b``, unidirectional."""
    return a ^ b


def bucket_index(own_id: NodeId, other: NodeId) -> int:
    """Index of the k-bucket ``other`` falls in, seen from ``own_id``.

    Bucket ``i`` holds the ids at XOR distance in ``[2**i, 2**(i+1))``, so the index is
    ``bit_length(own ^ other) - 1`` in ``0..159`` (paper §2.2). Returns ``-1`` for ``other == own_id``.
    """
    return (own_id ^ other).bit_length() - 1


def ring_distance(a: NodeId, b: NodeId) -> int:
    """Clockwise distance from ``a`` to ``b`` on the Chord identifier circle, ``(b - a) mod 2**160``."""
    return (b - a) % ID_SPACE


def random_id(rng: random.Random) -> NodeId:
    """Draw a uniformly random id from the injected ``rng`` (never the global one)."""
    return rng.getrandbits(ID_BITS)


def random_id_in_bucket(own_id: NodeId, index: int, rng: random.Random) -> NodeId:
    """Draw a random id that falls in bucket ``index`` of ``own_id`` (used by bucket refresh, paper §2.3).

    Raises
    ------
    ValueError
        If ``index`` is outside ``0..159``.
    """
    if not 0 <= index < ID_BITS:
        raise ValueError("bucket index out of range 0..159")
    distance = (1 << index) | rng.getrandbits(index) if index else 1
    return own_id ^ distance
