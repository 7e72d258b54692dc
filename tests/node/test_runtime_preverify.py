"""A proposal's signature checks and the worker pool's backlog (node/runtime.py
PREVERIFY_MAX_QUEUED_TXS): behind a backlog of peers' batches a proposal goes straight to
the replica, whose execution checks the signatures, instead of waiting its turn."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_admission import gate  # noqa: F401  (the fixture holding the worker threads)
from test_workers_node import running, transfer

import node.runtime as runtime
from consensus.messages import CONSENSUS


def spy_on(admission: Any, asked: list[int]) -> Callable[..., Any]:
    """`admission.preverify`, noting each channel it is asked for in `asked`."""
    real = admission.preverify

    def preverify(channel: int, payload: bytes, params: Any) -> Any:
        asked.append(channel)
        return real(channel, payload, params)

    return preverify


async def test_a_proposal_does_not_queue_behind_a_backlog_of_batches(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    gate: threading.Event,  # noqa: F811
) -> None:
    async for node in running(tmp_path, threads=1):
        asked: list[int] = []
        monkeypatch.setattr(node._admission, "preverify", spy_on(node._admission, asked))
        pending = asyncio.ensure_future(node.service.broadcast_tx(transfer(0), "sync"))
        await asyncio.sleep(0.05)
        assert node._pool is not None and node._pool.queued == 1
        monkeypatch.setattr(runtime, "PREVERIFY_MAX_QUEUED_TXS", 1)
        node._on_message(b"\x07" * 32, CONSENSUS, b"not even a message")
        assert asked == [CONSENSUS]  # at the bound: still on the pool
        monkeypatch.setattr(runtime, "PREVERIFY_MAX_QUEUED_TXS", 0)
        assert node._on_message(b"\x08" * 32, CONSENSUS, b"not even a message") is None
        assert asked == [CONSENSUS]  # past it: straight to the replica
        gate.set()
        assert (await pending)["code"] == 0
