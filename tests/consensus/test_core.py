"""The rules of Algorithm 1 (Buchman, Kwon, Milosevic 2018), one core driven by hand.

Four validators of power 1 (f = 1, 2f+1 = 3). The core under test is ``ME``; the proposer
of round r is ``P[r]`` (the weighted round-robin order of equal powers).
"""

from __future__ import annotations

from cons_helpers import CHAIN, GENESIS, CounterApp, members, signers

from consensus.actions import (
    STEP_NEW_HEIGHT,
    STEP_PRECOMMIT,
    STEP_PREVOTE,
    STEP_PROPOSE,
    Decided,
    EvidenceFound,
    InvalidMessage,
    LockChanged,
    NeedBlock,
    ScheduleTimeout,
    SignedProposal,
    SignedVote,
)
from consensus.core import Core, HeightContext, LockState, SignState
from consensus.params import ConsensusParams
from consensus.types import (
    PRECOMMIT,
    PREVOTE,
    Block,
    BlockHeader,
    Proposal,
    Vote,
    commit_hash,
    evidence_hash,
    tx_root,
)
from consensus.validators import ValidatorSet
from state.crypto import Signer, sha256
from state.store import MemoryStore

SS = signers(4)
MEMBERS = members(SS)
VS = ValidatorSet.from_members(MEMBERS)
BY_KEY = {s.public_key: s for s in SS}
P = [BY_KEY[VS.proposer(r)] for r in range(4)]
PARAMS = ConsensusParams(propose_ms=1000, propose_delta_ms=500, prevote_ms=400, precommit_ms=400)
CTX = HeightContext(1, VS, None, GENESIS, 0, None)


def make_core(me: Signer, last_signed: SignState | None = None) -> Core:
    app = CounterApp(MemoryStore(), lambda h: MEMBERS)
    return Core(CHAIN, app, me, PARAMS, last_signed=last_signed)


def block(proposer: Signer, tag: int = 0, time_ms: int = 100, root: bytes | None = None) -> Block:
    txs = tuple(b"tx:1:%d" % i for i in range(tag + 1))
    header = BlockHeader(
        chain_id=CHAIN,
        height=1,
        time_ms=time_ms,
        prev_hash=GENESIS,
        proposer=proposer.public_key,
        tx_root=tx_root(txs),
        state_root=root or CounterApp.root(1, len(txs)),
        last_commit_hash=commit_hash(None),
        evidence_hash=evidence_hash([]),
        validators_hash=VS.hash(),
    )
    return Block(header, txs, None, ())


def proposal(s: Signer, b: Block, r: int = 0, pol: int = -1) -> Proposal:
    return Proposal(1, r, pol, b, s.sign(Proposal.sign_bytes_for(CHAIN, 1, r, pol, b.hash)))


def vote(s: Signer, type: int, r: int, bid: bytes | None) -> Vote:
    return Vote(type, 1, r, bid, s.public_key, s.sign(Vote.sign_bytes_for(CHAIN, type, 1, r, bid)))


def signed(acts: list) -> list[Vote]:  # noqa: ANN001
    return [a.vote for a in acts if isinstance(a, SignedVote)]


def timeouts(acts: list, step: int) -> list[ScheduleTimeout]:  # noqa: ANN001
    return [a for a in acts if isinstance(a, ScheduleTimeout) and a.step == step]


def feed(core: Core, votes: list[Vote], now: int = 50) -> list:
    acts: list = []
    for v in votes:
        acts += core.on_vote(v, now)
    return acts


def started(me: Signer, last_signed: SignState | None = None) -> tuple[Core, list]:
    core = make_core(me, last_signed)
    return core, core.start_height(CTX, 0, 0)


ME = P[3]  # proposes only in round 3


def test_new_height_waits_for_commit_timeout() -> None:
    core = make_core(ME)
    acts = core.start_height(CTX, 500, 0)
    assert acts == [ScheduleTimeout(500, 1, 0, STEP_NEW_HEIGHT)]
    assert core.step == STEP_NEW_HEIGHT
    acts = core.on_timeout(acts[0], 500)
    assert core.step == STEP_PROPOSE
    assert timeouts(acts, STEP_PROPOSE)[0].at_ms == 500 + 1000


def test_propose_timeout_prevotes_nil_and_grows_with_round() -> None:
    core, acts = started(ME)
    (t,) = timeouts(acts, STEP_PROPOSE)
    assert t.at_ms == 1000
    acts = core.on_timeout(t, 1000)
    (v,) = signed(acts)
    assert (v.type, v.round, v.block_id) == (PREVOTE, 0, None)
    assert core.step == STEP_PREVOTE
    # a stale timeout for the same step does nothing now
    assert core.on_timeout(t, 1001) == []
    # round 1's propose timeout is longer (linear growth)
    core2, _ = started(ME)
    acts = core2.on_vote(vote(P[0], PREVOTE, 1, None), 10) + core2.on_vote(
        vote(P[1], PREVOTE, 1, None), 10
    )
    assert core2.round == 1
    assert timeouts(acts, STEP_PROPOSE)[0].at_ms == 10 + 1500


def test_valid_proposal_gets_prevote() -> None:
    core, _ = started(ME)
    b = block(P[0])
    (v,) = signed(core.on_proposal(proposal(P[0], b), 10))
    assert (v.type, v.block_id, v.validator) == (PREVOTE, b.hash, ME.public_key)
    assert v.verify_signature(CHAIN)


def test_wrong_proposer_or_signature_is_reported_and_ignored() -> None:
    core, _ = started(ME)
    b = block(P[1])
    acts = core.on_proposal(proposal(P[1], b), 10)  # P[1] is not round 0's proposer
    assert any(isinstance(a, InvalidMessage) for a in acts)
    assert signed(acts) == [] and core.step == STEP_PROPOSE
    forged = Proposal(1, 0, -1, b, b"\x00" * 64)
    assert isinstance(core.on_proposal(forged, 10)[0], InvalidMessage)


def test_invalid_block_gets_nil_prevote() -> None:
    core, _ = started(ME)
    bad = block(P[0], root=sha256(b"wrong state root"))
    acts = core.on_proposal(proposal(P[0], bad), 10)
    assert any(isinstance(a, InvalidMessage) and "application" in a.reason for a in acts)
    (v,) = signed(acts)
    assert v.block_id is None


def test_block_too_far_in_the_future_gets_nil_prevote() -> None:
    core, _ = started(ME)
    b = block(P[0], time_ms=10 + PARAMS.max_clock_drift_ms + 1)
    (v,) = signed(core.on_proposal(proposal(P[0], b), 10))
    assert v.block_id is None


def test_polka_locks_and_precommits() -> None:  # [L36]
    core, _ = started(ME)
    b = block(P[0])
    core.on_proposal(proposal(P[0], b), 10)
    acts = feed(core, [vote(P[0], PREVOTE, 0, b.hash)])
    assert signed(acts) == []  # 2 of 4 is no polka
    acts = feed(core, [vote(P[1], PREVOTE, 0, b.hash)])
    lock = [a for a in acts if isinstance(a, LockChanged)]
    assert lock == [LockChanged(1, 0, b)]
    (pc,) = signed(acts)
    assert (pc.type, pc.block_id) == (PRECOMMIT, b.hash)
    assert acts.index(lock[0]) < acts.index(SignedVote(pc))  # lock persisted before the vote
    assert (core.locked_round, core.valid_round) == (0, 0)
    assert core.locked_value == b and core.valid_value == b


def test_polka_seen_late_sets_valid_value_without_locking() -> None:  # [L36], step precommit
    core, acts = started(ME)
    b = block(P[0])
    core.on_timeout(timeouts(acts, STEP_PROPOSE)[0], 1000)  # no proposal yet: prevote nil
    acts = feed(core, [vote(P[i], PREVOTE, 0, b.hash) for i in (0, 1)], 1001)
    acts = core.on_timeout(timeouts(acts, STEP_PREVOTE)[0], 2000)
    assert core.step == STEP_PRECOMMIT and signed(acts)[-1].block_id is None
    core.on_proposal(proposal(P[0], b), 2001)
    acts = feed(core, [vote(P[2], PREVOTE, 0, b.hash)], 2002)  # polka, seen too late to lock
    assert signed(acts) == [] and not any(isinstance(a, LockChanged) for a in acts)
    assert core.locked_round == -1 and core.valid_round == 0 and core.valid_value == b


def test_prevote_timeout_then_precommit_nil() -> None:  # [L34], [L61]
    core, _ = started(ME)
    b = block(P[0])
    core.on_proposal(proposal(P[0], b), 10)
    acts = feed(core, [vote(P[0], PREVOTE, 0, None), vote(P[1], PREVOTE, 0, sha256(b"x"))])
    (t,) = timeouts(acts, STEP_PREVOTE)
    assert t.at_ms == 50 + 400
    assert signed(acts) == []
    (pc,) = signed(core.on_timeout(t, t.at_ms))
    assert (pc.type, pc.block_id) == (PRECOMMIT, None)
    assert core.step == STEP_PRECOMMIT


def test_nil_polka_precommits_nil_at_once() -> None:  # [L44]
    core, acts = started(ME)
    core.on_timeout(timeouts(acts, STEP_PROPOSE)[0], 1000)
    acts = feed(core, [vote(P[0], PREVOTE, 0, None), vote(P[1], PREVOTE, 0, None)], 1001)
    assert [(v.type, v.block_id) for v in signed(acts)] == [(PRECOMMIT, None)]


def test_precommit_timeout_starts_next_round() -> None:  # [L47], [L65]
    core, acts = started(ME)
    core.on_timeout(timeouts(acts, STEP_PROPOSE)[0], 1000)
    feed(core, [vote(P[0], PREVOTE, 0, None), vote(P[1], PREVOTE, 0, None)], 1001)
    acts = feed(core, [vote(P[0], PRECOMMIT, 0, None), vote(P[1], PRECOMMIT, 0, None)], 1002)
    (t,) = timeouts(acts, STEP_PRECOMMIT)
    assert t.at_ms == 1002 + 400
    acts = core.on_timeout(t, t.at_ms)
    assert (core.round, core.step) == (1, STEP_PROPOSE)
    assert timeouts(acts, STEP_PROPOSE)[0].at_ms == t.at_ms + 1500


def go_to_round(core: Core, r: int, now: int) -> None:
    """Move the core from its round to r via the precommit timeout (others precommit nil)."""
    while core.round < r:
        cur = core.round
        acts = feed(core, [vote(P[i], PRECOMMIT, cur, None) for i in (0, 1, 2)], now)
        (t,) = timeouts(acts, STEP_PRECOMMIT)
        core.on_timeout(t, t.at_ms)


def lock_on(core: Core, b: Block) -> None:
    core.on_proposal(proposal(P[0], b), 10)
    feed(core, [vote(P[i], PREVOTE, 0, b.hash) for i in (0, 1)])
    assert core.locked_value == b


def test_locked_validator_prevotes_nil_for_other_block() -> None:  # [L22] lock rule
    core, _ = started(ME)
    v = block(P[0])
    lock_on(core, v)
    go_to_round(core, 1, 100)
    w = block(P[1], tag=1)
    (pv,) = signed(core.on_proposal(proposal(P[1], w, r=1), 2000))
    assert (pv.round, pv.block_id) == (1, None)
    # the locked block itself, re-proposed without a POL, still gets our prevote
    core2, _ = started(ME)
    lock_on(core2, v)
    go_to_round(core2, 1, 100)
    (pv,) = signed(core2.on_proposal(proposal(P[1], v, r=1), 2000))
    assert pv.block_id == v.hash


def test_later_polka_unlocks_via_pol_round() -> None:  # [L28]
    core, _ = started(ME)
    v = block(P[0])
    lock_on(core, v)
    go_to_round(core, 1, 100)
    w = block(P[1], tag=1)
    # round 1: the others prevote w (we never saw round 1's proposal)
    feed(core, [vote(P[i], PREVOTE, 1, w.hash) for i in (0, 1, 2)], 3000)
    go_to_round(core, 2, 3000)
    # round 2: w re-proposed with pol_round 1 > our locked round 0: prevote w
    (pv,) = signed(core.on_proposal(proposal(P[2], w, r=2, pol=1), 9000))
    assert (pv.round, pv.block_id) == (2, w.hash)
    # without the POL prevotes the same proposal would get nil
    core2, _ = started(ME)
    lock_on(core2, v)
    go_to_round(core2, 2, 100)
    assert core2.on_proposal(proposal(P[2], w, r=2, pol=1), 9000) == []
    core2.on_timeout(ScheduleTimeout(0, 1, 2, STEP_PROPOSE), 9999)
    assert core2.own_messages[(2, STEP_PREVOTE)].block_id is None


def test_polka_in_later_round_moves_the_lock() -> None:  # [L36] relock
    core, _ = started(ME)
    v = block(P[0])
    lock_on(core, v)
    go_to_round(core, 1, 100)
    w = block(P[1], tag=1)
    core.on_proposal(proposal(P[1], w, r=1), 2000)  # we prevote nil (locked on v)
    acts = feed(core, [vote(P[i], PREVOTE, 1, w.hash) for i in (0, 1, 2)], 2001)
    assert LockChanged(1, 1, w) in acts
    assert [(x.type, x.block_id) for x in signed(acts)] == [(PRECOMMIT, w.hash)]
    assert (core.locked_round, core.locked_value) == (1, w)


def test_next_proposer_reuses_valid_value() -> None:  # [L15]
    me = P[1]
    core, _ = started(me)
    v = block(P[0])
    core.on_proposal(proposal(P[0], v), 10)
    feed(core, [vote(P[i], PREVOTE, 0, v.hash) for i in (0, 2)])
    assert core.valid_value == v
    acts = feed(core, [vote(P[i], PRECOMMIT, 0, None) for i in (0, 2)], 20)
    (t,) = timeouts(acts, STEP_PRECOMMIT)
    acts = core.on_timeout(t, t.at_ms)
    (sp,) = [a.proposal for a in acts if isinstance(a, SignedProposal)]
    assert (sp.round, sp.pol_round, sp.block) == (1, 0, v)
    assert sp.verify_signature(CHAIN, me.public_key)
    # and it prevotes its own proposal
    assert [(x.type, x.round, x.block_id) for x in signed(acts)] == [(PREVOTE, 1, v.hash)]


def test_proposer_builds_block_from_app() -> None:
    core, acts = started(P[0])
    (sp,) = [a.proposal for a in acts if isinstance(a, SignedProposal)]
    assert sp.pol_round == -1 and sp.block.header.proposer == P[0].public_key
    assert sp.block.check_roots() is None
    assert sp.block.txs == (b"tx:1:0", b"tx:1:1")
    assert signed(acts)[0].block_id == sp.block.hash


def test_round_skip_on_f_plus_one() -> None:  # [L55]
    core, _ = started(ME)
    feed(core, [vote(P[0], PREVOTE, 5, None)])
    assert core.round == 0  # one validator (1/4) may be faulty
    acts = feed(core, [vote(P[1], PRECOMMIT, 5, None)])
    assert core.round == 5 and core.step == STEP_PROPOSE
    assert timeouts(acts, STEP_PROPOSE)


def test_decide_with_proposal_and_two_thirds_precommits() -> None:  # [L49]
    core, _ = started(ME)
    b = block(P[0])
    lock_on(core, b)
    acts = feed(core, [vote(P[i], PRECOMMIT, 0, b.hash) for i in (0, 1)])
    (d,) = [a for a in acts if isinstance(a, Decided)]
    assert d.block == b and d.commit.round == 0 and d.commit.block_id == b.hash
    d.commit.verify(CHAIN, VS)
    assert len(d.commit.signatures) == 3
    # nothing more happens at a decided height
    assert feed(core, [vote(P[2], PRECOMMIT, 0, b.hash)]) == []


def test_decide_in_later_round_on_earlier_rounds_certificate() -> None:  # [L49] any round
    core, _ = started(ME)
    b = block(P[0])
    core.on_proposal(proposal(P[0], b), 10)  # prevoted b, no polka seen
    feed(core, [vote(P[i], PREVOTE, 2, None) for i in (0, 1)], 100)  # skip to round 2
    assert core.round == 2
    acts = feed(core, [vote(P[i], PRECOMMIT, 0, b.hash) for i in (0, 1, 2)], 5000)
    (d,) = [a for a in acts if isinstance(a, Decided)]
    assert d.block == b and d.commit.round == 0 and d.height == 1
    d.commit.verify(CHAIN, VS)


def test_certificate_without_block_asks_for_it() -> None:
    core, _ = started(ME)
    b = block(P[0])
    acts = feed(core, [vote(P[i], PRECOMMIT, 0, b.hash) for i in (0, 1, 2)])
    assert NeedBlock(1, b.hash) in acts
    assert not any(isinstance(a, Decided) for a in acts)
    # the block arrives (the proposal, relayed): decide
    acts = core.on_proposal(proposal(P[0], b), 60)
    assert any(isinstance(a, Decided) for a in acts)


def test_conflicting_votes_become_evidence() -> None:
    core, _ = started(ME)
    a = vote(P[0], PREVOTE, 0, sha256(b"a"))
    b = vote(P[0], PREVOTE, 0, sha256(b"b"))
    assert feed(core, [a]) == []
    acts = feed(core, [b])
    (ev,) = [x.evidence for x in acts if isinstance(x, EvidenceFound)]
    ev.verify(CHAIN, VS)
    assert ev.id in core.evidence_pool
    # the same votes again: nothing new, the evidence is not reported twice
    assert feed(core, [a, b]) == []
    # the equivocator is one sender for "2f+1 of any" but each of its votes counts for
    # its own block id (others may have counted exactly that vote in a quorum)
    t = core._tallies[(0, PREVOTE)]
    assert t.any_power == 1 and core._power(0, PREVOTE, a.block_id) == 1
    assert core._power(0, PREVOTE, b.block_id) == 1
    # bounded: a validator's third and later conflicting votes are not kept
    for tag in (b"c", b"d", b"e"):
        feed(core, [vote(P[0], PREVOTE, 0, sha256(tag))])
    assert sum(1 for votes in t.by_block.values() if P[0].public_key in votes) == 3


def test_equivocators_second_vote_completes_a_polka() -> None:
    """Twins: the first vote we saw from P[0] was nil, but the other twin's vote for the
    block is part of a polka others saw; we must be able to see it too (liveness)."""
    core, _ = started(ME)
    b = block(P[0])
    feed(core, [vote(P[0], PREVOTE, 0, None)])
    core.on_proposal(proposal(P[0], b), 10)  # we prevote b
    acts = feed(core, [vote(P[1], PREVOTE, 0, b.hash), vote(P[0], PREVOTE, 0, b.hash)])
    assert any(isinstance(a, EvidenceFound) for a in acts)
    assert core.locked_value == b
    assert [(x.type, x.block_id) for x in signed(acts)] == [(PRECOMMIT, b.hash)]


def test_unknown_validator_and_bad_signature_are_reported() -> None:
    core, _ = started(ME)
    outsider = signers(5)[4]
    (a,) = core.on_vote(vote(outsider, PREVOTE, 0, None), 10)
    assert isinstance(a, InvalidMessage) and "unknown" in a.reason
    v = vote(P[0], PREVOTE, 0, None)
    forged = Vote(v.type, v.height, v.round, sha256(b"x"), v.validator, v.signature)
    (a,) = core.on_vote(forged, 10)
    assert isinstance(a, InvalidMessage) and "signature" in a.reason
    assert core._power(0, PREVOTE, sha256(b"x")) == 0


def test_never_signs_at_or_below_last_signed() -> None:
    b = block(P[0])
    # restarted after precommitting in round 0: no prevote, no precommit in round 0
    prior = vote(ME, PRECOMMIT, 0, None)
    core, _ = started(ME, SignState(1, 0, STEP_PRECOMMIT, prior.to_bytes()))
    acts = core.on_proposal(proposal(P[0], b), 10)
    acts += feed(core, [vote(P[i], PREVOTE, 0, b.hash) for i in (0, 1, 2)])
    assert signed(acts) == []
    assert core.step == STEP_PRECOMMIT  # the algorithm still moves on


def test_restart_resends_identical_vote_but_never_a_different_one() -> None:
    b = block(P[0])
    first, _ = started(ME)
    (pv,) = signed(first.on_proposal(proposal(P[0], b), 10))
    ls = first.last_signed
    assert ls is not None and ls.hrs == (1, 0, STEP_PREVOTE)
    again, _ = started(ME, ls)
    assert signed(again.on_proposal(proposal(P[0], b), 10)) == [pv]
    # same round, different block proposed (equivocating proposer): nothing signed
    other, _ = started(ME, ls)
    assert signed(other.on_proposal(proposal(P[0], block(P[0], tag=3)), 10)) == []
    # a propose timeout would mean a nil prevote: refused as well
    other2, acts = started(ME, ls)
    assert signed(other2.on_timeout(timeouts(acts, STEP_PROPOSE)[0], 1000)) == []


def test_restart_as_proposer_resends_same_proposal() -> None:
    core, acts = started(P[0])
    (sp,) = [a.proposal for a in acts if isinstance(a, SignedProposal)]
    ls = SignState(1, 0, STEP_PROPOSE, sp.to_bytes())
    again, acts2 = started(P[0], ls)
    (sp2,) = [a.proposal for a in acts2 if isinstance(a, SignedProposal)]
    assert sp2 == sp


def test_restart_resumes_in_last_signed_round() -> None:
    prior = vote(ME, PREVOTE, 3, None)
    core, _ = started(ME, SignState(1, 3, STEP_PREVOTE, prior.to_bytes()))
    assert core.round == 3


def test_observer_follows_without_signing() -> None:
    core = Core(CHAIN, CounterApp(MemoryStore(), lambda h: MEMBERS), None, PARAMS)
    core.start_height(CTX, 0, 0)
    b = block(P[0])
    acts = core.on_proposal(proposal(P[0], b), 10)
    acts += feed(core, [vote(P[i], PREVOTE, 0, b.hash) for i in (0, 1, 2)])
    acts += feed(core, [vote(P[i], PRECOMMIT, 0, b.hash) for i in (0, 1, 2)])
    assert signed(acts) == []
    assert any(isinstance(a, Decided) for a in acts)


def test_lock_restored_after_restart_still_binds() -> None:
    v, w = block(P[0]), block(P[1], tag=1)
    app = CounterApp(MemoryStore(), lambda h: MEMBERS)
    prior = vote(ME, PRECOMMIT, 0, v.hash)
    core = Core(
        CHAIN,
        app,
        ME,
        PARAMS,
        last_signed=SignState(1, 0, STEP_PRECOMMIT, prior.to_bytes()),
        lock=LockChanged(1, 0, v),
    )
    core.start_height(CTX, 0, 0)
    assert (core.locked_round, core.locked_value) == (0, v)
    go_to_round(core, 1, 100)
    (pv,) = signed(core.on_proposal(proposal(P[1], w, r=1), 2000))
    assert pv.block_id is None  # still locked on v
    # a lock of another height is ignored
    core2 = Core(CHAIN, app, ME, PARAMS, lock=LockChanged(7, 0, v))
    core2.start_height(CTX, 0, 0)
    assert core2.locked_round == -1


def test_restored_polka_lets_a_restarted_proposer_reach_its_own_reproposal() -> None:
    """After a restart the lock (or valid value) comes back with its polka: as proposer we
    re-propose it with pol_round = its round and accept it ourselves [L15, L28]; without the
    prevotes we would prevote nil for our own proposal."""
    v = block(P[0])
    polka = tuple(vote(s, PREVOTE, 0, v.hash) for s in (P[0], P[1], ME))
    for locked, lock_round in ((v, 0), (None, -1)):
        app = CounterApp(MemoryStore(), lambda h: MEMBERS)
        prior = vote(ME, PRECOMMIT, 0, v.hash if locked else None)
        state = LockState(1, lock_round, locked, 0, v, polka + (vote(P[2], PREVOTE, 1, v.hash),))
        core = Core(
            CHAIN,
            app,
            ME,
            PARAMS,
            last_signed=SignState(1, 0, STEP_PRECOMMIT, prior.to_bytes()),
            lock=state,
        )
        core.start_height(CTX, 0, 0)
        assert (core.locked_round, core.valid_round, core.valid_value) == (lock_round, 0, v)
        assert core._power(0, PREVOTE, v.hash) == 3
        assert core._power(1, PREVOTE, v.hash) == 0  # only the polkas are restored
        relayed = {(x.validator, x.round) for x in core.gossip() if isinstance(x, Vote)}
        assert {(s.public_key, 0) for s in (P[0], P[1], ME)} <= relayed
        go_to_round(core, 3, 100)  # ME proposes in round 3
        p = core.own_messages[(3, STEP_PROPOSE)]
        assert isinstance(p, Proposal) and (p.block, p.pol_round) == (v, 0)
        assert core.own_messages[(3, STEP_PREVOTE)].block_id == v.hash  # type: ignore[union-attr]
        assert set(core.lock_state().prevotes) == set(polka)  # a quorum, persisted again


def test_gossip_relays_the_polka_behind_valid_value() -> None:
    core, _ = started(ME)
    b = block(P[0])
    lock_on(core, b)
    go_to_round(core, 1, 100)
    relayed = {(x.validator, x.round, x.block_id) for x in core.gossip() if isinstance(x, Vote)}
    for s in (P[0], P[1], ME):
        assert (s.public_key, 0, b.hash) in relayed  # round 0's polka, not only our votes


def test_voting_power_is_weighted() -> None:
    ss = signers(4)
    weighted = members(ss, [4, 1, 1, 1])  # total 7: quorum needs > 14/3, i.e. 5
    vs = ValidatorSet.from_members(weighted)
    ctx = HeightContext(1, vs, None, GENESIS, 0, None)
    heavy = ss[0]
    me = next(s for s in ss[1:] if vs.proposer(0) != s.public_key)
    others = [s for s in ss[1:] if s is not me]
    core = Core(CHAIN, CounterApp(MemoryStore(), lambda h: weighted), me, PARAMS)
    acts = core.start_height(ctx, 0, 0)
    core.on_timeout(timeouts(acts, STEP_PROPOSE)[0], 1000)  # we prevote nil (power 1)
    nil = [
        Vote(
            PREVOTE,
            1,
            0,
            None,
            s.public_key,
            s.sign(Vote.sign_bytes_for(CHAIN, PREVOTE, 1, 0, None)),
        )
        for s in others
    ]
    acts = feed(core, nil, 1001)
    assert signed(acts) == []  # 3 of 7 is nothing
    assert core.step == STEP_PREVOTE
    hv = Vote(
        PREVOTE,
        1,
        0,
        None,
        heavy.public_key,
        heavy.sign(Vote.sign_bytes_for(CHAIN, PREVOTE, 1, 0, None)),
    )
    acts = feed(core, [hv], 1002)
    assert [(x.type, x.block_id) for x in signed(acts)] == [(PRECOMMIT, None)]


def test_tampered_body_does_not_poison_the_genuine_block() -> None:
    core, _ = started(ME)
    b = block(P[0], tag=1)
    forged = Block(b.header, (b"tx:1:0", b"tx:1:9"), None, ())  # same header, other txs
    assert forged.hash == b.hash
    acts = core.on_proposal(proposal(P[0], forged), 10)
    assert any(isinstance(a, InvalidMessage) and "tx_root" in a.reason for a in acts)
    assert signed(acts) == [] and b.hash not in core.blocks
    assert core.check_block(forged) == "tx_root mismatch"
    (pv,) = signed(core.on_proposal(proposal(P[0], b), 11))
    assert pv.block_id == b.hash
