"""The simulator's generators of the transaction types (state/txtypes.py names one per type):
each makes a payload that makes sense for a sender now, or None.

Split out of :mod:`state.txtypes` (a file past ~600 lines is two files). The randomness and the
view of the state come in as arguments (state/ never imports random or reads a clock).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from state.codec import MAX_SAFE_INT
from state.model import (
    ACTIVE,
    CHAIN_SCOPE,
    STAGE_ATTESTATION,
    WAITING,
    Claim,
    Event,
    Pool,
    Proposal,
)

_T = TypeVar("_T")


class Rng(Protocol):
    """The randomness a generator may use (random.Random fits; state/ never imports it)."""

    def random(self) -> float: ...

    def randint(self, a: int, b: int) -> int: ...

    def choice(self, seq: Sequence[_T]) -> _T: ...

    def sample(self, population: Sequence[_T], k: int) -> list[_T]: ...

    def randbytes(self, n: int) -> bytes: ...


class GenView(Protocol):
    """What a generator reads of the committed state (state/chain.py StateView fits)."""

    def pool(self, pool_id: str) -> Pool | None: ...

    def member_status(self, pool: str, addr: bytes, h: int | None = None) -> str | None: ...

    def claims(self, pool: str, status: str | None = None, limit: int = 100) -> list[Claim]: ...

    def proposals(
        self, scope: str, status: str | None = None, limit: int = 100
    ) -> list[Proposal] | None: ...

    def events(self, pool: str, limit: int = 100) -> list[Event]: ...


@dataclass(frozen=True, slots=True)
class GenContext:
    """One generator call: who sends, at which height, and what the simulation knows."""

    rng: Rng
    view: GenView
    sender: bytes
    height: int  # the height of the block being built
    accounts: tuple[bytes, ...]  # funded member addresses
    pools: tuple[str, ...]
    candidates: tuple[bytes, ...]  # registered candidates' operators


#: a simulator generator: a payload that makes sense for the sender now, or None
Generator = Callable[[GenContext], "dict[str, Any] | None"]


# --- simulator generators ---------------------------------------------------------------
# Each returns None when the type makes no sense for the sender now; the simulator then
# draws another type. Rules may still refuse what they make (claim_open, already_voted...):
# failed rules must produce identical roots everywhere too.

_MEMBER_OK = (WAITING, ACTIVE)


def _pool_where(ctx: GenContext, statuses: tuple[str, ...] | None) -> tuple[str, Pool] | None:
    """A random pool, if the sender's status there is in `statuses` (None: not a member)."""
    pool_id = ctx.rng.choice(ctx.pools)
    pool = ctx.view.pool(pool_id)
    if pool is None:
        return None
    status = ctx.view.member_status(pool_id, ctx.sender, ctx.height)
    ok = status not in _MEMBER_OK if statuses is None else status in statuses
    return (pool_id, pool) if ok else None


def gen_transfer(ctx: GenContext) -> dict[str, Any] | None:
    return {"to": ctx.rng.choice(ctx.accounts), "amount": ctx.rng.randint(1, 1_000)}


def gen_admit(ctx: GenContext) -> dict[str, Any] | None:
    return {"account": ctx.rng.choice(ctx.accounts)}  # members are no registrars: unauthorized


def gen_join(ctx: GenContext) -> dict[str, Any] | None:
    found = _pool_where(ctx, None)
    return None if found is None else {"pool": found[0]}


def gen_pay(ctx: GenContext) -> dict[str, Any] | None:
    found = _pool_where(ctx, _MEMBER_OK)
    if found is None:
        return None
    pool_id, pool = found
    return {"pool": pool_id, "amount": pool.params.contribution * ctx.rng.randint(1, 3)}


def gen_leave(ctx: GenContext) -> dict[str, Any] | None:
    found = _pool_where(ctx, _MEMBER_OK)
    return None if found is None else {"pool": found[0]}


def gen_claim(ctx: GenContext) -> dict[str, Any] | None:
    found = _pool_where(ctx, (ACTIVE,))
    if found is None:
        return None
    pool_id, pool = found
    amount = ctx.rng.randint(1, pool.params.max_claim)
    return {"pool": pool_id, "amount": amount, "evidence": ctx.rng.randbytes(32)}


def gen_vote(ctx: GenContext) -> dict[str, Any] | None:
    found = _pool_where(ctx, (ACTIVE,))
    if found is None:
        return None
    voting = [c for c in ctx.view.claims(found[0], "voting", 20) if c.claimant != ctx.sender]
    if not voting:
        return None
    return {"claim": ctx.rng.choice(voting).id, "approve": ctx.rng.random() < 0.7}


def gen_payout(ctx: GenContext) -> dict[str, Any] | None:
    found = _pool_where(ctx, _MEMBER_OK)
    if found is None:
        return None
    h = ctx.height
    approved = [
        c
        for c in ctx.view.claims(found[0], "approved", 20)
        if c.payable_at is not None and c.payable_at <= h
    ]
    return {"claim": ctx.rng.choice(approved).id} if approved else None


def gen_register_candidate(ctx: GenContext) -> dict[str, Any] | None:
    # members are no operators: the rule refuses it (unauthorized), as it must everywhere
    return {"consensus_key": ctx.rng.randbytes(32), "name": "sim-candidate"}


def gen_elect(ctx: GenContext) -> dict[str, Any] | None:
    if not ctx.candidates:
        return None
    n = min(len(ctx.candidates), ctx.rng.randint(1, 5))
    return {"candidates": ctx.rng.sample(ctx.candidates, n)}


def gen_propose(ctx: GenContext) -> dict[str, Any] | None:
    found = _pool_where(ctx, (ACTIVE,))
    if found is None:
        return None
    rng = ctx.rng
    changes: dict[str, Any]
    if rng.random() < 0.3:
        scope = CHAIN_SCOPE
        changes = {"gov_deposit": rng.randint(50, 150)}
    else:
        scope = found[0]
        changes = {"max_claim": rng.randint(1_000, 9_000)}
        if rng.random() < 0.2:
            changes["quorum"] = rng.randint(1, 3)
    return {
        "scope": scope,
        "changes": changes,
        "title": "sim proposal",
        "text_hash": rng.randbytes(32),
    }


def gen_ballot(ctx: GenContext) -> dict[str, Any] | None:
    found = _pool_where(ctx, _MEMBER_OK)
    if found is None:
        return None
    scope = CHAIN_SCOPE if ctx.rng.random() < 0.3 else found[0]
    voting = ctx.view.proposals(scope, "voting", 20)
    if not voting:
        return None
    roll = ctx.rng.random()
    choice = "yes" if roll < 0.7 else "no" if roll < 0.9 else "abstain"
    return {"proposal": ctx.rng.choice(voting).id, "choice": choice}


#: share of draws in which a generator sends a type the sender holds no role for (the
#: refusals must give equal roots too)
_STRAY = 0.05


def gen_attest(ctx: GenContext) -> dict[str, Any] | None:
    pool_id = ctx.rng.choice(ctx.pools)
    pool = ctx.view.pool(pool_id)
    if pool is None:
        return None
    voting = [c for c in ctx.view.claims(pool_id, "voting", 20) if c.claimant != ctx.sender]
    if ctx.sender in pool.params.attestors:
        voting = [c for c in voting if c.stage == STAGE_ATTESTATION]
    elif ctx.rng.random() >= _STRAY:
        return None
    if not voting:
        return None
    return {
        "claim": ctx.rng.choice(voting).id,
        "approve": ctx.rng.random() < 0.7,
        "report": ctx.rng.randbytes(32),
    }


def gen_object(ctx: GenContext) -> dict[str, Any] | None:
    found = _pool_where(ctx, (ACTIVE,))
    if found is None:
        return None
    h = ctx.height
    open_ = [
        c
        for c in ctx.view.claims(found[0], "approved", 20)
        if c.payable_at is not None and h < c.payable_at and c.claimant != ctx.sender
    ]
    if not open_ or ctx.rng.random() >= 0.5:
        return None
    return {"claim": ctx.rng.choice(open_).id}


def gen_report(ctx: GenContext) -> dict[str, Any] | None:
    pool_id = ctx.rng.choice(ctx.pools)
    pool = ctx.view.pool(pool_id)
    if pool is None:
        return None
    trigger = pool.params.trigger
    if trigger is None or ctx.sender not in pool.params.attestors:
        if ctx.rng.random() >= _STRAY:
            return None
        return {"pool": pool_id, "round": pool.round, "value": ctx.rng.randint(-10, 10)}
    spread = max(10, abs(trigger.threshold) // 4)
    value = trigger.threshold + ctx.rng.randint(-spread, spread)
    return {
        "pool": pool_id,
        "round": pool.round,
        "value": max(-MAX_SAFE_INT, min(value, MAX_SAFE_INT)),
    }


def gen_collect(ctx: GenContext) -> dict[str, Any] | None:
    pool_id = ctx.rng.choice(ctx.pools)
    if ctx.view.pool(pool_id) is None:
        return None
    h = ctx.height
    open_ = [e for e in ctx.view.events(pool_id, 20) if h <= e.collect_until]
    if open_:
        return {"pool": pool_id, "round": ctx.rng.choice(open_).round}
    if ctx.rng.random() >= _STRAY:
        return None
    return {"pool": pool_id, "round": ctx.rng.randint(0, 3)}
