"""Mempool admission (checks 1-11), limits at their boundaries, reap order, post-commit update."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from state.crypto import Signer, sha256
from state.errors import Code
from state.mempool import Mempool, MempoolLimits
from state.params import ChainParams
from state.tx import build_tx

CHAIN = "mp-test"
PARAMS = ChainParams(treasury=b"\x01" * 32, min_fee=2, max_tx_bytes=4096)


@dataclass
class Acct:
    balance: int = 0
    nonce: int = 0


@dataclass
class View:
    """In-memory committed state: the slice of StateView the mempool reads."""

    chain_id: str = CHAIN
    params: ChainParams = PARAMS
    accounts: dict[bytes, Acct] = field(default_factory=dict)
    committed: set[bytes] = field(default_factory=set)

    def account(self, addr: bytes) -> Acct:
        return self.accounts.get(addr, Acct())

    def tx_result(self, h: bytes) -> object | None:
        return {"height": 1} if h in self.committed else None


def signer(i: int) -> Signer:
    return Signer(sha256(b"mempool-test" + bytes([i])))


A, B, C = signer(1), signer(2), signer(3)


def tx(s: Signer, nonce: int, fee: int = 2, amount: int = 1, chain: str = CHAIN):
    return build_tx(s, chain, "transfer", nonce, fee, {"to": b"\x09" * 32, "amount": amount})


def make(limits: MempoolLimits | None = None, **balances: int) -> tuple[Mempool, View]:
    view = View()
    for name, bal in balances.items():
        view.accounts[{"a": A, "b": B, "c": C}[name].public_key] = Acct(balance=bal)
    return Mempool(lambda: view, limits), view


def test_admits_and_indexes() -> None:
    mp, _ = make(a=100)
    t = tx(A, 0)
    res = mp.add(t.wire)
    assert res.code is Code.OK and res.tx is not None and res.tx.hash == t.hash
    assert t.hash in mp and len(mp) == 1 and mp.size_bytes == len(t.wire)
    assert mp.pending_fees(A.public_key) == 2


@pytest.mark.parametrize(
    ("wire", "code"),
    [
        (b"\xc1garbage", Code.MALFORMED),
        (tx(A, 0, chain="other").wire, Code.WRONG_CHAIN),
        (tx(A, 0, fee=1).wire, Code.FEE_TOO_LOW),
        (tx(A, 64).wire, Code.BAD_NONCE),
        (b"\x00" * 4097, Code.TOO_LARGE),
    ],
)
def test_refusals_use_check_tx_codes(wire: bytes, code: Code) -> None:
    mp, _ = make(a=100)
    assert mp.add(wire).code is code
    assert len(mp) == 0


def test_bad_signature_refused_and_not_cached() -> None:
    mp, _ = make(a=100)
    t = tx(A, 0)
    forged = t.wire[:-1] + bytes([t.wire[-1] ^ 1])
    assert mp.add(forged).code is Code.BAD_SIGNATURE
    assert not mp.is_verified(sha256(forged))


def test_duplicate_hash_and_same_sender_nonce() -> None:
    mp, view = make(a=100)
    t = tx(A, 0)
    assert mp.add(t.wire).code is Code.OK
    assert mp.add(t.wire).code is Code.DUPLICATE
    assert mp.add(tx(A, 0, amount=2).wire).code is Code.DUPLICATE
    committed = tx(A, 1)
    view.committed.add(committed.hash)
    view.accounts[A.public_key].nonce = 2  # executing it moved A's nonce past it
    assert mp.add(committed.wire).code is Code.DUPLICATE


def test_nonce_window_boundaries() -> None:
    mp, view = make(a=10_000)
    view.accounts[A.public_key].nonce = 5
    assert mp.add(tx(A, 4).wire).code is Code.BAD_NONCE
    assert mp.add(tx(A, 5).wire).code is Code.OK
    assert mp.add(tx(A, 68).wire).code is Code.OK  # 5 + 63: last in the window
    assert mp.add(tx(A, 69).wire).code is Code.BAD_NONCE  # 5 + 64


def test_pending_fees_count_against_balance_at_the_boundary() -> None:
    mp, _ = make(a=6)
    assert mp.add(tx(A, 0, fee=2).wire).code is Code.OK
    assert mp.add(tx(A, 1, fee=2).wire).code is Code.OK
    assert mp.add(tx(A, 2, fee=3).wire).code is Code.INSUFFICIENT_FUNDS  # 7 > 6
    assert mp.add(tx(A, 2, fee=2).wire).code is Code.OK  # exactly 6


def test_max_txs_boundary() -> None:
    mp, _ = make(MempoolLimits(max_txs=3), a=1000, b=1000)
    for n in range(3):
        assert mp.add(tx(A, n).wire).code is Code.OK
    res = mp.add(tx(B, 0).wire)
    assert res.code is Code.MEMPOOL_FULL and res.error == "mempool_full"
    assert len(mp) == 3 and tx(B, 0).hash not in mp


def test_max_bytes_boundary() -> None:
    size = len(tx(A, 0).wire)
    mp, _ = make(MempoolLimits(max_bytes=2 * size), a=1000)
    assert mp.add(tx(A, 0).wire).code is Code.OK
    assert mp.add(tx(A, 1).wire).code is Code.OK  # exactly at max_bytes
    assert mp.add(tx(A, 2).wire).code is Code.MEMPOOL_FULL
    assert mp.size_bytes == 2 * size


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError):
        MempoolLimits(max_txs=0)
    with pytest.raises(ValueError):
        MempoolLimits(max_bytes=0)


def test_signature_verified_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import state.tx as txmod

    calls: list[bytes] = []
    real = txmod.verify_tx

    def counting(t):  # type: ignore[no-untyped-def]
        calls.append(t.hash)
        return real(t)

    monkeypatch.setattr(txmod, "verify_tx", counting)
    mp, _ = make(MempoolLimits(max_txs=1), a=1000)
    t0, t1 = tx(A, 0), tx(A, 1)
    assert mp.add(t0.wire).code is Code.OK
    assert mp.add(t0.wire).code is Code.DUPLICATE
    assert mp.add(t1.wire).code is Code.MEMPOOL_FULL
    assert mp.add(t1.wire).code is Code.MEMPOOL_FULL
    assert calls == [t0.hash, t1.hash]  # each verified exactly once
    assert mp.is_verified(t0.hash) and mp.is_verified(t1.hash)


def test_verified_cache_is_bounded() -> None:
    mp, _ = make(MempoolLimits(verified_cache=2), a=1000)
    ts = [tx(A, n) for n in range(3)]
    for t in ts:
        mp.add(t.wire)
    assert not mp.is_verified(ts[0].hash)
    assert mp.is_verified(ts[1].hash) and mp.is_verified(ts[2].hash)


def test_reap_keeps_nonces_consecutive_and_interleaves_senders() -> None:
    mp, _ = make(a=1000, b=1000, c=1000)
    a = [tx(A, n) for n in range(3)]
    b = [tx(B, n) for n in range(2)]
    # arrival out of nonce order, and C has a gap at its account nonce
    for t in (a[2], b[0], a[0], a[1], b[1], tx(C, 1)):
        assert mp.add(t.wire).code is Code.OK
    reaped = mp.reap(100, 1 << 20)
    assert reaped == [a[0].wire, b[0].wire, a[1].wire, b[1].wire, a[2].wire]


def test_reap_stops_at_gap() -> None:
    mp, _ = make(a=1000)
    for n in (0, 1, 3):
        mp.add(tx(A, n).wire)
    assert mp.reap(100, 1 << 20) == [tx(A, 0).wire, tx(A, 1).wire]
    assert mp.pending_nonce(A.public_key, 0) == 2


def test_reap_limits_at_boundaries() -> None:
    mp, _ = make(a=1000, b=1000)
    ts = [tx(A, 0), tx(B, 0), tx(A, 1), tx(B, 1)]
    for t in ts:
        mp.add(t.wire)
    assert mp.reap(3, 1 << 20) == [t.wire for t in ts[:3]]
    size = len(ts[0].wire)
    assert mp.reap(100, 2 * size) == [ts[0].wire, ts[1].wire]
    assert mp.reap(100, 2 * size - 1) == [ts[0].wire]
    assert mp.reap(0, 1 << 20) == [] and mp.reap(10, 0) == []
    assert len(mp) == 4  # reap does not remove


def test_update_drops_included_and_stale_keeps_rest() -> None:
    mp, view = make(a=1000, b=1000)
    a = [tx(A, n) for n in range(3)]
    for t in a:
        mp.add(t.wire)
    mp.add(tx(B, 0).wire)
    # the block included a[0]; another node's tx for A with nonce 1 replaced ours
    other = tx(A, 1, amount=7)
    view.accounts[A.public_key] = Acct(balance=990, nonce=2)
    included, dropped = mp.update([a[0].wire, other.wire])
    assert [t.hash for t in included] == [a[0].hash]
    assert [t.hash for t in dropped] == [a[1].hash]
    assert a[0].hash not in mp and a[1].hash not in mp and a[2].hash in mp
    assert tx(B, 0).hash in mp and len(mp) == 2
    assert mp.pending_fees(A.public_key) == 2
    assert mp.reap(10, 1 << 20) == [a[2].wire, tx(B, 0).wire]
    assert mp.size_bytes == len(a[2].wire) + len(tx(B, 0).wire)


@pytest.mark.parametrize("given", ["hashes", "wrong_count"])
def test_update_with_the_callers_hashes_matches_update_without(given: str) -> None:
    """Execution hands update the hashes it computed; the outcome must be update's own
    (a list of the wrong length is ignored and the txs hashed here)."""
    outcomes = []
    for with_hashes in (False, True):
        mp, view = make(a=1000, b=1000)
        a = [tx(A, n) for n in range(3)]
        for t in a:
            mp.add(t.wire)
        view.accounts[A.public_key] = Acct(balance=990, nonce=2)
        block = [a[0].wire, tx(A, 1, amount=7).wire]
        hashes = [sha256(w) for w in block] if given == "hashes" else [b"\0" * 32]
        included, dropped = mp.update(block, hashes if with_hashes else None)
        outcomes.append(([t.hash for t in included], [t.hash for t in dropped], len(mp)))
        assert mp.add(a[0].wire).code is not Code.OK  # committed: known as such either way
    assert outcomes[0] == outcomes[1] == ([a[0].hash], [a[1].hash], 1)


def test_update_drops_what_the_sender_can_no_longer_pay() -> None:
    mp, view = make(a=100)
    ts = [tx(A, n, fee=10) for n in range(4)]
    for t in ts:
        assert mp.add(t.wire).code is Code.OK
    view.accounts[A.public_key] = Acct(balance=15, nonce=1)  # pays one pending fee only
    _, dropped = mp.update([ts[0].wire])
    assert {t.hash for t in dropped} == {ts[2].hash, ts[3].hash}
    assert ts[1].hash in mp and ts[2].hash not in mp and ts[3].hash not in mp
    assert mp.pending_fees(A.public_key) == 10


def test_update_of_unknown_and_garbage_block_txs_is_harmless() -> None:
    mp, _ = make(a=100)
    mp.add(tx(A, 0).wire)
    assert mp.update([b"\xc1", tx(B, 0).wire]) == ([], [])
    assert len(mp) == 1


def test_sender_freed_after_last_tx_leaves() -> None:
    mp, view = make(a=100)
    t = tx(A, 0)
    mp.add(t.wire)
    view.accounts[A.public_key] = Acct(balance=98, nonce=1)
    mp.update([t.wire])
    assert len(mp) == 0 and mp.pending_fees(A.public_key) == 0
    assert mp.pending_nonce(A.public_key, 1) == 1
    assert mp.reap(10, 1 << 20) == []


def test_remove() -> None:
    mp, _ = make(a=100)
    t = tx(A, 0)
    mp.add(t.wire)
    assert mp.remove(t.hash) and not mp.remove(t.hash)
    assert len(mp) == 0 and mp.size_bytes == 0


def test_pending_duplicate_answered_without_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    import state.mempool as mpmod

    mp, _ = make(a=100)
    t = tx(A, 0)
    assert mp.add(t.wire).code is Code.OK

    def boom(*a, **k):  # type: ignore[no-untyped-def]
        raise AssertionError("decode_tx must not run for a pending duplicate")

    monkeypatch.setattr(mpmod, "decode_tx", boom)
    res = mp.add(t.wire)
    assert res.code is Code.DUPLICATE and res.tx is not None and res.tx.hash == t.hash


# ---------------------------------------------------------------- pinning (future txs)


def test_future_per_sender_cap_at_boundary() -> None:
    """Txs behind a nonce gap are admitted up to max_future_per_sender, then mempool_full."""
    mp, _ = make(MempoolLimits(max_future_per_sender=2), a=1000)
    assert mp.add(tx(A, 2).wire).code is Code.OK
    assert mp.add(tx(A, 3).wire).code is Code.OK  # exactly at the cap
    res = mp.add(tx(A, 4).wire)
    assert res.code is Code.MEMPOOL_FULL and "gap" in res.log
    assert mp.future_count == 2
    # executable txs are never held back by the cap; filling the gap makes the rest ready
    assert mp.add(tx(A, 0).wire).code is Code.OK
    assert mp.future_count == 2
    assert mp.add(tx(A, 1).wire).code is Code.OK
    assert mp.future_count == 0
    assert mp.reap(100, 1 << 20) == [tx(A, n).wire for n in range(4)]
    assert mp.add(tx(A, 4).wire).code is Code.OK  # no gap any more


def test_future_total_cap_at_boundary_leaves_room_for_executable_txs() -> None:
    limits = MempoolLimits(max_txs=4, max_future_txs=2, peer_reserve_pct=0)
    mp, _ = make(limits, a=1000, b=1000, c=1000)
    assert mp.add(tx(A, 5).wire).code is Code.OK
    assert mp.add(tx(B, 5).wire).code is Code.OK  # exactly at the total cap
    assert mp.add(tx(C, 5).wire).code is Code.MEMPOOL_FULL
    assert mp.add(tx(C, 0).wire).code is Code.OK
    assert mp.add(tx(C, 1).wire).code is Code.OK
    assert len(mp) == 4 and mp.future_count == 2


def test_zero_future_cap_refuses_every_gap() -> None:
    mp, _ = make(MempoolLimits(max_future_txs=0), a=1000)
    assert mp.add(tx(A, 1).wire).code is Code.MEMPOOL_FULL
    assert mp.add(tx(A, 0).wire).code is Code.OK


def test_future_count_follows_commits_and_removals() -> None:
    """A block that advances the nonce to a gap's end turns future txs into ready ones."""
    mp, view = make(a=1000)
    for n in (0, 2, 3):
        assert mp.add(tx(A, n).wire).code is Code.OK
    assert mp.future_count == 2
    # the block carries nonces 0 and 1 (1 came from elsewhere): 2 and 3 become executable
    view.accounts[A.public_key] = Acct(balance=990, nonce=2)
    mp.update([tx(A, 0).wire, tx(A, 1).wire])
    assert mp.future_count == 0
    assert mp.reap(100, 1 << 20) == [tx(A, 2).wire, tx(A, 3).wire]
    assert mp.remove(tx(A, 2).hash)
    assert mp.future_count == 1  # 3 is behind a gap again
    assert mp.remove(tx(A, 3).hash) and mp.future_count == 0


def test_a_clients_tx_behind_a_gap_is_withheld_until_its_gap_fills() -> None:
    """Not gossiped while no node can execute it; once a client's tx fills the gap, every
    tx it made executable is handed over, in nonce order, once."""
    mp, _ = make(a=1000)
    assert mp.add(tx(A, 0).wire).code is Code.OK
    assert not mp.withheld(tx(A, 0).hash)
    for n in (3, 2):
        assert mp.add(tx(A, n).wire).code is Code.OK
        assert mp.withheld(tx(A, n).hash)
    assert mp.take_promoted() == []
    assert mp.add(tx(A, 1).wire).code is Code.OK  # the gap filler itself goes out as usual
    assert not mp.withheld(tx(A, 1).hash)
    assert [t.nonce for t in mp.take_promoted()] == [2, 3]
    assert not mp.withheld(tx(A, 2).hash) and not mp.withheld(tx(A, 3).hash)
    assert mp.take_promoted() == []


def test_a_peers_copy_behind_a_gap_is_not_withheld_but_can_fill_one() -> None:
    """A peer's copy is the gossip policy's (held or relayed as it decides); a peer's copy
    that fills the gap releases a client's withheld tx."""
    mp, _ = make(a=1000, b=1000)
    assert mp.add(tx(B, 1).wire, peer=True).code is Code.OK
    assert not mp.withheld(tx(B, 1).hash)
    assert mp.add(tx(A, 1).wire).code is Code.OK and mp.withheld(tx(A, 1).hash)
    assert mp.add(tx(A, 0).wire, peer=True).code is Code.OK
    assert mp.take_promoted() == [tx(A, 1)]


def test_a_block_that_fills_the_gap_releases_withheld_txs() -> None:
    mp, view = make(a=1000)
    for n in (2, 3, 5):
        assert mp.add(tx(A, n).wire).code is Code.OK
    # the block carries nonces 0 and 1 (from elsewhere): 2 and 3 become executable, 5 not
    view.accounts[A.public_key] = Acct(balance=990, nonce=2)
    mp.update([tx(A, 0).wire, tx(A, 1).wire])
    assert [t.nonce for t in mp.take_promoted()] == [2, 3]
    assert mp.withheld(tx(A, 5).hash)


def test_withheld_txs_that_leave_are_forgotten() -> None:
    """Evicted (or removed) before or after being released: never handed over, never kept."""
    mp, view = make(MempoolLimits(future_lifetime_blocks=1), a=1000)
    assert mp.add(tx(A, 2).wire).code is Code.OK
    assert mp.add(tx(A, 4).wire).code is Code.OK
    mp.update([])  # the gap never fills: both expire
    assert len(mp) == 0 and not mp.withheld(tx(A, 2).hash) and not mp.withheld(tx(A, 4).hash)
    assert mp.add(tx(A, 1).wire).code is Code.OK
    assert mp.add(tx(A, 0).wire).code is Code.OK
    assert mp.take_promoted() == [tx(A, 1)]  # released
    assert mp.add(tx(A, 3).wire).code is Code.OK
    assert mp.add(tx(A, 2).wire).code is Code.OK
    assert mp.remove(tx(A, 3).hash)  # released by 2, then removed before the driver took it
    assert mp.take_promoted() == []


def test_the_promoted_list_is_bounded_by_max_txs_when_never_drained() -> None:
    limits = MempoolLimits(max_txs=3, peer_reserve_pct=0, backlog_blocks=0)
    mp, view = make(limits, a=1000)
    for n in (1, 3, 5):  # withheld, released by a block, committed by the next: undrained
        assert mp.add(tx(A, n).wire).code is Code.OK and mp.withheld(tx(A, n).hash)
        view.accounts[A.public_key] = Acct(balance=1000, nonce=n)
        mp.update([tx(A, n - 1).wire])
        view.accounts[A.public_key] = Acct(balance=1000, nonce=n + 1)
        mp.update([tx(A, n).wire])
    assert len(mp) == 0
    assert mp.add(tx(A, 7).wire).code is Code.OK and mp.withheld(tx(A, 7).hash)
    assert mp.add(tx(A, 6).wire).code is Code.OK  # fills the gap: 7 released, list full
    assert not mp.withheld(tx(A, 7).hash)
    assert mp.take_promoted() == []  # the three held were committed; 7 was not kept
    assert mp.reap(10, 1 << 20) == [tx(A, 6).wire, tx(A, 7).wire]  # still proposable here


def test_future_limits_must_not_be_negative() -> None:
    with pytest.raises(ValueError):
        MempoolLimits(max_future_txs=-1)
    with pytest.raises(ValueError):
        MempoolLimits(max_future_per_sender=-1)


def test_known_returns_the_pending_tx_of_exactly_those_bytes() -> None:
    mp, _ = make(a=1000)
    t = tx(A, 0)
    assert mp.known(t.wire) is None
    mp.add(t.wire)
    got = mp.known(t.wire)
    assert got is not None and got.hash == t.hash and got.wire == t.wire
    assert mp.known(tx(A, 1).wire) is None


def test_recently_committed_tx_is_a_duplicate_without_decoding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A gossip copy arriving after its tx committed is answered at check 8 from a bounded
    cache of committed hashes, without decoding or verifying again."""
    import state.mempool as mod

    mp, view = make(MempoolLimits(committed_cache=2), a=1000)
    t0, t1, t2 = tx(A, 0), tx(A, 1), tx(A, 2)
    view.accounts[A.public_key] = Acct(balance=994, nonce=3)
    mp.update([t0.wire, t1.wire, t2.wire])  # committed elsewhere, never pending here
    view.committed.update({t0.hash, t1.hash, t2.hash})
    calls: list[bytes] = []
    real = mod.decode_tx
    monkeypatch.setattr(mod, "decode_tx", lambda w, **kw: calls.append(w) or real(w, **kw))
    for t in (t1, t2):  # the two most recent: cached
        res = mp.add(t.wire)
        assert res.code is Code.DUPLICATE and res.error == "duplicate"
    assert calls == []
    res = mp.add(t0.wire)  # evicted from the cache (boundary 2): full checks, same answer
    assert res.code is Code.DUPLICATE and calls == [t0.wire]


def test_committed_cache_must_be_positive() -> None:
    with pytest.raises(ValueError):
        MempoolLimits(committed_cache=0)


def test_mark_verified_spares_the_signature_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """Txs of a block this node validated are known good: admitting one later (a gossip
    copy before the commit) does not verify its signature again."""
    import state.tx

    mp, _ = make(a=1000)
    t = tx(A, 0)
    mp.mark_verified([t.wire])
    assert mp.is_verified(t.hash)
    calls: list[bytes] = []
    monkeypatch.setattr(state.tx, "verify_tx", lambda x: calls.append(x.hash) or True)
    assert mp.add(t.wire).code is Code.OK
    assert calls == []


def test_iterates_pending_in_admission_order() -> None:
    mp, _ = make(a=100, b=100)
    txs = [tx(B, 0), tx(A, 0), tx(B, 1)]
    for t in txs:
        assert mp.add(t.wire).code is Code.OK
    assert [t.hash for t in mp] == [t.hash for t in txs]
    mp.update([txs[1].wire])  # included in a block: no longer pending
    assert [t.hash for t in mp] == [txs[0].hash, txs[2].hash]
