"""The mempool: admitted transactions waiting for a block (PROTOCOL.md section 2).

Admission runs checks 1-10 through `state.tx.check_tx` against the latest committed state,
then check 11 (the configured limits). Pending transactions are indexed by hash and by
(sender, nonce), so that:

- duplicates (same hash, or same sender and nonce) are found in O(1);
- the fees a sender has pending are a running sum, not a scan;
- `reap` walks each sender's nonces upward from the account nonce, round-robin across senders
  in arrival order: a block never holds a nonce gap for a sender, and no global sort is done
  per block (cost is linear in what is reaped plus the number of senders);
- after a commit only the senders the block touched are re-read from state (a sender's
  balance and nonce only go down/up through its own transactions), so the update costs
  per block what the block holds, not what the mempool holds.

Signature verification is the expensive step (~50 µs each); `is_verified` exposes a bounded
cache of hashes whose signature this node has already checked, which block execution receives
as `verified=...`, so a transaction is verified once per node, at admission or at execution;
`known(wire)` hands execution the pending Tx itself, so it is not decoded twice either.

Pinning. A transaction whose nonce is beyond a gap ("future": the sender's nonce n is not
pending) cannot be reaped until the gap fills, and section 2 keeps it after every block. Left
unbounded, such transactions fill `max_txs` and the node refuses every executable one. The
policy here: admission (check 11, `mempool_full`) bounds future transactions, per sender
(`max_future_per_sender`) and in total (`max_future_txs`, a fraction of `max_txs`), so at
least `max_txs - max_future_txs` slots always remain for executable transactions. Gaps are
still admitted within those caps (section 2 forbids refusing them outright), and a future
transaction becomes executable, and reapable, as soon as its gap is filled. A gap that is
never filled would pin its transactions (and their slots) forever, so a transaction still
behind a gap `future_lifetime_blocks` blocks after its admission is evicted: the count is of
`update` calls (committed blocks this mempool saw), so no clock is read.

Withheld from gossip. A client's tx admitted behind a nonce gap is not gossiped until it
becomes executable here (`withheld`; `take_promoted` hands the driver those whose gap filled,
by a client's tx, a peer's copy or a committed block), as Ethereum's txpool keeps its queued
txs to itself: no peer can execute such a copy either, and each one took a slot of the
peer's `max_future_txs`, shared by all senders. A client that sends a sender's later nonces
while an earlier one is refused mempool_full (what a pipelining client does under overload)
made its node gossip only gapped copies; 4 validators under bench/throughput.py --overload 2
refused 39,000-49,000 such copies each in a 30 s window at that bound, each node then held different
txs, and every block carried txs the other validators had to decode and check while judging
it. The gap filler itself goes out first, so a peer receives the txs in nonce order.

Backlog. Check 11 also bounds the pending txs by `backlog_blocks` times the mean size of the
last committed blocks (never below max_block_txs): more only waits longer, and admitting it
takes the CPU the chain needs to commit (`backlog_cap`). A burst may fill `backlog_blocks`;
once clients were refused at the bound in each of SUSTAINED_BLOCKS blocks in a row the queue
is standing (sustained overload), and the bound is `sustained_backlog_blocks` until a block
passes without such a refusal. The bound applies to clients' offers
only; a peer's gossiped tx is bounded by max_txs alone (`peer=True`): a peer's copy has been
admitted by a node already, refusing it after checks 1-10 wastes its decoding and signature
check, and it leaves each node's mempool holding its own clients' txs only, so N nodes
queued N times the bound, each tx proposable by its node alone.

Pure: no I/O, no clock, no threads. The node's event loop and the simulator drive the same
class (the simulator offers it generated transactions over a simulated network).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from state import codec
from state import tx as txmod
from state.codec import DecodeError
from state.crypto import sha256
from state.errors import Code, TxError
from state.params import ChainParams
from state.recent import RecentSet
from state.tx import AdmissionView, CheckResult, Tx, check_state, decode_tx


@dataclass(frozen=True, slots=True)
class Decoded:
    """A transaction that passed admission checks 1-5 (`Mempool.prepare`), the chain params
    it was decoded under, and whether this node already knows its signature is good."""

    tx: Tx
    params: ChainParams
    verified: bool


@dataclass(frozen=True, slots=True)
class _Refused:
    """A tx refused mempool_full (checks 1-10 passed), kept for its client's re-offer: the
    decoded tx, and the answer with the mempool's epoch and block count it was given at."""

    decoded: Decoded
    epoch: int
    answer: CheckResult
    peer: bool  # the offer came from a peer (bounded by max_txs only, not the backlog)
    blocks: int  # Mempool._blocks at the refusal: a block changes what checks 7-10 read
    #: the pending counts [lo, hi) in which check 11's first failing bound is the one that
    #: gave `answer` (max_txs, or the backlog bound below it); (0, 0) for the other bounds
    counts: tuple[int, int]


@dataclass(frozen=True, slots=True)
class MempoolLimits:
    """Every bound of the mempool, with the one set of defaults: node/config.py `[mempool]`
    takes its defaults from here and converts to this with `MempoolConfig.limits()`."""

    max_txs: int = 20_000  # pending transactions
    max_bytes: int = 32 * 1024 * 1024  # sum of pending wire sizes
    verified_cache: int = 50_000  # hashes whose signature is known good
    max_future_txs: int = 2_500  # pending txs behind a nonce gap, all senders together
    max_future_per_sender: int = 16  # pending txs behind a nonce gap, one sender
    committed_cache: int = 50_000  # hashes of recently committed txs (late gossip copies)
    future_lifetime_blocks: int = 100  # blocks a tx may stay pending behind a nonce gap
    retry_cache: int = 10_000  # decoded txs refused mempool_full, for a client's re-offer
    backlog_blocks: int = 3  # pending txs beyond this many recent blocks' worth: mempool_full
    #: the backlog bound in blocks once clients were refused at it in each of the last
    #: SUSTAINED_BLOCKS blocks (a standing queue, not a burst); 0 or >= backlog_blocks: none
    sustained_backlog_blocks: int = 2
    #: the share of max_txs (percent) a client's tx never fills while the backlog bound is on:
    #: room for peers' gossiped copies, so every validator holds the same transactions
    peer_reserve_pct: int = 25

    def __post_init__(self) -> None:
        if (
            self.max_txs < 1
            or self.max_bytes < 1
            or self.verified_cache < 1
            or self.committed_cache < 1
        ):
            raise ValueError("mempool limits must be >= 1")
        if (
            self.max_future_txs < 0
            or self.max_future_per_sender < 0
            or self.retry_cache < 0
            or self.backlog_blocks < 0
            or self.sustained_backlog_blocks < 0
        ):
            raise ValueError(
                "mempool future-transaction limits, retry_cache, backlog_blocks and "
                "sustained_backlog_blocks must be >= 0"
            )
        if self.future_lifetime_blocks < 1:
            raise ValueError("mempool future_lifetime_blocks must be >= 1")
        if not 0 <= self.peer_reserve_pct <= 90:
            raise ValueError("mempool peer_reserve_pct must be within 0..90")


#: the committed blocks whose sizes bound the backlog (`MempoolLimits.backlog_blocks`)
RECENT_BLOCKS = 16
#: no upper end of the pending counts a max_txs refusal holds in (`_Refused.counts`)
_NO_CAP = 1 << 62
#: committed blocks in a row during each of which a client was refused at the backlog bound:
#: from then on the bound is `sustained_backlog_blocks` (see Mempool.backlog_cap)
SUSTAINED_BLOCKS = 3


class _Sender:
    """One sender's pending transactions by nonce, with the account state they build on."""

    __slots__ = ("addr", "txs", "fees", "base", "ready", "future")

    def __init__(self, base: int, addr: bytes) -> None:
        self.addr = addr
        self.txs: dict[int, Tx] = {}
        self.fees = 0
        self.base = base  # account nonce at the last committed height read
        self.ready = 0  # txs at nonces base, base + 1, ... with no gap: executable in order
        self.future = 0  # the other pending txs: behind a gap (as last counted)


class Mempool:
    """Pending transactions of one node. Not thread-safe: one driver (the node's event loop,
    or the simulator) owns it."""

    def __init__(
        self, view: Callable[[], AdmissionView], limits: MempoolLimits | None = None
    ) -> None:
        self._view = view
        self.limits = limits or MempoolLimits()
        self._by_hash: dict[bytes, Tx] = {}
        self._senders: dict[bytes, _Sender] = {}  # insertion order = fairness order of reap
        self._bytes = 0
        self._future = 0  # sum of _Sender.future
        self._blocks = 0  # committed blocks seen (update calls): the clock of expiry
        self._admitted: dict[bytes, int] = {}  # tx hash -> self._blocks at its admission
        self._gapped: set[bytes] = set()  # senders with future > 0
        self._verified: RecentSet[bytes] = RecentSet(self.limits.verified_cache)
        self._committed: RecentSet[bytes] = RecentSet(self.limits.committed_cache)
        # wire -> a tx refused mempool_full after checks 1-10 passed (see _keep_for_retry);
        # keyed by the bytes, not their sha256, so a re-offer is found before it is hashed
        self._retry: OrderedDict[bytes, _Refused] = OrderedDict()
        #: bumped by every change of the pending set and by every committed block: while it
        #: holds, every answer of checks 7-11 holds too (see _still_refused)
        self._epoch = 0
        #: sender -> the epoch of its pending set's last change since the last block: while a
        #: sender's txs and the committed state hold, so do checks 7-10 of its other txs
        self._changed: dict[bytes, int] = {}
        #: the senders of every tx of the last block `update` saw (None: one could not be
        #: read, or no block yet): a count-bound refusal of a sender not among them, with
        #: its pending txs unchanged, is answered again by check 11 alone (_still_refused)
        self._block_senders: set[bytes] | None = None
        self._recent: deque[int] = deque(maxlen=RECENT_BLOCKS)  # txs of the last blocks
        self._backlog = 0  # backlog_blocks times their mean (see backlog_cap)
        self._refused_backlog = False  # a client was refused at the backlog bound this block
        self._sustained = 0  # blocks in a row that refused a client at the backlog bound
        #: the chain params pending txs were admitted under (None until the first admission)
        self._params: ChainParams | None = None
        #: clients' txs pending behind a nonce gap: not gossiped until executable (module doc)
        self._withheld: set[bytes] = set()
        #: withheld txs that became executable since the last take_promoted(), nonce order
        self._promoted: list[Tx] = []
        #: refused txs dropped from the retry cache to keep its bound (oldest first): a
        #: client's re-offer of one is decoded and its signature checked again (metrics)
        self.retry_evicted = 0

    # ------------------------------------------------------------------ queries

    def __len__(self) -> int:
        return len(self._by_hash)

    def __contains__(self, tx_hash: bytes) -> bool:
        return tx_hash in self._by_hash

    def __iter__(self) -> Iterator[Tx]:
        """The pending transactions, in admission order (a snapshot: safe to mutate after)."""
        return iter(list(self._by_hash.values()))

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def get(self, tx_hash: bytes) -> Tx | None:
        return self._by_hash.get(tx_hash)

    @property
    def future_count(self) -> int:
        """Pending transactions behind a nonce gap (not reapable until it fills)."""
        return self._future

    def withheld(self, tx_hash: bytes) -> bool:
        """True for a client's pending tx behind a nonce gap: the driver does not gossip it
        until `take_promoted` returns it (see the module docstring)."""
        return tx_hash in self._withheld

    def take_promoted(self) -> list[Tx]:
        """The withheld txs that became executable since the last call, each sender's in
        nonce order, still pending: the driver gossips them now."""
        out, self._promoted = self._promoted, []
        by_hash = self._by_hash
        return [t for t in out if t.hash in by_hash]

    def known(self, wire: bytes) -> Tx | None:
        """The pending Tx of exactly these bytes (decoded, signature checked), else None."""
        tx = self._by_hash.get(sha256(wire))
        return tx if tx is not None and tx.wire == wire else None

    def mark_verified(self, wires: Iterable[bytes]) -> None:
        """Remember txs whose signatures a valid block proved (execution checked them): a
        gossip copy arriving between validation and commit is then not verified again."""
        for wire in wires:
            self._remember_verified(sha256(wire))

    def remember_verified(self, hashes: Iterable[bytes]) -> None:
        """Remember txs whose signatures this node checked elsewhere (node/workers.py)."""
        for h in hashes:
            self._remember_verified(h)

    def is_verified(self, tx_hash: bytes) -> bool:
        """True when this node already checked the signature of `tx_hash` (cache hit)."""
        return tx_hash in self._verified

    def pending_fees(self, sender: bytes) -> int:
        s = self._senders.get(sender)
        return s.fees if s is not None else 0

    def pending_nonce(self, sender: bytes, account_nonce: int) -> int:
        """The account nonce plus the number of consecutive pending nonces from it."""
        s = self._senders.get(sender)
        n = account_nonce
        if s is None:
            return n
        while n in s.txs:
            n += 1
        return n

    # ------------------------------------------------------------------ admission

    def _is_duplicate(self, tx: Tx) -> bool:
        if tx.hash in self._by_hash:
            return True
        s = self._senders.get(tx.sender)
        return s is not None and tx.nonce in s.txs

    def _remember_verified(self, tx_hash: bytes) -> None:
        self._verified.add(tx_hash)

    def add(self, wire: bytes, *, peer: bool = False) -> CheckResult:
        """Admission checks 1-11; on success the transaction is pending. Never raises on bytes.
        `peer`: a peer's gossiped copy, which check 11's backlog bound does not apply to."""
        pre = self.prepare(wire)
        if type(pre) is CheckResult:
            return pre
        assert type(pre) is Decoded
        again = self._still_refused(pre, peer)
        if again is not None:
            return again
        return self._admit(pre, pre.verified or txmod.verify_tx(pre.tx), self._view(), peer)

    def prepare(self, wire: bytes) -> CheckResult | Decoded:
        """The first half of `add`: the final answer when it needs no signature (a pending or
        committed copy, checks 1-5 failed), else the decoded tx for `admit_checked`.

        Split so that a driver can check the signature elsewhere (node/workers.py) between
        the two halves; nothing is remembered here, so a `Decoded` may be dropped."""
        kept = self._retry.get(wire)
        # a kept tx's hash is sha256 of these very bytes: a re-offer is not hashed again
        tx_hash = sha256(wire) if kept is None else kept.decoded.tx.hash
        early = self._known_copy(tx_hash)
        if early is not None:
            return early
        view = self._view()
        if kept is not None:
            pre = kept.decoded
            if pre.params is view.params:
                return pre  # the same bytes refused mempool_full: checks 1-6 hold as they did
        try:
            tx = decode_tx(wire, chain_id=view.chain_id, params=view.params, tx_hash=tx_hash)
        except TxError as exc:
            return CheckResult(exc.code, exc.log, None)
        return Decoded(tx, view.params, self.is_verified(tx.hash))

    def admit_checked(self, pre: Decoded, sig_ok: bool, *, peer: bool = False) -> CheckResult:
        """The second half of `add`: checks 6 (its answer `sig_ok` computed elsewhere) to 11
        against the state now, so the result is exactly what `add` would answer now."""
        early = self._known_copy(pre.tx.hash)
        if early is not None:
            return early
        again = self._still_refused(pre, peer)
        if again is not None:
            return again
        view = self._view()
        if view.params is not pre.params:  # a block changed the chain params meanwhile
            try:
                decode_tx(pre.tx.wire, chain_id=view.chain_id, params=view.params)
            except TxError as exc:
                return CheckResult(exc.code, exc.log, None)
        return self._admit(pre, sig_ok or pre.verified, view, peer)

    def _still_refused(self, pre: Decoded, peer: bool) -> CheckResult | None:
        """The mempool_full answer given to these bytes, when nothing checks 7-11 read has
        changed since: no tx became pending or left, no block committed (`update` is called
        for each, before the next admission), so the same checks would end the same way.
        A client re-offering a refused tx until there is room costs no state read then. Only
        for an offer from the same side (a client's and a peer's are bounded differently).

        A refusal at a count bound (max_txs, the backlog) also holds while other senders' txs
        come and go: checks 7-10 read the committed state (no block since) and this sender's
        pending txs (unchanged since), and check 11's first failing bound is the same while
        the pending count stays in `counts` (under overload every admission moves the epoch,
        and each re-offer would read the state again: the account and the committed index).

        Across one block that held no tx of the sender and left its pending txs unchanged,
        under the same chain params, such a refusal asks check 11 alone again (its bound may
        have moved with the block, and the answer names the bound of now): each refused tx's
        first re-offer after each block read the state again before."""
        kept = self._retry.get(pre.tx.wire)
        if kept is None or kept.decoded is not pre or kept.peer is not peer:
            return None
        if kept.epoch == self._epoch:
            return kept.answer
        lo, hi = kept.counts
        sender = pre.tx.sender
        if kept.blocks == self._blocks:
            if lo <= len(self._by_hash) < hi and self._changed.get(sender, -1) <= kept.epoch:
                return kept.answer
            return None
        if (
            hi
            and kept.blocks == self._blocks - 1
            and sender not in self._changed
            and self._block_senders is not None
            and sender not in self._block_senders
        ):
            # refused at a count bound before the last block, which held no tx of this
            # sender and left its pending txs as they were: checks 7-10 answer as they did
            # (its nonce is unchanged and its balance can only have grown: a block debits
            # only the senders of its txs), so only check 11 is asked again, now
            view = self._view()
            if view.params is pre.params:
                self._remember_verified(pre.tx.hash)  # as _admit does before check 7
                return self._count_bound(pre.tx, view, peer)
        return None

    def _known_copy(self, tx_hash: bytes) -> CheckResult | None:
        pending = self._by_hash.get(tx_hash)
        if pending is not None:
            # the same bytes passed checks 1-7 when admitted (they do not depend on state):
            # answer check 8 without decoding again (gossip delivers most txs more than once)
            return CheckResult(Code.DUPLICATE, "transaction already pending", pending)
        if tx_hash in self._committed:
            # gossip copies still in flight when the tx committed: a block holds only txs
            # that pass checks 1-7, so the full checks would also end at check 8
            return CheckResult(Code.DUPLICATE, "transaction already committed", None)
        return None

    def _admit(self, pre: Decoded, sig_ok: bool, view: AdmissionView, peer: bool) -> CheckResult:
        tx = pre.tx
        if not sig_ok:
            return CheckResult(Code.BAD_SIGNATURE, "signature does not verify", tx)
        self._remember_verified(tx.hash)
        if self._params is None:
            self._params = view.params
        res = check_state(view, tx, is_duplicate=self._is_duplicate, pending_fees=self.pending_fees)
        if res.code is not Code.OK:
            return res
        bound = self._count_bound(tx, view, peer)
        if bound is not None:
            return bound
        lim = self.limits
        if self._bytes + len(tx.wire) > lim.max_bytes:
            return self._refuse_full(f"pending bytes would exceed {lim.max_bytes}", tx, view, peer)
        s = self._senders.get(tx.sender)
        if s is None:
            s = _Sender(view.account(tx.sender).nonce, tx.sender)
        gapped = tx.nonce != s.base + s.ready
        if gapped:  # behind a gap (check 9 gave nonce >= base)
            if s.future >= lim.max_future_per_sender:
                return self._refuse_full(
                    f"sender has {s.future} transactions pending behind a nonce gap",
                    tx,
                    view,
                    peer,
                )
            if self._future >= lim.max_future_txs:
                return self._refuse_full(
                    f"{self._future} transactions pending behind nonce gaps", tx, view, peer
                )
        if self._retry:
            self._retry.pop(tx.wire, None)
        self._senders.setdefault(tx.sender, s)
        s.txs[tx.nonce] = tx
        s.fees += tx.fee
        self._by_hash[tx.hash] = tx
        self._admitted[tx.hash] = self._blocks
        self._bytes += len(tx.wire)
        self._epoch += 1
        self._changed[tx.sender] = self._epoch
        if gapped and not peer:
            self._withheld.add(tx.hash)
        self._recount(s)
        return res

    def _count_bound(self, tx: Tx, view: AdmissionView, peer: bool) -> CheckResult | None:
        """Check 11's count bounds, in `_admit`'s order (max_txs, then a client's backlog
        bound): the refusal (kept for a re-offer), or None when neither refuses."""
        lim = self.limits
        if len(self._by_hash) >= lim.max_txs:
            return self._refuse_full(
                f"{lim.max_txs} transactions pending", tx, view, peer, (lim.max_txs, _NO_CAP)
            )
        if not peer:
            backlog = self.backlog_cap(view.params)
            if len(self._by_hash) >= backlog:
                self._refused_backlog = True
                why = (
                    f"max_txs less the {lim.peer_reserve_pct} % kept for peers' copies"
                    if backlog == self.client_max_txs()
                    else f"{self.backlog_blocks_now()} times the mean of the last "
                    f"{RECENT_BLOCKS} blocks, or max_block_txs"
                )
                return self._refuse_full(
                    f"{backlog} transactions pending: {why}",
                    tx,
                    view,
                    peer,
                    (backlog, lim.max_txs),
                )
        return None

    def backlog_cap(self, params: ChainParams) -> int:
        """The pending txs check 11 allows a client's offer now (within `max_txs`; a peer's
        copy is bounded by max_txs only, see the module docstring): `backlog_blocks` times
        the mean of the last RECENT_BLOCKS committed blocks (the block being agreed on stays
        pending until it commits: 3 hold it, the next one and a late one), never less than
        one block of max_block_txs (a burst on an idle chain still fills a block). Beyond it
        a tx only waits longer, while admitting it costs every node CPU now: under overload,
        the CPU the chain needs to commit (a backlog of 10,000 per node cost 20 % of the
        commits). Once clients were refused at it during each of the last SUSTAINED_BLOCKS
        blocks, the queue stands: `sustained_backlog_blocks` (fewer) then, until a block
        passes without such a refusal. Never above `client_max_txs()`: the rest of max_txs is
        for peers' copies. The metric huzhu_mempool_backlog_cap_txs shows it."""
        lim = self.limits
        if not lim.backlog_blocks:
            return lim.max_txs
        return min(self.client_max_txs(), max(params.max_block_txs, self._backlog))

    def client_max_txs(self) -> int:
        """The most pending txs the backlog bound lets a client's tx join: max_txs less
        `peer_reserve_pct`. When a client's txs could fill max_txs, under overload each node
        filled its mempool with its own clients' txs and refused its peers' copies: N
        different mempools, a block's txs decoded again by every other validator, and the
        clients of a node proposing 1 block in N waiting N blocks (4 validators under
        bench/throughput.py --overload 2, which then sent 1.3-1.9x: max_txs 10,000 reached by
        the client bound: 0.85 of the saturating rate, a p99 of 11 s; with room for peers'
        copies, max_txs 20,000: 0.94-0.97, 5-6 s)."""
        lim = self.limits
        return max(1, lim.max_txs - lim.max_txs * lim.peer_reserve_pct // 100)

    def backlog_blocks_now(self) -> int:
        """The blocks' worth the backlog bound allows now: `backlog_blocks`, or
        `sustained_backlog_blocks` (when fewer, not 0) after SUSTAINED_BLOCKS blocks in a row
        that refused a client at the bound."""
        lim = self.limits
        if 0 < lim.sustained_backlog_blocks < lim.backlog_blocks:
            if self._sustained >= SUSTAINED_BLOCKS:
                return lim.sustained_backlog_blocks
        return lim.backlog_blocks

    def _refuse_full(
        self,
        log: str,
        tx: Tx,
        view: AdmissionView,
        peer: bool,
        counts: tuple[int, int] = (0, 0),
    ) -> CheckResult:
        """Check 11's refusal. The tx passed checks 1-10 under `view.params`: it is kept so
        that a client offering the same bytes again (what a client does with mempool_full)
        skips decoding and the signature check (`prepare` returns it). Checks 7-11 run again
        on the next offer unless nothing they read has changed since (`_still_refused`);
        `counts`: the pending counts in which the same bound refuses first (a count bound)."""
        res = CheckResult(Code.MEMPOOL_FULL, log, tx)
        cap = self.limits.retry_cache
        if cap:
            self._keep_for_retry(tx, view, cap, res, peer, counts)
        return res

    def _keep_for_retry(
        self,
        tx: Tx,
        view: AdmissionView,
        cap: int,
        res: CheckResult,
        peer: bool,
        counts: tuple[int, int],
    ) -> None:
        retry = self._retry
        kept = retry.get(tx.wire)
        pre = kept.decoded if kept is not None and kept.decoded.params is view.params else None
        retry[tx.wire] = _Refused(
            pre or Decoded(tx, view.params, True), self._epoch, res, peer, self._blocks, counts
        )
        retry.move_to_end(tx.wire)
        while len(retry) > cap:
            retry.popitem(last=False)
            self.retry_evicted += 1

    def _recount(self, s: _Sender) -> None:
        """Re-derive the sender's ready/future split (after its txs or base changed).

        Bounded by the nonce window (64 pending nonces per sender at most)."""
        ready = 0
        txs = s.txs
        n = s.base
        while n in txs:
            ready += 1
            n += 1
        future = len(txs) - ready
        if s.future and self._withheld:
            self._promote(s, ready)
        self._future += future - s.future
        s.ready = ready
        s.future = future
        if future:
            self._gapped.add(s.addr)
        else:
            self._gapped.discard(s.addr)

    def _promote(self, s: _Sender, ready: int) -> None:
        """Move the sender's withheld txs now among its `ready` executable ones to the
        promoted list (only a sender that had txs behind a gap can have any). The list holds
        at most max_txs: a driver that never drains it leaves the rest to this node's own
        proposals (they are pending and executable, only not gossiped)."""
        withheld = self._withheld
        promoted = self._promoted
        txs = s.txs
        for n in range(s.base, s.base + ready):
            tx = txs[n]
            if tx.hash in withheld:
                withheld.remove(tx.hash)
                if len(promoted) < self.limits.max_txs:
                    promoted.append(tx)

    # ------------------------------------------------------------------ block building

    def reap(self, max_txs: int, max_bytes: int) -> list[bytes]:
        """Up to `max_txs` wires totalling at most `max_bytes`, each sender's nonces consecutive
        from its account nonce, senders interleaved round-robin in arrival order.

        A sender whose next nonce is missing (a gap) or whose next transaction does not fit
        the byte budget stops contributing: anything after it could not execute anyway.
        """
        out: list[bytes] = []
        if max_txs <= 0 or max_bytes <= 0:
            return out
        budget = max_bytes
        # (sender state, next nonce) for senders whose first nonce is pending
        active = [(s, s.base) for s in self._senders.values() if s.base in s.txs]
        while active and len(out) < max_txs:
            still: list[tuple[_Sender, int]] = []
            for s, n in active:
                tx = s.txs.get(n)
                if tx is None or len(tx.wire) > budget:
                    continue
                out.append(tx.wire)
                budget -= len(tx.wire)
                if len(out) >= max_txs:
                    return out
                still.append((s, n + 1))
            active = still
        return out

    # ------------------------------------------------------------------ after a commit

    def _remove(self, s: _Sender, tx: Tx) -> None:
        del s.txs[tx.nonce]
        s.fees -= tx.fee
        del self._by_hash[tx.hash]
        del self._admitted[tx.hash]
        self._bytes -= len(tx.wire)
        if self._withheld:
            self._withheld.discard(tx.hash)
        self._epoch += 1
        self._changed[s.addr] = self._epoch

    def _expire(self, dropped: list[Tx]) -> None:
        """Evict the transactions behind a nonce gap admitted `future_lifetime_blocks` or more
        blocks ago. Costs what the gapped senders hold (at most 64 nonces each)."""
        oldest = self._blocks - self.limits.future_lifetime_blocks
        for sender in list(self._gapped):
            s = self._senders.get(sender)
            if s is None:
                self._gapped.discard(sender)
                continue
            first_gap = s.base + s.ready
            expired = [
                t for n, t in s.txs.items() if n > first_gap and self._admitted[t.hash] <= oldest
            ]
            for t in expired:
                dropped.append(t)
                self._remove(s, t)
            self._recount(s)
            if not s.txs:
                self._gapped.discard(sender)
                del self._senders[sender]

    def update(
        self, block_txs: Iterable[bytes], hashes: Sequence[bytes] | None = None
    ) -> tuple[list[Tx], list[Tx]]:
        """Apply a committed block: drop its transactions, then for every sender it touched
        drop pending txs below the new account nonce and, from the highest nonce down, those
        the balance can no longer pay the fees of. Returns (included, dropped): the pending
        transactions the block carried, and those evicted as stale (gossip forgets both).

        Call once per committed block, after the state is committed (the view is read here).
        `hashes`: sha256 of each of `block_txs`, in order, when the caller has them (execution
        does): each tx is then not hashed again here.
        """
        touched: set[bytes] = set()
        included: list[Tx] = []
        dropped: list[Tx] = []
        committed = self._committed
        self._blocks += 1
        self._epoch += 1  # the committed state changed: every kept answer is stale
        self._changed.clear()  # (a kept answer of an earlier block is never replayed as is)
        senders: set[bytes] | None = set()  # of every tx of the block (None: one unknown)
        if not isinstance(block_txs, list | tuple):
            block_txs = list(block_txs)
        recent = self._recent
        recent.append(len(block_txs))
        self._sustained = self._sustained + 1 if self._refused_backlog else 0
        self._refused_backlog = False
        self._backlog = self.backlog_blocks_now() * sum(recent) // len(recent)
        if hashes is None or len(hashes) != len(block_txs):
            hashes = [sha256(w) for w in block_txs]
        for wire, h in zip(block_txs, hashes, strict=True):
            committed.add(h)
            tx = self._by_hash.get(h)
            if tx is not None:
                touched.add(tx.sender)
                if senders is not None:
                    senders.add(tx.sender)
                self._remove(self._senders[tx.sender], tx)
                included.append(tx)
                continue
            sender = _sender_of(wire)
            if sender is None:
                senders = None
            elif senders is not None:
                senders.add(sender)
            if sender is not None and sender in self._senders:
                touched.add(sender)
        self._block_senders = senders
        view = self._view()
        if self._params is not None and view.params is not self._params:
            self._recheck_static(view, touched, dropped)
        if not touched:
            if self._gapped:
                self._expire(dropped)
            return included, dropped
        for sender in touched:
            s = self._senders.get(sender)
            if s is None:
                continue
            acct = view.account(sender)
            s.base = acct.nonce
            for nonce in [n for n in s.txs if n < acct.nonce]:
                dropped.append(s.txs[nonce])
                self._remove(s, s.txs[nonce])
            if s.fees > acct.balance:
                for nonce in sorted(s.txs, reverse=True):
                    dropped.append(s.txs[nonce])
                    self._remove(s, s.txs[nonce])
                    if s.fees <= acct.balance:
                        break
            self._recount(s)
            if not s.txs:
                del self._senders[sender]
        if self._gapped:
            self._expire(dropped)
        return included, dropped

    def _recheck_static(self, view: AdmissionView, touched: set[bytes], dropped: list[Tx]) -> None:
        """The chain params changed (a chain-scope proposal was enacted, PROTOCOL.md section 9):
        drop the pending txs that no longer pass admission checks 1-7 (a raised min_fee, a
        lowered max_votes_per_elector). Signatures stay checked. Rare: O(pending) when it runs."""
        params = self._params = view.params
        for tx in list(self._by_hash.values()):
            if tx.fee >= params.min_fee and len(tx.wire) <= params.max_tx_bytes:
                try:
                    decode_tx(tx.wire, chain_id=view.chain_id, params=params)
                except TxError:
                    pass
                else:
                    continue
            touched.add(tx.sender)
            dropped.append(tx)
            self._remove(self._senders[tx.sender], tx)

    def remove(self, tx_hash: bytes) -> bool:
        """Drop one pending transaction (e.g. a proposer found it invalid); True if it was."""
        tx = self._by_hash.get(tx_hash)
        if tx is None:
            return False
        s = self._senders[tx.sender]
        self._remove(s, tx)
        self._recount(s)
        if not s.txs:
            del self._senders[tx.sender]
        return True


def _sender_of(wire: bytes) -> bytes | None:
    """The sender field of a committed transaction we never had pending (no verification:
    the block is committed, we only need to know whose pending txs to re-check)."""
    try:
        env = codec.decode(wire)
    except DecodeError:
        return None
    if type(env) is not dict:
        return None
    body = env.get("body")
    if type(body) is not dict:
        return None
    sender = body.get("sender")
    return sender if type(sender) is bytes else None
