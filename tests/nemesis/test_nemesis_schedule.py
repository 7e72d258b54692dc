"""The fault schedule is a pure function of its seed: a printed seed replays the same faults."""

from __future__ import annotations

from typing import Any

import pytest

from nemesis.schedule import KINDS, MAX_FAULTS, Timing, make_schedule

SHORT = Timing(warmup_s=5, fault_min_s=2, fault_max_s=3, gap_s=2, cooldown_s=4)


def test_same_seed_same_schedule_other_seed_other_schedule() -> None:
    a = [f.to_json() for f in make_schedule(42, 4, 600)]
    b = [f.to_json() for f in make_schedule(42, 4, 600)]
    c = [f.to_json() for f in make_schedule(43, 4, 600)]
    assert a == b
    assert a != c


def test_a_short_schedule_covers_every_kind_once_first() -> None:
    faults = make_schedule(1, 4, 130, SHORT)
    assert sorted(f.kind for f in faults[: len(KINDS)]) == sorted(KINDS)
    assert all(SHORT.fault_min_s <= f.length_s <= SHORT.fault_max_s for f in faults)


def test_the_schedule_fits_the_duration() -> None:
    t = Timing()
    for duration in (30, 120, 600):
        faults = make_schedule(5, 4, duration, t)
        used = sum(f.length_s + t.gap_s for f in faults)
        assert used <= duration - t.warmup_s - t.cooldown_s + 0.1 * len(faults)
    assert make_schedule(5, 4, 10, t) == []  # too short for any fault: none, not an error


def test_the_count_is_bounded() -> None:
    tiny = Timing(warmup_s=0, fault_min_s=1, fault_max_s=1, gap_s=0, cooldown_s=0)
    assert len(make_schedule(3, 4, 10_000, tiny)) == MAX_FAULTS


@pytest.mark.parametrize("n", [4, 5, 7])
def test_partitions_have_the_shape_of_their_kind(n: int) -> None:
    faults = make_schedule(9, n, 2000, SHORT)
    seen = set()
    sizes: set[int] = set()
    for f in faults:
        if not f.kind.startswith("partition_"):
            assert all(0 <= i < n for i in f.nodes)
            continue
        seen.add(f.kind)
        a, b = f.params["sides"]
        bridge = f.params["bridge"]
        assert sorted(a + b + bridge) == list(range(n))
        assert {tuple(p) for p in f.params["blocked"]} == {
            (min(x, y), max(x, y)) for x in a for y in b
        }
        if f.kind == "partition_isolate":
            assert len(a) == 1 and not bridge
        elif f.kind == "partition_halves":
            assert 1 <= len(a) <= len(b) and len(a) + len(b) == n and not bridge
            sizes.add(len(a))
        else:
            assert len(bridge) == 1 and a and b
    assert seen == {"partition_isolate", "partition_halves", "partition_bridge"}
    # halves that keep a quorum on one side, and (n = 4: 2-2) halves that keep none
    assert sizes == set(range(2 if n >= 6 else 1, n // 2 + 1))


def test_clock_skew_is_tens_of_seconds() -> None:
    skews = [
        f.params["offset_s"] for f in make_schedule(4, 4, 3000, SHORT) if f.kind == "clock_skew"
    ]
    assert skews and all(20 <= abs(s) <= 60 for s in skews)
    assert any(s < 0 for s in skews) and any(s > 0 for s in skews)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"validators": 3}, "validators must be in 4..7"),
        ({"validators": 8}, "validators must be in 4..7"),
        ({"duration_s": 0}, "duration must be > 0"),
        ({"kinds": ("partition", "kill9")}, "unknown or no fault kinds"),
        ({"kinds": ()}, "unknown or no fault kinds"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, Any], message: str) -> None:
    args = {"seed": 1, "validators": 4, "duration_s": 60.0, **kwargs}
    with pytest.raises(ValueError, match=message):
        make_schedule(**args)


def test_timing_bounds() -> None:
    with pytest.raises(ValueError, match="fault length"):
        Timing(fault_min_s=0.5)
    with pytest.raises(ValueError, match="fault length"):
        Timing(fault_min_s=10, fault_max_s=5)
    with pytest.raises(ValueError, match="fault length"):
        Timing(fault_max_s=121)
    Timing(fault_min_s=1, fault_max_s=120)  # both ends of the range are allowed
    with pytest.raises(ValueError, match=">= 0"):
        Timing(gap_s=-1)
