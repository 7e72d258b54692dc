"""The handshake and frame layer in isolation (no P2PNode)."""

from __future__ import annotations

import asyncio

import nacl.public
import pytest
from p2p_testutil import CHAIN, key

from p2p.secret import (
    HELLO_LEN,
    HELLO_MAGIC,
    MAX_NONCE,
    NonceExhausted,
    SecretConnection,
    derive_session,
    handshake,
    hkdf_sha256,
    transcript_hash,
    x25519_shared,
)
from p2p.types import HandshakeError, ProtocolViolation

# Curve25519 points of small order (u-coordinates), from the public list used by
# libsodium's blocklist: 0, 1, and the order-8 points; all must be refused.
LOW_ORDER = [
    bytes(32),
    (1).to_bytes(32, "little"),
    bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
    bytes.fromhex("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
    bytes.fromhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
]


def test_hkdf_matches_rfc5869_case_1() -> None:
    ikm = bytes([0x0B] * 22)
    salt = bytes(range(13))
    info = bytes(range(0xF0, 0xFA))
    okm = hkdf_sha256(ikm, salt, info, 42)
    assert okm.hex() == (
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    )


def test_transcript_is_symmetric_and_binds_chain_and_keys() -> None:
    a, b = bytes([1]) * 32, bytes([2]) * 32
    assert transcript_hash(CHAIN, a, b) == transcript_hash(CHAIN, b, a)
    assert transcript_hash(CHAIN, a, b) != transcript_hash("other", a, b)
    assert transcript_hash(CHAIN, a, b) != transcript_hash(CHAIN, a, bytes([3]) * 32)
    # The chain id is length-prefixed: moving bytes between it and the keys changes the hash.
    assert transcript_hash("ab", a, b) != transcript_hash("a", a, b)


def test_session_keys_mirror() -> None:
    ka, kb = nacl.public.PrivateKey.generate(), nacl.public.PrivateKey.generate()
    pa, pb = bytes(ka.public_key), bytes(kb.public_key)
    sa = derive_session(x25519_shared(bytes(ka), pb), CHAIN, pa, pb)
    sb = derive_session(x25519_shared(bytes(kb), pa), CHAIN, pb, pa)
    assert sa[0] == sb[1] and sa[1] == sb[0]  # my send key is your receive key
    assert sa[0] != sa[1]
    assert sa[2:] == sb[2:]  # same transcript hash and challenge


@pytest.mark.parametrize("point", LOW_ORDER)
def test_low_order_keys_refused(point: bytes) -> None:
    sk = bytes(nacl.public.PrivateKey.generate())
    with pytest.raises(HandshakeError):
        x25519_shared(sk, point)


def _pipe_pair(
    max_frame: int, counter: int = 0
) -> tuple[SecretConnection, SecretConnection, asyncio.StreamReader]:
    """A sender and a receiver sharing keys (and counters); the receiver reads what we feed."""
    k1, k2 = bytes([7]) * 32, bytes([9]) * 32
    reader = asyncio.StreamReader()
    sender = SecretConnection(None, None, k1, k2, max_frame, send_counter=counter)  # type: ignore[arg-type]
    receiver = SecretConnection(reader, None, k2, k1, max_frame, recv_counter=counter)  # type: ignore[arg-type]
    return sender, receiver, reader


async def test_frames_roundtrip_in_order() -> None:
    sender, receiver, reader = _pipe_pair(1024)
    for msg in (b"\x01hello", b"\x02" + bytes(500), b"\x03x"):
        reader.feed_data(sender.seal(msg))
        assert await receiver.recv() == msg


async def test_frame_size_boundary() -> None:
    sender, receiver, reader = _pipe_pair(1024)
    exact = bytes(1024 - 16)
    reader.feed_data(sender.seal(exact))
    assert await receiver.recv() == exact
    with pytest.raises(ValueError):
        sender.seal(bytes(1024 - 16 + 1))
    # A prefix one over the limit is refused before any body byte arrives.
    reader.feed_data((1025).to_bytes(4, "big"))
    with pytest.raises(ProtocolViolation):
        await asyncio.wait_for(receiver.recv(), 1.0)


async def test_giant_and_tiny_prefix_refused_without_body() -> None:
    _, receiver, reader = _pipe_pair(1024)
    reader.feed_data(b"\xff\xff\xff\xff")
    with pytest.raises(ProtocolViolation):
        await asyncio.wait_for(receiver.recv(), 1.0)
    _, receiver, reader = _pipe_pair(1024)
    reader.feed_data((16).to_bytes(4, "big"))  # a bare tag: no channel byte possible
    with pytest.raises(ProtocolViolation):
        await asyncio.wait_for(receiver.recv(), 1.0)


async def test_tampered_and_replayed_frames_refused() -> None:
    sender, receiver, reader = _pipe_pair(1024)
    frame = sender.seal(b"\x01payload")
    bad = bytearray(frame)
    bad[-1] ^= 1
    reader.feed_data(bytes(bad))
    with pytest.raises(ProtocolViolation):
        await receiver.recv()

    sender, receiver, reader = _pipe_pair(1024)
    frame = sender.seal(b"\x01payload")
    reader.feed_data(frame + frame)
    assert await receiver.recv() == b"\x01payload"
    with pytest.raises(ProtocolViolation):  # same nonce no longer expected
        await receiver.recv()


async def test_nonce_never_wraps() -> None:
    sender, receiver, reader = _pipe_pair(1024, counter=MAX_NONCE - 1)
    reader.feed_data(sender.seal(b"\x01last"))  # the last nonce is usable once
    assert await receiver.recv() == b"\x01last"
    with pytest.raises(NonceExhausted):
        sender.seal(b"\x01again")
    reader.feed_data(_pipe_pair(1024)[0].seal(b"\x01x"))
    with pytest.raises(NonceExhausted):
        await receiver.recv()


async def _socket_pair() -> tuple[
    tuple[asyncio.StreamReader, asyncio.StreamWriter],
    tuple[asyncio.StreamReader, asyncio.StreamWriter],
    asyncio.Server,
]:
    accepted: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
        asyncio.get_running_loop().create_future()
    )

    async def on_conn(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        accepted.set_result((r, w))

    server = await asyncio.start_server(on_conn, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = await asyncio.open_connection("127.0.0.1", port)
    return client, await accepted, server


async def test_handshake_authenticates_both_sides() -> None:
    (cr, cw), (sr, sw), server = await _socket_pair()
    a, b = key(1), key(2)
    (ca, peer_of_a), (cb, peer_of_b) = await asyncio.gather(
        handshake(cr, cw, a, CHAIN, 4096), handshake(sr, sw, b, CHAIN, 4096)
    )
    assert peer_of_a == b.public_key and peer_of_b == a.public_key
    cw.write(ca.seal(b"\x01ping"))
    assert await cb.recv() == b"\x01ping"
    sw.write(cb.seal(b"\x02pong"))
    assert await ca.recv() == b"\x02pong"
    cw.close()
    sw.close()
    server.close()


async def test_handshake_wrong_chain_fails_both_sides() -> None:
    (cr, cw), (sr, sw), server = await _socket_pair()
    results = await asyncio.gather(
        handshake(cr, cw, key(1), CHAIN, 4096),
        handshake(sr, sw, key(2), "other-chain", 4096),
        return_exceptions=True,
    )
    assert all(isinstance(r, HandshakeError) for r in results)
    cw.close()
    sw.close()
    server.close()


async def test_handshake_refuses_bad_magic_and_reflected_key() -> None:
    (cr, cw), (sr, sw), server = await _socket_pair()
    task = asyncio.ensure_future(handshake(sr, sw, key(2), CHAIN, 4096))
    await cr.readexactly(HELLO_LEN)
    cw.write(b"XXXX" + bytes([5]) * 32)
    with pytest.raises(HandshakeError):
        await task

    (cr, cw), (sr, sw), server2 = await _socket_pair()
    task = asyncio.ensure_future(handshake(sr, sw, key(2), CHAIN, 4096))
    hello = await cr.readexactly(HELLO_LEN)
    assert hello.startswith(HELLO_MAGIC)
    cw.write(hello)  # echo the listener's own ephemeral key back at it
    with pytest.raises(HandshakeError):
        await task
    for w in (cw, sw):
        w.close()
    server.close()
    server2.close()


@pytest.mark.parametrize("size", [1, 17, 255, 4096, 70_000])
def test_direct_aead_matches_pynacl_and_refuses_tampering(size: int) -> None:
    # The frame layer calls libsodium itself (PyNaCl's wrapper cost ~10x the cipher);
    # its bytes must stay exactly PyNaCl's, and a flipped bit or wrong aad must fail.
    import nacl.bindings

    from p2p.secret import aead_open, aead_seal

    k = bytes(range(32))
    nonce = (7).to_bytes(12, "little")
    msg = bytes((i * 31) % 256 for i in range(size))
    aad = size.to_bytes(4, "big")
    ct = aead_seal(msg, aad, nonce, k)
    assert ct == nacl.bindings.crypto_aead_chacha20poly1305_ietf_encrypt(msg, aad, nonce, k)
    assert aead_open(ct, aad, nonce, k) == msg
    bad = bytearray(ct)
    bad[size // 2] ^= 1
    assert aead_open(bytes(bad), aad, nonce, k) is None
    assert aead_open(ct, b"\x00" + aad[1:] if aad[0] else b"\x01" + aad[1:], nonce, k) is None
    assert aead_open(ct, aad, (8).to_bytes(12, "little"), k) is None
    assert aead_open(ct[:15], aad, nonce, k) is None  # shorter than a tag
    with pytest.raises(ValueError):
        aead_seal(msg, aad, nonce[:11], k)
    with pytest.raises(ValueError):
        aead_open(ct, aad, nonce, k[:31])
