"""`huzhu sim` / `python -m sim`: arguments, exit status, JSON, plot, replay lines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sim.cli import build_parser, config_from_args, main, parse_seeds
from sim.config import SimConfig
from sim.world import run_seed

ROOT = Path(__file__).resolve().parents[2]


def test_clean_sweep_exits_0_and_writes_json_and_plot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, png = tmp_path / "r.json", tmp_path / "r.png"
    argv = ["--heights", "3", "--txs", "2", "--seeds", "0:3", "--quiet"]
    rc = main([*argv, "--json", str(out), "--plot", str(png)])
    assert rc == 0
    doc = json.loads(out.read_text())
    assert [r["seed"] for r in doc["records"]] == [0, 1, 2]
    for r in doc["records"]:
        for key in (
            "committed_heights",
            "rounds_per_height",
            "safety_violations",
            "liveness_failures",
            "messages",
            "simulated_seconds",
            "commit_latency_ms",
            "committed_txs",
            "mempool",
        ):
            assert key in r
    assert doc["totals"]["runs"] == 3
    assert doc["totals"]["safety_violations"] == 0 and doc["totals"]["liveness_failures"] == 0
    assert doc["config"]["heights"] == 3
    # the JSON record of a seed is exactly what a single replay produces
    assert doc["records"][1] == json.loads(json.dumps(run_seed(SimConfig(heights=3, txs=2), 1)))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    text = capsys.readouterr().out
    assert "totals" in text and "replay" not in text
    mp = doc["totals"]["mempool"]
    assert doc["totals"]["committed_txs"] > 0 and mp["submitted"] > 0
    assert f"submitted {mp['submitted']}, admitted {mp['client_ok']}" in text


def test_failing_seed_exits_1_and_prints_its_replay_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # more twins than tolerated; seed 3 forks (see the negative control)
    rc = main(["--byzantine", "2", "--behaviour", "twins", "--heights", "6", "--seed", "3"])
    assert rc == 1
    text = capsys.readouterr().out
    assert "seed 3 failed (fork)" in text
    assert "seed 3: where each node ended" in text  # one failing seed: the node table
    assert "huzhu sim --byzantine 2 --behaviour twins --heights 6 --seed 3" in text


def test_replay_argv_round_trips_every_option() -> None:
    cfg = SimConfig(
        validators=7,
        byzantine=2,
        behaviour="equivocate",
        heights=9,
        txs=4,
        loss=0.25,
        duplicate=0.1,
        reorder=0.2,
        latency="uniform:5:60",
        partition=True,
        crash=True,
        max_skew_ms=40,
        members=9,
        fault_window_ms=3000,
        max_sim_ms=90000,
        max_events=12345,
    )
    args = build_parser().parse_args(cfg.replay_argv(42))
    assert config_from_args(args) == cfg and args.seed == 42
    assert SimConfig().replay_argv(5) == ["--seed", "5"]


def test_bad_arguments_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert parse_seeds("3:7") == [3, 4, 5, 6]
    for argv in (
        ["--seeds", "5:5"],
        ["--seeds", "x"],
        ["--loss", "1.5"],
        ["--behaviour", "nice"],
        ["--byzantine", "5"],
        ["--latency", "gauss:1:2"],
        ["--seed", "1", "--seeds", "0:2"],
    ):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2, argv


def test_python_dash_m_sim_runs() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "sim", "--heights", "2", "--seed", "4"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "huzhu sim: totals" in proc.stdout


def test_replay_is_identical_across_processes_and_hash_seeds(tmp_path: Path) -> None:
    """Determinism must not hinge on str/bytes hash randomisation (set or dict order)."""
    records = []
    for hash_seed in ("1", "2"):
        out = tmp_path / f"h{hash_seed}.json"
        argv = [
            "--byzantine",
            "1",
            "--behaviour",
            "double-vote",
            "--heights",
            "4",
            "--txs",
            "3",
            "--loss",
            "0.2",
            "--partition",
            "--crash",
            "--reorder",
            "0.1",
            "--seed",
            "3",
        ]
        proc = subprocess.run(
            [sys.executable, "-m", "sim", *argv, "--json", str(out)],
            cwd=ROOT,
            env={"PYTHONHASHSEED": hash_seed, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode in (0, 1), proc.stderr
        records.append(json.loads(out.read_text())["records"])
    assert records[0] == records[1]


def test_an_exception_in_a_run_fails_that_seed_only(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sim.run

    real = sim.run.run_seed

    def flaky(cfg: SimConfig, seed: int) -> dict:
        if seed == 1:
            raise AssertionError("core invariant broken")
        return real(cfg, seed)

    monkeypatch.setattr(sim.run, "run_seed", flaky)
    rc = main(["--heights", "2", "--seeds", "0:3", "--workers", "1", "--quiet"])
    assert rc == 1
    text = capsys.readouterr().out
    assert "seed 1 raised:" in text and "core invariant broken" in text
    assert "seed 1 failed (AssertionError: core invariant broken)" in text
    assert "huzhu sim --heights 2 --seed 1" in text
    assert "seed 0 failed" not in text and "seed 2 failed" not in text
