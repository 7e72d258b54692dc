"""Bundles: the small messages queued for a peer together leave as one frame, and a receiver
takes a bundle apart in order or refuses (and bans) a malformed one like a malformed frame."""

from __future__ import annotations

import pytest
from conftest import Net
from p2p_testutil import Rec, closed_by_peer, eventually, key, limits, raw_handshake

from p2p.peer import (
    ACCEPT_FRAME,
    BUNDLE_HEADER,
    BUNDLE_ITEM_MAX,
    bundle_limit,
    pack_bundle,
    split_bundle,
)
from p2p.secret import SecretConnection


def test_pack_and_split_round_trip() -> None:
    messages = [b"\x01vote", b"\x04status", b"\x00\x01" + bytes(8), b"\x02" + bytes(300)]
    packed = pack_bundle(messages)
    assert packed.startswith(BUNDLE_HEADER)
    assert split_bundle(packed) == messages


def _n(m: bytes) -> bytes:
    return len(m).to_bytes(4, "big") + m


@pytest.mark.parametrize(
    "plaintext",
    [
        BUNDLE_HEADER,  # no message
        BUNDLE_HEADER + _n(b"\x01one"),  # a bundle of one
        BUNDLE_HEADER + _n(b"\x01a") + (0).to_bytes(4, "big"),  # an empty message
        BUNDLE_HEADER + _n(b"\x01a") + b"\x00\x00",  # a truncated length
        BUNDLE_HEADER + _n(b"\x01a") + (9).to_bytes(4, "big") + b"\x01abc",  # past the end
        BUNDLE_HEADER + _n(b"\x01a") + _n(pack_bundle([b"\x01x", b"\x01y"])),  # nested
    ],
)
def test_malformed_bundles_are_refused(plaintext: bytes) -> None:
    with pytest.raises(ValueError):
        split_bundle(plaintext)


async def _raw_peer(net: Net, signer_index: int) -> tuple[Rec, SecretConnection, bytes]:
    """A node and a hand-driven peer linked to it, the node's accept already read."""
    b = await net.node(key(2))
    peer = key(signer_index)
    conn, _ = await raw_handshake(b.port, peer)
    net.track(conn.writer)
    assert await conn.recv() == ACCEPT_FRAME
    assert await eventually(lambda: b.node.connected(peer.public_key))
    return b, conn, peer.public_key


def test_bundle_limit_is_the_frames_at_most() -> None:
    assert bundle_limit(8 * 1024 * 1024) == 64 * 1024
    assert bundle_limit(4096) == 4096 - 16


async def test_messages_queued_together_leave_as_one_frame_in_order(net: Net) -> None:
    b, conn, pid = await _raw_peer(net, 5)
    big = b"B" * (BUNDLE_ITEM_MAX + 1)
    sent = [(1, b"vote"), (4, b"status"), (1, big), (3, b"evidence")]
    for channel, payload in sent:  # one loop turn: the writer finds all four waiting
        assert b.node.send(pid, channel, payload)
    first = await conn.recv()
    assert split_bundle(first) == [b"\x01vote", b"\x04status"]
    assert await conn.recv() == b"\x01" + big  # a large message goes alone, in its place
    assert await conn.recv() == b"\x03evidence"  # one small message is a plain frame
    assert b.node.sent_bytes[1] == len(b"\x01vote") + 1 + len(big)


async def test_bundles_never_exceed_the_frame_limit(net: Net) -> None:
    lim = limits(max_frame_bytes=1024, gossip_batch_bytes=512)
    b = await net.node(key(2), lim=lim)
    a = await net.node(key(1), [b.addr()], lim=lim)
    assert await eventually(lambda: a.node.connected(b.id) and b.node.connected(a.id))
    payloads = [bytes([i]) * 200 for i in range(40)]  # 8 KB queued at once, 1 KB frames
    for p in payloads:
        assert a.node.send(b.id, 1, p)
    assert await eventually(lambda: len(b.msgs) == len(payloads))
    assert [m[2] for m in b.msgs] == payloads  # in order; no frame over the bound was refused
    assert b.node.connected(a.id) and not b.node.banned(a.id)


async def test_a_bundle_is_handled_like_its_messages_one_by_one(net: Net) -> None:
    b, conn, pid = await _raw_peer(net, 5)
    ping = b"\x00\x01" + b"12345678"
    conn.writer.write(conn.seal(pack_bundle([b"\x01one", ping, b"\x04two", b"\x03three"])))
    assert await eventually(lambda: len(b.msgs) == 3)
    assert b.msgs == [(pid, 1, b"one"), (pid, 4, b"two"), (pid, 3, b"three")]
    assert await conn.recv() == b"\x00\x02" + b"12345678"  # the ping inside was answered
    assert b.node.recv_bytes[1] == len(b"\x01one") and b.node.recv_bytes[0] >= len(ping)


@pytest.mark.parametrize(
    "plaintext",
    [
        BUNDLE_HEADER + _n(b"\x01one"),  # a bundle of one
        BUNDLE_HEADER + _n(b"\x01a") + (9).to_bytes(4, "big") + b"\x01abc",  # past the end
        pack_bundle([b"\x01a", pack_bundle([b"\x01x", b"\x01y"])]),  # nested
        pack_bundle([b"\x01a", ACCEPT_FRAME]),  # an accept after the handshake
        pack_bundle([b"\x01a", b"\x09unknown channel"]),
    ],
)
async def test_a_malformed_bundle_bans_its_sender(net: Net, plaintext: bytes) -> None:
    b = await net.node(key(2))
    bad = key(6)
    conn, _ = await raw_handshake(b.port, bad)
    net.track(conn.writer)
    conn.writer.write(conn.seal(plaintext))
    assert await closed_by_peer(conn.reader)
    assert b.node.banned(bad.public_key)
    # what came before the fault in the same bundle may have been handled; nothing after it
    assert all(m[2] in (b"a",) for m in b.msgs)
