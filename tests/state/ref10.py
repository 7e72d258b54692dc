"""A small reference model of PROTOCOL.md section 10 (attested claims, objections, parametric
cover) with the parts of sections 3, 4 and 9 it stands on (fees, join/pay/leave, member
status, claims and votes, payout, claim terms), written from the text alone.

Plain dicts and ints, one method per transaction type and one for the end of a block, and no
import of the node's code: tests/state/test_section10_model.py runs the same blocks through
this model and through the real state machine and compares what a client could see. Accounts
are labels ("m0"), claims are ids the caller hands in (the claim transaction's hash), results
are error names ("ok" on success). Of governance (section 9) the model knows only what a
passing proposal does: its deposit is held until the tally, its changes apply at the end of
the block before enact_at (after step 1), and a change of a pool's attestors, trigger or
attest_quorum discards the reports of its open round; the caller's script makes it pass.
A claim's terms are its pool's params at filing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

OK = "ok"
FEE = 1  # every transaction of the comparison pays min_fee


@dataclass(frozen=True)
class PoolCfg:
    """The params of one pool (sections 3 and 10); `trigger` is (op, threshold, payout)."""

    contribution: int = 100
    period: int = 12
    entry_fee: int = 10
    waiting_period: int = 2
    max_claim: int = 400
    claim_bond: int = 50
    vote_window: int = 4
    quorum: int = 2
    approve_bps: int = 5000
    juror_min_age: int = 1
    notice_period: int = 2
    fee_bps: int = 800
    claim_mode: str = "vote"
    attestors: tuple[str, ...] = ()
    attest_quorum: int = 1
    objection_quorum: int = 3
    trigger: tuple[str, int, int] | None = None
    collect_window: int = 10


@dataclass
class Rec:
    """A member record: coverage and the height of a `leave` (section 9)."""

    joined_at: int
    active_from: int
    paid_through: int
    left_at: int | None = None

    def status(self, h: int) -> str:
        if self.left_at is not None:
            return "left"
        if h > self.paid_through:
            return "lapsed"
        return "active" if h >= self.active_from else "waiting"

    def active_at(self, x: int) -> bool:
        """Section 9's "active at height x", read from this (the current) record."""
        return self.active_from <= x <= self.paid_through and (
            self.left_at is None or self.left_at > x
        )


class Refused(Exception):
    """A rule's first failing check: the transaction's error name."""


class Ref10:
    """The state a client can read of pools, members, claims, rounds and events."""

    def __init__(self, pools: dict[str, PoolCfg], balances: dict[str, int]) -> None:
        self.cfg = dict(pools)
        self.bal: dict[str, int] = {"treasury": 0, **balances}
        self.pool_bal = dict.fromkeys(pools, 0)
        self.round = dict.fromkeys(pools, 0)
        self.reports: dict[str, dict[str, int]] = {p: {} for p in pools}
        self.members: dict[tuple[str, str], Rec] = {}
        self.claims: dict[bytes, dict[str, Any]] = {}
        self.events: dict[tuple[str, int], dict[str, Any]] = {}
        self.collected: set[tuple[str, int, str]] = set()
        self._attested: set[bytes] = set()  # claims that got an attestation in this block
        self.proposals: list[dict[str, Any]] = []

    # --- reads ----------------------------------------------------------------------------

    def status(self, pool: str, who: str, h: int) -> str | None:
        rec = self.members.get((pool, who))
        return None if rec is None else rec.status(h)

    def liabilities(self, pool: str) -> int:
        """Section 12: the sum of the amounts of the pool's approved, unpaid claims."""
        return sum(c["amount"] for c in self.claims.values() if c["pool"] == pool and
                   c["status"] == "approved")  # fmt: skip

    def supply(self) -> int:
        """Section 10's invariant: balances, pools, escrowed bonds and event escrows."""
        bonds = sum(c["bond"] for c in self.claims.values() if c["status"] in ("voting",
                    "approved"))  # fmt: skip
        escrows = sum(e["escrow"] for e in self.events.values())
        deposits = sum(p["deposit"] for p in self.proposals if p["held"])
        return (sum(self.bal.values()) + sum(self.pool_bal.values()) + bonds + escrows +
                deposits)  # fmt: skip

    # --- transactions ---------------------------------------------------------------------

    def apply(self, h: int, who: str, kind: str, **args: Any) -> str:
        """Execute one transaction in block h: fee to the treasury, then the rule (which
        checks everything before it changes anything). Its error name, or "ok"."""
        self.bal[who] -= FEE
        self.bal["treasury"] += FEE
        try:
            getattr(self, "_" + kind)(h, who, **args)
        except Refused as r:
            return str(r)
        return OK

    def _pool(self, pool: str) -> PoolCfg:
        if pool not in self.cfg:
            raise Refused("not_found")
        return self.cfg[pool]

    def _member(self, pool: str, who: str, h: int) -> str:
        s = self.status(pool, who, h)
        if s not in ("waiting", "active"):
            raise Refused("not_member")
        return s

    def _funds(self, who: str, amount: int) -> None:
        if self.bal[who] < amount:
            raise Refused("insufficient_funds")

    def _claim_of(self, claim: bytes) -> dict[str, Any]:
        if claim not in self.claims:
            raise Refused("not_found")
        return self.claims[claim]

    def _juror(self, c: dict[str, Any], who: str, h: int) -> None:
        """The member checks a vote and an objection share (sections 4 and 10)."""
        self._member(c["pool"], who, h)
        rec = self.members[(c["pool"], who)]
        if (
            rec.status(h) != "active"
            or h - rec.joined_at < c["terms"].juror_min_age
            or who == c["claimant"]
        ):
            raise Refused("not_eligible")

    def _join(self, h: int, who: str, pool: str) -> None:
        p = self._pool(pool)
        if self.status(pool, who, h) in ("waiting", "active"):
            raise Refused("already_member")
        self._funds(who, p.entry_fee + p.contribution)
        self.bal[who] -= p.entry_fee + p.contribution
        self.bal["treasury"] += p.entry_fee
        self.pool_bal[pool] += p.contribution
        self.members[(pool, who)] = Rec(h, h + p.waiting_period, h + p.period - 1)

    def _pay(self, h: int, who: str, pool: str, amount: int) -> None:
        p = self._pool(pool)
        self._member(pool, who, h)
        if amount % p.contribution:
            raise Refused("invalid_payload")
        self._funds(who, amount)
        self.bal[who] -= amount
        self.pool_bal[pool] += amount
        self.members[(pool, who)].paid_through += amount // p.contribution * p.period

    def _leave(self, h: int, who: str, pool: str) -> None:
        self._pool(pool)
        self._member(pool, who, h)
        self.members[(pool, who)].left_at = h

    def _claim(self, h: int, who: str, pool: str, amount: int, cid: bytes) -> None:
        p = self._pool(pool)
        if self._member(pool, who, h) == "waiting":
            raise Refused("waiting_period")
        if amount > p.max_claim:
            raise Refused("invalid_payload")
        if any(c["pool"] == pool and c["claimant"] == who and c["status"] in ("voting",
               "approved") for c in self.claims.values()):  # fmt: skip
            raise Refused("claim_open")
        self._funds(who, p.claim_bond)
        self.bal[who] -= p.claim_bond
        self.claims[cid] = {
            "pool": pool, "claimant": who, "amount": amount, "bond": p.claim_bond,
            "terms": p, "opened_at": h, "closes_at": h + p.vote_window, "status": "voting",
            "stage": "attestation" if p.claim_mode == "attested" else "jury",
            "payable_at": None, "votes_for": 0, "votes_against": 0, "voters": [],
            "attest_for": 0, "attest_against": 0, "attestations": [], "objections": [],
            "objected": False,
        }  # fmt: skip

    def _vote(self, h: int, who: str, claim: bytes, approve: bool) -> None:
        c = self._claim_of(claim)
        if c["status"] != "voting" or h >= c["closes_at"]:
            raise Refused("voting_closed")
        if c["stage"] != "jury":
            raise Refused("not_eligible")
        self._juror(c, who, h)
        if any(v == who for v, _ in c["voters"]):
            raise Refused("already_voted")
        c["voters"].append((who, approve))
        c["votes_for" if approve else "votes_against"] += 1

    def _payout(self, h: int, who: str, claim: bytes) -> None:
        c = self._claim_of(claim)
        if c["status"] == "paid":
            raise Refused("already_paid")
        if c["status"] != "approved":
            raise Refused("not_approved")
        if h < c["payable_at"]:
            raise Refused("notice_period")
        if self.pool_bal[c["pool"]] < c["amount"]:
            raise Refused("pool_insolvent")
        fee = c["amount"] * c["terms"].fee_bps // 10000
        self.pool_bal[c["pool"]] -= c["amount"]
        self.bal["treasury"] += fee
        self.bal[c["claimant"]] += c["amount"] - fee + c["bond"]
        c["status"] = "paid"

    def _attest(self, h: int, who: str, claim: bytes, approve: bool, report: bytes) -> None:
        c = self._claim_of(claim)
        if who not in c["terms"].attestors or who not in self.cfg[c["pool"]].attestors:
            raise Refused("unauthorized")
        if who == c["claimant"]:
            raise Refused("not_eligible")
        if c["status"] != "voting" or c["stage"] != "attestation" or h >= c["closes_at"]:
            raise Refused("voting_closed")
        if any(a == who for a, _, _ in c["attestations"]):
            raise Refused("already_voted")
        c["attestations"].append((who, approve, report))
        c["attest_for" if approve else "attest_against"] += 1
        self._attested.add(claim)

    def _object(self, h: int, who: str, claim: bytes) -> None:
        c = self._claim_of(claim)
        if (
            c["status"] != "approved"
            or h >= c["payable_at"]
            or c["objected"]
            or c["terms"].objection_quorum == 0
        ):
            raise Refused("voting_closed")
        self._juror(c, who, h)
        if who in c["objections"]:
            raise Refused("already_voted")
        c["objections"].append(who)

    def _report(self, h: int, who: str, pool: str, round: int, value: int) -> None:
        p = self._pool(pool)
        if p.trigger is None:
            raise Refused("invalid_payload")
        if who not in p.attestors:
            raise Refused("unauthorized")
        if round != self.round[pool]:
            raise Refused("stale_report")
        if who in self.reports[pool]:
            raise Refused("already_voted")
        self.reports[pool][who] = value

    def _collect(self, h: int, who: str, pool: str, round: int) -> None:
        e = self.events.get((pool, round))
        if e is None:
            raise Refused("not_found")
        if h > e["collect_until"]:
            raise Refused("window_closed")
        rec = self.members.get((pool, who))
        if rec is None or not rec.active_at(e["height"]):
            raise Refused("not_eligible")
        if (pool, round, who) in self.collected:
            raise Refused("already_paid")
        self.collected.add((pool, round, who))
        fee = e["per_member"] * e["fee_bps"] // 10000
        e["escrow"] -= e["per_member"]
        e["collected"] += 1
        self.bal["treasury"] += fee
        self.bal[who] += e["per_member"] - fee

    def _propose(self, h: int, who: str, pool: str, changes: dict[str, Any], deposit: int,
                 voting_period: int, timelock: int) -> None:  # fmt: skip
        """A proposal the script will pass: tallied at the end of block h + voting_period - 1
        (deposit back), enacted at the end of block h + voting_period + timelock - 1."""
        self.bal[who] -= deposit
        self.proposals.append({
            "pool": pool, "changes": changes, "proposer": who, "deposit": deposit, "held": True,
            "tally": h + voting_period - 1, "enact": h + voting_period + timelock - 1,
        })  # fmt: skip

    def _ballot(self, h: int, who: str) -> None:
        """A yes ballot of the script's (counted by the real chain; nothing to model)."""

    # --- end of block ---------------------------------------------------------------------

    def end_of_block(self, h: int) -> None:
        """Escrow returns (before step 1), then step 1: claims in id order, then the
        parametric rounds in pool id order."""
        for e in self.events.values():
            if e["collect_until"] == h:
                self.pool_bal[e["pool"]] += e["escrow"]
                e["escrow"] = 0
        for cid in sorted(self.claims):
            self._settle(self.claims[cid], cid, h)
        self._attested.clear()
        for pool in sorted(self.cfg):
            self._close_round(pool, h)
        for p in self.proposals:
            if p["tally"] == h:
                p["held"] = False
                self.bal[p["proposer"]] += p["deposit"]
            if p["enact"] == h:
                self.cfg[p["pool"]] = replace(self.cfg[p["pool"]], **p["changes"])
                if {"attestors", "trigger", "attest_quorum"} & set(p["changes"]):
                    self.reports[p["pool"]] = {}

    def _settle(self, c: dict[str, Any], cid: bytes, h: int) -> None:
        t: PoolCfg = c["terms"]
        if c["status"] == "voting" and c["stage"] == "attestation":
            if cid not in self._attested and c["closes_at"] != h + 1:
                return
            if c["attest_for"] >= t.attest_quorum:
                c["status"], c["payable_at"] = "approved", h + 1 + t.notice_period
            elif c["attest_against"] > len(t.attestors) - t.attest_quorum:
                self._reject(c)
            elif c["closes_at"] == h + 1:
                c["stage"], c["closes_at"] = "jury", h + 1 + t.vote_window
        elif c["status"] == "voting" and c["closes_at"] == h + 1:
            yes, no = c["votes_for"], c["votes_against"]
            if yes + no >= t.quorum and yes * 10000 > t.approve_bps * (yes + no):
                c["status"], c["payable_at"] = "approved", c["closes_at"] + t.notice_period
            else:
                self._reject(c)
        elif (
            c["status"] == "approved"
            and not c["objected"]
            and t.objection_quorum > 0
            and len(c["objections"]) >= t.objection_quorum
        ):
            c.update(status="voting", stage="jury", closes_at=h + 1 + t.vote_window,
                     payable_at=None, votes_for=0, votes_against=0, voters=[],
                     objected=True)  # fmt: skip

    def _reject(self, c: dict[str, Any]) -> None:
        c["status"] = "rejected"
        self.pool_bal[c["pool"]] += c["bond"]

    def _close_round(self, pool: str, h: int) -> None:
        p = self.cfg[pool]
        reports = self.reports[pool]
        if p.trigger is None or len(reports) < p.attest_quorum:
            return
        values = sorted(reports.values())
        value = values[(len(values) - 1) // 2]
        rnd = self.round[pool]
        self.round[pool] = rnd + 1
        self.reports[pool] = {}
        op, threshold, payout = p.trigger
        if not (value >= threshold if op == ">=" else value <= threshold):
            return
        eligible = sum(
            1 for (pid, _), rec in self.members.items() if pid == pool and rec.active_at(h)
        )
        available = max(0, self.pool_bal[pool] - self.liabilities(pool))
        per_member = min(payout, available // eligible) if eligible else 0
        self.pool_bal[pool] -= per_member * eligible
        self.events[(pool, rnd)] = {
            "pool": pool, "round": rnd, "value": value, "height": h, "eligible": eligible,
            "per_member": per_member, "fee_bps": p.fee_bps, "collect_until": h +
            p.collect_window, "escrow": per_member * eligible, "collected": 0,
        }  # fmt: skip
