"""Properties of the state machine over random blocks of member transactions (hypothesis).

Random operations are turned into signed transactions with the senders' next nonces; a node
proposes (propose mode drops what would make the block invalid) and commits on an in-memory
store while a second node validates the same blocks on LevelDB. At every height: the supply
is conserved, no balance is negative, both nodes agree on the root, and replaying any
committed transaction is refused.
"""

from __future__ import annotations

import tempfile
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_machine import Harness, addr

from state import keys as K
from state.chain import InvalidBlock
from state.machine import EvidenceRef
from state.store import LevelDBStore
from state.tx import Tx

MEMBERS = ("m0", "m1", "m2", "m3", "m4")
POOL_PARAMS = {
    "contribution": 100,
    "period": 20,
    "waiting_period": 2,
    "vote_window": 3,
    "juror_min_age": 1,
    "notice_period": 1,
    "quorum": 2,
    "claim_bond": 50,
    "max_claim": 900,
}
KINDS = (
    "transfer",
    "join",
    "pay",
    "leave",
    "claim",
    "vote",
    "payout",
    "elect",
    "admit",
    "register_candidate",
)

# weighted towards the claim life cycle (each kind listed once more per extra weight)
op = st.tuples(
    st.sampled_from(KINDS + ("claim", "vote", "vote", "vote", "payout", "pay")),
    st.integers(0, len(MEMBERS) + 1),  # sender (the last two: registrar, op-extra)
    st.integers(0, 7),  # target / pool / claim choice
    st.integers(0, 3),  # amount choice
    st.integers(0, 9),  # fee choice (9: more than anyone has)
)
block = st.tuples(
    st.lists(op, max_size=8),
    st.integers(0, 2),  # empty blocks after it (time passes)
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2)), max_size=1),  # evidence
)
blocks = st.lists(block, min_size=1, max_size=8)


def harness(store: Any = None) -> Harness:
    return Harness(
        store,
        params={"epoch_length": 4, "min_validators": 1, "max_validators": 3},
        pools=[
            {"id": "med", "name": "M", "params": POOL_PARAMS},
            {"id": "kyc", "name": "K", "params": {**POOL_PARAMS, "admission": "kyc"}},
        ],
        members=MEMBERS,
        balance=2_000,
    )


def to_tx(hx: Harness, claims: list[bytes], o: tuple[str, int, int, int, int]) -> Tx:
    kind, who, target, amount, fee_choice = o
    sender = (*MEMBERS, "registrar", "op-extra")[who]
    fee = 10**9 if fee_choice == 9 else 1 + fee_choice % 3
    pool = ("med", "med", "med", "kyc", "nope")[target % 5]
    claim = claims[target % len(claims)] if claims else bytes([target]) * 32
    payload: dict[str, Any]
    if kind == "transfer":
        payload = {"to": addr(MEMBERS[target % 5]), "amount": (1, 60, 700, 10**6)[amount]}
    elif kind in ("join", "leave"):
        payload = {"pool": pool}
    elif kind == "pay":
        payload = {"pool": pool, "amount": (100, 150, 300, 10**6)[amount]}
    elif kind == "claim":
        payload = {"pool": pool, "amount": (10, 300, 900, 901)[amount], "evidence": b"\x01" * 32}
    elif kind == "vote":
        payload = {"claim": claim, "approve": amount % 2 == 0}
    elif kind == "payout":
        payload = {"claim": claim}
    elif kind == "elect":
        payload = {"candidates": [addr(f"op{i}") for i in range(4) if (target >> i) & 1]}
    elif kind == "admit":
        payload = {"account": addr(MEMBERS[target % 5])}
    else:
        payload = {"consensus_key": addr(f"key{target % 3}"), "name": "cand"}
    return hx.tx(sender, kind, fee=fee, **payload)


def check_invariants(hx: Harness) -> None:
    assert hx.supply() == hx.genesis.supply
    for k, raw in hx.store.iterate(K.ACCOUNT):
        assert K.decode_value(k, raw).balance >= 0
    for k, raw in hx.store.iterate(K.POOL):
        assert K.decode_value(k, raw).balance >= 0
    # each claim is listed once, under its current status; open ones are indexed per claimant
    claims = {k[len(K.CLAIM) :]: K.decode_value(k, raw) for k, raw in hx.store.iterate(K.CLAIM)}
    listed = [K.unpack(raw) for _, raw in hx.store.iterate(K.CLAIM_STATUS_LIST)]
    assert sorted(listed) == sorted(claims)
    for pool in ("med", "kyc"):
        for status in ("voting", "approved", "rejected", "paid"):
            assert all(c.status == status for c in hx.view.claims(pool, status, limit=10**6))
    open_ids = sorted(K.unpack(raw) for _, raw in hx.store.iterate(K.OPEN_CLAIM))
    assert open_ids == sorted(i for i, c in claims.items() if c.status in ("voting", "approved"))


def run(script: list[Any], follower: Harness | None = None) -> tuple[Harness, list[Tx]]:
    """Propose and commit the script's blocks; the follower validates and commits them too."""
    hx = harness()
    claims: list[bytes] = []
    committed: list[Tx] = []
    # every script starts with the members in the pool, so claims and votes can happen
    script = [
        ([("join", i, 0, 0, 0) for i in range(len(MEMBERS))], 2, []),
        ([("claim", 0, 0, 1, 0), ("claim", 1, 0, 2, 0)], 0, []),
        *script,
    ]
    for ops, pause, evidence in script:
        txs = [to_tx(hx, claims, o) for o in ops]
        evs = [
            EvidenceRef(addr(f"val{v}"), max(1, hx.h), 0, 2, bytes([v, i]) * 16)
            for v, i in evidence
        ]
        ex = hx.execute(txs, evs, propose=True)
        if follower is not None:
            fex = follower.execute(ex.txs, evs)
            assert fex.state_root == ex.state_root
            follower.chain.commit(fex)
        hx.chain.commit(ex)
        hx._nonces.clear()
        by_hash = {t.hash: t for t in txs}
        committed += [by_hash[h] for h in ex.tx_hashes]
        claims += [h for h, r in zip(ex.tx_hashes, ex.results, strict=True) if r.code == 0
                   and by_hash[h].type == "claim"]  # fmt: skip
        check_invariants(hx)
        for _ in range(pause):
            ex = hx.execute()
            if follower is not None:
                follower.chain.commit(follower.execute())
            hx.chain.commit(ex)
            check_invariants(hx)
        if follower is not None:
            assert follower.chain.state_root == hx.chain.state_root
    return hx, committed


SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(blocks)
def test_supply_conserved_and_no_negative_balance(script: list[Any]) -> None:
    run(script)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blocks)
def test_memory_and_leveldb_agree_on_every_root(script: list[Any]) -> None:
    with tempfile.TemporaryDirectory() as d:
        store = LevelDBStore(d)
        try:
            follower = harness(store)
            hx, _ = run(script, follower)
            assert dict(follower.store.iterate(b"s/")) == dict(hx.store.iterate(b"s/"))
        finally:
            store.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blocks, st.data())
def test_replayed_transaction_is_refused(script: list[Any], data: st.DataObject) -> None:
    hx, committed = run(script)
    if not committed:
        return
    replay = data.draw(st.sampled_from(committed))
    with pytest.raises(InvalidBlock):
        hx.execute([replay])
    assert hx.execute([replay], propose=True).txs == []
    assert hx.view.tx_result(replay.hash) is not None


def test_generated_scripts_reach_the_interesting_rules() -> None:
    """The generator is not vacuous: a fixed script approves and pays a claim."""
    script = [
        ([("vote", 2, 0, 0, 0), ("vote", 3, 0, 0, 0), ("pay", 4, 0, 3, 0)], 3, []),
        ([("payout", 3, 0, 0, 0)], 0, []),
    ]
    hx, committed = run(script)
    claim = [t for t in committed if t.type == "claim"][0]
    assert hx.view.claim(claim.hash).status == "paid"
    assert hx.view.claim(claim.hash).amount == 300
