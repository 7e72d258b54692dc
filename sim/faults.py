"""Seeded fault schedules: partitions that heal, and crashes followed by restarts.

A schedule is fixed before the run starts (a pure function of the seed and the config),
which makes a failing run easy to read: the JSON record lists every fault with its times.
Faults of one kind never overlap (one partition at a time, one crashed node at a time);
partitions and crashes may overlap each other. All faults end inside the fault window, so
the tail of every run is fault-free and liveness can be judged there.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

PARTITION = "partition"
CRASH = "crash"


@dataclass(frozen=True, slots=True)
class FaultConfig:
    """What may go wrong and for how long (all times in simulated milliseconds)."""

    partition: bool = False
    crash: bool = False
    partition_ms: tuple[int, int] = (1_000, 6_000)
    crash_ms: tuple[int, int] = (1_000, 6_000)
    gap_ms: tuple[int, int] = (500, 4_000)

    def __post_init__(self) -> None:
        for name in ("partition_ms", "crash_ms", "gap_ms"):
            lo, hi = getattr(self, name)
            if not 0 <= lo <= hi:
                raise ValueError(f"{name} must be 0 <= low <= high")


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault: a partition into `sides` (side of each node) or the crash of `node`."""

    kind: str
    start_ms: int
    end_ms: int
    sides: tuple[int, ...] = ()
    node: int = -1

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind, "start_ms": self.start_ms, "end_ms": self.end_ms}
        if self.kind == PARTITION:
            d["sides"] = list(self.sides)
        else:
            d["node"] = self.node
        return d


def random_split(rng: random.Random, nodes: int) -> tuple[int, ...]:
    """Each node on side 0 or 1 at random, both sides non-empty (needs nodes >= 2)."""
    assert nodes >= 2
    while True:
        sides = tuple(rng.randrange(2) for _ in range(nodes))
        if 0 < sum(sides) < nodes:
            return sides


def twins_split(
    rng: random.Random, nodes: int, twin_pairs: list[tuple[int, int]]
) -> tuple[int, ...]:
    """A split that puts the two instances of every twin pair on different sides.

    This is the aggressive schedule of the Twins method: each instance of a shared key
    campaigns with a different group of honest nodes. Honest nodes are dealt alternately to
    the two sides after a shuffle, so the halves are as equal as possible."""
    sides = [0] * nodes
    twins = {i for pair in twin_pairs for i in pair}
    for a, b in twin_pairs:
        flip = rng.randrange(2)
        sides[a], sides[b] = flip, 1 - flip
    others = [i for i in range(nodes) if i not in twins]
    rng.shuffle(others)
    first = rng.randrange(2)
    for k, i in enumerate(others):
        sides[i] = (first + k) % 2
    return tuple(sides)


def _intervals(
    rng: random.Random, start_ms: int, end_ms: int, length: tuple[int, int], gap: tuple[int, int]
) -> list[tuple[int, int]]:
    """Non-overlapping [start, end) intervals inside [start_ms, end_ms)."""
    out: list[tuple[int, int]] = []
    t = start_ms + rng.randint(*gap)
    while True:
        d = rng.randint(*length)
        if t + d > end_ms:
            return out
        out.append((t, t + d))
        t += d + rng.randint(*gap)


def schedule(
    cfg: FaultConfig,
    rng: random.Random,
    *,
    nodes: int,
    crashable: list[int],
    start_ms: int,
    end_ms: int,
    twin_pairs: list[tuple[int, int]] | None = None,
) -> list[Fault]:
    """The faults of one run, sorted by start time.

    `twin_pairs` switches partitions on whatever `cfg.partition` says and makes every
    split separate the twins (see `twins_split`)."""
    faults: list[Fault] = []
    if (cfg.partition or twin_pairs) and nodes >= 2:
        for a, b in _intervals(rng, start_ms, end_ms, cfg.partition_ms, cfg.gap_ms):
            sides = twins_split(rng, nodes, twin_pairs) if twin_pairs else random_split(rng, nodes)
            faults.append(Fault(PARTITION, a, b, sides=sides))
    if cfg.crash and crashable:
        for a, b in _intervals(rng, start_ms, end_ms, cfg.crash_ms, cfg.gap_ms):
            faults.append(Fault(CRASH, a, b, node=rng.choice(crashable)))
    faults.sort(key=lambda f: (f.start_ms, f.kind, f.node))
    return faults
