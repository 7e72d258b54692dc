"""Governance against a small independent reference model of PROTOCOL.md section 9: random
sequences of join, pay, leave, propose and ballot (one per block, pool scope) give the same
result codes, proposal statuses, params and balances as the state machine."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_machine import BALANCE, Harness

from state.errors import Code

WHO = ("m0", "m1", "m2", "m3", "m4")
WP, PERIOD, CONTRIB, ENTRY, DEPOSIT = 2, 20, 100, 10, 100
VOTING, TIMELOCK, QUORUM_BPS, THRESHOLD, MAX_OPEN = 10, 10, 5000, 6667, 2
PARAMS = {
    "waiting_period": WP, "period": PERIOD, "contribution": CONTRIB, "entry_fee": ENTRY,
    "gov_deposit": DEPOSIT, "gov_voting_period": VOTING, "gov_timelock": TIMELOCK,
    "gov_quorum_bps": QUORUM_BPS, "gov_threshold_bps": THRESHOLD, "gov_max_open": MAX_OPEN,
}  # fmt: skip


@dataclass
class Rec:
    joined: int
    active_from: int
    paid_through: int
    left_at: int | None = None

    def status(self, h: int) -> str:
        if self.left_at is not None:
            return "left"
        if h > self.paid_through:
            return "lapsed"
        return "active" if h >= self.active_from else "waiting"


@dataclass
class Prop:
    proposer: str
    value: int
    opened_at: int
    electorate: int
    votes: dict[str, str] = field(default_factory=dict)
    status: str = "voting"
    enact_at: int | None = None


class Model:
    """Section 9, written from the text alone."""

    def __init__(self) -> None:
        self.members: dict[str, Rec] = {}
        self.props: list[Prop] = []
        self.balance = dict.fromkeys(WHO, BALANCE)
        self.max_claim = 5000

    def st(self, who: str, h: int) -> str | None:
        r = self.members.get(who)
        return None if r is None else r.status(h)

    def apply(self, h: int, op: tuple[str, str, int]) -> Code:
        kind, who, arg = op
        self.balance[who] -= 1
        s = self.st(who, h)
        member = s in ("waiting", "active")
        if kind == "join":
            if member:
                return Code.ALREADY_MEMBER
            self.balance[who] -= ENTRY + CONTRIB
            self.members[who] = Rec(h, h + WP, h + PERIOD - 1)
        elif kind == "pay":
            if not member:
                return Code.NOT_MEMBER
            self.balance[who] -= CONTRIB
            self.members[who].paid_through += PERIOD
        elif kind == "leave":
            if not member:
                return Code.NOT_MEMBER
            self.members[who].left_at = h
        elif kind == "propose":
            if arg < 0:
                return Code.INVALID_PAYLOAD
            if not member:
                return Code.NOT_MEMBER
            if s == "waiting":
                return Code.WAITING_PERIOD
            if sum(p.status in ("voting", "passed") for p in self.props) >= MAX_OPEN:
                return Code.TOO_MANY_PROPOSALS
            self.balance[who] -= DEPOSIT
            n = 0
            for r in self.members.values():
                if r.active_from <= h <= r.paid_through and (r.left_at is None or r.left_at > h):
                    n += 1
            self.props.append(Prop(who, arg, h, n))
        elif kind == "ballot":
            if not self.props:
                return Code.NOT_FOUND
            p = self.props[arg % len(self.props)]
            if p.status != "voting" or h >= p.opened_at + VOTING:
                return Code.VOTING_CLOSED
            r = self.members.get(who)
            if not member or r is None or r.active_from > p.opened_at:
                return Code.NOT_ELIGIBLE
            if who in p.votes:
                return Code.ALREADY_VOTED
            p.votes[who] = ("yes", "no", "abstain")[arg % 3]
        return Code.OK

    def end_of_block(self, h: int) -> None:
        for p in self.props:
            if p.status == "voting" and p.opened_at + VOTING == h + 1:
                turnout = len(p.votes)
                yes = sum(v == "yes" for v in p.votes.values())
                no = sum(v == "no" for v in p.votes.values())
                if turnout * 10000 < QUORUM_BPS * p.electorate:
                    p.status = "expired"
                else:
                    self.balance[p.proposer] += DEPOSIT
                    if yes * 10000 > THRESHOLD * (yes + no):
                        p.status, p.enact_at = "passed", h + 1 + TIMELOCK
                    else:
                        p.status = "rejected"
        for p in self.props:
            if p.status == "passed" and p.enact_at == h + 1:
                p.status = "enacted"
                self.max_claim = p.value


OPS = st.tuples(
    st.sampled_from(("join", "pay", "leave", "propose", "propose", *("ballot",) * 6)),
    st.sampled_from(WHO),
    st.integers(-1, 9),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(OPS, min_size=10, max_size=45))
def test_governance_matches_the_reference_model(ops: list[tuple[str, str, int]]) -> None:
    hx = Harness(pools=[{"id": "med", "name": "M", "params": PARAMS}], members=WHO)
    model = Model()
    ids: list[bytes] = []
    hx.block([hx.tx(w, "join", pool="med") for w in WHO])  # all join at 1, active from 3
    for w in WHO:
        model.balance[w] -= 1 + ENTRY + CONTRIB
        model.members[w] = Rec(1, 1 + WP, PERIOD)
    hx.advance_to(1 + WP - 1)
    for op in [*ops, *[("wait", "m0", 0)] * 22]:
        kind, who, arg = op
        h = hx.h + 1
        if kind == "wait":
            hx.block()
            model.end_of_block(h)
            continue
        payload: dict[str, Any] = {"pool": "med"}
        if kind == "pay":
            payload["amount"] = CONTRIB
        elif kind == "propose":
            value = 1000 * arg if arg >= 0 else "x"
            payload = {"scope": "med", "changes": {"max_claim": value}, "title": "t",
                       "text_hash": b"\x01" * 32}  # fmt: skip
        elif kind == "ballot":
            pid = ids[arg % len(ids)] if ids else b"\x09" * 32
            payload = {"proposal": pid, "choice": ("yes", "no", "abstain")[arg % 3]}
        tx = hx.tx(who, kind, **payload)
        got = hx.block([tx]).results[0].code
        want = model.apply(h, (kind, who, 1000 * arg if kind == "propose" and arg >= 0 else arg))
        model.end_of_block(h)
        assert got == want, (h, op)
        if kind == "propose" and got is Code.OK:
            ids.append(tx.hash)
        assert hx.supply() == hx.genesis.supply
    assert [hx.view.proposal(i).status for i in ids] == [p.status for p in model.props]
    assert hx.view.pool("med").params.max_claim == model.max_claim
    assert {w: hx.balance(w) for w in WHO} == model.balance
    assert [hx.view.proposal(i).electorate for i in ids] == [p.electorate for p in model.props]
