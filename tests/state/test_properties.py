"""Properties of the state machine over random blocks of member transactions (hypothesis).

Random operations are turned into signed transactions with the senders' next nonces; a node
proposes (propose mode drops what would make the block invalid) and commits on an in-memory
store while a second node validates the same blocks on LevelDB. At every height: the supply
is conserved, no balance is negative, both nodes agree on the root, and replaying any
committed transaction is refused.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_machine import Harness, addr

from state import keys as K
from state.chain import InvalidBlock
from state.errors import Code
from state.fieldkinds import ADDRESS, AMOUNT, BOOL, CANDIDATES, HASH, KEY, NAME, POOL_ID, FieldKind
from state.machine import EvidenceRef
from state.model import Account
from state.store import LevelDBStore
from state.tx import TX_TYPES, Tx
from state.txtypes import BY_NAME, REGISTRY

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
KINDS = TX_TYPES
# on both sides of the pools' limits: multiples of contribution or not, above max_claim, more
# than anyone has
AMOUNTS = (10, 300, 900, 10**6, 100, 150, 1, 901)

# weighted towards the claim life cycle (each kind listed once more per extra weight)
op = st.tuples(
    st.sampled_from(KINDS + ("claim", "vote", "vote", "vote", "payout", "pay")),
    st.integers(0, len(MEMBERS) + 1),  # sender (the last two: registrar, op-extra)
    st.integers(0, 7),  # target / pool / claim choice
    st.integers(0, len(AMOUNTS) - 1),  # amount / yes-no choice
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


# Payload values per field kind, chosen by the op's `target` or `amount` index: addresses of
# members, the pools (and one that does not exist), claims opened so far, amounts on both sides
# of the pools' limits. A type is drawn by name from the registry and its payload built field
# by field, so a new type of existing kinds is exercised without an edit here (a field of a
# new kind takes its values from the type's valid examples).
Pick = Callable[[int, int, list[bytes]], Any]
VALUES: dict[FieldKind, Pick] = {
    ADDRESS: lambda target, amount, claims: addr(MEMBERS[target % 5]),
    KEY: lambda target, amount, claims: addr(f"key{target % 3}"),
    HASH: lambda target, amount, claims: (
        claims[target % len(claims)] if claims else bytes([target]) * 32
    ),
    POOL_ID: lambda target, amount, claims: ("med", "med", "med", "kyc", "nope")[target % 5],
    AMOUNT: lambda target, amount, claims: AMOUNTS[amount],
    BOOL: lambda target, amount, claims: amount % 2 == 0,
    NAME: lambda target, amount, claims: "cand",
    CANDIDATES: lambda target, amount, claims: [
        addr(f"op{i}") for i in range(4) if (target >> i) & 1
    ],
}


def to_tx(hx: Harness, claims: list[bytes], o: tuple[str, int, int, int, int]) -> Tx:
    kind, who, target, amount, fee_choice = o
    sender = (*MEMBERS, "registrar", "op-extra")[who]
    fee = 10**9 if fee_choice == 9 else 1 + fee_choice % 3
    t = BY_NAME[kind]
    payload: dict[str, Any] = {}
    for f in t.fields:
        pick = VALUES.get(f.kind)
        if pick is None:
            payload[f.name] = t.examples[target % len(t.examples)][f.name]
        else:
            payload[f.name] = pick(target, amount, claims)
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
        for h, r in zip(ex.tx_hashes, ex.results, strict=True):
            assert r.code in DECLARED[by_hash[h].type], (by_hash[h].type, r)
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


#: the codes each rule may answer: OK and those its registry entry declares (docs list them)
DECLARED = {t.name: {Code.OK, *(code for code, _ in t.checks)} for t in REGISTRY}
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


# --- a second, deliberately naive model of section 4, compared transaction by transaction ---


class Model:
    """Plain dicts and the rules as PROTOCOL.md words them, no indexes, no overlay."""

    def __init__(self, hx: Harness) -> None:
        g = hx.genesis
        self.params = g.params
        self.pp = {p.id: p.params for p in g.pools}
        self.acct: dict[bytes, list[Any]] = {a.address: [a.balance, 0, False] for a in g.accounts}
        self.pool = {p.id: 0 for p in g.pools}
        self.member: dict[tuple[str, bytes], list[Any]] = {}
        self.claims: dict[bytes, dict[str, Any]] = {}

    def a(self, addr_: bytes) -> list[Any]:
        return self.acct.setdefault(addr_, [0, 0, False])

    def status(self, pool: str, who: bytes, h: int) -> str | None:
        m = self.member.get((pool, who))
        if m is None:
            return None
        joined, paid, left = m
        if left:
            return "left"
        if h > paid:
            return "lapsed"
        return "active" if h >= joined + self.pp[pool].waiting_period else "waiting"

    def apply(self, tx: Tx, h: int) -> int:
        s = self.a(tx.sender)
        s[0] -= tx.fee
        s[1] += 1
        self.a(self.params.treasury)[0] += tx.fee
        p = tx.payload
        t = tx.type
        if t == "transfer":
            if s[0] < p["amount"]:
                return 6
            s[0] -= p["amount"]
            self.a(p["to"])[0] += p["amount"]
        elif t == "admit":
            if tx.sender not in self.params.registrars:
                return 11
            self.a(p["account"])[2] = True
        elif t in ("join", "pay", "leave", "claim"):
            if p["pool"] not in self.pool:
                return 12
            pp = self.pp[p["pool"]]
            st = self.status(p["pool"], tx.sender, h)
            if t == "join":
                if st in ("waiting", "active"):
                    return 14
                if pp.admission == "kyc" and not s[2]:
                    return 11
                if s[0] < pp.entry_fee + pp.contribution:
                    return 6
                s[0] -= pp.entry_fee + pp.contribution
                self.a(self.params.treasury)[0] += pp.entry_fee
                self.pool[p["pool"]] += pp.contribution
                self.member[(p["pool"], tx.sender)] = [h, h + pp.period - 1, False]
            elif t == "pay":
                if st not in ("waiting", "active"):
                    return 15
                if p["amount"] % pp.contribution:
                    return 13
                if s[0] < p["amount"]:
                    return 6
                s[0] -= p["amount"]
                self.pool[p["pool"]] += p["amount"]
                self.member[(p["pool"], tx.sender)][1] += p["amount"] // pp.contribution * pp.period
            elif t == "leave":
                if st not in ("waiting", "active"):
                    return 15
                self.member[(p["pool"], tx.sender)][2] = True
            else:
                if st not in ("waiting", "active"):
                    return 15
                if st == "waiting":
                    return 16
                if p["amount"] > pp.max_claim:
                    return 13
                if any(
                    c["pool"] == p["pool"] and c["claimant"] == tx.sender
                    and c["status"] in ("voting", "approved")
                    for c in self.claims.values()
                ):  # fmt: skip
                    return 17
                if s[0] < pp.claim_bond:
                    return 6
                s[0] -= pp.claim_bond
                self.claims[tx.hash] = {
                    "pool": p["pool"], "claimant": tx.sender, "amount": p["amount"],
                    "closes_at": h + pp.vote_window, "for": 0, "against": 0, "voters": set(),
                    "status": "voting", "payable_at": None, "bond": pp.claim_bond,
                }  # fmt: skip
        elif t == "vote":
            c = self.claims.get(p["claim"])
            if c is None:
                return 12
            if c["status"] != "voting" or h >= c["closes_at"]:
                return 18
            st = self.status(c["pool"], tx.sender, h)
            if st not in ("waiting", "active"):
                return 15
            joined = self.member[(c["pool"], tx.sender)][0]
            if (
                st != "active"
                or h - joined < self.pp[c["pool"]].juror_min_age
                or tx.sender == c["claimant"]
            ):
                return 19
            if tx.sender in c["voters"]:
                return 20
            c["voters"].add(tx.sender)
            c["for" if p["approve"] else "against"] += 1
        elif t == "payout":
            c = self.claims.get(p["claim"])
            if c is None:
                return 12
            if c["status"] == "paid":
                return 22
            if c["status"] != "approved":
                return 21
            if h < c["payable_at"]:
                return 23
            if self.pool[c["pool"]] < c["amount"]:
                return 24
            fee = c["amount"] * self.pp[c["pool"]].fee_bps // 10000
            self.pool[c["pool"]] -= c["amount"]
            self.a(self.params.treasury)[0] += fee
            self.a(c["claimant"])[0] += c["amount"] - fee + c["bond"]
            c["status"] = "paid"
        else:
            raise AssertionError(f"the model does not cover {t}")
        return 0

    def end_of_block(self, h: int) -> None:
        for c in self.claims.values():
            if c["status"] == "voting" and c["closes_at"] == h + 1:
                pp = self.pp[c["pool"]]
                total = c["for"] + c["against"]
                if total >= pp.quorum and c["for"] * 10000 > pp.approve_bps * total:
                    c["status"] = "approved"
                    c["payable_at"] = c["closes_at"] + pp.notice_period
                else:
                    c["status"] = "rejected"
                    self.pool[c["pool"]] += c["bond"]


MODEL_KINDS = ("transfer", "join", "pay", "leave", "claim", "vote", "vote", "payout", "admit")
model_op = st.tuples(
    st.sampled_from(MODEL_KINDS),
    st.integers(0, len(MEMBERS)),
    st.integers(0, 7),
    st.integers(0, len(AMOUNTS) - 1),
    st.integers(0, 9),
)
model_blocks = st.lists(st.tuples(st.lists(model_op, max_size=8), st.integers(0, 2)), max_size=8)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(model_blocks)
def test_machine_matches_a_naive_model(script: list[Any]) -> None:
    hx = harness()
    model = Model(hx)
    claims: list[bytes] = []
    setup = [
        ([("join", i, 0, 0, 0) for i in range(len(MEMBERS))], 2),
        ([("claim", 0, 0, 1, 0), ("claim", 1, 0, 2, 0)], 0),
    ]
    for ops, pause in [*setup, *script]:
        txs = {t.hash: t for t in (to_tx(hx, claims, o) for o in ops)}
        ex = hx.execute(list(txs.values()), propose=True)
        h = hx.h + 1
        expected = [model.apply(txs[x], h) for x in ex.tx_hashes]
        assert [int(r.code) for r in ex.results] == expected
        model.end_of_block(h)
        hx.chain.commit(ex)
        hx._nonces.clear()
        claims += [x for x, r in zip(ex.tx_hashes, ex.results, strict=True)
                   if r.code == 0 and txs[x].type == "claim"]  # fmt: skip
        for _ in range(pause):
            hx.block()
            model.end_of_block(hx.h)
        view = hx.view
        for a, (bal, nonce, kyc) in model.acct.items():
            assert view.account(a) == Account(bal, nonce, kyc)
        for pid, bal in model.pool.items():
            assert view.pool(pid).balance == bal
        for cid, c in model.claims.items():
            got = view.claim(cid)
            assert (got.status, got.payable_at, got.votes_for, got.votes_against) == (
                c["status"], c["payable_at"], c["for"], c["against"],
            )  # fmt: skip
