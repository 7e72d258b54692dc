"""Fixtures of the p2p tests: every node and raw socket a test opens is closed after it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from p2p_testutil import Rec


class Net:
    """Starts recording nodes and remembers them (and raw writers) for teardown."""

    def __init__(self) -> None:
        self.recs: list[Rec] = []
        self.writers: list[asyncio.StreamWriter] = []

    async def node(self, *args: Any, **kwargs: Any) -> Rec:
        rec = Rec(*args, **kwargs)
        await rec.start()
        self.recs.append(rec)
        return rec

    def track(self, writer: asyncio.StreamWriter) -> asyncio.StreamWriter:
        self.writers.append(writer)
        return writer


@pytest.fixture
async def net() -> AsyncIterator[Net]:
    n = Net()
    yield n
    for w in n.writers:
        w.close()
    for rec in n.recs:
        await rec.node.stop()
