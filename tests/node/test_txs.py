"""Account history (`txs`, PROTOCOL.md section 12) over a real chain committed by ChainApp:
what an address sent, received through `to` and was named in through `account`, newest
first, paged by the exclusive `before` cursor, from an index that survives a restart."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from chain_net import ALICE, BOB, CAROL, REGISTRAR, STRANGER, ChainNet, serve
from jsonschema import Draft7Validator

from node.client import RpcClient, RpcError
from node.methods import BY_NAME
from state.store import LevelDBStore, MemoryStore
from state.tx import Tx


def _story(net: ChainNet) -> dict[str, Tx]:
    """Alice sends to Bob, Bob to Carol, the registrar admits Alice, Alice joins a pool."""
    t = {
        "a_to_b": net.tx(ALICE, "transfer", {"to": BOB.public_key, "amount": 5}),
        "b_to_c": net.tx(BOB, "transfer", {"to": CAROL.public_key, "amount": 3}),
    }
    net.commit([t["a_to_b"], t["b_to_c"]])  # height 1: indexes 0, 1
    t["kyc_a"] = net.tx(REGISTRAR, "admit", {"account": ALICE.public_key})
    net.commit([t["kyc_a"]])  # height 2
    t["a_join"] = net.tx(ALICE, "join", {"pool": "medical"})
    t["a_self"] = net.tx(ALICE, "transfer", {"to": ALICE.public_key, "amount": 1})
    net.commit([t["a_join"], t["a_self"]])  # height 3
    return t


@pytest.fixture
async def story() -> AsyncIterator[tuple[RpcClient, dict[str, Tx]]]:
    net = ChainNet(MemoryStore())
    t = _story(net)
    async for c in serve(net):
        yield c, t


def _hashes(items: list[dict[str, Any]]) -> list[str]:
    return [i["hash"] for i in items]


async def test_sent_received_and_named_newest_first(
    story: tuple[RpcClient, dict[str, Tx]],
) -> None:
    c, t = story
    alice = await c.txs(ALICE.public_key)
    Draft7Validator(BY_NAME["txs"].result_schema).validate(alice)
    # sent (transfer, join, self-transfer once), named via `account` (admit)
    assert _hashes(alice) == [t[k].hash.hex() for k in ("a_self", "a_join", "kyc_a", "a_to_b")]
    assert [(i["height"], i["index"]) for i in alice] == [(3, 1), (3, 0), (2, 0), (1, 0)]
    # each item is what `tx` answers for it
    assert alice[2] == await c.tx(t["kyc_a"].hash)
    assert alice[2]["sender"] == REGISTRAR.public_key.hex()
    # Bob: received via `to` (older) and sent (newer, same block)
    assert _hashes(await c.txs(BOB.public_key)) == [t["b_to_c"].hash.hex(), t["a_to_b"].hash.hex()]
    assert _hashes(await c.txs(CAROL.public_key)) == [t["b_to_c"].hash.hex()]
    assert _hashes(await c.txs(REGISTRAR.public_key)) == [t["kyc_a"].hash.hex()]
    assert await c.txs(STRANGER.public_key) == []


async def test_cursor_is_exclusive(story: tuple[RpcClient, dict[str, Tx]]) -> None:
    c, t = story
    older = await c.txs(ALICE.public_key, before={"height": 3, "index": 1})
    assert _hashes(older) == [t[k].hash.hex() for k in ("a_join", "kyc_a", "a_to_b")]
    assert _hashes(await c.txs(ALICE.public_key, before=(3, 0))) == [
        t["kyc_a"].hash.hex(),
        t["a_to_b"].hash.hex(),
    ]
    # a cursor between entries, past the chain, and at the very start
    assert _hashes(await c.txs(ALICE.public_key, before=(2, 7), limit=1)) == [t["kyc_a"].hash.hex()]
    assert len(await c.txs(ALICE.public_key, before=(10**15, 2**32 - 1))) == 4
    assert await c.txs(ALICE.public_key, before=(1, 0)) == []
    assert await c.txs(ALICE.public_key, before=(0, 0)) == []


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"limit": True}, "limit"),
        ({"before": [3, 0]}, "before"),
        ({"before": {"height": 3}}, "before"),
        ({"before": {"height": 3, "index": 0, "x": 1}}, "before"),
        ({"before": {"height": -1, "index": 0}}, "before"),
        ({"before": {"height": 3, "index": 2**32}}, "before"),
        ({"before": {"height": 2**53, "index": 0}}, "before"),
        ({"before": {"height": "3", "index": 0}}, "before"),
        ({"before": {"height": 3, "index": 1.0}}, "before"),
        ({"before": "3:0"}, "before"),
        ({"address": "ab" * 31}, "address"),
    ],
)
async def test_bad_params_name_the_field(
    story: tuple[RpcClient, dict[str, Tx]], params: dict[str, Any], named: str
) -> None:
    c, _ = story
    with pytest.raises(RpcError) as err:
        await c.request("txs", {"address": ALICE.public_key.hex(), **params})
    assert err.value.code == -32602
    assert f"invalid params: {named}:" in err.value.message


async def test_full_history_paged_and_limits_at_their_boundaries(tmp_path: Path) -> None:
    """1,002 transactions naming Bob over 4 blocks (plus other traffic): limit 1000 answers
    1000, paging with any page size walks the whole history exactly once, in order; the
    index is in the store, so a reopened chain answers the same."""
    store = LevelDBStore(str(tmp_path / "db"))
    net = ChainNet(store)
    expected: list[str] = []  # oldest first
    for block in range(4):
        txs: list[Tx] = []
        for i in range(251 if block < 3 else 249):
            if i % 50 == 7:  # someone else's traffic between Bob's
                txs.append(net.tx(CAROL, "transfer", {"to": ALICE.public_key, "amount": 1}))
            sender = ALICE if i % 3 else BOB
            to = BOB if sender is ALICE else CAROL
            txs.append(net.tx(sender, "transfer", {"to": to.public_key, "amount": 1}))
            expected.append(txs[-1].hash.hex())
        net.commit(txs)
    expected.reverse()
    assert len(expected) == 1002
    async for c in serve(net):
        assert _hashes(await c.txs(BOB.public_key, limit=1000)) == expected[:1000]
        assert _hashes(await c.txs(BOB.public_key)) == expected[:100]  # the default
        assert _hashes(await c.txs(BOB.public_key, limit=1)) == expected[:1]
        for page_size in (1000, 333, 7):
            got: list[str] = []
            before: dict[str, int] | None = None
            while True:
                page = await c.txs(BOB.public_key, limit=page_size, before=before)
                if not page:
                    break
                got += _hashes(page)
                before = {"height": page[-1]["height"], "index": page[-1]["index"]}
            assert got == expected, page_size
    store.close()

    reopened = LevelDBStore(str(tmp_path / "db"))
    try:
        net2 = ChainNet(reopened)
        assert net2.chain.height == 4
        net2.blocks = net.blocks
        async for c in serve(net2):
            assert _hashes(await c.txs(BOB.public_key, limit=1000)) == expected[:1000]
            assert _hashes(await c.txs(BOB.public_key, before=(1, 3))) == expected[-3:]
    finally:
        reopened.close()
