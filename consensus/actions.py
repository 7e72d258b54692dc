"""What the consensus core and the replica ask their driver to do (sans-I/O outputs).

Public actions (returned by :class:`consensus.replica.Replica`): Broadcast, SendTo,
ScheduleTimeout, Committed, Penalize, EvidenceFound. The driver (node runtime or
simulator) executes them in list order.

Internal actions (returned by :class:`consensus.core.Core` to the replica only):
SignedVote, SignedProposal, LockChanged, Decided, InvalidMessage, NeedBlock. The replica
persists signing state before turning a signed message into a Broadcast (never sign twice).
"""

from __future__ import annotations

from dataclasses import dataclass

from .types import Block, Commit, DuplicateVoteEvidence, Proposal, Vote

# timeout steps (ScheduleTimeout.step)
STEP_NEW_HEIGHT = 0  # the commit timeout: start round 0 of the height
STEP_PROPOSE = 1
STEP_PREVOTE = 2
STEP_PRECOMMIT = 3


# ------------------------------------------------------------------ public


@dataclass(frozen=True, slots=True)
class Broadcast:
    channel: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class SendTo:
    peer_id: bytes
    channel: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class ScheduleTimeout:
    """Call ``on_timeout(this, now_ms)`` once ``now_ms >= at_ms``. Stale ones are ignored."""

    at_ms: int
    height: int
    round: int
    step: int


@dataclass(frozen=True, slots=True)
class HeightTiming:
    """When this node saw its height's milestones, on the clock its driver passed in (ms).

    The proposer's block sizing reads it (node/pacing.py): how long after round 0 started
    did 2f+1 prevotes for the decided block arrive, and did the height need more rounds.
    A time seen inside a long step is that step's `now_ms`, so a polka completed by our own
    prevote right after executing a proposal reads early by that execution."""

    #: when this node started its first round of the height (round 0 unless it restarted
    #: into a later one)
    started_ms: int | None
    #: the round that decided the height
    round: int
    #: when 2f+1 prevotes for the decided block were first counted in that round (None: the
    #: decision came from precommits alone, or the polka was seen before the block)
    polka_ms: int | None
    #: transactions in the round-0 proposal this node held (None: none arrived): when the
    #: height needed more rounds, the size of the block that did not make it
    first_txs: int | None = None
    #: when round 0 was due (the commit wait's deadline; None: the height started at once,
    #: after a restart or while catching up): started_ms minus it is the driver's lateness
    scheduled_ms: int | None = None
    #: when this node counted the precommits that decided the height (before the commit)
    decided_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Committed:
    """Block `height` and the commit that proves it are durable (state included)."""

    height: int
    block: Block
    commit: Commit
    timing: HeightTiming | None = None


@dataclass(frozen=True, slots=True)
class Penalize:
    peer_id: bytes
    reason: str


@dataclass(frozen=True, slots=True)
class EvidenceFound:
    evidence: DuplicateVoteEvidence


# ------------------------------------------------------------------ core -> replica


@dataclass(frozen=True, slots=True)
class SignedVote:
    vote: Vote


@dataclass(frozen=True, slots=True)
class SignedProposal:
    proposal: Proposal


@dataclass(frozen=True, slots=True)
class LockChanged:
    """The lock to persist before the precommit that follows it leaves the node."""

    height: int
    round: int
    block: Block | None


@dataclass(frozen=True, slots=True)
class Decided:
    height: int
    block: Block
    commit: Commit
    timing: HeightTiming | None = None


@dataclass(frozen=True, slots=True)
class InvalidMessage:
    """The message just fed to the core was bad; the replica penalises its sender."""

    reason: str


@dataclass(frozen=True, slots=True)
class NeedBlock:
    """2f+1 precommits for a block we do not have: fetch it."""

    height: int
    block_id: bytes


Action = Broadcast | SendTo | ScheduleTimeout | Committed | Penalize | EvidenceFound
CoreAction = (
    ScheduleTimeout
    | EvidenceFound
    | SignedVote
    | SignedProposal
    | LockChanged
    | Decided
    | InvalidMessage
    | NeedBlock
)
