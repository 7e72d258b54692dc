"""How a broadcast_tx answer (commit mode, PROTOCOL.md section 6) is recorded in the history."""

from __future__ import annotations

from nemesis.workload import History, Op, classify


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
