"""Bounds on what an unauthenticated or Byzantine peer can make a node hold (issue 14)."""

from __future__ import annotations

import asyncio

import nacl.public
import pytest
from conftest import Net
from p2p_testutil import closed_by_peer, key, limits, raw_connect

from p2p.secret import HANDSHAKE_MAX_FRAME, HELLO_LEN, HELLO_MAGIC


async def _hello(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Open a connection and complete the plaintext hello, as any stranger can."""
    reader, writer = await raw_connect(port)
    await reader.readexactly(HELLO_LEN)
    writer.write(HELLO_MAGIC + bytes(nacl.public.PrivateKey.generate().public_key))
    await writer.drain()
    return reader, writer


@pytest.mark.parametrize("size", [HANDSHAKE_MAX_FRAME + 1, 8 * 1024 * 1024])
async def test_preauth_frame_over_bound_closed_at_once(net: Net, size: int) -> None:
    # Today the listener waits for the whole announced body (up to max_frame_bytes) until
    # the handshake deadline; a stranger must not make it hold more than the auth frame.
    b = await net.node(key(2), lim=limits(handshake_timeout_s=5.0, max_frame_bytes=16 << 20))
    reader, writer = await _hello(b.port)
    net.track(writer)
    writer.write(size.to_bytes(4, "big"))
    await writer.drain()
    assert await closed_by_peer(reader, timeout=1.5)


async def test_preauth_frame_at_bound_is_read(net: Net) -> None:
    # At the bound the body is read (and then fails authentication): the connection stays
    # open while the body is incomplete, i.e. the bound is not below the auth frame.
    b = await net.node(key(2), lim=limits(handshake_timeout_s=3.0))
    reader, writer = await _hello(b.port)
    net.track(writer)
    writer.write(HANDSHAKE_MAX_FRAME.to_bytes(4, "big") + bytes(10))
    await writer.drain()
    assert not await closed_by_peer(reader, timeout=0.5)
    writer.write(bytes(HANDSHAKE_MAX_FRAME - 10))
    assert await closed_by_peer(reader, timeout=1.5)
