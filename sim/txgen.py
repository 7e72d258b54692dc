"""A deterministic stream of member transactions: what the simulated clients sign.

`make` builds up to `per_block` fresh transactions from distinct funded member keys, reading
the node's committed state so the mix follows the members' life cycle (join, pay, claim,
vote, payout, transfers, elections); the nonce of each comes from the caller (sim/clients.py
asks the node's mempool, as a wallet asks the `account` RPC for the pending nonce). Some
transactions fail at execution (e.g. `claim_open`, `already_voted`); that is intended,
failed rules must also produce identical state roots everywhere.

Each node's clients own one generator with its own Random, kept by the harness across
crashes, so what a node is offered is a function of the seed and of what it had committed.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from state.crypto import Signer
from state.tx import build_tx

ACTIVE = "active"
WAITING = "waiting"


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
        for member in rng.sample(self._members, k):
            nonce = nonce_of(member.public_key)
            tx_type, payload = self._choose(view, member, h)
            wire = build_tx(member, self._chain_id, tx_type, nonce, self._fee, payload).wire
            if size + len(wire) > max_bytes:
                break
            out.append(wire)
            size += len(wire)
        self.generated += len(out)
        return out

    def _choose(self, view: Any, member: Signer, h: int) -> tuple[str, dict[str, Any]]:
        """Pick a transaction that makes sense for this member's state at height h."""
        rng = self._rng
        pk = member.public_key
        roll = rng.random()
        if roll < 0.25:
            to = rng.choice(self._members).public_key
            return "transfer", {"to": to, "amount": rng.randint(1, 1_000)}
        if roll < 0.30 and self._candidates:
            picks = rng.sample(self._candidates, min(len(self._candidates), rng.randint(1, 5)))
            return "elect", {"candidates": picks}
        pool_id = rng.choice(self._pools)
        pool = view.pool(pool_id)
        mem = view.member(pool_id, pk)
        status = mem.status(h, pool.params.waiting_period) if mem and pool else None
        if status not in (ACTIVE, WAITING):
            return "join", {"pool": pool_id}
        contribution = pool.params.contribution
        if status == WAITING or roll < 0.40:
            return "pay", {"pool": pool_id, "amount": contribution * rng.randint(1, 3)}
        if roll < 0.42:
            return "leave", {"pool": pool_id}
        voting = [c for c in view.claims(pool_id, "voting", 20) if c.claimant != pk]
        approved = [c for c in view.claims(pool_id, "approved", 20) if c.payable_at <= h]
        if approved and roll < 0.55:
            return "payout", {"claim": rng.choice(approved).id}
        if voting and roll < 0.85:
            return "vote", {"claim": rng.choice(voting).id, "approve": rng.random() < 0.7}
        evidence = rng.randbytes(32)
        amount = rng.randint(1, pool.params.max_claim)
        return "claim", {"pool": pool_id, "amount": amount, "evidence": evidence}
