"""The light-client test vectors (tests/vectors/light_client.json): node/light.py gives each
case its recorded verdict, and the file is what tests/vectors/generate.py writes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from vectors_runner import run_case

from node.light import VerifyError

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
DOC: dict[str, Any] = json.loads((VECTORS / "light_client.json").read_text())


def test_the_vectors_cover_every_kind_of_lie_and_every_record() -> None:
    refused = {c["expect"].get("check") for c in DOC["cases"] if not c["expect"]["valid"]}
    assert refused == {"proof", "answer", "commit", "header", "validators", "anchor"}
    honest = {c["read"]["kind"] for c in DOC["cases"] if c["expect"]["valid"]}
    assert honest == {"account", "pool", "member", "claim", "proposal", "params", "validators"}
    assert len(DOC["follow"]["from_genesis"]) >= 3  # three set changes at least


@pytest.mark.parametrize("case", DOC["cases"], ids=lambda c: c["name"])
def test_each_case_gets_its_verdict(case: dict[str, Any]) -> None:
    expect = case["expect"]
    if expect["valid"]:
        run_case(DOC, case)
        return
    with pytest.raises(VerifyError) as err:
        run_case(DOC, case)
    assert str(err.value) == expect["message"]
    assert str(err.value).startswith(expect["check"] + ":")


def test_the_file_is_what_the_generator_writes() -> None:
    gen = VECTORS / "generate.py"
    done = subprocess.run(
        [sys.executable, str(gen), "--check"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
