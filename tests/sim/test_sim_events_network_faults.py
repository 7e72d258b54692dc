"""The simulator's clock, event queue, network model and fault schedules."""

from __future__ import annotations

import random

import pytest

from sim.events import EventQueue, SimClock
from sim.faults import CRASH, PARTITION, FaultConfig, schedule, twins_split
from sim.network import Latency, NetConfig, Network


def test_queue_orders_by_time_then_push_order() -> None:
    q = EventQueue()
    q.push(20, "c")
    q.push(10, "a")
    q.push(10, "b")  # same time as "a": runs after it, in push order
    q.push(5, {"unorderable": object()})  # payloads are never compared
    assert q.peek_time() == 5
    out = [q.pop() for _ in range(len(q))]
    assert [t for t, _ in out] == [5, 10, 10, 20]
    assert [e for _, e in out[1:]] == ["a", "b", "c"]
    assert q.peek_time() is None
    assert q.pushed == 4
    with pytest.raises(IndexError):
        q.pop()


def test_clock_skew_and_conversion() -> None:
    clock = SimClock(1_000, [0, 250, -100])
    assert [clock.local(i) for i in range(3)] == [1_000, 1_250, 900]
    # a timer node 1 wants at its local 2_250 fires at global 2_000
    assert clock.to_global(1, 2_250) == 2_000
    clock.advance(1_500)
    assert clock.local(2) == 1_400
    with pytest.raises(AssertionError):
        clock.advance(1_499)


def test_random_skews_bounded_and_seeded() -> None:
    a = SimClock.with_random_skews(0, 50, 200, random.Random(7))
    b = SimClock.with_random_skews(0, 50, 200, random.Random(7))
    skews = [a.skew(i) for i in range(50)]
    assert skews == [b.skew(i) for i in range(50)]
    assert all(-200 <= s <= 200 for s in skews)
    assert len(set(skews)) > 10
    assert all(SimClock.with_random_skews(0, 5, 0, random.Random(1)).skew(i) == 0 for i in range(5))


def test_latency_distributions() -> None:
    rng = random.Random(3)
    uni = Latency.parse("uniform:10:20")
    assert all(10 <= uni.sample(rng) <= 20 for _ in range(500))
    logn = Latency("lognormal", 40, 0.5, cap_ms=300)
    samples = sorted(logn.sample(rng) for _ in range(2001))
    assert 30 <= samples[1000] <= 50  # the median is the configured one
    assert samples[-1] <= 300 and samples[0] >= 1
    with pytest.raises(ValueError):
        Latency.parse("gaussian:1:2")
    with pytest.raises(ValueError):
        Latency.parse("uniform:5")
    with pytest.raises(ValueError):
        Latency("uniform", 9, 3)


def test_network_loss_rate_and_duplicates() -> None:
    net = Network(NetConfig(Latency("uniform", 1, 5), loss=0.3, duplicate=0.1), random.Random(5), 4)
    copies = [len(net.plan(0, 1)) for _ in range(10_000)]
    delivered = sum(copies)
    # expected copies per message: (1 + 0.1) * 0.7 = 0.77
    assert 7_300 < delivered < 8_100
    assert max(copies) == 2
    assert net.dropped > 2_500 and net.duplicated > 800


def test_network_reorder_lets_later_messages_overtake() -> None:
    net = Network(
        NetConfig(Latency("uniform", 10, 10), reorder=0.5, reorder_ms=400), random.Random(2), 2
    )
    delays = [net.plan(0, 1)[0] for _ in range(200)]
    assert min(delays) == 10 and max(delays) > 200
    # a message sent 1 ms later but with no extra delay arrives before a delayed one
    assert any(d1 > 1 + d2 for d1, d2 in zip(delays, delays[1:], strict=False))


def test_partition_blocks_only_cross_links_and_heals() -> None:
    net = Network(NetConfig(Latency("uniform", 1, 1)), random.Random(1), 4)
    net.partition([0, 0, 1, 1])
    assert net.plan(0, 1) == [1] and net.plan(2, 3) == [1]
    assert net.plan(0, 2) == [] and net.plan(3, 1) == []
    assert not net.connected(1, 2)
    net.heal()
    assert net.plan(0, 2) == [1] and not net.partitioned


def test_plan_draws_same_randomness_whatever_the_partition() -> None:
    """A partition must not shift the random stream, or faults would change everything else."""
    cfg = NetConfig(Latency("lognormal", 30, 0.5), loss=0.2, duplicate=0.2, reorder=0.2)
    a = Network(cfg, random.Random(9), 3)
    b = Network(cfg, random.Random(9), 3)
    b.partition([0, 1, 1])
    for _ in range(50):
        a.plan(0, 1)
        b.plan(0, 1)
    assert a.plan(1, 2) == b.plan(1, 2)


def test_fault_schedule_non_overlapping_within_window() -> None:
    cfg = FaultConfig(partition=True, crash=True)
    faults = schedule(
        cfg, random.Random(11), nodes=4, crashable=[1, 2, 3], start_ms=0, end_ms=60_000
    )
    parts = [f for f in faults if f.kind == PARTITION]
    crashes = [f for f in faults if f.kind == CRASH]
    assert parts and crashes
    for group in (parts, crashes):
        for a, b in zip(group, group[1:], strict=False):
            assert a.end_ms <= b.start_ms
    for f in faults:
        assert 0 <= f.start_ms < f.end_ms <= 60_000
    for f in parts:
        assert 0 < sum(f.sides) < 4
    assert {f.node for f in crashes} <= {1, 2, 3}
    again = schedule(
        cfg, random.Random(11), nodes=4, crashable=[1, 2, 3], start_ms=0, end_ms=60_000
    )
    assert again == faults
    assert (
        schedule(FaultConfig(), random.Random(11), nodes=4, crashable=[1], start_ms=0, end_ms=9e9)
        == []
    )


def test_twins_split_separates_every_pair_and_halves_honest() -> None:
    rng = random.Random(4)
    for _ in range(100):
        sides = twins_split(rng, 6, [(0, 4), (1, 5)])
        assert sides[0] != sides[4] and sides[1] != sides[5]
        honest = [sides[i] for i in (2, 3)]
        assert sorted(honest) == [0, 1]
    faults = schedule(
        FaultConfig(), rng, nodes=6, crashable=[], start_ms=0, end_ms=30_000, twin_pairs=[(0, 4)]
    )
    assert faults and all(f.kind == PARTITION and f.sides[0] != f.sides[4] for f in faults)
