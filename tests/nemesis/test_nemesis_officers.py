"""The officers of the section-10 pools: an attestor attests each claim awaiting attestation
once, a reporter reports once per round, around the trigger's threshold."""

from __future__ import annotations

import random
from typing import Any

from nemesis.chain import TRIGGER_THRESHOLD, genesis_template, signers
from nemesis.officers import REPORT_SPREAD, Attestor, Reporter
from nemesis.workload import ATTESTED, POOL, TRIGGERED, History, Shared
from state.devkeys import dev_signer


class _Reads:
    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers

    async def call(self, method: str, timeout: float = 0, **params: Any) -> Any:
        return self.answers[method]


def _args(answers: dict[str, Any]) -> tuple[Any, ...]:
    return 0, dev_signer("o0"), "c", [_Reads(answers)], History(), Shared(), random.Random(2)


async def test_an_attestor_attests_only_what_awaits_its_attestation() -> None:
    me = dev_signer("o0").public_key.hex()
    claims = [
        {"id": "11" * 32, "claimant": "ab" * 32, "stage": "jury", "attestations": []},
        {"id": "22" * 32, "claimant": me, "stage": "attestation", "attestations": []},
        {
            "id": "33" * 32,
            "claimant": "ab" * 32,
            "stage": "attestation",
            "attestations": [{"attestor": me, "approve": True}],
        },
    ]
    a = Attestor(*_args({"claims": claims}))
    assert await a.intent() is None
    claims.append(
        {"id": "44" * 32, "claimant": "ab" * 32, "stage": "attestation", "attestations": []}
    )
    intent = await a.intent()
    assert intent is not None and (intent[0], intent[2]) == ("attest", "44" * 32)
    assert len(intent[1]["report"]) == 32


async def test_a_reporter_reports_each_open_round_once_around_the_threshold() -> None:
    answers: dict[str, Any] = {"pool": {"round": 3}}
    r = Reporter(*_args(answers))
    intent = await r.intent()
    assert intent is not None and intent[1]["pool"] == TRIGGERED and intent[1]["round"] == 3
    assert abs(intent[1]["value"] - TRIGGER_THRESHOLD) <= REPORT_SPREAD
    r.reported = 3
    assert await r.intent() is None
    answers["pool"] = {"round": 4}
    assert (await r.intent() or ("",) * 4)[3] == f"{TRIGGERED}/4"


def test_the_genesis_names_the_officers_in_their_pools() -> None:
    keys = signers(2)
    pools = {p["id"]: p["params"] for p in genesis_template(keys, 500)["pools"]}
    assert set(pools) == {POOL, ATTESTED, TRIGGERED}
    assert pools[ATTESTED]["claim_mode"] == "attested"
    assert pools[ATTESTED]["attestors"] == [a.public_key.hex() for a in keys["attestors"]]
    assert pools[TRIGGERED]["attestors"] == [r.public_key.hex() for r in keys["reporters"]]
    assert pools[TRIGGERED]["attest_quorum"] <= len(keys["reporters"])
