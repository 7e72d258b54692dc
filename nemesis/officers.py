"""The officers of the section-10 pools as workload clients: attestors that decide the
attested pool's claims, and reporters that report the triggered pool's index.

They are paced (one call per OFFICER_PAUSE_S at most, and none when there is nothing to do),
since an attestor has only the claims the members open to attest, and a reporter one report
per round. Each call is recorded in the history as the members' are.
"""

from __future__ import annotations

import asyncio

from nemesis.chain import TRIGGER_THRESHOLD
from nemesis.workload import ATTESTED, TRIGGERED, Intent, Sender

OFFICER_PAUSE_S = 0.5
#: share of attestations that approve (the rest reject, so both outcomes occur)
APPROVE_SHARE = 0.85
#: reports are drawn uniformly within this distance of the trigger's threshold
REPORT_SPREAD = 30


class Attestor(Sender):
    """Attests the attested pool's claims in stage attestation it has not attested yet."""

    async def intent(self) -> Intent | None:
        found = await self.read("claims", pool=ATTESTED, status="voting", limit=50)
        me = self.signer.public_key.hex()
        todo = [
            c
            for c in found or []
            if c.get("stage") == "attestation"
            and c["claimant"] != me
            and all(a["attestor"] != me for a in c.get("attestations", []))
        ]
        if not todo:
            return None
        cid = self.rng.choice(todo)["id"]
        approve = self.rng.random() < APPROVE_SHARE
        payload = {
            "claim": bytes.fromhex(cid),
            "approve": approve,
            "report": self.rng.randbytes(32),
        }
        return "attest", payload, cid, None

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            intent = await self.intent()
            if intent is not None:
                await self.submit(intent)
            await asyncio.sleep(OFFICER_PAUSE_S)


class Reporter(Sender):
    """Reports a value around the trigger's threshold for the triggered pool's open round,
    once per round."""

    reported: int = -1

    async def intent(self) -> Intent | None:
        pool = await self.read("pool", id=TRIGGERED)
        if pool is None or int(pool["round"]) <= self.reported:
            return None
        rnd = int(pool["round"])
        value = self.rng.randint(
            TRIGGER_THRESHOLD - REPORT_SPREAD, TRIGGER_THRESHOLD + REPORT_SPREAD
        )
        return (
            "report",
            {"pool": TRIGGERED, "round": rnd, "value": value},
            None,
            f"{TRIGGERED}/{rnd}",
        )

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            intent = await self.intent()
            if intent is not None:
                op = await self.submit(intent)
                if op is not None and op.outcome == "ok":
                    self.reported = int(intent[1]["round"])
            await asyncio.sleep(OFFICER_PAUSE_S)
