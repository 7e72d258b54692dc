"""Bounds on what an unauthenticated or Byzantine peer can make a node hold (issue 14)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import nacl.public
import pytest
from conftest import Net
from p2p_testutil import closed_by_peer, eventually, key, limits, raw_connect

from p2p.admission import PER_ADDRESS, RATE
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


async def _connect_from(
    port: int, source: str = "127.0.0.1"
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))


async def _served_hello(reader: asyncio.StreamReader) -> bool:
    """True when the node started a handshake (sent its hello); False when it hung up."""
    try:
        return len(await asyncio.wait_for(reader.readexactly(HELLO_LEN), 2.0)) == HELLO_LEN
    except asyncio.IncompleteReadError:
        return False


@pytest.mark.parametrize(
    ("lim", "served", "held", "reason"),
    [
        # the burst is served, the next one from the same address is refused before any hello
        pytest.param(
            {"handshake_burst_per_address": 3, "handshake_rate_per_address": 0.01},
            3,
            False,
            RATE,
            id="rate",
        ),
        # each served handshake then stalls, holding its slot
        pytest.param(
            {"max_handshakes_per_address": 2, "handshake_timeout_s": 3.0},
            2,
            True,
            PER_ADDRESS,
            id="concurrent",
        ),
    ],
)
async def test_handshakes_per_address_boundary(
    net: Net, lim: dict[str, float], served: int, held: bool, reason: str
) -> None:
    b = await net.node(key(2), lim=limits(**lim))
    for _ in range(served):
        reader, writer = await raw_connect(b.port)
        net.track(writer)
        assert await _served_hello(reader)
        if not held:
            writer.close()
    reader, writer = await raw_connect(b.port)
    net.track(writer)
    assert not await _served_hello(reader)
    assert b.node.gate.refused_total[reason] == 1
    # another address has its own bucket and its own slots
    reader, writer = await _connect_from(b.port, "127.0.0.2")
    net.track(writer)
    assert await _served_hello(reader)


async def _stall(net: Net, port: int, n: int, source: str) -> None:
    for _ in range(n):
        reader, writer = await _connect_from(port, source)
        net.track(writer)
        assert await _served_hello(reader)


async def _peer_gone(net: Net, max_pending_handshakes: int) -> tuple[Any, Any]:
    """Node b (one kept handshake slot, long handshake deadline) linked to its configured peer
    a, which then stops: the key a restarts with, and b."""
    a_key = key(11)
    a = await net.node(a_key, allowed={key(2).public_key})
    lim = limits(
        max_pending_handshakes=max_pending_handshakes,
        max_handshakes_per_address=100,
        reserved_handshakes=1,
        handshake_timeout_s=30.0,
    )
    b = await net.node(key(2), [a.addr()], lim=lim)
    assert await eventually(lambda: b.node.connected(a.id))
    await a.node.stop()
    assert await eventually(lambda: not b.node.connected(a.id))
    return a_key, b


async def test_configured_peer_gets_a_kept_slot_under_a_flood(net: Net) -> None:
    # Strangers (127.0.0.2) hold every shared slot with stalled handshakes; the configured
    # peer (127.0.0.1) still links at once instead of waiting for their deadline.
    a_key, b = await _peer_gone(net, max_pending_handshakes=4)
    await _stall(net, b.port, 4, "127.0.0.2")
    reader, writer = await _connect_from(b.port, "127.0.0.2")
    net.track(writer)
    assert not await _served_hello(reader)  # strangers are out of slots
    a2 = await net.node(a_key, [b.addr()], allowed={key(2).public_key})
    assert await eventually(lambda: b.node.connected(a2.id), timeout=3.0)


async def test_configured_peer_evicts_the_oldest_staller(net: Net) -> None:
    # The flood comes from the peers' own address (one host, or a NAT): the kept slots are
    # taken too, and the peer's handshake evicts the oldest pending one.
    a_key, b = await _peer_gone(net, max_pending_handshakes=3)
    await _stall(net, b.port, 4, "127.0.0.1")
    a2 = await net.node(a_key, [b.addr()], allowed={key(2).public_key})
    assert await eventually(lambda: b.node.connected(a2.id), timeout=3.0)
    assert b.node.gate.refused_total["evicted"] >= 1


async def test_refusals_are_summarised_not_logged_each(
    net: Net, caplog: pytest.LogCaptureFixture
) -> None:
    b = await net.node(key(2), lim=limits(refusal_log_interval_s=0.3))
    caplog.set_level(logging.DEBUG + 1, logger="huzhu.p2p")
    for _ in range(40):
        reader, writer = await raw_connect(b.port)
        net.track(writer)
        writer.write(b"GARBAGE!" * 8)
        await closed_by_peer(reader)
    assert await eventually(
        lambda: any(
            "refused" in r.getMessage() and "inbound" in r.getMessage() for r in caplog.records
        ),
        timeout=3.0,
    )
    lines = [r for r in caplog.records if r.name == "huzhu.p2p"]
    assert len(lines) <= 5, [r.getMessage() for r in lines]
    assert sum(b.node.gate.refused_total.values()) == 40


def test_p2p_config_keys_reach_the_limits_and_are_bounded() -> None:
    from node.config import P2PConfig

    cfg = P2PConfig(
        send_queue_total_bytes=1 << 20,
        reserved_handshakes=0,
        max_handshakes_per_address=1,
        handshakes_per_minute_per_address=120,
        handshake_burst_per_address=1,
        refusal_log_interval_ms=100,
        max_pending_handshakes=1,
        send_queue_bytes=64 * 1024,
    )
    lim = cfg.to_limits()
    assert (lim.send_queue_total_bytes, lim.reserved_handshakes) == (1 << 20, 0)
    assert (lim.max_handshakes_per_address, lim.handshake_burst_per_address) == (1, 1)
    assert lim.handshake_rate_per_address == 2 and lim.refusal_log_interval_s == 0.1
    assert (lim.max_pending_handshakes, lim.send_queue_bytes) == (1, 64 * 1024)
    defaults = P2PConfig().to_limits()
    assert defaults.send_queue_total_bytes == 96 << 20 and defaults.reserved_handshakes == 8
    for bad in (
        {"reserved_handshakes": -1},
        {"max_handshakes_per_address": 0},
        {"handshakes_per_minute_per_address": 0},
        {"handshake_burst_per_address": 0},
        {"refusal_log_interval_ms": 99},
        {"send_queue_total_bytes": 64 * 1024 - 1},
    ):
        with pytest.raises(ValueError):
            P2PConfig(**bad)  # type: ignore[arg-type]  # keys given as a dict on purpose


async def test_all_send_queues_bounded_together() -> None:
    # Peers that stop reading each fill their own queue; together they may hold at most
    # send_queue_total_bytes (each plaintext is 1 channel byte + payload).
    from p2p.node import P2PNode
    from p2p.peer import OUTBOUND, Link

    lim = limits(send_queue_bytes=800, send_queue_total_bytes=1000)
    node = P2PNode(key(2), "c", ("127.0.0.1", 0), [], lambda _k: True, lim)
    p1, p2 = (key(i).public_key for i in (11, 12))
    for pid in (p1, p2):
        # no socket: the queue is all this test looks at
        node._peers[pid] = Link(pid, "x", OUTBOUND, None)  # type: ignore[arg-type]  # no conn needed
    assert node.send(p1, 1, bytes(599))
    assert not node.send(p2, 1, bytes(400))  # 600 + 401 > 1000
    assert node.send(p2, 1, bytes(399))  # 600 + 400 == 1000: at the bound
    assert node.queued_total == 1000 and not node.send(p2, 1, b"")
    assert node.peers()[0].dropped + node.peers()[1].dropped == 2
    node._close_peer(node._peers[p1], "test")
    assert node.queued_total == 400 and node.send(p2, 1, bytes(399))


def test_gate_refills_at_its_rate_and_keeps_few_buckets() -> None:
    from p2p import admission
    from p2p.admission import HandshakeGate

    now = [0.0]
    lim = limits(handshake_rate_per_address=1.0, handshake_burst_per_address=2)
    gate = HandshakeGate(lim, lambda: now[0])
    closed: list[int] = []
    for i in range(2):
        assert gate.admit(i, "10.0.0.1", lambda: None, 0) is None
        gate.release(i)
    assert gate.admit(2, "10.0.0.1", lambda: None, 0) == "rate"
    now[0] = 0.99
    assert gate.admit(3, "10.0.0.1", lambda: None, 0) == "rate"
    now[0] = 1.0  # exactly one token refilled at 1/s since the burst was spent at 0
    assert gate.admit(4, "10.0.0.1", lambda: None, 0) is None
    assert gate.admit(5, "10.0.0.1", lambda: closed.append(5), lim.max_peers) == "max_peers"
    for i in range(admission.MAX_TRACKED_ADDRESSES + 10):
        gate.admit(("x", i), f"10.1.{i // 256}.{i % 256}", lambda: None, 0)
        gate.release(("x", i))
    assert len(gate._buckets) == admission.MAX_TRACKED_ADDRESSES
    assert gate.pending == 1 and closed == []


@pytest.mark.parametrize("us", [1, 2])
def test_a_redial_from_a_peer_replaces_our_old_link_to_it(us: int) -> None:
    """After a partition that swallowed the peer's close, our link to it looks alive but the
    peer redials: the redial must win whatever the node ids, or we refuse it until our dead
    link's idle timeout (the nemesis saw the chain nearly halt for 10 s). Two fresh links from
    opposite sides are a simultaneous dial: the smaller id's dial wins, at both ends."""
    import time
    from typing import Any, cast

    from p2p.node import P2PNode
    from p2p.peer import INBOUND, OUTBOUND, Link

    me, peer = key(us), key(3 - us)
    lim = limits()
    node = P2PNode(me, "chain", ("127.0.0.1", 0), [], lambda k: True, lim)
    ours = Link(peer.public_key, "127.0.0.1:1", OUTBOUND, cast(Any, None))
    smaller_is_peer = peer.public_key < me.public_key
    # fresh: a simultaneous dial, decided by the ids
    assert node._new_link_wins(ours, INBOUND) is smaller_is_peer
    # older than a handshake can take: the peer lost it, its redial wins
    ours.established = time.monotonic() - lim.handshake_timeout_s - 1
    assert node._new_link_wins(ours, INBOUND) is True
    # our own redial replaces our own old link, as before
    assert node._new_link_wins(ours, OUTBOUND) is True
