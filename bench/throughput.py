"""End-to-end throughput of a real N-validator huzhu network on this machine.

    python bench/throughput.py --validators 4 --seconds 60 --json out.json [--rate R] [--plot p.png]

Starts a fresh localnet (real `huzhu start` processes, 127.0.0.1, LevelDB), funds many senders
in genesis, pre-signs a realistic mix (transfers, pool payments, claim votes) BEFORE the
measured window, submits it from a separate process through JSON-RPC batches to all
validators (open loop at --rate tx/s, or saturating when absent), and measures over --seconds
after a warm-up: committed tx/s, submission-to-commit latency (p50/p95/p99), block interval,
refused and lost transactions, peak RSS and CPU per node. It also measures Ed25519
verifications per second on one core and prints E = committed_tps * N / (verify_per_core *
cores): the share of the machine's signature-checking capacity the committed load uses, each
node checking each transaction once.

Saturating mode is closed-loop: each node has at most --window / N submitted transactions
that are not committed yet (the observer publishes commits to the submitter through shared memory),
so it measures the chain's capacity instead of filling mempools. The default window is twice
the chain's max_block_txs (a full block committing and a full one waiting): a smaller one caps
every block at the window and the figure at the bench's, not the chain's. A `mempool_full`
refusal there is offered again once that node has committed more of ours (a client backing
off for a block), never dropped: it is back-pressure, not a refusal of the tx.

Overload (issue 14): `--overload F` first measures the saturating figure (closed loop), then
starts a fresh network and offers F times that figure open loop, the way a client retries a
`mempool_full` refusal (the refused transaction is offered again, ahead of that node's queue),
and reports committed/max: the share of the capacity the chain keeps under that overload.
`--pairs K` (default 3) alternates K such overloaded phases with K + 1 saturating ones (each
on a fresh network) and reports the median overloaded figure over the median saturating one:
a single pair minutes apart measures the machine's drift as much as the node.
`--chaff` replaces each overloaded phase by the saturating closed loop plus (F - 1) times the
capacity in broadcast_tx calls a second that are refused at check 2 (`malformed`, the tx's first
byte made one msgpack never uses; as long as the workload's calls): committed/max when the
overload's excess costs only its JSON-RPC round trips, node and client, the ceiling of the
overloaded figure on this machine.
`--max-block-txs` sets the chain's max_block_txs in the bench's genesis, `--block-time-ms` its
block_time_ms (a chain of many validators amortizes its per-height cost over longer blocks).

Accounting (so that "lost" means a real loss):
- refused: the node answered the submission with a code != 0 (a real admission refusal);
  with --retry-full (implied by --overload and by saturating mode) a mempool_full refusal
  is counted apart ("refused_full_retried") and its transaction offered again;
- errors: no answer (transport failure or RPC error): outcome unknown, not counted as refused;
- after a refusal or error the submitter sends nothing more for that sender (its later nonces
  could never execute); txs of that sender already admitted behind the gap are "stranded";
- lost: admitted (code 0), not stranded, and not in any block after the drain, which lasts
  until every admitted tx is seen or --drain seconds pass without a new block of ours.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import queue
import shutil
import statistics
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from bench.common import bench_signer  # noqa: E402
from bench.throughput_report import pct, plot, print_table, timeline  # noqa: E402
from node.localnet_harness import LocalNet  # noqa: E402
from state.crypto import Signer, sha256, verify  # noqa: E402
from state.devkeys import dev_signer  # noqa: E402
from state.errors import Code  # noqa: E402
from state.genesis_builder import genesis_doc  # noqa: E402
from state.params import CHAIN_PARAMS  # noqa: E402
from state.tx import build_tx  # noqa: E402

CHAIN_ID = "huzhu-bench"
#: load before the measured window; under --overload long enough for the mempools to fill
#: (at 2x, ~10 s on this machine): a window that starts while they fill counts the checks of
#: txs it will not commit (1.09-1.25 signature checks per committed tx per node with 5 s,
#: 0.90-1.04 with 15 s, against 0.96-1.07 saturating)
WARMUP_S = 5.0
OVERLOAD_WARMUP_S = 15.0
POOL = "medical"
RPC_BATCH = 100
#: RPC requests in flight per node: the client's concurrency (--inflight), closed loop and
#: plain open loop
INFLIGHT_PER_NODE = 8
#: the same in --overload's open loop: under overload the nodes answer more slowly, and 8 per
#: node sent 1.3-1.9x the saturating figure when 2x was asked; 32 sent 1.99-2.01x
OVERLOAD_INFLIGHT_PER_NODE = 32


# ---------------------------------------------------------------------------- network setup


def sender_signer(i: int) -> Signer:
    return bench_signer(b"huzhu-bench-sender", i)


def make_template(
    senders: int,
    claimants: int,
    max_block_txs: int | None = None,
    block_time_ms: int | None = None,
) -> dict[str, Any]:
    params = {
        k: v
        for k, v in (("max_block_txs", max_block_txs), ("block_time_ms", block_time_ms))
        if v is not None
    }
    return genesis_doc(
        chain_id=CHAIN_ID,
        params=params or None,
        treasury=dev_signer("treasury").public_key,
        registrars=[dev_signer("registrar").public_key],
        validators=None,
        accounts=[(sender_signer(i).public_key, 10**9) for i in range(senders + claimants)],
        pools=[
            {
                "id": POOL,
                "name": "Medical mutual aid",
                # short observation periods so the warm-up makes voters and open claims fast;
                # a long vote window keeps the claims open through the measured window
                "params": {
                    "waiting_period": 1,
                    "juror_min_age": 1,
                    "vote_window": 1_000_000,
                    "contribution": 100,
                    "period": 1_000_000,
                },
            }
        ],
    )


def peak_rss_mb(pid: int) -> float | None:
    """VmHWM: the high-water mark of the process's resident set."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


# ------------------------------------------------------------------------------- RPC helpers


async def rpc(session: aiohttp.ClientSession, url: str, method: str, **params: Any) -> Any:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    async with session.post(url, json=body) as resp:
        data = await resp.json()
    if "error" in data:
        raise RuntimeError(f"{method}: {data['error']}")
    return data["result"]


async def rpc_batch(
    session: aiohttp.ClientSession, url: str, calls: list[tuple[str, dict[str, Any]]]
) -> list[dict[str, Any]]:
    body = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
    async with session.post(url, json=body) as resp:
        data = await resp.json()
    data.sort(key=lambda r: r["id"])
    return data


async def submit_commit(session: aiohttp.ClientSession, url: str, wires: list[bytes]) -> None:
    """Send setup transactions and wait for their inclusion (warm-up only)."""
    for i in range(0, len(wires), RPC_BATCH):
        chunk = wires[i : i + RPC_BATCH]
        res = await rpc_batch(
            session, url, [("broadcast_tx", {"tx": w.hex(), "mode": "sync"}) for w in chunk]
        )
        bad = [r for r in res if r.get("result", {}).get("code") != 0]
        if bad:
            raise RuntimeError(f"setup transaction refused by {url} (batch at {i}): {bad[0]}")


# ------------------------------------------------------------------------- workload building


#: the longest workload signed in this process, by its inputs: `--pairs` runs several phases
#: on fresh networks with the same genesis, and the k-th tx depends on k only, so a phase
#: takes a prefix instead of signing again (~10-20 s a phase on a loaded machine)
_SIGNED: dict[tuple[int, tuple[bytes, ...], int], list[tuple[int, int, bytes]]] = {}


def build_workload(
    senders: int, claim_ids: list[bytes], count: int, voter_count: int
) -> list[tuple[int, int, bytes]]:
    """The first `count` txs of the signed workload (see _signed_workload), from a previous
    phase's when it signed as many."""
    key = (senders, tuple(claim_ids), voter_count)
    done = _SIGNED.get(key)
    if done is None or len(done) < count:
        done = _SIGNED[key] = _signed_workload(senders, claim_ids, count, voter_count)
        _ENCODED.pop(key, None)
    return done[:count]


#: (sender index, nonce, the broadcast_tx call as JSON bytes, the tx's hash in hex, the call's
#: JSON-RPC id)
Work = tuple[int, int, bytes, str, int]

#: the encoded form of _SIGNED's lists, by the same key: encoded once per process like the
#: signing, so a phase's submitter only joins bytes
_ENCODED: dict[tuple[int, tuple[bytes, ...], int], list[Work]] = {}


def encode_call(k: int, wire: bytes) -> bytes:
    """The k-th tx's broadcast_tx call as the submitter sends it: a JSON-RPC request object
    whose id is k (unique in the workload, so a batch's answers map back by id)."""
    return _CALL % (k, wire.hex().encode())


_CALL = b'{"jsonrpc":"2.0","id":%d,"method":"broadcast_tx","params":{"tx":"%s","mode":"sync"}}'


def encoded_workload(
    senders: int, claim_ids: list[bytes], count: int, voter_count: int
) -> list[Work]:
    """build_workload's txs with each call's JSON and hash computed once, at signing time: the
    submitter shares the machine's cores with the nodes, and encoding each call per offer
    (hex, a dict, json.dumps, sha256 for its record) cost it a share of every offer."""
    key = (senders, tuple(claim_ids), voter_count)
    signed = build_workload(senders, claim_ids, count, voter_count)
    done = _ENCODED.setdefault(key, [])
    for k in range(len(done), count):
        i, nonce, wire = signed[k]
        done.append((i, nonce, encode_call(k, wire), sha256(wire).hex(), k))
    return done[:count]


def _signed_workload(
    senders: int, claim_ids: list[bytes], count: int, voter_count: int
) -> list[tuple[int, int, bytes]]:
    """Pre-sign `count` txs as (sender index, nonce, wire): transfers, pool payments and votes.

    Sender i's nonces run consecutively; the submitter sends sender i's txs to node i % N, so
    every sender's order is preserved at its entry node. Voters (senders < voter_count) were
    made members in the warm-up; each votes at most once per claim. The kind is k % 20, and
    with `senders` a multiple of 20 (the default) it is i % 20 for every tx of sender i: a
    voter with i % 20 < 4 votes once on each claim and then pays, i % 20 < 9 pays, every
    other sender transfers. So votes are a burst at the start (voter_count / 5 voters x the
    claims), not a fifth of the load; after it a run is transfers and pays alone (exec9's
    count, bench/README: 4,000 votes, then 77.5 % transfers and 22.5 % pays). Kept so that
    figures compare across sessions.
    """
    nonces = [1] * voter_count + [0] * (senders - voter_count)  # voters spent nonce 0 on join
    votes_cast = [0] * senders
    out: list[tuple[int, int, bytes]] = []
    keys = [sender_signer(i) for i in range(senders)]
    for k in range(count):
        i = k % senders
        kind = k % 20
        signer = keys[i]
        if kind < 4 and i < voter_count and votes_cast[i] < len(claim_ids):
            claim = claim_ids[votes_cast[i]]
            votes_cast[i] += 1
            tx = build_tx(signer, CHAIN_ID, "vote", nonces[i], 1, {"claim": claim, "approve": True})
        elif kind < 9 and i < voter_count:
            tx = build_tx(signer, CHAIN_ID, "pay", nonces[i], 1, {"pool": POOL, "amount": 100})
        else:
            to = keys[(i + 1) % senders].public_key
            tx = build_tx(signer, CHAIN_ID, "transfer", nonces[i], 1, {"to": to, "amount": 1})
        out.append((i, nonces[i], tx.wire))
        nonces[i] += 1
    return out


# ---------------------------------------------------------------------------- the submitter


class Poster:
    """POSTs of JSON bodies to one node's RPC URL over keep-alive HTTP/1.1 connections: the
    submitter's requests, without aiohttp's client (its request and response objects, the
    connector's bookkeeping and the header parsing cost the submitter ~2-3 us per offer at 100
    calls a request: CPU taken from the nodes on this 2-core machine). The same requests on
    the wire (method, path, Content-Type, body); a connection is reused once its answer was
    read whole (Content-Length), and dropped on any error or when the server asks to close.
    `post` answers the body (whatever the status: the caller judges it, as it did
    aiohttp's `resp.read()`), or raises OSError/EOFError/ValueError. A connection idle for
    `max_idle_s` is not reused: the node closes it after its keep-alive timeout (`[rpc]
    keepalive_timeout_ms`, 15 s), and a request written on a closed one reads EOF, not an
    answer (200 calls of a saturating run failed so, each stopping its sender)."""

    def __init__(self, url: str, limit: int = 64, max_idle_s: float = 5.0) -> None:
        parts = urllib.parse.urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        path = parts.path or "/"
        self._head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            "Content-Type: application/json\r\nContent-Length: "
        ).encode()
        # (reader, writer, monotonic time it went idle), most recently used last
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []
        self._open = asyncio.Semaphore(limit)  # connections at once, as TCPConnector(limit)
        self.max_idle_s = max_idle_s

    def _reusable(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        """The most recently used idle connection; those idle too long are closed."""
        while self._idle:
            reader, writer, since = self._idle.pop()
            if time.monotonic() - since < self.max_idle_s:
                return reader, writer
            writer.close()
        return None

    async def post(self, body: bytes) -> bytes:
        async with self._open:
            conn = self._reusable()
            if conn is None:
                conn = await asyncio.open_connection(self.host, self.port)
            reader, writer = conn
            try:
                writer.write(b"%s%d\r\n\r\n%s" % (self._head, len(body), body))
                head = await reader.readuntil(b"\r\n\r\n")
                length, keep = _response_head(head)
                data = await reader.readexactly(length) if length else b""
            except BaseException:
                writer.close()
                raise
            if keep:
                self._idle.append((reader, writer, time.monotonic()))
            else:
                writer.close()
            return data

    def close(self) -> None:
        for _, writer, _ in self._idle:
            writer.close()
        self._idle.clear()


def _response_head(head: bytes) -> tuple[int, bool]:
    """(Content-Length, keep the connection) of an HTTP/1.1 response head; ValueError for a
    head this client cannot read (no Content-Length but a body: chunked, or HTTP/1.0)."""
    lines = head.split(b"\r\n")
    status = lines[0].split(b" ", 2)
    if len(status) < 2 or not status[0].startswith(b"HTTP/1.1"):
        raise ValueError(f"not an HTTP/1.1 answer: {lines[0][:40]!r}")
    length: int | None = None
    keep = True
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection" and value.strip().lower() == b"close":
            keep = False
        elif name == b"transfer-encoding":
            raise ValueError("a chunked answer")
    if length is None:
        if status[1] in (b"204", b"304"):
            return 0, keep
        raise ValueError("an answer without Content-Length")
    return length, keep


def note_rpc_errors(answers: Any, calls: int, into: dict[str, int]) -> None:
    """Counts a batch's calls that got no result by why: each JSON-RPC error by its code and
    message, calls the answer left out (or a whole-request error object) apart."""
    if not isinstance(answers, list):
        answers = [answers]
    covered = 0  # calls the answers account for: a whole-request error (no id) all of them
    for r in answers:
        err = r.get("error") if isinstance(r, dict) else None
        whole = err is not None and r.get("id") is None
        covered += calls if whole else 1
        if err is not None:
            kind = f"rpc {err.get('code')}: {str(err.get('message'))[:60]}"
            into[kind] = into.get(kind, 0) + (calls if whole else 1)
    missing = calls - covered
    if missing > 0:
        kind = "rpc: no answer for the call"
        into[kind] = into.get(kind, 0) + missing


#: an answer without a result reads as ERROR_NO_RESULT (one dict for every such answer)
_NO_RESULT: dict[str, Any] = {}


Sent = tuple[str, float, int, int, int]  # hash, submit time, code, sender, nonce
ERROR_NO_RESULT = -2  # the RPC answered without a result for this call
ERROR_TRANSPORT = -3  # no answer at all (connection error, timeout, bad body)


def submitter_main(*args: Any) -> None:
    """Entry of the separate submitting process (mp.Process passes the arguments of _submit
    as a plain tuple, so they are typed there only)."""
    asyncio.run(_submit(*args))


async def _submit(
    urls: list[str],
    work: list[Work],
    rate: float | None,
    window: int,
    seconds: float,
    start_at: float,
    committed: Any,
    out_q: mp.Queue,
    retry_full: bool = False,
    measure_from: float = 0.0,
    min_batch: int = 1,
    inflight_per_node: int = INFLIGHT_PER_NODE,
    chaff_rate: float = 0.0,
) -> None:
    """Open-loop (or closed-loop saturating) submission; reports per-tx outcomes on out_q.
    `committed[k]` is the observer's count of committed txs that went to node k. With
    `retry_full`, a mempool_full refusal puts its transaction back at the head of its node's
    queue (offered again like a client would; it still counts towards the rate). Offers
    (first ones and re-offers) sent from `measure_from` on are counted, with the RPC requests
    that carried them. Open loop sends a node a request once `min_batch` txs are due (1:
    whatever is due, every 5 ms). Each request's body is its calls' pre-encoded JSON joined
    (encoded_workload), sent as bytes; answers map back to their calls by id. `chaff_rate`:
    that many broadcast_tx calls a second more, each refused at check 2 (`chaff_body`)."""
    n = len(urls)
    queues: list[list[Work]] = [[] for _ in range(n)]
    for item in work:
        queues[item[0] % n].append(item)
    sent: list[Sent] = []
    blocked: set[int] = set()  # senders with a refused/unanswered tx: later nonces not sent
    retry: list[list[Work]] = [[] for _ in range(n)]
    # closed loop: the node's commit count when it last refused mempool_full; its re-offers
    # wait until that count moves (a block freed room) instead of spinning on refusals
    held_at: list[int | None] = [None] * n
    full_retried = 0
    skipped = 0
    errors_by_kind: dict[str, int] = {}  # calls without a code, by why (see note_rpc_errors)
    offers = 0  # broadcast_tx calls sent from measure_from on
    requests = 0  # the RPC batches that carried them
    admitted = [0] * n  # code 0 answers per node
    pending_calls = [0] * n  # txs in RPC calls not answered yet
    posters = [Poster(u) for u in urls]
    chaff: dict[str, Any] = {"calls": 0, "codes": {}}
    try:
        while time.time() < start_at:
            await asyncio.sleep(0.01)
        t0 = time.time()
        end = t0 + seconds
        chaffing = (  # work[19] is a transfer (_signed_workload), most of a run's txs
            asyncio.create_task(
                _chaff(urls, chaff_body(work[19][2]), chaff_rate, end, measure_from, chaff)
            )
            if chaff_rate > 0
            else None
        )
        pos = [0] * n
        inflight: set[asyncio.Task[None]] = set()

        async def send(node: int, items: list[Work]) -> None:
            nonlocal full_retried, offers, requests
            ts = time.time()
            if ts >= measure_from:
                offers += len(items)
                requests += 1
            body = b"[" + b",".join([item[2] for item in items]) + b"]"
            try:
                answers = json.loads(await posters[node].post(body))
                if isinstance(answers, dict):  # one error for the whole request
                    answers = [answers]
                by_id = {
                    r.get("id"): r.get("result", _NO_RESULT).get("code", ERROR_NO_RESULT)
                    for r in answers
                }
                codes = [by_id.get(item[4], ERROR_NO_RESULT) for item in items]
                if ERROR_NO_RESULT in codes:
                    note_rpc_errors(answers, len(items), errors_by_kind)
            except (TimeoutError, OSError, EOFError, ValueError, AttributeError) as e:
                codes = [ERROR_TRANSPORT] * len(items)
                kind = f"transport: {type(e).__name__}"
                errors_by_kind[kind] = errors_by_kind.get(kind, 0) + len(items)
            pending_calls[node] -= len(items)
            for item, c in zip(items, codes, strict=True):
                if retry_full and c == Code.MEMPOOL_FULL:
                    full_retried += 1
                    retry[node].append(item)
                    if rate is None:
                        held_at[node] = committed[node]
                    continue
                sent.append((item[3], ts, c, item[0], item[1]))
                if c == 0:
                    admitted[node] += 1
                else:
                    blocked.add(item[0])

        def take_from(node: int, want: int) -> list[Work]:
            nonlocal skipped
            q, chunk = queues[node], []
            again = retry[node]
            if again:  # earlier nonces first: their senders' later txs wait behind them
                chunk, again[:] = again[:want], again[want:]
            while len(chunk) < want and pos[node] < len(q):
                item = q[pos[node]]
                pos[node] += 1
                if item[0] in blocked:
                    skipped += 1
                else:
                    chunk.append(item)
            return chunk

        node = -1
        submitted = 0
        while time.time() < end and any(pos[i] < len(queues[i]) for i in range(n)):
            node = (node + 1) % n
            if rate is None:
                if held_at[node] is not None:
                    if committed[node] == held_at[node]:
                        if node == n - 1:
                            await asyncio.sleep(0.01)
                        continue
                    held_at[node] = None
                # closed loop: at most `window` uncommitted txs per node
                room = window - (admitted[node] + pending_calls[node] - committed[node])
                take = min(RPC_BATCH, room)
                if take < RPC_BATCH // 4:
                    if node == n - 1:
                        await asyncio.sleep(0.01)
                    continue
            else:
                due = int((time.time() - t0) * rate) - submitted
                if due < min_batch:
                    await asyncio.sleep(0.005)
                    continue
                take = min(RPC_BATCH, due)
            chunk = take_from(node, take)
            if not chunk:
                continue
            submitted += len(chunk)
            pending_calls[node] += len(chunk)
            task = asyncio.create_task(send(node, chunk))
            inflight.add(task)
            task.add_done_callback(inflight.discard)
            # bound client-side concurrency in both modes: an open loop whose requests wait
            # longer than inflight / rate falls behind its schedule (see offered_calls_per_s)
            if len(inflight) >= inflight_per_node * n:
                await asyncio.wait(inflight, return_when=asyncio.FIRST_COMPLETED)
        if inflight:
            await asyncio.wait(inflight)
        if chaffing is not None:
            await chaffing
    finally:
        for poster in posters:
            poster.close()
    # refused ones still waiting to be offered again are refusals after all: their senders'
    # later nonces admitted behind them are stranded, not lost
    gave_up = time.time()
    for items in retry:
        sent.extend((h, gave_up, int(Code.MEMPOOL_FULL), i, nc) for i, nc, _, h, _ in items)
    out_q.put((sent, skipped, full_retried, offers, requests, errors_by_kind, chaff))


def chaff_body(call: bytes) -> bytes:
    """A batch of RPC_BATCH broadcast_tx calls as long as `call` (a workload call), each
    refused at check 2 (`malformed`): the tx's first byte becomes 0xc1, which msgpack never
    uses. The cheapest refusal a call of that size can get: no signature, no state read."""
    hexed = call.split(b'"tx":"', 1)[1].split(b'"', 1)[0]
    bad = b"c1" + hexed[2:]
    return b"[" + b",".join(_CALL % (-k, bad) for k in range(1, RPC_BATCH + 1)) + b"]"


async def _chaff(
    urls: list[str],
    body: bytes,
    rate: float,
    end: float,
    measure_from: float,
    into: dict[str, Any],
) -> None:
    """`rate` calls a second of `body` (RPC_BATCH calls refused at check 2) to the nodes in
    turn until `end`, open loop, at most OVERLOAD_INFLIGHT_PER_NODE requests in flight per
    node; counts the calls sent from `measure_from` on and their answers' codes in `into`."""
    posters = [Poster(u) for u in urls]
    codes: dict[str, int] = into["codes"]
    inflight: set[asyncio.Task[None]] = set()

    async def send(node: int) -> None:
        if time.time() >= measure_from:
            into["calls"] += RPC_BATCH
        try:
            answers = json.loads(await posters[node].post(body))
            got = [str(r.get("result", _NO_RESULT).get("code", ERROR_NO_RESULT)) for r in answers]
        except (TimeoutError, OSError, EOFError, ValueError, AttributeError, TypeError):
            got = [str(ERROR_TRANSPORT)] * RPC_BATCH
        for c in got:
            codes[c] = codes.get(c, 0) + 1

    t0, sent, node = time.time(), 0, -1
    try:
        while time.time() < end:
            if int((time.time() - t0) * rate) - sent < RPC_BATCH:
                await asyncio.sleep(0.005)
                continue
            node = (node + 1) % len(urls)
            sent += RPC_BATCH
            task = asyncio.create_task(send(node))
            inflight.add(task)
            task.add_done_callback(inflight.discard)
            if len(inflight) >= OVERLOAD_INFLIGHT_PER_NODE * len(urls):
                await asyncio.wait(inflight, return_when=asyncio.FIRST_COMPLETED)
        if inflight:
            await asyncio.wait(inflight)
    finally:
        for poster in posters:
            poster.close()


# -------------------------------------------------------------------------------- observing


async def observe(
    session: aiohttp.ClientSession,
    url: str,
    stop: Any,
    seen: dict[str, float],
    blocks: list[tuple[int, float, int, str]],
    start_height: int,
    node_of: dict[str, int],
    committed: Any,
) -> int:
    """Poll blocks until `stop()` is true; records the first-seen commit time per tx hash and
    counts commits per entry node into `committed` (the submitter's back-pressure)."""
    h = start_height
    while not stop():
        try:
            top = (await rpc(session, url, "status"))["height"]
        except (aiohttp.ClientError, RuntimeError, OSError):
            await asyncio.sleep(0.1)
            continue
        while h < top:
            b = await rpc(session, url, "block", height=h + 1)
            h += 1
            now = time.time()
            for txh in b["txs"]:
                if txh not in seen:
                    seen[txh] = now
                    k = node_of.get(txh)
                    if k is not None:
                        committed[k] += 1
            blocks.append((h, now, len(b["txs"]), b["time"]))
        await asyncio.sleep(0.05)
    return h


def admitted_not_stranded(sent: list[Sent]) -> list[str]:
    """Hashes of admitted txs that can still execute: not behind a refused or unanswered
    nonce of the same sender (those are "stranded": the client left a gap)."""
    first_bad: dict[int, int] = {}  # sender -> lowest nonce refused or unanswered
    for _, _, c, i, nonce in sent:
        if c != 0 and nonce < first_bad.get(i, 1 << 62):
            first_bad[i] = nonce
    return [
        h for h, _, c, i, nonce in sent if c == 0 and not (i in first_bad and nonce > first_bad[i])
    ]


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process so far (from /proc; None where unavailable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ----------------------------------------------------------------------------- measurements


#: node counters read from /metrics at the window's start and end (`node_counters`)
COUNTERS = (
    "huzhu_crypto_signature_checks_total",
    "huzhu_mempool_refused_txs_total",
    "huzhu_mempool_peer_refused_txs_total",
    "huzhu_mempool_retry_evicted_txs_total",  # a re-offer of one is checked again
    "huzhu_consensus_copies_dropped_total",
    "huzhu_gc_pause_seconds",  # collections and seconds by generation: what the heap costs
)


async def scrape_counters(session: aiohttp.ClientSession, url: str) -> dict[str, float]:
    """The COUNTERS samples of one node's /metrics (labels kept in the key); {} on failure,
    so a slow scrape under load costs a figure, never the run."""
    out: dict[str, float] = {}
    try:
        async with session.get(
            url.rstrip("/") + "/metrics", timeout=aiohttp.ClientTimeout(total=10)
        ) as r:
            text = await r.text()
    except (TimeoutError, aiohttp.ClientError, OSError):
        return out
    for line in text.splitlines():
        if line.startswith(COUNTERS):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def counter_deltas(
    before: list[dict[str, float]], after: list[dict[str, float]], committed: int, accepted: int
) -> dict[str, Any]:
    """Per node, what the window added to each counter; signature checks per committed tx,
    and per tx accepted in the window (~1.0 plus the votes' when every node checks every tx
    once; per committed tx grows to admitted / committed whenever the chain falls behind)."""
    nodes: list[dict[str, int] | None] = []
    for b, a in zip(before, after, strict=True):
        if not b or not a:
            nodes.append(None)
            continue
        nodes.append(
            {
                k.replace("huzhu_", ""): round(v - b.get(k, 0.0), 3 if "_sum" in k else None)
                for k, v in a.items()
            }
        )
    sig = "crypto_signature_checks_total"
    checks = [d[sig] for d in nodes if d is not None and sig in d]
    return {
        "node_counters": nodes,
        "sig_checks_per_tx": round(statistics.mean(checks) / committed, 3)
        if checks and committed
        else None,
        "sig_checks_per_accepted_tx": round(statistics.mean(checks) / accepted, 3)
        if checks and accepted
        else None,
    }


def verify_per_core(seconds: float = 2.0) -> float:
    s = Signer(sha256(b"bench-verify"))
    msg = b"x" * 200
    sig = s.sign(msg)
    n = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(200):
            verify(s.public_key, msg, sig)
        n += 200
    return n / (time.perf_counter() - t0)


def min_batch(rate: float | None, wait_ms: float) -> int:
    """Open loop: the txs due before a request goes out, at most RPC_BATCH, so that a request
    waits at most about `wait_ms` (0: every 5 ms, whatever is due)."""
    if rate is None:
        return 1
    return max(1, min(RPC_BATCH, int(rate * wait_ms / 1000)))


def config_overrides(items: list[str]) -> dict[str, dict[str, Any]]:
    """`--set section.key=value` items as LocalNet.create's config overrides (value as JSON,
    else a string): to compare a node setting back to back on the same workload."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        section, dot, key = name.partition(".")
        if not sep or not dot or not section or not key:
            raise SystemExit(f"--set {item!r}: expected section.key=value")
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        out.setdefault(section, {})[key] = value
    return out


_CHAIN_DEFAULT = {spec.name: spec.default for spec in CHAIN_PARAMS}


def window_of(args: argparse.Namespace) -> int:
    """The closed loop's uncommitted txs in total: --window, else two of the chain's largest
    blocks (one committing while the next is reaped), so the window never caps a block."""
    if args.window is not None:
        return int(args.window)
    return 2 * int(args.max_block_txs or _CHAIN_DEFAULT["max_block_txs"])


def run(args: argparse.Namespace) -> dict[str, Any]:
    n = args.validators
    senders = args.senders
    claimants = 20
    workdir = Path(tempfile.mkdtemp(prefix="huzhu-bench-"))
    template = make_template(senders, claimants, args.max_block_txs, args.block_time_ms)
    print(f"[setup] {n} validators, {senders} senders, workdir {workdir}", flush=True)
    net = LocalNet.create(
        workdir, n, template, config=config_overrides(args.set or []), base_port=args.base_port
    )
    try:
        net.start_all(wait=False)
        result = asyncio.run(_run(args, net, senders, claimants))
        result["rounds"] = rounds_from_log(net.log_path(0), result.pop("_heights"))
        return result
    finally:
        net.close()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


async def _run(
    args: argparse.Namespace, net: LocalNet, senders: int, claimants: int
) -> dict[str, Any]:
    n = args.validators
    voter_count = senders // 2
    urls = [net.rpc_url(i) for i in range(n)]
    pids = [net.pid(i) for i in range(n)]

    async def wait_height(h: int) -> None:
        """Every node at h or above; a node that exits or a timeout fails with the logs."""
        await asyncio.to_thread(net.wait_all, h, 120)

    async with aiohttp.ClientSession() as session:
        await wait_height(1)
        print("[setup] chain is live; joining voters and filing claims", flush=True)
        joins = [
            build_tx(sender_signer(i), CHAIN_ID, "join", 0, 1, {"pool": POOL}).wire
            for i in range(voter_count)
        ]
        claimers = [sender_signer(senders + j) for j in range(claimants)]
        claim_joins = [build_tx(c, CHAIN_ID, "join", 0, 1, {"pool": POOL}).wire for c in claimers]
        for k in range(n):
            await submit_commit(session, urls[k], joins[k::n] + claim_joins[k::n])
        h0 = (await rpc(session, urls[0], "status"))["height"]
        await wait_height(h0 + 3)  # past the waiting period
        claims = [
            build_tx(
                c,
                CHAIN_ID,
                "claim",
                1,
                1,
                {"pool": POOL, "amount": 100, "evidence": sha256(bytes([j]))},
            )
            for j, c in enumerate(claimers)
        ]
        await submit_commit(session, urls[0], [c.wire for c in claims])
        h1 = (await rpc(session, urls[0], "status"))["height"]
        await wait_height(h1 + 2)
        claim_ids = [c.hash for c in claims]

        total = int((args.rate or args.max_rate) * (args.seconds + args.warmup) * 1.1)
        print(f"[setup] pre-signing {total} transactions", flush=True)
        t = time.perf_counter()
        work = encoded_workload(senders, claim_ids, total, voter_count)
        print(f"[setup] signed in {time.perf_counter() - t:.1f}s", flush=True)

        node_of = {h: i % n for i, _, _, h, _ in work}
        start_height = (await rpc(session, urls[0], "status"))["height"]
        start_at = time.time() + 1.0
        q: mp.Queue = mp.Queue()
        committed = mp.Array("q", n, lock=False)  # one writer (us), one reader
        proc = mp.Process(
            target=submitter_main,
            args=(
                urls,
                work,
                args.rate,
                max(RPC_BATCH, window_of(args) // n),
                args.warmup + args.seconds,
                start_at,
                committed,
                q,
                args.retry_full or args.rate is None,
                start_at + args.warmup,
                min_batch(args.rate, args.batch_wait_ms or 0),
                args.inflight or INFLIGHT_PER_NODE,
                getattr(args, "chaff_rate", 0.0),
            ),
        )
        proc.start()
        sub_pid = proc.pid or 0
        seen: dict[str, float] = {}
        blocks: list[tuple[int, float, int, str]] = []
        t_end = start_at + args.warmup + args.seconds
        w0 = start_at + args.warmup
        cpu0: list[float | None] = []
        box: dict[str, Any] = {"out": None, "waiting": set(), "progress": 0.0}
        scrapes: dict[str, asyncio.Task[list[dict[str, float]]]] = {}

        async def scrape_all() -> list[dict[str, float]]:
            return list(await asyncio.gather(*(scrape_counters(session, u) for u in urls)))

        def stop() -> bool:
            """True once every admitted tx is committed, or the drain ran out."""
            now = time.time()
            if not cpu0 and now >= w0:
                cpu0.extend(cpu_seconds(pid) for pid in [*pids, sub_pid])
                scrapes["w0"] = asyncio.create_task(scrape_all())
            if "cpu1" not in box and now >= t_end:
                box["cpu1"] = [cpu_seconds(pid) for pid in [*pids, sub_pid]]
                scrapes["w1"] = asyncio.create_task(scrape_all())
            if box["out"] is None:
                try:
                    box["out"] = q.get_nowait()
                except queue.Empty:
                    return False
                box["waiting"] = set(admitted_not_stranded(box["out"][0]))
                box["progress"] = now
            waiting: set[str] = box["waiting"]
            before = len(waiting)
            waiting.difference_update([h for h in list(waiting) if h in seen])
            if len(waiting) < before:
                box["progress"] = now
            return not waiting or now - box["progress"] > args.drain

        last_h = await observe(
            session, urls[0], stop, seen, blocks, start_height, node_of, committed
        )
        sent, skipped, full_retried, offers, requests, errors_by_kind, chaff = box["out"]
        proc.join(timeout=30)
        rss = [peak_rss_mb(pid) for pid in pids]
        # the submitter has exited by now: without a reading at t_end its CPU is unknown
        cpu1 = box.get("cpu1") or [*(cpu_seconds(pid) for pid in pids), None]
        counters0 = await scrapes["w0"] if "w0" in scrapes else [{}] * n
        counters1 = await scrapes["w1"] if "w1" in scrapes else [{}] * n
    sub0 = cpu0.pop() if cpu0 else None
    sub1 = cpu1.pop()

    w1 = t_end
    accepted = {h: ts for h, ts, c, _, _ in sent if c == 0}
    refused = sum(1 for _, _, c, _, _ in sent if c > 0)
    errors = sum(1 for _, _, c, _, _ in sent if c < 0)
    live = set(admitted_not_stranded(sent))
    stranded = {h for h in accepted if h not in live}
    refused_by_code: dict[str, int] = {}
    for _, _, c, _, _ in sent:
        if c > 0:
            refused_by_code[str(c)] = refused_by_code.get(str(c), 0) + 1
    in_window = [h for h, t in seen.items() if w0 <= t < w1]
    lat = [(seen[h] - accepted[h]) * 1000 for h in accepted if h in seen and w0 <= seen[h] < w1]
    lost = sum(1 for h in accepted if h not in seen and h not in stranded)
    win_blocks = [b for b in blocks if w0 <= b[1] < w1]
    intervals = [(b2[1] - b1[1]) * 1000 for b1, b2 in zip(win_blocks, win_blocks[1:], strict=False)]
    sizes = [b[2] for b in win_blocks]
    vpc = verify_per_core()
    cores = os.cpu_count() or 1
    committed_tps = len(in_window) / args.seconds
    cpu_pct = [
        round((c1 - c0) / args.seconds * 100, 1) if c0 is not None and c1 is not None else None
        for c0, c1 in zip(cpu0 or [None] * n, cpu1, strict=True)
    ]
    result = {
        "validators": n,
        "seconds": args.seconds,
        "warmup": args.warmup,
        "rate": args.rate,
        "mode": "open-loop"
        if args.rate
        else f"closed-loop, {max(RPC_BATCH, window_of(args) // n)} uncommitted per node",
        "submitted": len(sent),
        # every pre-signed tx was offered: the load stopped before the window's end, so a
        # saturating figure is the supply's (raise --max-rate), not the chain's capacity
        "supply_exhausted": len(sent) + skipped >= len(work),
        "accepted": len(accepted),
        "refused": refused,
        "refused_by_code": refused_by_code,
        "refused_full_retried": full_retried,
        "errors": errors,
        # why: a JSON-RPC error's code and message, a call the answer left out, a transport
        # failure's exception (each error stops its sender, as a refusal does)
        "errors_by_kind": errors_by_kind,
        "skipped": skipped,
        "stranded": len(stranded),
        "committed_tps": round(committed_tps, 1),
        "p50_ms": round(pct(lat, 50), 1),
        "p95_ms": round(pct(lat, 95), 1),
        "p99_ms": round(pct(lat, 99), 1),
        "lost": lost,
        "blocks": len(win_blocks),
        "block_interval_ms": round(statistics.mean(intervals), 1) if intervals else None,
        "block_txs_mean": round(statistics.mean(sizes), 1) if sizes else None,
        "block_txs_max": max(sizes, default=None),
        "max_block_txs": args.max_block_txs,
        "block_time_ms": args.block_time_ms,
        "_heights": (win_blocks[0][0], win_blocks[-1][0]) if win_blocks else None,
        # the window in wall-clock seconds: to line up a node's own logs or samples with it
        "window_unix_s": (round(w0, 3), round(w1, 3)),
        "last_height": last_h,
        "peak_rss_mb": [round(r, 1) if r else None for r in rss],
        "node_cpu_pct": cpu_pct,
        # CPU the nodes spent per committed tx (all nodes together): robust to a shared,
        # busy machine where tx/s also measures the neighbours
        "node_cpu_us_per_tx": (
            round(sum(cpu_pct) / 100 * args.seconds / len(in_window) * 1e6)
            if in_window and None not in cpu_pct
            else None
        ),
        # the submitting process shares the machine's cores: its CPU per broadcast_tx call
        # (first offers and re-offers of mempool_full refusals) over the window
        "offers": offers,
        # what the open loop achieved: its schedule (`rate`) is met only while its requests
        # in flight (--inflight per node) are answered fast enough
        "offered_calls_per_s": round(offers / args.seconds, 1),
        "offers_per_request": round(offers / requests, 1) if requests else None,
        # --chaff: broadcast_tx calls refused at check 2 sent besides the workload's, and
        # their answers' codes (1, malformed, for every one: anything else is reported)
        "chaff_calls_per_s": round(chaff["calls"] / args.seconds, 1),
        "chaff_codes": chaff["codes"],
        "submitter_cpu_pct": round((sub1 - sub0) / args.seconds * 100, 1)
        if sub0 is not None and sub1 is not None
        else None,
        "submitter_cpu_us_per_offer": round((sub1 - sub0) / (offers + chaff["calls"]) * 1e6, 1)
        if sub0 is not None and sub1 is not None and offers
        else None,
        # nodes and submitter together per committed tx: on a CPU-bound machine committed/max
        # under overload is about the saturating figure of this over the overloaded one
        "machine_cpu_us_per_tx": round(
            ((sum(cpu_pct) / 100 * args.seconds) + (sub1 - sub0)) / len(in_window) * 1e6
        )
        if in_window and None not in cpu_pct and sub0 is not None and sub1 is not None
        else None,
        "verify_per_core": round(vpc),
        "cores": cores,
        "efficiency": round(committed_tps * n / (vpc * cores), 4),
        **counter_deltas(
            counters0, counters1, len(in_window), sum(1 for t in accepted.values() if w0 <= t < w1)
        ),
        "timeline": timeline(seen, accepted, start_at, max([t_end, *seen.values()]) + 1.0),
    }
    return result


def rounds_from_log(log: Path, heights: tuple[int, int] | None) -> dict[str, int] | None:
    """Heights of the window by their deciding round, from node 0's "committed" log lines
    (round > 0: a round was lost, to a late block, a slow validator or a timeout)."""
    if heights is None or not log.exists():
        return None
    lo, hi = heights
    out: dict[str, int] = {}
    for line in log.read_text(errors="replace").splitlines():
        if "committed" not in line or " round=" not in line:
            continue
        fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
        try:
            h = int(fields["height"])
        except (KeyError, ValueError):
            continue
        if lo <= h <= hi:
            r = fields.get("round", "?")
            out[r] = out.get(r, 0) + 1
    return out


def overload(args: argparse.Namespace) -> dict[str, Any]:
    """The saturating figure, then `--overload` times it offered open loop on a fresh
    network, with refused transactions offered again: committed/max under overload.
    `--pairs K` alternates the phases, saturating first and last (K + 1 saturating phases,
    K overloaded ones, each on a fresh network): the machine's speed drifts 10 % from one
    minute to the next (on a shared machine 3x), so one phase of each, minutes apart, read
    0.57-1.50 for the same code (bench/README.md);
    committed/max is then the median overloaded figure over the median saturating one."""
    sats = [saturating_phase(args)]
    overs: list[dict[str, Any]] = []
    for _ in range(args.pairs):
        # F times the median capacity measured so far: one slow saturating minute would
        # otherwise make the next phase no overload at all
        capacity = round(statistics.median(s["committed_tps"] for s in sats), 1)
        overs.append(overloaded_phase(args, capacity))
        if args.pairs > 1:
            sats.append(saturating_phase(args))
    return {**overs[-1], **summary(sats, overs), "overload_factor": args.overload}


def summary(sats: list[dict[str, Any]], overs: list[dict[str, Any]]) -> dict[str, Any]:
    """committed/max of alternating phases (saturating first and last): the median overloaded
    committed tx/s over the median saturating one; and each overloaded phase against the mean
    of the saturating ones either side of it (what a single pair of that minute reads)."""
    sat_med = statistics.median(s["committed_tps"] for s in sats)
    over_med = statistics.median(o["committed_tps"] for o in overs)
    each = []
    for i, o in enumerate(overs):
        around = statistics.mean(s["committed_tps"] for s in sats[i : i + 2])
        each.append(round(o["committed_tps"] / around, 3) if around else None)
    return {
        "saturating": sats[0],
        "pairs": len(overs),
        # broadcast_tx calls (first offers and re-offers) per second the overloaded phases
        # sent, over the median saturating figure: the overload achieved, not the one asked
        "offered_over_max_each": [
            round((o["offered_calls_per_s"] + o.get("chaff_calls_per_s", 0)) / sat_med, 2)
            if sat_med
            else None
            for o in overs
        ],
        "saturating_tps_each": [s["committed_tps"] for s in sats],
        "overloaded_tps_each": [o["committed_tps"] for o in overs],
        "saturating_phases": [{k: s[k] for k in PHASE_KEYS if k in s} for s in sats],
        "overloaded_phases": [{k: o[k] for k in PHASE_KEYS if k in o} for o in overs],
        # nothing admitted may be lost in any phase
        "lost_all_phases": sum(r["lost"] for r in [*sats, *overs]),
        "committed_over_max_each": each,
        "committed_over_max": round(over_med / sat_med, 3) if sat_med else None,
    }


#: the fields of each phase kept in `--pairs`' result (the last overloaded phase's are whole)
PHASE_KEYS = (
    "rate",
    "supply_exhausted",
    "committed_tps",
    "p99_ms",
    "lost",
    "node_cpu_us_per_tx",
    "machine_cpu_us_per_tx",
    "refused_full_retried",
    "offered_calls_per_s",
    "chaff_calls_per_s",
    "chaff_codes",
    "block_txs_mean",
    "block_interval_ms",
    "rounds",
    "sig_checks_per_tx",
    # per tx admitted in the window: under overload the pending set moves within a window,
    # so per committed tx reads 1.05-1.11 with every tx checked once per node (branch over11)
    "sig_checks_per_accepted_tx",
    "submitter_cpu_us_per_offer",
    "verify_per_core",
    "node_counters",
    "window_unix_s",
)


def saturating_phase(args: argparse.Namespace) -> dict[str, Any]:
    """One closed-loop run on a fresh network: the chain's capacity this minute."""
    sat = run(argparse.Namespace(**{**vars(args), "rate": None}))
    print_table(sat)
    return sat


def overloaded_phase(args: argparse.Namespace, capacity: float) -> dict[str, Any]:
    """`--overload` times `capacity` offered open loop on a fresh network, refusals offered
    again."""
    if args.chaff:
        return chaffed_phase(args, capacity)
    rate = round(capacity * args.overload, 1)
    print(f"[overload] capacity {capacity} tx/s; offering {rate} tx/s", flush=True)
    # requests as full as the saturating phase's (25-100 txs, ~93 on average), not the few
    # txs due every 5 ms: the two phases then differ in the rate offered only
    wait = 1000 * RPC_BATCH / rate if args.batch_wait_ms is None and rate else args.batch_wait_ms
    inflight = args.inflight or OVERLOAD_INFLIGHT_PER_NODE
    over = run(
        argparse.Namespace(
            **{
                **vars(args),
                "rate": rate,
                "retry_full": True,
                "batch_wait_ms": wait or 0,
                "inflight": inflight,
            }
        )
    )
    return over


def chaffed_phase(args: argparse.Namespace, capacity: float) -> dict[str, Any]:
    """`--chaff`'s stand-in for an overloaded phase: the saturating closed loop plus
    (`--overload` - 1) times `capacity` calls a second refused at check 2, the cheapest
    refusal a call can get. Its committed/max is what the chain keeps when the overload's
    excess costs only its JSON-RPC round trips: a ceiling for the overloaded figure, whose
    refusals also pass checks 3-11 (a re-offer's kept answer at least)."""
    extra = round(capacity * (args.overload - 1), 1)
    print(f"[chaff] capacity {capacity} tx/s; closed loop + {extra} calls/s refused", flush=True)
    return run(argparse.Namespace(**{**vars(args), "rate": None, "chaff_rate": extra}))


def parser() -> argparse.ArgumentParser:
    """The bench's options; bench/profile_node.py builds its run from the same defaults."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--validators", type=int, default=4)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--rate", type=float, default=None, help="open-loop tx/s (default: saturate)")
    p.add_argument(
        "--max-rate",
        type=float,
        default=6000,
        help="when saturating: pre-sign enough for this many tx/s (a run that offers them all "
        "reports supply_exhausted: its figure is then the supply's)",
    )
    p.add_argument(
        "--warmup",
        type=float,
        default=None,
        help="seconds of load before the window (default 5; with --overload 15 in both "
        "phases: the overloaded mempools fill for ~10 s, and a window that starts earlier "
        "counts the signature checks of txs it does not commit)",
    )
    p.add_argument(
        "--drain",
        type=float,
        default=30,
        help="after the load: stop waiting for admitted txs after this long without progress",
    )
    p.add_argument(
        "--window",
        type=int,
        default=None,
        help="saturating mode: uncommitted submitted txs in total, split evenly over the "
        "nodes (default: twice the chain's max_block_txs; a smaller window caps the blocks); "
        "mempool_full refusals are offered again after that node's next commit",
    )
    p.add_argument("--senders", type=int, default=2000)
    p.add_argument(
        "--base-port",
        type=int,
        default=None,
        help="RPC ports base..base+N-1, P2P base+1000.. (default: a free range)",
    )
    p.add_argument(
        "--overload",
        type=float,
        default=None,
        help="measure the saturating figure, then offer this many times it (fresh network, "
        "refusals offered again) and report committed/max",
    )
    p.add_argument(
        "--pairs",
        type=int,
        default=3,
        help="--overload: this many overloaded phases alternating with saturating ones "
        "(saturating first and last, each on a fresh network; default 3, ~10 minutes); "
        "committed/max is the median overloaded figure over the median saturating one "
        "(1: one saturating phase, then one overloaded)",
    )
    p.add_argument(
        "--chaff",
        action="store_true",
        help="--overload: in place of each overloaded phase, the saturating closed loop plus "
        "(F - 1) x capacity broadcast_tx calls a second that are refused at check 2 "
        "(malformed): committed/max when the excess costs only its JSON-RPC round trips",
    )
    p.add_argument(
        "--retry-full",
        action="store_true",
        help="open loop: offer a mempool_full refusal again instead of stopping its sender "
        "(saturating mode always does)",
    )
    p.add_argument(
        "--max-block-txs",
        type=int,
        default=None,
        help="the chain's max_block_txs in the bench genesis (default: the chain's default)",
    )
    p.add_argument(
        "--block-time-ms",
        type=int,
        default=None,
        help="the chain's block_time_ms in the bench genesis (default: the chain's default)",
    )
    p.add_argument(
        "--batch-wait-ms",
        type=float,
        default=None,
        help="open loop: wait until this many ms of txs (at most a full batch of 100) are due "
        "before a request (0, the default: every 5 ms, whatever is due; --overload's open "
        "loop defaults to full batches of 100, as its saturating phase sends)",
    )
    p.add_argument(
        "--inflight",
        type=int,
        default=None,
        help=f"RPC requests the submitter has in flight per node at most (default "
        f"{INFLIGHT_PER_NODE}; {OVERLOAD_INFLIGHT_PER_NODE} in --overload's open loop, which "
        "8 held to 1.3-1.9x when 2x was asked): an open loop falls behind its rate once they "
        "are all waiting (offered_calls_per_s shows it)",
    )
    p.add_argument("--json", dest="json_out", required=True)
    p.add_argument("--plot", default=None)
    p.add_argument("--keep", action="store_true", help="keep the node directory and logs")
    p.add_argument(
        "--set",
        action="append",
        metavar="SECTION.KEY=VALUE",
        help="override every node's config.toml (repeatable), e.g. --set workers.threads=0",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if args.pairs < 1:
        p.error("--pairs must be >= 1")
    if args.inflight is not None and args.inflight < 1:
        p.error("--inflight must be >= 1")
    if args.warmup is None:
        args.warmup = OVERLOAD_WARMUP_S if args.overload else WARMUP_S
    result = overload(args) if args.overload else run(args)
    Path(args.json_out).write_text(json.dumps(result, indent=2))
    print_table(result)
    print(
        f"blocks: mean {result['block_txs_mean']} txs, max {result['block_txs_max']}; "
        f"heights by deciding round (node 0's log): {result['rounds']}; "
        f"mempool_full refusals offered again: {result['refused_full_retried']}"
    )
    phases = [result, *result.get("saturating_phases", []), *result.get("overloaded_phases", [])]
    if any(ph.get("supply_exhausted") for ph in phases):
        print(
            "warning: every pre-signed transaction was offered before the window ended: a "
            "saturating figure is the supply's, not the chain's (raise --max-rate)"
        )
    short = [
        f
        for f in result.get("offered_over_max_each", [])
        if f is not None and f < 0.9 * args.overload
    ]
    if args.overload and short:
        print(
            f"warning: an overloaded phase sent only {min(short)}x the saturating figure, not "
            f"{args.overload}x: its requests in flight were all waiting (raise --inflight)"
        )
    sent = f"offered calls (first offers and re-offers) x max {result.get('offered_over_max_each')}"
    if args.overload and args.pairs > 1:
        print(
            f"overload x{args.overload}, {args.pairs} pairs: committed "
            f"{result['overloaded_tps_each']} tx/s, saturating {result['saturating_tps_each']}: "
            f"committed/max = {result['committed_over_max']} (median over median; each "
            f"against its neighbours {result['committed_over_max_each']}); {sent}"
        )
    elif args.overload:
        print(
            f"overload x{args.overload}: committed {result['committed_tps']} tx/s of "
            f"{result['saturating']['committed_tps']} saturating: "
            f"committed/max = {result['committed_over_max']}; {sent}"
        )
    if args.plot:
        plot(result, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
