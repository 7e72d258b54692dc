"""The state machine's rules: every execution error of PROTOCOL.md section 7 by name and code,
block validity, fee and nonce handling, and the records' encodings.

`Harness` (also used by test_stories, test_properties, test_chain and test_app) runs a small
chain in memory: named dev keys, a genesis with pools, and one block per `do()` call.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pytest

from state import codec
from state import keys as K
from state.chain import BlockInput, Chain, Execution, InvalidBlock
from state.devkeys import dev_signer
from state.errors import Code
from state.genesis import parse_genesis
from state.genesis_builder import ValidatorSpec
from state.genesis_builder import genesis_doc as build_genesis
from state.machine import EvidenceRef, TxResult
from state.model import (
    Account,
    Candidate,
    Claim,
    Member,
    Pool,
    TxRecord,
    ValidatorInfo,
)
from state.params import ChainParams, PoolParams
from state.store import KVStore, MemoryStore
from state.tx import Tx, build_tx

CHAIN_ID = "huzhu-test"
BALANCE = 1_000_000
MEMBERS = tuple(f"m{i}" for i in range(10))


def addr(label: str) -> bytes:
    return dev_signer(label).public_key


def genesis_doc(
    *,
    params: dict[str, Any] | None = None,
    pools: list[dict[str, Any]] | None = None,
    validators: int = 4,
    members: Sequence[str] = MEMBERS,
    balance: int = BALANCE,
) -> dict[str, Any]:
    """A genesis with a treasury, a registrar, funded members, pools and dev validators."""
    return build_genesis(
        chain_id=CHAIN_ID,
        treasury=addr("treasury"),
        registrars=[addr("registrar")],
        operators=[addr("op-extra")],
        params={"epoch_length": 1000, "min_validators": 1, **(params or {})},
        validators=[
            ValidatorSpec(f"node{i}", addr(f"op{i}"), addr(f"val{i}"), f"127.0.0.1:{27000 + i}")
            for i in range(validators)
        ],
        accounts=[
            (addr(who), balance)
            for who in (*members, "registrar", "op-extra", *(f"op{i}" for i in range(validators)))
        ],
        pools=pools
        if pools is not None
        else [
            {"id": "med", "name": "Medical"},
            {"id": "kyc", "name": "Real-name pool", "params": {"admission": "kyc"}},
        ],
    )


class Harness:
    """A chain in a store, driven one block at a time with dev keys named by labels."""

    def __init__(self, store: KVStore | None = None, **genesis: Any) -> None:
        self.store = store if store is not None else MemoryStore()
        self.genesis = parse_genesis(genesis_doc(**genesis))
        self.chain = Chain.init_genesis(self.store, self.genesis)
        self._nonces: dict[bytes, int] = {}

    @property
    def h(self) -> int:
        return self.chain.height

    @property
    def view(self) -> Any:
        return self.chain.view()

    def account(self, label: str) -> Account:
        return self.view.account(addr(label))

    def balance(self, label: str) -> int:
        return self.account(label).balance

    def tx(
        self, label: str, type: str, fee: int = 1, nonce: int | None = None, **payload: Any
    ) -> Tx:
        """A signed transaction with the sender's next nonce (tracked across unsent ones)."""
        signer = dev_signer(label)
        sender = signer.public_key
        if nonce is None:
            nonce = max(self._nonces.get(sender, 0), self.view.account(sender).nonce)
            self._nonces[sender] = nonce + 1
        return build_tx(signer, CHAIN_ID, type, nonce, fee, payload)

    def execute(
        self,
        txs: Iterable[Tx | bytes] = (),
        evidence: Sequence[EvidenceRef] = (),
        propose: bool = False,
    ) -> Execution:
        wires = [t.wire if isinstance(t, Tx) else t for t in txs]
        block = BlockInput(self.h + 1, 1_000 * (self.h + 1), addr("val0"), wires, list(evidence))
        return self.chain.execute(block, propose=propose)

    def block(
        self, txs: Iterable[Tx | bytes] = (), evidence: Sequence[EvidenceRef] = ()
    ) -> Execution:
        """Execute and commit the next block."""
        ex = self.execute(txs, evidence)
        self.chain.commit(ex)
        self._nonces.clear()
        return ex

    def do(self, label: str, type: str, fee: int = 1, **payload: Any) -> TxResult:
        """One transaction in a block of its own; its result."""
        ex = self.block([self.tx(label, type, fee=fee, **payload)])
        return ex.results[0]

    def advance_to(self, height: int) -> None:
        """Commit empty blocks until the chain is at `height`."""
        assert height >= self.h
        while self.h < height:
            self.block()

    def state(self) -> dict[bytes, bytes]:
        return dict(self.store.iterate(b"s/"))

    def supply(self) -> int:
        """Accounts + pools + escrowed bonds, deposits and event escrows (the invariant's
        left-hand side, section 10)."""
        total = 0
        for k, raw in self.store.iterate(K.ACCOUNT):
            total += K.decode_value(k, raw).balance
        for k, raw in self.store.iterate(K.POOL):
            total += K.decode_value(k, raw).balance
        for k, raw in self.store.iterate(K.CLAIM):
            total += K.decode_value(k, raw).escrowed
        for k, raw in self.store.iterate(K.PROPOSAL):
            total += K.decode_value(k, raw).escrowed
        for k, raw in self.store.iterate(K.EVENT):
            total += K.decode_value(k, raw).escrowed
        return total

    def member_status(self, pool: str, label: str) -> str | None:
        return self.view.member_status(pool, addr(label), self.h)


_CLOCK_KEYS = (K.MEMBER_DUE, K.MEMBER_COUNTS, K.ACTIVE_POOLS, K.CHAIN_ACTIVE)


def refused(hx: Harness, label: str, type: str, code: Code, fee: int = 1, **payload: Any) -> None:
    """Run the tx; it must fail with `code` and change nothing but the fee and the nonce."""
    before = hx.state()
    sender_before = hx.account(label)
    treasury_before = hx.balance("treasury")
    result = hx.do(label, type, fee=fee, **payload)
    assert (result.code, result.error) == (code, code.name.lower()), result.log
    assert result.log
    after = hx.state()
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    # time alone may move member counts in any block (test_member_counts checks them exact)
    changed = {k for k in changed if not k.startswith(_CLOCK_KEYS)}
    assert changed <= {K.account_key(addr(label)), K.account_key(addr("treasury"))}
    sender_after = hx.account(label)
    assert sender_after.nonce == sender_before.nonce + 1
    if label != "treasury":
        assert sender_after.balance == sender_before.balance - fee
        assert hx.balance("treasury") == treasury_before + fee


def ok(result: TxResult) -> None:
    assert result.code == Code.OK, (result.error, result.log)


@pytest.fixture
def hx() -> Harness:
    return Harness()


def open_claim(hx: Harness, claimant: str = "m0", amount: int = 1000) -> bytes:
    """Join the claimant and three jurors, wait out the waiting period, file a claim."""
    hx.block([hx.tx(m, "join", pool="med") for m in (claimant, "m1", "m2", "m3")])
    hx.advance_to(hx.h + 10)
    t = hx.tx(claimant, "claim", pool="med", amount=amount, evidence=b"\x07" * 32)
    ok(hx.block([t]).results[0])
    return t.hash


# --- transfer and admit -----------------------------------------------------------------------


def test_transfer_moves_amount_and_fee_goes_to_treasury(hx: Harness) -> None:
    ok(hx.do("m0", "transfer", fee=3, to=addr("stranger"), amount=500))
    assert hx.balance("m0") == BALANCE - 503
    assert hx.balance("stranger") == 500
    assert hx.balance("treasury") == 3
    assert hx.account("m0").nonce == 1


def test_transfer_to_self_keeps_balance(hx: Harness) -> None:
    ok(hx.do("m0", "transfer", to=addr("m0"), amount=BALANCE - 1))
    assert hx.balance("m0") == BALANCE - 1


def test_transfer_insufficient_funds_keeps_fee_and_nonce(hx: Harness) -> None:
    refused(hx, "m0", "transfer", Code.INSUFFICIENT_FUNDS, to=addr("m1"), amount=BALANCE)


def test_admit_by_registrar_sets_kyc(hx: Harness) -> None:
    assert not hx.account("newbie").kyc
    ok(hx.do("registrar", "admit", account=addr("newbie")))
    assert hx.account("newbie") == Account(0, 0, True)


def test_admit_by_non_registrar_is_unauthorized(hx: Harness) -> None:
    refused(hx, "m0", "admit", Code.UNAUTHORIZED, account=addr("m1"))


# --- membership ---------------------------------------------------------------------------------


def test_join_pays_entry_fee_and_contribution(hx: Harness) -> None:
    ok(hx.do("m0", "join", pool="med"))
    assert hx.balance("m0") == BALANCE - 1 - 10 - 100
    assert hx.balance("treasury") == 1 + 10
    assert hx.view.pool("med").balance == 100
    assert hx.view.member("med", addr("m0")) == Member("med", addr("m0"), 1, 100, 11, None)
    assert hx.member_status("med", "m0") == "waiting"


def test_join_unknown_pool_is_not_found(hx: Harness) -> None:
    refused(hx, "m0", "join", Code.NOT_FOUND, pool="nope")


def test_join_twice_is_already_member(hx: Harness) -> None:
    ok(hx.do("m0", "join", pool="med"))
    refused(hx, "m0", "join", Code.ALREADY_MEMBER, pool="med")
    hx.advance_to(20)
    assert hx.member_status("med", "m0") == "active"
    refused(hx, "m0", "join", Code.ALREADY_MEMBER, pool="med")


def test_join_kyc_pool_needs_kyc(hx: Harness) -> None:
    refused(hx, "m0", "join", Code.UNAUTHORIZED, pool="kyc")
    ok(hx.do("registrar", "admit", account=addr("m0")))
    ok(hx.do("m0", "join", pool="kyc"))


def test_join_without_entry_fee_and_contribution_is_insufficient_funds(hx: Harness) -> None:
    ok(hx.do("m0", "transfer", to=addr("poor"), amount=110))  # 1 for the fee + 109
    refused(hx, "poor", "join", Code.INSUFFICIENT_FUNDS, pool="med")


def test_pay_extends_coverage(hx: Harness) -> None:
    ok(hx.do("m0", "join", pool="med"))
    ok(hx.do("m0", "pay", pool="med", amount=300))
    assert hx.view.member("med", addr("m0")).paid_through == 100 + 300
    assert hx.view.pool("med").balance == 400


def test_pay_rules(hx: Harness) -> None:
    refused(hx, "m0", "pay", Code.NOT_FOUND, pool="nope", amount=100)
    refused(hx, "m0", "pay", Code.NOT_MEMBER, pool="med", amount=100)
    ok(hx.do("m0", "join", pool="med"))
    refused(hx, "m0", "pay", Code.INVALID_PAYLOAD, pool="med", amount=150)
    refused(hx, "m0", "pay", Code.INSUFFICIENT_FUNDS, pool="med", amount=100 * BALANCE)


def test_leave_rules(hx: Harness) -> None:
    refused(hx, "m0", "leave", Code.NOT_MEMBER, pool="med")
    ok(hx.do("m0", "join", pool="med"))
    ok(hx.do("m0", "leave", pool="med"))
    assert hx.member_status("med", "m0") == "left"
    assert hx.view.pool("med").balance == 100  # nothing refunded
    refused(hx, "m0", "leave", Code.NOT_MEMBER, pool="med")
    refused(hx, "m0", "pay", Code.NOT_MEMBER, pool="med", amount=100)


# --- claims -------------------------------------------------------------------------------------


def test_claim_rules(hx: Harness) -> None:
    ev = b"\x01" * 32
    refused(hx, "m0", "claim", Code.NOT_FOUND, pool="nope", amount=10, evidence=ev)
    refused(hx, "m0", "claim", Code.NOT_MEMBER, pool="med", amount=10, evidence=ev)
    ok(hx.do("m0", "join", pool="med"))
    refused(hx, "m0", "claim", Code.WAITING_PERIOD, pool="med", amount=10, evidence=ev)
    hx.advance_to(12)  # joined at 3: active from 13, the height of the next block
    assert hx.view.member_status("med", addr("m0"), 12) == "waiting"
    assert hx.view.member_status("med", addr("m0"), 13) == "active"
    refused(hx, "m0", "claim", Code.INVALID_PAYLOAD, pool="med", amount=5001, evidence=ev)
    ok(hx.do("m0", "claim", pool="med", amount=5000, evidence=ev))
    refused(hx, "m0", "claim", Code.CLAIM_OPEN, pool="med", amount=10, evidence=ev)


def test_claim_without_bond_is_insufficient_funds(hx: Harness) -> None:
    ok(hx.do("m0", "transfer", to=addr("poor"), amount=1 + 110 + 1 + 49))
    ok(hx.do("poor", "join", pool="med"))
    hx.advance_to(hx.h + 10)
    refused(
        hx, "poor", "claim", Code.INSUFFICIENT_FUNDS, pool="med", amount=10, evidence=b"\x01" * 32
    )


def test_claim_escrows_bond_and_opens_voting(hx: Harness) -> None:
    cid = open_claim(hx)
    c = hx.view.claim(cid)
    terms = {
        "approve_bps": 5000, "claim_bond": 50, "fee_bps": 800, "juror_min_age": 5,
        "notice_period": 3, "quorum": 2, "vote_window": 10,
        "attestors": [], "attest_quorum": 1, "objection_quorum": 3,
    }  # fmt: skip
    assert c == Claim(cid, "med", addr("m0"), 1000, b"\x07" * 32, 12, 22, bond=50, terms=terms)
    assert hx.balance("m0") == BALANCE - 111 - 1 - 50
    assert [x.id for x in hx.view.claims("med")] == [cid]
    j = c.to_json()
    assert j["id"] == cid.hex() and j["payable_at"] is None and j["status"] == "voting"
    assert j["terms"] == terms


def test_vote_rules(hx: Harness) -> None:
    refused(hx, "m1", "vote", Code.NOT_FOUND, claim=b"\x09" * 32, approve=True)
    cid = open_claim(hx)  # m0..m3 joined at 1, claim at 12
    refused(hx, "m4", "vote", Code.NOT_MEMBER, claim=cid, approve=True)
    ok(hx.do("m4", "join", pool="med"))
    refused(hx, "m4", "vote", Code.NOT_ELIGIBLE, claim=cid, approve=True)  # waiting
    refused(hx, "m0", "vote", Code.NOT_ELIGIBLE, claim=cid, approve=True)  # the claimant
    ok(hx.do("m1", "vote", claim=cid, approve=True))
    refused(hx, "m1", "vote", Code.ALREADY_VOTED, claim=cid, approve=False)
    ok(hx.do("m2", "vote", claim=cid, approve=False))
    c = hx.view.claim(cid)
    assert (c.votes_for, c.votes_against) == (1, 1)
    assert c.voters == ((addr("m1"), True), (addr("m2"), False))
    hx.advance_to(c.closes_at - 1)
    assert hx.view.claim(cid).status != "voting"  # tallied at the end of closes_at - 1
    refused(hx, "m3", "vote", Code.VOTING_CLOSED, claim=cid, approve=True)


def test_juror_min_age(hx: Harness) -> None:
    # waiting_period 2 < juror_min_age 5: an active member can still be too new to vote
    pools = [{"id": "med", "name": "M", "params": {"waiting_period": 2, "vote_window": 50}}]
    hx = Harness(pools=pools)
    hx.block([hx.tx("m0", "join", pool="med")])
    hx.advance_to(3)
    t = hx.tx("m0", "claim", pool="med", amount=10, evidence=b"\x01" * 32)
    ok(hx.block([t, hx.tx("m1", "join", pool="med")]).results[0])  # m1 joins at 4
    hx.advance_to(6)
    assert hx.member_status("med", "m1") == "active"
    refused(hx, "m1", "vote", Code.NOT_ELIGIBLE, claim=t.hash, approve=True)  # h 7: age 3
    hx.advance_to(8)
    ok(hx.do("m1", "vote", claim=t.hash, approve=True))  # h 9: age 5


def test_vote_by_lapsed_member_is_not_member() -> None:
    params = {"period": 12, "waiting_period": 1, "vote_window": 50}
    hx = Harness(pools=[{"id": "med", "name": "M", "params": params}])
    hx.block([hx.tx(m, "join", pool="med") for m in ("m0", "m1")])  # covered through 12
    pay = hx.tx("m0", "pay", pool="med", amount=500)
    t = hx.tx("m0", "claim", pool="med", amount=10, evidence=b"\x01" * 32)
    hx.block([pay, t])
    hx.advance_to(12)
    refused(hx, "m1", "vote", Code.NOT_MEMBER, claim=t.hash, approve=True)  # at 13: lapsed
    assert hx.member_status("med", "m1") == "lapsed"


def test_payout_rules(hx: Harness) -> None:
    refused(hx, "m5", "payout", Code.NOT_FOUND, claim=b"\x09" * 32)
    cid = open_claim(hx)
    refused(hx, "m5", "payout", Code.NOT_APPROVED, claim=cid)  # voting
    hx.block([hx.tx(j, "vote", claim=cid, approve=True) for j in ("m1", "m2", "m3")])
    c = hx.view.claim(cid)
    hx.advance_to(c.closes_at - 1)
    c = hx.view.claim(cid)
    assert c.status == "approved" and c.payable_at == c.closes_at + 3
    refused(hx, "m5", "payout", Code.NOTICE_PERIOD, claim=cid)
    hx.advance_to(c.payable_at - 1)
    # pool holds 4 contributions (400) < 1000: the claim stays approved
    refused(hx, "m5", "payout", Code.POOL_INSOLVENT, claim=cid)
    assert hx.view.claim(cid).status == "approved"
    hx.block([hx.tx(m, "join", pool="med") for m in ("m4", "m5", "m6", "m7", "m8", "m9")])
    ok(hx.do("m5", "payout", claim=cid))
    refused(hx, "m5", "payout", Code.ALREADY_PAID, claim=cid)


def test_rejected_claim_payout_is_not_approved(hx: Harness) -> None:
    cid = open_claim(hx)
    hx.advance_to(hx.view.claim(cid).closes_at - 1)
    assert hx.view.claim(cid).status == "rejected"
    refused(hx, "m5", "payout", Code.NOT_APPROVED, claim=cid)


# --- validator candidates and electors -----------------------------------------------------------


def test_register_candidate_rules(hx: Harness) -> None:
    refused(hx, "m0", "register_candidate", Code.UNAUTHORIZED, consensus_key=b"\x01" * 32, name="x")
    # a key held by another candidate, or by a validator of the current set
    refused(
        hx, "op-extra", "register_candidate", Code.ALREADY_REGISTERED,
        consensus_key=addr("val1"), name="x",
    )  # fmt: skip
    ok(hx.do("op-extra", "register_candidate", consensus_key=addr("valx"), name="extra"))
    cand = {c.operator: c for c in hx.view.candidates()}[addr("op-extra")]
    assert cand == Candidate(addr("op-extra"), addr("valx"), "extra", 0, 0)
    # an operator may re-register its own key or move to a new one
    ok(hx.do("op1", "register_candidate", consensus_key=addr("val1"), name="renamed"))
    ok(hx.do("op1", "register_candidate", consensus_key=addr("val1b"), name="moved"))
    # val1 left the candidate index but still signs in the current set
    refused(
        hx, "op-extra", "register_candidate", Code.ALREADY_REGISTERED,
        consensus_key=addr("val1"), name="x",
    )  # fmt: skip
    refused(
        hx, "op-extra", "register_candidate", Code.ALREADY_REGISTERED,
        consensus_key=addr("val1b"), name="x",
    )  # fmt: skip


def test_barred_operator_cannot_register(hx: Harness) -> None:
    ev = EvidenceRef(addr("val2"), hx.h, 0, 2, b"\xee" * 32)
    hx.block(evidence=[ev])
    cand = {c.operator: c for c in hx.view.candidates()}[addr("op2")]
    assert cand.barred_until == 1 + 10 * 1000
    refused(hx, "op2", "register_candidate", Code.UNAUTHORIZED, consensus_key=addr("v2"), name="x")


def test_elect_rules(hx: Harness) -> None:
    refused(hx, "m0", "elect", Code.NOT_FOUND, candidates=[addr("op0"), addr("m1")])
    ok(hx.do("m0", "elect", candidates=[addr("op0"), addr("op1")]))
    assert hx.view.electors(addr("m0")) == [addr("op0"), addr("op1")]
    ok(hx.do("m0", "elect", candidates=[]))
    assert hx.view.electors(addr("m0")) == []
    assert hx.store.get(K.elector_key(addr("m0"))) is None


# --- block validity -------------------------------------------------------------------------------


def test_block_with_nonce_gap_is_invalid_and_propose_drops(hx: Harness) -> None:
    t0 = hx.tx("m0", "transfer", nonce=0, to=addr("m1"), amount=1)
    t2 = hx.tx("m0", "transfer", nonce=2, to=addr("m1"), amount=1)
    other = hx.tx("m1", "transfer", nonce=0, to=addr("m2"), amount=1)
    with pytest.raises(InvalidBlock, match="nonce"):
        hx.execute([t0, t2, other])
    ex = hx.execute([t0, t2, other], propose=True)
    assert ex.txs == [t0.wire, other.wire]
    assert [r.code for r in ex.results] == [Code.OK, Code.OK]


def test_replayed_and_duplicate_nonce_are_invalid(hx: Harness) -> None:
    t0 = hx.tx("m0", "transfer", nonce=0, to=addr("m1"), amount=1)
    with pytest.raises(InvalidBlock):
        hx.execute([t0, t0])
    hx.block([t0])
    with pytest.raises(InvalidBlock):
        hx.execute([t0])
    assert hx.execute([t0], propose=True).txs == []


def test_fee_unpayable_mid_block(hx: Harness) -> None:
    ok(hx.do("m0", "transfer", to=addr("poor"), amount=5))
    spend = hx.tx("poor", "transfer", fee=1, nonce=0, to=addr("m1"), amount=3)
    broke = hx.tx("poor", "transfer", fee=2, nonce=1, to=addr("m1"), amount=1)
    with pytest.raises(InvalidBlock, match="fee"):
        hx.execute([spend, broke])
    assert hx.execute([spend, broke], propose=True).txs == [spend.wire]
    # a fee exactly payable is fine even if the rule then fails
    exact = hx.tx("poor", "transfer", fee=1, nonce=1, to=addr("m1"), amount=5)
    ex = hx.execute([spend, exact])
    assert [r.code for r in ex.results] == [Code.OK, Code.INSUFFICIENT_FUNDS]


def test_too_many_txs(hx: Harness) -> None:
    hx = Harness(params={"max_block_txs": 2})
    txs = [hx.tx(m, "transfer", to=addr("x"), amount=1) for m in ("m0", "m1", "m2")]
    with pytest.raises(InvalidBlock, match="max_block_txs"):
        hx.execute(txs)
    assert hx.execute(txs, propose=True).txs == [t.wire for t in txs[:2]]


def test_bad_signature_fee_too_low_and_garbage(hx: Harness) -> None:
    good = hx.tx("m0", "transfer", nonce=0, to=addr("m1"), amount=1)
    sig = bytearray(good.sig)
    sig[0] ^= 1
    forged = codec.encode({"body": good.body, "sig": bytes(sig)})
    later = hx.tx("m0", "transfer", nonce=1, to=addr("m1"), amount=1)
    free = hx.tx("m1", "transfer", fee=0, nonce=0, to=addr("m2"), amount=1)
    wrong_chain = build_tx(
        dev_signer("m2"), "other", "transfer", 0, 1, {"to": addr("m1"), "amount": 1}
    )
    for bad in (forged, free.wire, wrong_chain.wire, b"\x00garbage"):
        with pytest.raises(InvalidBlock):
            hx.execute([bad])
    ex = hx.execute([forged, later, free, wrong_chain, b"\x00"], propose=True)
    assert ex.txs == []  # the forged tx's sender is dropped for the rest of the block


def test_verified_skips_signature_check(hx: Harness) -> None:
    good = hx.tx("m0", "transfer", nonce=0, to=addr("m1"), amount=1)
    sig = bytearray(good.sig)
    sig[5] ^= 1
    forged = codec.encode({"body": good.body, "sig": bytes(sig)})
    block = BlockInput(1, 0, b"", [forged], [])
    ex = hx.chain.execute(block, verified=lambda h: True)
    assert ex.results == [TxResult(Code.OK)]


def test_refused_tx_keeps_its_index_record(hx: Harness) -> None:
    t = hx.tx("m0", "join", pool="nope")
    hx.block([hx.tx("m1", "transfer", to=addr("m2"), amount=1), t])
    rec = hx.view.tx_result(t.hash)
    assert rec == TxRecord(t.hash, 1, 1, Code.NOT_FOUND, rec.log)
    j = rec.to_json()
    assert j["error"] == "not_found" and j["code"] == 12 and j["hash"] == t.hash.hex()
    assert hx.view.tx_result(b"\x00" * 32) is None


# --- records -------------------------------------------------------------------------------------


RECORDS = [
    Account(5, 2, True),
    Pool("med", "Medical", 7, PoolParams(admission="kyc")),
    Member("med", b"\x01" * 32, 3, 9, 5, 7),
    Claim(
        b"\x02" * 32,
        "med",
        b"\x03" * 32,
        10,
        b"\x04" * 32,
        1,
        11,
        2,
        1,
        ((b"\x05" * 32, True), (b"\x06" * 32, False)),
        "approved",
        14,
        50,
    ),  # fmt: skip
    Candidate(b"\x07" * 32, b"\x08" * 32, "n", 100, 3),
    ChainParams(treasury=b"\x09" * 32, registrars=(b"\x0a" * 32,)),
]


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: type(r).__name__)
def test_records_encode_canonically_and_round_trip(record: Any) -> None:
    raw = K.encode_value(record)
    assert raw == codec.encode(record.to_state())
    prefix = {Account: K.ACCOUNT, Pool: K.POOL, Member: K.MEMBER, Claim: K.CLAIM,
              Candidate: K.CANDIDATE, ChainParams: K.PARAMS}[type(record)]  # fmt: skip
    assert K.decode_value(prefix + b"x", raw) == record


def test_validator_set_encoding() -> None:
    vs = (ValidatorInfo(b"\x01" * 32, b"\x02" * 32, "a", 1),)
    raw = K.encode_value(vs)
    assert raw == codec.encode([v.to_state() for v in vs])
    assert K.decode_value(K.validators_key(5), raw) == vs
    assert vs[0].to_json() == {
        "operator": "01" * 32, "consensus_key": "02" * 32, "name": "a", "power": 1,
    }  # fmt: skip


def test_member_status_boundaries() -> None:
    m = Member("p", b"\x01" * 32, joined_at=10, paid_through=29, active_from=15)
    assert [m.status(h) for h in (10, 14, 15, 29, 30)] == [
        "waiting", "waiting", "active", "active", "lapsed",
    ]  # fmt: skip
    assert Member("p", b"\x01" * 32, 10, 29, 15, 12).status(12) == "left"
    assert m.to_json(12) == {
        "pool": "p", "address": "01" * 32, "joined_at": 10, "paid_through": 29,
        "status": "waiting", "active_from": 15, "left_at": None,
    }  # fmt: skip


def test_json_forms() -> None:
    a = Account(5, 2, True).to_json(b"\xab" * 32, pending_nonce=4)
    assert a == {"address": "ab" * 32, "balance": 5, "nonce": 2, "pending_nonce": 4, "kyc": True}
    p = Pool("med", "Medical", 7, PoolParams()).to_json({"active": 2})
    assert p["members"] == {"waiting": 0, "active": 2, "lapsed": 0, "left": 0}
    assert p["params"]["fee_bps"] == 800 and p["params"]["admission"] == "open"
    c = Candidate(b"\x07" * 32, b"\x08" * 32, "n", 100, 3).to_json()
    assert c == {"operator": "07" * 32, "consensus_key": "08" * 32, "name": "n", "votes": 100,
                 "barred_until": 3}  # fmt: skip
    cl = RECORDS[3].to_json()
    assert cl["voters"] == [{"address": "05" * 32, "approve": True},
                            {"address": "06" * 32, "approve": False}]  # fmt: skip
    assert "bond" not in cl and cl["payable_at"] == 14


def test_events_name_each_successful_transaction(hx: Harness) -> None:
    ex = hx.block(
        [
            hx.tx("m0", "transfer", to=addr("m1"), amount=5),
            hx.tx("registrar", "admit", account=addr("m2")),
            hx.tx("m1", "join", pool="med"),
            hx.tx("m1", "pay", pool="med", amount=100),
            hx.tx("m1", "leave", pool="med"),
            hx.tx("op-extra", "register_candidate", consensus_key=addr("vx"), name="x"),
            hx.tx("m3", "elect", candidates=[addr("op0")]),
            hx.tx("m4", "join", pool="nope"),  # refused: no event
        ]
    )
    assert [e["type"] for e in ex.events] == [
        "transfer",
        "kyc_admitted",
        "member_joined",
        "contribution_paid",
        "member_left",
        "candidate_registered",
        "elector_updated",
    ]
    assert [e["tx"] for e in ex.events] == [h.hex() for h in ex.tx_hashes[:7]]
    assert ex.events[3]["paid_through"] == 1 + 99 + 100
