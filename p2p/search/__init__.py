"""Unstructured search: neighbour overlay, flooding, expanding ring and random walks (layer L3, pure).

- :mod:`.seen`: the bounded, expiring GUID cache (each node handles a GUID at most once).
- :mod:`.overlay`: the neighbour set (min/target/max), keep-alives, replacement, per-neighbour rate limit.
- :mod:`.flood`: forwarding decisions of floods; the expanding ring's TTL schedule.
- :mod:`.walk`: random walkers' moves and check-backs (Lv et al., ICS 2002, §4).
- :mod:`.catalogue`: shared items and keyword matching.
- :mod:`.query`: the origin's state of a search and its result.

:class:`p2p.core.NodeCore` composes them (``start_search``, ``share``, ``unshare``, ``items``).
"""

from .catalogue import Catalogue as Catalogue
from .catalogue import InvalidQuery as InvalidQuery
from .catalogue import Item as Item
from .catalogue import query_keywords as query_keywords
from .catalogue import tokens as tokens
from .overlay import NeighbourState as NeighbourState
from .overlay import Overlay as Overlay
from .query import STRATEGIES as STRATEGIES
from .query import ActiveSearch as ActiveSearch
from .query import SearchHit as SearchHit
from .query import SearchResult as SearchResult
from .seen import SeenCache as SeenCache
