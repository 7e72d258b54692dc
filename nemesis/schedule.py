"""The fault schedule: a pure function of (seed, validators, duration, timing), so that a
seed printed by a failed run replays the same faults on the same nodes in the same order.

Faults run one after another, never overlapping: each is applied, held for its length,
healed, and the next waits until every live node has advanced again (the runner measures
that recovery). Wall-clock timing is therefore approximate on replay; the sequence, the
targets and the parameters are exact.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any

#: every fault kind, in the order a covering schedule may draw them from
KINDS: tuple[str, ...] = (
    "partition_halves",  # a minority of 1..n/2 nodes against the rest
    "partition_isolate",  # one node cut from all others
    "partition_bridge",  # two sides that both still see one bridge node
    "latency",  # relay: delay + jitter on one node's links
    "bandwidth",  # relay: bytes/s limit on one node's links
    "stall",  # relay: one node's links forward nothing
    "reset",  # relay: one node's connections reset, new ones reset at once
    "loss",  # iptables statistic: random drop of peer packets at one node
    "pause",  # SIGSTOP, then SIGCONT
    "kill9",  # SIGKILL, then restart
    "term",  # SIGTERM, then restart
    "clock_skew",  # restarted under faketime, tens of seconds off; healed by a clean restart
    "disk_full",  # data directory on a tmpfs that is filled, then enlarged
    "kill_all",  # every node SIGKILLed at once, then all restarted
)
#: the kinds that need iptables in the namespaces, faketime, or a tmpfs mount
NEEDS = {
    "partition_halves": "iptables",
    "partition_isolate": "iptables",
    "partition_bridge": "iptables",
    "loss": "iptables",
    "clock_skew": "faketime",
    "disk_full": "tmpfs",
}
MIN_VALIDATORS, MAX_VALIDATORS = 4, 7
#: bounds of a schedule, whatever the caller asks: faults per run, seconds a fault lasts
MAX_FAULTS = 500
MIN_FAULT_S, MAX_FAULT_S = 1.0, 120.0


@dataclass(frozen=True, slots=True)
class Timing:
    """How long faults last and how long the chain runs unfaulted between them (seconds)."""

    warmup_s: float = 8.0
    fault_min_s: float = 5.0
    fault_max_s: float = 15.0
    gap_s: float = 5.0
    cooldown_s: float = 10.0

    def __post_init__(self) -> None:
        if not MIN_FAULT_S <= self.fault_min_s <= self.fault_max_s <= MAX_FAULT_S:
            raise ValueError(
                f"fault length must satisfy {MIN_FAULT_S} <= min <= max <= {MAX_FAULT_S}"
            )
        if min(self.warmup_s, self.gap_s, self.cooldown_s) < 0:
            raise ValueError("warmup, gap and cooldown must be >= 0")


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault: `nodes` are its targets (a partition's groups are in `params`)."""

    index: int
    kind: str
    length_s: float
    nodes: tuple[int, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["nodes"] = list(self.nodes)
        return d

    def describe(self) -> str:
        extra = " ".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        who = ",".join(f"n{i}" for i in self.nodes) or "all"
        return f"#{self.index} {self.kind} {who} {extra}".rstrip()


def _partition(kind: str, n: int, rng: random.Random) -> tuple[tuple[int, ...], dict[str, Any]]:
    """Groups as lists of node indices; `blocked` is every pair that cannot talk."""
    order = list(range(n))
    rng.shuffle(order)
    bridge: list[int] = []
    if kind == "partition_isolate":
        side_a, side_b = [order[0]], order[1:]
    elif kind == "partition_halves":
        # 1..n/2 nodes: with 4 nodes a 1-3 split keeps a quorum on one side, 2-2 none
        minority = rng.randint(2 if n >= 6 else 1, n // 2)
        side_a, side_b = order[:minority], order[minority:]
    else:  # partition_bridge: one node sees both sides, the sides do not see each other
        bridge = [order[0]]
        rest = order[1:]
        half = len(rest) // 2
        side_a, side_b = rest[:half], rest[half:]
    blocked = sorted((min(a, b), max(a, b)) for a in side_a for b in side_b)
    params = {
        "sides": [sorted(side_a), sorted(side_b)],
        "bridge": sorted(bridge),
        "blocked": [list(p) for p in blocked],
    }
    targets = tuple(sorted(side_a)) if kind != "partition_bridge" else tuple(bridge)
    return targets, params


def make_fault(index: int, kind: str, n: int, length_s: float, rng: random.Random) -> Fault:
    """One fault of `kind` with its targets and parameters drawn from `rng`."""
    if kind not in KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(KINDS)}")
    length = round(length_s, 1)
    if kind.startswith("partition_"):
        nodes, params = _partition(kind, n, rng)
        return Fault(index, kind, length, nodes, params)
    if kind == "kill_all":
        return Fault(index, kind, length, tuple(range(n)))
    target = (rng.randrange(n),)
    params = {}
    if kind == "latency":
        params = {
            "latency_ms": rng.choice([50, 100, 200, 400]),
            "jitter_ms": rng.choice([0, 20, 50]),
        }
    elif kind == "bandwidth":
        params = {"bytes_per_s": rng.choice([4_000, 16_000, 64_000])}
    elif kind == "loss":
        params = {"probability": rng.choice([0.1, 0.2, 0.3])}
    elif kind == "clock_skew":
        params = {"offset_s": rng.choice([-1, 1]) * rng.choice([20, 30, 45, 60])}
    elif kind == "disk_full":
        params = {"headroom_bytes": 4 << 20}
    return Fault(index, kind, length, target, params)


def make_schedule(
    seed: int,
    validators: int,
    duration_s: float,
    timing: Timing = Timing(),  # noqa: B008 (frozen, so the shared default is safe)
    kinds: tuple[str, ...] = KINDS,
) -> list[Fault]:
    """The faults of a run of `duration_s` seconds: first every kind of `kinds` once in a
    seeded order (so a short run covers them all), then kinds drawn at random, as many as fit
    the duration at their mean length plus the gap (at most MAX_FAULTS)."""
    if not MIN_VALIDATORS <= validators <= MAX_VALIDATORS:
        raise ValueError(f"validators must be in {MIN_VALIDATORS}..{MAX_VALIDATORS}")
    if duration_s <= 0:
        raise ValueError("duration must be > 0")
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise ValueError(f"unknown or no fault kinds: {unknown}; known: {', '.join(KINDS)}")
    rng = random.Random(seed)
    budget = duration_s - timing.warmup_s - timing.cooldown_s
    first = list(kinds)
    rng.shuffle(first)
    faults: list[Fault] = []
    used = 0.0
    while len(faults) < MAX_FAULTS:
        kind = first[len(faults)] if len(faults) < len(first) else rng.choice(kinds)
        length = rng.uniform(timing.fault_min_s, timing.fault_max_s)
        if used + length + timing.gap_s > budget:
            break
        faults.append(make_fault(len(faults), kind, validators, length, rng))
        used += length + timing.gap_s
    return faults
