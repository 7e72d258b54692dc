"""The checker: invariants over the history and what the nodes answer over RPC, never over
their internals. Pure (no I/O): :mod:`nemesis.runner` gathers an :class:`Observed` through
RPC, and the unit tests feed it hand-made histories with each kind of violation.

Invariants (docs/nemesis.md):
- ``acked_missing`` / ``acked_moved``: a call acknowledged with (height, index) is at that
  height and index on every node that has reached that height (a tx lookup and the block's
  tx list agree);
- ``tx_twice``: no transaction hash appears twice in a node's chain;
- ``unknown_split``: an unknown call, resolved by lookup, is in the chain of every node or of
  none (and at one place);
- ``block_mismatch``: every node has the same block hash and state root at each common height;
- ``supply``: accounts + pools + escrowed bonds + deposits + event escrows equal the genesis
  supply (section 10), and each node's pool liabilities equal its approved claims' amounts;
- ``double_payout``: no claim (voted or attested) paid by two executed payouts;
- ``double_collect``: no member collects from one event (pool and round) twice;
- ``double_sign``: no validator's precommit for two different blocks at one height and round
  (from the commits blocks carry) and no evidence in any block (the chain saw an equivocation);
- ``no_recovery``: after each healed fault every live node's height advanced within
  RECOVERY_LIMIT_S.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

RECOVERY_LIMIT_S = 30.0
MAX_REPORTED = 50  # violations listed per kind (all are counted)


@dataclass(frozen=True, slots=True)
class Violation:
    kind: str
    detail: str

    def to_json(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class NodeView:
    """What node `node` answered: its blocks by height (``hash``, ``state_root``, ``txs``,
    ``commit``, optional ``evidence``), tx lookups (hash -> result, None when not found) and
    the supply it accounts for (None when it could not be read)."""

    node: int
    blocks: dict[int, Mapping[str, Any]] = field(default_factory=dict)
    txs: dict[str, Mapping[str, Any] | None] = field(default_factory=dict)
    supply: int | None = None
    supply_detail: dict[str, int] = field(default_factory=dict)
    #: its height when read; an acknowledgement above it is not held against it (a node
    #: that stopped advancing is reported once, as no_recovery, not once per later tx)
    height: int | None = None


@dataclass
class Observed:
    genesis_supply: int
    nodes: list[NodeView]
    recoveries: Sequence[Mapping[str, Any]] = field(default_factory=list)


def _short(h: str) -> str:
    return h[:16]


def _included(view: NodeView, h: str) -> Mapping[str, Any] | None:
    """`view`'s lookup of transaction `h` when it is in a block (None: not found, or not yet
    in a block)."""
    r = view.txs.get(h)
    return r if r is not None and r.get("height") is not None else None


def _where(view: NodeView, h: str) -> tuple[int, int] | None:
    r = _included(view, h)
    return None if r is None else (int(r["height"]), int(r["index"]))


def _with_outcome(ops: list[Mapping[str, Any]], outcome: str) -> Iterator[Mapping[str, Any]]:
    return (op for op in ops if op["outcome"] == outcome)


def _each_block(obs: Observed) -> Iterator[tuple[NodeView, int, Mapping[str, Any]]]:
    """(node, height, block) for every block every node answered, each node's in height
    order: the walk of the per-node, per-height checks."""
    for v in obs.nodes:
        for h in sorted(v.blocks):
            yield v, h, v.blocks[h]


def check(ops: Iterable[Mapping[str, Any]], obs: Observed) -> list[Violation]:
    """Every violation found (an empty list: the run is clean)."""
    out: list[Violation] = []
    ops = list(ops)
    out += _acknowledged(ops, obs)
    out += _unknowns(ops, obs)
    out += _twice(obs)
    out += _blocks(obs)
    out += _supply(obs)
    out += _payouts(ops, obs)
    out += _collects(ops, obs)
    out += _double_sign(obs)
    out += _recoveries(obs)
    return out


def _acknowledged(ops: list[Mapping[str, Any]], obs: Observed) -> list[Violation]:
    out = []
    for op in _with_outcome(ops, "ok"):
        want = (op["height"], op["index"])
        what = f"{op['type']} {_short(op['hash'])} acked at {want}"
        for v in obs.nodes:
            if v.height is not None and op["height"] > v.height:
                continue
            got = _where(v, op["hash"])
            block = v.blocks.get(op["height"])
            listed = (
                block is not None
                and op["index"] < len(block["txs"])
                and (block["txs"][op["index"]] == op["hash"])
            )
            if got is None:
                out.append(Violation("acked_missing", f"{what} not found on node{v.node}"))
            elif got != want or (block is not None and not listed):
                out.append(Violation("acked_moved", f"{what}, node{v.node} has it at {got}"))
    return out


def _unknowns(ops: list[Mapping[str, Any]], obs: Observed) -> list[Violation]:
    out = []
    for op in _with_outcome(ops, "unknown"):
        found = [w for v in obs.nodes if (w := _where(v, op["hash"])) is not None]
        top = max((h for h, _ in found), default=0)
        # a node below the height where others have it cannot have it yet
        places = {_where(v, op["hash"]) for v in obs.nodes if v.height is None or v.height >= top}
        if len(places) > 1:
            detail = f"{_short(op['hash'])}: nodes disagree: {sorted(places, key=str)}"
            out.append(Violation("unknown_split", detail))
    return out


def _twice(obs: Observed) -> list[Violation]:
    out = []
    seen: dict[tuple[int, str], int] = {}  # (node, tx) -> the height it was first seen at
    for v, h, b in _each_block(obs):
        for tx in b["txs"]:
            if (v.node, tx) in seen:
                detail = f"node{v.node}: {_short(tx)} at heights {seen[v.node, tx]} and {h}"
                out.append(Violation("tx_twice", detail))
            seen[v.node, tx] = h
    return out


def _blocks(obs: Observed) -> list[Violation]:
    out = []
    first: dict[int, tuple[int, str, str]] = {}
    for v, h, b in _each_block(obs):
        mine = (v.node, b["hash"], b["state_root"])
        ref = first.setdefault(h, mine)
        if ref[1:] != mine[1:]:
            k = 1 if ref[1] != mine[1] else 2
            what = "hash" if k == 1 else "state_root"
            theirs, ours = _short(str(ref[k])), _short(str(mine[k]))
            detail = f"height {h}: {what} of node{ref[0]} {theirs} != node{v.node} {ours}"
            out.append(Violation("block_mismatch", detail))
    return out


def _supply(obs: Observed) -> list[Violation]:
    out = []
    for v in obs.nodes:
        if v.supply is not None and v.supply != obs.genesis_supply:
            detail = f"node{v.node}: supply {v.supply} != genesis {obs.genesis_supply} ({v.supply_detail})"
            out.append(Violation("supply", detail))
        owed, approved = v.supply_detail.get("liabilities"), v.supply_detail.get("approved_amounts")
        if owed is not None and approved is not None and owed != approved:
            detail = f"node{v.node}: pool liabilities {owed} != approved claims' amounts {approved} ({v.supply_detail})"
            out.append(Violation("supply", detail))
    return out


def _executed(
    v: NodeView, ops: list[Mapping[str, Any]], type_: str
) -> Iterator[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    """(call, lookup) for each call of `type_` that `v` has in a block, executed with code 0."""
    for op in ops:
        if op["type"] == type_:
            r = _included(v, op["hash"])
            if r is not None and r.get("code") == 0:
                yield op, r


def _payouts(ops: list[Mapping[str, Any]], obs: Observed) -> list[Violation]:
    """The claim paid is the chain's (the lookup's payload), else the history's."""
    out = []
    for v in obs.nodes:
        paid: dict[str, set[str]] = defaultdict(set)
        for op, r in _executed(v, ops, "payout"):
            claim = (r.get("payload") or {}).get("claim") or op.get("claim")
            if claim:
                paid[claim].add(op["hash"])
        for claim, txs in paid.items():
            if len(txs) > 1:
                detail = f"node{v.node}: claim {_short(claim)} paid by {len(txs)} payouts"
                out.append(Violation("double_payout", detail))
    return out


def _collects(ops: list[Mapping[str, Any]], obs: Observed) -> list[Violation]:
    """Who collected from which event, from the chain's transactions (the lookups' sender and
    payload) and their results."""
    out = []
    for v in obs.nodes:
        took: dict[tuple[str, str, int], set[str]] = defaultdict(set)
        for op, r in _executed(v, ops, "collect"):
            payload = r.get("payload") or {}
            took[
                (str(r.get("sender")), str(payload.get("pool")), int(payload.get("round", -1)))
            ].add(op["hash"])
        for (sender, pool, rnd), txs in sorted(took.items()):
            if len(txs) > 1:
                detail = (
                    f"node{v.node}: {_short(sender)} collected from {pool}/{rnd} {len(txs)} times"
                )
                out.append(Violation("double_collect", detail))
    return out


def _double_sign(obs: Observed) -> list[Violation]:
    out = []
    signed: dict[tuple[int, int, str], set[str]] = defaultdict(set)
    for v, h, b in _each_block(obs):
        commit = b.get("commit") or {}
        for sig in commit.get("signatures", []):
            signed[(h, int(commit.get("round", 0)), sig["validator"])].add(b["hash"])
        for ev in b.get("evidence") or []:
            out.append(Violation("double_sign", f"node{v.node}: block {h} carries evidence {ev}"))
    for (h, r, val), hashes in sorted(signed.items()):
        if len(hashes) > 1:
            detail = (
                f"validator {_short(val)} precommitted {len(hashes)} blocks at height {h} round {r}"
            )
            out.append(Violation("double_sign", detail))
    return out


def _recoveries(obs: Observed) -> list[Violation]:
    return [
        Violation(
            "no_recovery",
            f"fault #{r['fault']} {r['kind']}: node{r['node']} did not advance within {RECOVERY_LIMIT_S:g} s of the heal ({r.get('why', '')})",
        )
        for r in obs.recoveries
        if r.get("seconds") is None or r["seconds"] > RECOVERY_LIMIT_S
    ]


def summarize(violations: list[Violation]) -> dict[str, Any]:
    """Counts per kind and the first MAX_REPORTED of each, for the JSON report."""
    by: dict[str, list[str]] = defaultdict(list)
    for v in violations:
        by[v.kind].append(v.detail)
    return {k: {"count": len(d), "first": d[:MAX_REPORTED]} for k, d in sorted(by.items())}
