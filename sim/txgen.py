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
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from state.crypto import Signer
from state.tx import build_tx
from state.txtypes import GenContext, generate


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
        for member in rng.sample(self._members, k):
            ctx = GenContext(
                rng, view, member.public_key, h, self._addresses, self._pools, self._candidates
            )
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
