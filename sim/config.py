"""One simulation's configuration, and the command line that reproduces a seed of it.

`SimConfig` is a frozen, picklable value: the sweep ships it to worker processes, and
`replay_argv` turns it back into the exact `huzhu sim` arguments, so any failing seed is
one copy-paste away from a local replay.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from sim.byzantine import BEHAVIOURS, SILENT, TWINS
from sim.network import Latency


@dataclass(frozen=True, slots=True)
class SimConfig:
    validators: int = 4
    byzantine: int = 0
    behaviour: str = SILENT
    heights: int = 10
    txs: int = 0
    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    latency: str = "lognormal:40:0.6"
    partition: bool = False
    crash: bool = False
    max_skew_ms: int = 100
    members: int = 16
    #: faults happen in [0, fault_window_ms) of simulated time; 0 = 1 s per target height
    fault_window_ms: int = 0
    #: hard bounds: every run ends, whatever the protocol does
    max_sim_ms: int = 0  # 0 = derived from heights and the liveness window
    max_events: int = 2_000_000

    def __post_init__(self) -> None:
        if self.validators < 1:
            raise ValueError("--validators must be at least 1")
        if not 0 <= self.byzantine <= self.validators:
            raise ValueError("--byzantine must be between 0 and --validators")
        if self.behaviour not in BEHAVIOURS:
            raise ValueError(f"--behaviour must be one of {', '.join(BEHAVIOURS)}")
        if self.heights < 1:
            raise ValueError("--heights must be at least 1")
        if self.txs < 0:
            raise ValueError("--txs must be >= 0")
        for name in ("loss", "duplicate", "reorder"):
            p = getattr(self, name)
            if not 0.0 <= p < 1.0:
                raise ValueError(f"--{name} must be in [0, 1)")
        Latency.parse(self.latency)
        if self.max_skew_ms < 0 or self.members < 1 or self.max_events < 1:
            raise ValueError("--max-skew-ms >= 0, --members >= 1, --max-events >= 1")

    @property
    def twins(self) -> bool:
        return self.byzantine > 0 and self.behaviour == TWINS

    @property
    def fault_window(self) -> int:
        return self.fault_window_ms or 1_000 * self.heights

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def replay_argv(self, seed: int) -> list[str]:
        """`huzhu sim` arguments that replay `seed` of this configuration exactly."""
        default = SimConfig()
        argv: list[str] = []
        for f in fields(self):
            value = getattr(self, f.name)
            if value == getattr(default, f.name):
                continue
            flag = "--" + f.name.replace("_", "-")
            if isinstance(value, bool):
                argv.append(flag)
            else:
                argv += [flag, str(value)]
        return argv + ["--seed", str(seed)]

    def replay_command(self, seed: int) -> str:
        return " ".join(["huzhu", "sim", *self.replay_argv(seed)])
