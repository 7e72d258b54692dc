"""What the committed blocks of a run did, by transaction type, and where its proposals ended:
a seeded sweep is only evidence about governance if its load actually filed, voted on and
enacted proposals, so the record counts them."""

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
