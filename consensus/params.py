"""Consensus timing and bounds, one frozen dataclass shared by the core and the replica."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ConsensusParams:
    """Timeouts grow linearly with the round (base + round * delta) so that after GST some
    round is long enough for a correct proposer's block to gather a polka (paper, Sec. 4)."""

    propose_ms: int = 1000
    propose_delta_ms: int = 500
    prevote_ms: int = 500
    prevote_delta_ms: int = 250
    precommit_ms: int = 500
    precommit_delta_ms: int = 250
    #: wait after a commit before round 0 of the next height (blocks every ~block_time_ms;
    #: the chain's block_time_ms is the natural value)
    commit_ms: int = 1000
    #: a proposed block's time may be at most this far ahead of our clock
    max_clock_drift_ms: int = 5000
    #: a proposer whose round 0 started late (after the commit wait's deadline) stamps its
    #: block with that deadline, at most this far behind its clock: the block interval stays
    #: block_time_ms instead of growing by the lateness of the node's timer (0: its clock)
    max_stamp_lag_ms: int = 500
    #: votes for rounds further ahead than this are dropped (memory bound)
    max_round_ahead: int = 100
    #: bytes of blocks kept for rounds after the current one (see core.block_bytes); a
    #: proposer's blocks beyond it are dropped (re-gossip brings them back once due), so an
    #: equivocating proposer cannot make us hold 2 blocks x max_round_ahead rounds
    max_future_block_bytes: int = 16 * 1024 * 1024
    #: messages for heights further ahead than this (beyond what the peer announced) are
    #: penalised
    max_height_ahead: int = 10
    #: evidence kept to put in our next proposals, and at most this many per block
    max_pending_evidence: int = 64
    max_block_evidence: int = 16
    #: evidence older than this many heights is no longer accepted
    max_evidence_age: int = 100
    #: status announcement and re-gossip of our own messages
    status_interval_ms: int = 1000
    #: block-sync: heights requested ahead of the committed one, and how long to wait
    sync_window: int = 8
    sync_timeout_ms: int = 3000

    def propose_timeout(self, round: int) -> int:
        return self.propose_ms + round * self.propose_delta_ms

    def prevote_timeout(self, round: int) -> int:
        return self.prevote_ms + round * self.prevote_delta_ms

    def precommit_timeout(self, round: int) -> int:
        return self.precommit_ms + round * self.precommit_delta_ms
