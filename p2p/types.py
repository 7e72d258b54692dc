"""Value types shared by the p2p package: limits, peer addresses, peer info, errors.

Every bound the transport enforces lives in :class:`P2PLimits`, so the node config can set it
and a test can pin its boundary.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

# The application's channels are numbered in state.codec, next to the encoding, because
# consensus needs them too and may not import p2p; re-exported here for the transport's users.
from state.codec import APP_CHANNELS as APP_CHANNELS
from state.codec import CH_BLOCKSYNC as CH_BLOCKSYNC
from state.codec import CH_CONSENSUS as CH_CONSENSUS
from state.codec import CH_EVIDENCE as CH_EVIDENCE
from state.codec import CH_TX as CH_TX

NODE_ID_LEN = 32
# Channel 0 is the transport's own (ping/pong); the application can never use it.
CH_CONTROL = 0
# ChaCha20-Poly1305 tag + the channel byte: the smallest meaningful frame body.
FRAME_OVERHEAD = 16 + 1


class P2PError(Exception):
    """Base of the errors the transport raises internally."""


class HandshakeError(P2PError):
    """The peer did not complete an authenticated handshake (bad key, bad signature, ...)."""


class ProtocolViolation(P2PError):
    """The peer broke the protocol after authenticating; it is disconnected and banned.

    The application's ``on_message`` raises this for payloads it can prove are garbage
    (undecodable batch, malformed consensus message) to get the same treatment.
    """


class Refused(P2PError):
    """An authenticated connection we do not keep (unlisted, banned, duplicate, full, self)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class P2PLimits:
    """Bounds of the transport. Each is enforced and tested at its boundary.

    ``max_frame_bytes`` bounds the ciphertext length on the wire (the 4-byte length prefix);
    the largest application payload is therefore :attr:`max_payload` (tag and channel byte
    come off). ``max_peers`` bounds established connections; inbound connections beyond it
    are refused, while dials to the configured peers are always made (an operator listed them).
    ``send_queue_bytes`` bounds one peer's queue and ``send_queue_total_bytes`` all of them
    (a send over either is dropped and counted), so peers that stop reading hold at most that.
    Frames of ``bulk_channels`` (transaction gossip) wait behind every other queued frame and
    may fill only ``bulk_queue_share`` of those bounds (a refused batch is offered again at
    the next gossip flush, so gossip slows down instead of crowding out consensus).
    """

    max_frame_bytes: int = 8 * 1024 * 1024
    max_peers: int = 50
    max_pending_handshakes: int = 32
    # Before authentication only the source address is known (see p2p/admission.py).
    max_handshakes_per_address: int = 8
    handshake_rate_per_address: float = 10.0  # new handshakes per second, token bucket
    handshake_burst_per_address: int = 20
    reserved_handshakes: int = 8  # extra slots only the configured peers' addresses may use
    refusal_log_interval_s: float = 10.0  # one summary line of refused strangers per interval
    send_queue_len: int = 1024
    send_queue_bytes: int = 32 * 1024 * 1024  # four whole max-size blocks per peer
    send_queue_total_bytes: int = 96 * 1024 * 1024  # all peers' queues together
    handshake_timeout_s: float = 5.0
    idle_timeout_s: float = 30.0
    ping_interval_s: float = 10.0
    ban_seconds: float = 600.0
    backoff_min_s: float = 0.5
    backoff_max_s: float = 30.0
    gossip_batch_txs: int = 500
    gossip_batch_bytes: int = 1024 * 1024
    gossip_pending_txs: int = 20_000
    seen_cache_per_peer: int = 20_000
    channels: frozenset[int] = APP_CHANNELS
    #: frames of these channels are written only when no frame of another channel waits
    bulk_channels: frozenset[int] = frozenset({CH_TX})
    #: bulk frames may fill at most this share of each send-queue bound (frames, bytes per
    #: peer, bytes in all), so a backlog of gossip never leaves votes without room
    bulk_queue_share: float = 0.5

    def __post_init__(self) -> None:
        # The handshake's auth frame (32-byte key + 64-byte signature) must fit in a frame.
        if self.max_frame_bytes < 16 + 96 or self.max_frame_bytes >= 2**32:
            raise ValueError("max_frame_bytes must be in [112, 2**32)")
        for name in (
            "max_peers",
            "max_pending_handshakes",
            "max_handshakes_per_address",
            "handshake_burst_per_address",
            "send_queue_len",
            "send_queue_bytes",
            "send_queue_total_bytes",
            "gossip_batch_txs",
            "gossip_batch_bytes",
            "gossip_pending_txs",
            "seen_cache_per_peer",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.reserved_handshakes < 0:
            raise ValueError("reserved_handshakes must be >= 0")
        for name in (
            "handshake_timeout_s",
            "idle_timeout_s",
            "ping_interval_s",
            "backoff_min_s",
            "handshake_rate_per_address",
            "refusal_log_interval_s",
        ):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0")
        if self.ban_seconds < 0:
            raise ValueError("ban_seconds must be >= 0")
        if self.ping_interval_s >= self.idle_timeout_s:
            raise ValueError("ping_interval_s must be below idle_timeout_s or idle peers drop")
        if self.backoff_max_s < self.backoff_min_s:
            raise ValueError("backoff_max_s must be >= backoff_min_s")
        if not self.channels or any(not 1 <= c <= 255 for c in self.channels):
            raise ValueError("channels must be non-empty, each in 1..255 (0 is the transport's)")
        if not self.bulk_channels <= self.channels:
            raise ValueError("bulk_channels must be among channels")
        if not 0 < self.bulk_queue_share <= 1:
            raise ValueError("bulk_queue_share must be in (0, 1]")

    @property
    def gossip_batch_limit(self) -> int:
        """Bytes of one tx batch: gossip_batch_bytes, but never more than a frame carries.

        Clamped rather than refused so that a small max_frame_bytes alone is a valid config.
        """
        return min(self.gossip_batch_bytes, self.max_payload)

    @property
    def max_payload(self) -> int:
        """Largest payload ``send`` accepts: the frame minus the AEAD tag and channel byte."""
        return self.max_frame_bytes - FRAME_OVERHEAD


@dataclass(frozen=True, slots=True)
class PeerAddr:
    """A peer to dial: host (DNS name or IP) and port, optionally with the expected node id.

    When ``node_id`` is set, a connection authenticating any other key is refused, so a
    hijacked address cannot impersonate the configured validator.
    """

    node_id: bytes | None
    host: str
    port: int

    def __post_init__(self) -> None:
        if self.node_id is not None and len(self.node_id) != NODE_ID_LEN:
            raise ValueError("node_id must be 32 bytes")
        if not self.host:
            raise ValueError("empty host")
        if not 1 <= self.port <= 65535:
            raise ValueError(f"port out of range: {self.port}")

    @classmethod
    def parse(cls, text: str) -> PeerAddr:
        """Parse ``"hexid@host:port"`` or ``"host:port"``; IPv6 hosts go in brackets."""
        text = text.strip()
        node_id: bytes | None = None
        if "@" in text:
            hex_id, _, text = text.partition("@")
            if len(hex_id) != 2 * NODE_ID_LEN:
                raise ValueError(f"node id must be {2 * NODE_ID_LEN} hex digits")
            try:
                node_id = bytes.fromhex(hex_id)
            except ValueError:
                raise ValueError("node id is not hex") from None
        if text.startswith("["):
            host, sep, rest = text[1:].partition("]")
            if not sep or not rest.startswith(":"):
                raise ValueError(f"bad address: {text!r}")
            ipaddress.IPv6Address(host)
            port_text = rest[1:]
        else:
            host, sep, port_text = text.rpartition(":")
            if not sep or ":" in host:
                raise ValueError(f"address must be host:port: {text!r}")
        if not port_text.isdigit():
            raise ValueError(f"bad port: {port_text!r}")
        return cls(node_id, host, int(port_text))

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        prefix = f"{self.node_id.hex()}@" if self.node_id else ""
        return f"{prefix}{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class PeerInfo:
    """A connected peer as the node and RPC see it; ``dropped`` counts refused sends."""

    node_id: bytes
    address: str
    direction: str  # "inbound" or "outbound"
    dropped: int = 0
