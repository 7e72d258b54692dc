"""Red-team probes of the P2P port of real validator processes (issue 14, item 5).

Two validators on 127.0.0.1 (both are needed to commit, so the chain only advances while
their link holds). Node 0's P2P port gets, one after another: 64 concurrent unauthenticated
handshakes each announcing an 8 MiB frame and pushing its bytes; 8 MiB length prefixes
trickled one byte at a time; garbage connections, from 127.0.0.1 (the peers' own address) and
from 127.0.0.2 (a stranger's, rate-limited). Meanwhile node 1 is killed and restarted
(a restarted validator must get back in under the flood). Asserted: the chain keeps
committing, the restarted validator links again, node 0's RSS high-water mark stays under
300 MB, and refusals are summarised in the log rather than logged one line each.
Latencies and memory figures are printed (``-s``), not asserted. Every loop is bounded in
count and time; all traffic goes to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node.localnet_harness import LocalNet
from p2p.secret import HELLO_LEN, HELLO_MAGIC
from state.crypto import Signer
from state.genesis_builder import genesis_doc

pytestmark = pytest.mark.slow

HOST = "127.0.0.1"
RSS_LIMIT_KB = 300 * 1024
EIGHT_MIB = 8 * 1024 * 1024
FAST_CONSENSUS = {
    "timeout_propose_ms": 600,
    "timeout_propose_delta_ms": 200,
    "timeout_prevote_ms": 200,
    "timeout_prevote_delta_ms": 100,
    "timeout_precommit_ms": 200,
    "timeout_precommit_delta_ms": 100,
}


def _mem_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in kB, from /proc."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            out[name] = int(value.split()[0])
    return out


@pytest.fixture
def net(tmp_path: Path) -> Iterator[LocalNet]:
    template = genesis_doc(
        chain_id="huzhu-redteam",
        treasury=Signer(b"\x07" * 32).public_key,
        registrars=[],
        params={"block_time_ms": 200},
        validators=None,
        accounts=[],
        pools=[],
    )
    config = {"consensus": dict(FAST_CONSENSUS), "p2p": {"refusal_log_interval_ms": 2000}}
    n = LocalNet.create(tmp_path, 2, template, config=config)
    try:
        n.start_all()
        yield n
    finally:
        n.close(kill=True)


async def _height(net: LocalNet, i: int) -> int:
    return await asyncio.to_thread(net.height, i)


async def _advances(net: LocalNet, i: int, timeout: float) -> float | None:
    """Seconds until node i commits a new block, or None within `timeout`."""
    start = time.monotonic()
    h0 = await _height(net, i)
    while time.monotonic() - start < timeout:
        await asyncio.sleep(0.1)
        try:
            if await _height(net, i) > h0:
                return time.monotonic() - start
        except Exception:  # the RPC may be briefly slow under the flood; keep polling
            continue
    return None


async def _big_frame_handshake(port: int, deadline: float) -> int:
    """Hello, then an 8 MiB length prefix and its bytes until the node hangs up."""
    sent = 0
    try:
        reader, writer = await asyncio.open_connection(HOST, port)
    except OSError:
        return 0
    try:
        await asyncio.wait_for(reader.readexactly(HELLO_LEN), 2.0)
        writer.write(HELLO_MAGIC + os.urandom(32) + EIGHT_MIB.to_bytes(4, "big"))
        chunk = os.urandom(64 * 1024)
        while sent < EIGHT_MIB and time.monotonic() < deadline:
            writer.write(chunk)
            await asyncio.wait_for(writer.drain(), 1.0)
            sent += len(chunk)
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()
    return sent


async def _slow_prefix(port: int, deadline: float) -> float:
    """An 8 MiB length prefix trickled a byte at a time, then a byte of body per 50 ms;
    returns how long the node kept the connection."""
    start = time.monotonic()
    try:
        reader, writer = await asyncio.open_connection(HOST, port)
    except OSError:
        return 0.0
    try:
        await asyncio.wait_for(reader.readexactly(HELLO_LEN), 2.0)
        writer.write(HELLO_MAGIC + os.urandom(32))
        for b in EIGHT_MIB.to_bytes(4, "big") + bytes(200):
            if time.monotonic() > deadline:
                break
            writer.write(bytes([b]))
            await writer.drain()
            await asyncio.sleep(0.05)
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()
    return time.monotonic() - start


async def _garbage(port: int, source: str = HOST) -> None:
    try:
        reader, writer = await asyncio.open_connection(HOST, port, local_addr=(source, 0))
    except OSError:
        return
    try:
        writer.write(os.urandom(512))
        await asyncio.wait_for(writer.drain(), 1.0)
        await asyncio.wait_for(reader.read(), 2.0)
    except (OSError, TimeoutError):
        pass
    finally:
        writer.close()


async def _flood(port: int, seconds: float) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    rounds = 0
    pushed = 0
    while time.monotonic() < deadline and rounds < 2000:
        sizes = await asyncio.gather(*(_big_frame_handshake(port, deadline) for _ in range(64)))
        pushed += sum(sizes)
        rounds += 1
    return {"rounds_of_64": rounds, "bytes_pushed": pushed}


async def test_p2p_floods_leave_a_validator_committing_and_bounded(net: LocalNet) -> None:
    port, pid = net.p2p_port(0), net.pid(0)
    assert await _advances(net, 0, 30.0) is not None
    before = _mem_kb(pid)
    report: dict[str, Any] = {"rss_before_kb": before}

    # 1. 64 concurrent unauthenticated handshakes with 8 MiB frames, while node 1 restarts
    flood = asyncio.ensure_future(_flood(port, 12.0))
    await asyncio.sleep(1.0)
    await asyncio.to_thread(net.kill9, 1)
    net.start(1, tag="-restarted")
    restarted = time.monotonic()
    back = await _advances(net, 0, 40.0)  # both validators are needed: the link is back
    report["restarted_validator_commits_after_s"] = (
        None if back is None else round(time.monotonic() - restarted, 2)
    )
    report["flood"] = await flood
    assert back is not None, net.dump_logs()
    report["commit_during_flood_s"] = await _advances(net, 0, 20.0)

    # 2. 8 MiB length prefixes with slow bytes, 16 at once
    deadline = time.monotonic() + 8.0
    held = await asyncio.gather(*(_slow_prefix(port, deadline) for _ in range(16)))
    report["slow_prefix_held_s_max"] = round(max(held), 2)

    # 3. garbage frames: 256 connections, 32 at a time
    start = time.monotonic()
    for _ in range(8):
        await asyncio.gather(*(_garbage(port) for _ in range(32)))
    report["garbage_256_s"] = round(time.monotonic() - start, 2)

    # 4. the same garbage from an address that is no configured peer's (still loopback):
    # beyond its burst, its handshakes are refused by the per-address rate
    for _ in range(4):
        await asyncio.gather(*(_garbage(port, "127.0.0.2") for _ in range(32)))

    after_commit = await _advances(net, 0, 20.0)
    for _ in range(50):  # the summary of the last interval (with part 4) comes within 2 s
        if "rate=" in net.log_text(0):
            break
        await asyncio.sleep(0.1)
    report["commit_after_probes_s"] = after_commit
    after = _mem_kb(pid)
    report["rss_after_kb"] = after
    text = net.log_text(0)
    log_lines = text.count("\n")
    report["summary_lines"] = [
        ln[ln.find("p2p refused") :] for ln in text.splitlines() if "p2p refused" in ln
    ]
    report["node0_log_lines"] = log_lines
    print("p2p probes:", report)

    assert after_commit is not None, net.dump_logs()
    assert net.alive(0) and net.alive(1)
    assert after["VmHWM"] < RSS_LIMIT_KB, report
    assert "p2p refused" in net.log_text(0)  # the summary line
    assert any("rate=" in line for line in report["summary_lines"]), report
    # 64 x rounds + 16 + 256 refused connections, summarised: far fewer lines than that
    assert log_lines < 400, report
