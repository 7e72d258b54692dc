"""The supply invariant of a simulated chain (PROTOCOL.md section 10, refining section 3): the
sum of the account balances, pool balances, escrowed claim bonds, proposal deposits and event
escrows equals the genesis supply at every height.

It is read through the public StateView only (no store layout), over what a simulated chain
can hold: the accounts of the keyring (members, registrar, treasury; the generators only ever
send to member addresses), the genesis pools and everything listed under them. Money that
reached any other account would show up as a shortfall, which is a violation too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from state.model import CHAIN_SCOPE

#: larger than anything a simulated run lists under one pool (claims, proposals, events)
LIST_ALL = 1_000_000


def supply(view: Any, accounts: Iterable[bytes], pools: Iterable[str]) -> int:
    """The invariant's left-hand side at the view's committed height."""
    total = sum(view.account(a).balance for a in set(accounts))
    scopes = [CHAIN_SCOPE]
    for pool_id in pools:
        pool = view.pool(pool_id)
        if pool is None:
            continue
        scopes.append(pool_id)
        total += pool.balance
        total += sum(c.escrowed for c in view.claims(pool_id, None, LIST_ALL))
        total += sum(e.escrow for e in view.events(pool_id, LIST_ALL))
    for scope in scopes:
        total += sum(p.escrowed for p in view.proposals(scope, None, LIST_ALL) or ())
    return total
