"""Events of a committed block: built only for listeners that want them (the RPC server
listens for WebSocket subscribers that are usually absent), unchanged for those that do."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from chain_net import ALICE, BOB, ChainNet, ChainParts

from node.service import NodeService
from state.crypto import sha256
from state.store import MemoryStore


def _net_with_block() -> tuple[ChainNet, NodeService, int]:
    net = ChainNet(MemoryStore())
    txs = [net.tx(ALICE, "transfer", {"to": BOB.public_key, "amount": a}) for a in (1, 2, 3)]
    h = net.commit(txs)
    return net, NodeService(ChainParts(net.chain, net.blocks)), h


def test_a_listener_that_wants_nothing_is_not_called_and_nothing_is_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    net, service, h = _net_with_block()
    calls: list[str] = []
    service.subscribe_events(lambda kind, data: calls.append(kind), wants=lambda kind: False)
    built: list[str] = []
    monkeypatch.setattr(service, "_tx_json", lambda *a: built.append("tx") or {})
    monkeypatch.setattr(service, "_block_json", lambda *a: built.append("block") or {})
    service.on_committed(h, net.blocks[h])
    assert calls == [] and built == []


def test_events_go_to_the_listeners_that_want_their_kind() -> None:
    net, service, h = _net_with_block()
    blocks: list[tuple[str, Any]] = []
    txs: list[tuple[str, Any]] = []
    every: list[str] = []
    service.subscribe_events(lambda k, d: blocks.append((k, d)), wants=lambda k: k == "new_block")
    service.subscribe_events(lambda k, d: txs.append((k, d)), wants=lambda k: k == "tx")
    service.subscribe_events(lambda k, d: every.append(k))  # no wants: every event
    block = net.blocks[h]
    service.on_committed(h, block)
    assert [k for k, _ in blocks] == ["new_block"]
    assert blocks[0][1]["txs"] == [sha256(w).hex() for w in block.txs]
    assert [d["hash"] for _, d in txs] == [sha256(w).hex() for w in block.txs]
    assert [d["index"] for _, d in txs] == [0, 1, 2]
    assert every == ["new_block", "tx", "tx", "tx"]


def test_given_hashes_are_used_and_wrong_length_ones_ignored() -> None:
    net, service, h = _net_with_block()
    got: list[dict[str, Any]] = []
    service.subscribe_events(lambda k, d: got.append(d))
    block = net.blocks[h]
    real = [sha256(w) for w in block.txs]
    service.on_committed(h, block, hashes=real)
    service.on_committed(h, block, hashes=real[:1])  # not the block's: recomputed
    assert got[0]["txs"] == got[4]["txs"] == [x.hex() for x in real]
    assert [d["hash"] for d in got[5:]] == [x.hex() for x in real]


def test_a_failing_wants_counts_as_wanting_and_the_others_still_get_theirs() -> None:
    net, service, h = _net_with_block()
    got: list[str] = []

    def broken(kind: str) -> bool:
        raise RuntimeError("bug")

    service.subscribe_events(lambda k, d: got.append("a:" + k), wants=broken)
    unsubscribe = service.subscribe_events(lambda k, d: got.append("b:" + k))
    service.on_committed(h, net.blocks[h])
    assert got.count("a:tx") == 3 and got.count("b:tx") == 3
    unsubscribe()
    got.clear()
    service.on_committed(h, net.blocks[h])
    assert not [g for g in got if g.startswith("b:")]


async def test_commit_waiters_are_answered_with_no_listener_at_all() -> None:
    net = ChainNet(MemoryStore())
    parts = ChainParts(net.chain, net.blocks)
    service = NodeService(parts)
    tx = net.tx(ALICE, "transfer", {"to": BOB.public_key, "amount": 9})
    waiting = asyncio.create_task(service.broadcast_tx(tx.wire, "commit", timeout=20.0))
    while parts.mempool.get(tx.hash) is None:
        await asyncio.sleep(0.01)
    h = net.commit([tx])
    service.on_committed(h, net.blocks[h], hashes=[tx.hash])
    answer = await asyncio.wait_for(waiting, 5.0)
    assert answer["code"] == 0 and answer["height"] == h and answer["index"] == 0
