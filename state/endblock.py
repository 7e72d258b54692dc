"""End of block (PROTOCOL.md section 4, in order): claim tallies (state.attest) and
parametric rounds (state.parametric), the governance steps (state.governance), the validator
election at epoch boundaries, and misbehaviour evidence (removal and barring).

Split out of :mod:`state.machine` (DESIGN.md: a file past ~600 lines is two files): these
run once per block after the transactions, not per transaction, and change no account but
through the executor. :class:`EndOfBlock` is a mixin of :class:`state.machine.BlockExecutor`
and works only through its overlay (``get``, ``put``, ``delete``, ``scan``, ``account``,
``add_to_pool``, ``validators_at``, ``_set_claim_status``) and its ``h``, ``params``,
``base`` and ``events``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from state import keys as K
from state.attest import AttestRules
from state.governance import GovRules
from state.model import Candidate, ValidatorInfo
from state.parametric import ParametricRules
from state.rules import _add

if TYPE_CHECKING:
    from state.executor_api import ExecutorApi as _Executor
else:
    _Executor = object  # the interface is for the checker; at run time a plain mixin

__all__ = ["EndOfBlock"]


class EndOfBlock(GovRules, AttestRules, ParametricRules):
    """The end-of-block steps of :class:`state.machine.BlockExecutor`: step 1 (claims, then
    parametric rounds, with the escrow return before them) is in state.attest and
    state.parametric, 1b and 1c in state.governance."""

    def _election(self) -> None:
        h = self.h
        params = self.params
        if h % params.epoch_length:
            return
        weights: dict[bytes, int] = {}
        treasury = params.treasury
        for key, ops in self.scan(K.ELECTOR):
            addr = key[len(K.ELECTOR) :]
            if addr == treasury:
                continue
            bal = self.account(addr).balance
            if not bal:
                continue
            for op in ops:
                weights[op] = weights.get(op, 0) + bal
        ranked: list[tuple[int, bytes, Candidate]] = []
        for key, c in self.scan(K.CANDIDATE):
            w = weights.get(c.operator, 0)
            if c.votes != w:
                self.put(key, replace(c, votes=w))
            if w > 0 and not c.barred(h):
                ranked.append((-w, c.operator, c))
        ranked.sort(key=lambda r: (r[0], r[1]))
        chosen = [c for _, _, c in ranked[: params.max_validators]]
        event: dict[str, Any] = {
            "type": "election",
            "effective_height": h + 2,
            "changed": False,
            "validators": [],
        }
        if len(chosen) >= params.min_validators:
            new_set = tuple(ValidatorInfo(c.operator, c.consensus_key, c.name, 1) for c in chosen)
            self.put(K.validators_key(h + 2), new_set)
            event["changed"] = new_set != self.base.validators_at(h + 2)
            event["validators"] = [v.to_json() for v in new_set]
        self.events.append(event)

    def _evidence(self, evidence: Sequence[Any]) -> None:
        h = self.h
        params = self.params
        for ev in evidence:
            ekey = K.evidence_key(ev.id)
            if self.get(ekey) is not None:
                continue  # counted once
            if ev.height > h or h - ev.height > params.epoch_length:
                continue  # too old (or not yet possible): ignored, not counted
            self.put(ekey, h)
            operator = None
            for v in self.validators_at(ev.height):
                if v.consensus_key == ev.validator:
                    operator = v.operator
                    break
            if operator is None:
                operator = self.get(K.consensus_key_key(ev.validator))
            nxt = self.validators_at(h + 2)
            remaining = tuple(v for v in nxt if v.consensus_key != ev.validator)
            removed = bool(remaining) and len(remaining) != len(nxt)
            if removed:
                self.put(K.validators_key(h + 2), remaining)
            barred_until = _add(h, 10 * params.epoch_length)
            if operator is not None:
                ckey = K.candidate_key(operator)
                c: Candidate | None = self.get(ckey)
                if c is None:
                    c = Candidate(operator, ev.validator, "")
                if c.barred_until < barred_until:
                    self.put(ckey, replace(c, barred_until=barred_until))
            self.events.append(
                {
                    "type": "evidence",
                    "evidence": ev.id.hex(),
                    "validator": ev.validator.hex(),
                    "operator": None if operator is None else operator.hex(),
                    "removed_from": h + 2 if removed else None,
                    "barred_until": barred_until if operator is not None else None,
                }
            )
