"""A node's shared items and keyword matching (layer L3, pure).

An item is a name, tags, a size and a sha256 content hash (plus, locally, the file path it came from).
Matching is by tokens: a name or tag is split into lower-case alphanumeric tokens (``"Free_Software.pdf"``
-> ``free``, ``software``, ``pdf``); a query matches an item when *every* query token is one of the item's
tokens (case-insensitive, order-free, whole tokens only).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ..errors import P2PError
from ..wire import HASH_BYTES, MAX_KEYWORD_CHARS, MAX_KEYWORDS, MAX_NAME_CHARS, MAX_TAGS, HitItem

__all__ = ["Item", "Catalogue", "InvalidQuery", "tokens", "query_keywords"]

_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)


class InvalidQuery(P2PError, ValueError):
    """A search or a shared item that cannot be expressed on the wire (no keywords, too many, too long)."""


def tokens(text: str) -> set[str]:
    """The lower-case alphanumeric tokens of ``text``."""
    return {t.casefold() for t in _TOKEN.findall(text)}


def query_keywords(keywords: str | Iterable[str]) -> tuple[str, ...]:
    """Normalise search keywords (a string or several) to distinct tokens, in order.

    Raises
    ------
    InvalidQuery
        If there is no token, more than 8, or one longer than 64 characters.
    """
    texts = [keywords] if isinstance(keywords, str) else list(keywords)
    out: list[str] = []
    for text in texts:
        if not isinstance(text, str):
            raise InvalidQuery(f"keywords are strings, not {type(text).__name__}")
        for t in _TOKEN.findall(text):
            t = t.casefold()
            if t not in out:
                out.append(t)
    if not out:
        raise InvalidQuery("a search needs at least one keyword (letters or digits)")
    if len(out) > MAX_KEYWORDS:
        raise InvalidQuery(f"a search takes at most {MAX_KEYWORDS} keywords, got {len(out)}")
    long = [t for t in out if len(t) > MAX_KEYWORD_CHARS]
    if long:
        raise InvalidQuery(f"a keyword is at most {MAX_KEYWORD_CHARS} characters: {long[0][:20]}...")
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Item:
    """A shared item.

    Parameters
    ----------
    name : str
        1..255 characters.
    content_hash : bytes
        sha256 of the content (32 bytes); the item's identity.
    size : int
        Bytes.
    tags : tuple of str
        At most 8, each 1..64 characters.
    path : str or None
        The local file it came from (never sent on the wire).
    """

    name: str
    content_hash: bytes
    size: int
    tags: tuple[str, ...] = ()
    path: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not 1 <= len(self.name) <= MAX_NAME_CHARS:
            raise InvalidQuery(f"an item name is 1..{MAX_NAME_CHARS} characters")
        if type(self.content_hash) is not bytes or len(self.content_hash) != HASH_BYTES:
            raise InvalidQuery(f"a content hash is {HASH_BYTES} bytes (sha256)")
        if type(self.size) is not int or not 0 <= self.size < 2**63:
            raise InvalidQuery("an item size is an int in 0..2**63-1")
        if len(self.tags) > MAX_TAGS or any(
            not isinstance(t, str) or not 1 <= len(t) <= MAX_KEYWORD_CHARS for t in self.tags
        ):
            raise InvalidQuery(f"an item has at most {MAX_TAGS} tags of 1..{MAX_KEYWORD_CHARS} characters")

    @property
    def hash_hex(self) -> str:
        return self.content_hash.hex()

    def to_hit(self) -> HitItem:
        return HitItem(self.name, self.content_hash, self.size, tuple(self.tags))


class Catalogue:
    """Items by content hash, with a token index for matching.

    Parameters
    ----------
    max_items : int
        Most items (sharing more raises :class:`InvalidQuery`).
    """

    def __init__(self, max_items: int = 100_000) -> None:
        self.max_items = max_items
        self._items: dict[bytes, Item] = {}
        self._tokens: dict[bytes, frozenset[str]] = {}
        self._index: dict[str, set[bytes]] = {}

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Item]:
        return iter(list(self._items.values()))

    def get(self, content_hash: bytes) -> Item | None:
        return self._items.get(content_hash)

    def add(self, item: Item) -> bool:
        """Share ``item`` (replacing one with the same hash); ``True`` if it is new."""
        new = item.content_hash not in self._items
        if new and len(self._items) >= self.max_items:
            raise InvalidQuery(f"at most {self.max_items} items can be shared")
        self.remove(item.content_hash)
        toks = frozenset(tokens(item.name).union(*(tokens(t) for t in item.tags)))
        self._items[item.content_hash] = item
        self._tokens[item.content_hash] = toks
        for t in toks:
            self._index.setdefault(t, set()).add(item.content_hash)
        return new

    def remove(self, content_hash: bytes) -> Item | None:
        """Stop sharing; returns the item or ``None``."""
        item = self._items.pop(content_hash, None)
        if item is None:
            return None
        for t in self._tokens.pop(content_hash):
            s = self._index.get(t)
            if s is not None:
                s.discard(content_hash)
                if not s:
                    del self._index[t]
        return item

    def match(self, keywords: Iterable[str], limit: int = 64) -> list[Item]:
        """Items whose tokens include every token of ``keywords`` (at most ``limit``, by name)."""
        toks: set[str] = set()
        for k in keywords:
            toks |= tokens(k)
        if not toks:
            return []
        sets = sorted((self._index.get(t, set()) for t in toks), key=len)
        found = set(sets[0]).intersection(*sets[1:])
        items = sorted((self._items[h] for h in found), key=lambda i: (i.name, i.content_hash))
        return items[:limit]
