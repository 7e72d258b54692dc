"""TxGossip, the I/O driver of state/txgossip.py's policy: the transport, the clock, the
periodic flush, and gossip over real connections. The rules themselves are tested pure in
tests/state/test_txgossip.py."""

from __future__ import annotations

import asyncio
import logging

import pytest
from conftest import Net
from p2p_testutil import FAST, eventually, key, limits

from p2p.gossip import TxGossip
from p2p.types import CH_TX, PeerInfo
from state.crypto import sha256
from state.txgossip import GossipLimits, TxGossipPolicy, decode_batch, encode_batch

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


class Clock:
    def __init__(self) -> None:
        self.ms = 100_000

    def __call__(self) -> int:
        return self.ms


def tx(i: int, size: int = 10) -> tuple[bytes, bytes]:
    wire = i.to_bytes(4, "big") + bytes(size)
    return sha256(wire), wire


def gossip(
    transport: FakeTransport, delay_ms: int = 0, clock: Clock | None = None, **lim: int
) -> TxGossip:
    policy = TxGossipPolicy(GossipLimits.of(limits(**lim)), relay_delay_ms=delay_ms)
    return TxGossip(transport, policy, clock=clock or Clock())


def test_flush_sends_on_the_tx_channel_to_connected_peers_only() -> None:
    t = FakeTransport(A, B)
    g = gossip(t)
    h, w = tx(1)
    assert g.add(h, w, from_peer=A) and len(g) == 1
    assert g.flush() == 1
    assert t.sent == [(B, CH_TX, [w])]
    t.ids.append(C)  # connects later: gets what is pending
    assert g.flush() == 1 and t.to(C) == [w]


def test_txs_that_became_ready_are_queued_as_our_own_at_the_next_flush() -> None:
    """The `ready` source (the mempool's withheld txs whose gap filled) is drained at each
    flush, and what it gives goes to every peer at once, like a client's tx."""
    t = FakeTransport(A, B)
    h1, w1 = tx(1)
    h2, w2 = tx(2)
    ready: list[list[tuple[bytes, bytes]]] = [[], [(h1, w1), (h2, w2)]]
    g = TxGossip(
        t, TxGossipPolicy(GossipLimits.of(limits()), relay_delay_ms=60_000), clock=Clock(),
        ready=lambda: ready.pop(0) if ready else [],
    )  # fmt: skip
    assert g.flush() == 0 and t.sent == []
    assert g.flush() == 2  # not held by the relay delay
    assert t.to(A) == [w1, w2] and t.to(B) == [w1, w2]
    assert g.flush() == 0 and len(t.sent) == 2


def test_relay_delay_runs_on_the_driver_clock() -> None:
    t, clock = FakeTransport(A, B), Clock()
    g = gossip(t, delay_ms=1_500, clock=clock)
    h, w = tx(1)
    g.add(h, w, from_peer=A)  # arrives at 100_000: due at 101_500
    clock.ms = 101_499
    assert g.flush() == 0
    clock.ms = 101_500
    assert g.flush() == 1 and t.to(B) == [w]


def test_a_peer_that_goes_down_and_back_between_flushes_is_offered_its_txs_again() -> None:
    t, clock = FakeTransport(A, B), Clock()
    policy = TxGossipPolicy(
        GossipLimits.of(limits()), relay_delay_ms=1_500, mesh={A, B}.__contains__
    )
    g = TxGossip(t, policy, clock=clock)
    mine, theirs = tx(1), tx(2)
    g.add(*mine)
    g.add(*theirs, from_peer=A)  # a mesh peer's: held, not relayed
    assert g.flush() == 2 and t.to(B) == [mine[1]]
    g.peer_down(B)  # B's link dropped and came back before the next flush
    assert g.flush() == 1 and t.to(B) == [mine[1], mine[1]]
    g.peer_down(A)  # and A's: its held tx is relayed, after the delay on the driver clock
    assert g.flush() == 1 and t.to(A) == [mine[1], mine[1]]
    clock.ms += 1_499
    assert g.flush() == 0
    clock.ms += 1
    assert g.flush() == 1 and t.to(B) == [mine[1], mine[1], theirs[1]]
    assert theirs[1] not in t.to(A)  # not back to its sender


def test_full_queue_retries_next_flush() -> None:
    t = FakeTransport(A)
    g = gossip(t)
    h, w = tx(1)
    g.add(h, w)
    t.accept = False
    assert g.flush() == 0
    t.accept = True
    assert g.flush() == 1 and t.to(A) == [w]
    assert g.flush() == 0


def test_tx_too_large_to_gossip_is_logged_not_queued(caplog: pytest.LogCaptureFixture) -> None:
    g = gossip(FakeTransport(A), gossip_batch_bytes=1000)
    big = bytes(1000)
    with caplog.at_level(logging.WARNING, logger="huzhu.p2p.gossip"):
        assert not g.add(sha256(big), big)
    assert len(g) == 0 and "too large to gossip" in caplog.text


def test_batches_never_exceed_a_frame() -> None:
    lim = limits(max_frame_bytes=1024, gossip_batch_bytes=1 << 20)
    t = FakeTransport(A)
    g = gossip(t, max_frame_bytes=1024, gossip_batch_bytes=1 << 20)
    for i in range(20):
        g.add(*tx(i, size=96))  # 100-byte wires
    while g.flush():
        assert len(encode_batch(t.sent[-1][2])) <= lim.max_payload
    assert len(t.to(A)) == 20 and len(t.sent) > 1


# ---------------------------------------------------------------- over real nodes


async def test_gossip_over_a_line_of_three_nodes(net: Net) -> None:
    """A - B - C: a tx from A reaches C through B, once per link, never backwards."""
    received: list[tuple[str, bytes, bytes]] = []  # (receiver, from, wire)
    gossips: dict[str, TxGossip] = {}
    lim = limits()
    glim = GossipLimits.of(lim)

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
        gossips[name] = TxGossip(rec.node, TxGossipPolicy(glim))
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
    g = gossip(t)
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
