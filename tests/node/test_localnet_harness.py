"""The process harness without real nodes: ports, config edits, start/stop/kill, exits, logs.

A stand-in command replaces `huzhu start` so each behaviour is quick and certain; the
end-to-end tests and the benchmark smoke tests run the harness against real nodes.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import node.localnet_harness as H
from node.config import load_config
from node.localnet_harness import LocalNet, NodeExited, WaitTimeout, wait_for
from state.devkeys import localnet_genesis


def sleeper(home: Path) -> list[str]:
    """Prints its home, then runs until signalled."""
    return [
        sys.executable,
        "-c",
        f"import time; print('up {home.name}', flush=True); time.sleep(60)",
    ]


def crasher(home: Path) -> list[str]:
    return [sys.executable, "-c", "import sys; print('bad genesis', flush=True); sys.exit(3)"]


def make(
    tmp_path: Path,
    n: int = 2,
    command: Callable[[Path], list[str]] = sleeper,
    config: dict[str, Any] | None = None,
    base_port: int | None = None,
) -> LocalNet:
    template = localnet_genesis(validators=None)
    net = LocalNet.create(tmp_path, n, template, config=config, base_port=base_port)
    net.command = command
    return net


def test_free_base_port_is_free_and_below_the_ephemeral_range() -> None:
    base = H.free_base_port(4)
    ports = [base + i for i in range(4)] + [base + 1000 + i for i in range(4)]
    assert all(H.port_is_free("127.0.0.1", p) for p in ports)
    assert H.PORT_LOW <= base and ports[-1] < H.ephemeral_range()[0]


def test_free_ports_give_up_after_a_bounded_search(monkeypatch: pytest.MonkeyPatch) -> None:
    tries: list[int] = []

    def taken(host: str, port: int) -> bool:
        tries.append(port)
        return False

    monkeypatch.setattr(H, "port_is_free", taken)
    with pytest.raises(RuntimeError, match="no 4 free"):
        H.free_base_port(4)
    assert len(tries) == H.PORT_TRIES  # the first port of each draw is taken: next draw
    with pytest.raises(RuntimeError, match="no 2 free ports"):
        H.free_ports(2)


def test_free_ports_skip_the_excluded() -> None:
    first = H.free_ports(3)
    again = H.free_ports(3, exclude=first)
    assert len(set(first)) == 3 and not set(first) & set(again)


def test_create_applies_the_config_and_knows_the_ports(tmp_path: Path) -> None:
    net = make(tmp_path, 3, config={"consensus": {"timeout_propose_ms": 123}}, base_port=23450)
    assert net.n == 3 and net.validators == 3
    assert [net.rpc_url(i) for i in range(3)] == [
        f"http://127.0.0.1:{23450 + i}/" for i in range(3)
    ]
    assert [net.p2p_port(i) for i in range(3)] == [24450, 24451, 24452]
    assert all(load_config(net.home(i)).consensus.timeout_propose_ms == 123 for i in range(3))


def test_an_observer_dials_every_node_and_is_listed_by_them(tmp_path: Path) -> None:
    net = make(tmp_path, 2)
    obs = net.add_observer(2)
    assert net.n == 3 and net.validators == 2 and net.node_id(2) == obs
    cfg = load_config(net.home(2))
    assert sorted(cfg.p2p.peers) == sorted(
        f"{net.node_id(k).hex()}@127.0.0.1:{net.p2p_port(k)}" for k in (0, 1)
    )
    assert net.rpc_port(2) not in {net.rpc_port(0), net.rpc_port(1)}
    net.allow_observer(obs)
    assert all(load_config(net.home(k)).p2p.observers == [obs.hex()] for k in (0, 1))
    assert load_config(net.home(2)).p2p.observers == []


def test_start_stop_kill_and_the_logs(tmp_path: Path) -> None:
    with make(tmp_path, 2) as net:
        net.start_all(wait=False)
        wait_for(lambda: "up node1" in net.log_text(1), 10, "node1 output")
        assert net.alive(0) and net.alive(1)
        with pytest.raises(AssertionError, match="running"):
            net.start(0)
        assert net.stop(0) == -signal.SIGTERM
        assert net.kill9(1) == -signal.SIGKILL
        assert net.exited() == [(0, -signal.SIGTERM), (1, -signal.SIGKILL)]
        net.start(0, tag=".restart")
        wait_for(lambda: "up node0" in net.log_text(0, ".restart"), 10, "restart output")
        assert "node0 (running)" in net.dump_logs() and "node1 (exited -9)" in net.dump_logs()
    assert not net.alive(0)
    assert net.close() == {0: -signal.SIGTERM, 1: -signal.SIGKILL}  # idempotent


def test_a_node_that_exits_fails_the_wait_at_once_with_its_log(tmp_path: Path) -> None:
    with make(tmp_path, 1, command=crasher) as net:
        net.start(0)
        with pytest.raises(NodeExited, match="status 3") as err:
            net.wait_rpc(0, timeout=30)
        assert "bad genesis" in str(err.value)
        with pytest.raises(NodeExited):
            net.wait_height(0, 1, timeout=30)


def test_a_wait_that_runs_out_names_what_and_shows_the_logs(tmp_path: Path) -> None:
    with make(tmp_path, 1) as net:
        net.start(0)
        wait_for(lambda: "up node0" in net.log_text(0), 10, "output")
        with pytest.raises(WaitTimeout, match=r"timed out after 0.3s waiting for node0 height 5"):
            net.wait_height(0, 5, timeout=0.3)  # a stand-in answers no RPC
        with pytest.raises(WaitTimeout, match="up node0"):
            wait_for(lambda: False, 0.2, "never", net)
