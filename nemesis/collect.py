"""What the checker reads, gathered over RPC only: every node's blocks, a lookup of every
acknowledged or unknown call, and the supply it accounts for."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from nemesis.checker import NodeView, Observed
from nemesis.workload import POOLS, Op, Rpc

BATCH = 100  # calls per JSON-RPC batch (the node's default max_batch)
BATCH_TIMEOUT_S = 60.0
SUPPLY_TRIES = 5
PER_POOL = 5  # reads per pool in the supply batch: pool, two claim lists, proposals, events


async def collect(
    rpcs: Sequence[Rpc],
    heights: Mapping[int, int | None],
    ops: Sequence[Op],
    known: Sequence[bytes],
    genesis_supply: int,
    recoveries: Sequence[Mapping[str, Any]],
) -> Observed:
    """Blocks 1..the lowest height, lookups of every acknowledged or unknown call and of
    every payout and collect (whatever their answer), and the supply over `known` accounts (and genesis's), from every node."""
    top = min((h for h in heights.values() if h is not None), default=0)
    hashes = sorted(
        {
            op.hash
            for op in ops
            if op.outcome in ("ok", "unknown") or op.type in ("payout", "collect")
        }
    )
    views = []
    for i, rpc in enumerate(rpcs):
        v = NodeView(i, height=heights.get(i))
        for lo in range(1, top + 1, BATCH):
            calls = [("block", {"height": h}) for h in range(lo, min(top, lo + BATCH - 1) + 1)]
            answers = await rpc.batch(calls, BATCH_TIMEOUT_S)
            for height, b in zip(range(lo, lo + len(calls)), answers, strict=True):
                if isinstance(b, dict):
                    v.blocks[height] = b
        for lo in range(0, len(hashes), BATCH):
            chunk = hashes[lo : lo + BATCH]
            res = await rpc.batch([("tx", {"hash": h}) for h in chunk], BATCH_TIMEOUT_S)
            for h, r in zip(chunk, res, strict=True):
                v.txs[h] = r if isinstance(r, dict) else None
        v.supply, v.supply_detail = await read_supply(rpc, known)
        views.append(v)
    return Observed(genesis_supply, views, recoveries)


async def read_supply(rpc: Rpc, known: Sequence[bytes]) -> tuple[int | None, dict[str, int]]:
    """Accounts + pools + escrowed bonds + open proposals' deposits + event escrows (section
    10's invariant) over the run's three pools, read in one batch
    between two `status` calls at the same height (so no block changed them in between);
    (None, ...) when some read fails or the chain would not hold still for SUPPLY_TRIES."""
    genesis = await rpc.call("genesis")
    addrs = sorted(
        {a.hex() for a in known}
        | set(genesis["params"].get("operators", []))
        | {a["address"] for a in genesis["accounts"]}
    )
    calls: list[tuple[str, dict[str, Any]]] = [("status", {})]
    calls += [("account", {"address": a}) for a in addrs]
    for pool in POOLS:
        calls += [
            ("pool", {"id": pool}),
            ("claims", {"pool": pool, "status": "voting", "limit": 1000}),
            ("claims", {"pool": pool, "status": "approved", "limit": 1000}),
            ("proposals", {"scope": pool, "status": "voting", "limit": 1000}),
            ("events", {"pool": pool, "limit": 1000}),
        ]
    calls.append(("status", {}))
    for _ in range(SUPPLY_TRIES):
        res = await rpc.batch(calls, BATCH_TIMEOUT_S)
        failed = [r for r in res if isinstance(r, Exception)]
        if failed:
            return None, {"unreadable": len(failed)}
        if res[0]["height"] != res[-1]["height"]:
            continue
        detail = {"height": int(res[0]["height"])}
        detail["accounts"] = sum(int(r["balance"]) for r in res[1 : 1 + len(addrs)])
        for k in ("pools", "bonds", "deposits", "escrows", "liabilities", "approved_amounts"):
            detail[k] = 0
        at = 1 + len(addrs)
        for _pool in POOLS:
            pool, voting, approved, props, events = res[at : at + PER_POOL]
            at += PER_POOL
            bond = int(pool["params"]["claim_bond"])
            detail["pools"] += int(pool["balance"])
            detail["bonds"] += sum(bond_of(c, bond) for c in [*voting, *approved])
            # a proposal's JSON has no deposit field: it escrowed its gov_deposit at opening
            detail["deposits"] += sum(int(p.get("deposit", p["gov"]["gov_deposit"])) for p in props)
            detail["escrows"] += sum(int(e["escrow"]) for e in events)
            # liabilities are owed out of the pool's balance, not money beside it: the checker
            # compares them with the approved claims' amounts
            detail["liabilities"] += int(pool.get("liabilities") or 0)
            detail["approved_amounts"] += sum(int(c["amount"]) for c in approved)
        parts = ("accounts", "pools", "bonds", "deposits", "escrows")
        return sum(detail[k] for k in parts), detail
    return None, {"unsettled": SUPPLY_TRIES}


def bond_of(claim: Mapping[str, Any], default: int) -> int:
    """The bond a claim escrowed: its recorded terms (version 2), else the pool's."""
    terms = claim.get("terms") or {}
    return int(terms.get("claim_bond", default))


def resolve(ops: Sequence[Op], obs: Observed) -> None:
    """Each unknown call's outcome from node 0's lookup (the checker has made sure every node
    that could have it agrees): where it was committed, or that it never was."""
    view = obs.nodes[0]
    for op in ops:
        if op.outcome == "unknown":
            r = view.txs.get(op.hash)
            if r is None or r.get("height") is None:
                op.resolved = "absent"
            else:
                op.resolved = f"committed at {r['height']}:{r['index']} code {r.get('code')}"
