"""Consensus hands a block's evidence to the state machine as its own DuplicateVoteEvidence
(the one EvidenceRef record is state's): the real objects must drive the real rule."""

from __future__ import annotations

from test_machine import Harness, addr

from consensus.types import PRECOMMIT, DuplicateVoteEvidence, Vote
from state.app import ChainApp, as_evidence
from state.devkeys import dev_signer
from state.model import EvidenceRef
from state.store import Batch


def double_sign(label: str, chain_id: str, height: int) -> DuplicateVoteEvidence:
    s = dev_signer(label)

    def vote(block_id: bytes) -> Vote:
        sig = s.sign(Vote.sign_bytes_for(chain_id, PRECOMMIT, height, 0, block_id))
        return Vote(PRECOMMIT, height, 0, block_id, s.public_key, sig)

    return DuplicateVoteEvidence.of(vote(b"\x01" * 32), vote(b"\x02" * 32))


def test_consensus_evidence_becomes_states_record() -> None:
    ev = double_sign("val1", "c", 3)
    (ref,) = as_evidence([ev])
    assert type(ref) is EvidenceRef
    assert ref == EvidenceRef(addr("val1"), 3, 0, PRECOMMIT, ev.id)


def test_a_double_sign_from_consensus_removes_the_validator() -> None:
    hx = Harness(params={"epoch_length": 10, "min_validators": 2, "max_validators": 3})
    hx.advance_to(3)
    ev = double_sign("val1", hx.genesis.chain_id, 2)
    app = ChainApp(hx.chain, lambda max_txs, max_bytes: [])
    txs, root = app.prepare(4, 4_000, addr("val0"), [ev])
    assert app.validate(4, 4_000, addr("val0"), txs, [ev], root)
    app.commit(4, 4_000, addr("val0"), txs, [ev], root, Batch())
    assert addr("val1") in [v.consensus_key for v in hx.chain.validators(5)]
    assert addr("val1") not in [v.consensus_key for v in hx.chain.validators(6)]
