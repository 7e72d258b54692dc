"""Smoke test of bench/light.py on a short chain: it runs to the end (it once asked for set
changes proven at e - 2, which the verifier refuses, and nobody noticed) and its figures say
what they claim. No speed thresholds (the machine is shared)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_light_bench_smoke(tmp_path: Path) -> None:
    out = tmp_path / "light.json"
    # fmt: off
    args = ["--height", "450", "--epoch", "100", "--accounts", "2000", "--repeat", "3",
            "--json", str(out)]
    # fmt: on
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "light.py"), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    r = json.loads(out.read_text())
    assert json.loads(proc.stdout) == r
    # elections end blocks 100..400 and take effect two blocks later: 102, 202, 302, 402
    assert r["set_changes"] == 4
    # one header per change followed, plus the read's own
    assert r["follow_from_genesis"]["headers_checked"] == 4 + 1
    for kind in ("account", "claim"):
        fig = r[kind]
        assert fig["proof_levels"] >= 2  # 2,000 extra accounts give the tree some depth
        assert 0 < fig["proof_bytes"] < fig["answer_bytes"]  # the answer adds header, commit
        assert fig["verify_ms"] > 0
