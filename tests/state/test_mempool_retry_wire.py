"""A re-offer of bytes the mempool refused mempool_full is found by those bytes: not hashed
again (a client under overload re-offers each refused tx several times), same answers."""

from __future__ import annotations

import pytest
from test_mempool import A, Acct, B, make, tx

import state.mempool as mempool_mod
from state.crypto import sha256
from state.errors import Code
from state.mempool import MempoolLimits


def test_a_reoffer_of_kept_bytes_is_not_hashed_again(monkeypatch: pytest.MonkeyPatch) -> None:
    mp, view = make(MempoolLimits(max_txs=1), a=100, b=100)
    a0, b0 = tx(A, 0), tx(B, 0)
    assert mp.add(a0.wire).code is Code.OK
    first = mp.add(b0.wire)
    assert first.code is Code.MEMPOOL_FULL
    hashed: list[bytes] = []

    def counting(data: bytes) -> bytes:
        hashed.append(data)
        return sha256(data)

    monkeypatch.setattr(mempool_mod, "sha256", counting)
    again = mp.add(bytes(b0.wire))  # equal bytes, another object (as the RPC layer gives)
    assert (again.code, again.log) == (first.code, first.log)
    assert hashed == []
    # room appears: the kept tx is admitted under its own hash, still without hashing
    view.accounts[A.public_key] = Acct(balance=97, nonce=1)
    view.committed.add(a0.hash)
    monkeypatch.setattr(mempool_mod, "sha256", sha256)
    mp.update([a0.wire])
    monkeypatch.setattr(mempool_mod, "sha256", counting)
    res = mp.add(bytes(b0.wire))
    assert res.code is Code.OK and b0.hash in mp and hashed == []
    # admitted, it left the retry cache: its bytes again are a pending copy (hashed, check 8)
    dup = mp.add(bytes(b0.wire))
    assert dup.code is Code.DUPLICATE and hashed == [b0.wire]


def test_other_bytes_are_still_hashed(monkeypatch: pytest.MonkeyPatch) -> None:
    mp, _ = make(MempoolLimits(max_txs=1), a=100, b=100)
    assert mp.add(tx(A, 0).wire).code is Code.OK
    b0 = tx(B, 0)
    assert mp.add(b0.wire).code is Code.MEMPOOL_FULL
    hashed: list[bytes] = []

    def counting(data: bytes) -> bytes:
        hashed.append(data)
        return sha256(data)

    monkeypatch.setattr(mempool_mod, "sha256", counting)
    b1 = tx(B, 1)
    mp.add(b1.wire)
    assert hashed == [b1.wire]
