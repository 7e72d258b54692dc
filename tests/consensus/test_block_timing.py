"""What a slow block may and may not cost: the next height's propose deadline counts from when
the node was ready, a proposal that arrived in time is prevoted whatever its execution took,
and every commit reports its height's timing (HeightTiming) for the proposer's block sizing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cons_helpers import FAST, Net

from consensus.actions import (
    STEP_NEW_HEIGHT,
    STEP_PROPOSE,
    Committed,
    HeightTiming,
    ScheduleTimeout,
)
from consensus.messages import CONSENSUS, ProposalMsg, VoteMsg, decode_message
from consensus.types import PREVOTE


class RecordingNet(Net):
    """Net that keeps every step's actions with the time the step was called at."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.steps: list[tuple[bytes, int, list[Any]]] = []
        super().__init__(*args, **kwargs)

    def handle(self, src: bytes, actions: list) -> None:  # noqa: ANN001
        self.steps.append((src, self.now, list(actions)))
        super().handle(src, actions)

    def committed_actions(self) -> list[tuple[bytes, int, Committed, list[Any]]]:
        return [
            (k, now, a, acts)
            for k, now, acts in self.steps
            for a in acts
            if isinstance(a, Committed)
        ]


def test_the_next_round_starts_from_a_timeout_never_inside_the_commit_step() -> None:
    """Latency 60 ms: precommits complete 180 ms after the round started, past the 100 ms
    commit wait, so the next height is due at once. It must still start from a timeout: the
    step's `now` predates the commit, and a round started with it would set its propose
    deadline early by however long the commit took."""
    net = RecordingNet(4, latency_ms=60)
    net.start()
    assert net.run_until(lambda: min(net.heights()) >= 5)
    commits = net.committed_actions()
    assert commits
    for _, now, c, acts in commits:
        nxt = [a for a in acts if isinstance(a, ScheduleTimeout) and a.height == c.height + 1]
        assert [a.step for a in nxt] == [STEP_NEW_HEIGHT], acts
        assert nxt[0].at_ms == now  # due now: the driver fires it with its next clock reading


def test_a_late_ready_node_counts_its_propose_deadline_from_then() -> None:
    net = RecordingNet(4, latency_ms=60)
    net.start()
    assert net.run_until(lambda: min(net.heights()) >= 1)
    key, now, c, acts = net.committed_actions()[0]
    t = next(a for a in acts if isinstance(a, ScheduleTimeout) and a.step == STEP_NEW_HEIGHT)
    replica = net.replicas[key]
    commit_took = 400  # the commit of a large block: the driver's clock moved on meanwhile
    out = replica.on_timeout(t, now + commit_took)
    propose = [a for a in out if isinstance(a, ScheduleTimeout) and a.step == STEP_PROPOSE]
    assert [a.at_ms for a in propose] == [now + commit_took + FAST.propose_timeout(0)]


def test_a_proposal_that_arrived_in_time_is_prevoted_even_if_the_timer_fires_right_after() -> None:
    """Execution happens inside the step that delivers the proposal: however long it takes,
    the prevote for the block leaves in that step, and the propose timeout that comes due
    meanwhile (fired by the driver afterwards) changes nothing."""
    net = RecordingNet(4, latency_ms=10)
    net.start()
    assert net.run_until(lambda: min(net.heights()) >= 1)
    # find a validator that is not the proposer of height 2 round 0, then feed it the
    # proposal one millisecond before its propose deadline
    proposals: list[tuple[bytes, bytes]] = []
    net.drop = lambda src, dst, ch, payload: (
        ch == CONSENSUS
        and isinstance(decode_message(ch, payload), ProposalMsg)
        and proposals.append((dst, payload)) is None
    )
    assert net.run_until(lambda: len(proposals) >= 3, max_ms=5_000)
    dst, payload = proposals[0]
    replica = net.replicas[dst]
    deadline = next(
        t.at_ms
        for t in replica._timeouts.values()  # noqa: SLF001
        if t.step == STEP_PROPOSE and t.height == replica.consensus_height
    )
    src = decode_message(CONSENSUS, payload).proposal.block.header.proposer  # type: ignore[attr-defined]
    acts = replica.on_message(src, CONSENSUS, payload, deadline - 1)
    prevotes = _own_prevotes(acts)
    assert len(prevotes) == 1 and prevotes[0] is not None
    late = replica.on_timeout(deadline + 500)  # the timer fires once the step returns
    assert _own_prevotes(late) == []


def _own_prevotes(actions: Sequence[Any]) -> list[bytes | None]:
    out = []
    for a in actions:
        payload = getattr(a, "payload", None)
        if payload is None or getattr(a, "channel", None) != CONSENSUS:
            continue
        msg = decode_message(CONSENSUS, payload)
        if isinstance(msg, VoteMsg) and msg.vote.type == PREVOTE:
            out.append(msg.vote.block_id)
    return out


def test_commits_report_their_height_timing() -> None:
    """Round 0 starts, the proposal goes out (10 ms), prevotes come back (10 ms): 2f+1 prevotes
    for the block 20 ms after the round started, on every replica whose round started then."""
    net = RecordingNet(4, latency_ms=10)
    net.start()
    assert net.run_until(lambda: min(net.heights()) >= 4)
    timings = [c.timing for _, _, c, _ in net.committed_actions() if c.height >= 2]
    assert timings and all(isinstance(t, HeightTiming) for t in timings)
    for t in timings:
        assert t is not None and t.round == 0 and t.first_txs == 2
        assert t.started_ms is not None and t.polka_ms is not None
        assert 0 <= t.polka_ms - t.started_ms <= 40
    assert any(t is not None and t.polka_ms - t.started_ms == 20 for t in timings)  # type: ignore[operator]


def test_a_height_decided_after_round_zero_reports_its_round_and_the_late_block() -> None:
    net = RecordingNet(4, latency_ms=10)
    net.start()
    assert net.run_until(lambda: min(net.heights()) >= 1)
    # every round-0 proposal of height 2 reaches its validators after their propose timeout
    delayed: set[tuple[bytes, bytes]] = set()

    def late(src: bytes, dst: bytes, ch: int, payload: bytes) -> bool:
        if not _is_round0_proposal(ch, payload, 2) or (dst, payload) in delayed:
            return False
        delayed.add((dst, payload))
        net.push(net.now + FAST.propose_timeout(0) + 50, "msg", (src, dst, ch, payload))
        return True

    net.drop = late
    assert net.run_until(lambda: min(net.heights()) >= 2, max_ms=10_000)
    t = [c.timing for _, _, c, _ in net.committed_actions() if c.height == 2]
    assert t and all(x is not None and x.round >= 1 for x in t)
    assert any(x is not None and x.first_txs == 2 for x in t)


def _is_round0_proposal(ch: int, payload: bytes, height: int) -> bool:
    if ch != CONSENSUS:
        return False
    msg = decode_message(ch, payload)
    return (
        isinstance(msg, ProposalMsg) and msg.proposal.height == height and msg.proposal.round == 0
    )


def test_commits_report_when_the_height_was_due_and_decided() -> None:
    """scheduled_ms is the commit wait's deadline that started round 0 (a timer fired on time
    here: started_ms equals it) and decided_ms the step that counted the precommits."""
    net = RecordingNet(4, latency_ms=10)
    net.start()
    assert net.run_until(lambda: min(net.heights()) >= 4)
    for _, now, c, _ in net.committed_actions():
        t = c.timing
        assert t is not None and t.decided_ms == now
        if c.height >= 2:
            assert t.scheduled_ms is not None and t.started_ms == t.scheduled_ms
            assert t.polka_ms is not None and t.polka_ms <= t.decided_ms
