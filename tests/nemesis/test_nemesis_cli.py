"""`huzhu nemesis`'s arguments and its exits: bad input is refused before anything is made,
a machine without namespaces gets the reason, and Ctrl-C removes everything the run made."""

from __future__ import annotations

import contextlib
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
from node.localnet_harness import ROOT, wait_for


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


def _start_until_a_fault(tmp_path: Path, session: bool) -> tuple[subprocess.Popen[str], str]:
    """Start a run (seed 4's short schedule has a disk fault, so a tmpfs is mounted before the
    nodes start) and read its output until the first fault: (process, its tag)."""
    work = tmp_path / "w"
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
        start_new_session=session,
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
    if not tag or "fault #" not in seen[-1]:
        p.kill()
        pytest.fail("".join(seen))
    assert str(work) in Path("/proc/mounts").read_text()  # the disk fault's tmpfs is there
    return p, tag


@pytest.mark.slow
@pytest.mark.parametrize(
    "how",
    [
        "SIGINT",  # `kill -INT` / `pkill -INT -f "huzhu nemesis"`: to the one process
        "SIGTERM",
        "SIGINT, then more",  # an impatient operator, or `timeout` forwarding its signals
        "Ctrl-C",  # a terminal's: SIGINT to the process group, the nodes included
    ],
)
def test_a_signal_removes_namespaces_mounts_and_processes(tmp_path: Path, how: str) -> None:
    why = netns.why_unavailable()
    if why:
        pytest.skip(f"the nemesis needs network namespaces: {why}")
    p, tag = _start_until_a_fault(tmp_path, session=how == "Ctrl-C")
    if how == "Ctrl-C":
        os.killpg(p.pid, signal.SIGINT)
    else:
        p.send_signal(signal.SIGTERM if how == "SIGTERM" else signal.SIGINT)
    if how == "SIGINT, then more":
        # signals keep coming while it tears down: they must not cut the teardown short
        while p.poll() is None:
            time.sleep(0.2)
            with contextlib.suppress(ProcessLookupError):
                p.send_signal(signal.SIGTERM if time.monotonic() % 1 < 0.5 else signal.SIGINT)
    rest = p.communicate(timeout=90)[1]
    work = str(tmp_path / "w")
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not [n for n in names.split() if n.startswith(f"hz{tag}n")], names
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert f"hz{tag}br" not in links and f"hz{tag}v" not in links
    assert work not in Path("/proc/mounts").read_text()
    nodes = [pid for pid in os.listdir("/proc") if pid.isdigit() and _cmdline(pid).count(work)]
    assert nodes == [], nodes
    assert not (netns.RECORD_DIR / f"hz{tag}.json").exists()
    assert not (tmp_path / "r.json").exists()
    # a signal that comes after the teardown finished may end the process: nothing is left
    late = (-signal.SIGINT, -signal.SIGTERM) if how == "SIGINT, then more" else ()
    assert p.returncode == 130 or p.returncode in late, rest
    assert "namespaces, links, rules, relay, mounts and processes removed" in rest, rest
    assert "NOT removed" not in rest


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.mark.slow
def test_cleanup_removes_what_a_killed_run_left(tmp_path: Path) -> None:
    """SIGKILL gives the run no chance to tear down: its record names what it left, and
    `huzhu nemesis --cleanup` removes that (the nodes' processes included), and only that."""
    why = netns.why_unavailable()
    if why:
        pytest.skip(f"the nemesis needs network namespaces: {why}")
    p, tag = _start_until_a_fault(tmp_path, session=True)
    os.killpg(p.pid, signal.SIGSTOP)  # the nodes too: a paused node outlives its parent
    p.kill()
    p.communicate(timeout=30)
    work = str(tmp_path / "w")
    record = netns.RECORD_DIR / f"hz{tag}.json"
    assert record.exists()
    assert netns.namespace_exists(f"hz{tag}n0") and work in Path("/proc/mounts").read_text()

    done = subprocess.run(
        [sys.executable, "-m", "node.cli", "nemesis", "--cleanup"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done
    assert f"removed hz{tag}: hz{tag}n0" in done.stdout, done.stdout
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not [n for n in names.split() if n.startswith(f"hz{tag}n")], names
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert f"hz{tag}br" not in links and f"hz{tag}v" not in links
    assert work not in Path("/proc/mounts").read_text()
    wait_for(lambda: not _processes_of(work), 10, "the nodes' processes to be gone")
    assert not record.exists()


def _processes_of(work: str) -> list[str]:
    """Live processes whose command line names `work` (zombies have none)."""
    return [pid for pid in os.listdir("/proc") if pid.isdigit() and work in _cmdline(pid)]
