"""PeerAddr parsing and P2PLimits validation."""

from __future__ import annotations

import dataclasses

import pytest

from p2p.types import P2PLimits, PeerAddr

ID = bytes(range(32))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:26656", PeerAddr(None, "127.0.0.1", 26656)),
        ("node1:27657", PeerAddr(None, "node1", 27657)),
        (f"{ID.hex()}@node1:27657", PeerAddr(ID, "node1", 27657)),
        (f"{ID.hex().upper()}@10.0.0.2:1", PeerAddr(ID, "10.0.0.2", 1)),
        ("[::1]:65535", PeerAddr(None, "::1", 65535)),
        ("  host.example.com:80 ", PeerAddr(None, "host.example.com", 80)),
    ],
)
def test_parse_ok(text: str, expected: PeerAddr) -> None:
    addr = PeerAddr.parse(text)
    assert addr == expected
    assert PeerAddr.parse(str(addr)) == addr  # str() round-trips


@pytest.mark.parametrize(
    "text",
    [
        "",
        "host",
        "host:",
        ":80",
        "host:0",
        "host:65536",
        "host:-1",
        "host:8x",
        "::1:80",
        "[::1]80",
        "[nothex]:80",
        f"{ID.hex()[:-2]}@host:80",
        f"{'zz' * 32}@host:80",
        "@host:80",
    ],
)
def test_parse_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        PeerAddr.parse(text)


def test_limits_defaults_and_payload() -> None:
    lim = P2PLimits()
    assert lim.max_frame_bytes == 8 * 1024 * 1024
    assert lim.max_payload == lim.max_frame_bytes - 17
    assert lim.channels == frozenset({1, 2, 3, 4})


@pytest.mark.parametrize(
    "changes",
    [
        {"max_frame_bytes": 111},
        {"max_frame_bytes": 2**32},
        {"max_peers": 0},
        {"send_queue_len": 0},
        {"send_queue_bytes": 0},
        {"handshake_timeout_s": 0},
        {"ping_interval_s": 30.0, "idle_timeout_s": 30.0},
        {"backoff_min_s": 2.0, "backoff_max_s": 1.0},
        {"ban_seconds": -1},
        {"seen_cache_per_peer": 0},
        {"channels": frozenset({0, 1})},
        {"channels": frozenset()},
    ],
)
def test_limits_refuse_nonsense(changes: dict) -> None:
    with pytest.raises(ValueError):
        dataclasses.replace(P2PLimits(), **changes)


def test_limits_boundaries_accepted() -> None:
    lim = dataclasses.replace(P2PLimits(), max_frame_bytes=112, gossip_batch_bytes=112 - 17)
    assert lim.max_payload == 95 and lim.gossip_batch_limit == 95


def test_gossip_batch_clamped_to_frame() -> None:
    lim = dataclasses.replace(P2PLimits(), max_frame_bytes=64 * 1024)  # batch default: 1 MiB
    assert lim.gossip_batch_limit == 64 * 1024 - 17
    lim = dataclasses.replace(lim, gossip_batch_bytes=1000)
    assert lim.gossip_batch_limit == 1000
