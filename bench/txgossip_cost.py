"""CPU of transaction gossip in a full mesh of N validators, in one process, with and without
the mesh rule (state/txgossip.py: a validator's tx is held, not relayed).

    python bench/txgossip_cost.py [--validators 21] [--txs 4200] [--delay-ms 0] [--repeat 3]

N real `TxGossipPolicy`s (fanout 2, the node's default) and N real `Mempool`s, linked in a full
mesh by a loop that hands each flushed batch to its receiver (`open_batch`, `Mempool.add`,
`settle`, as `GossipIntake` does inline); every tx is a signed transfer submitted by a client
to one node, round robin. Signatures are marked verified in every mempool beforehand, so the
figure is the gossip's own work plus the mempool's bookkeeping of each copy, not the Ed25519
check (the same once per node either way). Not counted: the transport (framing, AEAD: ~8 us a
200-byte frame, bench/node_path.py), which grows with the bytes, so with the copies too.

With `--delay-ms 0` every tx is still pending when its relay is due: the worst case, which a
backlog older than `[p2p] gossip_relay_delay_ms` (1.5 s) makes the steady state (21
validators on one machine). Prints copies of each tx admitted per node (1 = once) and process
CPU per tx per node, best of --repeat.

With `--rate R` (tx/s offered to the whole network) the clients' txs arrive over time
instead, spread evenly over the nodes, flushes 50 ms apart, mesh rule on; the figure is then
the batches each node receives per tx, without and with the node's hold of small batches
(`[p2p] gossip_min_batch_txs`, `gossip_max_hold_ms`, or `--min-batch`/`--hold-ms`;
state/txgossip.py "Small batches wait"), and the mean wait a tx spent in the hold. Each batch costs its receiver a frame
(AEAD) and an admission request on top of what is counted here.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from node.config import P2PConfig  # noqa: E402
from state.crypto import Signer, sha256  # noqa: E402
from state.mempool import Mempool, MempoolLimits  # noqa: E402
from state.model import Account  # noqa: E402
from state.params import ChainParams  # noqa: E402
from state.tx import build_tx  # noqa: E402
from state.txgossip import GossipLimits, TxGossipPolicy  # noqa: E402

CHAIN = "txgossip-bench"
LIMITS = GossipLimits(
    batch_txs=500, batch_bytes=1024 * 1024, pending_txs=20_000, seen_per_peer=20_000
)


class View:
    """The slice of the state a mempool reads: every sender funded, nothing committed."""

    chain_id = CHAIN
    params = ChainParams(treasury=sha256(b"treasury"))

    def account(self, addr: bytes) -> Account:
        return Account(balance=10**9, nonce=0)

    def tx_result(self, tx_hash: bytes) -> None:
        return None


def network(
    n: int, wires: list[bytes], mesh: bool, delay_ms: int, min_batch: int = 1, hold_ms: int = 0
) -> tuple[list[bytes], list[TxGossipPolicy], list[Mempool], list[bytes]]:
    """Node ids, their policies and mempools (every signature marked verified), tx hashes."""
    ids = [sha256(b"node-%d" % i) for i in range(n)]
    members = frozenset(ids).__contains__ if mesh else None
    pols = [
        TxGossipPolicy(
            LIMITS,
            relay_delay_ms=delay_ms,
            relay_fanout=2,
            self_id=p,
            mesh=members,
            min_batch_txs=min_batch,
            max_hold_ms=hold_ms,
        )
        for p in ids
    ]
    view = View()
    pools = [Mempool(lambda: view, MempoolLimits(max_txs=len(wires) + 1)) for _ in ids]
    hashes = [sha256(w) for w in wires]
    for mp in pools:
        mp.remember_verified(hashes)
    return ids, pols, pools, hashes


def flush_all(
    ids: list[bytes], pols: list[TxGossipPolicy], now: int
) -> list[tuple[int, bytes, bytes]]:
    """Every node's flush at `now`: (receiver index, sender id, payload) of each batch."""
    index = {pid: i for i, pid in enumerate(ids)}
    inbox: list[tuple[int, bytes, bytes]] = []
    for i, pol in enumerate(pols):

        def send(pid: bytes, payload: bytes, i: int = i) -> bool:
            inbox.append((index[pid], ids[i], payload))
            return True

        pol.flush([p for p in ids if p != ids[i]], now, send)
    return inbox


def run(n: int, wires: list[bytes], mesh: bool, delay_ms: int) -> tuple[float, float]:
    """(copies admitted per tx per node, process CPU us per tx per node) of one network."""
    ids, pols, pools, _ = network(n, wires, mesh, delay_ms)
    copies = [0] * n
    t0 = time.process_time()
    for k, w in enumerate(wires):  # clients: round robin over the nodes
        res = pools[k % n].add(w)
        assert res.ok, res.error
        assert res.tx is not None
        pols[k % n].add(res.tx.hash, res.tx.wire, 0)
        copies[k % n] += 1
    now = 0
    for _ in range(6 + delay_ms // 50):  # flushes 50 ms apart, until nothing moves
        now += 50
        for j, sender, payload in flush_all(ids, pols, now):
            pol = pols[j]
            for w in pol.open_batch(payload):
                res = pools[j].add(w)
                copies[j] += 1
                pol.settle(sender, res, now)
    cpu = time.process_time() - t0
    assert all(len(mp) == len(wires) for mp in pools), "a tx did not reach every node"
    return sum(copies) / n / len(wires), cpu / n / len(wires) * 1e6


def paced(
    n: int, wires: list[bytes], rate: float, min_batch: int, hold_ms: int
) -> tuple[float, float, float]:
    """(batches received per tx per node, CPU us per tx per node, mean ms from admission to
    the first send) of a full mesh fed `rate` tx/s, flushing every 50 ms."""
    ids, pols, pools, hashes = network(n, wires, True, 1500, min_batch, hold_ms)
    arrival = [k * 1000.0 / rate for k in range(len(wires))]
    first_sent: dict[bytes, int] = {}
    batches = k = now = 0
    t0 = time.process_time()
    while k < len(wires) or now < arrival[-1] + 1000:  # until the last tx's hold is long over
        now += 50
        while k < len(wires) and arrival[k] <= now:
            res = pools[k % n].add(wires[k])
            assert res.ok and res.tx is not None, res.error
            pols[k % n].add(res.tx.hash, res.tx.wire, int(arrival[k]))
            k += 1
        for j, sender, payload in flush_all(ids, pols, now):
            batches += 1
            for w in pols[j].open_batch(payload):
                first_sent.setdefault(sha256(w), now)
                pols[j].settle(sender, pools[j].add(w), now)
    cpu = time.process_time() - t0
    assert all(len(mp) == len(wires) for mp in pools), "a tx did not reach every node"
    wait = sum(first_sent[h] - a for h, a in zip(hashes, arrival, strict=True)) / len(hashes)
    return batches / n / len(wires), cpu / n / len(wires) * 1e6, wait


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--validators", type=int, default=21)
    p.add_argument("--txs", type=int, default=4200)
    p.add_argument("--delay-ms", type=int, default=0)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--rate", type=float, default=0, help="tx/s offered (0: all at once)")
    fields = P2PConfig.model_fields
    p.add_argument(
        "--min-batch",
        type=int,
        default=fields["gossip_min_batch_txs"].default,
        help="with --rate: [p2p] gossip_min_batch_txs of the held arm (default: the node's)",
    )
    p.add_argument(
        "--hold-ms",
        type=int,
        default=fields["gossip_max_hold_ms"].default,
        help="with --rate: [p2p] gossip_max_hold_ms of the held arm (default: the node's)",
    )
    a = p.parse_args(argv)
    keys = [Signer(sha256(b"txgossip-bench-%d" % i)) for i in range(a.txs)]
    to = keys[0].public_key
    wires = [build_tx(k, CHAIN, "transfer", 0, 1, {"to": to, "amount": 1}).wire for k in keys]
    if a.rate:
        for label, mb, hold in (
            ("every flush", 1, 0),
            (f"hold < {a.min_batch} txs up to {a.hold_ms} ms", a.min_batch, a.hold_ms),
        ):  # fmt: skip
            runs = [paced(a.validators, wires, a.rate, mb, hold) for _ in range(a.repeat)]
            print(
                f"{a.validators} validators, {a.rate:g} tx/s, {label}: {runs[0][0]:.3f} batches"
                f" received per tx per node, {min(r[1] for r in runs):.1f} us CPU per tx per"
                f" node (runs {', '.join(f'{r[1]:.1f}' for r in runs)}), first send"
                f" {runs[0][2]:.0f} ms after admission on average"
            )
        return 0
    for mesh in (False, True):
        runs = [run(a.validators, wires, mesh, a.delay_ms) for _ in range(a.repeat)]
        copies = runs[0][0]
        best = min(r[1] for r in runs)
        label = "mesh (validators' txs held)" if mesh else "relay every peer's tx"
        print(
            f"{a.validators} validators, {label}: {copies:.2f} copies per tx per node, "
            f"{best:.1f} us CPU per tx per node (runs {', '.join(f'{r[1]:.1f}' for r in runs)})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
