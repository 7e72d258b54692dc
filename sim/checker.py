"""Safety and liveness oracles, fed by the simulator after every step.

Only honest nodes are judged: a Byzantine node may commit or sign anything, so its commits
and votes never count (a twin's instances are Byzantine too). The checker never looks at
the consensus code's internals, only at what honest nodes *did*: the blocks they committed,
the state roots their state machines computed, and the votes they sent.

Safety (checked at every commit and every vote):
- agreement: no two honest nodes commit different blocks at one height;
- determinism: honest nodes that committed a height have equal state roots there;
- no equivocation: no honest validator signs two different block ids for one
  (height, round, vote type), nor two different proposals for one (height, round);
- supply: after a height an honest node committed, its accounts, pools, escrowed bonds,
  proposal deposits and event escrows add up to the genesis supply (section 10).

Liveness (checked on simulated time): while no fault is active (no partition, every node
up), honest nodes must commit a new height within `window_ms` of the later of the last
heal and the last commit. A fault starting suspends the deadline; its end re-arms it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FORK = "fork"
ROOT_MISMATCH = "state_root_mismatch"
EQUIVOCATION = "honest_equivocation"
#: `vote_type` under which an honest proposer's signed proposals are tracked (votes are 1, 2)
PROPOSAL = 0
SUPPLY = "supply_changed"
STALL = "stall"
NOT_CAUGHT_UP = "not_caught_up"
BOUND = "bound_reached"


@dataclass(frozen=True, slots=True)
class Violation:
    kind: str
    time_ms: int
    detail: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "time_ms": self.time_ms, **self.detail}


@dataclass(slots=True)
class HeightInfo:
    """The first honest commit of a height: what every later honest commit must match."""

    block_hash: bytes
    state_root: bytes
    node: int
    round: int
    time_ms: int


@dataclass
class Checker:
    honest: frozenset[int]
    honest_keys: frozenset[bytes]
    window_ms: int
    #: the genesis supply that `on_supply` holds every committed height to
    genesis_supply: int | None = None
    supply_checks: int = 0
    safety: list[Violation] = field(default_factory=list)
    liveness: list[Violation] = field(default_factory=list)
    heights: dict[int, HeightInfo] = field(default_factory=dict)
    node_height: dict[int, int] = field(default_factory=dict)
    _votes: dict[tuple[bytes, int, int, int], tuple[bytes | None, int]] = field(
        default_factory=dict
    )
    _deadline: int | None = None
    _faults_active: int = 0

    # --- safety -------------------------------------------------------------------------

    def on_commit(
        self,
        node: int,
        height: int,
        block_hash: bytes,
        state_root: bytes,
        round: int,
        now_ms: int,
    ) -> None:
        """Node `node` committed `block_hash` at `height`; its state root after it is given."""
        if node not in self.honest:
            return
        self.node_height[node] = max(self.node_height.get(node, 0), height)
        first = self.heights.get(height)
        if first is None:
            self.heights[height] = HeightInfo(block_hash, state_root, node, round, now_ms)
            self._progress(now_ms)
            return
        if first.block_hash != block_hash:
            self.safety.append(
                Violation(
                    FORK,
                    now_ms,
                    {
                        "height": height,
                        "node_a": first.node,
                        "block_a": first.block_hash.hex(),
                        "node_b": node,
                        "block_b": block_hash.hex(),
                    },
                )
            )
        elif first.state_root != state_root:
            self.safety.append(
                Violation(
                    ROOT_MISMATCH,
                    now_ms,
                    {
                        "height": height,
                        "node_a": first.node,
                        "root_a": first.state_root.hex(),
                        "node_b": node,
                        "root_b": state_root.hex(),
                    },
                )
            )

    def on_supply(self, node: int, height: int, supply: int, now_ms: int) -> None:
        """Node `node`'s state after `height` adds up to `supply` (sim/supply.py)."""
        if node not in self.honest or self.genesis_supply is None:
            return
        self.supply_checks += 1
        if supply != self.genesis_supply:
            self.safety.append(
                Violation(
                    SUPPLY,
                    now_ms,
                    {
                        "height": height,
                        "node": node,
                        "supply": supply,
                        "genesis_supply": self.genesis_supply,
                    },
                )
            )

    def on_vote(
        self,
        node: int,
        validator: bytes,
        vote_type: int,
        height: int,
        round: int,
        block_id: bytes | None,
        now_ms: int,
    ) -> None:
        """Node `node` sent a vote signed by `validator` (`vote_type` PROPOSAL: a proposal
        of block `block_id`); an honest validator's must never conflict."""
        if node not in self.honest or validator not in self.honest_keys:
            return
        key = (validator, vote_type, height, round)
        seen = self._votes.get(key)
        if seen is None:
            self._votes[key] = (block_id, node)
            return
        if seen[0] != block_id:
            self.safety.append(
                Violation(
                    EQUIVOCATION,
                    now_ms,
                    {
                        "validator": validator.hex(),
                        "vote_type": vote_type,
                        "height": height,
                        "round": round,
                        "block_a": seen[0].hex() if seen[0] else None,
                        "block_b": block_id.hex() if block_id else None,
                        "node": node,
                    },
                )
            )

    # --- liveness -----------------------------------------------------------------------

    @property
    def max_height(self) -> int:
        return max(self.heights, default=0)

    def _progress(self, now_ms: int) -> None:
        if self._faults_active == 0:
            self._deadline = now_ms + self.window_ms

    def fault_started(self, now_ms: int) -> None:
        """A fault began: progress may legitimately stop, so the deadline is suspended."""
        self._faults_active += 1
        self._deadline = None

    def fault_ended(self, now_ms: int) -> None:
        """A fault healed; once none is left, a new height is due within the window."""
        assert self._faults_active > 0
        self._faults_active -= 1
        if self._faults_active == 0:
            self._deadline = now_ms + self.window_ms

    def start(self, now_ms: int) -> None:
        """The run begins fault-free: the first height is due within the window."""
        self._progress(now_ms)

    def next_deadline(self) -> int | None:
        return self._deadline

    def on_time(self, now_ms: int) -> None:
        """Called as simulated time advances: a passed deadline is a liveness failure."""
        if self._deadline is not None and now_ms > self._deadline:
            self.liveness.append(
                Violation(
                    STALL,
                    self._deadline,
                    {"height": self.max_height, "window_ms": self.window_ms},
                )
            )
            # one report per stall; the next one is due a full window later
            self._deadline = now_ms + self.window_ms

    def finish(self, now_ms: int, target: int, reason: str | None) -> None:
        """End of run: every honest node must have reached `target`; `reason` names a bound hit."""
        if reason is not None:
            self.liveness.append(Violation(BOUND, now_ms, {"bound": reason}))
        behind = {
            n: self.node_height.get(n, 0)
            for n in sorted(self.honest)
            if self.node_height.get(n, 0) < target
        }
        if behind:
            self.liveness.append(
                Violation(
                    NOT_CAUGHT_UP,
                    now_ms,
                    {"target": target, "heights": {str(k): v for k, v in behind.items()}},
                )
            )
