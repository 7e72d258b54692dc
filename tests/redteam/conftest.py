"""A real node for the red-team probes, and what every probe watches while it attacks.

Each probe module gets one single-validator node (a real ``huzhu start`` process from
node.localnet_harness, 127.0.0.1 only) with the RPC server's default limits, so the probes
attack what an operator runs. Attackers dial from other loopback addresses (127.0.0.2 and
up, all routed to ``lo`` on Linux) so that the per-address limit, not the honest client's
own connections, is what stands in their way; honest calls come from 127.0.0.1 on a fresh
connection each.

:class:`Watch` samples, while a probe runs, the node's resident memory (``/proc/PID/status``
VmRSS, and VmHWM, the peak, at the end), its height, and honest ``status`` / ``GET /health``
calls, so each probe can assert the node stayed within bounds and kept committing.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from node.localnet_harness import LocalNet
from state.crypto import Signer
from state.devkeys import dev_signer
from state.genesis_builder import genesis_doc

CHAIN_ID = "huzhu-redteam"
HONEST_ADDR = "127.0.0.1"
#: every probe asserts the node's resident memory stays under this (issue 14, item 5)
RSS_LIMIT_BYTES = 300 * 1024 * 1024
#: funded members: 0 is the honest sender, the rest the funded flood's senders
FUNDED = 65
BALANCE = 10_000_000
#: fast blocks so a probe sees many commits in a few seconds (ms)
FAST_CONSENSUS = {
    "timeout_propose_ms": 600,
    "timeout_propose_delta_ms": 200,
    "timeout_prevote_ms": 200,
    "timeout_prevote_delta_ms": 100,
    "timeout_precommit_ms": 200,
    "timeout_precommit_delta_ms": 100,
}


def member(i: int) -> Signer:
    return dev_signer(f"redteam-member-{i}")


def attacker_addr(k: int) -> str:
    """The k-th attacker's loopback source address (127.0.0.2 for k = 0)."""
    return f"127.0.{k // 250}.{2 + k % 250}"


def start_node(root: Path, config: dict[str, Any] | None = None) -> LocalNet:
    """One validator under `root`, running and past height 2: default RPC limits, fast
    consensus, then `config` (a mapping per config.toml section)."""
    template = genesis_doc(
        chain_id=CHAIN_ID,
        treasury=dev_signer("redteam-treasury").public_key,
        params={"block_time_ms": 200, "epoch_length": 100000},
        validators=None,
        accounts=[(member(i).public_key, BALANCE) for i in range(FUNDED)],
        pools=[{"id": "medical", "name": "Medical aid"}],
    )
    sections: dict[str, Any] = {"consensus": dict(FAST_CONSENSUS), **(config or {})}
    net = LocalNet.create(root, 1, template, config=sections)
    try:
        net.start_all()
        net.wait_height(0, 2)
    except BaseException:
        net.close(kill=True)
        raise
    return net


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNet]:
    """One validator with default RPC limits for the module's probes; killed at the end."""
    net = start_node(tmp_path_factory.mktemp("redteam"))
    try:
        yield net
    finally:
        net.close(kill=True)


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of `pid` in bytes (from /proc/PID/status)."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) * 1024
    return out


async def honest_call(
    url: str, method: str, params: dict[str, Any] | None = None, timeout: float = 10.0
) -> tuple[int, Any]:
    """One JSON-RPC call from 127.0.0.1 on a fresh connection: (HTTP status, parsed body)."""
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}
    conn = aiohttp.TCPConnector(local_addr=(HONEST_ADDR, 0), force_close=True)
    async with aiohttp.ClientSession(connector=conn) as s:
        async with s.post(url, json=body, timeout=aiohttp.ClientTimeout(total=timeout)) as r:
            raw = await r.read()
            try:
                return r.status, json.loads(raw)
            except ValueError:
                return r.status, raw


async def health(url: str, source: str = HONEST_ADDR, timeout: float = 10.0) -> int:
    """The HTTP status of ``GET /health`` from `source` on a fresh connection."""
    conn = aiohttp.TCPConnector(local_addr=(source, 0), force_close=True)
    async with aiohttp.ClientSession(connector=conn) as s:
        async with s.get(url + "health", timeout=aiohttp.ClientTimeout(total=timeout)) as r:
            await r.read()
            return r.status


@dataclass
class Watch:
    """Samples the node every `period` s while a probe runs (``async with Watch(...)``)."""

    net: LocalNet
    period: float = 0.5
    max_rss: int = 0
    hwm: int = 0
    heights: list[int] = field(default_factory=list)
    status_codes: list[int] = field(default_factory=list)
    health_codes: list[int] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Watch:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self.sample_memory()

    def sample_memory(self) -> None:
        mem = proc_status(self.net.pid(0))
        self.max_rss = max(self.max_rss, mem["VmRSS"])
        self.hwm = max(self.hwm, mem["VmHWM"])

    async def _run(self) -> None:
        url = self.net.rpc_url(0)
        while True:
            self.sample_memory()
            t0 = time.monotonic()
            try:
                code, resp = await honest_call(url, "status")
                self.status_codes.append(code)
                if code == 200 and isinstance(resp, dict) and "result" in resp:
                    self.heights.append(int(resp["result"]["height"]))
                    self.latencies.append(time.monotonic() - t0)
                self.health_codes.append(await health(url))
            except (OSError, aiohttp.ClientError, TimeoutError) as exc:
                self.failures.append(repr(exc))
            await asyncio.sleep(self.period)

    def report(self, label: str) -> str:
        lat = sorted(self.latencies)
        p = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000) if lat else (lambda q: 0)
        return (
            f"[{label}] heights {self.heights[:1]}..{self.heights[-1:]}, honest status "
            f"{len(lat)} ok p50 {p(0.5):.0f} ms max {p(1.0):.0f} ms, health "
            f"{sorted(set(self.health_codes))}, failures {len(self.failures)}, node RSS max "
            f"{self.max_rss / 2**20:.1f} MiB, VmHWM {self.hwm / 2**20:.1f} MiB"
        )

    def assert_healthy(self, label: str, min_blocks: int = 2) -> None:
        """Every honest call answered 200, /health 200, the chain committed at least
        `min_blocks` blocks meanwhile, resident memory under RSS_LIMIT_BYTES."""
        print(self.report(label))
        assert not self.failures, f"{label}: honest calls failed: {self.failures[:3]}"
        assert self.status_codes and set(self.status_codes) == {200}, self.status_codes
        assert self.health_codes and set(self.health_codes) == {200}, self.health_codes
        assert self.heights[-1] - self.heights[0] >= min_blocks, (
            f"{label}: the chain did not keep committing: {self.heights}"
        )
        assert self.hwm < RSS_LIMIT_BYTES, f"{label}: node peak RSS {self.hwm} bytes"
