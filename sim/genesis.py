"""Seeded keys and the genesis document of a simulated chain.

Every key of a run (validators, their operators, members, treasury, registrar) is an
Ed25519 seed drawn from the run's Random, so a run's chain, block hashes and state roots
are a pure function of the seed. The pool params are shortened (waiting period, juror age,
vote window, notice) so claims, votes and payouts happen within the first few heights of a
short run and the state machine's whole rule set is exercised.

Two of the pools run section 10: in `hospital` attestors decide claims (members object and
fall back to a vote), `drought` pays every member when its attestors report low rainfall.
The first `ATTESTORS` members are both pools' attestors (and members like the others), so
the simulated clients attest, object, report and collect like they vote.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from state.crypto import Signer
from state.genesis_builder import ValidatorSpec
from state.genesis_builder import genesis_doc as build_genesis

CHAIN_ID = "huzhu-sim"
MEMBER_BALANCE = 1_000_000
POOLS = (
    ("medical", "Medical mutual aid"),
    ("disaster", "Disaster relief"),
    ("hospital", "Hospital-attested cover"),
    ("drought", "Drought index cover"),
)
#: how many of the first members attest and report for the section-10 pools
ATTESTORS = 6
#: the attested pool: 2 of the attestors decide, 2 objections send an approval to a vote
ATTESTED_POOL = "hospital"
#: the parametric pool: an event when the reported rainfall is at most the threshold; the
#: shortest collect window (section 10) so sweeps of a few dozen heights see escrows return
TRIGGERED_POOL = "drought"
TRIGGER: dict[str, Any] = {"feed": "rainfall_mm", "op": "<=", "threshold": 50, "payout": 100}
COLLECT_WINDOW = 10
# short periods so that join -> active -> claim -> votes -> payout fits in ~10 heights
FAST_POOL_PARAMS: dict[str, Any] = {
    "contribution": 100,
    "period": 20,
    "entry_fee": 10,
    "waiting_period": 2,
    "max_claim": 2_000,
    "claim_bond": 50,
    "vote_window": 3,
    "quorum": 2,
    "approve_bps": 5_000,
    "juror_min_age": 1,
    "notice_period": 1,
    "fee_bps": 800,
}
# the shortest governance periods (section 9): a proposal can be enacted ~21 heights after
# it is filed, so sweeps of a few dozen heights see tallies and enactments
FAST_GOV_PARAMS: dict[str, Any] = {"gov_voting_period": 10, "gov_timelock": 10}
# elections would reshuffle the set mid-run; the harness studies consensus under a fixed
# genesis set, so the epoch is longer than any run (elect txs still execute and are stored)
EPOCH_LENGTH = 1_000_000


def _signer(rng: random.Random) -> Signer:
    return Signer(rng.randbytes(32))


@dataclass(frozen=True, slots=True)
class Keyring:
    validators: tuple[Signer, ...]
    operators: tuple[Signer, ...]
    members: tuple[Signer, ...]
    treasury: Signer
    registrar: Signer

    @classmethod
    def generate(cls, rng: random.Random, validators: int, members: int) -> Keyring:
        """Draw all keys in a fixed order from `rng`."""
        vals = tuple(_signer(rng) for _ in range(validators))
        ops = tuple(_signer(rng) for _ in range(validators))
        mems = tuple(_signer(rng) for _ in range(members))
        return cls(vals, ops, mems, _signer(rng), _signer(rng))


def genesis_doc(keys: Keyring, chain_id: str = CHAIN_ID) -> dict[str, Any]:
    """The genesis JSON object (PROTOCOL.md section 5) for `keys`."""
    n = len(keys.validators)
    return build_genesis(
        chain_id=chain_id,
        treasury=keys.treasury.public_key,
        registrars=[keys.registrar.public_key],
        params={
            "epoch_length": EPOCH_LENGTH,
            "max_validators": max(21, n),
            "min_validators": min(4, n),
            **FAST_GOV_PARAMS,
        },
        validators=[
            ValidatorSpec(
                name=f"v{i}",
                operator=keys.operators[i].public_key,
                consensus_key=v.public_key,
                p2p=f"10.0.{i // 250}.{i % 250 + 1}:26656",
            )
            for i, v in enumerate(keys.validators)
        ],
        accounts=[(m.public_key, MEMBER_BALANCE) for m in keys.members]
        + [(keys.registrar.public_key, MEMBER_BALANCE)],
        pools=[{"id": pid, "name": name, "params": pool_params(keys, pid)} for pid, name in POOLS],
    )


def pool_params(keys: Keyring, pool_id: str) -> dict[str, Any]:
    """A pool's genesis params: the fast ones, plus section 10's for its two pools."""
    params = {**FAST_POOL_PARAMS, **FAST_GOV_PARAMS}
    attestors = [m.public_key.hex() for m in keys.members[:ATTESTORS]]
    quorum = min(2, len(attestors))
    if pool_id == ATTESTED_POOL:
        params.update(claim_mode="attested", attestors=attestors, attest_quorum=quorum,
                      objection_quorum=2, vote_window=6, notice_period=3)  # fmt: skip
    elif pool_id == TRIGGERED_POOL:
        params.update(attestors=attestors, attest_quorum=quorum, trigger=dict(TRIGGER),
                      collect_window=COLLECT_WINDOW)  # fmt: skip
    return params
