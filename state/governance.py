"""Governance in the state machine (PROTOCOL.md section 9): the `propose` and `ballot` rules
and the end-of-block steps 1b (tally) and 1c (enactment).

A mixin of :class:`state.machine.BlockExecutor` (through :class:`state.endblock.EndOfBlock`),
kept apart from the version-1 rules so that the one-member-one-vote logic reads in one place.
It works only through the executor's overlay, like the other rules.

Cost: the electorate at opening is read from the kept member counts (state.membercount),
O(1); ballots and the two end-of-block steps touch only the proposals concerned (indexed by
closes_at and enact_at).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from state import keys as K
from state.errors import Code, TxError
from state.membercount import MemberCounts
from state.model import (
    ACTIVE,
    CHAIN_SCOPE,
    ENACTED,
    EXPIRED,
    FAILED,
    PASSED,
    REJECTED,
    VOTING,
    WAITING,
    Proposal,
)
from state.params import (
    CHAIN_CHANGEABLE,
    POOL_CHANGEABLE,
    ChainParams,
    ParamSet,
    PoolParams,
    apply_changes,
    gov_of,
)

if TYPE_CHECKING:
    from state.tx import Tx

__all__ = ["GovRules"]

_MAX = 2**53 - 1


def _add(a: int, b: int) -> int:
    """Sum capped at the protocol's integer range (only heights can reach it)."""
    return min(a + b, _MAX)


class GovRules(MemberCounts):
    """The governance rules and end-of-block steps of the block executor."""

    # --- reads -----------------------------------------------------------------------------

    def _pool_ids(self) -> list[str]:
        """Every pool id, in key order (pools are made at genesis only)."""
        return [p.id for _, p in self.base.iterate(K.POOL)]

    def _electorate(self, scope: str) -> int:
        """Accounts active in the scope now (chain scope: in some pool, each once): the kept
        counts (state.membercount), which equal a scan of the members at this point of h."""
        if scope != CHAIN_SCOPE:
            return self.pool_counts(scope)[ACTIVE]
        return self.chain_active()

    def _scope_params(self, scope: str) -> ParamSet:
        return self.params if scope == CHAIN_SCOPE else self.pool(scope).params

    # --- propose ---------------------------------------------------------------------------

    def _propose(self, tx: Tx, index: int) -> dict[str, Any]:
        p = tx.payload
        scope: str = p["scope"]
        h = self.h
        current = self._scope_params(scope)  # not_found for an unknown pool
        changeable = CHAIN_CHANGEABLE if scope == CHAIN_SCOPE else POOL_CHANGEABLE
        try:
            apply_changes(current, changeable, p["changes"])
        except ValueError as exc:
            raise TxError(Code.INVALID_PAYLOAD, str(exc)) from None
        if scope == CHAIN_SCOPE:
            if not any(self._record(pid, tx.sender)[1] == ACTIVE for pid in self._pool_ids()):
                raise TxError(Code.NOT_MEMBER, "not an active member of any pool")
        else:
            _, status = self._record(scope, tx.sender)
            if status not in (WAITING, ACTIVE):
                raise TxError(Code.NOT_MEMBER, f"not a waiting/active member of {scope!r}")
            if status == WAITING:
                raise TxError(Code.WAITING_PERIOD, "proposals are allowed after the waiting period")
        gov = gov_of(current)
        okey = K.open_proposals_key(scope)
        n_open: int = self.get(okey) or 0
        if n_open >= gov["gov_max_open"]:
            raise TxError(
                Code.TOO_MANY_PROPOSALS,
                f"{n_open} open proposals, gov_max_open {gov['gov_max_open']}",
            )
        deposit = gov["gov_deposit"]
        acct = self.account(tx.sender)
        if acct.balance < deposit:
            raise TxError(
                Code.INSUFFICIENT_FUNDS, f"balance {acct.balance} < gov_deposit {deposit}"
            )
        if deposit:
            self.debit(tx.sender, deposit)
        prop = Proposal(
            id=tx.hash,
            scope=scope,
            proposer=tx.sender,
            changes=dict(p["changes"]),
            title=p["title"],
            text_hash=p["text_hash"],
            opened_at=h,
            closes_at=_add(h, gov["gov_voting_period"]),
            electorate=self._electorate(scope),
            gov=gov,
            deposit=deposit,
            index=index,
        )
        self.put(K.proposal_key(tx.hash), prop)
        self.put(K.gov_tally_key(prop.closes_at, tx.hash), True)
        self.put(K.proposal_list_key(scope, h, index), tx.hash)
        self.put(okey, n_open + 1)
        return {
            "type": "proposal_opened",
            "proposal": tx.hash.hex(),
            "scope": scope,
            "proposer": tx.sender.hex(),
            "closes_at": prop.closes_at,
            "electorate": prop.electorate,
        }

    # --- ballot ----------------------------------------------------------------------------

    def _eligible(self, prop: Proposal, addr: bytes) -> bool:
        """Now waiting/active in the scope's pool (chain: some pool), active_from <= opened_at."""
        pools = self._pool_ids() if prop.scope == CHAIN_SCOPE else [prop.scope]
        for pid in pools:
            m, status = self._record(pid, addr)
            if m is not None and status in (WAITING, ACTIVE) and m.active_from <= prop.opened_at:
                return True
        return False

    def _ballot(self, tx: Tx, index: int) -> dict[str, Any]:
        p = tx.payload
        pid = p["proposal"]
        prop: Proposal | None = self.get(K.proposal_key(pid))
        if prop is None:
            raise TxError(Code.NOT_FOUND, "no such proposal")
        if prop.status != VOTING or self.h >= prop.closes_at:
            raise TxError(
                Code.VOTING_CLOSED, f"proposal is {prop.status}, closes_at {prop.closes_at}"
            )
        if not self._eligible(prop, tx.sender):
            raise TxError(
                Code.NOT_ELIGIBLE, "not a member active since the proposal opened, or gone since"
            )
        bkey = K.ballot_key(pid, tx.sender)
        if self.get(bkey) is not None:
            raise TxError(Code.ALREADY_VOTED, "already cast a ballot on this proposal")
        choice: str = p["choice"]
        self.put(bkey, choice)
        self.put(
            K.proposal_key(pid),
            replace(
                prop,
                yes=prop.yes + (choice == "yes"),
                no=prop.no + (choice == "no"),
                abstain=prop.abstain + (choice == "abstain"),
            ),
        )
        return {
            "type": "ballot_cast",
            "proposal": pid.hex(),
            "voter": tx.sender.hex(),
            "choice": choice,
        }

    # --- end of block ----------------------------------------------------------------------

    def _discard_reports(self, old: PoolParams, new: PoolParams, pool_id: str) -> None:
        """Section 10: a change of a pool's trigger, attestors or attest_quorum discards the
        reports of its open round (the round number stays). A change means a new value: a
        proposal that sets a param to the value it has changes nothing."""
        if (old.trigger, old.attestors, old.attest_quorum) == (
            new.trigger,
            new.attestors,
            new.attest_quorum,
        ):
            return
        rkey = K.reports_key(pool_id)
        if self.get(rkey) is not None:
            self.delete(rkey)
            self.events.append({"type": "reports_discarded", "pool": pool_id})

    def _close(self, prop: Proposal, status: str, enact_at: int | None = None) -> Proposal:
        """Record the new status; leaving voting/passed frees a place under gov_max_open."""
        new = replace(prop, status=status, enact_at=enact_at)
        self.put(K.proposal_key(prop.id), new)
        if status not in (VOTING, PASSED):
            okey = K.open_proposals_key(prop.scope)
            left = (self.get(okey) or 0) - 1
            if left:
                self.put(okey, left)
            else:
                self.delete(okey)
        return new

    def _gov_tally(self) -> None:
        """Step 1b: tally the proposals whose last ballot block was h, in id order."""
        h = self.h
        prefix = K.gov_tally_prefix(h + 1)
        for key, _ in self.scan(prefix):
            self.delete(key)
            prop: Proposal | None = self.get(K.proposal_key(key[len(prefix) :]))
            assert prop is not None and prop.status == VOTING, "tally index points at voting"
            g = prop.gov
            turnout = prop.yes + prop.no + prop.abstain
            event: dict[str, Any] = {
                "type": "proposal_tallied",
                "proposal": prop.id.hex(),
                "scope": prop.scope,
                "yes": prop.yes,
                "no": prop.no,
                "abstain": prop.abstain,
                "electorate": prop.electorate,
            }
            if turnout * 10000 < g["gov_quorum_bps"] * prop.electorate:
                if prop.scope == CHAIN_SCOPE:
                    self.credit(self.params.treasury, prop.deposit)
                else:
                    self.add_to_pool(self.pool(prop.scope), prop.deposit)
                prop = self._close(prop, EXPIRED)
            else:
                self.credit(prop.proposer, prop.deposit)
                if prop.yes * 10000 > g["gov_threshold_bps"] * (prop.yes + prop.no):
                    enact_at = _add(h + 1, g["gov_timelock"])
                    prop = self._close(prop, PASSED, enact_at)
                    self.put(K.gov_enact_key(enact_at, prop.opened_at, prop.index), prop.id)
                else:
                    prop = self._close(prop, REJECTED)
            event["status"] = prop.status
            event["enact_at"] = prop.enact_at
            self.events.append(event)

    def _gov_enact(self) -> None:
        """Step 1c: enact, by opened_at then position in block, each on what the previous
        one left; a change that breaks a cross-param rule then fails and changes nothing."""
        prefix = K.gov_enact_prefix(self.h + 1)
        for key, pid in self.scan(prefix):
            self.delete(key)
            prop: Proposal | None = self.get(K.proposal_key(pid))
            assert prop is not None and prop.status == PASSED, "enact index points at passed"
            changeable = CHAIN_CHANGEABLE if prop.scope == CHAIN_SCOPE else POOL_CHANGEABLE
            current = self._scope_params(prop.scope)
            log = ""
            try:
                new = apply_changes(current, changeable, prop.changes)
            except ValueError as exc:
                self._close(prop, FAILED, prop.enact_at)
                log = str(exc)
            else:
                if isinstance(new, ChainParams):
                    self.params = new
                    self.put(K.PARAMS, new)
                else:
                    assert isinstance(new, PoolParams)
                    pool = self.pool(prop.scope)
                    self.put(K.pool_key(pool.id), replace(pool, params=new))
                    self._discard_reports(pool.params, new, pool.id)
                self._close(prop, ENACTED, prop.enact_at)
            self.events.append(
                {
                    "type": "proposal_enacted" if not log else "proposal_failed",
                    "proposal": prop.id.hex(),
                    "scope": prop.scope,
                    "log": log,
                }
            )
