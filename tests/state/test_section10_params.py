"""The six pool params of PROTOCOL.md section 10 through genesis (messages naming the field),
the cross-param rule, their state and JSON forms, and through governance (a `propose` of
`trigger` or `attestors` values checked by the same declarations; `--set` reads JSON)."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from state.devkeys import localnet_genesis
from state.fieldkinds import CHANGES, Field
from state.genesis import GenesisError, parse_genesis
from state.params import (
    POOL_CHANGEABLE,
    PoolParams,
    Trigger,
    apply_changes,
)

A = "ab" * 32
B = "cd" * 32
TRIGGER = {"feed": "rainfall_mm", "op": ">=", "threshold": 200, "payout": 50}


def with_pool(**params: Any) -> dict[str, Any]:
    d = localnet_genesis()
    d["pools"][1]["params"] = params
    return d


def refused(**params: Any) -> GenesisError:
    with pytest.raises(GenesisError) as info:
        parse_genesis(with_pool(**params))
    return info.value


def test_attested_and_triggered_pools_in_genesis() -> None:
    g = parse_genesis(with_pool(claim_mode="attested", attestors=[A, B.upper()], attest_quorum=2))
    p = g.pools[1].params
    assert (p.claim_mode, p.attestors, p.attest_quorum) == (
        "attested",
        (bytes.fromhex(A), bytes.fromhex(B)),
        2,
    )
    g = parse_genesis(with_pool(trigger=TRIGGER, attestors=[A], collect_window=10))
    p = g.pools[1].params
    assert p.trigger == Trigger("rainfall_mm", ">=", 200, 50) and p.collect_window == 10
    assert p.to_json()["trigger"] == TRIGGER
    assert p.to_state()["trigger"] == {"feed": "rainfall_mm", "op": ">=", "payout": 50,
                                       "threshold": 200}  # fmt: skip
    assert PoolParams.from_state(p.to_state()) == p
    assert g.to_json()["pools"][1]["params"]["trigger"] == TRIGGER


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"claim_mode": "attested"}, "attest_quorum", "1 is not in 1..0"),
        ({"trigger": TRIGGER, "attestors": [A], "attest_quorum": 2}, "attest_quorum", "2 is not"),
        ({"claim_mode": "attested", "attestors": [A, B, A]}, "attestors.2", "duplicate"),
        ({"claim_mode": "jury"}, "claim_mode", "'vote' or 'attested'"),
        ({"attestors": ["ab" * 31]}, "attestors.0", "bad hex"),
        ({"attestors": [f"{i:064x}" for i in range(33)]}, "attestors", "at most 32"),
        ({"attest_quorum": 33}, "attest_quorum", ""),
        ({"objection_quorum": 1001}, "objection_quorum", ""),
        ({"collect_window": 9}, "collect_window", ""),
        ({"trigger": {**TRIGGER, "op": ">"}}, "trigger.op", ""),
        ({"trigger": {**TRIGGER, "payout": 0}}, "trigger.payout", ""),
        ({"trigger": {**TRIGGER, "feed": ""}}, "trigger.feed", ""),
        ({"trigger": {**TRIGGER, "feed": "f" * 65}}, "trigger.feed", ""),
        ({"trigger": {**TRIGGER, "threshold": 2**53}}, "trigger.threshold", ""),
        ({"trigger": {**TRIGGER, "threshold": 1.5}}, "trigger.threshold", ""),
        ({"trigger": {**TRIGGER, "extra": 1}}, "trigger.extra", ""),
        ({"trigger": {k: v for k, v in TRIGGER.items() if k != "payout"}}, "trigger.payout", ""),
        ({"trigger": "rain >= 200"}, "trigger", ""),
    ],
)
def test_genesis_refuses_naming_the_field(params: dict[str, Any], field: str, message: str) -> None:
    err = refused(**params)
    assert err.field == f"pools.1.params.{field}", err
    assert message in err.message, err.message


def test_trigger_boundaries_are_accepted() -> None:
    for trig in (
        {**TRIGGER, "feed": "f" * 64, "op": "<=", "threshold": -(2**53 - 1), "payout": 1},
        {**TRIGGER, "feed": "\U0001f327" * 64, "threshold": 2**53 - 1, "payout": 2**53 - 1},
    ):
        p = parse_genesis(with_pool(trigger=trig, attestors=[A])).pools[1].params
        assert p.trigger is not None and p.trigger.to_state() == dict(sorted(trig.items()))
    p = parse_genesis(with_pool(attestors=[f"{i:064x}" for i in range(32)], attest_quorum=32))
    assert len(p.pools[1].params.attestors) == 32


def test_trigger_holds() -> None:
    up, down = Trigger("f", ">=", 200, 1), Trigger("f", "<=", -5, 1)
    assert [up.holds(v) for v in (199, 200, 201)] == [False, True, True]
    assert [down.holds(v) for v in (-6, -5, -4)] == [True, True, False]


# --- governance --------------------------------------------------------------------------

AB, CD = bytes.fromhex(A), bytes.fromhex(B)


def change(current: PoolParams, **changes: Any) -> PoolParams:
    after = apply_changes(current, POOL_CHANGEABLE, changes)
    assert isinstance(after, PoolParams)
    return after


def test_governance_sets_the_section_10_params_with_wire_values() -> None:
    p = change(PoolParams(), attestors=[AB, CD], claim_mode="attested", attest_quorum=2)
    assert (p.attestors, p.claim_mode, p.attest_quorum) == ((AB, CD), "attested", 2)
    p = change(p, trigger=dict(TRIGGER), collect_window=1_000_000, objection_quorum=0)
    assert p.trigger == Trigger("rainfall_mm", ">=", 200, 50)
    assert (p.collect_window, p.objection_quorum) == (1_000_000, 0)
    p = change(p, trigger=None)
    assert p.trigger is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"claim_mode": "attested"}, "attest_quorum: 1 is not in 1..0"),
        ({"trigger": TRIGGER}, "attest_quorum: 1 is not in 1..0"),
        ({"attestors": [AB, AB]}, "attestors: duplicate addresses"),
        ({"attestors": [AB.hex()]}, "attestors: must be an array of 32-byte addresses"),
        ({"attestors": [bytes([i]) * 32 for i in range(33)]}, "attestors: more than 32"),
        ({"attest_quorum": 0}, "attest_quorum: must be an integer in 1..32"),
        ({"collect_window": 9}, "collect_window: must be an integer in 10..1000000"),
        ({"trigger": {**TRIGGER, "op": "=="}}, 'trigger: op must be ">=" or "<="'),
        ({"trigger": {**TRIGGER, "payout": 0}}, "trigger: payout must be an integer"),
        ({"trigger": {**TRIGGER, "feed": "x" * 65}}, "trigger: feed must be a string of 1..64"),
        ({"trigger": {**TRIGGER, "threshold": True}}, "trigger: threshold must be an integer"),
        ({"trigger": {**TRIGGER, "more": 1}}, "trigger: must be nil or a map of feed"),
        ({"trigger": [1]}, "trigger: must be nil or a map"),
    ],
)
def test_governance_refuses_bad_values_naming_them(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as err:
        apply_changes(PoolParams(), POOL_CHANGEABLE, changes)
    assert str(err.value).startswith(message), str(err.value)


def test_removing_the_last_attestor_of_an_attested_pool_is_refused() -> None:
    p = change(PoolParams(), attestors=[AB], claim_mode="attested")
    with pytest.raises(ValueError, match="attest_quorum: 1 is not in 1..0"):
        apply_changes(p, POOL_CHANGEABLE, {"attestors": []})
    assert change(p, attestors=[], claim_mode="vote").attestors == ()


def test_the_command_line_set_reads_json_values() -> None:
    parser = argparse.ArgumentParser()
    CHANGES.add_argument(parser, Field("changes", CHANGES))
    args = parser.parse_args(
        [
            "--set",
            'trigger={"feed": "rain", "op": "<=", "threshold": -3, "payout": 9}',
            "--set",
            f'attestors=["{A}", "{B}"]',
            "--set",
            "claim_mode=attested",
            "--set",
            "trigger2=null",
        ]
    )
    js = CHANGES.from_cli(args.changes)
    wire = CHANGES.from_json("changes", js, {})
    assert wire["trigger"] == {"feed": "rain", "op": "<=", "threshold": -3, "payout": 9}
    assert wire["attestors"] == [AB, CD] and wire["claim_mode"] == "attested"
    assert wire["trigger2"] is None
    p = change(PoolParams(), **{k: v for k, v in wire.items() if k != "trigger2"}, attest_quorum=2)
    assert p.trigger == Trigger("rain", "<=", -3, 9)
