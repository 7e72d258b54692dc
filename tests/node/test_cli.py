"""The ``huzhu`` command line: keys, testnet trees, tx building against a fake node, queries,
localnet supervision."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from localnet_stop import LAST_LINE, stop_once_printed

from node.cli import main
from node.config import load_config, parse_peer
from node.keys import load_key, load_public_key, write_key
from node.localnet import port_is_free, run_localnet
from node.localnet_harness import free_base_port
from node.rpc import RpcServer
from state.crypto import Signer, sha256
from state.genesis import load_genesis
from state.tx import decode_tx

ALICE = Signer(sha256(b"cli alice"))
OTHER = "cd" * 32


# --- keys --------------------------------------------------------------------------------


def test_keys_new_prints_the_address(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HUZHU_PASSPHRASE", raising=False)
    path = tmp_path / "k.json"
    assert main(["keys", "new", "--out", str(path)]) == 0
    out = capsys.readouterr().out.strip()
    assert out == load_key(path).public_key.hex()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert main(["keys", "show", str(path)]) == 0
    assert capsys.readouterr().out.strip() == out
    assert main(["keys", "new", "--out", str(path)]) == 1  # never overwritten
    assert "already exists" in capsys.readouterr().err


def test_keys_new_encrypts_with_the_passphrase_from_the_environment(tmp_path: Path) -> None:
    """`huzhu keys new --out FILE` as a user runs it: prints the address; with
    HUZHU_PASSPHRASE the secret is not in the file in clear."""
    path = tmp_path / "validator.json"
    env = {**os.environ, "HUZHU_PASSPHRASE": "correct horse"}
    out = subprocess.run(
        [sys.executable, "-m", "node.cli", "keys", "new", "--out", str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    address = out.stdout.strip()
    doc = json.loads(path.read_text())
    assert doc["public_key"] == address and "secret" not in doc and "encrypted_secret" in doc
    signer = load_key(path, "correct horse")
    assert signer.public_key.hex() == address
    assert signer.seed.hex() not in path.read_text()


# --- testnet -----------------------------------------------------------------------------


def test_testnet_tree_loads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "net"
    assert main(["testnet", "--validators", "3", "--out", str(out), "--base-port", "31000"]) == 0
    genesis = load_genesis(out / "genesis.json")
    assert len(genesis.validators) == 3
    node_ids = []
    for i in range(3):
        home = out / f"node{i}"
        assert (home / "genesis.json").read_bytes() == (out / "genesis.json").read_bytes()
        key = load_key(home / "node_key.json")
        node_ids.append(key.public_key)
        assert genesis.validators[i].consensus_key == key.public_key  # node key = consensus key
        assert genesis.validators[i].p2p == f"127.0.0.1:{32000 + i}"
        cfg = load_config(home)
        assert cfg.rpc.listen == f"127.0.0.1:{31000 + i}"
        assert cfg.p2p.listen == f"127.0.0.1:{32000 + i}"
    for i in range(3):
        peers = [parse_peer(p) for p in load_config(out / f"node{i}").p2p.peers]
        assert sorted((p.node_id, p.port) for p in peers) == sorted(
            (node_ids[j], 32000 + j) for j in range(3) if j != i
        )
    # fresh keys for treasury, registrar, members and operators; operators are in operators
    keys = out / "keys"
    assert genesis.params.treasury == load_public_key(keys / "treasury.json")
    assert genesis.params.registrars == (load_public_key(keys / "registrar.json"),)
    operators = {load_public_key(keys / f"operator{i}.json") for i in range(3)}
    assert operators <= set(genesis.params.operators)
    funded = {a.address for a in genesis.accounts if a.balance > 0}
    assert load_public_key(keys / "member0.json") in funded
    assert [p.id for p in genesis.pools] == ["medical", "disaster", "rainfall"]
    # refuses to write over an existing tree
    assert main(["testnet", "--validators", "1", "--out", str(out)]) == 1
    assert "not an empty directory" in capsys.readouterr().err


def test_testnet_from_template(tmp_path: Path) -> None:
    treasury = Signer(sha256(b"template treasury"))
    template = {
        "chain_id": "tpl-chain",
        "genesis_time": "2026-01-01T00:00:00Z",
        "params": {"treasury": treasury.public_key.hex(), "min_fee": 3},
        "accounts": [{"address": ALICE.public_key.hex(), "balance": 500}],
        "pools": [{"id": "dental", "name": "Dental"}],
    }
    (tmp_path / "t.json").write_text(json.dumps(template))
    out = tmp_path / "net"
    args = ["testnet", "--validators", "2", "--out", str(out), "--genesis-template"]
    assert main([*args, str(tmp_path / "t.json")]) == 0
    g = load_genesis(out / "genesis.json")
    assert g.chain_id == "tpl-chain" and g.params.min_fee == 3
    assert g.params.treasury == treasury.public_key
    assert not (out / "keys" / "treasury.json").exists()  # the template named one
    assert g.params.registrars == (load_public_key(out / "keys" / "registrar.json"),)
    assert [(a.address, a.balance) for a in g.accounts] == [(ALICE.public_key, 500)]


@pytest.mark.parametrize(
    "params",
    [
        {"treasury": "", "registrars": []},  # empty
        {"treasury": None, "registrars": None},
        {},  # absent
        None,  # no params at all: every default
    ],
)
def test_testnet_template_without_treasury_or_registrar(
    tmp_path: Path, params: dict[str, Any] | None
) -> None:
    """Section 8: a template naming no treasury or no registrar (absent or empty) gets their
    keys in DIR/keys/; the operators it lists are kept, the validators' added."""
    template: dict[str, Any] = {"chain_id": "tpl", "genesis_time": "2026-01-01T00:00:00Z"}
    if params is not None:
        template["params"] = {**params, "operators": ["ab" * 32]}
    (tmp_path / "t.json").write_text(json.dumps(template))
    out = tmp_path / "net"
    argv = ["testnet", "--validators", "1", "--out", str(out), "--base-port", "30100"]
    assert main([*argv, "--genesis-template", str(tmp_path / "t.json")]) == 0
    g = load_genesis(out / "genesis.json")
    assert g.params.treasury == load_public_key(out / "keys" / "treasury.json")
    assert g.params.registrars == (load_public_key(out / "keys" / "registrar.json"),)
    operator = load_public_key(out / "keys" / "operator0.json")
    assert operator in g.params.operators
    if params is not None:
        assert b"\xab" * 32 in g.params.operators
    cfg = load_config(out / "node0")
    assert (cfg.rpc.listen, cfg.p2p.listen) == ("127.0.0.1:30100", "127.0.0.1:31100")


def test_testnet_bad_template_names_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "t.json").write_text(
        json.dumps(
            {
                "chain_id": "x",
                "genesis_time": "2026-01-01T00:00:00Z",
                "params": {"min_fee": -1},
                "accounts": [],
                "pools": [],
            }
        )
    )
    out = tmp_path / "net"
    args = ["testnet", "--validators", "1", "--out", str(out)]
    assert main([*args, "--genesis-template", str(tmp_path / "t.json")]) == 1
    assert "params.min_fee" in capsys.readouterr().err
    assert not out.exists()  # nothing written


def test_testnet_hostnames_for_compose(tmp_path: Path) -> None:
    out = tmp_path / "net"
    assert main(["testnet", "--validators", "2", "--out", str(out), "--hostnames"]) == 0
    cfg = load_config(out / "node1")
    assert cfg.rpc.listen == "0.0.0.0:26657" and cfg.p2p.listen == "0.0.0.0:27657"
    peer = parse_peer(cfg.p2p.peers[0])
    assert (peer.host, peer.port) == ("node0", 27657)
    assert load_genesis(out / "genesis.json").validators[1].p2p == "node1:27657"


@pytest.mark.parametrize(
    "args",
    [["--validators", "0"], ["--validators", "2", "--base-port", "64600"]],
)
def test_testnet_bounds(
    tmp_path: Path, args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["testnet", "--out", str(tmp_path / "n"), *args]) == 1
    assert capsys.readouterr().err.startswith("error: ")


# --- tx and query against a fake node -------------------------------------------------------


@pytest.fixture
def alice_key(tmp_path: Path) -> Path:
    path = tmp_path / "alice.json"
    write_key(path, ALICE)
    return path


async def run_cli(argv: list[str]) -> int:
    return await asyncio.to_thread(main, argv)


@pytest.mark.parametrize(
    ("argv", "type", "payload"),
    [
        (
            ["transfer", "--to", OTHER.upper(), "--amount", "5"],
            "transfer",
            {"to": bytes.fromhex(OTHER), "amount": 5},
        ),
        (["admit", "--account", OTHER], "admit", {"account": bytes.fromhex(OTHER)}),
        (["join", "--pool", "medical"], "join", {"pool": "medical"}),
        (
            ["pay", "--pool", "medical", "--amount", "100"],
            "pay",
            {"pool": "medical", "amount": 100},
        ),
        (["leave", "--pool", "medical"], "leave", {"pool": "medical"}),
        (
            ["claim", "--pool", "medical", "--amount", "70", "--evidence", "ee" * 32],
            "claim",
            {"pool": "medical", "amount": 70, "evidence": b"\xee" * 32},
        ),
        (
            ["vote", "--claim", "11" * 32, "--approve"],
            "vote",
            {"claim": b"\x11" * 32, "approve": True},
        ),
        (
            ["vote", "--claim", "11" * 32, "--reject"],
            "vote",
            {"claim": b"\x11" * 32, "approve": False},
        ),
        (["payout", "--claim", "11" * 32], "payout", {"claim": b"\x11" * 32}),
        (
            ["register-candidate", "--consensus-key", OTHER, "--name", "val"],
            "register_candidate",
            {"consensus_key": bytes.fromhex(OTHER), "name": "val"},
        ),
        (
            ["elect", "--candidates", f"{OTHER},{'ab' * 32}"],
            "elect",
            {"candidates": [bytes.fromhex(OTHER), b"\xab" * 32]},
        ),
        (["elect", "--candidates", ""], "elect", {"candidates": []}),
        # section 8 names TYPE by its section 4 name; values in the forms people type
        (
            ["register_candidate", "--consensus-key", OTHER, "--name", "val"],
            "register_candidate",
            {"consensus_key": bytes.fromhex(OTHER), "name": "val"},
        ),
        (
            ["vote", "--claim", "11" * 32, "--approve", "false"],
            "vote",
            {"claim": b"\x11" * 32, "approve": False},
        ),
        (
            ["vote", "--approve", "true", "--claim", "11" * 32],
            "vote",
            {"claim": b"\x11" * 32, "approve": True},
        ),
        (
            ["elect", "--candidates", OTHER, "ab" * 32],
            "elect",
            {"candidates": [bytes.fromhex(OTHER), b"\xab" * 32]},
        ),
        (["elect", "--candidates"], "elect", {"candidates": []}),
    ],
)
async def test_tx_builds_the_signed_transaction(
    rpc_server: RpcServer,
    fake_node: Any,
    alice_key: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    type: str,
    payload: dict[str, Any],
) -> None:
    common = ["--key", str(alice_key), "--rpc", rpc_server.url]
    assert await run_cli(["tx", *argv, *common]) == 0
    [wire] = fake_node.received
    tx = decode_tx(wire, chain_id=fake_node.chain_id, params=fake_node.chain_params)
    assert (tx.type, tx.sender, tx.nonce, tx.fee) == (type, ALICE.public_key, 0, 2)
    assert tx.payload == payload
    printed = json.loads(capsys.readouterr().out)
    assert printed["hash"] == tx.hash.hex() and printed["code"] == 0


async def test_tx_fee_nonce_mode_flags(
    rpc_server: RpcServer, fake_node: Any, alice_key: Path
) -> None:
    argv = [
        "tx",
        "join",
        "--pool",
        "medical",
        "--key",
        str(alice_key),
        "--rpc",
        rpc_server.url,
        "--fee",
        "7",
        "--nonce",
        "12",
        "--mode",
        "commit",
    ]
    assert await run_cli(argv) == 0
    tx = decode_tx(
        fake_node.received[0], chain_id=fake_node.chain_id, params=fake_node.chain_params
    )
    assert (tx.fee, tx.nonce) == (7, 12)
    assert fake_node.calls[-1][1][0] == "commit"


async def test_tx_waits_for_the_commit_by_default(
    rpc_server: RpcServer, fake_node: Any, alice_key: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --mode the command answers with the execution result (height and index), so
    a script's next command sees the new state."""
    argv = ["tx", "join", "--pool", "medical", "--key", str(alice_key), "--rpc", rpc_server.url]
    assert await run_cli(argv) == 0
    assert fake_node.calls[-1][1][0] == "commit"
    assert "height" in json.loads(capsys.readouterr().out)


def test_cli_default_port_is_the_config_default() -> None:
    import node.cli
    import node.config

    assert node.cli.DEFAULT_RPC_PORT == node.config.DEFAULT_RPC_PORT == 26657


async def test_tx_refused_exits_non_zero(
    rpc_server: RpcServer, fake_node: Any, alice_key: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_node.chain_id = "another-chain"  # the node refuses what we sign: wrong_chain
    argv = ["tx", "leave", "--pool", "m", "--key", str(alice_key), "--rpc", rpc_server.url]
    assert await run_cli(argv) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["error"] == "wrong_chain"
    assert "wrong_chain" in captured.err


async def test_tx_usage_and_key_errors(
    rpc_server: RpcServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["tx", "transfer", "--to", "xyz", "--amount", "5", "--key", "k"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit):
        main(["tx", "vote", "--claim", OTHER, "--approve", "--reject", "--key", "k"])
    capsys.readouterr()
    argv = [
        "tx",
        "leave",
        "--pool",
        "m",
        "--key",
        str(tmp_path / "none.json"),
        "--rpc",
        rpc_server.url,
    ]
    assert await run_cli(argv) == 1
    assert "does not exist" in capsys.readouterr().err


def test_start_needs_an_existing_home(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["start", "--home", str(tmp_path / "missing")]) == 1
    assert "not a directory" in capsys.readouterr().err


def test_main_gives_the_callers_signal_handlers_back(tmp_path: Path) -> None:
    """Run in-process, `start` must not leave its early stop-recording handlers behind: they
    swallowed SIGTERM in processes forked later (a sim sweep's pool then hung at exit)."""
    import signal

    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    assert main(["start", "--home", str(tmp_path / "missing")]) == 1
    assert {s: signal.getsignal(s) for s in before} == before


# --- start: signals ---------------------------------------------------------------------------


def _start_node(tmp_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    base = free_base_port(1)
    assert (
        main(
            ["testnet", "--validators", "1", "--out", str(tmp_path / "n"), "--base-port", str(base)]
        )
        == 0
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "node.cli", "start", "--home", str(tmp_path / "n" / "node0")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=_default_signals,
    )
    return proc, f"http://127.0.0.1:{base}/"


def _default_signals() -> None:
    """The signals' default actions, whatever this test process inherited (a shell running
    pytest in the background ignores SIGINT)."""
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, signal.SIG_DFL)


def _caught_signals(pid: int) -> int:
    """The SigCgt mask of /proc/PID/status: which signals the process has handlers for."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return int(line.split()[1], 16)
    return 0


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_start_stops_cleanly_on_signal(tmp_path: Path, sig: signal.Signals) -> None:
    """Section 8: SIGINT or SIGTERM -> clean shutdown, exit status 0."""
    from node.client import RpcError, RpcUnavailable, SyncRpcClient

    proc, url = _start_node(tmp_path)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.communicate()[0].decode()
            try:
                if SyncRpcClient(url, timeout=1).status()["height"] >= 1:
                    break
            except (RpcError, RpcUnavailable):
                pass
            assert time.monotonic() < deadline, "node did not start"
            time.sleep(0.1)
        proc.send_signal(sig)
        out = proc.communicate(timeout=30)[0].decode()
        assert proc.returncode == 0, out
        assert "node stopped" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _loaded(pid: int, name: str) -> bool:
    return name in Path(f"/proc/{pid}/maps").read_text(errors="replace")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
@pytest.mark.parametrize("command", ["start", "localnet"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_startup_is_a_clean_stop(
    tmp_path: Path, sig: signal.Signals, command: str
) -> None:
    """A stop signal that arrives while `huzhu start` or `huzhu localnet` is still importing
    (localnet stopping at once, systemd, an impatient Ctrl-C) is a clean exit 0, not death by
    the signal: the handlers are the CLI's first instruction, before the libraries it needs
    (pydantic, plyvel, ...) are even loaded."""
    bits = (1 << (signal.SIGINT - 1)) | (1 << (signal.SIGTERM - 1))
    if command == "start":
        proc, _ = _start_node(tmp_path)
    else:
        proc = subprocess.Popen(
            [sys.executable, "-m", "node.cli", "localnet", "--validators", "1"]
            + ["--base-port", str(free_base_port(1)), "--dir", str(tmp_path / "ln")],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            preexec_fn=_default_signals,
        )
    try:
        deadline = time.monotonic() + 30
        while _caught_signals(proc.pid) & bits != bits:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.0005)
        early = not _loaded(proc.pid, "pydantic_core")
        proc.send_signal(sig)
        out = proc.communicate(timeout=60)[0].decode()
        assert early, "signal handlers installed only after the imports"
        assert proc.returncode == 0, out
        assert "Traceback" not in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# --- localnet ------------------------------------------------------------------------------


def _fake_node_cmd(started: list[Path]) -> Callable[[Path], list[str]]:
    def cmd(home: Path) -> list[str]:
        started.append(home)
        # stands in for `huzhu start`: runs until SIGTERM, then exits 0
        code = (
            "import signal,sys,time; signal.signal(signal.SIGTERM, lambda *a: sys.exit(0));"
            " time.sleep(60)"
        )
        return [sys.executable, "-c", code]

    return cmd


def test_localnet_supervises_and_stops_its_nodes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    started: list[Path] = []
    base = free_base_port(1)
    stop = threading.Event()
    threading.Timer(1.0, stop.set).start()
    rc = run_localnet(
        2, base, tmp_path / "ln", command=_fake_node_cmd(started), stop=stop, poll_interval=0.2
    )
    assert rc == 0
    assert started == [tmp_path / "ln" / "node0", tmp_path / "ln" / "node1"]
    out = capsys.readouterr().out
    assert f"node0: rpc http://127.0.0.1:{base}/" in out
    assert f"node1: rpc http://127.0.0.1:{base + 1}/" in out
    assert "heights: node0=-  node1=-" in out
    assert "exit codes [0, 0]" in out


def test_localnet_tells_a_newcomer_where_the_keys_are(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = free_base_port(1)
    stop = threading.Event()
    watcher = stop_once_printed(stop)
    keys = tmp_path / "ln" / "keys"
    assert run_localnet(1, base, tmp_path / "ln", command=_fake_node_cmd([]), stop=stop) == 0
    watcher.join()
    out = capsys.readouterr().out
    assert LAST_LINE in out
    assert f"treasury: {keys / 'treasury.json'}" in out
    assert f"registrar: {keys / 'registrar.json'}" in out
    assert "funded members: member0.json .. member9.json" in out
    # the first command is ready to paste: a funded key, a real address, this node's RPC
    to = load_public_key(keys / "member1.json").hex()
    line = next(ln for ln in out.splitlines() if " tx transfer " in ln)
    assert f"--to {to} --amount 100 --key {keys / 'member0.json'}" in line
    assert line.endswith(f"--rpc http://127.0.0.1:{base}")
    genesis = load_genesis(tmp_path / "ln" / "genesis.json")
    funded = {a.address.hex() for a in genesis.accounts if a.balance > 0}
    assert load_public_key(keys / "member0.json").hex() in funded


def test_localnet_names_a_taken_port_and_starts_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = free_base_port(1)
    started: list[Path] = []
    with socket.socket() as held:  # e.g. a previous localnet still running
        held.bind(("127.0.0.1", base + 1000))
        held.listen()
        rc = run_localnet(
            1, base, tmp_path / "ln", command=_fake_node_cmd(started), stop=threading.Event()
        )
    assert rc == 1 and started == []
    err = capsys.readouterr().err
    assert f"node0 P2P port {base + 1000} already in use" in err
    suggested = int(err.split("--base-port ")[1].split(",")[0])  # a base port free right now
    assert port_is_free("127.0.0.1", suggested) and port_is_free("127.0.0.1", suggested + 1000)


def test_localnet_warns_about_ephemeral_ports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from node.localnet import ephemeral_range

    low, high = ephemeral_range()
    base = next(
        p
        for p in range(low + 10, high - 1100, 7)
        if port_is_free("127.0.0.1", p) and port_is_free("127.0.0.1", p + 1000)
    )
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    assert run_localnet(1, base, tmp_path / "ln", command=_fake_node_cmd([]), stop=stop) == 0
    assert "ephemeral range" in capsys.readouterr().err


def test_localnet_stops_when_a_node_dies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def dying(home: Path) -> list[str]:
        return [sys.executable, "-c", "print('cannot start: the reason'); raise SystemExit(3)"]

    rc = run_localnet(
        1,
        free_base_port(1),
        tmp_path / "ln",
        command=dying,
        stop=threading.Event(),
        poll_interval=0.2,
    )
    assert rc == 1
    err = capsys.readouterr().err
    assert "node stopped unexpectedly: node0 (exit 3)" in err
    assert "cannot start: the reason" in err  # the log's last lines say why


def test_sim_gets_its_arguments_untouched(monkeypatch: pytest.MonkeyPatch) -> None:
    import sim.cli

    seen: list[list[str]] = []

    def fake_main(argv: list[str]) -> int:
        seen.append(argv)
        return 3

    monkeypatch.setattr(sim.cli, "main", fake_main)
    assert main(["sim", "--seed", "7", "--help-me", "tx"]) == 3
    assert seen == [["--seed", "7", "--help-me", "tx"]]


@pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_PDEATHSIG is Linux's")
def test_localnet_nodes_do_not_outlive_a_killed_supervisor(tmp_path: Path) -> None:
    """A supervisor killed with SIGKILL (or a closed terminal) leaves no node running to hold
    the ports of the next localnet: each node gets SIGTERM when its parent dies."""
    pidfile = tmp_path / "node.pid"
    script = f"""
import os, sys, threading
from pathlib import Path
from node.localnet import run_localnet
node = ("import os,signal,sys,time; open({str(pidfile)!r}, 'w').write(str(os.getpid()));"
        " signal.signal(signal.SIGTERM, lambda *a: sys.exit(0)); time.sleep(120)")
run_localnet(1, {free_base_port(1)}, Path({str(tmp_path / "ln")!r}),
             command=lambda home: [sys.executable, "-c", node], poll_interval=0.2)
"""
    sup = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not (pidfile.exists() and pidfile.read_text()):
            assert sup.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        node_pid = int(pidfile.read_text())
        sup.kill()
        sup.wait()
        deadline = time.monotonic() + 30
        while Path(f"/proc/{node_pid}").exists() and "Z" not in _proc_state(node_pid):
            assert time.monotonic() < deadline, "the node outlived its supervisor"
            time.sleep(0.05)
    finally:
        if sup.poll() is None:
            sup.kill()
            sup.wait()


def _proc_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return "Z"


# --- argument checks --------------------------------------------------------------------------

_DEAD_RPC = ["--rpc", "http://127.0.0.1:1"]  # nothing listens: a parsed command fails to connect


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["query", "block", "-1"], "argument height: '-1' must be >= 0"),
        (["query", "claims", "medical", "--limit", "0"], "argument --limit: '0' must be > 0"),
        (["query", "account", "ab" * 31], f"{'ab' * 31!r} is not 64 hex characters"),
        (["query", "account", "ab" * 32 + "a"], "is not 64 hex characters"),
        (["query", "claim", "zz" * 32], "is not 64 hex characters"),
        (["query", "block", "x"], "argument height: 'x' is not an integer"),
        (["tx", "transfer", "--fee", "-1"], "argument --fee: '-1' must be >= 0"),
        (["tx", "transfer", "--nonce", "-1"], "argument --nonce: '-1' must be >= 0"),
    ],
)
def test_a_bad_argument_is_a_usage_error(
    argv: list[str], error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv + _DEAD_RPC)
    assert exit_.value.code == 2
    assert error in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["query", "block", "0"],
        ["query", "claims", "medical", "--limit", "1"],
        ["query", "account", "AB" * 32],  # either case, padded by the shell or not
        ["query", "account", " " + "ab" * 32 + " "],
    ],
)
def test_an_argument_at_its_bound_is_accepted(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv + _DEAD_RPC) == 1
    assert "Cannot connect" in capsys.readouterr().err
