"""A replica: the consensus core plus the block store, height transitions, signing-state
persistence and block sync. The node runtime and the simulator are its two drivers.

Driving contract (all methods return actions to execute in order, never raise on peer input):

- ``start(now_ms)`` once, after construction;
- ``on_message(peer_id, channel, payload, now_ms)`` for every message on channels
  CONSENSUS, EVIDENCE and BLOCKSYNC;
- ``on_timeout(timeout, now_ms)`` when a ScheduleTimeout comes due (``next_deadline()`` is
  the earliest pending one);
- ``on_tick(now_ms)`` periodically (every few hundred ms): status announcements, re-gossip
  of our own messages, block-sync requests;
- ``on_peer(peer_id, up, now_ms)`` when a connection opens or closes.

Durability: a committed block, its commit, its hash index and the next height's validator
set go to the application's commit batch (one atomic synced write with the state). The last
signed height/round/step (and the lock) is written with sync=True before the Broadcast of
the signed message is returned, so a crash can never make us sign twice.
"""

from __future__ import annotations

from state.codec import DecodeError, decode, encode
from state.crypto import Signer, sha256
from state.store import Batch, KVStore

from .actions import (
    STEP_PRECOMMIT,
    STEP_PREVOTE,
    STEP_PROPOSE,
    Action,
    Broadcast,
    Committed,
    CoreAction,
    Decided,
    EvidenceFound,
    HeightTiming,
    InvalidMessage,
    LockChanged,
    NeedBlock,
    Penalize,
    ScheduleTimeout,
    SendTo,
    SignedProposal,
    SignedVote,
)
from .app import Application
from .core import Core, HeightContext, LockState, SignState
from .messages import (
    BLOCKSYNC,
    CONSENSUS,
    EVIDENCE,
    BlockRequest,
    BlockResponse,
    EvidenceMsg,
    NoBlock,
    ProposalMsg,
    StatusMsg,
    VoteMsg,
    decode_message,
    encode_message,
)
from .params import ConsensusParams
from .types import PREVOTE, Block, Commit, InvalidCommit, InvalidEvidence, Proposal, Vote
from .validators import ValidatorSet

__all__ = [
    "Action",
    "Broadcast",
    "Committed",
    "ConsensusParams",
    "EvidenceFound",
    "Penalize",
    "Replica",
    "ScheduleTimeout",
    "SendTo",
]

KEY_BLOCK = b"B/b/"
KEY_COMMIT = b"B/c/"
KEY_HASH = b"B/h/"
KEY_VSET = b"B/v/"
KEY_LAST_SIGNED = b"B/last_signed"
KEY_LOCK = b"B/lock"

_VSET_CACHE = 64
#: digests of held consensus messages remembered per height (a bound of memory: the core's
#: own bounds keep a height's distinct proposals and votes far below it)
MAX_HELD = 4096
#: own votes of the current height kept in the last-signed record (prevote and precommit of
#: the last two rounds)
MAX_SIGNED_HISTORY = 4


def be64(h: int) -> bytes:
    return h.to_bytes(8, "big")


class StoreCorrupt(Exception):
    """Our own store holds something we did not write: fail loudly at start."""


class Replica:
    """Tendermint for one node: consensus, block store and block sync over a KVStore."""

    def __init__(
        self,
        chain_id: str,
        store: KVStore,
        app: Application,
        signer: Signer | None,
        params: ConsensusParams | None = None,
    ) -> None:
        self.chain_id = chain_id
        self.store = store
        self.app = app
        self.signer = signer
        self.params = params or ConsensusParams()
        self._vsets: dict[int, ValidatorSet] = {}
        self._signed_history: list[tuple[int, int, bytes]] = []
        #: (height, valid round) of the last lock record written
        self._lock_key = (-1, -1)
        self._committed = app.last_height()
        if self._committed > 0 and store.get(KEY_BLOCK + be64(self._committed)) is None:
            raise StoreCorrupt(f"state at height {self._committed} but no block stored")
        self.core = Core(
            chain_id,
            app,
            signer,
            self.params,
            last_signed=self._load_last_signed(),
            lock=self._load_lock(),
            validator_set_at=self.validator_set,
        )
        self._started = False
        self._timeouts: dict[tuple[int, int, int], ScheduleTimeout] = {}
        self._peers: dict[bytes, int] = {}
        #: peers whose connection is up, in the order they came (re-gossip targets)
        self._connected: dict[bytes, None] = {}
        #: re-gossip copies not sent to a peer whose status showed it past the height
        self.copies_skipped = 0
        self._next_status = 0
        self._status_sent_ms = -(10**15)
        self._behind_since: int | None = None
        self._requests: dict[int, tuple[bytes, int, int]] = {}  # height -> peer, sent, tries
        self._received: dict[int, tuple[bytes, Block, Commit]] = {}
        self._catching_up = False
        #: sha256 of the proposal and vote payloads whose message the core holds at height
        #: `_held_height`: a peer's re-gossip of it is dropped before decoding (see is_held)
        self._held: set[bytes] = set()
        self._held_height = 0
        self._digest_of: bytes | None = None
        self._digest = b""
        #: consensus payloads dropped by is_held (a copy of a message the core holds)
        self.copies_dropped = 0

    # ------------------------------------------------------------------ properties

    @property
    def height(self) -> int:
        """The last committed height (0 before block 1)."""
        return self._committed

    @property
    def consensus_height(self) -> int:
        """The height being decided."""
        return self._committed + 1

    @property
    def round(self) -> int:
        return self.core.round

    @property
    def is_validator(self) -> bool:
        """Our key is in the set that decides the next block."""
        if self.signer is None:
            return False
        vs = self.validator_set(self._committed + 1)
        return vs is not None and self.signer.public_key in vs

    @property
    def catching_up(self) -> bool:
        return self._catching_up

    def next_deadline(self) -> int | None:
        if not self._timeouts:
            return None
        return min(t.at_ms for t in self._timeouts.values())

    def block(self, height: int) -> tuple[Block, Commit] | None:
        b = self.store.get(KEY_BLOCK + be64(height))
        c = self.store.get(KEY_COMMIT + be64(height))
        if b is None or c is None:
            return None
        return Block.from_bytes(b), Commit.from_bytes(c)

    def height_of(self, block_hash: bytes) -> int | None:
        v = self.store.get(KEY_HASH + block_hash)
        return None if v is None else int.from_bytes(v, "big")

    def validator_set(self, height: int) -> ValidatorSet | None:
        """The set (with priorities) that decides `height`, for heights up to the next."""
        vs = self._vsets.get(height)
        if vs is not None:
            return vs
        raw = self.store.get(KEY_VSET + be64(height))
        if raw is None:
            return None
        vs = ValidatorSet.from_bytes(raw)
        if len(self._vsets) >= _VSET_CACHE:
            del self._vsets[min(self._vsets)]
        self._vsets[height] = vs
        return vs

    # ------------------------------------------------------------------ driving

    def start(self, now_ms: int) -> list[Action]:
        """Enter consensus at the height after the last committed one."""
        if self._started:
            return []
        self._started = True
        h = self._committed + 1
        if self.validator_set(h) is None:
            # genesis, or a crash between the block's batch and the next set's write
            if h == 1:
                self._store_vset(1, ValidatorSet.from_members(self.app.validators(1)))
            else:
                prev = self.validator_set(h - 1)
                if prev is None:
                    raise StoreCorrupt(f"no validator set stored for height {h - 1}")
                self._store_vset(h, self._next_set(prev, h))
        out: list[Action] = [self._status_broadcast(now_ms)]
        out += self._run(self.core.start_height(self._context(h), now_ms, now_ms), None, now_ms)
        return out

    def is_held(self, channel: int, payload: bytes) -> bool:
        """True when `payload` is byte for byte a proposal or vote this height's core holds:
        on_message would decode it only to return nothing (a duplicate), so drivers and
        on_message drop it first (counted in copies_dropped). Peers re-send their own
        messages on every tick until the height is decided (lossy links), so most consensus
        messages are such copies."""
        if channel != CONSENSUS or not self._held or self._held_height != self.core.height:
            return False
        if self._sha(payload) not in self._held:
            return False
        self.copies_dropped += 1
        return True

    def _sha(self, payload: bytes) -> bytes:
        """sha256 of `payload`, once for the driver's is_held and on_message's own check."""
        if payload is not self._digest_of:
            self._digest_of = payload
            self._digest = sha256(payload)
        return self._digest

    def _hold(self, payload: bytes, m: Proposal | Vote) -> None:
        """Remember `payload` if the core now holds exactly its message `m`."""
        core = self.core
        if m.height != core.height or not core.holds(m):
            return
        if self._held_height != core.height:
            self._held.clear()
            self._held_height = core.height
        if len(self._held) < MAX_HELD:
            self._held.add(self._sha(payload))

    def on_message(self, peer_id: bytes, channel: int, payload: bytes, now_ms: int) -> list[Action]:
        if self.is_held(channel, payload):
            return []
        try:
            msg = decode_message(channel, payload)
        except DecodeError as exc:
            return [Penalize(peer_id, f"malformed message: {exc}")]
        if isinstance(msg, ProposalMsg | VoteMsg):
            if not self._started:
                return []
            m = msg.proposal if isinstance(msg, ProposalMsg) else msg.vote
            cur = self.core.height
            if m.height != cur:
                if (
                    m.height
                    > max(cur, self._peers.get(peer_id, 0) + 1) + self.params.max_height_ahead
                ):
                    return [Penalize(peer_id, "message for a far-future height")]
                return []
            if isinstance(msg, ProposalMsg):
                acts = self._run(self.core.on_proposal(msg.proposal, now_ms), peer_id, now_ms)
            else:
                acts = self._run(self.core.on_vote(msg.vote, now_ms), peer_id, now_ms)
            self._hold(payload, m)
            return acts
        if isinstance(msg, EvidenceMsg):
            return self._on_evidence(peer_id, msg, payload)
        if isinstance(msg, StatusMsg):
            if msg.chain_id != self.chain_id:
                return [Penalize(peer_id, "wrong chain")]
            self._peers[peer_id] = msg.height
            return self._sync(now_ms)
        if isinstance(msg, BlockRequest):
            return self._serve(peer_id, msg)
        if isinstance(msg, BlockResponse):
            return self._on_block(peer_id, msg, now_ms)
        assert isinstance(msg, NoBlock)
        req = self._requests.get(msg.height)
        if req is not None and req[0] == peer_id:
            self._requests[msg.height] = (peer_id, -(10**15), req[2] + 1)  # retry elsewhere
            if self._peers.get(peer_id, 0) >= msg.height:
                self._peers[peer_id] = msg.height - 1
        return []

    def on_timeout(self, timeout: ScheduleTimeout | int, now_ms: int | None = None) -> list[Action]:
        """Fire `timeout` (a ScheduleTimeout this replica returned) at `now_ms`.

        Drivers that keep one timer at ``next_deadline()`` may instead call
        ``on_timeout(now_ms)`` (same as :meth:`on_deadline`): every due timeout fires."""
        if not isinstance(timeout, ScheduleTimeout):
            return self.on_deadline(timeout)
        assert now_ms is not None, "on_timeout(timeout, now_ms)"
        key = (timeout.height, timeout.round, timeout.step)
        if self._timeouts.get(key) == timeout:
            del self._timeouts[key]
        return self._run(self.core.on_timeout(timeout, now_ms), None, now_ms)

    def on_deadline(self, now_ms: int) -> list[Action]:
        """Fire every pending timeout due at `now_ms`, earliest first."""
        out: list[Action] = []
        while True:
            due = [t for t in self._timeouts.values() if t.at_ms <= now_ms]
            if not due:
                return out
            t = min(due, key=lambda x: (x.at_ms, x.height, x.round, x.step))
            out += self.on_timeout(t, now_ms)

    def on_tick(self, now_ms: int) -> list[Action]:
        out: list[Action] = []
        if self._started and now_ms >= self._next_status:
            self._next_status = now_ms + self.params.status_interval_ms
            if now_ms - self._status_sent_ms >= self.params.status_interval_ms:
                # a commit's status went out less than an interval ago (every height at one
                # block a second): the peers know our height already
                out.append(self._status_broadcast(now_ms))
            out += self._regossip()
        return out + self._sync(now_ms)

    def _regossip(self) -> list[Action]:
        """The core's messages worth sending again, each to the peers that may lack it: not
        to a peer whose status says it committed this height (block sync serves it), nor to
        one whose own votes show it holds what the message brings (Core.peer_has). At 21
        validators nine in ten re-gossiped copies were a polka's prevotes relayed to peers
        that had precommitted it. A message no peer is spared from goes as one broadcast."""
        h = self.core.height
        out: list[Action] = []
        for m in self.core.gossip():
            payload = encode_message(ProposalMsg(m) if isinstance(m, Proposal) else VoteMsg(m))
            targets = [
                p
                for p in self._connected
                if self._peers.get(p, 0) < h and not self.core.peer_has(p, m)
            ]
            if len(targets) == len(self._connected):
                out.append(Broadcast(CONSENSUS, payload))
                continue
            self.copies_skipped += len(self._connected) - len(targets)
            out += [SendTo(p, CONSENSUS, payload) for p in targets]
        return out

    def on_peer(self, peer_id: bytes, up: bool, now_ms: int) -> list[Action]:
        if up:
            self._connected[peer_id] = None
            return [SendTo(peer_id, BLOCKSYNC, encode_message(self._status()))]
        self._connected.pop(peer_id, None)
        self._peers.pop(peer_id, None)
        for h, (p, _, tries) in list(self._requests.items()):
            if p == peer_id:
                self._requests[h] = (p, -(10**15), tries + 1)
        return []

    # ------------------------------------------------------------------ core actions

    def _run(self, acts: list[CoreAction], peer: bytes | None, now_ms: int) -> list[Action]:
        """Turn core actions into driver actions, persisting signing state first."""
        out: list[Action] = []
        for a in acts:
            if isinstance(a, SignedVote):
                v = a.vote
                step = STEP_PREVOTE if v.type == PREVOTE else STEP_PRECOMMIT
                self._persist_signed(SignState(v.height, v.round, step, v.to_bytes()))
                out.append(Broadcast(CONSENSUS, encode_message(VoteMsg(v))))
            elif isinstance(a, SignedProposal):
                p = a.proposal
                self._persist_signed(SignState(p.height, p.round, STEP_PROPOSE, p.to_bytes()))
                out.append(Broadcast(CONSENSUS, encode_message(ProposalMsg(p))))
            elif isinstance(a, LockChanged):
                # the core's state now is this lock or a later one of the same height
                assert a.height == self.core.height and a.round <= self.core.locked_round
                self._persist_lock()
            elif isinstance(a, ScheduleTimeout):
                self._timeouts[(a.height, a.round, a.step)] = a
                out.append(a)
            elif isinstance(a, EvidenceFound):
                out.append(a)
                out.append(Broadcast(EVIDENCE, encode_message(EvidenceMsg(a.evidence))))
            elif isinstance(a, InvalidMessage):
                if peer is not None:
                    out.append(Penalize(peer, a.reason))
            elif isinstance(a, NeedBlock):
                req = BlockRequest(a.height, a.block_id)
                out.append(Broadcast(BLOCKSYNC, encode_message(req)))
            elif isinstance(a, Decided):
                out += self._commit_block(a.block, a.commit, now_ms, a.timing)
            else:  # pragma: no cover - a new action type the replica does not know
                raise AssertionError(f"unhandled core action {a!r}")
        core = self.core
        if core.valid_round >= 0 and (core.height, core.valid_round) != self._lock_key:
            # a new validValue without a new lock (its polka came after our prevote step):
            # keep it and its polka too, so a restart can still re-propose it [L15, L28]
            self._persist_lock()
        return out

    def _persist_lock(self) -> None:
        """Write the core's lock and valid value with their polkas (one record, synced).

        Bounded: at most two blocks (the valid one only if it differs) and one quorum of
        prevotes for each."""
        s = self.core.lock_state()
        lb = s.locked_value
        vb = s.valid_value
        rec = {
            "height": s.height,
            "round": s.locked_round,
            "block": None if lb is None else lb.to_bytes(),
            "valid_round": s.valid_round,
            "valid_block": None
            if vb is None or (lb is not None and vb.hash == lb.hash)
            else vb.to_bytes(),
            "polka": [v.to_bytes() for v in s.prevotes],
        }
        self.store.put(KEY_LOCK, encode(rec), sync=True)
        self._lock_key = (s.height, s.valid_round)

    def _persist_signed(self, s: SignState) -> None:
        """Durably record what we signed before it leaves the node (never sign twice).

        Besides the last message, the record keeps our votes of this height in the last two
        rounds: after a restart they are counted and gossiped again. Otherwise a validator
        that crashed between its prevote and its precommit has a prevote nobody received
        and none it may sign, and the round can stall without any timeout to end it."""
        hist = [m for m in self._signed_history if m[0] == s.height and m[1] >= s.round - 1]
        if s.step != STEP_PROPOSE:
            hist.append((s.height, s.round, s.message))
        self._signed_history = hist[-MAX_SIGNED_HISTORY:]
        rec = {
            "height": s.height,
            "round": s.round,
            "step": s.step,
            "message": s.message,
            "history": [m for _, _, m in self._signed_history],
        }
        self.store.put(KEY_LAST_SIGNED, encode(rec), sync=True)

    def _load_last_signed(self) -> SignState | None:
        raw = self.store.get(KEY_LAST_SIGNED)
        if raw is None:
            return None
        try:
            r = decode(raw)
            hist = tuple(r.get("history", ()))
            if not all(type(m) is bytes for m in hist):
                raise TypeError("history is not a list of bin")
            ls = SignState(r["height"], r["round"], r["step"], r["message"], hist)
        except (DecodeError, KeyError, TypeError) as exc:
            raise StoreCorrupt(f"bad last-signed record: {exc}") from None
        for m in hist:
            try:
                v = Vote.from_bytes(m)
            except DecodeError:
                continue
            self._signed_history.append((v.height, v.round, m))
        return ls

    def _load_lock(self) -> LockState | None:
        raw = self.store.get(KEY_LOCK)
        if raw is None:
            return None
        try:
            r = decode(raw)
            block = None if r["block"] is None else Block.from_bytes(r["block"])
            valid_round = r.get("valid_round", r["round"])
            vraw = r.get("valid_block")
            valid = block if vraw is None else Block.from_bytes(vraw)
            polka = tuple(Vote.from_bytes(m) for m in r.get("polka", ()))
            s = LockState(r["height"], r["round"], block, valid_round, valid, polka)
        except (DecodeError, KeyError, TypeError) as exc:
            raise StoreCorrupt(f"bad lock record: {exc}") from None
        self._lock_key = (s.height, s.valid_round)
        return s

    # ------------------------------------------------------------------ heights

    def _next_set(self, prev: ValidatorSet, h: int) -> ValidatorSet:
        """The set deciding `h` from the one deciding h - 1: membership from the app,
        priorities carried over and advanced one height (CometBFT's order: update, then
        increment)."""
        return prev.update(self.app.validators(h)).next_height()

    def _store_vset(self, h: int, vs: ValidatorSet) -> None:
        """Not synced: it is derived data (start() recomputes the next height's set when
        missing), and the next synced write (our next vote, the next commit) makes it
        durable first, since the store's log keeps writes in order; one fsync less a height."""
        self.store.put(KEY_VSET + be64(h), vs.to_bytes())
        self._vsets[h] = vs

    def _context(self, h: int, prev: tuple[Block, Commit] | None = None) -> HeightContext:
        """Height `h`'s context; `prev` is block h - 1 and its commit when the caller holds
        them (a commit: not read back from the store and decoded again)."""
        vs = self.validator_set(h)
        assert vs is not None, f"validator set of height {h} missing"
        if h == 1:
            return HeightContext(1, vs, None, self.app.genesis_hash(), 0, None)
        if prev is None:
            prev = self.block(h - 1)
        assert prev is not None, f"block {h - 1} missing"
        block, commit = prev
        return HeightContext(
            h, vs, self.validator_set(h - 1), block.hash, block.header.time_ms, commit
        )

    def _commit_block(
        self, block: Block, commit: Commit, now_ms: int, timing: HeightTiming | None = None
    ) -> list[Action]:
        """Persist block + commit + next validator set with the state in one batch, then
        enter the next height after the commit timeout.

        Round 0 of the next height always starts from a timeout, never inside this call:
        `now_ms` predates the commit (a large block's commit takes a while), and a round
        started with it would have its propose deadline early by that long, so a validator
        could prevote nil on a proposal that arrived in time."""
        h = block.height
        assert h == self._committed + 1, "blocks are committed in order"
        vs = self.validator_set(h)
        assert vs is not None
        batch = Batch()
        batch.put(KEY_BLOCK + be64(h), block.to_bytes())
        batch.put(KEY_COMMIT + be64(h), commit.to_bytes())
        batch.put(KEY_HASH + block.hash, be64(h))
        hd = block.header
        self.app.commit(
            h, hd.time_ms, hd.proposer, list(block.txs), block.evidence, hd.state_root, extra=batch
        )
        self._committed = h
        # The set for h + 1 was fixed by the election at the end of h - 1, so asking after
        # the commit is safe; it is derived data (start() recomputes it after a crash).
        self._store_vset(h + 1, self._next_set(vs, h + 1))
        self.core.block_committed(block)
        self._received.pop(h, None)
        self._requests.pop(h, None)
        self._behind_since = None
        for key in [k for k in self._timeouts if k[0] <= h]:
            del self._timeouts[key]
        out: list[Action] = [Committed(h, block, commit, timing), self._status_broadcast(now_ms)]
        self._update_catching_up()
        ctx = self._context(h + 1, (block, commit))
        # commit_ms is the target block interval, counted from the committed block's time
        # (its proposer's clock), so the time spent executing and voting on a large block
        # is not added on top of it; never later than commit_ms from now (liveness bound),
        # never before now.
        target = hd.time_ms + self.params.commit_ms
        start_at = (
            now_ms
            if self._catching_up
            else min(now_ms + self.params.commit_ms, max(now_ms, target))
        )
        out += self._run(self.core.start_height(ctx, start_at, now_ms, wait=True), None, now_ms)
        return out

    # ------------------------------------------------------------------ evidence

    def _on_evidence(self, peer: bytes, msg: EvidenceMsg, payload: bytes) -> list[Action]:
        ev = msg.evidence
        if not self._committed + 1 - self.params.max_evidence_age <= ev.height:
            return []  # too old to matter; not the sender's fault
        if ev.height > self._committed + 1:
            return []
        vs = self.validator_set(ev.height)
        if vs is None:
            return []
        try:
            ev.verify(self.chain_id, vs)
        except InvalidEvidence as exc:
            return [Penalize(peer, f"invalid evidence: {exc.reason}")]
        if self.core.add_evidence(ev):
            return [EvidenceFound(ev), Broadcast(EVIDENCE, payload)]
        return []

    # ------------------------------------------------------------------ block sync

    def _status(self) -> StatusMsg:
        return StatusMsg(self.chain_id, self._committed)

    def _status_broadcast(self, now_ms: int) -> Broadcast:
        """Our height to every peer: at each commit, and on the tick when no commit's went
        out for a status interval (each peer hears it at least once an interval)."""
        self._status_sent_ms = now_ms
        return Broadcast(BLOCKSYNC, encode_message(self._status()))

    def _update_catching_up(self) -> None:
        best = max(self._peers.values(), default=0)
        self._catching_up = best > self._committed + 1
        self.core.passive = self._catching_up

    def _sync(self, now_ms: int) -> list[Action]:
        """Request missing committed blocks from peers that announced them.

        One block behind is normal (a peer committed a moment earlier): we only fetch it if
        consensus has not delivered it within a status interval."""
        # A peer that did not answer in time loses its claim until its next status: a peer
        # announcing heights it cannot serve must not keep us passive ("catching up").
        for h, (p, sent, tries) in list(self._requests.items()):
            if now_ms - sent >= self.params.sync_timeout_ms and sent >= 0:
                if self._peers.get(p, 0) >= h:
                    self._peers[p] = h - 1
                self._requests[h] = (p, -(10**15), tries)
        self._update_catching_up()
        best = max(self._peers.values(), default=0)
        if best <= self._committed:
            self._behind_since = None
            return []
        if self._behind_since is None:
            self._behind_since = now_ms
        if not self._catching_up and now_ms - self._behind_since < self.params.status_interval_ms:
            return []
        out: list[Action] = []
        last = min(best, self._committed + self.params.sync_window)
        for h in range(self._committed + 1, last + 1):
            if h in self._received:
                continue
            req = self._requests.get(h)
            if req is not None and now_ms - req[1] < self.params.sync_timeout_ms:
                continue
            holders = sorted(p for p, ph in self._peers.items() if ph >= h)
            if not holders:
                continue
            tries = 0 if req is None else req[2] + 1
            peer = holders[(h + tries) % len(holders)]
            self._requests[h] = (peer, now_ms, tries)
            out.append(SendTo(peer, BLOCKSYNC, encode_message(BlockRequest(h))))
        return out

    def _serve(self, peer: bytes, req: BlockRequest) -> list[Action]:
        if req.height <= self._committed:
            got = self.block(req.height)
            if got is not None:
                wire = encode_message(BlockResponse(*got))
                return [SendTo(peer, BLOCKSYNC, wire)]
        elif req.block_id is not None and req.height == self.core.height:
            p = self.core.block_by_id(req.block_id)
            if p is not None:
                return [SendTo(peer, CONSENSUS, encode_message(ProposalMsg(p)))]
        return [SendTo(peer, BLOCKSYNC, encode_message(NoBlock(req.height)))]

    def _on_block(self, peer: bytes, msg: BlockResponse, now_ms: int) -> list[Action]:
        h = msg.block.height
        if h <= self._committed or h > self._committed + self.params.sync_window:
            return []
        if h not in self._requests and h != self._committed + 1:
            return []  # unsolicited and not immediately useful
        self._requests.pop(h, None)
        self._received[h] = (peer, msg.block, msg.commit)
        out: list[Action] = []
        while self._committed + 1 in self._received and self._started:
            hh = self._committed + 1
            p, block, commit = self._received.pop(hh)
            reason = self._verify_synced(block, commit)
            if reason is not None:
                out.append(Penalize(p, f"bad synced block: {reason}"))
                break
            out += self._commit_block(block, commit, now_ms)
        return out

    def _verify_synced(self, block: Block, commit: Commit) -> str | None:
        h = block.height
        if commit.height != h or commit.block_id != block.hash:
            return "commit is for another block"
        vs = self.validator_set(h)
        assert vs is not None
        try:
            commit.verify(self.chain_id, vs)
        except InvalidCommit as exc:
            return exc.reason
        assert self.core.height == h
        return self.core.check_block(block)
