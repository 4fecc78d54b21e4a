"""p2p: a peer-to-peer overlay toolkit.

A Kademlia DHT (wire-compatible with the PyPI ``kademlia`` 2.2.3 package) and unstructured search (flooding,
expanding ring and random walks over a neighbour overlay), whose protocol logic is a pure
state machine (:class:`NodeCore`) driven over real UDP sockets or an in-memory network in virtual time by
the same thin trio runtime (:func:`open_node`). This module only re-exports the public API.
"""

from .config import KademliaConfig as KademliaConfig
from .config import NodeConfig as NodeConfig
from .config import RPCConfig as RPCConfig
from .config import SearchConfig as SearchConfig
from .core import BootstrapResult as BootstrapResult
from .core import Completed as Completed
from .core import CoreStatistics as CoreStatistics
from .core import Failed as Failed
from .core import FindNodeResult as FindNodeResult
from .core import GetResult as GetResult
from .core import NodeCore as NodeCore
from .core import PutResult as PutResult
from .core import SearchHit as SearchHit
from .core import SearchResult as SearchResult
from .core import SearchStatistics as SearchStatistics
from .core import Send as Send
from .errors import BootstrapFailed as BootstrapFailed
from .errors import ConfigError as ConfigError
from .errors import ControlError as ControlError
from .errors import DecodeError as DecodeError
from .errors import InvalidValue as InvalidValue
from .errors import NoContacts as NoContacts
from .errors import NodeClosed as NodeClosed
from .errors import NotFound as NotFound
from .errors import P2PError as P2PError
from .errors import RPCTimeout as RPCTimeout
from .errors import ValueTooLarge as ValueTooLarge
from .ids import id_from_hex as id_from_hex
from .ids import id_to_hex as id_to_hex
from .ids import key_id as key_id
from .ids import xor_distance as xor_distance
from .linkmodel import LinkModel as LinkModel
from .node import DataDirLocked as DataDirLocked
from .node import Node as Node
from .node import item_from_file as item_from_file
from .node import open_node as open_node
from .search import InvalidQuery as InvalidQuery
from .search import Item as Item
from .store import MemoryStore as MemoryStore
from .store import Record as Record
from .transport.sim import SimNetwork as SimNetwork
from .transport.sim import open_sim_network as open_sim_network
from .transport.udp import AddressError as AddressError
from .transport.udp import UDPTransport as UDPTransport
from .wire import Contact as Contact

__version__ = "0.1.0"
