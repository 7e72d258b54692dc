"""What the committed blocks of a run did, by transaction type, where its proposals ended and
what section 10 saw: a seeded sweep is only evidence about governance, attested claims and
parametric cover if its load actually filed, voted on and enacted proposals, attested and
objected to claims, opened events and collected from them, so the record counts them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from state import codec
from state.chain import Chain
from state.model import PROPOSAL_STATUSES

#: the scope of chain-wide proposals (PROTOCOL.md section 9)
CHAIN_SCOPE = "chain"
# more proposals than a simulated run can file: the listing is read whole
_ALL = 1_000_000


def executed_by_type(chain: Chain, height: int, txs: Sequence[bytes]) -> Counter[str]:
    """The types of committed block `height`'s transactions that executed with code 0 (none
    when the node has no results stored for that height)."""
    stored = chain.block_results(height)
    out: Counter[str] = Counter()
    if stored is None:
        return out
    for wire, res in zip(txs, stored["results"], strict=False):
        if res["code"] == 0:
            out[codec.decode(wire)["body"]["type"]] += 1
    return out


def proposal_statuses(chain: Chain, pools: Iterable[str]) -> dict[str, int]:
    """How many proposals of the chain scope and of `pools` are in each status (all listed)."""
    view = chain.view()
    counts = dict.fromkeys(PROPOSAL_STATUSES, 0)
    for scope in (CHAIN_SCOPE, *pools):
        for p in view.proposals(scope, None, _ALL) or ():
            counts[p.status] += 1
    return counts


#: the keys of a record's `section10` counts, in the order the summary prints them
SECTION10_KEYS: tuple[str, ...] = (
    "claims_attested",
    "claims_objected",
    "events",
    "collected",
    "reserved",
    "paid_out",
    "returned",
)


def section10_activity(chain: Chain, pools: Iterable[str]) -> dict[str, int]:
    """Section 10 in the final state of `chain`: claims that got an attestation, claims sent
    back to a member vote by objections, parametric events opened, collects from them, and
    the money the events reserved, paid to collectors (fees included) and returned to their
    pools once their windows closed."""
    view = chain.view()
    out = dict.fromkeys(SECTION10_KEYS, 0)
    for pool in pools:
        for c in view.claims(pool, None, _ALL):
            out["claims_attested"] += bool(c.attestations)
            out["claims_objected"] += c.objected
        for e in view.events(pool, _ALL):
            reserved, paid = e.per_member * e.eligible, e.per_member * e.collected
            out["events"] += 1
            out["collected"] += e.collected
            out["reserved"] += reserved
            out["paid_out"] += paid
            if e.collect_until <= view.height:
                out["returned"] += reserved - paid
    return out
