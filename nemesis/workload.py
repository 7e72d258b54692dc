"""The workload: concurrent clients submitting the mutual-aid mix to different nodes over
JSON-RPC, and the history of every call (invoke, then ok / refused / unknown).

Each client owns one member key and sends in ``commit`` mode, so an acknowledgement carries
the height and index the checker then looks for on every node. It reads the sender's
``pending_nonce`` from the node it is about to use before each transaction, so a call whose
outcome is unknown never wedges it. A client moves to the next node after a call fails to
get an answer. Load is bounded: one call in flight per client, at most MAX_CLIENTS member
clients, plus the officers of nemesis.officers (one per attestor and reporter key, paced).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import aiohttp

from state.crypto import Signer
from state.tx import build_tx

MAX_CLIENTS = 16
CALL_TIMEOUT_S = 40.0  # above the node's 30 s commit wait, so "timeout" answers arrive
READ_TIMEOUT_S = 5.0
BACKOFF_S = 0.5
POOL = "mutual"  # claims decided by member vote (section 4)
ATTESTED = "attested"  # claims decided by attestors, objections (section 10)
TRIGGERED = "triggered"  # parametric cover: reports, events, collect (section 10)
POOLS = (POOL, ATTESTED, TRIGGERED)
#: the members' mix: (type, weight); a type a client cannot send yet (vote with no open
#: claim, collect with no open event) is replaced by a transfer. Claims go to the vote pool
#: or the attested one; attest and report are sent by the officers (nemesis.officers).
MIX: tuple[tuple[str, int], ...] = (
    ("transfer", 24),
    ("pay", 10),
    ("claim", 14),
    ("vote", 16),
    ("payout", 12),
    ("propose", 3),
    ("ballot", 8),
    ("object", 8),
    ("collect", 8),
)
#: claims, events and proposals a client chooses among (the most recent ones)
RECENT = 20


class RpcFailure(Exception):
    """No JSON-RPC answer (connection refused or lost, timeout, HTTP error, garbage)."""


class RpcAnswerError(Exception):
    """A JSON-RPC error object."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{message} ({code})")
        self.code = code


class Rpc:
    """A small JSON-RPC client over one aiohttp session (no retries: the caller decides)."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session, self.url = session, url

    async def call(self, method: str, timeout: float = READ_TIMEOUT_S, **params: Any) -> Any:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        try:
            async with self.session.post(
                self.url, json=body, timeout=aiohttp.ClientTimeout(total=timeout)
            ) as r:
                raw = await r.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise RpcFailure(f"{method}: {type(exc).__name__}: {exc}") from None
        try:
            answer = json.loads(raw)
        except ValueError:
            raise RpcFailure(f"{method}: HTTP {r.status}, not JSON") from None
        if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
            raise RpcAnswerError(int(answer["error"].get("code", 0)), str(answer["error"]))
        if not isinstance(answer, dict) or "result" not in answer:
            raise RpcFailure(f"{method}: HTTP {r.status}, no result")
        return answer["result"]

    async def batch(self, calls: list[tuple[str, dict[str, Any]]], timeout: float) -> list[Any]:
        """Results in order; an error answer is an RpcAnswerError in its place."""
        body = [
            {"jsonrpc": "2.0", "id": k, "method": m, "params": p} for k, (m, p) in enumerate(calls)
        ]
        try:
            async with self.session.post(
                self.url, json=body, timeout=aiohttp.ClientTimeout(total=timeout)
            ) as r:
                answer = json.loads(await r.read())
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            raise RpcFailure(f"batch: {type(exc).__name__}: {exc}") from None
        if not isinstance(answer, list):
            raise RpcFailure(f"batch: {answer!r:.200}")
        out: list[Any] = [None] * len(calls)
        for a in answer:
            err = a.get("error")
            out[a["id"]] = RpcAnswerError(err.get("code", 0), str(err)) if err else a["result"]
        return out


@dataclass
class Op:
    """One broadcast_tx call. `outcome`: ok (in a block: height, index, execution code),
    refused (admission: code and error), unknown (no answer, or the node's commit timeout)."""

    id: int
    client: int
    node: int
    type: str
    hash: str
    invoke_t: float
    done_t: float | None = None
    outcome: str = "pending"
    height: int | None = None
    index: int | None = None
    code: int | None = None
    error: str | None = None
    detail: str = ""
    claim: str | None = None  # vote/payout/attest/object: the claim's id
    event: str | None = None  # collect: "pool/round"
    resolved: str = ""  # an unknown call after the lookup: "committed at h:i code c" / "absent"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class History:
    """Every call, in invocation order; times are seconds since the run started."""

    t0: float = field(default_factory=time.monotonic)
    ops: list[Op] = field(default_factory=list)

    def now(self) -> float:
        return round(time.monotonic() - self.t0, 3)

    def invoke(
        self,
        client: int,
        node: int,
        type: str,
        hash: str,
        claim: str | None,
        event: str | None = None,
    ) -> Op:
        op = Op(len(self.ops), client, node, type, hash, self.now(), claim=claim, event=event)
        self.ops.append(op)
        return op

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for op in self.ops:
            out[op.outcome] = out.get(op.outcome, 0) + 1
        return out


def classify(op: Op, result: Any, now: float) -> None:
    """Fill `op` from a broadcast_tx result (commit mode, PROTOCOL.md section 6)."""
    op.done_t = now
    op.code = int(result.get("code", 0))
    op.error = result.get("error")
    if result.get("height") is not None:
        op.outcome = "ok"
        op.height, op.index = int(result["height"]), int(result["index"])
    elif op.code == -1:
        op.outcome, op.detail = "unknown", "commit timeout"
    elif op.code != 0:
        op.outcome = "refused"
    else:
        op.outcome, op.detail = "unknown", f"answer without height: {result!r:.200}"


@dataclass
class Shared:
    """What the clients know of each other's claims and proposals (their ids, when seen)."""

    claims: list[tuple[str, int, int]] = field(default_factory=list)  # (id, client, height)
    attested: list[tuple[str, int, int]] = field(default_factory=list)  # the attested pool's
    proposals: list[tuple[str, int]] = field(default_factory=list)  # (id, height)
    best_height: int = 0


#: what a sender is made of: (k, signer, chain_id, rpcs, history, shared, rng)
SenderArgs = tuple[int, Signer, str, list["Rpc"], "History", "Shared", random.Random]
#: what a client sends: (type, payload, claim id or None, event "pool/round" or None)
Intent = tuple[str, dict[str, Any], str | None, str | None]


class Sender:
    """Sends as `signer` to the nodes of `rpcs`, starting with node `k % n`, and records each
    call in the history; members (Client) and officers (nemesis.officers) are senders."""

    def __init__(
        self,
        k: int,
        signer: Signer,
        chain_id: str,
        rpcs: list[Rpc],
        history: History,
        shared: Shared,
        rng: random.Random,
    ) -> None:
        self.k, self.signer, self.chain_id = k, signer, chain_id
        self.rpcs, self.history, self.shared, self.rng = rpcs, history, shared, rng
        self.node = k % len(rpcs)

    def _next_node(self) -> None:
        self.node = (self.node + 1) % len(self.rpcs)

    async def read(self, method: str, **params: Any) -> Any:
        """A read from the current node; None (and the next node) when it does not answer."""
        try:
            return await self.rpcs[self.node].call(method, **params)
        except RpcFailure:
            self._next_node()
            await asyncio.sleep(BACKOFF_S)
            return None
        except RpcAnswerError:
            return None

    async def submit(self, intent: Intent) -> Op | None:
        """Sign `intent` at the sender's pending nonce and send it in commit mode; the
        recorded call (None when the nonce could not be read, so nothing was sent)."""
        type_, payload, ref, event = intent
        rpc = self.rpcs[self.node]
        acct = await self.read("account", address=self.signer.public_key.hex())
        if acct is None:
            return None
        tx = build_tx(self.signer, self.chain_id, type_, int(acct["pending_nonce"]), 1, payload)
        op = self.history.invoke(self.k, self.node, type_, tx.hash.hex(), ref, event)
        try:
            result = await rpc.call(
                "broadcast_tx", timeout=CALL_TIMEOUT_S, tx=tx.wire.hex(), mode="commit"
            )
        except RpcFailure as exc:
            op.done_t, op.outcome, op.detail = self.history.now(), "unknown", str(exc)[:200]
            self._next_node()
            await asyncio.sleep(BACKOFF_S)
            return op
        except RpcAnswerError as exc:
            # an internal error may come after admission: the outcome is not known
            op.done_t, op.code, op.detail = self.history.now(), exc.code, str(exc)[:200]
            op.outcome = "unknown" if exc.code == -32603 else "refused"
            return op
        classify(op, result, self.history.now())
        if op.outcome == "ok":
            self.shared.best_height = max(self.shared.best_height, op.height or 0)
        return op


class Client(Sender):
    """A member: joins the three pools, then sends the members' mix."""

    def __init__(
        self,
        k: int,
        signer: Signer,
        chain_id: str,
        rpcs: list[Rpc],
        history: History,
        shared: Shared,
        rng: random.Random,
    ) -> None:
        super().__init__(k, signer, chain_id, rpcs, history, shared, rng)
        self.joined: set[str] = set()
        self.collected: set[str] = set()  # events ("pool/round") this member collected from
        self.peers: list[bytes] = []

    async def _intent(self, kind: str) -> Intent:
        for pool in POOLS:
            if pool not in self.joined:
                return "join", {"pool": pool}, None, None
        h = self.shared.best_height
        claims = self.shared.claims + self.shared.attested
        others = [c for c in self.shared.claims if c[1] != self.k]
        if kind == "pay":
            return "pay", {"pool": self.rng.choice(POOLS), "amount": 100}, None, None
        if kind == "claim":
            evidence = self.rng.randbytes(32)
            pool = self.rng.choice((POOL, ATTESTED))
            amount = self.rng.randint(1, 300)
            return "claim", {"pool": pool, "amount": amount, "evidence": evidence}, None, None
        if kind == "vote" and others:
            cid = self.rng.choice(others[-8:])[0]
            approve = self.rng.random() < 0.8
            return "vote", {"claim": bytes.fromhex(cid), "approve": approve}, cid, None
        if kind == "payout" and claims:
            ripe = [c for c in claims if c[2] + 8 <= h] or claims
            cid = self.rng.choice(ripe[-RECENT:])[0]
            return "payout", {"claim": bytes.fromhex(cid)}, cid, None
        if kind == "propose":
            change = {"entry_fee": self.rng.choice([5, 10, 15])}
            payload = {
                "scope": POOL,
                "changes": change,
                "title": f"entry fee c{self.k}",
                "text_hash": self.rng.randbytes(32),
            }
            return "propose", payload, None, None
        if kind == "ballot" and self.shared.proposals:
            pid = self.rng.choice(self.shared.proposals[-4:])[0]
            choice = self.rng.choice(["yes", "yes", "no", "abstain"])
            return "ballot", {"proposal": bytes.fromhex(pid), "choice": choice}, pid, None
        if kind == "object":
            found = await self.read("claims", pool=ATTESTED, status="approved", limit=RECENT)
            mine = self.signer.public_key.hex()
            open_ = [c for c in found or [] if c["claimant"] != mine and not c.get("objected")]
            if open_:
                cid = self.rng.choice(open_)["id"]
                return "object", {"claim": bytes.fromhex(cid)}, cid, None
        if kind == "collect":
            found = await self.read("events", pool=TRIGGERED, limit=RECENT)
            fresh = [
                e
                for e in found or []
                if int(e["collect_until"]) >= h
                and f"{TRIGGERED}/{e['round']}" not in self.collected
            ]
            if fresh:
                rnd = int(self.rng.choice(fresh)["round"])
                return "collect", {"pool": TRIGGERED, "round": rnd}, None, f"{TRIGGERED}/{rnd}"
        to = self.rng.choice(self.peers) if self.peers else self.signer.public_key
        return "transfer", {"to": to, "amount": self.rng.randint(1, 20)}, None, None

    async def run(self, stop: asyncio.Event) -> None:
        types, weights = zip(*MIX, strict=True)
        while not stop.is_set():
            kind = self.rng.choices(types, weights)[0]
            await self.send_one(kind)

    async def send_one(self, kind: str) -> None:
        intent = await self._intent(kind)
        op = await self.submit(intent)
        if op is None:
            return
        type_, payload = intent[0], intent[1]
        if op.outcome == "ok" and op.code == 0:
            if type_ == "join":
                self.joined.add(payload["pool"])
            elif type_ == "claim":
                into = self.shared.claims if payload["pool"] == POOL else self.shared.attested
                into.append((op.hash, self.k, op.height or 0))
                del into[:-64]
            elif type_ == "propose":
                self.shared.proposals.append((op.hash, op.height or 0))
                del self.shared.proposals[:-16]
            elif type_ == "collect" and op.event:
                self.collected.add(op.event)
        elif type_ == "join" and op.error == "already_member":
            self.joined.add(payload["pool"])
        elif type_ == "collect" and op.error == "already_paid" and op.event:
            self.collected.add(op.event)
