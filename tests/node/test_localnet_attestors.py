"""The localnet's section-10 pools: `huzhu testnet` (no template) and `huzhu localnet` write
the hospital's and the weather stations' keys beside the members', and those keys are the
attestors the genesis names, funded for their fees, so the README can sign as them."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from localnet_stop import LAST_LINE, stop_once_printed

from node.keys import load_public_key
from node.localnet import run_localnet
from node.localnet_harness import free_base_port
from node.testnet import create_testnet
from state.devkeys import (
    LOCALNET_ATTESTOR_BALANCE,
    LOCALNET_HOSPITAL,
    LOCALNET_STATIONS,
    LOCALNET_TRIGGER,
    localnet_genesis,
)
from state.genesis import load_genesis, parse_genesis


def test_testnet_writes_the_attestors_keys_the_genesis_names(tmp_path: Path) -> None:
    create_testnet(tmp_path / "net", 4, base_port=free_base_port(4))
    keys = tmp_path / "net" / "keys"
    g = load_genesis(tmp_path / "net" / "genesis.json")
    pools = {p.id: p for p in g.pools}
    assert list(pools) == ["medical", "disaster", "rainfall"]
    hospital = load_public_key(keys / f"{LOCALNET_HOSPITAL}.json")
    stations = tuple(load_public_key(keys / f"{s}.json") for s in LOCALNET_STATIONS)
    medical, rainfall = pools["medical"].params, pools["rainfall"].params
    assert (medical.claim_mode, medical.attestors, medical.attest_quorum) == (
        "attested",
        (hospital,),
        1,
    )
    assert medical.trigger is None
    assert rainfall.attestors == stations and rainfall.attest_quorum == 3
    assert rainfall.claim_mode == "vote" and rainfall.trigger is not None
    assert (rainfall.trigger.feed, rainfall.trigger.op) == ("rainfall_mm", ">=")
    assert (rainfall.trigger.threshold, rainfall.trigger.payout) == (200, 500)
    assert pools["disaster"].params.claim_mode == "vote" and not pools["disaster"].params.attestors
    funded = {a.address: a.balance for a in g.accounts}
    for key in (hospital, *stations):
        assert funded[key] == LOCALNET_ATTESTOR_BALANCE  # fees for attest and report
    # fresh keys, not the public development ones
    assert hospital != parse_genesis(localnet_genesis()).pools[0].params.attestors[0]


def test_the_development_genesis_keeps_the_governance_periods_in_every_pool() -> None:
    g = parse_genesis(localnet_genesis())
    for p in g.pools:
        assert (p.params.gov_voting_period, p.params.gov_timelock) == (30, 10)
    assert LOCALNET_TRIGGER["threshold"] == 200


def _idle_node_cmd() -> Callable[[Path], list[str]]:
    def cmd(home: Path) -> list[str]:
        code = (
            "import signal,sys,time; signal.signal(signal.SIGTERM, lambda *a: sys.exit(0));"
            " time.sleep(60)"
        )
        return [sys.executable, "-c", code]

    return cmd


def test_localnet_names_the_attestors_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stop = threading.Event()
    watcher = stop_once_printed(stop)
    base = free_base_port(1)
    assert run_localnet(1, base, tmp_path / "ln", command=_idle_node_cmd(), stop=stop) == 0
    watcher.join()
    out = capsys.readouterr().out
    assert LAST_LINE in out
    assert "medical pool attestor: hospital.json" in out
    assert "rainfall pool weather stations: station0.json, station1.json, station2.json" in out
    for name in (LOCALNET_HOSPITAL, *LOCALNET_STATIONS):
        assert (tmp_path / "ln" / "keys" / f"{name}.json").is_file()
