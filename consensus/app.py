"""The Application protocol: what consensus asks of the state machine (INTERNALS.md).

Duck-typed on purpose: consensus never imports state's machine and state never imports
consensus, so the two can evolve and be tested apart. ``state.app.ChainApp`` implements it
for the real chain; tests use a tiny counter app.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from state.store import Batch

from .types import DuplicateVoteEvidence


@dataclass(frozen=True, slots=True)
class EvidenceRef:
    """A verified double sign as the state machine sees it (mirrors state.chain.EvidenceRef)."""

    validator: bytes  # consensus key
    height: int
    round: int
    vote_type: int
    id: bytes

    @classmethod
    def of(cls, ev: DuplicateVoteEvidence) -> EvidenceRef:
        return cls(ev.validator, ev.height, ev.round, ev.vote_type, ev.id)


class ValidatorInfoLike(Protocol):
    consensus_key: bytes
    power: int
    operator: bytes
    name: str


class Application(Protocol):
    """Deterministic state machine driven by consensus.

    ``prepare`` and ``validate`` execute without writing (the app may cache the execution);
    ``commit`` persists it together with the block store's writes in ``extra`` as ONE atomic
    synced batch, so a crash leaves either the previous block or the new one.
    """

    def prepare(
        self, height: int, time_ms: int, proposer: bytes, evidence: Sequence[EvidenceRef]
    ) -> tuple[list[bytes], bytes]:
        """Transactions for a new block and the state root after executing them."""
        ...

    def validate(
        self,
        height: int,
        time_ms: int,
        proposer: bytes,
        txs: Sequence[bytes],
        evidence: Sequence[EvidenceRef],
        state_root: bytes,
    ) -> bool:
        """True when the block is valid and executing it yields `state_root`."""
        ...

    def commit(
        self,
        height: int,
        time_ms: int,
        proposer: bytes,
        txs: Sequence[bytes],
        evidence: Sequence[EvidenceRef],
        state_root: bytes,
        extra: Batch,
    ) -> None: ...

    def validators(self, height: int) -> Sequence[ValidatorInfoLike]:
        """The set that precommits block `height` (known up to last_height() + 2)."""
        ...

    def last_height(self) -> int: ...

    def state_root(self) -> bytes: ...

    def genesis_hash(self) -> bytes:
        """Block 1's prev_hash."""
        ...
