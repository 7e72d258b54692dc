"""Leftovers of a crashed run: its record names what it made; a later cleanup removes
exactly that (a paused process still inside a namespace included) once the owner is gone,
and never touches a live run's objects or a namesake made since. Real namespaces, links and
tmpfs mounts (root); no node is started, so it takes a few seconds."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest

from nemesis import leftovers, netns
from nemesis.leftovers import cleanup
from nemesis.netns import (
    Network,
    mounted,
    namespace_exists,
    namespace_pids,
    run,
    why_unavailable,
)
from node.cli import main
from node.localnet_harness import wait_for


@pytest.fixture
def root_only() -> None:
    why = why_unavailable()
    if why:
        pytest.skip(f"needs network namespaces: {why}")


def _dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def _network(records: Path, mount: Path) -> Network:
    tag = Network.pick_tag()
    net = Network(1, tag, record=records / f"hz{tag}.json")
    net.setup()
    net.mount_tmpfs(mount, 1 << 20)
    return net


def _orphan(net: Network) -> None:
    """Make `net`'s record look like its owner died (a pid that exited)."""
    assert net.record is not None
    doc = json.loads(net.record.read_text())
    doc["pid"] = _dead_pid()
    net.record.write_text(json.dumps(doc))


def _gone(net: Network, mount: Path) -> bool:
    return (
        not namespace_exists(net.ns(0))
        and not Path(f"/sys/class/net/hz{net.tag}br").exists()
        and not Path(f"/sys/class/net/hz{net.tag}v0").exists()
        and not mounted(str(mount))
    )


@pytest.mark.usefixtures("root_only")
def test_a_dead_runs_leftovers_are_removed_and_a_live_runs_kept(tmp_path: Path) -> None:
    records = tmp_path / "records"
    dead = _network(records, tmp_path / "dead")
    live = _network(records, tmp_path / "live")
    # a paused node of the dead run, still in its namespace: it would keep the namespace alive
    paused = subprocess.Popen(["ip", "netns", "exec", dead.ns(0), "sleep", "600"])
    try:
        wait_for(lambda: paused.pid in namespace_pids(dead.ns(0)), 10, "sleep in the namespace")
        paused.send_signal(signal.SIGSTOP)
        _orphan(dead)
        assert dead.record is not None and live.record is not None

        done = cleanup(records)

        assert done.left == []
        assert [line.split(":")[0] for line in done.removed] == [f"hz{dead.tag}"]
        assert done.alive == [f"hz{live.tag} (pid {json.loads(live.record.read_text())['pid']})"]
        assert paused.wait(timeout=10) == -signal.SIGKILL
        assert _gone(dead, tmp_path / "dead")
        assert not dead.record.exists()
        # the live run's objects are all still there
        assert namespace_exists(live.ns(0)) and mounted(str(tmp_path / "live"))
        assert live.record.exists()
    finally:
        paused.kill()
        paused.wait()
        dead.teardown()
        assert live.teardown() == []
    assert _gone(live, tmp_path / "live") and not live.record.exists()


@pytest.mark.usefixtures("root_only")
def test_a_namesake_made_after_the_crash_is_not_touched(tmp_path: Path) -> None:
    records = tmp_path / "records"
    dead = _network(records, tmp_path / "m")
    _orphan(dead)
    # someone removed the namespace by hand, and another tool made one of the same name
    run("ip", "netns", "del", dead.ns(0))
    run("ip", "netns", "add", dead.ns(0))
    try:
        assert cleanup(records).left == []
        assert namespace_exists(dead.ns(0))  # the namesake survives
        assert not Path(f"/sys/class/net/hz{dead.tag}br").exists()  # what was ours is gone
        assert not mounted(str(tmp_path / "m"))
    finally:
        run("ip", "netns", "del", dead.ns(0), check=False)
        dead.teardown()


@pytest.mark.usefixtures("root_only")
def test_the_cleanup_command_reports_what_it_removed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    records = tmp_path / "records"
    monkeypatch.setattr(leftovers, "RECORD_DIR", records)
    assert main(["nemesis", "--cleanup"]) == 0
    assert capsys.readouterr().out == "nothing to remove\n"
    dead = _network(records, tmp_path / "m")
    try:
        _orphan(dead)
        assert main(["nemesis", "--cleanup"]) == 0
        out = capsys.readouterr().out
        assert out.startswith(f"removed hz{dead.tag}: hz{dead.tag}n0, hz{dead.tag}br"), out
        assert _gone(dead, tmp_path / "m")
    finally:
        dead.teardown()


def test_an_unreadable_record_is_reported_and_kept(tmp_path: Path) -> None:
    (tmp_path / "hz7.json").write_text("{not json")
    done = cleanup(tmp_path)
    assert len(done.left) == 1 and "unreadable" in done.left[0]
    assert (tmp_path / "hz7.json").exists()


def test_a_part_that_stays_is_reported_with_the_command_to_remove_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a namespace that will not go (still busy), and a link that does
    net = Network(1, 250, namespaces=["hz250n0"], links=["hz250br"], record=tmp_path / "r.json")
    (tmp_path / "r.json").write_text("{}")
    present = {"hz250n0", "hz250br"}
    ran: list[str] = []

    def fake_run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        ran.append(" ".join(argv))
        if argv[:3] == ("ip", "link", "del"):
            present.discard(argv[3])
            return subprocess.CompletedProcess(argv, 0, "", "")
        return subprocess.CompletedProcess(argv, 1, "", "Device or resource busy")

    monkeypatch.setattr(netns, "run", fake_run)
    monkeypatch.setattr(netns, "namespace_exists", lambda ns: ns in present)
    monkeypatch.setattr(netns, "link_exists", lambda link: link in present)
    monkeypatch.setattr(netns, "RETRY_PAUSE_S", 0.0)
    monkeypatch.setattr(netns, "KILL_WAIT_S", 0.0)

    left = net.teardown()

    assert left == [
        "namespace hz250n0: Device or resource busy; by hand: "
        "ip netns pids hz250n0 | xargs -r kill -9; ip netns del hz250n0"
    ]
    assert ran.count("ip netns del hz250n0") == netns.REMOVE_TRIES
    assert "ip link del hz250br" in ran
    assert (tmp_path / "r.json").exists()  # kept: a later cleanup tries again


def test_the_command_says_what_was_not_removed_after_a_signal(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import nemesis.runner
    from nemesis.ending import Interrupted

    line = "tmpfs /x/data: target is busy; by hand: umount -l /x/data"

    def interrupted(opts: object) -> dict[str, object]:
        raise Interrupted("SIGTERM", [line])

    monkeypatch.setattr(nemesis.runner, "run_nemesis", interrupted)
    assert main(["nemesis", "--duration", "5"]) == 130
    err = capsys.readouterr().err
    assert err == f"nemesis: interrupted (SIGTERM); NOT removed:\n  {line}\n"


def test_a_run_first_removes_what_dead_runs_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nemesis.runner
    from nemesis.leftovers import Cleanup
    from nemesis.runner import Options, Run, run_nemesis

    calls: list[str] = []
    monkeypatch.setattr(nemesis.runner, "why_unavailable", lambda: None)
    monkeypatch.setattr(
        nemesis.runner, "cleanup", lambda progress: calls.append("cleanup") or Cleanup()
    )

    def setup(self: Run, root: Path) -> None:
        calls.append("setup")
        raise RuntimeError("stop here")

    monkeypatch.setattr(Run, "_setup", setup)
    with pytest.raises(RuntimeError, match="stop here"):
        run_nemesis(Options(duration_s=5, workdir=tmp_path, progress=lambda line: None))
    assert calls == ["cleanup", "setup"]
