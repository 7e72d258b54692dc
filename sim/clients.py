"""The clients of one simulated node: what they submit to its mempool, mistakes included.

After each new committed height the node's clients sign `per_height` transactions (payloads
from sim/txgen.py) with the node's pending nonce, as a wallet does through the `account`
RPC, and submit them to that node's real mempool. Some clients misbehave, each with a fixed
probability drawn from the client's own Random, so that every seeded run meets the
admission checks a real node meets:

- a nonce one or two past the pending one: a "future" transaction behind a gap (kept, not
  reapable until a later submission fills the gap; beyond the future caps, `mempool_full`);
- a nonce below the account's: `bad_nonce`;
- a resubmission of an earlier transaction: `duplicate` (pending or committed) or
  `bad_nonce` (its nonce has passed);
- a corrupted signature: `bad_signature`.

Different nodes' clients share the members, so two nodes may be offered different
transactions with the same sender and nonce: gossip meets `duplicate`, and the block that
commits one makes the other stale (evicted from every mempool by the recheck).
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from typing import Any

from sim.txgen import TxGenerator

#: probability that a submitted transaction's nonce leaves a gap (then 1 or 2 nonces ahead)
GAP = 0.08
#: probability that its nonce is below the account's (when the account has one)
STALE = 0.04
#: probability that a client also resubmits one of the recent transactions
REPLAY = 0.10
#: probability that a transaction's signature is corrupted
FORGED = 0.02
#: recent transactions a client may resubmit
RECENT = 32

#: `pending_nonce(address, account_nonce)`: the mempool's next nonce for a sender
PendingNonce = Callable[[bytes, int], int]


class Clients:
    """The clients sending to one node: kept across the node's crashes (they are not it)."""

    def __init__(self, txgen: TxGenerator, rng: random.Random) -> None:
        self.txgen = txgen
        self._rng = rng
        self._recent: deque[bytes] = deque(maxlen=RECENT)
        #: the node's committed height when they last submitted (-1: never)
        self.offered_height = -1

    def offer(self, view: Any, pending_nonce: PendingNonce) -> list[bytes]:
        """The wires to submit now, in order, for the node at committed state `view`."""
        rng = self._rng

        def nonce_of(address: bytes) -> int:
            account = view.account(address).nonce
            nonce = pending_nonce(address, account)
            roll = rng.random()
            if roll < GAP:
                return nonce + rng.randint(1, 2)
            if roll < GAP + STALE and account > 0:
                return account - 1
            return nonce

        wires = self.txgen.make(view, self.txgen.per_block, 1 << 30, nonce_of)
        out: list[bytes] = []
        for wire in wires:
            if rng.random() < FORGED:
                wire = wire[:-1] + bytes([wire[-1] ^ 1])  # the signature is the last field
            out.append(wire)
        if self._recent and rng.random() < REPLAY:
            out.append(rng.choice(self._recent))
        self._recent.extend(wires)
        return out
