"""What a validator must keep across a restart, and how the core saves and restores it.

Split out of :mod:`consensus.core` (DESIGN.md: a file past ~600 lines is two files). The
algorithm itself lives in ``core``; this module holds the two records the replica persists
before any signed message leaves the node (:class:`SignState`, the double-signing guard,
and :class:`LockState`, the lock/valid value with their polkas) and :class:`Recovery`, the
part of :class:`consensus.core.Core` that snapshots them (``lock_state``) and restores them
after a restart (``_restore_lock``, ``_restore_own``). ``Core`` inherits ``Recovery``; the
records stay importable from ``consensus.core``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from state.codec import DecodeError

from .actions import STEP_PRECOMMIT, STEP_PREVOTE, STEP_PROPOSE
from .types import PREVOTE, Block, Vote

if TYPE_CHECKING:
    from state.crypto import Signer

    from .actions import CoreAction
    from .types import Proposal
    from .validators import ValidatorSet
    from .votes import VoteTally

__all__ = ["LockState", "Recovery", "SignState"]


@dataclass(frozen=True, slots=True)
class SignState:
    """The last thing this validator signed: (height, round, step) and its wire bytes
    (``Vote.to_bytes()`` or ``Proposal.to_bytes()``), so the identical message can be sent
    again after a restart without signing anything new."""

    height: int
    round: int
    step: int
    message: bytes
    #: our other votes of this height (recent rounds) to count and re-gossip after a restart
    history: tuple[bytes, ...] = ()

    @property
    def hrs(self) -> tuple[int, int, int]:
        return (self.height, self.round, self.step)


@dataclass(frozen=True, slots=True)
class LockState:
    """What a restart must not lose besides the signing record: lockedValue/lockedRound and
    validValue/validRound of one height, with the 2f+1 prevotes (polka) behind each.

    Without the prevotes a restarted locker keeps its lock but can no longer justify it: it
    re-proposes its lockedValue with pol_round = lockedRound, and nobody, itself included,
    accepts that proposal without 2f+1 prevotes for it in that round [L28]. If the prevotes'
    other holders are gone (crashed, faulty, or in later rounds where they no longer send
    them), the height stalls for good."""

    height: int
    locked_round: int = -1
    locked_value: Block | None = None
    valid_round: int = -1
    valid_value: Block | None = None
    #: a quorum of prevotes for each of (locked_round, locked_value), (valid_round, valid_value)
    prevotes: tuple[Vote, ...] = ()


class Recovery:
    """Restart handling of :class:`consensus.core.Core` (a mixin: it uses the core's
    ``validators``, ``_tallies``, ``_add_vote`` and lock/valid fields)."""

    # What the mixin uses of Core, declared so the type checker holds both to one contract.
    # Annotations only: Core.__init__ and Core._reset set them.
    chain_id: str
    signer: Signer | None
    height: int
    locked_round: int
    locked_value: Block | None
    valid_round: int
    valid_value: Block | None
    blocks: dict[bytes, Block]
    _tallies: dict[tuple[int, int], VoteTally]
    own_messages: dict[tuple[int, int], Vote | Proposal]

    if TYPE_CHECKING:  # defined by Core; declared for the checker only, nothing at run time

        @property
        def validators(self) -> ValidatorSet: ...

        def _add_vote(self, v: Vote) -> list[CoreAction]: ...

    def _restore_lock(self, s: LockState) -> None:
        """A lock taken before a restart still binds us (safety across crashes), and the
        polka behind it (and behind validValue) counts again and is relayed by gossip(), so
        we and the others can accept the re-proposal of that value [L28] (liveness)."""
        if s.locked_value is not None and s.locked_round >= 0:
            self.locked_value = self.valid_value = s.locked_value
            self.locked_round = self.valid_round = s.locked_round
            self.blocks[s.locked_value.hash] = s.locked_value
        if s.valid_value is not None and s.valid_round > self.valid_round:
            self.valid_value, self.valid_round = s.valid_value, s.valid_round
            self.blocks[s.valid_value.hash] = s.valid_value
        wanted = {
            (r, b.hash)
            for r, b in (
                (self.locked_round, self.locked_value),
                (self.valid_round, self.valid_value),
            )
            if b is not None
        }
        for v in s.prevotes:
            if (
                v.type != PREVOTE
                or v.height != self.height
                or (v.round, v.block_id) not in wanted
                or self.validators.get(v.validator) is None
                or not v.verify_signature(self.chain_id)
            ):
                continue
            self._add_vote(v)

    def lock_state(self) -> LockState:
        """The lock and valid value of this height with their polkas, to persist."""
        votes: list[Vote] = []
        for r, b in ((self.locked_round, self.locked_value), (self.valid_round, self.valid_value)):
            if b is not None:
                votes += [v for v in self._polka_votes(r, b.hash) if v not in votes]
        return LockState(
            self.height,
            self.locked_round,
            self.locked_value,
            self.valid_round,
            self.valid_value,
            tuple(votes),
        )

    def _polka_votes(self, r: int, bid: bytes) -> list[Vote]:
        """A quorum (or all we have, if less) of round-r prevotes for `bid`, by key order."""
        t = self._tallies.get((r, PREVOTE))
        if t is None:
            return []
        vs = self.validators
        out: list[Vote] = []
        power = 0
        for k, v in sorted(t.by_block.get(bid, {}).items()):
            val = vs.get(k)
            if val is None:
                continue
            out.append(v)
            power += val.power
            if vs.has_quorum(power):
                break
        return out

    def _restore_own(self, ls: SignState) -> None:
        """After a restart, our votes signed at this height still count and are gossiped
        again: the others may never have received them, and we can never sign others in
        their place (without this a restarted validator can stall a round for good)."""
        me = None if self.signer is None else self.signer.public_key
        if me is None or me not in self.validators:
            return
        msgs = list(ls.history)
        if ls.step != STEP_PROPOSE:
            msgs.append(ls.message)
        for m in msgs:
            try:
                v = Vote.from_bytes(m)
            except DecodeError:
                continue
            if v.height != ls.height or v.validator != me or v.round > ls.round:
                continue
            step = STEP_PREVOTE if v.type == PREVOTE else STEP_PRECOMMIT
            self.own_messages[(v.round, step)] = v
            self._add_vote(v)
