"""The node runtime in-process: a one-validator chain commits blocks, admits and executes
transactions through the NodeAPI service, emits events, survives restart, and logs."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node.api import NotFound
from node.config import NodeConfig, write_config
from node.keys import write_key
from node.logs import parse_level, setup_logging
from node.runtime import Node
from state.crypto import Signer, sha256
from state.genesis_builder import ValidatorSpec, genesis_doc
from state.tx import build_tx

CHAIN = "rt-test"
VAL = Signer(sha256(b"runtime-test-validator"))
ALICE = Signer(sha256(b"runtime-test-alice"))
TREASURY = Signer(sha256(b"runtime-test-treasury"))


@contextlib.contextmanager
def restored_root_logger() -> Iterator[None]:
    """The root logger's handlers and level as they were: setup_logging (and run) replace them,
    and the next test must not log into a closed stream."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        yield
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def make_home(root: Path, block_time_ms: int = 50, **mempool: int) -> Path:
    home = root / "home"
    home.mkdir()
    genesis = genesis_doc(
        chain_id=CHAIN,
        treasury=TREASURY.public_key,
        params={"block_time_ms": block_time_ms},
        validators=[
            ValidatorSpec("v0", VAL.public_key, VAL.public_key, p2p="127.0.0.1:1"),
        ],
        accounts=[(ALICE.public_key, 10_000)],
        pools=[{"id": "medical", "name": "Medical"}],
    )
    (home / "genesis.json").write_text(json.dumps(genesis))
    write_key(home / "node_key.json", VAL)
    cfg = NodeConfig.model_validate(
        {
            "rpc": {"listen": "127.0.0.1:0"},
            "p2p": {"listen": "127.0.0.1:0"},
            "mempool": mempool,
            "consensus": {
                "timeout_propose_ms": 300,
                "timeout_prevote_ms": 100,
                "timeout_precommit_ms": 100,
            },
        }
    )
    write_config(home / "config.toml", cfg)
    return home


async def wait_height(node: Node, h: int, timeout: float = 20.0) -> None:
    async def loop() -> None:
        while node.view().height < h:
            await asyncio.sleep(0.02)

    await asyncio.wait_for(loop(), timeout)


def transfer(nonce: int, amount: int = 5, fee: int = 1) -> bytes:
    payload = {"to": TREASURY.public_key, "amount": amount}
    return build_tx(ALICE, CHAIN, "transfer", nonce, fee, payload).wire


@pytest.fixture
async def node(tmp_path: Path) -> Any:
    n = Node(make_home(tmp_path))
    await n.start()
    try:
        yield n
    finally:
        await n.stop()


async def test_single_validator_commits_and_serves(node: Node) -> None:
    await wait_height(node, 2)
    api = node.service
    st = await api.status()
    assert st["chain_id"] == CHAIN and st["validator"] is True and st["height"] >= 2
    assert st["node_id"] == VAL.public_key.hex() and st["peers"] == 0
    blk = await api.block(1)
    assert blk["height"] == 1 and blk["proposer"] == VAL.public_key.hex()
    assert blk["commit"]["signatures"][0]["validator"] == VAL.public_key.hex()
    with pytest.raises(NotFound):
        await api.block(10**6)


async def test_broadcast_modes_and_events(node: Node) -> None:
    api = node.service
    events: list[tuple[str, dict[str, Any]]] = []
    api.subscribe_events(lambda kind, data: events.append((kind, data)))
    # sync: admitted; pending_nonce counts it before it commits
    r = await api.broadcast_tx(transfer(0), "sync")
    assert r["code"] == 0 and r["error"] is None
    # commit: waits for the block and answers the execution result
    r1 = await api.broadcast_tx(transfer(1), "commit", timeout=20)
    assert r1["code"] == 0 and r1["height"] >= 1 and "index" in r1
    tx = await api.tx(bytes.fromhex(r1["hash"]))
    assert tx["type"] == "transfer" and tx["nonce"] == 1 and tx["sender"] == ALICE.public_key.hex()
    acct = await api.account(ALICE.public_key)
    assert acct["nonce"] == 2 and acct["balance"] == 10_000 - 2 * 6
    assert acct["pending_nonce"] == 2
    # refused in commit mode: answered at once, without height
    r2 = await api.broadcast_tx(transfer(1), "commit")
    assert r2["error"] in ("duplicate", "bad_nonce") and "height" not in r2
    # async: answered before any check; garbage is simply never committed
    r3 = await api.broadcast_tx(b"\x01\x02", "async")
    assert r3["code"] == 0 and r3["hash"] == sha256(b"\x01\x02").hex()
    kinds = [k for k, _ in events]
    assert "new_block" in kinds and "tx" in kinds
    tx_events = [d for k, d in events if k == "tx"]
    assert {d["hash"] for d in tx_events} >= {r1["hash"]}
    blocks = [d for k, d in events if k == "new_block"]
    for b in blocks[-2:]:
        assert b == await api.block(b["height"])


async def test_commit_mode_times_out(node: Node) -> None:
    # nonce 5 is admitted (inside the window) but cannot execute before 0..4: never included
    r = await node.service.broadcast_tx(transfer(5), "commit", timeout=0.3)
    assert r["code"] == -1 and r["error"] == "timeout"
    assert (await node.service.account(ALICE.public_key))["pending_nonce"] == 0


async def test_reads_not_found_and_ranges(node: Node) -> None:
    api = node.service
    await wait_height(node, 1)
    with pytest.raises(NotFound):
        await api.pool("dental")
    with pytest.raises(NotFound):
        await api.member("medical", ALICE.public_key)
    with pytest.raises(NotFound):
        await api.claim(b"\x00" * 32)
    with pytest.raises(NotFound):
        await api.tx(b"\x00" * 32)
    h = node.view().height
    v = await api.validators(None)
    assert v["height"] == h + 1 and v["validators"][0]["consensus_key"] == VAL.public_key.hex()
    with pytest.raises(NotFound):
        await api.validators(0)
    with pytest.raises(NotFound):
        await api.validators(node.view().height + 3)
    pool = await api.pool("medical")
    assert pool["members"] == {"waiting": 0, "active": 0, "lapsed": 0, "left": 0}
    assert await api.claims("medical", None, 10) == []
    assert (await api.genesis())["chain_id"] == CHAIN
    assert (await api.net_info())["peers"] == []


async def test_mempool_limit_from_config(tmp_path: Path) -> None:
    n = Node(make_home(tmp_path, max_txs=2))
    await n.start()
    try:
        # nonces 1..3 cannot be reaped (no nonce 0), so they stay pending
        codes = [(await n.service.broadcast_tx(transfer(k), "sync"))["error"] for k in (1, 2, 3)]
        assert codes == [None, None, "mempool_full"]
    finally:
        await n.stop()


def test_mempool_section_converts_to_the_mempool_settings() -> None:
    """[mempool] has one set of defaults (MempoolLimits') and one conversion to it."""
    from dataclasses import fields

    from node.config import MempoolConfig
    from state.mempool import MempoolLimits

    assert MempoolConfig().limits() == MempoolLimits()
    values = {f.name: 2_000 + i for i, f in enumerate(fields(MempoolLimits))}
    values["max_future_per_sender"] = 64  # its range ends there
    values["peer_reserve_pct"] = 50  # a percent, 0..90
    assert MempoolConfig(**values).limits() == MempoolLimits(**values)
    assert set(MempoolConfig.model_fields) - set(values) == {"propose_max_txs"}


async def test_restart_resumes_from_store(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    n = Node(home)
    await n.start()
    r = await n.service.broadcast_tx(transfer(0), "commit", timeout=20)
    assert r["code"] == 0
    await n.stop()
    h = r["height"]
    n2 = Node(home)
    await n2.start()
    try:
        assert n2.view().height >= h
        assert (await n2.service.tx(bytes.fromhex(r["hash"])))["height"] == h
        await wait_height(n2, h + 2)
        assert (await n2.service.account(ALICE.public_key))["nonce"] == 1
    finally:
        await n2.stop()


def test_logs_level_and_format() -> None:
    assert parse_level("DEBUG") == logging.DEBUG and parse_level("warning") == logging.WARNING
    with pytest.raises(ValueError):
        parse_level("loud")
    buf = io.StringIO()
    with restored_root_logger():
        setup_logging("warning", buf)
        logging.getLogger("huzhu.x").info("hidden")
        logging.getLogger("huzhu.x").warning("shown %d", 1)
        setup_logging("error", buf)  # again: replaces its handler, no line logged twice
        logging.getLogger("huzhu.x").error("once")
    out = buf.getvalue()
    assert "hidden" not in out and "WARNING huzhu.x: shown 1" in out
    assert out.count("once") == 1 and out.startswith("20") and "Z " in out


def test_run_refuses_bad_genesis_with_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from node.serve import run

    home = make_home(tmp_path)
    doc = json.loads((home / "genesis.json").read_text())
    doc["validators"][0]["power"] = 2
    (home / "genesis.json").write_text(json.dumps(doc))
    with restored_root_logger():
        assert run(home) == 1
    err = capsys.readouterr().err
    assert "cannot start: GenesisError" in err and "validators.0.power" in err
    assert "Traceback" not in err


async def test_store_of_another_genesis_is_refused(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    n = Node(home)
    await n.start()
    await n.stop()
    doc = json.loads((home / "genesis.json").read_text())
    doc["accounts"][0]["balance"] += 1
    (home / "genesis.json").write_text(json.dumps(doc))
    n2 = Node(home)
    with pytest.raises(ValueError, match="another genesis"):
        await n2.start()
    await n2.stop()
    # the store was closed: a third open works (LevelDB holds an exclusive lock)
    doc["accounts"][0]["balance"] -= 1
    (home / "genesis.json").write_text(json.dumps(doc))
    n3 = Node(home)
    await n3.start()
    await n3.stop()


async def test_stop_is_idempotent_and_closes_store(tmp_path: Path) -> None:
    n = Node(make_home(tmp_path))
    await n.start()
    await n.stop()
    await n.stop()
    assert n.store is None


async def test_tx_batches_from_peers(node: Node) -> None:
    from p2p.types import ProtocolViolation
    from state.txgossip import encode_batch

    async def deliver(channel: int, payload: bytes) -> None:
        pending = node._on_message(peer, channel, payload)  # awaitable: signatures on the pool
        if pending is not None:
            await pending

    peer = b"\x07" * 32
    good = transfer(0)
    await deliver(2, encode_batch([good]))
    if sha256(good) not in node.mempool:  # admitted, and a block already carried it
        got = await node.service.tx(sha256(good))
        assert got["height"] >= 1 and got["code"] == 0
    # the same tx again, and a stale one: dropped silently, the peer is not punished
    await deliver(2, encode_batch([good, transfer(70)]))
    # garbage batch, and a batch carrying a tx no honest peer could have admitted
    with pytest.raises(ProtocolViolation):
        await deliver(2, b"\xc1\xc1")
    forged = good[:-1] + bytes([good[-1] ^ 1])
    with pytest.raises(ProtocolViolation):
        await deliver(2, encode_batch([forged]))
    # consensus garbage becomes a Penalize action (the transport disconnects and bans)
    banned: list[bytes] = []
    node.p2p.penalize = lambda pid, reason: banned.append(pid)  # type: ignore[method-assign]
    node._on_message(peer, 1, b"\x00garbage")
    assert banned == [peer]


async def test_failing_timeout_handler_does_not_stall_consensus(node: Node) -> None:
    await wait_height(node, 1)
    real = node.replica.on_timeout
    calls = {"n": 0}

    def flaky(*args: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("injected bug")
        return real(*args)

    node.replica.on_timeout = flaky  # type: ignore[method-assign]
    h = node.view().height
    await wait_height(node, h + 3)
    assert calls["n"] > 1


def test_p2p_limits_follow_config() -> None:

    cfg = NodeConfig.model_validate(
        {
            "p2p": {
                "max_peers": 3,
                "max_frame_bytes": 65536,
                "send_queue_len": 7,
                "handshake_timeout_ms": 1500,
                "dial_interval_ms": 250,
            }
        }
    )
    lim = cfg.p2p.to_limits()
    assert (lim.max_peers, lim.max_frame_bytes, lim.send_queue_len) == (3, 65536, 7)
    assert lim.handshake_timeout_s == 1.5 and lim.backoff_min_s == 0.25
    assert lim.backoff_max_s >= lim.backoff_min_s


async def test_gossip_hold_follows_config(tmp_path: Path) -> None:
    """The small-batch hold is the operator's ([p2p] gossip_min_batch_txs, gossip_max_hold_ms),
    not a constant: a 21-validator operator trades latency for fewer frames there."""
    from node.config import load_config

    home = make_home(tmp_path)
    cfg = load_config(home)
    hold = cfg.p2p.model_copy(update={"gossip_min_batch_txs": 3, "gossip_max_hold_ms": 450})
    write_config(home / "config.toml", cfg.model_copy(update={"p2p": hold}))
    n = Node(home)
    await n.start()
    try:
        assert (n.gossip.policy.min_batch_txs, n.gossip.policy.max_hold_ms) == (3, 450)
    finally:
        await n.stop()


def test_rfc3339_is_exact_to_the_millisecond() -> None:
    from node.service import rfc3339

    assert rfc3339(0) == "1970-01-01T00:00:00.000Z"
    assert rfc3339(1_764_115_199_999) == "2025-11-25T23:59:59.999Z"
    assert rfc3339(1_764_115_200_000) == "2025-11-26T00:00:00.000Z"


def test_run_with_rpc_port_in_use_exits_1_and_releases_the_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    from node.serve import run
    from state.store import LevelDBStore

    home = make_home(tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cfg = NodeConfig.model_validate(
            {"rpc": {"listen": f"127.0.0.1:{port}"}, "p2p": {"listen": "127.0.0.1:0"}}
        )
        write_config(home / "config.toml", cfg)
        with restored_root_logger():
            assert run(home) == 1
    err = capsys.readouterr().err
    assert "cannot start: OSError" in err and "Traceback" not in err
    LevelDBStore(str(home / "data")).close()  # the lock was released by the failed start


async def test_signature_verified_once_from_admission_to_commit(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    import state.machine
    import state.tx

    checked: list[bytes] = []
    real = state.tx.verify_tx

    def counting(tx: Any) -> bool:
        checked.append(tx.hash)
        return real(tx)

    monkeypatch.setattr(state.tx, "verify_tx", counting)
    monkeypatch.setattr(state.machine, "verify_tx", counting)
    r = await node.service.broadcast_tx(transfer(0), "commit", timeout=20)
    assert r["code"] == 0
    h = bytes.fromhex(r["hash"])
    assert checked.count(h) == 1  # at admission; proposal, validation and commit reuse it


def test_a_full_block_fits_one_p2p_frame() -> None:
    """A worst-case proposal (tx budget filled, 100 commit signatures, full evidence) is
    encodable within the transport's payload limit, so a proposer never builds a block it
    cannot send."""
    from consensus.messages import ProposalMsg, encode_message
    from consensus.params import ConsensusParams
    from consensus.types import (
        PRECOMMIT,
        Block,
        BlockHeader,
        Commit,
        DuplicateVoteEvidence,
        Proposal,
        Vote,
    )
    from node.runtime import block_tx_budget
    from p2p.types import P2PLimits
    from state.params import ChainParams

    params = ChainParams(treasury=b"\x01" * 32)
    max_payload = P2PLimits().max_payload
    budget = block_tx_budget(max_payload, params)
    tx = b"\xaa" * params.max_tx_bytes
    txs = tuple([tx] * min(params.max_block_txs, budget // len(tx)))
    assert sum(map(len, txs)) > budget - len(tx)  # the block really is full
    sig, h32 = b"\x05" * 64, b"\x07" * 32
    commit = Commit(1, 0, h32, tuple((bytes([i % 256]) * 32, sig) for i in range(100)))

    def vote(block_id: bytes) -> Vote:
        return Vote(PRECOMMIT, 1, 0, block_id, h32, sig)

    evidence = tuple(
        DuplicateVoteEvidence.of(vote(h32), vote(bytes([i]) * 32))
        for i in range(ConsensusParams().max_block_evidence)
    )
    header = BlockHeader("huzhu-localnet", 2, 1, h32, h32, h32, h32, h32, h32, h32)
    block = Block(header, txs, commit, evidence)
    wire = encode_message(ProposalMsg(Proposal(2, 0, -1, block, sig)))
    assert len(wire) <= max_payload


async def test_execution_reuses_the_mempool_decoding(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tx admitted to the mempool is not decoded again to build, judge or commit a block."""
    import state.machine

    decoded: list[bytes] = []
    real = state.machine.decode_tx

    def counting(wire: bytes, **kw: Any) -> Any:
        decoded.append(wire)
        return real(wire, **kw)

    monkeypatch.setattr(state.machine, "decode_tx", counting)
    wire = transfer(0)
    r = await node.service.broadcast_tx(wire, "commit", timeout=20)
    assert r["code"] == 0
    assert wire not in decoded


async def test_proposals_hold_at_most_propose_max_txs(tmp_path: Path) -> None:
    n = Node(make_home(tmp_path, propose_max_txs=2))
    await n.start()
    try:
        for k in range(5):
            assert (await n.service.broadcast_tx(transfer(k), "sync"))["code"] == 0
        await asyncio.wait_for(_until_empty(n), 20)
        sizes = [len(b.txs) for h in range(1, n.view().height + 1) if (b := n.block_at(h))]
        assert sum(sizes) == 5 and max(sizes) == 2  # exactly at the cap, never above
    finally:
        await n.stop()


async def _until_empty(n: Node) -> None:
    while len(n.mempool):
        await asyncio.sleep(0.02)


def test_pacing_lowers_the_reap_cap_to_the_measured_execution_speed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from node import runtime

    n = Node(make_home(tmp_path, propose_max_txs=5000))
    asked: list[int] = []

    class FakeMempool:
        def reap(self, max_txs: int, max_bytes: int) -> list[bytes]:
            asked.append(max_txs)
            return []

    class FakeApp:
        seconds_per_tx: float | None = None

    n._mempool = FakeMempool()  # type: ignore[assignment]
    n.app = FakeApp()  # type: ignore[assignment]
    n.sizer.limit = 1_000_000  # as if the heights so far said any size fits the timeout
    budget_s = n.config.consensus.timeout_propose_ms / 1000 * runtime.EXEC_SHARE_OF_PROPOSE
    n._reap(10_000, 1 << 20)  # nothing measured yet: the configured cap
    n.app.seconds_per_tx = budget_s / 1234
    n._reap(10_000, 1 << 20)
    n._reap(1000, 1 << 20)  # the chain's limit still applies
    n.app.seconds_per_tx = 10.0  # absurdly slow sample: the floor, not zero
    n._reap(10_000, 1 << 20)
    assert asked == [5000, 1234, 1000, runtime.MIN_PROPOSE_TXS]


async def test_every_commit_reports_its_timing_to_the_block_sizer(tmp_path: Path) -> None:
    """The sizer learns from each committed height (its size, its round, when 2f+1 prevotes
    came in), and the default config puts no fixed cap of its own on the proposal."""
    from consensus.actions import HeightTiming
    from node.config import PROPOSE_MAX_TXS_NO_CAP
    from node.pacing import BlockSizer

    seen: list[tuple[int, HeightTiming | None]] = []

    class Spy(BlockSizer):
        def observe(self, txs: int, timing: HeightTiming | None, **kw: Any) -> None:
            seen.append((txs, timing))
            super().observe(txs, timing, **kw)

    n = Node(make_home(tmp_path))
    assert n.sizer.ceiling == PROPOSE_MAX_TXS_NO_CAP
    n.sizer = Spy(n.config.consensus.timeout_propose_ms, n.sizer.ceiling)
    await n.start()
    try:
        r = await n.service.broadcast_tx(transfer(0), "commit", timeout=20)
        assert r["code"] == 0
    finally:
        await n.stop()
    assert any(txs == 1 for txs, _ in seen)
    for _, t in seen:
        assert t is not None and t.round == 0 and t.started_ms is not None
        assert t.polka_ms is not None and t.polka_ms >= t.started_ms


def test_paced_app_ewma_ignores_small_blocks() -> None:
    from node.runtime import PACE_EWMA_ALPHA, PACE_MIN_SAMPLE_TXS, PacedApp

    app = PacedApp.__new__(PacedApp)
    app.seconds_per_tx = None
    app._sample(PACE_MIN_SAMPLE_TXS - 1, 5.0)
    assert app.seconds_per_tx is None
    app._sample(PACE_MIN_SAMPLE_TXS, PACE_MIN_SAMPLE_TXS * 0.01)
    assert app.seconds_per_tx == pytest.approx(0.01)
    app._sample(PACE_MIN_SAMPLE_TXS, PACE_MIN_SAMPLE_TXS * 0.02)
    assert app.seconds_per_tx == pytest.approx(0.01 + PACE_EWMA_ALPHA * 0.01)


async def test_mempool_is_updated_as_the_state_commits(node: Node) -> None:
    """The replica may enter the next height and propose inside the same call that commits
    a block (when the block interval is already spent), before the Committed action reaches
    the runtime: by the time app.commit returns, the mempool must no longer hold the
    block's txs, or the next proposal would offer them again (and execution would drop
    their senders' later txs with them)."""
    still_pending: list[bytes] = []
    real_commit = node.app.commit

    def commit(*args: Any, **kwargs: Any) -> Any:
        ex = real_commit(*args, **kwargs)
        still_pending.extend(h for h in ex.tx_hashes if h in node.mempool)
        return ex

    node.app.commit = commit  # type: ignore[method-assign]
    for k in range(3):
        assert (await node.service.broadcast_tx(transfer(k), "sync"))["code"] == 0
    r = await node.service.broadcast_tx(transfer(3), "commit", timeout=20)
    assert r["code"] == 0
    assert still_pending == []


def test_gc_clock_measures_collections_and_uninstalls() -> None:
    import gc

    from node.runtime import GcClock

    clock = GcClock()
    clock.install()
    clock.install()  # idempotent
    try:
        junk = [[i] for i in range(200_000)]
        gc.collect()
        del junk
    finally:
        clock.uninstall()
    assert clock._callback not in gc.callbacks
    assert clock._total > 0  # the full collection above took some time
    assert clock.take_ms() >= 0 and clock.take_ms() == 0  # taken, then reset


def test_tune_gc_raises_only_the_young_threshold() -> None:
    import gc

    from node.vitals import GC_GEN0_THRESHOLD, tune_gc

    saved = gc.get_threshold()
    try:
        tune_gc()
        assert gc.get_threshold() == (GC_GEN0_THRESHOLD, saved[1], saved[2])
    finally:
        gc.set_threshold(*saved)


def test_commit_wait_without_a_config_is_the_configured_default() -> None:
    """A caller of broadcast_tx(mode="commit") that passes no timeout waits as long as a
    node started with the default config: PROTOCOL.md section 6's 30 s."""
    from node.api import DEFAULT_COMMIT_TIMEOUT_S
    from node.config import RpcConfig

    assert DEFAULT_COMMIT_TIMEOUT_S == RpcConfig().commit_timeout_ms / 1000 == 30.0


async def test_block_byte_budget_follows_a_governance_change_of_max_block_txs(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An enacted max_block_txs changes the frame budget from the next proposal on."""
    from dataclasses import replace
    from types import SimpleNamespace

    from node.runtime import block_tx_budget

    limit = node.p2p_limits.max_payload
    assert node.app.max_block_bytes == block_tx_budget(limit, node.chain.params)
    raised = replace(node.chain.params, max_block_txs=100_000)
    assert block_tx_budget(limit, raised) != node.app.max_block_bytes
    monkeypatch.setattr(node.chain, "params", raised)  # as Chain.commit sets it on enactment
    node._on_execution(SimpleNamespace(height=10**6, txs=[], tx_hashes=[]))  # type: ignore[arg-type]
    assert node.app.max_block_bytes == block_tx_budget(limit, raised)
