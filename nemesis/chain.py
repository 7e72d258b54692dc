"""The chain a nemesis run makes: its keys, genesis, pool and consensus timeouts, and the
fault timing profiles."""

from __future__ import annotations

from typing import Any

from nemesis.schedule import Timing
from nemesis.workload import POOL
from state.devkeys import dev_signer
from state.genesis_builder import genesis_doc

CHAIN_ID = "huzhu-nemesis"
MEMBER_BALANCE = 1_000_000
CONSENSUS = {
    "timeout_propose_ms": 1000,
    "timeout_propose_delta_ms": 300,
    "timeout_prevote_ms": 300,
    "timeout_prevote_delta_ms": 150,
    "timeout_precommit_ms": 300,
    "timeout_precommit_delta_ms": 150,
}
POOL_DOC = {
    "id": POOL,
    "name": "Nemesis mutual aid",
    "params": {
        "contribution": 100,
        "period": 10000,
        "entry_fee": 10,
        "waiting_period": 4,
        "max_claim": 5000,
        "claim_bond": 50,
        "vote_window": 8,
        "quorum": 2,
        "approve_bps": 5000,
        "juror_min_age": 3,
        "notice_period": 1,
        "fee_bps": 800,
    },
}
PROFILES = {
    "default": Timing(),
    "short": Timing(warmup_s=5.0, fault_min_s=2.0, fault_max_s=3.0, gap_s=2.0, cooldown_s=4.0),
}


def signers(clients: int) -> dict[str, Any]:
    """The run's development keys: treasury, registrar, one member per client."""
    return {
        "treasury": dev_signer("nemesis-treasury"),
        "registrar": dev_signer("nemesis-registrar"),
        "members": [dev_signer(f"nemesis-member-{k}") for k in range(clients)],
    }


def genesis_template(keys: dict[str, Any], block_time_ms: int) -> dict[str, Any]:
    """The `huzhu testnet` template: funded members, one pool with short windows (so claims
    are voted, tallied and paid within a run), the validators added by testnet."""
    return genesis_doc(
        chain_id=CHAIN_ID,
        treasury=keys["treasury"].public_key,
        registrars=[keys["registrar"].public_key],
        params={"block_time_ms": block_time_ms, "epoch_length": 100000},
        validators=None,
        accounts=[(m.public_key, MEMBER_BALANCE) for m in keys["members"]],
        pools=[POOL_DOC],
    )
