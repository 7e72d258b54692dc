"""The Tendermint consensus algorithm as a pure state machine (Buchman, Kwon, Milosevic 2018,
"The latest gossip on BFT consensus", Algorithm 1).

Inputs are proposals, votes and timer firings for the current height, each with ``now_ms``;
outputs are actions (see :mod:`consensus.actions`). No clock, no I/O: the replica and
through it the node and the simulator drive it (DESIGN.md principle 1).

Rules are evaluated by :meth:`Core._process`, a loop that fires any enabled "upon" rule of
the paper until none is enabled. Each rule is guarded exactly as in the paper (step, round,
"for the first time"), so re-running the loop after every input is idempotent. Comments
``[Lnn]`` cite the paper's line numbers.

Double signing: the core keeps the last (height, round, step) it signed and never signs at
or below it (DESIGN.md principle 4). The replica persists that record (and the lock)
before any signed message leaves the node, and restores it after a restart; those records
and the core's save/restore of them live in :mod:`consensus.recovery`.
"""

from __future__ import annotations

from collections.abc import Callable

from state.codec import DecodeError
from state.crypto import Signer

from .actions import (
    STEP_NEW_HEIGHT,
    STEP_PRECOMMIT,
    STEP_PREVOTE,
    STEP_PROPOSE,
    CoreAction,
    Decided,
    EvidenceFound,
    HeightTiming,
    InvalidMessage,
    LockChanged,
    NeedBlock,
    ScheduleTimeout,
    SignedProposal,
    SignedVote,
)
from .app import Application
from .messages import block_bytes
from .params import ConsensusParams
from .recovery import LockState, Recovery, SignState
from .types import (
    PRECOMMIT,
    PREVOTE,
    Block,
    BlockHeader,
    Commit,
    DuplicateVoteEvidence,
    Proposal,
    Vote,
    commit_hash,
    evidence_hash,
    tx_root,
)
from .validators import ValidatorSet
from .validity import HeightContext, check_block
from .votes import MAX_VOTES_PER_VALIDATOR, VoteTally

__all__ = ["Core", "HeightContext", "LockState", "SignState"]

STEP_DECIDED = 4
#: at most this many distinct blocks kept per round (an equivocating proposer)
MAX_BLOCKS_PER_ROUND = 2
#: committed evidence ids remembered so gossip cannot make us re-include them
MAX_COMMITTED_EVIDENCE = 4096


class Core(Recovery):
    """One validator's (or observer's) view of consensus for one height at a time."""

    def __init__(
        self,
        chain_id: str,
        app: Application,
        signer: Signer | None,
        params: ConsensusParams | None = None,
        last_signed: SignState | None = None,
        lock: LockState | LockChanged | None = None,
        validator_set_at: Callable[[int], ValidatorSet | None] = lambda h: None,
    ) -> None:
        self.chain_id = chain_id
        self.app = app
        self.signer = signer
        self.params = params or ConsensusParams()
        self.last_signed = last_signed
        if isinstance(lock, LockChanged):
            lock = LockState(lock.height, lock.round, lock.block, lock.round, lock.block)
        self._restored_lock = lock
        self._validator_set_at = validator_set_at
        #: when True (catching up) the core follows but signs nothing
        self.passive = False
        self.evidence_pool: dict[bytes, DuplicateVoteEvidence] = {}
        self._committed_evidence: dict[bytes, None] = {}
        self.ctx: HeightContext | None = None
        self._reset(0)

    # ------------------------------------------------------------------ state

    def _reset(self, height: int) -> None:
        self.height = height
        self.round = 0
        self.step = STEP_NEW_HEIGHT
        self.locked_value: Block | None = None
        self.locked_round = -1
        self.valid_value: Block | None = None
        self.valid_round = -1
        self.decided: Block | None = None
        self.proposals: dict[int, Proposal] = {}
        self.blocks: dict[bytes, Block] = {}
        self._blocks_per_round: dict[int, int] = {}
        #: round and block_bytes of each block stored from a proposal (the future-round bound)
        self._block_rounds: dict[bytes, tuple[int, int]] = {}
        self._valid: dict[bytes, str | None] = {}
        self._timely: dict[bytes, bool] = {}
        self._tallies: dict[tuple[int, int], VoteTally] = {}
        self._round_senders: dict[int, dict[bytes, None]] = {}
        self._prevote_timeout_done: set[int] = set()
        self._precommit_timeout_done: set[int] = set()
        self._polka_done: set[int] = set()
        self._commit_candidates: dict[tuple[int, bytes], None] = {}
        self._needed: set[bytes] = set()
        self._proposers: dict[int, bytes] = {}
        self._start_round_no = 0
        #: when this node started its first round of the height, and when it first counted
        #: 2f+1 prevotes for a block in each round (HeightTiming, for the proposer's sizing)
        self._started_ms: int | None = None
        #: the deadline of the commit wait that started round 0 (HeightTiming.scheduled_ms)
        self._scheduled_ms: int | None = None
        self._polka_at: dict[int, tuple[bytes, int]] = {}
        #: own signed messages of this height (re-gossip)
        self.own_messages: dict[tuple[int, int], Vote | Proposal] = {}

    @property
    def validators(self) -> ValidatorSet:
        assert self.ctx is not None, "start_height first"
        return self.ctx.validators

    @property
    def is_validator(self) -> bool:
        return (
            self.signer is not None
            and self.ctx is not None
            and self.signer.public_key in self.ctx.validators
        )

    def proposer(self, round: int) -> bytes:
        p = self._proposers.get(round)
        if p is None:
            p = self.validators.proposer(round)
            if len(self._proposers) < 1024:
                self._proposers[round] = p
        return p

    # ------------------------------------------------------------------ inputs

    def start_height(
        self, ctx: HeightContext, start_at_ms: int, now_ms: int, *, wait: bool = False
    ) -> list[CoreAction]:
        """Enter `ctx.height`; round 0 starts at `start_at_ms` (the commit timeout).

        With `wait`, round 0 starts from a timeout even when already due, so its propose
        deadline counts from the driver's next `now_ms` rather than from this call's (which,
        right after a long commit, is as old as the commit took)."""
        self._reset(ctx.height)
        self.ctx = ctx
        lock = self._restored_lock
        if lock is not None and lock.height == ctx.height:
            self._restore_lock(lock)
        ls = self.last_signed
        if ls is not None and ls.height == ctx.height:
            # resume in the round we last signed in; we cannot vote again below it anyway
            self._start_round_no = ls.round
            self._restore_own(ls)
        if start_at_ms <= now_ms and not wait:
            return self._start_round(self._start_round_no, now_ms)
        return [ScheduleTimeout(start_at_ms, ctx.height, self._start_round_no, STEP_NEW_HEIGHT)]

    def on_timeout(self, t: ScheduleTimeout, now_ms: int) -> list[CoreAction]:
        if t.height != self.height or self.decided is not None or self.ctx is None:
            return []
        acts: list[CoreAction] = []
        if t.step == STEP_NEW_HEIGHT:
            if self.step == STEP_NEW_HEIGHT:
                self._scheduled_ms = t.at_ms
                return self._start_round(self._start_round_no, now_ms, due_ms=t.at_ms)
            return []
        if t.round != self.round:
            return []
        if t.step == STEP_PROPOSE and self.step == STEP_PROPOSE:  # [L57]
            acts += self._vote(PREVOTE, None)
            self.step = STEP_PREVOTE
        elif t.step == STEP_PREVOTE and self.step == STEP_PREVOTE:  # [L61]
            acts += self._vote(PRECOMMIT, None)
            self.step = STEP_PRECOMMIT
        elif t.step == STEP_PRECOMMIT:  # [L65]
            return acts + self._start_round(self.round + 1, now_ms)
        return acts + self._process(now_ms)

    def on_proposal(self, p: Proposal, now_ms: int) -> list[CoreAction]:
        """A proposal for the current height (the replica filters other heights)."""
        if p.height != self.height or self.decided is not None or self.ctx is None:
            return []
        if p.round > self.round + self.params.max_round_ahead:
            return []
        known = self.proposals.get(p.round)
        bid = p.block.hash
        if known is not None and known.block.hash == bid and known.pol_round == p.pol_round:
            return []  # duplicate
        proposer = self.proposer(p.round)
        if not p.verify_signature(self.chain_id, proposer):
            return [InvalidMessage("bad proposal signature")]
        if p.block.height != p.height:
            return [InvalidMessage("proposal block height mismatch")]
        roots = p.block.check_roots()
        if roots is not None:
            # the header hash does not cover the body directly: a relayed copy with other
            # txs must never be stored (or judged) under the genuine block's id
            return [InvalidMessage(f"invalid proposal: {roots}")]
        if bid not in self.blocks:
            if self._blocks_per_round.get(p.round, 0) >= MAX_BLOCKS_PER_ROUND:
                return []
            size = block_bytes(p.block)
            ahead = sum(n for r, n in self._block_rounds.values() if r > self.round)
            if p.round > self.round and ahead + size > self.params.max_future_block_bytes:
                return []
            self._blocks_per_round[p.round] = self._blocks_per_round.get(p.round, 0) + 1
            self._block_rounds[bid] = (p.round, size)
            self.blocks[bid] = p.block
        if known is None:
            self.proposals[p.round] = p
        self._round_senders.setdefault(p.round, {})[proposer] = None
        acts: list[CoreAction] = []
        reason = self._validity(p.block)
        if reason is not None:
            acts.append(InvalidMessage(f"invalid proposal: {reason}"))
        elif not self._timely.get(bid, False):
            # judged at each arrival: a block early for our clock may be fine a round later
            self._timely[bid] = p.block.header.time_ms <= now_ms + self.params.max_clock_drift_ms
        return acts + self._process(now_ms)

    def on_vote(self, v: Vote, now_ms: int) -> list[CoreAction]:
        """A vote for the current height (the replica filters other heights)."""
        if v.height != self.height or self.decided is not None or self.ctx is None:
            return []
        val = self.validators.get(v.validator)
        if val is None:
            return [InvalidMessage("vote from unknown validator")]
        if v.round > self.round + self.params.max_round_ahead:
            return []
        t = self._tallies.get((v.round, v.type))
        if t is not None and (t.has(v) or t.count.get(v.validator, 0) >= MAX_VOTES_PER_VALIDATOR):
            return []  # duplicate, or an equivocator past its bound: nothing new
        if not v.verify_signature(self.chain_id):
            return [InvalidMessage("bad vote signature")]
        return self._add_vote(v) + self._process(now_ms)

    def add_evidence(self, ev: DuplicateVoteEvidence) -> bool:
        """Keep already-verified evidence for our next proposals; False if known or full."""
        eid = ev.id
        if eid in self.evidence_pool or eid in self._committed_evidence:
            return False
        if len(self.evidence_pool) >= self.params.max_pending_evidence:
            return False
        self.evidence_pool[eid] = ev
        return True

    def block_committed(self, block: Block) -> None:
        """Forget evidence the chain now holds and evidence too old to include."""
        for ev in block.evidence:
            self.evidence_pool.pop(ev.id, None)
            self._committed_evidence[ev.id] = None
        while len(self._committed_evidence) > MAX_COMMITTED_EVIDENCE:
            del self._committed_evidence[next(iter(self._committed_evidence))]
        oldest = block.height + 1 - self.params.max_evidence_age
        for eid in [e for e, ev in self.evidence_pool.items() if ev.height < oldest]:
            del self.evidence_pool[eid]

    def holds(self, m: Proposal | Vote) -> bool:
        """True when this height's state holds exactly `m` (the same signature): a copy of
        it would change nothing (on_proposal / on_vote return [] for it)."""
        if isinstance(m, Vote):
            t = self._tallies.get((m.round, m.type))
            return t is not None and t.by_block.get(m.block_id, {}).get(m.validator) == m
        k = self.proposals.get(m.round)
        return k is m or (
            k is not None
            and k.block.hash == m.block.hash
            and k.pol_round == m.pol_round
            and k.signature == m.signature
        )

    def check_block(self, block: Block) -> str | None:
        """Why `block` is not a valid block for the current height, or None (cached)."""
        return self._validity(block)

    def gossip(self) -> list[Vote | Proposal]:
        """Our own messages worth sending again (lossy links): this round's, and every
        precommit of this height (a late certificate for an earlier round still decides)."""
        out: list[Vote | Proposal] = []
        for (r, step), m in self.own_messages.items():
            if r == self.round or step == STEP_PRECOMMIT:
                out.append(m)
        # Relay the polkas behind our validValue and lockedValue: a validator that missed
        # one cannot accept the re-proposal [L28], and with the lockers prevoting it while
        # the others prevote nil no round would ever gather 2f+1 (the paper assumes gossip
        # delivers it). At most one prevote per validator and value: bounded by the set.
        for r, b in ((self.valid_round, self.valid_value), (self.locked_round, self.locked_value)):
            if b is None or r < 0:
                continue
            t = self._tallies.get((r, PREVOTE))
            if t is not None:
                out += [v for v in t.by_block.get(b.hash, {}).values() if v not in out]
        return out

    def peer_has(self, peer: bytes, m: Vote | Proposal) -> bool:
        """Whether validator `peer`, if correct, provably needs nothing `m` would bring it
        (re-gossip skips it): its own vote; a prevote for a block it precommitted in that
        round (it held their polka); a proposal whose block it prevoted in that round."""
        if isinstance(m, Proposal):
            t = self._tallies.get((m.round, PREVOTE))
            return t is not None and peer in t.by_block.get(m.block.hash, {})
        if m.validator == peer:
            return True
        if m.type != PREVOTE or m.block_id is None:
            return False
        t = self._tallies.get((m.round, PRECOMMIT))
        return t is not None and peer in t.by_block.get(m.block_id, {})

    def block_by_id(self, block_id: bytes) -> Proposal | None:
        """A signed proposal carrying `block_id` (to answer a peer that lacks the block)."""
        for p in self.proposals.values():
            if p.block.hash == block_id:
                return p
        for (_, step), m in self.own_messages.items():
            if step == STEP_PROPOSE and isinstance(m, Proposal) and m.block.hash == block_id:
                return m
        return None

    # ------------------------------------------------------------------ rounds

    def _start_round(
        self, round: int, now_ms: int, due_ms: int | None = None
    ) -> list[CoreAction]:  # [L11]
        """Enter `round`; `due_ms` is when it was due, for a round the commit wait started
        (its proposal's time, see _block_time). Its deadlines count from `now_ms`."""
        assert self.ctx is not None
        self.round = round
        self.step = STEP_PROPOSE
        if self._started_ms is None:
            self._started_ms = now_ms
        acts: list[CoreAction] = []
        if self._can_sign() and self.proposer(round) == self.signer.public_key:  # type: ignore[union-attr]  # _can_sign(): a signer
            p = self._make_proposal(round, now_ms, due_ms)
            if p is not None:
                acts.append(SignedProposal(p))
                acts += self.on_proposal(p, now_ms)
        acts.append(
            ScheduleTimeout(
                now_ms + self.params.propose_timeout(round), self.height, round, STEP_PROPOSE
            )
        )
        return acts + self._process(now_ms)

    def _make_proposal(self, round: int, now_ms: int, due_ms: int | None) -> Proposal | None:
        ls = self.last_signed
        if ls is not None and ls.hrs == (self.height, round, STEP_PROPOSE):
            # restarted after proposing in this round: send the very same proposal again
            try:
                return Proposal.from_bytes(ls.message)
            except DecodeError:
                return None
        if not self._may_sign(round, STEP_PROPOSE):
            return None
        if self.valid_value is not None:  # [L15]
            block, pol = self.valid_value, self.valid_round
        else:
            block, pol = self._build_block(self._block_time(now_ms, due_ms)), -1
        assert self.signer is not None
        sig = self.signer.sign(
            Proposal.sign_bytes_for(self.chain_id, self.height, round, pol, block.hash)
        )
        p = Proposal(self.height, round, pol, block, sig)
        self._signed(round, STEP_PROPOSE, p.to_bytes())
        self.own_messages[(round, STEP_PROPOSE)] = p
        return p

    def _block_time(self, now_ms: int, due_ms: int | None) -> int:
        """The time to stamp on a new block: our clock, or, in a round the commit wait
        started late (a busy loop fires its timer late; a commit's write overran the wait),
        the time it was due, at most max_stamp_lag_ms behind our clock. The next height is
        due block_time_ms after this time, so a stamp taken late would stretch every
        interval by the driver's lateness; the round's deadlines still count from now."""
        if due_ms is None or due_ms >= now_ms:
            return now_ms
        return max(due_ms, now_ms - self.params.max_stamp_lag_ms)

    def _build_block(self, stamp_ms: int) -> Block:
        ctx = self.ctx
        assert ctx is not None and self.signer is not None
        time_ms = max(stamp_ms, ctx.prev_time_ms + 1)
        evidence: list[DuplicateVoteEvidence] = []
        oldest = self.height - self.params.max_evidence_age
        for ev in self.evidence_pool.values():
            if len(evidence) >= self.params.max_block_evidence:
                break
            if oldest <= ev.height < self.height:
                evidence.append(ev)
        txs, state_root = self.app.prepare(self.height, time_ms, self.signer.public_key, evidence)
        header = BlockHeader(
            chain_id=self.chain_id,
            height=self.height,
            time_ms=time_ms,
            prev_hash=ctx.prev_hash,
            proposer=self.signer.public_key,
            tx_root=tx_root(txs),
            state_root=state_root,
            last_commit_hash=commit_hash(ctx.last_commit),
            evidence_hash=evidence_hash(evidence),
            validators_hash=ctx.validators.hash(),
        )
        block = Block(header, tuple(txs), ctx.last_commit, tuple(evidence))
        self._valid[block.hash] = None  # we built it from our own state
        self._timely[block.hash] = True
        return block

    # ------------------------------------------------------------------ the rules

    def _process(self, now_ms: int) -> list[CoreAction]:
        acts: list[CoreAction] = []
        vs = self.validators
        while self.decided is None:
            # [L49] a block with 2f+1 precommits in any round decides the height
            if self._commit_candidates:
                decided = self._try_decide(acts, now_ms)
                if decided:
                    break
            if self.step == STEP_NEW_HEIGHT:
                break
            # [L55] f+1 of the power already in a higher round: skip to it
            skip = -1
            for r, senders in self._round_senders.items():
                if r > self.round and r > skip:
                    if vs.has_one_third(sum(vs.get(k).power for k in senders)):  # type: ignore[union-attr,misc]  # only members are recorded
                        skip = r
            if skip >= 0:
                acts += self._start_round(skip, now_ms)
                return acts
            r = self.round
            prop = self.proposals.get(r)
            if self.step == STEP_PROPOSE and prop is not None:
                v = prop.block
                vid = v.hash
                if prop.pol_round == -1:  # [L22]
                    ok = self._valid_timely(v) and (
                        self.locked_round == -1 or self._is_locked_on(vid)
                    )
                    acts += self._vote(PREVOTE, vid if ok else None)
                    self.step = STEP_PREVOTE
                    continue
                vr = prop.pol_round
                if vr < r and vs.has_quorum(self._power(vr, PREVOTE, vid)):  # [L28]
                    ok = self._valid_timely(v) and (
                        self.locked_round <= vr or self._is_locked_on(vid)
                    )
                    acts += self._vote(PREVOTE, vid if ok else None)
                    self.step = STEP_PREVOTE
                    continue
            t_pv = self._tallies.get((r, PREVOTE))
            if (
                self.step == STEP_PREVOTE
                and r not in self._prevote_timeout_done
                and t_pv is not None
                and vs.has_quorum(t_pv.any_power)
            ):  # [L34]
                self._prevote_timeout_done.add(r)
                acts.append(
                    ScheduleTimeout(
                        now_ms + self.params.prevote_timeout(r), self.height, r, STEP_PREVOTE
                    )
                )
            if self.step >= STEP_PREVOTE and r not in self._polka_done and t_pv is not None:
                polka = self._polka_block(r, t_pv)
                if polka is not None:  # [L36]
                    self._polka_done.add(r)
                    self._polka_at[r] = (polka.hash, now_ms)
                    if self.step == STEP_PREVOTE:
                        self.locked_value, self.locked_round = polka, r
                        acts.append(LockChanged(self.height, r, polka))
                        acts += self._vote(PRECOMMIT, polka.hash)
                        self.step = STEP_PRECOMMIT
                    self.valid_value, self.valid_round = polka, r
                    continue
            if (
                self.step == STEP_PREVOTE
                and t_pv is not None
                and vs.has_quorum(t_pv.power.get(None, 0))
            ):  # [L44]
                acts += self._vote(PRECOMMIT, None)
                self.step = STEP_PRECOMMIT
                continue
            t_pc = self._tallies.get((r, PRECOMMIT))
            if (
                r not in self._precommit_timeout_done
                and t_pc is not None
                and vs.has_quorum(t_pc.any_power)
            ):  # [L47]
                self._precommit_timeout_done.add(r)
                acts.append(
                    ScheduleTimeout(
                        now_ms + self.params.precommit_timeout(r), self.height, r, STEP_PRECOMMIT
                    )
                )
            break
        return acts

    def _polka_block(self, r: int, t: VoteTally) -> Block | None:
        """The valid block (from a proposal we hold) with 2f+1 prevotes in round r."""
        vs = self.validators
        for bid, power in t.power.items():
            if bid is not None and vs.has_quorum(power):
                b = self.blocks.get(bid)
                if b is not None and self._validity(b) is None:
                    return b
        return None

    def _try_decide(self, acts: list[CoreAction], now_ms: int) -> bool:
        for r, bid in list(self._commit_candidates):
            block = self.blocks.get(bid)
            if block is None:
                if bid not in self._needed:
                    self._needed.add(bid)
                    acts.append(NeedBlock(self.height, bid))
                continue
            if self._validity(block) is not None:
                continue
            t = self._tallies[(r, PRECOMMIT)]
            sigs = tuple(sorted((k, v.signature) for k, v in t.by_block[bid].items()))
            commit = Commit(self.height, r, bid, sigs)
            self.decided = block
            self.step = STEP_DECIDED
            polka = self._polka_at.get(r)
            first = self.proposals.get(0)
            timing = HeightTiming(
                self._started_ms,
                r,
                polka[1] if polka is not None and polka[0] == bid else None,
                None if first is None else len(first.block.txs),
                self._scheduled_ms,
                now_ms,
            )
            acts.append(Decided(self.height, block, commit, timing))
            return True
        return False

    # ------------------------------------------------------------------ votes

    def _power(self, r: int, type: int, bid: bytes | None) -> int:
        t = self._tallies.get((r, type))
        return 0 if t is None else t.power.get(bid, 0)

    def _is_locked_on(self, bid: bytes) -> bool:
        return self.locked_value is not None and self.locked_value.hash == bid

    def _add_vote(self, v: Vote) -> list[CoreAction]:
        t = self._tallies.get((v.round, v.type))
        if t is None:
            t = self._tallies[(v.round, v.type)] = VoteTally()
        if t.has(v):
            return []
        val = self.validators.get(v.validator)
        assert val is not None
        acts: list[CoreAction] = []
        old = t.votes.get(v.validator)
        if old is None:
            t.votes[v.validator] = v
            t.any_power += val.power
            self._round_senders.setdefault(v.round, {})[v.validator] = None
        else:
            ev = DuplicateVoteEvidence.of(old, v)
            if self.add_evidence(ev):
                acts.append(EvidenceFound(ev))
            if t.count.get(v.validator, 1) >= MAX_VOTES_PER_VALIDATOR:
                return acts
        t.count[v.validator] = t.count.get(v.validator, 0) + 1
        t.by_block.setdefault(v.block_id, {})[v.validator] = v
        t.power[v.block_id] = t.power.get(v.block_id, 0) + val.power
        if (
            v.type == PRECOMMIT
            and v.block_id is not None
            and self.validators.has_quorum(t.power[v.block_id])
        ):
            self._commit_candidates[(v.round, v.block_id)] = None
        return acts

    def _can_sign(self) -> bool:
        return self.is_validator and not self.passive

    def _may_sign(self, round: int, step: int) -> bool:
        ls = self.last_signed
        return ls is None or (self.height, round, step) > ls.hrs

    def _signed(self, round: int, step: int, message: bytes) -> None:
        self.last_signed = SignState(self.height, round, step, message)

    def _vote(self, type: int, bid: bytes | None) -> list[CoreAction]:
        """Sign and send our vote for this round (if we may), counting it ourselves."""
        if not self._can_sign():
            return []
        assert self.signer is not None
        step = STEP_PREVOTE if type == PREVOTE else STEP_PRECOMMIT
        ls = self.last_signed
        vote: Vote | None = None
        if ls is not None and ls.hrs == (self.height, self.round, step):
            try:
                prev = Vote.from_bytes(ls.message)
            except DecodeError:
                prev = None
            if prev is not None and prev.block_id == bid:
                vote = prev  # identical to what we signed before a restart: resend it
        elif self._may_sign(self.round, step):
            sig = self.signer.sign(
                Vote.sign_bytes_for(self.chain_id, type, self.height, self.round, bid)
            )
            vote = Vote(type, self.height, self.round, bid, self.signer.public_key, sig)
            self._signed(self.round, step, vote.to_bytes())
        if vote is None:
            return []
        self.own_messages[(self.round, step)] = vote
        return [SignedVote(vote), *self._add_vote(vote)]

    # ------------------------------------------------------------------ validity

    def _valid_timely(self, block: Block) -> bool:
        return self._validity(block) is None and self._timely.get(block.hash, True)

    def _validity(self, block: Block) -> str | None:
        """valid(v), cached by block id; a body not matching its header is never cached
        (it says nothing about the genuine block with that id)."""
        roots = block.check_roots()
        if roots is not None:
            return roots
        bid = block.hash
        if bid in self._valid:
            return self._valid[bid]
        reason = self._check(block)
        self._valid[bid] = reason
        return reason

    def _check(self, block: Block) -> str | None:
        assert self.ctx is not None
        return check_block(block, self.ctx, self.chain_id, self.params, self.app, self._set_at)

    def _set_at(self, height: int) -> ValidatorSet | None:
        ctx = self.ctx
        assert ctx is not None
        if height == ctx.height:
            return ctx.validators
        if height == ctx.height - 1 and ctx.prev_validators is not None:
            return ctx.prev_validators
        return self._validator_set_at(height)

    def set_at(self, height: int) -> ValidatorSet | None:
        """The validator set of `height` as far as the core can know it."""
        return self._set_at(height)
