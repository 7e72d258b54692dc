"""The chain a nemesis run makes: its keys, genesis, pool and consensus timeouts, and the
fault timing profiles."""

from __future__ import annotations

import copy
from typing import Any

from nemesis.schedule import Timing
from nemesis.workload import ATTESTED, POOL, TRIGGERED
from state.devkeys import dev_signer
from state.genesis_builder import genesis_doc

CHAIN_ID = "huzhu-nemesis"
MEMBER_BALANCE = 1_000_000
#: attestors and reporters pay only fees
OFFICER_BALANCE = 100_000
#: keys that decide the attested pool's claims, and keys that report its index to the
#: triggered pool (section 10)
ATTESTORS = 3
REPORTERS = 3
#: the triggered pool's index: the lower median of two reports (each drawn around the
#: threshold by the workload) crosses it in about one round out of four
TRIGGER_THRESHOLD = 100
TRIGGER = {"feed": "rain_mm", "op": ">=", "threshold": TRIGGER_THRESHOLD, "payout": 40}
CONSENSUS = {
    "timeout_propose_ms": 1000,
    "timeout_propose_delta_ms": 300,
    "timeout_prevote_ms": 300,
    "timeout_prevote_delta_ms": 150,
    "timeout_precommit_ms": 300,
    "timeout_precommit_delta_ms": 150,
}
POOL_DOC: dict[str, Any] = {
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
#: claims decided by attestors (two of three), four blocks of notice in which two
#: objections send an approved claim back to a member vote
ATTESTED_DOC: dict[str, Any] = {
    "id": ATTESTED,
    "name": "Nemesis attested cover",
    "params": {
        **POOL_DOC["params"],
        "claim_mode": "attested",
        "attest_quorum": 2,
        "objection_quorum": 2,
        "notice_period": 4,
    },
}
#: parametric cover: two of three reporters settle a round; an event is open 10 blocks
TRIGGERED_DOC: dict[str, Any] = {
    "id": TRIGGERED,
    "name": "Nemesis parametric cover",
    "params": {
        **POOL_DOC["params"],
        "attest_quorum": 2,
        "trigger": dict(TRIGGER),
        "collect_window": 10,
    },
}
PROFILES = {
    "default": Timing(),
    "short": Timing(warmup_s=5.0, fault_min_s=2.0, fault_max_s=3.0, gap_s=2.0, cooldown_s=4.0),
}


def signers(clients: int) -> dict[str, Any]:
    """The run's development keys: treasury, registrar, one member per client, the attested
    pool's attestors and the triggered pool's reporters."""
    return {
        "treasury": dev_signer("nemesis-treasury"),
        "registrar": dev_signer("nemesis-registrar"),
        "members": [dev_signer(f"nemesis-member-{k}") for k in range(clients)],
        "attestors": [dev_signer(f"nemesis-attestor-{k}") for k in range(ATTESTORS)],
        "reporters": [dev_signer(f"nemesis-reporter-{k}") for k in range(REPORTERS)],
    }


def pools(keys: dict[str, Any]) -> list[dict[str, Any]]:
    """The vote pool, the attested pool and the triggered pool, with the run's officer keys."""
    attested = copy.deepcopy(ATTESTED_DOC)
    attested["params"]["attestors"] = [a.public_key.hex() for a in keys["attestors"]]
    triggered = copy.deepcopy(TRIGGERED_DOC)
    triggered["params"]["attestors"] = [r.public_key.hex() for r in keys["reporters"]]
    return [POOL_DOC, attested, triggered]


def genesis_template(keys: dict[str, Any], block_time_ms: int) -> dict[str, Any]:
    """The `huzhu testnet` template: funded members and officers, three pools with short
    windows (so claims are voted or attested, objected to, tallied and paid, and events open
    and close, within a run), the validators added by testnet."""
    return genesis_doc(
        chain_id=CHAIN_ID,
        treasury=keys["treasury"].public_key,
        registrars=[keys["registrar"].public_key],
        params={"block_time_ms": block_time_ms, "epoch_length": 100000},
        validators=None,
        accounts=[(m.public_key, MEMBER_BALANCE) for m in keys["members"]]
        + [(o.public_key, OFFICER_BALANCE) for o in [*keys["attestors"], *keys["reporters"]]],
        pools=pools(keys),
    )
