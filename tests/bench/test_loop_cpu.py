"""bench/loop_cpu.py: the node-side hook charges loop callbacks their thread CPU, and the
report compares the phases' windows per committed tx. The full run needs a network (a manual
benchmark); the hook runs here in a small asyncio process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.loop_cpu import HOOK_DIR, compare, per_tx, read_dumps, window_rates  # noqa: E402

PROGRAM = """
import asyncio, time

async def busy():
    end = time.thread_time() + 0.6
    while time.thread_time() < end:
        sum(range(1000))
        await asyncio.sleep(0)

async def idle():
    await asyncio.sleep(1.4)

async def main():
    await asyncio.gather(busy(), idle())

asyncio.run(main())
"""


def run_hooked(tmp: Path, enabled: bool) -> None:
    env = {k: v for k, v in os.environ.items() if k != "HUZHU_LOOP_CPU_DIR"}
    env["PYTHONPATH"] = str(HOOK_DIR)
    if enabled:
        env["HUZHU_LOOP_CPU_DIR"] = str(tmp)
    subprocess.run([sys.executable, "-c", PROGRAM], env=env, check=True, timeout=60)


def test_the_hook_charges_a_busy_task_its_cpu_and_an_idle_one_nothing(tmp_path: Path) -> None:
    run_hooked(tmp_path, enabled=True)
    runs = read_dumps(tmp_path)
    assert len(runs) == 1
    last = runs[0][-1]
    assert last["cpu"]["task busy"] >= 0.5  # 0.6 s of thread CPU, less the last turn
    assert last["cpu"].get("task idle", 0.0) < 0.05
    assert last["calls"]["task busy"] > 10
    assert last["threads"]["loop"] >= 0.5


def test_without_the_variable_the_hook_does_nothing(tmp_path: Path) -> None:
    run_hooked(tmp_path, enabled=False)
    assert list(tmp_path.iterdir()) == []


def snap(t: float, cpu: float, loop: float) -> dict[str, object]:
    return {
        "t": t,
        "cpu": {"task rpc": cpu},
        "calls": {"task rpc": t * 10},
        "threads": {"loop": loop},
    }


def test_a_window_counts_the_processes_alive_through_it_per_committed_tx(tmp_path: Path) -> None:
    # two nodes of one network through [100, 110], one of an earlier network
    for pid, scale in (("1", 1.0), ("2", 3.0)):
        rows = [snap(t, scale * 0.01 * t, scale * 0.02 * t) for t in range(95, 116)]
        (tmp_path / f"{pid}.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    old = [snap(t, 5.0 * t, 5.0 * t) for t in range(10, 40)]
    (tmp_path / "3.jsonl").write_text("\n".join(json.dumps(r) for r in old) + "\ncut sho")
    rates = window_rates(read_dumps(tmp_path), 100.0, 110.0)
    assert rates["nodes"] == 2
    assert abs(rates["cpu"]["task rpc"] - 0.04) < 1e-9  # 0.01 + 0.03 CPU-s per second
    # 1,000 committed tx/s: 0.02 CPU-s per s per node = 20 µs per committed tx per node
    each = per_tx(rates, 1000.0)
    assert abs(each["cpu"]["task rpc"] - 20.0) < 1e-6
    assert abs(each["threads"]["loop"] - 40.0) < 1e-6
    assert window_rates(read_dumps(tmp_path), 500.0, 510.0)["nodes"] == 0


def test_rows_are_ordered_by_growth_per_committed_tx() -> None:
    sat = {"cpu": {"a": 10.0, "b": 5.0, "tiny": 0.01}, "calls": {"a": 1.0}}
    over = {"cpu": {"a": 11.0, "b": 9.0, "new": 2.0}, "calls": {"a": 2.0}}
    rows = compare(sat, over, top=10)
    assert [r["callback"] for r in rows] == ["b", "new", "a"]
    assert rows[0]["delta_us"] == 4.0
    assert rows[2]["calls_per_s"] == (1, 2)


BURNER = """
import time

def spin(seconds):
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        sum(range(1000))

class Thing:
    def method(self):
        spin(0.01)
"""

FUNCS_PROGRAM = """
import asyncio
import burner

async def main():
    await asyncio.sleep(0)
    for _ in range(30):
        burner.spin(0.01)  # looked up at call time: the wrapper
        burner.Thing().method()
        await asyncio.sleep(0)

asyncio.run(main())
"""


def test_named_functions_are_charged_their_calls_apart_and_a_misnamed_one_is_reported(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "burner.py").write_text(BURNER)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUZHU_LOOP_CPU")}
    env["PYTHONPATH"] = os.pathsep.join([str(HOOK_DIR), str(tmp_path)])
    env["HUZHU_LOOP_CPU_DIR"] = str(out)
    env["HUZHU_LOOP_CPU_FUNCS"] = "nowhere:spin,burner:missing, burner:spin,burner:Thing.method"
    proc = subprocess.run(
        [sys.executable, "-c", FUNCS_PROGRAM],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "burner:missing" in proc.stderr and "nowhere:spin" in proc.stderr
    last = read_dumps(out)[0][-1]
    # 30 direct calls and 30 through the method: inclusive of what a function calls
    assert last["fn_calls"] == {"burner:spin": 60, "burner:Thing.method": 30}
    assert last["fns"]["burner:spin"] >= 0.5  # 60 x 10 ms of thread CPU
    assert 0.25 <= last["fns"]["burner:Thing.method"] <= last["fns"]["burner:spin"]
    # the loop's own accounting is unchanged: the task ran the calls
    assert last["cpu"]["task main"] >= 0.5


def test_functions_come_out_per_committed_tx_per_node_beside_the_callbacks(tmp_path: Path) -> None:
    # two nodes: check 11 ran 1,500 and 500 times a second, 30 and 10 ms of CPU a second
    for pid, scale in (("1", 3.0), ("2", 1.0)):
        rows = [
            {
                **snap(t, 0.01 * t, 0.02 * t),
                "fns": {"m:check": scale * 0.01 * t},
                "fn_calls": {"m:check": scale * 500 * t},
            }
            for t in range(95, 116)
        ]
        (tmp_path / f"{pid}.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    each = per_tx(window_rates(read_dumps(tmp_path), 100.0, 110.0), 1000.0)
    # 0.04 CPU-s per second over 2 nodes and 1,000 committed tx/s: 20 µs per tx per node
    assert abs(each["fns"]["m:check"] - 20.0) < 1e-6
    assert abs(each["fn_calls"]["m:check"] - 1.0) < 1e-9  # 2,000 calls/s / 2 nodes / 1,000
    assert "m:check" not in each["cpu"]  # not counted among the callbacks' total
