"""Block pacing under a late driver: the next height is due block_time_ms after the committed
block's time, so a proposer that stamped the moment its timer fired would stretch every
interval by its event loop's lateness (1,033 ms at 21 validators, 1,074 ms under overload,
on a 1,000 ms chain). A round started by the commit wait stamps the time it was due, at
most max_stamp_lag_ms behind the proposer's clock."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from cons_helpers import FAST, Net

from consensus.actions import STEP_NEW_HEIGHT, STEP_PROPOSE, ScheduleTimeout
from consensus.messages import CONSENSUS, ProposalMsg, decode_message
from consensus.params import ConsensusParams


class LateNet(Net):
    """Net whose drivers fire every timer `late_ms` after it was due (a busy event loop)."""

    def __init__(self, *args: Any, late_ms: int = 0, **kwargs: Any) -> None:
        self.late_ms = late_ms
        self.proposals: list[tuple[int, int, int, int]] = []  # height, round, time_ms, sent at
        super().__init__(*args, **kwargs)

    def handle(self, src: bytes, actions: list) -> None:  # noqa: ANN001
        out = []
        for a in actions:
            if isinstance(a, ScheduleTimeout):
                self.push(a.at_ms + self.late_ms, "timeout", (src, a))
                continue
            payload = getattr(a, "payload", None)
            if payload is not None and getattr(a, "channel", None) == CONSENSUS:
                msg = decode_message(CONSENSUS, payload)
                if isinstance(msg, ProposalMsg):
                    p = msg.proposal
                    self.proposals.append((p.height, p.round, p.block.header.time_ms, self.now))
            out.append(a)
        super().handle(src, out)

    def block_times(self) -> dict[int, int]:
        key = next(iter(self.replicas))
        out = {}
        for h in range(1, self.replicas[key].height + 1):
            got = self.replicas[key].block(h)
            assert got is not None
            out[h] = got[0].header.time_ms
        return out


def _intervals(net: LateNet) -> list[int]:
    times = net.block_times()
    return [times[h] - times[h - 1] for h in sorted(times) if h - 1 in times and h >= 3]


def test_late_timers_do_not_stretch_the_block_interval() -> None:
    """Every timer fires 30 ms late: blocks are still exactly commit_ms apart, and each
    proposal leaves when its timer fired, stamped with the time it was due."""
    net = LateNet(4, late_ms=30)
    net.start()
    assert net.run_until(lambda: min(net.heights()) >= 8)
    assert set(_intervals(net)) == {FAST.commit_ms}
    late = [(t, sent) for h, r, t, sent in net.proposals if h >= 3 and r == 0]
    assert late and all(sent - t == 30 for t, sent in late)


def test_without_a_lag_allowance_the_interval_grows_by_the_lateness() -> None:
    """max_stamp_lag_ms 0 is the old rule (stamp the clock): each height starts 30 ms late
    and the interval is commit_ms + 30."""
    net = LateNet(4, late_ms=30, params=replace(FAST, max_stamp_lag_ms=0))
    net.start()
    assert net.run_until(lambda: min(net.heights()) >= 8)
    assert set(_intervals(net)) == {FAST.commit_ms + 30}


def test_the_stamp_lags_the_clock_by_at_most_max_stamp_lag_ms() -> None:
    """Timers 50 ms late with an allowance of 20 ms: stamps are 20 ms behind the clock, so
    the interval grows by the 30 ms the allowance does not cover."""
    net = LateNet(4, late_ms=50, params=replace(FAST, max_stamp_lag_ms=20))
    net.start()
    assert net.run_until(lambda: min(net.heights()) >= 8)
    assert set(_intervals(net)) == {FAST.commit_ms + 30}
    late = [(t, sent) for h, r, t, sent in net.proposals if h >= 3 and r == 0]
    assert late and all(sent - t == 20 for t, sent in late)


def _proposer_at_new_height(net: Net) -> tuple[Any, ScheduleTimeout]:
    """The replica that proposes the next height, with its pending commit-wait timeout."""
    for r in net.replicas.values():
        for t in r._timeouts.values():  # noqa: SLF001
            if t.step == STEP_NEW_HEIGHT and r.core.ctx is not None:
                if r.core.validators.proposer(0) == r.signer.public_key:  # type: ignore[union-attr]
                    return r, t
    raise AssertionError("no proposer waiting for its height")


def _stamp_when_fired(params: ConsensusParams, late_ms: int) -> tuple[int, int, int]:
    """(due, fired at, block time) of a proposal whose commit wait fired `late_ms` late."""
    net = Net(4, params=params)
    net.start()
    assert net.run_until(lambda: min(net.heights()) >= 2)
    replica, t = _proposer_at_new_height(net)
    now = t.at_ms + late_ms
    acts = replica.on_timeout(t, now)
    props = [
        decode_message(CONSENSUS, a.payload).proposal  # type: ignore[attr-defined]
        for a in acts
        if getattr(a, "channel", None) == CONSENSUS
        and isinstance(decode_message(CONSENSUS, a.payload), ProposalMsg)
    ]
    assert len(props) == 1
    deadline = [a for a in acts if isinstance(a, ScheduleTimeout) and a.step == STEP_PROPOSE]
    assert [d.at_ms for d in deadline] == [now + params.propose_timeout(0)]  # from now
    return t.at_ms, now, props[0].block.header.time_ms


def test_stamp_at_the_boundary_of_the_lag_allowance() -> None:
    params = replace(FAST, max_stamp_lag_ms=40)
    due, now, stamp = _stamp_when_fired(params, 40)  # exactly the allowance: the due time
    assert stamp == due == now - 40
    due, now, stamp = _stamp_when_fired(params, 41)  # one past it: 40 ms behind the clock
    assert stamp == now - 40 == due + 1
    due, now, stamp = _stamp_when_fired(params, 0)  # on time: the clock
    assert stamp == now == due


def test_a_later_round_stamps_the_clock() -> None:
    """Only the round the commit wait started is on the schedule: a block built in a later
    round (its round-0 proposer failed) carries the proposer's clock."""
    net = LateNet(4, late_ms=30)
    silent = net.signers[0].public_key
    net.drop = lambda src, dst, ch, payload: src == silent and ch == CONSENSUS
    net.start()
    assert net.run_until(lambda: min(net.heights()) >= 6, max_ms=120_000)
    later = [(t, sent) for h, r, t, sent in net.proposals if r > 0]
    assert later and all(t == sent for t, sent in later)
