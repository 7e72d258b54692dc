"""How a broadcast_tx answer (commit mode, PROTOCOL.md section 6) is recorded in the history."""

from __future__ import annotations

import random
from typing import Any

from nemesis.workload import POOLS, Client, History, Op, Shared, classify
from state.devkeys import dev_signer


def _op() -> tuple[History, Op]:
    h = History()
    return h, h.invoke(0, 1, "transfer", "ab" * 32, None)


def test_an_answer_with_a_height_is_ok_even_when_execution_failed() -> None:
    h, op = _op()
    classify(
        op, {"hash": "x", "height": 7, "index": 2, "code": 4, "error": "insufficient_funds"}, 1.0
    )
    assert (op.outcome, op.height, op.index, op.code, op.error) == (
        "ok",
        7,
        2,
        4,
        "insufficient_funds",
    )


def test_a_refusal_at_admission_is_refused_with_its_code() -> None:
    h, op = _op()
    classify(op, {"hash": "x", "code": 3, "error": "bad_nonce", "log": ""}, 1.0)
    assert (op.outcome, op.code, op.error, op.height) == ("refused", 3, "bad_nonce", None)


def test_the_commit_timeout_is_unknown_not_failed() -> None:
    h, op = _op()
    classify(op, {"hash": "x", "code": -1, "error": "timeout", "log": ""}, 31.0)
    assert op.outcome == "unknown" and op.detail == "commit timeout"


def test_an_ok_without_height_is_unknown() -> None:
    h, op = _op()
    classify(op, {"hash": "x", "code": 0, "error": None, "log": ""}, 1.0)
    assert op.outcome == "unknown"
    assert h.counts() == {"unknown": 1}


class _Reads:
    """An Rpc stand-in that answers reads from a table and records broadcasts."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.sent: list[dict[str, Any]] = []

    async def call(self, method: str, timeout: float = 0, **params: Any) -> Any:
        if method == "broadcast_tx":
            self.sent.append(params)
            return {"hash": "x", "height": 5, "index": 0, "code": 0, "error": None}
        return self.answers[method]


def _member(answers: dict[str, Any], joined: tuple[str, ...] = POOLS) -> tuple[Client, _Reads]:
    rpc = _Reads({"account": {"pending_nonce": 0}, **answers})
    cl = Client(0, dev_signer("m0"), "c", [rpc], History(), Shared(), random.Random(1))  # type: ignore[list-item]  # a duck-typed Rpc
    cl.joined = set(joined)
    return cl, rpc


async def test_a_member_joins_the_three_pools_before_anything_else() -> None:
    cl, _ = _member({}, joined=())
    for pool in POOLS:
        await cl.send_one("collect")
        assert cl.history.ops[-1].type == "join" and pool in cl.joined
    assert [op.type for op in cl.history.ops] == ["join"] * 3


async def test_collect_picks_an_open_event_it_has_not_collected() -> None:
    events = [
        {"round": 1, "collect_until": 3},  # closed at best_height 4
        {"round": 2, "collect_until": 12},
    ]
    cl, _ = _member({"events": events})
    cl.shared.best_height = 4
    await cl.send_one("collect")
    op = cl.history.ops[-1]
    assert (op.type, op.event) == ("collect", "triggered/2") and "triggered/2" in cl.collected
    await cl.send_one("collect")  # nothing left to collect: a transfer instead
    assert cl.history.ops[-1].type == "transfer"


async def test_object_names_an_approved_attested_claim_of_another_member() -> None:
    me = dev_signer("m0").public_key.hex()
    claims = [
        {"id": "11" * 32, "claimant": me, "objected": False},
        {"id": "22" * 32, "claimant": "ab" * 32, "objected": True},
        {"id": "33" * 32, "claimant": "ab" * 32, "objected": False},
    ]
    cl, _ = _member({"claims": claims})
    await cl.send_one("object")
    op = cl.history.ops[-1]
    assert (op.type, op.claim) == ("object", "33" * 32)
