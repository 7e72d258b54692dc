"""Transactions: admission checks 1-10 of PROTOCOL.md section 2, in order, and the schema.

Per-type payload examples (valid and malformed) live in the registry, state/txtypes.py."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from state import codec
from state.codec import MAX_SAFE_INT
from state.crypto import Signer, sha256
from state.errors import Code, TxError
from state.params import ChainParams
from state.tx import (
    NONCE_WINDOW,
    SIGN_PREFIX,
    TX_TYPES,
    Tx,
    build_tx,
    check_tx,
    decode_tx,
    payload_from_json,
    sign_bytes,
    tx_to_json,
    verify_tx,
)
from state.txtypes import REGISTRY

CHAIN = "test-chain"
ALICE = Signer(sha256(b"alice"))
BOB = Signer(sha256(b"bob"))
K32 = b"\x07" * 32
L = 2**252 + 27742317777372353535851937790883648493  # order of the Ed25519 base point


@dataclass
class FakeAccount:
    balance: int = 0
    nonce: int = 0
    kyc: bool = False


@dataclass
class FakeView:
    """The slice of StateView admission reads."""

    params: ChainParams = field(default_factory=lambda: ChainParams(treasury=b"\x01" * 32))
    chain_id: str = CHAIN
    accounts: dict[bytes, FakeAccount] = field(default_factory=dict)
    committed: set[bytes] = field(default_factory=set)
    index_reads: int = 0  # tx_result calls: a LevelDB read each in the real view

    def account(self, addr: bytes) -> FakeAccount:
        return self.accounts.get(addr, FakeAccount())

    def tx_result(self, tx_hash: bytes) -> object | None:
        self.index_reads += 1
        return {"height": 1} if tx_hash in self.committed else None


def funded(balance: int = 1000, nonce: int = 0, **params: Any) -> FakeView:
    view = FakeView(params=ChainParams(treasury=b"\x01" * 32, **params))
    view.accounts[ALICE.public_key] = FakeAccount(balance=balance, nonce=nonce)
    return view


#: one valid payload per type, from the registry (tests/state/test_txtypes.py walks them all)
VALID_PAYLOADS: dict[str, dict[str, Any]] = {t.name: t.examples[0] for t in REGISTRY}


def body(**over: Any) -> dict[str, Any]:
    b: dict[str, Any] = {
        "chain_id": CHAIN,
        "type": "transfer",
        "sender": ALICE.public_key,
        "nonce": 0,
        "fee": 1,
        "payload": {"to": K32, "amount": 5},
    }
    b.update(over)
    return b


def wire_of(b: dict[str, Any], signer: Signer = ALICE, sig: bytes | None = None) -> bytes:
    """Sign `b` (whatever it holds) and encode the envelope; `sig` overrides the signature."""
    if sig is None:
        sig = signer.sign(sign_bytes(b))
    return codec.encode({"body": b, "sig": sig})


def check(view: FakeView, wire: bytes, **kw: Any) -> Code:
    return check_tx(view, wire, **kw).code


# --- a valid transaction ----------------------------------------------------------------


@pytest.mark.parametrize("tx_type", TX_TYPES)
def test_every_type_is_admitted_and_round_trips(tx_type: str) -> None:
    tx = build_tx(ALICE, CHAIN, tx_type, 3, 2, VALID_PAYLOADS[tx_type])
    view = funded(nonce=3)
    res = check_tx(view, tx.wire)
    assert res.code is Code.OK and res.error is None and res.ok
    assert res.tx == tx
    assert res.tx.hash == sha256(tx.wire)
    assert res.tx.payload == VALID_PAYLOADS[tx_type]
    assert (res.tx.sender, res.tx.nonce, res.tx.fee) == (ALICE.public_key, 3, 2)
    assert tx.body_bytes == codec.encode(tx.body)
    assert hash(tx) == hash(res.tx)


def test_sign_bytes_are_domain_separated() -> None:
    b = body()
    assert sign_bytes(b) == b"huzhu/tx/v1\x00" + codec.encode(b)
    assert sign_bytes(b).startswith(SIGN_PREFIX)


# --- each admission error, by name and code ---------------------------------------------


def assert_refused(res_code: Code, name: str, number: int) -> None:
    assert res_code.error == name
    assert int(res_code) == number


def test_too_large_at_the_boundary() -> None:
    tx = build_tx(ALICE, CHAIN, "transfer", 0, 1, VALID_PAYLOADS["transfer"])
    assert check(funded(max_tx_bytes=len(tx.wire)), tx.wire) is Code.OK
    res = check_tx(funded(max_tx_bytes=len(tx.wire) - 1), tx.wire)
    assert_refused(res.code, "too_large", 8)
    assert res.tx is None


def test_malformed_not_msgpack() -> None:
    assert_refused(check(funded(), b"\xc1not msgpack"), "malformed", 1)


def test_bad_signature() -> None:
    tx = build_tx(ALICE, CHAIN, "transfer", 0, 1, VALID_PAYLOADS["transfer"])
    forged = wire_of(tx.body, BOB)  # Bob signs a body naming Alice as sender
    res = check_tx(funded(), forged)
    assert_refused(res.code, "bad_signature", 2)
    assert res.tx is not None and res.tx.hash == sha256(forged)


def test_wrong_chain() -> None:
    tx = build_tx(ALICE, "other-chain", "transfer", 0, 1, VALID_PAYLOADS["transfer"])
    assert_refused(check(funded(), tx.wire), "wrong_chain", 3)


def test_bad_nonce_window_boundaries() -> None:
    view = funded(nonce=10)
    for nonce, ok in [(9, False), (10, True), (10 + NONCE_WINDOW - 1, True), (10 + 64, False)]:
        tx = build_tx(ALICE, CHAIN, "transfer", nonce, 1, VALID_PAYLOADS["transfer"])
        code = check(view, tx.wire)
        if ok:
            assert code is Code.OK, nonce
        else:
            assert_refused(code, "bad_nonce", 4)


def test_fee_too_low_boundary() -> None:
    view = funded(min_fee=5)
    low = build_tx(ALICE, CHAIN, "transfer", 0, 4, VALID_PAYLOADS["transfer"])
    assert_refused(check(view, low.wire), "fee_too_low", 5)
    ok = build_tx(ALICE, CHAIN, "transfer", 0, 5, VALID_PAYLOADS["transfer"])
    assert check(view, ok.wire) is Code.OK


def test_insufficient_funds_counts_pending_fees() -> None:
    tx = build_tx(ALICE, CHAIN, "transfer", 0, 10, VALID_PAYLOADS["transfer"])
    assert check(funded(balance=10), tx.wire) is Code.OK
    assert_refused(check(funded(balance=9), tx.wire), "insufficient_funds", 6)
    pending = {ALICE.public_key: 5}
    fees = pending.get
    assert check(funded(balance=15), tx.wire, pending_fees=lambda s: fees(s, 0)) is Code.OK
    assert_refused(
        check(funded(balance=14), tx.wire, pending_fees=lambda s: fees(s, 0)),
        "insufficient_funds",
        6,
    )


def test_unknown_account_has_nothing() -> None:
    tx = build_tx(BOB, CHAIN, "transfer", 0, 1, VALID_PAYLOADS["transfer"])
    assert check(funded(), tx.wire) is Code.INSUFFICIENT_FUNDS
    late = build_tx(BOB, CHAIN, "transfer", 64, 1, VALID_PAYLOADS["transfer"])
    assert check(funded(), late.wire) is Code.BAD_NONCE


def test_unknown_type() -> None:
    w = wire_of(body(type="mint", payload={"amount": 5}))
    assert_refused(check(funded(), w), "unknown_type", 7)
    w = wire_of(body(type="Transfer"))
    assert check(funded(), w) is Code.UNKNOWN_TYPE


def test_duplicate_pending_and_committed() -> None:
    tx = build_tx(ALICE, CHAIN, "transfer", 0, 1, VALID_PAYLOADS["transfer"])
    seen: list[Tx] = []

    def is_dup(t: Tx) -> bool:
        seen.append(t)
        return True

    assert_refused(check(funded(), tx.wire, is_duplicate=is_dup), "duplicate", 10)
    assert seen == [tx]
    view = funded(nonce=1)  # executing it moved the sender's nonce past it
    view.committed.add(tx.hash)
    assert_refused(check(view, tx.wire), "duplicate", 10)


def test_committed_index_is_read_only_below_the_account_nonce() -> None:
    """A tx at or above its sender's nonce cannot be committed (executing it would have moved
    the nonce past it, and nonces never go back): admission skips the tx index read there,
    and reads it below, where it tells duplicate (check 8) from bad_nonce (check 9)."""
    fresh = build_tx(ALICE, CHAIN, "transfer", 2, 1, VALID_PAYLOADS["transfer"])
    view = funded(nonce=2)
    assert check(view, fresh.wire) is Code.OK
    assert view.index_reads == 0
    ahead = build_tx(ALICE, CHAIN, "transfer", 2 + NONCE_WINDOW, 1, VALID_PAYLOADS["transfer"])
    assert check(view, ahead.wire) is Code.BAD_NONCE
    assert view.index_reads == 0
    old = build_tx(ALICE, CHAIN, "transfer", 1, 1, VALID_PAYLOADS["transfer"])
    assert check(view, old.wire) is Code.BAD_NONCE  # stale, never committed
    assert view.index_reads == 1
    view.committed.add(old.hash)
    assert check(view, old.wire) is Code.DUPLICATE  # the replay of a committed tx
    assert view.index_reads == 2


# --- order of checks --------------------------------------------------------------------


def test_too_large_beats_malformed() -> None:
    assert check(funded(max_tx_bytes=16), b"\xc1" * 17) is Code.TOO_LARGE


def test_malformed_body_beats_wrong_chain() -> None:
    w = wire_of(body(chain_id="other", nonce=-1))
    assert check(funded(), w) is Code.MALFORMED


def test_wrong_chain_beats_bad_signature_and_unknown_type() -> None:
    b = body(chain_id="other", type="mint", payload={})
    assert check(funded(), wire_of(b, sig=b"\x00" * 64)) is Code.WRONG_CHAIN


def test_unknown_type_beats_bad_signature() -> None:
    assert check(funded(), wire_of(body(type="mint"), sig=b"\x00" * 64)) is Code.UNKNOWN_TYPE


def test_malformed_payload_beats_bad_signature() -> None:
    b = body(payload={"to": K32, "amount": 0})
    assert check(funded(), wire_of(b, sig=b"\x00" * 64)) is Code.MALFORMED


def test_bad_signature_beats_fee_too_low_and_the_rest() -> None:
    b = body(fee=0, nonce=500)
    view = funded(balance=0)
    view.committed.add(sha256(wire_of(b, BOB)))
    assert check(view, wire_of(b, BOB), is_duplicate=lambda t: True) is Code.BAD_SIGNATURE


def test_fee_too_low_beats_duplicate() -> None:
    tx = build_tx(ALICE, CHAIN, "transfer", 0, 0, VALID_PAYLOADS["transfer"])
    assert check(funded(), tx.wire, is_duplicate=lambda t: True) is Code.FEE_TOO_LOW


def test_committed_tx_is_duplicate_not_bad_nonce() -> None:
    """A replay of an executed tx: its nonce is now stale, but the answer is duplicate."""
    tx = build_tx(ALICE, CHAIN, "transfer", 0, 1, VALID_PAYLOADS["transfer"])
    view = funded(nonce=1)
    view.committed.add(tx.hash)
    assert check(view, tx.wire) is Code.DUPLICATE


def test_bad_nonce_beats_insufficient_funds() -> None:
    tx = build_tx(ALICE, CHAIN, "transfer", 99, 1, VALID_PAYLOADS["transfer"])
    assert check(funded(balance=0), tx.wire) is Code.BAD_NONCE


def test_verified_cache_skips_signature_check() -> None:
    w = wire_of(body(), sig=b"\x11" * 64)
    assert check(funded(), w) is Code.BAD_SIGNATURE
    assert check(funded(), w, verified=lambda h: h == sha256(w)) is Code.OK


# --- envelope and body schema -----------------------------------------------------------

GOOD_SIG = b"\x00" * 64


@pytest.mark.parametrize(
    "envelope",
    [
        [body(), GOOD_SIG],
        {"body": body()},
        {"sig": GOOD_SIG},
        {"body": body(), "sig": GOOD_SIG, "x": 1},
        {"body": body(), "sig": b"\x00" * 63},
        {"body": body(), "sig": b"\x00" * 65},
        {"body": body(), "sig": "00" * 64},
        {"body": [], "sig": GOOD_SIG},
        {"body": None, "sig": GOOD_SIG},
    ],
)
def test_envelope_schema(envelope: Any) -> None:
    assert_refused(check(funded(), codec.encode(envelope)), "malformed", 1)


def _drop(key: str) -> dict[str, Any]:
    b = body()
    del b[key]
    return b


@pytest.mark.parametrize(
    "b",
    [
        *[_drop(k) for k in ("chain_id", "type", "sender", "nonce", "fee", "payload")],
        body(extra=1),
        body(chain_id=CHAIN.encode()),
        body(type=b"transfer"),
        body(type=None),
        body(sender=ALICE.public_key[:31]),
        body(sender=ALICE.public_key + b"\x00"),
        body(sender=ALICE.public_key.hex()),
        body(nonce=-1),
        body(nonce=True),
        body(nonce="0"),
        body(fee=-1),
        body(fee=False),
        body(fee=None),
        body(payload=[]),
        body(payload=b""),
    ],
)
def test_body_schema(b: dict[str, Any]) -> None:
    assert check(funded(), wire_of(b)) is Code.MALFORMED


def test_nonce_and_fee_accept_the_full_safe_range() -> None:
    w = wire_of(body(nonce=MAX_SAFE_INT, fee=MAX_SAFE_INT))
    tx = decode_tx(w, chain_id=CHAIN, params=funded().params)
    assert (tx.nonce, tx.fee) == (MAX_SAFE_INT, MAX_SAFE_INT)


def test_non_canonical_encoding_is_malformed_even_if_signed() -> None:
    b = body()
    sig = ALICE.sign(sign_bytes(b))
    # same content, keys in insertion (not sorted) order: a second encoding of one tx
    raw = msgpack.packb({"sig": sig, "body": b}, use_bin_type=True)
    assert raw != wire_of(b)
    assert check(funded(), raw) is Code.MALFORMED


# --- payload schema of the ten types ----------------------------------------------------


def _cases() -> list[tuple[str, dict[str, Any]]]:
    cases: list[tuple[str, dict[str, Any]]] = []
    for t, good in VALID_PAYLOADS.items():
        for k in good:
            missing = dict(good)
            del missing[k]
            cases.append((t, missing))
            cases.append((t, {**good, k: None}))  # wrong type: nil
        cases.append((t, {**good, "extra": 1}))
        cases.append((t, {}))
    return cases


@pytest.mark.parametrize(("tx_type", "payload"), _cases())
def test_payload_missing_extra_or_wrong_type_is_malformed(
    tx_type: str, payload: dict[str, Any]
) -> None:
    w = wire_of(body(type=tx_type, payload=payload))
    assert check(funded(), w) is Code.MALFORMED


# The constraints of each field (amount 0, bin of 31 bytes, name of 65 chars, duplicate or
# too many candidates...) and the boundaries admitted (amount 2^53-1, pool "", 64-char names,
# 30 candidates) are the `malformed` and `examples` of each registry entry, which
# tests/state/test_txtypes.py checks one by one.


def test_max_votes_per_elector_comes_from_params() -> None:
    five = {"candidates": [bytes([i]) * 32 for i in range(5)]}
    w = wire_of(body(type="elect", payload=five))
    assert check(funded(max_votes_per_elector=5), w) is Code.OK
    assert check(funded(max_votes_per_elector=4), w) is Code.MALFORMED


# --- signature edge cases (PROTOCOL.md section 2's rule) --------------------------------


def _tx_with(sender: bytes, sig: bytes) -> Tx:
    w = wire_of(body(sender=sender), sig=sig)
    return decode_tx(w, chain_id=CHAIN, params=funded().params)


def test_valid_signature_verifies() -> None:
    tx = build_tx(ALICE, CHAIN, "transfer", 0, 1, VALID_PAYLOADS["transfer"])
    assert verify_tx(tx)


def test_signature_over_another_body_fails() -> None:
    tx = build_tx(ALICE, CHAIN, "transfer", 0, 1, VALID_PAYLOADS["transfer"])
    other = build_tx(ALICE, CHAIN, "transfer", 1, 1, VALID_PAYLOADS["transfer"])
    assert not verify_tx(_tx_with(ALICE.public_key, other.sig))
    assert verify_tx(_tx_with(ALICE.public_key, tx.sig))


def test_s_not_below_l_is_refused() -> None:
    tx = build_tx(ALICE, CHAIN, "transfer", 0, 1, VALID_PAYLOADS["transfer"])
    s = int.from_bytes(tx.sig[32:], "little")
    # S + L satisfies the group equation just as well; only the S < L rule refuses it.
    malleable = tx.sig[:32] + (s + L).to_bytes(32, "little")
    assert not verify_tx(_tx_with(ALICE.public_key, malleable))


def test_small_order_public_key_is_refused() -> None:
    identity = (1).to_bytes(32, "little")  # the neutral point: order 1
    base = (4 * pow(5, -1, 2**255 - 19) % (2**255 - 19)).to_bytes(32, "little")  # B's y
    # With A the identity, [1]B = R + [k]A holds for R = B, S = 1, whatever the message:
    # only the small-order rule refuses this "signature".
    sig = base + (1).to_bytes(32, "little")
    assert not verify_tx(_tx_with(identity, sig))


def test_non_canonical_r_is_refused() -> None:
    tx = build_tx(ALICE, CHAIN, "transfer", 0, 1, VALID_PAYLOADS["transfer"])
    p = 2**255 - 19
    non_canonical = (p + 1).to_bytes(32, "little")  # y = 1 written as p + 1
    assert not verify_tx(_tx_with(ALICE.public_key, non_canonical + tx.sig[32:]))


# --- robustness -------------------------------------------------------------------------


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_check_tx_never_raises_on_random_bytes(data: bytes) -> None:
    res = check_tx(funded(), data)
    assert res.code in {Code.MALFORMED, Code.TOO_LARGE}
    assert res.tx is None


@settings(max_examples=200)
@given(st.data())
def test_check_tx_never_raises_on_mutated_transactions(data: st.DataObject) -> None:
    tx_type = data.draw(st.sampled_from(TX_TYPES))
    tx = build_tx(ALICE, CHAIN, tx_type, 0, 1, VALID_PAYLOADS[tx_type])
    w = bytearray(tx.wire)
    pos = data.draw(st.integers(0, len(w) - 1))
    w[pos] ^= data.draw(st.integers(1, 255))
    res = check_tx(funded(), bytes(w))
    assert res.code is not Code.OK  # any change breaks encoding, schema or signature


def test_decode_tx_raises_tx_error_with_code() -> None:
    with pytest.raises(TxError) as info:
        decode_tx(b"\x00" * 10, chain_id=CHAIN, params=funded(max_tx_bytes=5).params)
    assert info.value.code is Code.TOO_LARGE


def test_decode_accepts_bytearray_and_memoryview() -> None:
    tx = build_tx(ALICE, CHAIN, "join", 0, 1, {"pool": "medical"})
    params = funded().params
    for w in (bytearray(tx.wire), memoryview(tx.wire)):
        assert decode_tx(w, chain_id=CHAIN, params=params) == tx


def test_tx_is_frozen() -> None:
    tx = build_tx(ALICE, CHAIN, "join", 0, 1, {"pool": "medical"})
    with pytest.raises(AttributeError):
        tx.fee = 0  # type: ignore[misc]
    assert replace(tx, fee=0).fee == 0


@pytest.mark.parametrize("tx_type", TX_TYPES)
def test_decoded_tx_is_what_the_constructor_builds(tx_type: str) -> None:
    """decode_tx builds its Tx positionally, through the __init__ state.model.slot_init gives
    Tx: the same object as keywords build (every field, equality, hash, repr), frozen."""
    tx = build_tx(ALICE, CHAIN, tx_type, 3, 2, VALID_PAYLOADS[tx_type])
    decoded = decode_tx(tx.wire, chain_id=CHAIN, params=funded().params)
    built = Tx(**{f.name: getattr(decoded, f.name) for f in fields(Tx)})
    assert type(decoded) is Tx
    for f in fields(Tx):
        assert getattr(decoded, f.name) is getattr(built, f.name)
    assert decoded == built == tx and hash(decoded) == hash(built)
    assert repr(decoded) == repr(built)
    assert decoded.hash == sha256(tx.wire)
    with pytest.raises(AttributeError):
        decoded.nonce = 9  # type: ignore[misc]


# --- JSON forms -------------------------------------------------------------------------


def test_tx_to_json() -> None:
    tx = build_tx(ALICE, CHAIN, "vote", 7, 3, {"claim": K32, "approve": False})
    assert tx_to_json(tx) == {
        "type": "vote",
        "sender": ALICE.public_key.hex(),
        "nonce": 7,
        "fee": 3,
        "payload": {"claim": K32.hex(), "approve": False},
    }


def test_payload_from_json_accepts_upper_case_hex() -> None:
    got = payload_from_json("transfer", {"to": K32.hex().upper(), "amount": 5})
    assert got == {"to": K32, "amount": 5}
    got = payload_from_json("elect", {"candidates": [K32.hex().upper()]})
    assert got == {"candidates": [K32]}


@pytest.mark.parametrize(
    ("tx_type", "obj", "field_name"),
    [
        ("transfer", {"to": "zz" * 32, "amount": 5}, "to"),
        ("transfer", {"to": "aa" * 31, "amount": 5}, "to"),
        ("transfer", {"to": "aa bb" + "cc" * 30, "amount": 5}, "to"),
        ("transfer", {"to": K32.hex(), "amount": 0}, "amount"),
        ("transfer", {"to": K32.hex(), "amount": True}, "amount"),
        ("transfer", {"to": K32.hex(), "amount": 5.0}, "amount"),
        ("transfer", {"to": K32.hex()}, "amount"),
        ("transfer", {"to": K32.hex(), "amount": 5, "memo": "x"}, "memo"),
        ("vote", {"claim": K32.hex(), "approve": 1}, "approve"),
        ("register_candidate", {"consensus_key": K32.hex(), "name": "x" * 65}, "name"),
        ("elect", {"candidates": [K32.hex(), K32.hex().upper()]}, "candidates"),
        ("elect", {"candidates": [K32.hex(), "00"]}, "candidates.1"),
        ("elect", {"candidates": K32.hex()}, "candidates"),
        ("mint", {}, "type"),
        ("join", {"pool": "x\ud800"}, "pool"),
        ("join", {"pool": None}, "pool"),
        ("register_candidate", {"consensus_key": K32.hex(), "name": "\udc00"}, "name"),
    ],
)
def test_payload_from_json_names_the_bad_field(
    tx_type: str, obj: dict[str, Any], field_name: str
) -> None:
    with pytest.raises(ValueError) as info:
        payload_from_json(tx_type, obj)
    assert str(info.value).startswith(field_name + ":")


def test_payload_from_json_checks_max_votes_when_given() -> None:
    obj = {"candidates": [bytes([i]).hex() * 32 for i in range(3)]}
    assert len(payload_from_json("elect", obj, max_votes=3)["candidates"]) == 3
    with pytest.raises(ValueError, match="^candidates:"):
        payload_from_json("elect", obj, max_votes=2)


def test_check_result_error_is_the_codes_protocol_name_for_every_code() -> None:
    from state.errors import Code
    from state.tx import CheckResult

    for code in Code:
        assert CheckResult(code, "", None).error == code.error
        assert CheckResult(code, "", None).error == (None if code is Code.OK else code.name.lower())
