"""A deterministic stream of member transactions: what the simulated clients sign.

`make` builds up to `per_block` fresh transactions from distinct funded member keys, reading
the node's committed state so the mix follows the members' life cycle (join, pay, claim,
vote, payout, transfers, elections); the nonce of each comes from the caller (sim/clients.py
asks the node's mempool, as a wallet asks the `account` RPC for the pending nonce). What
each member sends is drawn from the transaction registry (state/txtypes.py `generate`: each
type's generator and weight), so a new type is simulated without an edit here. Some
transactions fail at execution (e.g. `claim_open`, `already_voted`); that is intended,
failed rules must also produce identical state roots everywhere.

Each node's clients own one generator with its own Random, kept by the harness across
crashes, so what a node is offered is a function of the seed and of what it had committed.

Attestors (section 10) are few among the members, and the registry's generators draw a
random pool: left alone, a hospital would attest a claim in a run of forty heights only
now and then. So a member who attests for some pool spends `ATTESTOR_DUTY` of its turns on
that duty first: `attest` and `report`, drawn by the same registry generators over only the
pools it attests for (a turn where neither has anything to do falls back to the normal mix).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from state.crypto import Signer
from state.tx import build_tx
from state.txtypes import BY_NAME, GenContext, generate

#: share of an attestor's turns that try its section-10 duty (attest, report) first
ATTESTOR_DUTY = 0.5
DUTY_TYPES = (BY_NAME["attest"], BY_NAME["report"])


class TxGenerator:
    """Builds up to `per_block` signed transactions from distinct senders per call."""

    def __init__(
        self,
        rng: random.Random,
        chain_id: str,
        members: tuple[Signer, ...],
        pools: tuple[str, ...],
        candidates: tuple[bytes, ...],
        per_block: int,
        fee: int = 1,
    ) -> None:
        self._rng = rng
        self._chain_id = chain_id
        self._members = members
        self._addresses = tuple(m.public_key for m in members)
        self._pools = pools
        self._candidates = candidates
        self.per_block = per_block
        self._fee = fee
        self.generated = 0

    def make(
        self, view: Any, max_txs: int, max_bytes: int, nonce_of: Callable[[bytes], int]
    ) -> list[bytes]:
        """Signed wires from distinct members; `nonce_of(address)` gives each one's nonce."""
        k = min(self.per_block, max_txs, len(self._members))
        if k <= 0:
            return []
        rng = self._rng
        h = view.height + 1  # the height of the block being built
        out: list[bytes] = []
        size = 0
        duties = self._duties(view)
        for member in rng.sample(self._members, k):
            ctx = GenContext(
                rng, view, member.public_key, h, self._addresses, self._pools, self._candidates
            )
            chosen = None
            duty = duties.get(member.public_key)
            if duty and rng.random() < ATTESTOR_DUTY:
                chosen = generate(replace(ctx, pools=duty), DUTY_TYPES)
            if chosen is None:
                chosen = generate(ctx)
            if chosen is None:
                continue
            tx_type, payload = chosen
            nonce = nonce_of(member.public_key)
            wire = build_tx(member, self._chain_id, tx_type, nonce, self._fee, payload).wire
            if size + len(wire) > max_bytes:
                break
            out.append(wire)
            size += len(wire)
        self.generated += len(out)
        return out

    def _duties(self, view: Any) -> dict[bytes, tuple[str, ...]]:
        """The pools each address attests for, as the committed params say (governance may
        change them)."""
        out: dict[bytes, tuple[str, ...]] = {}
        for pool_id in self._pools:
            pool = view.pool(pool_id)
            for a in () if pool is None else pool.params.attestors:
                out[a] = (*out.get(a, ()), pool_id)
        return out
