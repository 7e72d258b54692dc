"""Chain: genesis, persistence, one atomic batch per block, the state root, the StateView."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_machine import BALANCE, CHAIN_ID, Harness, addr, genesis_doc, ok

from state import keys as K
from state.chain import BlockInput, Chain, InvalidBlock
from state.genesis import parse_genesis
from state.model import Account, Candidate, Pool, ValidatorInfo
from state.params import PoolParams
from state.store import Batch, LevelDBStore, MemoryStore
from state.tree import EMPTY_ROOT, StateTree, verify_proof


class CountingStore(MemoryStore):
    """Counts batch writes and whether each was synced."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[tuple[int, bool]] = []

    def write(self, batch: Batch, sync: bool = True) -> None:
        self.writes.append((len(batch), sync))
        super().write(batch, sync)


def rebuilt_root(store: Any) -> bytes:
    """The root of a fresh tree over exactly the `s/` records of the store."""
    changes = dict(store.iterate(b"s/"))
    root, _ = StateTree(MemoryStore()).update(EMPTY_ROOT, changes)
    return root


def test_genesis_state() -> None:
    hx = Harness()
    c = hx.chain
    assert (c.height, c.chain_id) == (0, CHAIN_ID)
    assert c.state_root == rebuilt_root(hx.store) != EMPTY_ROOT
    v = c.view()
    assert v.account(addr("m3")) == Account(BALANCE, 0, False)
    assert v.account(addr("nobody")) == Account(0, 0, False)
    assert v.pool("med") == Pool("med", "Medical", 0, PoolParams())
    assert v.pool("kyc").params.admission == "kyc"
    assert v.pool("nope") is None
    assert c.validators(1) == [
        ValidatorInfo(addr(f"op{i}"), addr(f"val{i}"), f"node{i}", 1) for i in range(4)
    ]
    assert c.validators(2) == c.validators(1)
    assert Candidate(addr("op0"), addr("val0"), "node0", 0, 0) in v.candidates()
    assert v.params.treasury == addr("treasury")
    assert addr("op3") in v.params.operators  # validators' operators are operators
    assert hx.supply() == hx.genesis.supply


def test_init_genesis_is_idempotent_and_refuses_another_genesis() -> None:
    hx = Harness()
    hx.block([hx.tx("m0", "transfer", to=addr("m1"), amount=5)])
    before = dict(hx.store.iterate(b""))
    again = Chain.init_genesis(hx.store, hx.genesis)
    assert (again.height, again.state_root) == (1, hx.chain.state_root)
    assert dict(hx.store.iterate(b"")) == before
    other = parse_genesis(genesis_doc(balance=7))
    with pytest.raises(ValueError, match="another genesis"):
        Chain.init_genesis(hx.store, other)
    with pytest.raises(ValueError, match="no chain"):
        Chain(MemoryStore())


def test_execute_writes_nothing_and_commit_is_one_synced_batch() -> None:
    store = CountingStore()
    hx = Harness(store)
    assert store.writes == [(store.writes[0][0], True)]
    store.writes.clear()
    snapshot = dict(store.iterate(b""))
    ex = hx.execute([hx.tx("m0", "join", pool="med")])
    assert dict(store.iterate(b"")) == snapshot
    extra = Batch()
    extra.put(b"B/b/test", b"block bytes")
    hx.chain.commit(ex, extra)
    assert len(store.writes) == 1 and store.writes[0][1] is True
    assert store.get(b"B/b/test") == b"block bytes"
    assert K.unpack(store.get(b"m/height")) == 1
    assert store.get(b"m/root") == ex.state_root == hx.chain.state_root
    assert hx.chain.state_root == rebuilt_root(store)


def test_commit_at_wrong_height_is_an_assertion() -> None:
    hx = Harness()
    ex = hx.execute()
    hx.chain.commit(ex)
    with pytest.raises(AssertionError):
        hx.chain.commit(ex)
    with pytest.raises(InvalidBlock, match="height"):
        hx.chain.execute(BlockInput(5, 0, b"", [], []))


def test_root_covers_exactly_the_state_after_many_blocks() -> None:
    hx = Harness()
    hx.block([hx.tx(m, "join", pool="med") for m in ("m0", "m1", "m2", "m3")])
    hx.advance_to(10)
    t = hx.tx("m0", "claim", pool="med", amount=100, evidence=b"\x01" * 32)
    hx.block([t, hx.tx("m1", "vote", claim=t.hash, approve=True)])
    hx.block([hx.tx("m2", "vote", claim=t.hash, approve=True)])
    hx.advance_to(25)
    assert hx.view.claim(t.hash).status == "approved"
    assert hx.chain.state_root == rebuilt_root(hx.store)
    # tally index entries are gone once tallied; the open-claim index stays until payout
    assert list(hx.store.iterate(K.TALLY)) == []
    assert hx.store.get(K.open_claim_key("med", addr("m0"))) is not None


def test_proof_of_an_account_against_the_root() -> None:
    hx = Harness()
    hx.block([hx.tx("m0", "transfer", to=addr("new"), amount=77)])
    key = K.account_key(addr("new"))
    raw = hx.view.get_raw(key)
    assert K.decode_value(key, raw) == Account(77, 0, False)
    proof = hx.chain.tree.prove(hx.chain.state_root, key)
    assert verify_proof(hx.chain.state_root, key, raw, proof)


def test_reopen_leveldb_store(tmp_path: Path) -> None:
    store = LevelDBStore(str(tmp_path / "db"))
    hx = Harness(store)
    hx.block([hx.tx(m, "join", pool="med") for m in ("m0", "m1")])
    t = hx.tx("m2", "transfer", to=addr("m3"), amount=9)
    hx.block([t])
    root, height = hx.chain.state_root, hx.chain.height
    store.close()
    store = LevelDBStore(str(tmp_path / "db"))
    chain = Chain(store)
    assert (chain.height, chain.state_root) == (height, root)
    assert chain.genesis_hash == hx.genesis.hash()
    v = chain.view()
    assert v.account(addr("m3")).balance == BALANCE + 9
    assert v.tx_result(t.hash).height == 2
    assert chain.time_ms == 2000
    # and it keeps going from there
    ex = chain.execute(BlockInput(3, 3000, b"", [], []))
    chain.commit(ex)
    assert chain.height == 3
    store.close()


def test_block_results_and_tx_index() -> None:
    hx = Harness()
    a = hx.tx("m0", "transfer", to=addr("m1"), amount=1)
    b = hx.tx("m1", "join", pool="nope")
    hx.block([a, b])
    res = hx.chain.block_results(1)
    assert [(r["hash"], r["code"]) for r in res["results"]] == [(a.hash, 0), (b.hash, 12)]
    assert [e["type"] for e in res["events"]] == ["transfer"]
    assert hx.view.tx_result(b.hash).to_json()["error"] == "not_found"
    assert hx.view.tx_result(a.hash).index == 0
    assert hx.chain.block_results(9) is None


def test_results_record_is_the_canonical_pack_of_events_and_results() -> None:
    """The r/ record is joined from per-tx parts: the same bytes as packing the whole map
    (accepted, refused and an empty block; 20 txs cross msgpack's 16-item array boundary)."""
    hx = Harness()
    ok_txs = [hx.tx(f"m{i % 5}", "transfer", to=addr("m9"), amount=1) for i in range(20)]
    refused = hx.tx("m5", "join", pool="nope")
    hx.block([*ok_txs[:7], refused, *ok_txs[7:]])
    hx.block([])
    for h in (1, 2):
        raw = hx.chain.store.get(b"r/" + K.be64(h))
        res = K.unpack(raw)
        results = [{"code": r["code"], "hash": r["hash"], "log": r["log"]} for r in res["results"]]
        assert raw == K.pack({"events": res["events"], "results": results})  # the key order
    codes = [r["code"] for r in hx.chain.block_results(1)["results"]]
    assert codes == [0] * 7 + [12] + [0] * 13
    assert hx.chain.block_results(2) == {"events": [], "results": []}


def test_claims_listing_oldest_first_with_status_and_limit() -> None:
    hx = Harness()
    members = ("m0", "m1", "m2", "m3", "m4")
    hx.block([hx.tx(m, "join", pool="med") for m in members])
    hx.advance_to(10)
    first = [hx.tx(m, "claim", pool="med", amount=10, evidence=b"\x01" * 32) for m in ("m2", "m1")]
    hx.block(first)
    second = hx.tx("m0", "claim", pool="med", amount=10, evidence=b"\x01" * 32)
    hx.block([second, hx.tx("m3", "vote", claim=first[0].hash, approve=True)])
    hx.block([hx.tx("m4", "vote", claim=first[0].hash, approve=True)])
    hx.advance_to(20)  # claims of block 11 tallied at the end of 20, of 12 at 21
    ids = [c.id for c in hx.view.claims("med")]
    assert ids == [first[0].hash, first[1].hash, second.hash]
    assert [c.id for c in hx.view.claims("med", limit=2)] == ids[:2]
    assert [c.id for c in hx.view.claims("med", status="approved")] == [first[0].hash]
    assert [c.id for c in hx.view.claims("med", status="rejected")] == [first[1].hash]
    assert [c.id for c in hx.view.claims("med", status="voting")] == [second.hash]
    assert hx.view.claims("med", status="bogus") == []
    assert hx.view.claims("nope") == []
    assert hx.view.pool("\ud800") is None and hx.view.claims("x" * 300) == []
    assert len(list(hx.store.iterate(K.CLAIM_STATUS_LIST))) == 3  # one entry per claim
    assert hx.view.pool_member_counts("med")["active"] == 5
    assert hx.view.member("nope", addr("m0")) is None
    assert hx.view.member_status("med", addr("m9")) is None


def test_cache_does_not_leak_uncommitted_state() -> None:
    hx = Harness()
    hx.execute([hx.tx("m0", "transfer", to=addr("m1"), amount=500, nonce=0)])
    assert hx.view.account(addr("m1")).balance == BALANCE
    ok(hx.do("m1", "transfer", to=addr("m2"), amount=BALANCE - 1))
    assert hx.view.account(addr("m1")).balance == 0


def test_warm_and_cold_chains_compute_the_same_root() -> None:
    """The record and tree-node caches never change a result: a chain reopened cold on the
    same store executes the next block to the same root as the long-running one."""
    hx = Harness()
    hx.block([hx.tx(m, "join", pool="med") for m in ("m0", "m1", "m2")])
    hx.advance_to(10)
    t = hx.tx("m0", "claim", pool="med", amount=100, evidence=b"\x01" * 32)
    hx.block([t, hx.tx("m1", "transfer", to=addr("m0"), amount=10)])
    nxt = [hx.tx("m1", "vote", claim=t.hash, approve=True), hx.tx("m2", "leave", pool="med")]
    block = BlockInput(hx.h + 1, 0, b"", [x.wire for x in nxt], [])
    warm = hx.chain.execute(block)
    cold = Chain(hx.store).execute(block)
    assert warm.state_root == cold.state_root
    assert warm.writes.ops == cold.writes.ops
    hx.chain.commit(warm)
    assert hx.chain.state_root == rebuilt_root(hx.store)
