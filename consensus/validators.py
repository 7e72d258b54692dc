"""Validator sets and CometBFT's weighted round-robin proposer selection.

Each validator carries a priority. One *increment* adds every validator's power to its
priority, picks the highest priority (ties: the smaller key) as proposer and subtracts the
total power from it. Over many increments each validator proposes in proportion to its
power, and the sequence is a pure function of the set, so every node agrees on it.

Before incrementing, priorities are rescaled when their spread exceeds 2 * total power and
re-centred around zero, which bounds how long a validator with a very low (or newly
assigned, see :meth:`ValidatorSet.update`) priority waits, exactly as CometBFT's
proposer-selection spec does.

Height/round mapping: the set stored for height h already had its round-0 increment applied
(``proposer(0)`` is its last pick). ``proposer(r)`` increments a copy ``r`` more times and
``next_height()`` returns a copy incremented once: the set for h + 1 before any changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from state.codec import DecodeError, decode, encode
from state.crypto import KEY_LEN, sha256

#: a new validator starts this far behind (CometBFT: -1.125 * total power)
PRIORITY_WINDOW_FACTOR = 2
MAX_VALIDATORS = 10_000


class MemberLike(Protocol):
    """What the application reports for a validator (state.chain.ValidatorInfo fits).

    Read-only properties: a frozen dataclass such as ValidatorInfo satisfies them, whereas a
    plain protocol attribute would demand a settable one."""

    @property
    def consensus_key(self) -> bytes: ...

    @property
    def power(self) -> int: ...

    @property
    def operator(self) -> bytes: ...

    @property
    def name(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Validator:
    consensus_key: bytes
    power: int
    operator: bytes
    name: str
    priority: int = 0


def _trunc_div(a: int, b: int) -> int:
    """Integer division rounding toward zero (Go's `/` on int64, which CometBFT uses)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


class ValidatorSet:
    """An immutable validator set with proposer priorities; methods return new sets."""

    __slots__ = ("_vals", "_index", "_total", "_proposer")

    def __init__(self, validators: Iterable[Validator], proposer: bytes | None = None) -> None:
        vals = sorted(validators, key=lambda v: v.consensus_key)
        if not vals:
            raise ValueError("a validator set cannot be empty")
        index: dict[bytes, int] = {}
        for i, v in enumerate(vals):
            if len(v.consensus_key) != KEY_LEN:
                raise ValueError("consensus keys are 32 bytes")
            if v.power <= 0:
                raise ValueError("voting power must be positive")
            if v.consensus_key in index:
                raise ValueError("duplicate consensus key")
            index[v.consensus_key] = i
        self._vals: tuple[Validator, ...] = tuple(vals)
        self._index = index
        self._total = sum(v.power for v in vals)
        if proposer is not None and proposer not in index:
            raise ValueError("proposer is not in the set")
        self._proposer = proposer

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_members(cls, members: Iterable[MemberLike]) -> ValidatorSet:
        """A fresh set (genesis): priorities zero, then the first increment, like CometBFT."""
        vals = [
            Validator(bytes(m.consensus_key), int(m.power), bytes(m.operator), str(m.name), 0)
            for m in members
        ]
        return cls(vals)._incremented(1)

    def update(self, members: Iterable[MemberLike]) -> ValidatorSet:
        """The set with exactly `members`: stayers keep their priority, newcomers start at
        -1.125 * new total power (so joining and leaving cannot be used to jump the queue),
        then rescale and centre. The proposer pick is not advanced (see next_height)."""
        new = list(members)
        total = sum(int(m.power) for m in new)
        start = -(total + (total >> 3))
        vals = []
        for m in new:
            key = bytes(m.consensus_key)
            old = self.get(key)
            prio = old.priority if old is not None else start
            vals.append(Validator(key, int(m.power), bytes(m.operator), str(m.name), prio))
        vals = _rescale(vals, PRIORITY_WINDOW_FACTOR * total)
        vals = _centre(vals)
        prop = (
            self._proposer
            if self._proposer is not None and any(v.consensus_key == self._proposer for v in vals)
            else None
        )
        return ValidatorSet(vals, prop)

    def next_height(self) -> ValidatorSet:
        """The priorities for the next height: one increment."""
        return self._incremented(1)

    def _incremented(self, times: int) -> ValidatorSet:
        vals = list(self._vals)
        total = self._total
        vals = _rescale(vals, PRIORITY_WINDOW_FACTOR * total)
        vals = _centre(vals)
        proposer = self._proposer
        for _ in range(times):
            vals = [
                Validator(v.consensus_key, v.power, v.operator, v.name, v.priority + v.power)
                for v in vals
            ]
            # max priority; ties go to the smaller key (vals are sorted by key)
            best = 0
            for i in range(1, len(vals)):
                if vals[i].priority > vals[best].priority:
                    best = i
            b = vals[best]
            vals[best] = Validator(b.consensus_key, b.power, b.operator, b.name, b.priority - total)
            proposer = b.consensus_key
        return ValidatorSet(vals, proposer)

    # ------------------------------------------------------------------ queries

    def proposer(self, round: int = 0) -> bytes:
        """The proposer of `round` at this set's height."""
        if round < 0:
            raise ValueError("round must be >= 0")
        if round == 0 and self._proposer is not None:
            return self._proposer
        if self._proposer is None:
            # a set built without a pick (decoded from an old record): pick now
            return self._incremented(round + 1)._proposer  # type: ignore[return-value]  # n >= 1 picks one
        return self._incremented(round)._proposer  # type: ignore[return-value]  # round >= 1 here

    def get(self, key: bytes) -> Validator | None:
        i = self._index.get(key)
        return None if i is None else self._vals[i]

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def __len__(self) -> int:
        return len(self._vals)

    def __iter__(self) -> Iterator[Validator]:
        return iter(self._vals)

    @property
    def validators(self) -> tuple[Validator, ...]:
        return self._vals

    @property
    def total_power(self) -> int:
        return self._total

    @property
    def quorum(self) -> int:
        """Smallest power strictly above 2/3 of the total (2f+1)."""
        return self._total * 2 // 3 + 1

    def has_quorum(self, power: int) -> bool:
        return power * 3 > self._total * 2

    def has_one_third(self, power: int) -> bool:
        """More than 1/3 of the power (f+1): at least one correct validator is among them."""
        return power * 3 > self._total

    def hash(self) -> bytes:
        """Identity of the membership and powers (not priorities): goes in block headers."""
        return sha256(encode([[v.consensus_key, v.power] for v in self._vals]))

    def members_equal(self, members: Iterable[MemberLike]) -> bool:
        other = sorted(
            (bytes(m.consensus_key), int(m.power), bytes(m.operator), str(m.name)) for m in members
        )
        mine = [(v.consensus_key, v.power, v.operator, v.name) for v in self._vals]
        return other == mine

    # ------------------------------------------------------------------ encoding

    def to_bytes(self) -> bytes:
        return encode(
            {
                "validators": [
                    [v.consensus_key, v.power, v.operator, v.name, v.priority] for v in self._vals
                ],
                "proposer": self._proposer,
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> ValidatorSet:
        obj: Any = decode(data)
        if type(obj) is not dict or set(obj) != {"validators", "proposer"}:
            raise DecodeError("validator set: wrong keys")
        rows = obj["validators"]
        if type(rows) is not list or not 1 <= len(rows) <= MAX_VALIDATORS:
            raise DecodeError("validator set: bad list")
        vals = []
        for r in rows:
            if (
                type(r) is not list
                or len(r) != 5
                or type(r[0]) is not bytes
                or len(r[0]) != KEY_LEN
                or type(r[1]) is not int
                or r[1] <= 0
                or type(r[2]) is not bytes
                or type(r[3]) is not str
                or type(r[4]) is not int
            ):
                raise DecodeError("validator set: bad validator")
            vals.append(Validator(r[0], r[1], r[2], r[3], r[4]))
        prop = obj["proposer"]
        if prop is not None and type(prop) is not bytes:
            raise DecodeError("validator set: bad proposer")
        try:
            return cls(vals, prop)
        except ValueError as exc:
            raise DecodeError(f"validator set: {exc}") from None

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ValidatorSet)
            and self._vals == other._vals
            and self._proposer == other._proposer
        )

    def __hash__(self) -> int:
        return hash((self._vals, self._proposer))

    def __repr__(self) -> str:
        parts = ", ".join(
            f"{v.name or v.consensus_key[:4].hex()}:{v.power}/{v.priority}" for v in self._vals
        )
        return f"ValidatorSet({parts})"


def _rescale(vals: list[Validator], window: int) -> list[Validator]:
    """Divide priorities so that max - min <= window (CometBFT RescalePriorities)."""
    if not vals or window <= 0:
        return vals
    prios = [v.priority for v in vals]
    diff = max(prios) - min(prios)
    if diff <= window:
        return vals
    ratio = (diff + window - 1) // window
    return [
        Validator(v.consensus_key, v.power, v.operator, v.name, _trunc_div(v.priority, ratio))
        for v in vals
    ]


def _centre(vals: list[Validator]) -> list[Validator]:
    """Subtract the average priority (floor division, like Go's big.Int Div)."""
    if not vals:
        return vals
    avg = sum(v.priority for v in vals) // len(vals)
    if avg == 0:
        return vals
    return [Validator(v.consensus_key, v.power, v.operator, v.name, v.priority - avg) for v in vals]
