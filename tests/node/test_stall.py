"""A node that cannot go on says so: a failed store write stops it with one line and a
non-zero exit (in process and as a real process), a lesser failure shows in `status` and is
logged once, and the clock offset estimate tells a node behind from one ahead."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import aiohttp
import plyvel
import pytest
from test_runtime import make_home, wait_height

from node import runtime
from node import vitals as vitals_mod
from node.runtime import Node
from node.vitals import EXIT_FATAL, GuardedStore, StoreFailed, Vitals
from state.store import Batch, MemoryStore

REPO = Path(__file__).resolve().parents[2]
DISK_FULL = "IO error: /data/000123.log: No space left on device"


async def until(cond: Any, timeout: float = 30.0) -> None:
    """Poll `cond` until true; a generous deadline, so a loaded machine does not fail it."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


@pytest.fixture
async def node(tmp_path: Path) -> Any:
    n = Node(make_home(tmp_path))
    await n.start()
    try:
        yield n
    finally:
        await n.stop()


async def test_a_failed_store_write_stops_the_node_with_one_line(
    node: Node, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    await wait_height(node, 2)
    assert node.store is not None

    def full_disk(*args: Any, **kwargs: Any) -> None:
        raise plyvel.IOError(DISK_FULL)

    caplog.set_level(logging.INFO, logger="huzhu")
    monkeypatch.setattr(node.store, "write", full_disk)
    monkeypatch.setattr(node.store, "put", full_disk)
    await asyncio.wait_for(node.failed.wait(), 30)
    stuck = node.view().height
    critical = [r for r in caplog.records if r.levelno >= logging.CRITICAL]
    assert len(critical) == 1 and "No space left on device" in critical[0].getMessage()
    assert f"exit status {EXIT_FATAL}" in critical[0].getMessage()
    assert not [r for r in caplog.records if r.exc_info]  # no traceback flood
    # still answering while the process runs: /health 200, status says what went wrong
    assert node.rpc is not None
    async with aiohttp.ClientSession() as s, s.get(node.rpc.url + "health") as r:
        assert r.status == 200
    st = await node.service.status()
    assert st["stalled_since"] is not None and "No space left" in st["last_error"]
    await asyncio.sleep(0.5)  # it takes no more input: no further block, no further line
    assert node.view().height == stuck
    assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 1


def test_a_real_process_exits_non_zero_when_its_disk_fills(tmp_path: Path) -> None:
    """`huzhu start`'s `run` as a process whose store refuses writes after a few blocks:
    it exits with EXIT_FATAL and one clear line instead of living on stalled."""
    home = make_home(tmp_path)
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(REPO)!r})
        import plyvel
        from state.store import LevelDBStore
        real = LevelDBStore.write
        calls = [0]
        def write(self, batch, sync=True):
            calls[0] += 1
            if calls[0] > 5:
                raise plyvel.IOError({DISK_FULL!r})
            return real(self, batch, sync)
        LevelDBStore.write = write
        from node.serve import run
        sys.exit(run({str(home)!r}))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == EXIT_FATAL, out.stderr[-2000:]
    lines = [ln for ln in out.stderr.splitlines() if "cannot continue" in ln]
    assert len(lines) == 1 and "No space left on device" in lines[0]
    assert "Traceback" not in out.stderr


async def test_a_failing_step_shows_in_status_and_clears_after_a_commit(
    node: Node, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    await wait_height(node, 1)
    real = node.replica.on_timeout
    calls = [0]

    def broken(now_ms: int) -> Any:
        calls[0] += 1
        raise RuntimeError("bug of ours")

    caplog.set_level(logging.INFO, logger="huzhu")
    monkeypatch.setattr(node.replica, "on_timeout", broken)
    await until(lambda: calls[0] >= 3)
    st = await node.service.status()
    assert st["stalled_since"] is not None and st["last_error"] == "RuntimeError: bug of ours"
    assert not node.failed.is_set()  # not fatal: the node keeps running
    # retried, but not in a hot loop, and the traceback is logged once
    before = calls[0]
    await asyncio.sleep(1.0)
    assert 0 < calls[0] - before <= 1000 // runtime.FAILED_STEP_RETRY_MS + 1
    assert len([r for r in caplog.records if r.exc_info]) == 1
    monkeypatch.setattr(node.replica, "on_timeout", real)
    h = node.view().height
    await wait_height(node, h + 1)
    await until(lambda: node.vitals.stalled_since_ms is None)
    st = await node.service.status()
    assert st["stalled_since"] is None and st["last_error"] is None


def test_guarded_store_marks_write_failures_only() -> None:
    inner = MemoryStore()
    g = GuardedStore(inner)
    b = Batch()
    b.put(b"k", b"v")
    g.write(b)
    assert g.get(b"k") == b"v" and g.failure is None
    with pytest.raises(TypeError):  # a caller bug is not a disk failure
        g.put(b"k", 5)  # type: ignore[arg-type]  # the wrong type on purpose
    assert g.failure is None

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    inner.write = refuse  # type: ignore[method-assign]  # the disk fills
    with pytest.raises(StoreFailed, match="No space left"):
        g.write(b)
    assert isinstance(g.failure, OSError)


# ------------------------------------------------------------------ clock offset


def test_clock_offset_tells_behind_from_ahead_and_ignores_own_blocks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="huzhu")
    now = 1_000_000
    healthy = Vitals(skew_warn_ms=2500)
    for i in range(5):
        healthy.committed(now + i * 1000 - 300, own=False, now_ms=now + i * 1000)
    assert healthy.clock_offset_ms() == -300 and not healthy.clock_skewed()

    behind = Vitals(skew_warn_ms=2500)  # our clock 30 s behind: blocks look 30 s early
    behind.committed(now + 30_000, own=True, now_ms=now)  # own blocks: no sample
    assert behind.clock_offset_ms() is None
    for i in range(vitals_mod.CLOCK_MIN_SAMPLES):
        behind.committed(now + i * 1000 + 29_700, own=False, now_ms=now + i * 1000)
    assert behind.clock_offset_ms() == 29_700 and behind.clock_skewed()

    ahead = Vitals(skew_warn_ms=2500)
    for i in range(vitals_mod.CLOCK_MIN_SAMPLES):
        ahead.committed(now + i * 1000 - 30_300, own=False, now_ms=now + i * 1000)
    assert ahead.clock_offset_ms() == -30_300 and ahead.clock_skewed()
    warnings = [r.getMessage() for r in caplog.records if "clock skew" in r.getMessage()]
    assert len(warnings) == 2  # once per skewed node within the interval
    assert "behind" in warnings[0] and "ahead" in warnings[1]


def test_clock_warning_is_repeated_once_per_interval_and_at_the_boundary() -> None:
    v = Vitals(skew_warn_ms=2500)
    now = 5_000_000
    logged: list[int] = []
    v_log = vitals_mod.log
    handler = logging.Handler()
    handler.emit = lambda r: logged.append(r.created and 1)  # type: ignore[method-assign]
    v_log.addHandler(handler)
    try:
        for _ in range(vitals_mod.CLOCK_MIN_SAMPLES):
            v.committed(now + 10_000, own=False, now_ms=now)
        assert len(logged) == 1
        step = vitals_mod.CLOCK_LOG_INTERVAL_MS
        v.committed(now + step - 1 + 10_000, own=False, now_ms=now + step - 1)
        assert len(logged) == 1
        v.committed(now + step + 10_000, own=False, now_ms=now + step)
        assert len(logged) == 2
    finally:
        v_log.removeHandler(handler)


def test_skew_exactly_at_the_tolerance_is_not_a_warning() -> None:
    v = Vitals(skew_warn_ms=2500)
    for i in range(vitals_mod.CLOCK_MIN_SAMPLES):
        v.committed(2500 + i, own=False, now_ms=i)
    assert v.clock_offset_ms() == 2500 and not v.clock_skewed()
    v.committed(10_000, own=False, now_ms=0)
    v.committed(10_000, own=False, now_ms=0)
    assert not v.clock_skewed()  # a minority of odd blocks (a Byzantine proposer) moves nothing
    v.committed(10_000, own=False, now_ms=0)
    assert v.clock_skewed()
    with pytest.raises(ValueError):
        Vitals(skew_warn_ms=0)


async def test_status_of_a_running_node_reports_health_fields(node: Node) -> None:
    await wait_height(node, 1)
    st = await node.service.status()
    # a single validator commits only its own blocks: no clock sample yet
    assert st["stalled_since"] is None and st["last_error"] is None
    assert st["clock_offset_ms"] is None and st["clock_skew_warning"] is False
    consensus = node.config.consensus.to_params(node.chain.params)
    assert node.vitals.skew_warn_ms == consensus.max_clock_drift_ms // 2


async def test_a_failed_prune_write_between_blocks_stops_the_node_too(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    await wait_height(node, 1)

    def full_disk(max_nodes: int) -> int:
        raise StoreFailed(DISK_FULL) from plyvel.IOError(DISK_FULL)

    monkeypatch.setattr(node.chain, "prune_step", full_disk)
    await asyncio.wait_for(node.failed.wait(), 30)
    assert node.vitals.fatal is not None and "No space left" in node.vitals.fatal.reason
