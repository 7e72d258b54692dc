"""The Application protocol: what consensus asks of the state machine (INTERNALS.md).

Duck-typed on purpose: consensus never imports state's machine and state never imports
consensus, so the two can evolve and be tested apart. ``state.app.ChainApp`` implements it
for the real chain; tests use a tiny counter app.

A block's evidence is handed over as the verified ``DuplicateVoteEvidence`` itself: the app
reads only ``validator``, ``height``, ``round``, ``vote_type`` and ``id``, and keeps its own
record of those five (``state.model.EvidenceRef``, the one definition: consensus may not
import state's model, and a second copy here would only be converted into that one).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from state.store import Batch

from .types import DuplicateVoteEvidence
from .validators import MemberLike


class Application(Protocol):
    """Deterministic state machine driven by consensus.

    ``prepare`` and ``validate`` execute without writing (the app may cache the execution);
    ``commit`` persists it together with the block store's writes in ``extra`` as ONE atomic
    synced batch, so a crash leaves either the previous block or the new one.
    """

    def prepare(
        self, height: int, time_ms: int, proposer: bytes, evidence: Sequence[DuplicateVoteEvidence]
    ) -> tuple[list[bytes], bytes]:
        """Transactions for a new block and the state root after executing them."""
        ...

    def validate(
        self,
        height: int,
        time_ms: int,
        proposer: bytes,
        txs: Sequence[bytes],
        evidence: Sequence[DuplicateVoteEvidence],
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
        evidence: Sequence[DuplicateVoteEvidence],
        state_root: bytes,
        extra: Batch,
    ) -> object:
        """Persist the block; consensus ignores what it returns (ChainApp: the Execution)."""
        ...

    def validators(self, height: int) -> Sequence[MemberLike]:
        """The set that precommits block `height` (known up to last_height() + 2)."""
        ...

    def last_height(self) -> int: ...

    def state_root(self) -> bytes: ...

    def genesis_hash(self) -> bytes:
        """Block 1's prev_hash."""
        ...
