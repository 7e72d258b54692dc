"""`huzhu nemesis`'s arguments and its exits: bad input is refused before anything is made,
a machine without namespaces gets the reason, and Ctrl-C removes everything the run made."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nemesis import netns
from node.cli import main
from node.localnet_harness import ROOT


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--validators", "3"], "--validators must be in 4..7"),
        (["--validators", "8"], "--validators must be in 4..7"),
        (["--duration", "0"], "--duration must be in (0, 86400]"),
        (["--duration", "86401"], "--duration must be in (0, 86400]"),
        (["--clients", "0"], "--clients must be in 1..16"),
        (["--clients", "17"], "--clients must be in 1..16"),
    ],
)
def test_bad_arguments_exit_2_before_anything_is_made(
    args: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[str] = []
    monkeypatch.setattr(netns, "run", lambda *a, **k: made.append(" ".join(a)))
    assert main(["nemesis", *args]) == 2
    assert message in capsys.readouterr().err
    assert made == []


def test_no_namespaces_exits_2_naming_why(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import nemesis.runner

    monkeypatch.setattr(nemesis.runner, "why_unavailable", lambda: "not root: test")
    assert main(["nemesis", "--duration", "5", "--json", str(tmp_path / "r.json")]) == 2
    assert "cannot run here: not root: test" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()


@pytest.mark.slow
def test_ctrl_c_removes_namespaces_mounts_and_processes(tmp_path: Path) -> None:
    why = netns.why_unavailable()
    if why:
        pytest.skip(f"the nemesis needs network namespaces: {why}")
    work = tmp_path / "w"
    # seed 4's short schedule has a disk fault, so a tmpfs is mounted before the nodes start
    p = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "node.cli",
            "nemesis",
            "--duration",
            "120",
            "--seed",
            "4",
            "--profile",
            "short",
            "--clients",
            "2",
            "--workdir",
            str(work),
            "--json",
            str(tmp_path / "r.json"),
        ],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert p.stderr is not None
    tag = None
    deadline = time.monotonic() + 90
    seen = []
    while time.monotonic() < deadline:
        line = p.stderr.readline()
        seen.append(line)
        if m := re.search(r"namespaces hz(\d+)n", line):
            tag = m.group(1)
        if tag and "fault #" in line:
            break
    assert tag, "".join(seen)
    mounts = Path("/proc/mounts").read_text()
    assert str(work) in mounts  # the disk fault's tmpfs is there while it runs
    p.send_signal(signal.SIGINT)
    rest = p.communicate(timeout=60)[1]
    assert p.returncode == 130, rest
    assert "interrupted" in rest
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not [n for n in names.split() if n.startswith(f"hz{tag}n")], names
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert f"hz{tag}br" not in links and f"hz{tag}v" not in links
    assert str(work) not in Path("/proc/mounts").read_text()
    nodes = [pid for pid in os.listdir("/proc") if pid.isdigit() and _cmdline(pid).count(str(work))]
    assert nodes == [], nodes
    assert not (tmp_path / "r.json").exists()


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""
