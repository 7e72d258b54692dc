"""The relay on loopback addresses: bytes pass unchanged, and each toxic does what the
nemesis relies on (latency as a lower bound, order kept under jitter, a stall forwards
nothing until cleared, a reset resets open and new connections, a bandwidth limit slows)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator

import pytest

from nemesis.relay import NONE, Endpoint, Relay, Toxic

DIALER, TARGET = "127.0.0.2", "127.0.0.3"
DIALER_RELAY, TARGET_RELAY = "127.0.0.12", "127.0.0.13"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((TARGET, 0))
        return int(s.getsockname()[1])


async def _echo(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    while data := await r.read(65536):
        w.write(data)
        await w.drain()
    w.close()


@pytest.fixture
async def relay() -> AsyncIterator[tuple[Relay, int]]:
    port = _free_port()
    server = await asyncio.start_server(_echo, TARGET, port)
    ids = {DIALER: 0, TARGET: 1}
    r = Relay(
        [Endpoint(0, DIALER, port, DIALER_RELAY), Endpoint(1, TARGET, port, TARGET_RELAY)],
        ids.get,
        seed=1,
    )
    await r.start()
    yield r, port
    await r.close()
    server.close()
    await asyncio.sleep(0.05)  # the echo handlers see their connections end


async def _dial(
    port: int, source: str = DIALER
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(TARGET_RELAY, port, local_addr=(source, 0))


async def _roundtrip(port: int, payload: bytes) -> tuple[bytes, float]:
    r, w = await _dial(port)
    t = time.monotonic()
    w.write(payload)
    await w.drain()
    got = await asyncio.wait_for(r.readexactly(len(payload)), 20)
    elapsed = time.monotonic() - t
    w.close()
    return got, elapsed


async def test_bytes_pass_unchanged_from_the_dialers_relay_address(
    relay: tuple[Relay, int],
) -> None:
    r, port = relay
    payload = bytes(range(256)) * 400
    got, _ = await _roundtrip(port, payload)
    assert got == payload
    assert len(r.links) <= 1


async def test_latency_delays_each_direction(relay: tuple[Relay, int]) -> None:
    r, port = relay
    r.set_toxic(1, Toxic(latency_ms=300))
    got, elapsed = await _roundtrip(port, b"ping")
    assert got == b"ping"
    assert elapsed >= 0.55  # 300 ms there and 300 ms back (a lower bound only)
    r.clear(1)
    assert r.toxic_of(1) == NONE


async def test_jitter_never_reorders(relay: tuple[Relay, int]) -> None:
    r, port = relay
    r.set_toxic(0, Toxic(latency_ms=20, jitter_ms=20))
    rd, w = await _dial(port)
    parts = [f"{i:05d}".encode() for i in range(200)]
    for p in parts:
        w.write(p)
        await w.drain()
        await asyncio.sleep(0)
    got = await asyncio.wait_for(rd.readexactly(5 * len(parts)), 20)
    assert got == b"".join(parts)
    w.close()


async def test_a_stall_forwards_nothing_until_cleared(relay: tuple[Relay, int]) -> None:
    r, port = relay
    rd, w = await _dial(port)
    w.write(b"a")
    assert await asyncio.wait_for(rd.readexactly(1), 10) == b"a"
    r.set_toxic(1, Toxic(stalled=True))
    w.write(b"b")
    await w.drain()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(rd.readexactly(1), 0.5)
    r.clear(1)
    assert await asyncio.wait_for(rd.readexactly(1), 10) == b"b"
    w.close()


async def test_a_reset_resets_open_and_new_connections(relay: tuple[Relay, int]) -> None:
    r, port = relay
    rd, w = await _dial(port)
    w.write(b"x")
    assert await asyncio.wait_for(rd.readexactly(1), 10) == b"x"
    r.set_toxic(0, Toxic(reset=True))
    with pytest.raises((ConnectionResetError, asyncio.IncompleteReadError)):
        await asyncio.wait_for(rd.readexactly(1), 10)
    rd2, w2 = await _dial(port)
    with pytest.raises((ConnectionResetError, asyncio.IncompleteReadError)):
        w2.write(b"y")
        await w2.drain()
        await asyncio.wait_for(rd2.readexactly(1), 10)
    r.clear()
    got, _ = await _roundtrip(port, b"after")
    assert got == b"after"


async def test_a_bandwidth_limit_slows_the_transfer(relay: tuple[Relay, int]) -> None:
    r, port = relay
    r.set_toxic(1, Toxic(bytes_per_s=64 * 1024))
    payload = b"z" * (64 * 1024)
    got, elapsed = await _roundtrip(port, payload)
    assert got == payload
    assert elapsed >= 0.9  # 64 KiB at 64 KiB/s, at least one way


async def test_a_connection_from_an_unknown_address_is_refused(relay: tuple[Relay, int]) -> None:
    r, port = relay
    rd, w = await _dial(port, source="127.0.0.9")
    assert await asyncio.wait_for(rd.read(1), 10) == b""
    assert r.refused == 1 and not r.links
    w.close()


def test_a_connection_gets_the_worse_toxic_of_its_two_ends() -> None:
    a = Toxic(latency_ms=100, bytes_per_s=8000)
    b = Toxic(latency_ms=50, jitter_ms=10, bytes_per_s=4000, stalled=True)
    assert a.merge(b) == Toxic(100, 10, 4000, True, False)
    assert a.merge(NONE) == a
    assert NONE.merge(NONE) == NONE
