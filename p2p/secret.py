"""The authenticated, encrypted link: X25519 key agreement, Ed25519 authentication,
ChaCha20-Poly1305 frames. In the spirit of CometBFT's SecretConnection, simplified.

Wire format (all integers big-endian):

1. hello, plaintext, both sides at once: ``b"HZP" + version(1)`` then the 32-byte ephemeral
   X25519 public key (36 bytes).
2. ``shared = X25519(eph_sk, peer_eph)``; refused when all zero (low-order peer key) or when
   the peer echoed our own key (reflection).
   ``th = BLAKE2b-256(TRANSCRIPT_DOMAIN || u16 len(chain_id) || chain_id || lo || hi)`` with
   ``lo < hi`` the two ephemeral keys sorted, so both sides compute the same bytes.
   ``HKDF-SHA256(ikm=shared, salt=th, info=KEYS_INFO, 96 bytes)`` gives the key the owner of
   ``lo`` sends with, the key the owner of ``hi`` sends with, and a 32-byte challenge.
3. auth, one encrypted frame each way: ``node_key(32) || Ed25519 sig(64)`` over
   ``AUTH_DOMAIN || th || challenge``. A signature is thus bound to this session (both
   ephemeral keys and the DH secret) and this chain: a peer of another chain cannot even
   decrypt the auth frame, since its keys differ.
4. frames: ``u32 len || ChaCha20-Poly1305-IETF(key, nonce, plaintext, aad=len bytes)``, where
   len counts the ciphertext (tag included) and is checked against the limit before the body
   is read: ``HANDSHAKE_MAX_FRAME`` (256) for the auth and accept frames, the node's
   ``max_frame_bytes`` after them. The nonce is a 96-bit little-endian per-direction counter starting at 0 (the auth
   frame uses 0); the link is closed before it could wrap.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import importlib
from typing import Any

import nacl.bindings
import nacl.exceptions
import nacl.public

from state.crypto import Signer, verify

from .types import HandshakeError, P2PError, ProtocolViolation

# 2: frames may be bundles (p2p/peer.py BUNDLE), which a version-1 node would take for a bad
# control frame and ban us for; a different version is refused cleanly at the hello instead
VERSION = 2
HELLO_MAGIC = b"HZP" + bytes([VERSION])
EPH_LEN = 32
HELLO_LEN = len(HELLO_MAGIC) + EPH_LEN
TAG_LEN = 16
NONCE_LEN = 12
LEN_PREFIX = 4
AUTH_LEN = 32 + 64
#: Largest frame read before the peer is authenticated and accepted. The auth frame is
#: 112 bytes of ciphertext and the accept 26; anything larger from a stranger is refused
#: before its body is read, so an unauthenticated peer makes us hold at most this much.
HANDSHAKE_MAX_FRAME = 256
MAX_NONCE = 2**96  # counters must stay strictly below this
TRANSCRIPT_DOMAIN = b"huzhu/p2p/v1/transcript\x00"
KEYS_INFO = b"huzhu/p2p/v1/keys"
AUTH_DOMAIN = b"huzhu/p2p/v1/auth\x00"


class NonceExhausted(P2PError):
    """A direction used all 2**96 nonces: the link closes (no one is at fault)."""


def transcript_hash(chain_id: str, eph_a: bytes, eph_b: bytes) -> bytes:
    """Hash of what both sides agree on before authenticating; order-independent."""
    lo, hi = sorted((eph_a, eph_b))
    cid = chain_id.encode("utf-8")
    if len(cid) > 0xFFFF:
        raise ValueError("chain_id too long")
    data = TRANSCRIPT_DOMAIN + len(cid).to_bytes(2, "big") + cid + lo + hi
    return hashlib.blake2b(data, digest_size=32).digest()


def hkdf_sha256(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869 HKDF; stdlib hmac only, so no extra dependency."""
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def x25519_shared(own_secret: bytes, peer_public: bytes) -> bytes:
    """X25519 that refuses low-order peer keys.

    libsodium already fails (raises) when the result is all zero; we check again ourselves so
    the guarantee does not depend on the library version.
    """
    if len(peer_public) != EPH_LEN:
        raise HandshakeError("ephemeral key must be 32 bytes")
    try:
        shared = nacl.bindings.crypto_scalarmult(own_secret, peer_public)
    except (nacl.exceptions.CryptoError, RuntimeError, ValueError) as exc:
        raise HandshakeError(f"key agreement failed (low-order key?): {exc}") from None
    if not any(shared):
        raise HandshakeError("all-zero shared secret (low-order key)")
    return shared


def derive_session(
    shared: bytes, chain_id: str, own_eph: bytes, peer_eph: bytes
) -> tuple[bytes, bytes, bytes, bytes]:
    """Return (send_key, recv_key, transcript hash, challenge) for our side of the session."""
    th = transcript_hash(chain_id, own_eph, peer_eph)
    okm = hkdf_sha256(shared, th, KEYS_INFO, 96)
    k_lo, k_hi, challenge = okm[:32], okm[32:64], okm[64:]
    if own_eph < peer_eph:
        return k_lo, k_hi, th, challenge
    return k_hi, k_lo, th, challenge


# Frames are sealed and opened by calling libsodium directly (PyNaCl's own binding, so no new
# dependency). nacl.bindings' wrapper checks types and lengths with a dozen eagerly formatted
# messages per call: ~10 us a frame against ~1 us of ChaCha20-Poly1305 for a vote-sized
# frame (bench/node_path.py). Key and nonce lengths are fixed by SecretConnection itself.
# (nacl._sodium is a compiled module without type stubs: imported by name, typed Any)
_sodium = importlib.import_module("nacl._sodium")
_ffi: Any = _sodium.ffi
_lib: Any = _sodium.lib
_alloc = _ffi.new_allocator(should_clear_after_alloc=False)


def aead_seal(plaintext: bytes, aad: bytes, nonce: bytes, key: bytes) -> bytes:
    """ChaCha20-Poly1305-IETF: ciphertext || tag, as nacl.bindings' encrypt returns it."""
    if len(nonce) != NONCE_LEN or len(key) != 32:
        raise ValueError("nonce must be 12 bytes and key 32")
    size = len(plaintext) + TAG_LEN
    out = _alloc("unsigned char[]", size)
    rc = _lib.crypto_aead_chacha20poly1305_ietf_encrypt(
        out, _ffi.NULL, plaintext, len(plaintext), aad, len(aad), _ffi.NULL, nonce, key
    )
    if rc != 0:  # libsodium never fails here for sizes below 2**38 bytes
        raise nacl.exceptions.CryptoError("encryption failed")
    return _ffi.buffer(out, size)[:]


def aead_open(ciphertext: bytes, aad: bytes, nonce: bytes, key: bytes) -> bytes | None:
    """The plaintext of ciphertext || tag, or None when it fails authentication."""
    if len(nonce) != NONCE_LEN or len(key) != 32:
        raise ValueError("nonce must be 12 bytes and key 32")
    size = len(ciphertext) - TAG_LEN
    if size < 0:
        return None
    out = _alloc("unsigned char[]", max(size, 1))
    rc = _lib.crypto_aead_chacha20poly1305_ietf_decrypt(
        out, _ffi.NULL, _ffi.NULL, ciphertext, len(ciphertext), aad, len(aad), nonce, key
    )
    if rc != 0:
        return None
    return _ffi.buffer(out, size)[:]


class SecretConnection:
    """Encrypted framing over an asyncio stream, after the handshake.

    ``seal`` and ``recv`` each own one direction's counter; one writer task seals and one
    reader task receives, so no lock is needed.
    """

    __slots__ = ("reader", "writer", "_send_key", "_recv_key", "_send_n", "_recv_n", "max_frame")

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        send_key: bytes,
        recv_key: bytes,
        max_frame: int,
        *,
        send_counter: int = 0,
        recv_counter: int = 0,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self._send_key = send_key
        self._recv_key = recv_key
        self._send_n = send_counter
        self._recv_n = recv_counter
        self.max_frame = max_frame

    def seal(self, plaintext: bytes) -> bytes:
        """Encrypt one frame (length prefix included) with the next send nonce."""
        if self._send_n >= MAX_NONCE:
            # Reusing a nonce would break ChaCha20-Poly1305 entirely; the link must end first.
            raise NonceExhausted("send nonce exhausted")
        size = len(plaintext) + TAG_LEN
        if size > self.max_frame:
            raise ValueError(f"frame of {size} bytes exceeds max_frame_bytes {self.max_frame}")
        prefix = size.to_bytes(LEN_PREFIX, "big")
        nonce = self._send_n.to_bytes(NONCE_LEN, "little")
        self._send_n += 1
        return prefix + aead_seal(plaintext, prefix, nonce, self._send_key)

    async def recv(self, limit: int | None = None) -> bytes:
        """Read and decrypt one frame; ProtocolViolation on any tampering or bad length.

        ``limit`` (below ``max_frame``) bounds this one frame: the handshake reads the auth
        and accept frames with :data:`HANDSHAKE_MAX_FRAME`.
        """
        prefix = await self.reader.readexactly(LEN_PREFIX)
        size = int.from_bytes(prefix, "big")
        bound = self.max_frame if limit is None else min(limit, self.max_frame)
        # Checked before reading the body so a giant prefix costs us nothing.
        if size > bound:
            raise ProtocolViolation(f"frame of {size} bytes exceeds {bound}")
        if size <= TAG_LEN:
            raise ProtocolViolation(f"frame of {size} bytes is shorter than a tag")
        if self._recv_n >= MAX_NONCE:
            raise NonceExhausted("receive nonce exhausted")
        body = await self.reader.readexactly(size)
        nonce = self._recv_n.to_bytes(NONCE_LEN, "little")
        plaintext = aead_open(body, prefix, nonce, self._recv_key)
        if plaintext is None:
            raise ProtocolViolation("frame failed authentication")
        self._recv_n += 1
        return plaintext


async def handshake(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    node_key: Signer,
    chain_id: str,
    max_frame: int,
) -> tuple[SecretConnection, bytes]:
    """Run our side of the handshake; return the link and the peer's authenticated node key.

    Symmetric: dialer and listener run the same code. Any failure raises HandshakeError (or
    an I/O error); the caller applies the timeout and closes the socket.
    """
    eph = nacl.public.PrivateKey.generate()
    own_eph = bytes(eph.public_key)
    writer.write(HELLO_MAGIC + own_eph)
    await writer.drain()
    hello = await reader.readexactly(HELLO_LEN)
    if hello[: len(HELLO_MAGIC)] != HELLO_MAGIC:
        raise HandshakeError("bad hello magic or protocol version")
    peer_eph = hello[len(HELLO_MAGIC) :]
    if hmac.compare_digest(peer_eph, own_eph):
        raise HandshakeError("peer reflected our ephemeral key")
    shared = x25519_shared(bytes(eph), peer_eph)
    send_key, recv_key, th, challenge = derive_session(shared, chain_id, own_eph, peer_eph)
    conn = SecretConnection(reader, writer, send_key, recv_key, max_frame)
    auth_msg = AUTH_DOMAIN + th + challenge
    writer.write(conn.seal(node_key.public_key + node_key.sign(auth_msg)))
    await writer.drain()
    try:
        auth = await conn.recv(HANDSHAKE_MAX_FRAME)
    except ProtocolViolation as exc:
        # Wrong chain_id or a man in the middle both land here: different keys.
        raise HandshakeError(f"auth frame: {exc}") from None
    if len(auth) != AUTH_LEN:
        raise HandshakeError("auth frame has wrong length")
    peer_key, sig = auth[:32], auth[32:]
    if not verify(peer_key, auth_msg, sig):
        raise HandshakeError("bad auth signature")
    return conn, peer_key
