"""Params (PROTOCOL.md section 3): every declared param at its boundaries, through genesis, and
the forms the rest of the node reads (defaults, the `pool` answer, the state encoding)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from state import keys as K
from state.codec import MAX_SAFE_INT
from state.crypto import sha256
from state.devkeys import localnet_genesis
from state.genesis import GenesisError, parse_genesis
from state.model import Pool
from state.params import (
    ADDRESS_LIST,
    CHAIN_PARAMS,
    POOL_DEFAULTS,
    POOL_PARAMS,
    ChainParams,
    ChoiceKind,
    IntKind,
    ParamSet,
    PoolParams,
    genesis_fields,
    param,
)

M = MAX_SAFE_INT
A = "ab" * 32
B = "cd" * 32

#: (name, lo, hi) of every int param as PROTOCOL.md sections 3 and 5 give them
POOL_INT_RANGES = [
    ("contribution", 1, M),
    ("period", 1, M),
    ("entry_fee", 0, M),
    ("waiting_period", 0, M),
    ("max_claim", 0, M),
    ("claim_bond", 0, M),
    ("vote_window", 1, M),
    ("quorum", 1, M),
    ("approve_bps", 0, 10000),
    ("juror_min_age", 0, M),
    ("notice_period", 0, M),
    ("fee_bps", 0, 10000),
    ("gov_deposit", 0, M),
    ("gov_voting_period", 10, 100000),
    ("gov_timelock", 10, 100000),
    ("gov_quorum_bps", 1000, 10000),
    ("gov_threshold_bps", 5000, 10000),
    ("gov_max_open", 1, 64),
    ("attest_quorum", 1, 32),
    ("objection_quorum", 0, 1000),
    ("collect_window", 10, 1000000),
]
CHAIN_INT_RANGES = [
    ("min_fee", 0, M),
    ("max_tx_bytes", 1, M),
    ("max_block_txs", 1, M),
    ("block_time_ms", 1, M),
    ("epoch_length", 1, M),
    ("max_validators", 1, M),
    ("min_validators", 1, M),
    ("max_votes_per_elector", 0, M),
    ("gov_deposit", 0, M),
    ("gov_voting_period", 10, 100000),
    ("gov_timelock", 10, 100000),
    ("gov_quorum_bps", 1000, 10000),
    ("gov_threshold_bps", 5000, 10000),
    ("gov_max_open", 1, 64),
]
#: other params a value needs to stay valid (min_validators <= max_validators)
COMPANIONS: dict[tuple[str, int], dict[str, int]] = {
    ("min_validators", M): {"max_validators": M},
    ("max_validators", 1): {"min_validators": 1},
}


def with_chain(**params: Any) -> dict[str, Any]:
    d = localnet_genesis()
    d["params"].update(params)
    return d


def with_pool(**params: Any) -> dict[str, Any]:
    d = localnet_genesis()
    d["pools"][1]["params"] = params
    return d


def refused(d: dict[str, Any]) -> GenesisError:
    with pytest.raises(GenesisError) as info:
        parse_genesis(d)
    return info.value


def test_every_int_param_has_its_range_pinned() -> None:
    ints = [(s.name, s.kind.lo, s.kind.hi) for s in POOL_PARAMS if isinstance(s.kind, IntKind)]
    assert ints == POOL_INT_RANGES
    ints = [(s.name, s.kind.lo, s.kind.hi) for s in CHAIN_PARAMS if isinstance(s.kind, IntKind)]
    assert ints == CHAIN_INT_RANGES


@pytest.mark.parametrize(("name", "lo", "hi"), CHAIN_INT_RANGES)
def test_chain_int_param_boundaries(name: str, lo: int, hi: int) -> None:
    for ok in (lo, hi):
        g = parse_genesis(with_chain(**{name: ok}, **COMPANIONS.get((name, ok), {})))
        assert getattr(g.params, name) == ok
    for bad in (lo - 1, hi + 1, True, False, float(lo), str(lo), None, [lo]):
        err = refused(with_chain(**{name: bad}))
        assert err.field == f"params.{name}", bad


@pytest.mark.parametrize(("name", "lo", "hi"), POOL_INT_RANGES)
def test_pool_int_param_boundaries(name: str, lo: int, hi: int) -> None:
    for ok in (lo, hi):
        g = parse_genesis(with_pool(**{name: ok}))
        assert getattr(g.pools[1].params, name) == ok
        assert g.to_json()["pools"][1]["params"] == {name: ok}
    for bad in (lo - 1, hi + 1, True, False, float(lo), str(lo), None, [lo]):
        err = refused(with_pool(**{name: bad}))
        assert err.field == f"pools.1.params.{name}", bad


def test_admission_is_one_of_two_words() -> None:
    for ok in ("open", "kyc"):
        assert parse_genesis(with_pool(admission=ok)).pools[1].params.admission == ok
    for bad in ("closed", "KYC", "", 1, None, True):
        err = refused(with_pool(admission=bad))
        assert str(err) == "pools.1.params.admission: Input should be 'open' or 'kyc'"


def test_address_params() -> None:
    g = parse_genesis(with_chain(treasury=A.upper(), registrars=[], operators=[B]))
    assert g.params.treasury == bytes.fromhex(A)
    assert g.params.registrars == ()
    assert g.params.operators[0] == bytes.fromhex(B)
    for bad in (None, 5, [A], A + "0", A[:-1], "0x" + A[2:]):
        assert refused(with_chain(treasury=bad)).field == "params.treasury"
    for name in ("registrars", "operators"):
        assert refused(with_chain(**{name: [B, A, B.upper()]})).field == f"params.{name}.2"
        assert refused(with_chain(**{name: [A, None]})).field == f"params.{name}.1"
        assert refused(with_chain(**{name: {}})).field == f"params.{name}"


def test_messages_keep_their_wording() -> None:
    """Operators read these at start; they name the field and say what is wrong."""
    assert str(refused(with_chain(min_fee=-1))) == (
        "params.min_fee: Input should be greater than or equal to 0"
    )
    assert str(refused(with_pool(fee_bps=10001))) == (
        "pools.1.params.fee_bps: Input should be less than or equal to 10000"
    )
    assert str(refused(with_chain(treasury="ab"))) == (
        "params.treasury: bad hex: must be 64 hex characters (32 bytes)"
    )
    assert str(refused(with_chain(min_validators=5, max_validators=4))) == (
        "params.min_validators: 5 is greater than max_validators 4"
    )
    assert str(refused(with_chain(registrars=[A, A]))) == (
        f"params.registrars.1: duplicate address '{A}'"
    )
    d = with_chain(min_fee=True, bogus=1)
    del d["params"]["treasury"]
    assert str(refused(d)) == (
        "params.min_fee: Input should be a valid integer; params.treasury: Field required; "
        "params.bogus: Extra inputs are not permitted"
    )


def test_declarations_as_the_docs_read_them() -> None:
    chain = [(s.name, s.type_doc, s.default, s.range_doc, s.required) for s in CHAIN_PARAMS]
    assert chain == [
        ("min_fee", "int", 1, "0..2^53-1", False),
        ("max_tx_bytes", "int", 4096, "1..2^53-1", False),
        ("max_block_txs", "int", 5000, "1..2^53-1", False),
        ("block_time_ms", "int", 1000, "1..2^53-1", False),
        ("epoch_length", "int", 100, "1..2^53-1", False),
        ("max_validators", "int", 21, "1..2^53-1", False),
        ("min_validators", "int", 4, "1..2^53-1", False),
        ("max_votes_per_elector", "int", 30, "0..2^53-1", False),
        ("treasury", "address", None, "", True),
        ("registrars", "address list", [], "no duplicates", False),
        ("operators", "address list", [], "no duplicates", False),
        ("gov_deposit", "int", 100, "0..2^53-1", False),
        ("gov_voting_period", "int", 50, "10..100000", False),
        ("gov_timelock", "int", 20, "10..100000", False),
        ("gov_quorum_bps", "int", 2000, "1000..10000", False),
        ("gov_threshold_bps", "int", 6667, "5000..10000", False),
        ("gov_max_open", "int", 8, "1..64", False),
    ]
    pool = [(s.name, s.type_doc, s.default, s.range_doc) for s in POOL_PARAMS]
    assert pool[12] == ("admission", "string", "open", '"open" or "kyc"')
    assert pool[13:19] == [d[:4] for d in chain[11:]]  # the gov_ params: same in both
    assert pool[19:] == [  # section 10
        ("claim_mode", "string", "vote", '"vote" or "attested"'),
        ("attestors", "address list", [], "0..32 entries, no duplicates"),
        ("attest_quorum", "int", 1, "1..32"),
        ("objection_quorum", "int", 3, "0..1000"),
        (
            "trigger",
            "trigger",
            None,
            'null or {feed: str 1..64, op: ">=" or "<=", threshold: int -(2^53-1)..2^53-1,'
            " payout: int > 0}",
        ),
        ("collect_window", "int", 1000, "10..1000000"),
    ]
    assert pool[8] == ("approve_bps", "int", 5000, "0..10000")
    assert [p[0] for p in pool] == list(POOL_DEFAULTS)
    for s in (*POOL_PARAMS, *CHAIN_PARAMS):
        assert s.meaning and "\n" not in s.meaning and len(s.meaning) <= 100, s.name


def test_defaults_are_the_declared_ones() -> None:
    assert (
        PoolParams().to_json()
        == POOL_DEFAULTS
        == {
            "contribution": 100,
            "period": 100,
            "entry_fee": 10,
            "waiting_period": 10,
            "max_claim": 5000,
            "claim_bond": 50,
            "vote_window": 10,
            "quorum": 2,
            "approve_bps": 5000,
            "juror_min_age": 5,
            "notice_period": 3,
            "fee_bps": 800,
            "admission": "open",
            "gov_deposit": 100,
            "gov_voting_period": 50,
            "gov_timelock": 20,
            "gov_quorum_bps": 2000,
            "gov_threshold_bps": 6667,
            "gov_max_open": 8,
            "claim_mode": "vote",
            "attestors": [],
            "attest_quorum": 1,
            "objection_quorum": 3,
            "trigger": None,
            "collect_window": 1000,
        }
    )
    c = ChainParams(treasury=b"\x01" * 32)
    assert c.to_json() == {s.name: s.default for s in CHAIN_PARAMS} | {"treasury": "01" * 32}
    with pytest.raises(TypeError):
        ChainParams()  # type: ignore[call-arg]  # the treasury has no default


def test_state_and_json_forms_round_trip() -> None:
    c = ChainParams(treasury=b"\x01" * 32, min_fee=7, registrars=(b"\x02" * 32, b"\x03" * 32))
    s = c.to_state()
    assert s["treasury"] == b"\x01" * 32 and s["registrars"] == [b"\x02" * 32, b"\x03" * 32]
    assert ChainParams.from_state(copy.deepcopy(s)) == c
    assert ChainParams.from_json(c.to_json()) == c
    p = PoolParams(quorum=5, admission="kyc")
    assert PoolParams.from_state(p.to_state()) == p
    assert PoolParams.from_json({"quorum": 5, "admission": "kyc"}) == p
    with pytest.raises(AttributeError):
        c.min_fee = 2  # type: ignore[misc]  # frozen: params change only through genesis


def test_state_encoding_is_pinned() -> None:
    """The bytes in state (and so every state root) must not move when params are refactored."""
    d = localnet_genesis()
    # the values pinned below, whatever the localnet's convenience settings become
    d["params"].update(gov_voting_period=10, gov_timelock=10)
    d["pools"][1]["params"] = {"quorum": 5, "admission": "kyc", "fee_bps": 0}
    g = parse_genesis(d)
    assert sha256(K.encode_value(g.params)).hex() == (
        "2e7e7aea4ae8c5565e42896061989fa648cdc60a73fea2c9962db7e0c171decc"
    )
    pool = Pool("x", "X", 5, g.pools[1].params)
    # moved once, on purpose, by section 10 (its six params, `round` and `liabilities`)
    assert sha256(K.encode_value(pool)).hex() == (
        "a69d86db954ed66071399775aeeebbc61e92dc66726cdcf7c73562eb4865cfc9"
    )
    assert K.decode_value(K.PARAMS, K.encode_value(g.params)) == g.params


def test_a_value_alone_is_checked_as_genesis_checks_it() -> None:
    specs = {s.name: s for s in (*POOL_PARAMS, *CHAIN_PARAMS)}
    assert specs["fee_bps"].kind.parse(10000) == 10000
    assert specs["registrars"].kind.parse([A.upper()]) == (bytes.fromhex(A),)
    assert specs["treasury"].kind.parse(B) == bytes.fromhex(B)
    assert specs["admission"].kind.parse("kyc") == "kyc"
    cases = [
        ("fee_bps", 10001, "Input should be less than or equal to 10000"),
        ("quorum", 0, "Input should be greater than or equal to 1"),
        ("min_fee", True, "Input should be a valid integer"),
        ("registrars", [A, "x"], "1: bad hex: must be 64 hex characters (32 bytes)"),
        ("admission", "closed", "Input should be 'open' or 'kyc'"),
        ("operators", [A, B, A.upper()], f"2: duplicate address '{A}'"),
    ]
    for name, bad, message in cases:
        with pytest.raises(ValueError) as err:
            specs[name].kind.parse(bad)
        assert str(err.value) == message


def _quorum_fits(p: Mapping[str, Any]) -> tuple[str, str] | None:
    if p["mode"] == "attested" and not 1 <= p["attest_quorum"] <= len(p["attestors"]):
        return "attest_quorum", "must be in 1..len(attestors)"
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Later(ParamSet):
    """A set shaped like version 2's additions: each param one line, one cross-param rule."""

    mode: str = param(ChoiceKind(("vote", "attested")), "vote", "who decides")
    attestors: tuple[bytes, ...] = param(ADDRESS_LIST, [], "who may attest")
    attest_quorum: int = param(IntKind(1, 32), 1, "attestations needed")

    RULES = (_quorum_fits,)


Later.declare()


def test_a_new_param_is_one_line() -> None:
    class Base(BaseModel):
        model_config = ConfigDict(extra="forbid", strict=True)

    model = create_model("LaterModel", __base__=Base, **genesis_fields(Later.SPECS))
    assert [(s.name, s.type_doc, s.default, s.range_doc) for s in Later.SPECS] == [
        ("mode", "string", "vote", '"vote" or "attested"'),
        ("attestors", "address list", [], "no duplicates"),
        ("attest_quorum", "int", 1, "1..32"),
    ]
    values = model.model_validate({"mode": "attested", "attestors": [A.upper()]}).model_dump()
    assert Later.fault(values) is None
    later = Later.from_json(values)
    assert later == Later(mode="attested", attestors=(bytes.fromhex(A),))
    assert later.to_json() == {"mode": "attested", "attestors": [A], "attest_quorum": 1}
    assert Later.from_state(later.to_state()) == later
    for bad in ({"attest_quorum": 33}, {"attest_quorum": 0}, {"mode": "x"}, {"other": 1}):
        with pytest.raises(ValidationError):
            model.model_validate(bad)
    assert Later.fault(values | {"attest_quorum": 2}) == (
        "attest_quorum",
        "must be in 1..len(attestors)",
    )
    assert Later.fault(values | {"attestors": [A, B, A]}) == (
        "attestors.2",
        f"duplicate address '{A}'",
    )
