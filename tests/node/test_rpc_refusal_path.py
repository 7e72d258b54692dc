"""The batch path of sync broadcast_tx calls (a refused re-offer's path under overload):
its cheaper pieces give what the pieces they replace gave, call for call and byte for byte."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.jsonrpc import dumps
from node.rpcdispatch import (
    _TAILS,
    _broadcast_args,
    _sync_wires,
    _tx_answer,
    _valid_id,
)
from node.rpcfair import AddressBudget
from state.errors import Code


def _sync_wires_call_by_call(calls: list[Any]) -> list[bytes] | None:
    """_sync_wires as it was: each call through _broadcast_args."""
    wires: list[bytes] = []
    for req in calls:
        if (
            type(req) is not dict
            or req.get("method") != "broadcast_tx"
            or req.get("jsonrpc") != "2.0"
            or not _valid_id(req.get("id"))
        ):
            return None
        args = _broadcast_args(req.get("params"))
        if args is None or args["mode"] != "sync":
            return None
        wires.append(args["tx"])
    return wires


_VALUE = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.sampled_from(["sync", "async", "commit", "SYNC", "", "ab", "0g", "ab cd", " ab", "2.0"])
    | st.binary(max_size=8).map(bytes.hex)
    | st.binary(max_size=8).map(lambda b: b.hex().upper())
    | st.lists(st.integers(), max_size=2)
)
_PARAMS = st.dictionaries(st.sampled_from(["tx", "mode", "other"]), _VALUE, max_size=3) | _VALUE
_CALL = (
    st.fixed_dictionaries(
        {
            "jsonrpc": st.sampled_from(["2.0", "1.0"]),
            "method": st.sampled_from(["broadcast_tx", "status"]),
        },
        optional={"id": _VALUE, "params": _PARAMS},
    )
    | st.fixed_dictionaries(
        {
            "jsonrpc": st.just("2.0"),
            "method": st.just("broadcast_tx"),
            "id": st.integers() | st.text(max_size=3) | st.none(),
            "params": st.fixed_dictionaries(
                {"tx": st.binary(max_size=8).map(bytes.hex)},
                optional={"mode": st.sampled_from(["sync", None, "async"])},
            ),
        }
    )
    | _VALUE
)


@settings(suppress_health_check=[HealthCheck.too_slow])  # a shared machine: generation varies
@given(st.lists(_CALL, min_size=1, max_size=4))
def test_the_inlined_batch_check_takes_exactly_the_batches_it_took(calls: list[Any]) -> None:
    assert _sync_wires(calls) == _sync_wires_call_by_call(calls)


_ERRORS = st.none() | st.sampled_from(["mempool_full", "bad_nonce", 'é"\\\u2028'])
_LOGS = st.sampled_from(["", "9000 transactions pending", "10 transactions pending", "\udc80"])
_CODES = st.sampled_from([0, 2, 4, 9, 10]) | st.integers()


@given(st.lists(st.tuples(_CODES, _ERRORS, _LOGS, st.integers() | st.none()), max_size=12))
def test_answers_in_any_sequence_are_the_encoders_text(
    answers: list[tuple[int, str | None, str, Any]],
) -> None:
    """The tail kept per code is reused only for the same error and log: any sequence of
    answers (same code with other logs, other codes in between) is still dumps' text."""
    for code, error, log_, id_ in answers:
        result = {"hash": "ab" * 4, "code": code, "error": error, "log": log_}
        assert _tx_answer(id_, result) == dumps({"jsonrpc": "2.0", "id": id_, "result": result})
    assert set(_TAILS) <= {int(c) for c in Code}  # one entry per code of the enum, at most


@pytest.mark.asyncio
@given(
    capacity=st.integers(1, 6),
    steps=st.lists(st.tuples(st.sampled_from(["one", "ones"]), st.integers(0, 8)), max_size=10),
)
async def test_taking_several_calls_at_once_is_taking_them_one_by_one(
    capacity: int, steps: list[tuple[str, int]]
) -> None:
    """try_take_ones(n) grants what n try_take(1) calls stopping at the first refusal grant,
    within a turn and across turns (a waiter queued by take() holds later calls back)."""
    bulk, single = AddressBudget(capacity), AddressBudget(capacity)
    waiting: list[asyncio.Task[None]] = []
    for kind, n in steps:
        if kind == "ones":
            got = 0
            while got < n and single.try_take("a", 1):
                got += 1
            assert bulk.try_take_ones("a", n) == got
        else:  # a call that waits for the next turn, in both
            waiting.append(asyncio.ensure_future(bulk.take("a", 1)))
            waiting.append(asyncio.ensure_future(single.take("a", 1)))
            await asyncio.sleep(0)
        assert bulk.waiting("a") == single.waiting("a")
    await asyncio.gather(*waiting)
    await asyncio.sleep(0)
    assert bulk.try_take_ones("a", 3) == sum(single.try_take("a", 1) for _ in range(3))


def test_taking_nothing_touches_nothing() -> None:
    budget = AddressBudget(2)
    assert budget.try_take_ones("a", 0) == 0
    assert budget.addresses == 0
