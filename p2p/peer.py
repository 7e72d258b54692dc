"""One established link's state, and the transport's control-channel constants.

Split from :mod:`p2p.node` so the peer manager stays readable; only the node uses these.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

from .secret import SecretConnection
from .types import CH_CONTROL

# Control channel (0) messages: kind byte + 8 opaque bytes echoed by the pong.
PING = 1
PONG = 2
ACCEPT = 3
CONTROL_LEN = 1 + 1 + 8
# A bundle: ``0x00 0x04`` then, for each of 2 or more messages, ``u32 len || message``, each
# message a frame's plaintext (``channel || payload``) of any channel but a bundle. The writer
# seals the small messages it finds queued together as one frame: a frame costs its sender a
# seal and its receiver two reads and an AEAD open whatever it holds, and at 21 validators a
# node sent ~110 small frames a height (bench/README many9, many10).
BUNDLE = 4
BUNDLE_HEADER = bytes([CH_CONTROL, BUNDLE])
BUNDLE_LEN_PREFIX = 4
#: messages up to this size go into bundles; larger ones (proposals, blocks, big tx batches)
#: gain nothing from it and are sealed alone
BUNDLE_ITEM_MAX = 16 * 1024
#: a bundle's plaintext never exceeds this (nor the frame's limit: see ``bundle_limit``)
BUNDLE_MAX_BYTES = 64 * 1024
# The first frame each side sends after the auth frame, once it decided to keep the link.
ACCEPT_FRAME = bytes([CH_CONTROL, ACCEPT]) + bytes(8)
# Frames sealed back to back and written with one call before one drain: amortises syscalls
# (one per frame before: ~40 votes a height per peer at 21 validators) without starving others.
WRITE_BATCH_BYTES = 1024 * 1024
INBOUND = "inbound"
OUTBOUND = "outbound"


class Link:
    """One established, authenticated connection and its per-peer tasks and queue."""

    __slots__ = (
        "node_id",
        "address",
        "direction",
        "conn",
        "queue",
        "bulk",
        "queued_bytes",
        "waiter",
        "done",
        "closed",
        "tasks",
        "last_recv",
        "established",
        "dropped",
        "pong_pending",
    )

    def __init__(self, node_id: bytes, address: str, direction: str, conn: SecretConnection):
        self.node_id = node_id
        self.address = address
        self.direction = direction
        self.conn = conn
        # Frames of the limits' bulk channels (tx batches) wait in `bulk` behind everything in
        # `queue` (control, consensus, block sync, evidence): a vote never queues behind
        # megabytes of gossip (at 21 validators it did, and heights took rounds to decide).
        self.queue: deque[bytes] = deque()
        self.bulk: deque[bytes] = deque()
        self.queued_bytes = 0
        # the writer's future while it waits for frames (set by wake()); a bare future, not
        # an asyncio.Event: one wake-up per frame per peer, and Event's own bookkeeping was
        # ~5 % of a small frame's cost (bench/consensus_cost.py --frames)
        self.waiter: asyncio.Future[None] | None = None
        self.done = asyncio.Event()
        self.closed = False
        self.tasks: list[asyncio.Task[None]] = []
        self.last_recv = time.monotonic()
        self.established = self.last_recv
        self.dropped = 0
        self.pong_pending = False

    def wake(self) -> None:
        """Let the writer run: frames are waiting."""
        w = self.waiter
        if w is not None and not w.done():
            w.set_result(None)

    def queued(self) -> int:
        """Frames waiting in both queues."""
        return len(self.queue) + len(self.bulk)

    def pop(self) -> bytes:
        """The next frame to write: urgent ones first, bulk ones when none is waiting."""
        return self.queue.popleft() if self.queue else self.bulk.popleft()

    def take_over(self, old: Link) -> None:
        """Adopt what a replaced link to the same peer had not written yet, in its order."""
        self.queue.extend(old.queue)
        self.bulk.extend(old.bulk)
        self.queued_bytes += old.queued_bytes
        self.dropped = old.dropped
        old.queue.clear()
        old.bulk.clear()
        old.queued_bytes = 0

    def clear(self) -> int:
        """Drop both queues; return the bytes they held."""
        held = self.queued_bytes
        self.queue.clear()
        self.bulk.clear()
        self.queued_bytes = 0
        return held


def bundle_limit(max_frame_bytes: int, tag_len: int = 16) -> int:
    """The largest bundle plaintext a link sends: BUNDLE_MAX_BYTES, or what one frame holds."""
    return min(BUNDLE_MAX_BYTES, max_frame_bytes - tag_len)


def pack_bundle(messages: list[bytes]) -> bytes:
    """One plaintext carrying ``messages`` (2 or more) in order; see BUNDLE."""
    parts = [BUNDLE_HEADER]
    for m in messages:
        parts.append(len(m).to_bytes(BUNDLE_LEN_PREFIX, "big"))
        parts.append(m)
    return b"".join(parts)


def split_bundle(plaintext: bytes) -> list[bytes]:
    """The messages of a bundle's plaintext, in order; ValueError when it is malformed (fewer
    than 2 messages, an empty one, a length past the end, a bundle inside a bundle)."""
    out: list[bytes] = []
    end = len(plaintext)
    i = len(BUNDLE_HEADER)
    while i < end:
        j = i + BUNDLE_LEN_PREFIX
        if j > end:
            raise ValueError("bundle: truncated length")
        size = int.from_bytes(plaintext[i:j], "big")
        i = j + size
        if size == 0 or i > end:
            raise ValueError("bundle: empty message or length past the end")
        m = plaintext[j:i]
        if m[0] == CH_CONTROL and len(m) > 1 and m[1] == BUNDLE:
            raise ValueError("bundle inside a bundle")
        out.append(m)
    if len(out) < 2:
        raise ValueError("bundle of fewer than 2 messages")
    return out


def peername(writer: asyncio.StreamWriter) -> str:
    """``host:port`` of the remote end for logs and PeerInfo; "?" if the socket is gone."""
    try:
        name = writer.get_extra_info("peername")
        host, port = name[0], name[1]
    except Exception:
        return "?"
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


def peer_ip(writer: asyncio.StreamWriter) -> str:
    """The remote IP alone: the key of the per-address handshake bounds; "?" if unknown."""
    try:
        return str(writer.get_extra_info("peername")[0])
    except Exception:
        return "?"
