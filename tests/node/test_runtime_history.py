"""The node keeps [state] state_history heights, prunes between blocks when commits alone fall
behind, and after a restart keeps its history and warms the tree in the background."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from test_runtime import ALICE, make_home, transfer, wait_height

from node.config import StateConfig, load_config, write_config
from node.runtime import Node
from state.chain import Pruned


def _home(tmp_path: Path, **state: int) -> Path:
    home = make_home(tmp_path)
    cfg = load_config(home)
    write_config(home / "config.toml", cfg.model_copy(update={"state": StateConfig(**state)}))
    return home


async def _until(cond: Callable[[], bool], timeout: float = 20.0) -> None:
    async def loop() -> None:
        while not cond():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(loop(), timeout)


async def test_history_is_kept_pruned_between_blocks_and_survives_a_restart(
    tmp_path: Path,
) -> None:
    home = _home(tmp_path, state_history=3, prune_per_block=1, prune_idle_step=50)
    n = Node(home)
    await n.start()
    try:
        r = await n.service.broadcast_tx(transfer(0, amount=5), "commit", timeout=20)
        assert r["code"] == 0
        at = r["height"]
        await wait_height(n, at + 4)
        chain = n.chain
        assert chain.oldest_retained == chain.height - 2 > at
        with pytest.raises(Pruned):
            chain.view(at)
        # commits prune one unit each; the idle task keeps the backlog drained anyway
        await _until(lambda: chain.tree.stale_backlog(chain.oldest_retained) == 0)
    finally:
        await n.stop()
    floor = chain.oldest_retained  # as the node stopped
    # restarted with a longer history: what was kept stays, what was pruned does not return
    cfg = load_config(home)
    write_config(home / "config.toml", cfg.model_copy(update={"state": StateConfig()}))
    n2 = Node(home)
    await n2.start()
    try:
        assert n2.chain.oldest_retained == floor > at
        assert n2.chain.view(floor).account(ALICE.public_key).balance == 10_000 - 5 - 1
        with pytest.raises(Pruned):
            n2.chain.view(floor - 1)
        await _until(lambda: n2.chain.tree.cached_nodes > 0)  # warmed after start
    finally:
        await n2.stop()
