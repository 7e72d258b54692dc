"""TxGossip: each tx at most once per peer, never back to its source, bounded batches."""

from __future__ import annotations

import asyncio
import dataclasses

import msgpack
import pytest
from conftest import Net
from p2p_testutil import FAST, eventually, key, limits

from p2p.gossip import LIST_HEADER_MAX, TxGossip, decode_batch, encode_batch
from p2p.types import CH_TX, PeerInfo, ProtocolViolation
from state.crypto import sha256

A, B, C = b"A" * 32, b"B" * 32, b"C" * 32


class FakeTransport:
    """Records sends; `accept=False` simulates a full send queue."""

    def __init__(self, *peers: bytes) -> None:
        self.ids = list(peers)
        self.sent: list[tuple[bytes, int, list[bytes]]] = []
        self.accept = True

    def peers(self) -> list[PeerInfo]:
        return [PeerInfo(p, "x:1", "outbound") for p in self.ids]

    def send(self, peer_id: bytes, channel: int, payload: bytes) -> bool:
        if not self.accept:
            return False
        lim = FAST
        self.sent.append(
            (peer_id, channel, decode_batch(payload, lim.gossip_batch_txs, lim.gossip_batch_bytes))
        )
        return True

    def to(self, peer: bytes) -> list[bytes]:
        return [w for p, _, batch in self.sent if p == peer for w in batch]


def tx(i: int, size: int = 10) -> tuple[bytes, bytes]:
    wire = i.to_bytes(4, "big") + bytes(size)
    return sha256(wire), wire


# ---------------------------------------------------------------- batch codec


def test_batch_roundtrip() -> None:
    wires = [b"a", bytes(300), bytes(70_000)]
    payload = encode_batch(wires)
    assert decode_batch(payload, 3, len(payload)) == wires


@pytest.mark.parametrize(
    ("payload", "max_txs"),
    [
        (b"", 10),
        (b"\xc1", 10),
        (msgpack.packb([]), 10),  # empty batch
        (msgpack.packb({"a": b"x"}), 10),  # not a list
        (msgpack.packb(["text"]), 10),  # str, not bin
        (msgpack.packb([b""]), 10),  # empty tx
        (msgpack.packb([b"x", 5]), 10),
        (msgpack.packb([b"x", b"x"]), 10),  # repeated tx
        (msgpack.packb([b"a", b"b", b"c"]), 2),  # over the count
        (msgpack.packb([b"x"]) + b"\x00", 10),  # trailing byte
        (b"\xdd\x00\x00\x00\x01\xc4\x01x", 10),  # array32 header where fixarray is canonical
        (b"\x91\xc5\x00\x01x", 10),  # bin16 where bin8 is canonical
    ],
)
def test_decode_batch_refuses(payload: bytes, max_txs: int) -> None:
    with pytest.raises(ProtocolViolation):
        decode_batch(payload, max_txs, 1 << 20)


def test_decode_batch_byte_limit_boundary() -> None:
    payload = encode_batch([bytes(100)])
    assert decode_batch(payload, 1, len(payload)) == [bytes(100)]
    with pytest.raises(ProtocolViolation):
        decode_batch(payload, 1, len(payload) - 1)


# ---------------------------------------------------------------- forwarding


def test_each_tx_once_per_peer_never_back_to_source() -> None:
    t = FakeTransport(A, B, C)
    g = TxGossip(t, FAST)
    h1, w1 = tx(1)
    h2, w2 = tx(2)
    assert g.add(h1, w1, from_peer=A)
    assert g.flush() == 2
    assert t.to(A) == [] and t.to(B) == [w1] and t.to(C) == [w1]
    assert g.flush() == 0  # nothing new
    assert not g.add(h1, w1, from_peer=B)  # known already; B now counts as having it
    assert g.add(h2, w2)
    g.flush()
    g.flush()
    assert t.to(A) == [w2] and t.to(B) == [w1, w2] and t.to(C) == [w1, w2]
    assert all(ch == CH_TX for _, ch, _ in t.sent)


def test_mark_seen_suppresses_sending() -> None:
    t = FakeTransport(A, B)
    g = TxGossip(t, FAST)
    h, w = tx(1)
    g.mark_seen(B, h)  # e.g. B sent it but our mempool already had it
    g.add(h, w)
    g.flush()
    assert t.to(A) == [w] and t.to(B) == []


def test_batches_bounded_by_count_and_bytes_and_drain_in_order() -> None:
    lim = limits(gossip_batch_txs=3, gossip_batch_bytes=LIST_HEADER_MAX + 3 * 202)
    t = FakeTransport(A)
    g = TxGossip(t, lim)
    txs = [tx(i, size=196) for i in range(7)]  # 200-byte wires, 202 bytes encoded
    for h, w in txs:
        g.add(h, w)
    sizes = []
    while g.flush():
        sizes.append(len(t.sent[-1][2]))
    assert sizes == [3, 3, 1]
    assert t.to(A) == [w for _, w in txs]
    for _, _, batch in t.sent:
        assert len(encode_batch(batch)) <= lim.gossip_batch_bytes
    # One byte less and only two such txs fit a batch.
    lim2 = dataclasses.replace(lim, gossip_batch_bytes=lim.gossip_batch_bytes - 1)
    t2 = FakeTransport(A)
    g2 = TxGossip(t2, lim2)
    for h, w in txs[:3]:
        g2.add(h, w)
    g2.flush()
    assert len(t2.sent[0][2]) == 2


def test_batches_never_exceed_a_frame() -> None:
    lim = limits(max_frame_bytes=1024, gossip_batch_bytes=1 << 20)
    t = FakeTransport(A)
    g = TxGossip(t, lim)
    for i in range(20):
        g.add(*tx(i, size=96))  # 100-byte wires
    while g.flush():
        assert len(encode_batch(t.sent[-1][2])) <= lim.max_payload
    assert len(t.to(A)) == 20


def test_tx_larger_than_a_batch_is_not_gossiped() -> None:
    lim = limits(gossip_batch_bytes=1000)
    g = TxGossip(FakeTransport(A), lim)
    fits = bytes(1000 - LIST_HEADER_MAX - 3)  # bin16 header: 3 bytes
    assert g.fits(fits) and not g.fits(fits + b"\x00")
    assert g.add(sha256(fits), fits)
    assert not g.add(sha256(fits + b"\x00"), fits + b"\x00")
    assert len(g) == 1


def test_full_queue_retries_next_flush() -> None:
    t = FakeTransport(A)
    g = TxGossip(t, FAST)
    h, w = tx(1)
    g.add(h, w)
    t.accept = False
    assert g.flush() == 0
    t.accept = True
    assert g.flush() == 1 and t.to(A) == [w]
    assert g.flush() == 0


def test_removed_txs_are_not_sent() -> None:
    t = FakeTransport(A)
    g = TxGossip(t, FAST)
    txs = [tx(i) for i in range(200)]
    for h, w in txs:
        g.add(h, w)
    g.remove([h for h, _ in txs[:150]])  # committed
    assert len(g) == 50
    g.flush()
    assert t.to(A) == [w for _, w in txs[150:]]


def test_pending_bound_evicts_oldest() -> None:
    t = FakeTransport(A)
    g = TxGossip(t, limits(gossip_pending_txs=5))
    txs = [tx(i) for i in range(6)]
    for h, w in txs[:5]:
        g.add(h, w)
    assert len(g) == 5
    g.add(*txs[5])
    assert len(g) == 5
    g.flush()
    assert t.to(A) == [w for _, w in txs[1:]]


def test_seen_cache_bounded_but_cursor_still_prevents_resend() -> None:
    t = FakeTransport(A, B)
    g = TxGossip(t, limits(seen_cache_per_peer=3))
    txs = [tx(i) for i in range(5)]
    for h, w in txs:
        g.add(h, w, from_peer=B)
    # B's cache keeps the 3 most recent: the first 2 look unseen by B now, and go to B.
    g.flush()
    assert t.to(B) == [txs[0][1], txs[1][1]]
    assert len(g._peers[B].seen) == 3
    g.flush()
    assert t.to(B) == [txs[0][1], txs[1][1]] and t.to(A) == [w for _, w in txs]


def test_new_and_reconnecting_peers_get_pending_txs() -> None:
    t = FakeTransport(A)
    g = TxGossip(t, FAST)
    h, w = tx(1)
    g.add(h, w)
    g.flush()
    t.ids.append(B)  # B connects later
    g.flush()
    assert t.to(B) == [w]
    t.ids.remove(B)  # B drops ...
    g.flush()
    t.ids.append(B)  # ... and comes back (maybe restarted with an empty mempool)
    g.flush()
    assert t.to(B) == [w, w] and t.to(A) == [w]


# ---------------------------------------------------------------- over real nodes


async def test_gossip_over_a_line_of_three_nodes(net: Net) -> None:
    """A - B - C: a tx from A reaches C through B, once per link, never backwards."""
    received: list[tuple[str, bytes, bytes]] = []  # (receiver, from, wire)
    gossips: dict[str, TxGossip] = {}
    lim = limits()

    def handler(name: str):
        def on_message(peer: bytes, ch: int, payload: bytes) -> None:
            assert ch == CH_TX
            for w in decode_batch(payload, lim.gossip_batch_txs, lim.gossip_batch_bytes):
                received.append((name, peer, w))
                gossips[name].add(sha256(w), w, from_peer=peer)

        return on_message

    ka, kb, kc = key(1), key(2), key(3)
    ida, idb, idc = ka.public_key, kb.public_key, kc.public_key
    b = await net.node(kb, allowed={ida, idc}, on_message=handler("B"))
    a = await net.node(ka, [b.addr()], allowed={idb}, on_message=handler("A"))
    c = await net.node(kc, [b.addr()], allowed={idb}, on_message=handler("C"))
    for name, rec in (("A", a), ("B", b), ("C", c)):
        gossips[name] = TxGossip(rec.node, lim)
    assert await eventually(lambda: len(b.node.peers()) == 2 and a.node.peers() and c.node.peers())
    txs = [tx(i, size=50) for i in range(20)]
    for h, w in txs:
        gossips["A"].add(h, w)

    async def pump() -> None:
        while True:
            for g in gossips.values():
                g.flush()
            await asyncio.sleep(0.01)

    task = asyncio.ensure_future(pump())
    try:
        assert await eventually(lambda: len(received) == 40)
        await asyncio.sleep(0.1)  # more flushes: nothing else may move
    finally:
        task.cancel()
    wires = [w for _, w in txs]
    assert [w for r, p, w in received if r == "B"] == wires
    assert all(p == ida for r, p, _ in received if r == "B")
    assert [w for r, p, w in received if r == "C"] == wires
    assert all(p == idb for r, p, _ in received if r == "C")
    assert not any(r == "A" for r, _, _ in received)
    assert len(received) == 40


async def test_run_flushes_periodically_until_cancelled() -> None:
    t = FakeTransport(A)
    g = TxGossip(t, FAST)
    task = asyncio.ensure_future(g.run(0.01))
    h, w = tx(1)
    g.add(h, w)
    assert await eventually(lambda: t.to(A) == [w])
    t.accept = None  # type: ignore[assignment]  # send now raises: run() must survive it
    t.send = lambda *a: 1 / 0  # type: ignore[method-assign]
    g.add(*tx(2))
    await asyncio.sleep(0.05)
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
