"""Is a block a valid proposal for the height being decided? (the paper's valid(v))

Pure checks against the chain context plus the application's verdict; shared by the core
(proposals) and, through it, by the replica's block sync.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .app import Application
from .params import ConsensusParams
from .types import Block, Commit, InvalidCommit, InvalidEvidence
from .validators import ValidatorSet


@dataclass(frozen=True, slots=True)
class HeightContext:
    """Everything the core needs to know about the chain to decide block `height`."""

    height: int
    validators: ValidatorSet
    prev_validators: ValidatorSet | None  # None at height 1
    prev_hash: bytes  # the genesis hash at height 1
    prev_time_ms: int  # 0 at height 1
    last_commit: Commit | None  # the commit of height - 1 (None at height 1)


def check_block(
    block: Block,
    ctx: HeightContext,
    chain_id: str,
    params: ConsensusParams,
    app: Application,
    set_at: Callable[[int], ValidatorSet | None],
) -> str | None:
    """Why `block` is not a valid block for `ctx.height`, or None.

    Cheap structural checks come first so that the application only executes blocks that
    are well-formed, correctly chained and carry a verified certificate and evidence. The
    block time is checked against the previous block only; "not too far in the future" is
    the caller's (it depends on the local clock, not on the block)."""
    h = block.header
    if h.chain_id != chain_id:
        return "wrong chain"
    if h.height != ctx.height:
        return "wrong height"
    if h.prev_hash != ctx.prev_hash:
        return "wrong prev_hash"
    if h.validators_hash != ctx.validators.hash():
        return "wrong validators_hash"
    if h.proposer not in ctx.validators:
        return "proposer not a validator"
    if h.time_ms <= ctx.prev_time_ms:
        return "time not after the previous block"
    roots = block.check_roots()
    if roots is not None:
        return roots
    lc = block.last_commit
    if ctx.height == 1 or ctx.prev_validators is None:
        if lc is not None:
            return "unexpected last_commit"
    else:
        if lc is None:
            return "missing last_commit"
        if lc.height != ctx.height - 1 or lc.block_id != ctx.prev_hash:
            return "last_commit for another block"
        own = ctx.last_commit
        # the pairs of our own commit of that height and round were checked when they came
        # in as precommits (or with the synced block): each signature is checked once
        known = (
            frozenset(own.signatures)
            if own is not None
            and (own.height, own.round, own.block_id) == (lc.height, lc.round, lc.block_id)
            else frozenset()
        )
        try:
            lc.verify(chain_id, ctx.prev_validators, known)
        except InvalidCommit as exc:
            return f"last_commit: {exc.reason}"
    if len(block.evidence) > params.max_block_evidence:
        return "too much evidence"
    seen: set[bytes] = set()
    oldest = ctx.height - params.max_evidence_age
    for ev in block.evidence:
        if ev.id in seen:
            return "duplicate evidence"
        seen.add(ev.id)
        if not oldest <= ev.height < ctx.height:
            return "evidence height out of range"
        vs = set_at(ev.height)
        if vs is None:
            return "evidence validator set unknown"
        try:
            ev.verify(chain_id, vs)
        except InvalidEvidence as exc:
            return f"evidence: {exc.reason}"
    if not app.validate(
        h.height, h.time_ms, h.proposer, list(block.txs), block.evidence, h.state_root
    ):
        return "rejected by the application"
    return None
