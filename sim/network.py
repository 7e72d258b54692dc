"""The simulated network: latency, loss, duplication, reordering and partitions.

The network only decides *when* (and whether, and how many times) a message sent from one
node reaches another; the simulator turns each decision into delivery events. Every
decision draws from the network's own `random.Random`, so a run's message schedule is a
pure function of its seed.

Partitions are checked twice: when a message is sent and again when it would be
delivered, so a message in flight when a partition starts is lost, as on a real cut link.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Latency:
    """One-way latency distribution in milliseconds.

    `lognormal` with median `a` ms and shape `b` (sigma of the underlying normal) has the
    long right tail of real WAN links; `uniform` draws from [a, b]. Every sample is clamped
    to [1, cap_ms] so one draw from the tail cannot stall a run.
    """

    kind: str = "lognormal"
    a: float = 40.0
    b: float = 0.6
    cap_ms: int = 5_000

    def __post_init__(self) -> None:
        if self.kind not in ("lognormal", "uniform"):
            raise ValueError(f"latency kind must be lognormal or uniform, not {self.kind!r}")
        if self.kind == "uniform" and not 0 <= self.a <= self.b:
            raise ValueError("uniform latency needs 0 <= low <= high")
        if self.kind == "lognormal" and (self.a <= 0 or self.b < 0):
            raise ValueError("lognormal latency needs median > 0 and sigma >= 0")

    @classmethod
    def parse(cls, text: str) -> Latency:
        """`lognormal:MEDIAN:SIGMA` or `uniform:LOW:HIGH` (milliseconds), e.g. `uniform:5:50`."""
        parts = text.split(":")
        if len(parts) != 3:
            raise ValueError(f"latency must be KIND:A:B, not {text!r}")
        try:
            return cls(parts[0], float(parts[1]), float(parts[2]))
        except ValueError as exc:
            raise ValueError(f"bad latency {text!r}: {exc}") from None

    def sample(self, rng: random.Random) -> int:
        if self.kind == "uniform":
            ms = rng.uniform(self.a, self.b)
        else:
            ms = math.exp(rng.gauss(math.log(self.a), self.b))
        return max(1, min(self.cap_ms, round(ms)))

    def __str__(self) -> str:
        return f"{self.kind}:{self.a:g}:{self.b:g}"


@dataclass(frozen=True, slots=True)
class NetConfig:
    """Link behaviour shared by every pair of nodes.

    loss: probability a message copy is dropped; duplicate: probability a second copy is
    sent; reorder: probability a copy gets an extra delay uniform in [0, reorder_ms], which
    lets later messages overtake it.
    """

    latency: Latency = Latency()
    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    reorder_ms: int = 500

    def __post_init__(self) -> None:
        for name in ("loss", "duplicate", "reorder"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], not {p}")


class Network:
    """Delivery decisions between `nodes` endpoints (simulator node indices)."""

    __slots__ = ("config", "_rng", "_side", "sent", "dropped", "duplicated", "blocked")

    def __init__(self, config: NetConfig, rng: random.Random, nodes: int) -> None:
        self.config = config
        self._rng = rng
        # _side[i] is node i's side of the current partition; None: fully connected
        self._side: list[int] | None = None
        self.sent = 0
        self.dropped = 0
        self.duplicated = 0
        self.blocked = 0
        self._check_nodes(nodes)

    @staticmethod
    def _check_nodes(nodes: int) -> None:
        if nodes < 1:
            raise ValueError("a network needs at least one node")

    # --- partitions ---------------------------------------------------------------------

    def partition(self, sides: list[int]) -> None:
        """Cut every link between nodes whose `sides` entries differ."""
        self._side = list(sides)

    def heal(self) -> None:
        self._side = None

    @property
    def partitioned(self) -> bool:
        return self._side is not None

    def connected(self, src: int, dst: int) -> bool:
        return self._side is None or self._side[src] == self._side[dst]

    # --- delivery -----------------------------------------------------------------------

    def plan(self, src: int, dst: int) -> list[int]:
        """Delays (ms) of the copies of one message from src to dst; [] when none arrives.

        Draws from the rng in a fixed order whatever the outcome, so the stream of random
        numbers (and hence the whole run) does not depend on which branch was taken."""
        cfg = self.config
        rng = self._rng
        self.sent += 1
        copies = 2 if cfg.duplicate and rng.random() < cfg.duplicate else 1
        if copies == 2:
            self.duplicated += 1
        delays: list[int] = []
        for _ in range(copies):
            lost = cfg.loss > 0 and rng.random() < cfg.loss
            delay = cfg.latency.sample(rng)
            if cfg.reorder and rng.random() < cfg.reorder:
                delay += rng.randint(0, cfg.reorder_ms)
            if lost:
                self.dropped += 1
            else:
                delays.append(delay)
        if not self.connected(src, dst):
            self.blocked += 1
            return []
        return delays
