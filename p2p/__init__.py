"""huzhu p2p: authenticated, encrypted, permissioned transport and tx gossip.

See :mod:`p2p.secret` for the wire format and :mod:`p2p.node` for the peer manager.
"""

from .gossip import TxGossip
from .node import P2PNode
from .types import (
    CH_BLOCKSYNC,
    CH_CONSENSUS,
    CH_EVIDENCE,
    CH_TX,
    HandshakeError,
    P2PLimits,
    PeerAddr,
    PeerInfo,
    ProtocolViolation,
)

__all__ = [
    "CH_BLOCKSYNC",
    "CH_CONSENSUS",
    "CH_EVIDENCE",
    "CH_TX",
    "HandshakeError",
    "P2PLimits",
    "P2PNode",
    "PeerAddr",
    "PeerInfo",
    "ProtocolViolation",
    "TxGossip",
]
