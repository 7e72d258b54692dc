"""Smoke test of bench/state.py on a tiny state: both timed paths run, reach the same state
root (the node's path reuses decoded transactions and adds only node-local indexes), and the
report holds the figures bench/README.md quotes. No speed thresholds (the machine is shared)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIELDS = ("exec_us_per_tx", "exec_thread_cpu_tps", "cpu_ratio", "ratio", "gc_s", "state_root")


def _run(tmp_path: Path, *extra: str) -> dict[str, object]:
    out = tmp_path / f"state{len(list(tmp_path.iterdir()))}.json"
    args = ["--accounts", "300", "--blocks", "2", "--block-txs", "100", "--json", str(out)]
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "state.py"), *args, *extra],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    res: dict[str, object] = json.loads(out.read_text())
    return res


def test_the_node_path_and_the_decode_path_reach_the_same_root(tmp_path: Path) -> None:
    node = _run(tmp_path)
    decode = _run(tmp_path, "--path", "decode", "--gc", "default")
    assert (node["path"], node["gc"], decode["path"], decode["gc"]) == (
        "node",
        "node",
        "decode",
        "default",
    )
    assert node["state_root"] == decode["state_root"]
    for res in (node, decode):
        assert res["timed_txs"] == 200
        for f in FIELDS:
            assert f in res, f


def test_an_unknown_path_is_refused(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "state.py"), "--json", str(tmp_path / "x.json")]
        + ["--path", "fast"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "--path" in proc.stderr
    assert not (tmp_path / "x.json").exists()


def test_store_options_reach_the_store_and_leave_the_root_alone(tmp_path: Path) -> None:
    """--store sets a LevelDB option for an A/B: the report says which, the root is the same."""
    default = _run(tmp_path)
    snappy = _run(tmp_path, "--store", "compression=snappy", "--store", "write_buffer_size=65536")
    assert default["store"]["compression"] is None  # type: ignore[index]
    assert snappy["store"]["compression"] == "snappy"  # type: ignore[index]
    assert snappy["store"]["write_buffer_size"] == 65536  # type: ignore[index]
    assert snappy["state_root"] == default["state_root"]
    for res in (default, snappy):
        for f in ("process_us_per_tx", "write_us_per_tx", "write_ops_per_block"):
            assert f in res, f


@pytest.mark.parametrize(
    "bad", ["compression=zlib", "write_buffer_size=1", "nosuch=1", "block_size", "max_open_files=x"]
)
def test_a_bad_store_option_is_refused(tmp_path: Path, bad: str) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "state.py"), "--json", str(tmp_path / "x.json")]
        + ["--store", bad],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "--store" in proc.stderr
    assert not (tmp_path / "x.json").exists()


def test_breakdown_names_each_part_and_leaves_the_root_alone(tmp_path: Path) -> None:
    """`--breakdown` reports every part it names, as numbers, on the same state root (the
    wrappers time, they change nothing)."""
    plain = _run(tmp_path)
    parts = _run(tmp_path, "--breakdown")
    assert "breakdown_us_per_tx" not in plain
    bd = parts["breakdown_us_per_tx"]
    assert isinstance(bd, dict)
    assert set(bd) == {
        "rules",
        "tree",
        "encode",
        "write",
        "commit_records",
        "refresh",
        "history_index",
        "store_reads_per_tx",
        "store_read_us",
    }
    assert all(isinstance(v, int | float) for v in bd.values())
    assert parts["state_root"] == plain["state_root"]


def test_the_other_threads_and_compaction_are_reported_and_settle_leaves_the_root(
    tmp_path: Path,
) -> None:
    """The background threads' CPU (LevelDB's flush and compaction) and LevelDB's compaction
    counters of the timed window are in the report; --settle (the set-up compacted first)
    changes no state."""
    plain = _run(tmp_path, "--store", "write_buffer_size=65536")  # tiny memtable: flushes
    settled = _run(tmp_path, "--store", "write_buffer_size=65536", "--settle")
    assert (plain["settle"], settled["settle"]) == (False, True)
    assert "settle_s" in settled and "settle_s" not in plain
    assert settled["state_root"] == plain["state_root"]
    for res in (plain, settled):
        assert res["other_threads_us_per_tx"] >= 0  # type: ignore[operator]
        assert isinstance(res["other_threads_ms"], list)
        assert set(res["leveldb_compaction"]) == {"s", "read_mb", "write_mb"}  # type: ignore[arg-type]
        assert isinstance(res["leveldb_levels_mb"], list)


def test_thread_cpu_lists_this_thread() -> None:
    """thread_cpu_ns reads every live thread's run time (Linux /proc), this one included."""
    import importlib.util
    import threading

    spec = importlib.util.spec_from_file_location("bench_state", ROOT / "bench" / "state.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    cpu = mod.thread_cpu_ns()
    if not Path("/proc/self/task").exists():
        assert cpu == {}
        return
    assert cpu.get(threading.get_native_id(), 0) > 0
