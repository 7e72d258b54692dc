"""Helpers for the p2p tests: keys, fast limits, recording nodes, raw hand-made clients."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import Callable
from typing import Any

from p2p.node import P2PNode
from p2p.peer import ACCEPT_FRAME
from p2p.secret import SecretConnection, handshake
from p2p.types import P2PLimits, PeerAddr
from state.crypto import Signer

CHAIN = "huzhu-test"
HOST = "127.0.0.1"

FAST = P2PLimits(
    max_frame_bytes=64 * 1024,
    handshake_timeout_s=1.0,
    idle_timeout_s=2.0,
    ping_interval_s=0.2,
    ban_seconds=60.0,
    backoff_min_s=0.02,
    backoff_max_s=0.2,
    gossip_batch_bytes=16 * 1024,
)


def limits(**changes: Any) -> P2PLimits:
    return dataclasses.replace(FAST, **changes)


def key(i: int) -> Signer:
    return Signer(bytes([i]) * 32)


async def eventually(cond: Callable[[], bool], timeout: float = 15.0) -> bool:
    """Poll `cond` until true; False when it never became true within `timeout`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if cond():
            return True
        await asyncio.sleep(0.01)
    return cond()


class Rec:
    """A P2PNode plus everything its callbacks saw."""

    def __init__(
        self,
        signer: Signer,
        peers: list[PeerAddr] | None = None,
        allowed: set[bytes] | None = None,
        lim: P2PLimits = FAST,
        chain_id: str = CHAIN,
        on_message: Callable[[bytes, int, bytes], Any] | None = None,
        port: int = 0,
    ) -> None:
        self.key = signer
        self.id = signer.public_key
        self.msgs: list[tuple[bytes, int, bytes]] = []
        self.events: list[tuple[bytes, bool]] = []
        self.allowed = allowed
        self._user_on_message = on_message

        def on_msg(peer: bytes, ch: int, payload: bytes) -> Any:
            self.msgs.append((peer, ch, payload))
            if self._user_on_message is not None:
                return self._user_on_message(peer, ch, payload)
            return None

        self.node = P2PNode(
            signer,
            chain_id,
            (HOST, port),
            peers or [],
            lambda k: self.allowed is None or k in self.allowed,
            lim,
            on_msg,
            lambda p, up: self.events.append((p, up)),
            rng=random.Random(7),
        )

    async def start(self) -> Rec:
        await self.node.start()
        return self

    @property
    def port(self) -> int:
        return self.node.listen_port

    def addr(self, with_id: bool = True) -> PeerAddr:
        return PeerAddr(self.id if with_id else None, HOST, self.port)

    def got(self, peer: bytes, channel: int, payload: bytes) -> bool:
        return (peer, channel, payload) in self.msgs


async def raw_connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(HOST, port)


async def raw_handshake(
    port: int, signer: Signer, chain_id: str = CHAIN, max_frame: int = FAST.max_frame_bytes
) -> tuple[SecretConnection, bytes]:
    """A hand-driven client speaking our handshake (and accept), to misbehave after it.

    The node's own ACCEPT frame is left unread; a test that cares reads it with `conn.recv()`.
    """
    reader, writer = await raw_connect(port)
    conn, peer_key = await asyncio.wait_for(
        handshake(reader, writer, signer, chain_id, max_frame), 2.0
    )
    writer.write(conn.seal(ACCEPT_FRAME))
    return conn, peer_key


async def closed_by_peer(reader: asyncio.StreamReader, timeout: float = 10.0) -> bool:
    """True when the other side closes the connection within `timeout` (data is skipped)."""
    try:
        async with asyncio.timeout(timeout):
            while await reader.read(65536):
                pass
        return True
    except TimeoutError:  # before OSError: TimeoutError is one
        return False
    except OSError:
        return True
