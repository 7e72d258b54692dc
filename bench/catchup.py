"""Catch-up of a restarted validator on a real N-validator huzhu localnet.

    python bench/catchup.py --validators 4 --blocks 1000 --json OUT [--block-time-ms 100]
                            [--txs-per-block K] [--kill]

Starts a fresh localnet (the `huzhu testnet` generator, then one `huzhu start` process per
node, 127.0.0.1, LevelDB, through node.localnet_harness) with a short genesis block_time_ms and shortened consensus timeouts
in every config.toml. Once the chain is live it stops the last validator (SIGTERM, or
SIGKILL with --kill) and lets the others commit --blocks more blocks under a light load:
for every new block seen, K pre-signed transfers are sent with JSON-RPC `broadcast_tx`
(sync, batched) to the live validators. Then it restarts the stopped node and measures:

- restart_to_rpc_seconds: restart (process spawn) -> its RPC answers `status`;
- catchup_seconds: restart -> its height reaches the others' height at the restart
  (`target_height`); sync_seconds: the same, from its first RPC answer;
- catchup_blocks_per_s / catchup_txs_per_s: blocks (and their txs) between the height it
  restarted from and target_height, over sync_seconds (the block-sync replay rate);
- in_sync_seconds: restart -> it reports catching_up false at the others' current height;
- net_blocks_per_s / net_tx_per_s: the N-1 others' committed blocks and txs per second
  while the node was down (the localnet's rate under this simple load).

Agreement: after catch-up the load stops and the restarted node's block hash and state root
(the root after the block) must equal every other node's at the first replayed height, at
target_height and at the final common height (`agreed`). The load counts blocks as seen by
node 0 (observed block by block over RPC). All node processes are stopped in a `finally`.

Ports: RPC base..base+N-1, P2P base+1000.., by default a free range below the kernel's
ephemeral range (node.localnet_harness). Before the restart the stopped node's ports are
checked (`ports_busy_at_restart`) and, if the restarted node exits, the end of its log is
printed.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import bench_signer, metric_table  # noqa: E402
from node.localnet_harness import (  # noqa: E402
    RPC_FAILURES,
    LocalNet,
    NodeExited,
    port_is_free,
    wait_for,
)
from state.crypto import Signer  # noqa: E402
from state.devkeys import dev_signer  # noqa: E402
from state.genesis_builder import genesis_doc  # noqa: E402
from state.tx import build_tx  # noqa: E402

CHAIN_ID = "huzhu-catchup"
RPC_BATCH = 100
SENDERS = 256


def sender_signer(i: int) -> Signer:
    return bench_signer(b"huzhu-catchup-sender", i)


def make_template(senders: int, block_time_ms: int) -> dict[str, Any]:
    return genesis_doc(
        chain_id=CHAIN_ID,
        treasury=dev_signer("treasury").public_key,
        registrars=[dev_signer("registrar").public_key],
        params={"block_time_ms": block_time_ms},
        validators=None,
        accounts=[(sender_signer(i).public_key, 10**9) for i in range(senders)],
        pools=[{"id": "medical", "name": "Medical mutual aid"}],
    )


def create_net(args: argparse.Namespace, workdir: Path) -> LocalNet:
    """The testnet with the genesis block time and consensus timeouts of `args`."""
    tp = args.timeout_propose_ms
    consensus = {
        "timeout_propose_ms": tp,
        "timeout_propose_delta_ms": max(1, tp // 3),
        "timeout_prevote_ms": max(1, tp // 2),
        "timeout_prevote_delta_ms": max(1, tp // 6),
        "timeout_precommit_ms": max(1, tp // 2),
        "timeout_precommit_delta_ms": max(1, tp // 6),
    }
    return LocalNet.create(
        workdir,
        args.validators,
        make_template(SENDERS, args.block_time_ms),
        config={"consensus": consensus},
        base_port=args.base_port,
    )


# ------------------------------------------------------------------------ observer and load


class Observer(threading.Thread):
    """Follows one node's chain block by block: blocks[h] = (time first seen, tx count)."""

    def __init__(self, net: LocalNet, node: int) -> None:
        super().__init__(daemon=True)
        self.net = net
        self.node = node
        self.blocks: dict[int, tuple[float, int]] = {}
        self.height = 0
        self.stop_event = threading.Event()
        self.new_block = threading.Condition()

    def run(self) -> None:
        while not self.stop_event.is_set():
            st = self.net.status(self.node, timeout=2.0)
            top = st["height"] if st else self.height
            while self.height < top and not self.stop_event.is_set():
                hs = list(range(self.height + 1, min(top, self.height + RPC_BATCH) + 1))
                try:
                    res = self.net.batch(self.node, [("block", {"height": h}) for h in hs])
                except RPC_FAILURES:
                    break
                now = time.monotonic()
                for h, r in zip(hs, res, strict=True):
                    if "result" not in r:
                        break
                    self.blocks[h] = (now, len(r["result"]["txs"]))
                    self.height = h
                with self.new_block:
                    self.new_block.notify_all()
            time.sleep(0.03)

    def txs_between(self, lo: int, hi: int) -> int:
        """Txs in blocks lo+1..hi."""
        return sum(self.blocks[h][1] for h in range(lo + 1, hi + 1) if h in self.blocks)

    def wait_height(self, h: int, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        with self.new_block:
            while self.height < h:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"observed node did not reach height {h} (at {self.height})")
                self.new_block.wait(min(left, 0.5))
        return self.blocks[h][0]


class Load(threading.Thread):
    """For every new block the observer sees, send K pre-signed transfers to the live nodes
    (sender s always through the same node, so its nonces arrive in order)."""

    def __init__(self, obs: Observer, net: LocalNet, nodes: list[int], k: int, count: int) -> None:
        super().__init__(daemon=True)
        self.obs = obs
        self.net = net
        self.nodes = nodes
        self.k = k
        self.stop_event = threading.Event()
        self.sent = 0
        self.admitted = 0
        self.refused = 0
        self.errors = 0
        keys = [sender_signer(i) for i in range(SENDERS)]
        self.work: list[tuple[int, bytes]] = []
        nonces = [0] * SENDERS
        for j in range(count):
            s = j % SENDERS
            to = keys[(s + 1) % SENDERS].public_key
            tx = build_tx(keys[s], CHAIN_ID, "transfer", nonces[s], 1, {"to": to, "amount": 1})
            nonces[s] += 1
            self.work.append((s, tx.wire))
        self.pos = 0

    def run(self) -> None:
        if self.k <= 0:
            return
        seen = self.obs.height
        while not self.stop_event.is_set() and self.pos < len(self.work):
            h = self.obs.height
            if h <= seen:
                time.sleep(0.01)
                continue
            want = self.k * (h - seen)
            seen = h
            chunk = self.work[self.pos : self.pos + want]
            self.pos += len(chunk)
            per_node: dict[int, list[bytes]] = {}
            for s, w in chunk:
                per_node.setdefault(self.nodes[s % len(self.nodes)], []).append(w)
            for node, wires in per_node.items():
                for i in range(0, len(wires), RPC_BATCH):
                    part = wires[i : i + RPC_BATCH]
                    self.sent += len(part)
                    calls = [("broadcast_tx", {"tx": w.hex(), "mode": "sync"}) for w in part]
                    try:
                        res = self.net.batch(node, calls)
                    except RPC_FAILURES:
                        self.errors += len(part)
                        continue
                    for r in res:
                        code = r.get("result", {}).get("code")
                        if code == 0:
                            self.admitted += 1
                        elif code is None:
                            self.errors += 1
                        else:
                            self.refused += 1


# ----------------------------------------------------------------------------------- the run


def started_height(log: Path) -> int | None:
    """The height the node loaded from disk, from its `node started ... height=N` log line."""
    m = re.search(r"node started .*?\bheight=(\d+)", log.read_text(errors="replace"))
    return int(m.group(1)) if m else None


def run(args: argparse.Namespace) -> dict[str, Any]:
    n = args.validators
    if n < 4:
        raise SystemExit("--validators must be >= 4 (the others must keep a 2/3 quorum)")
    workdir = Path(tempfile.mkdtemp(prefix="huzhu-catchup-"))
    print(f"[setup] {n} validators, workdir {workdir}", flush=True)
    net = create_net(args, workdir)
    obs: Observer | None = None
    load: Load | None = None
    try:
        net.start_all(wait=False)
        obs = Observer(net, 0)
        obs.start()
        obs.wait_height(3, 120)
        victim = n - 1
        live = [i for i in range(n) if i != victim]
        net.wait_height(victim, 3, 60)
        margin = int(args.blocks * 0.5) + 300
        print(f"[setup] pre-signing {args.txs_per_block * (args.blocks + margin)} txs", flush=True)
        count = args.txs_per_block * (args.blocks + margin)
        load = Load(obs, net, live, args.txs_per_block, count)
        load.start()
        obs.wait_height(obs.height + 5, 60)  # load flowing before the stop

        # ---------------------------------------------------------------- down window
        how = "SIGKILL" if args.kill else "SIGTERM"
        last = net.status(victim, timeout=2.0) or {}
        rc = net.stop(victim, kill=args.kill, timeout=30)
        t_down = time.monotonic()
        h_down = obs.height
        print(
            f"[down] node{victim} stopped by {how} (exit {rc}) near height "
            f"{last.get('height')}; others at {h_down}",
            flush=True,
        )
        t_end = obs.wait_height(h_down + args.blocks, args.blocks * 2 + 120)
        window = t_end - t_down
        net_blocks = args.blocks
        net_txs = obs.txs_between(h_down, h_down + args.blocks)
        print(
            f"[down] others committed {net_blocks} blocks, {net_txs} txs in {window:.1f}s",
            flush=True,
        )

        # ------------------------------------------------------------------ catch-up
        target = max((net.status(i, timeout=2.0) or {}).get("height", 0) for i in live)
        # with ports in the kernel's ephemeral range an outgoing connection may hold one now
        busy = [
            port
            for port in (net.rpc_port(victim), net.p2p_port(victim))
            if not port_is_free("127.0.0.1", port)
        ]
        if busy:
            print(
                f"[restart] warning: port(s) {busy} in use; the node may fail to bind", flush=True
            )
        t_restart = time.monotonic()
        net.start(victim, tag=".restart")
        first: dict[str, Any] = {}

        def rpc_up() -> bool:
            if not net.alive(victim):
                code = net.procs[victim].returncode
                raise NodeExited(victim, code, net.log_tail(victim, tag=".restart"))
            st = net.status(victim, timeout=1.0)
            if st is not None:
                first.update(st)
            return st is not None

        t_rpc = wait_for(rpc_up, 120, "RPC of the restarted node", net, poll=0.05)
        from_h = started_height(net.log_path(victim, ".restart"))
        if from_h is None:
            from_h = first["height"]
        cur: dict[str, Any] = {}

        def reached() -> bool:
            st = net.status(victim, timeout=2.0)
            if st is not None:
                cur.update(st)
            return st is not None and st["height"] >= target

        t_caught = wait_for(reached, args.blocks + 300, f"height {target}", net, poll=0.05)

        def in_sync() -> bool:
            st = net.status(victim, timeout=2.0)
            return st is not None and not st["catching_up"] and st["height"] >= obs.height - 1

        t_sync = wait_for(in_sync, 120, "catching_up false at the live height", net, poll=0.05)
        load.stop_event.set()
        load.join(timeout=30)

        # ----------------------------------------------------------------- agreement
        time.sleep(0.5)
        common = min(net.height(i) for i in range(n))
        checks = sorted({min(from_h + 1, target), target, common})
        agreement = []
        for h in checks:
            got = [net.call(i, "block", height=h) for i in range(n)]
            same = all(
                (b["hash"], b["state_root"]) == (got[0]["hash"], got[0]["state_root"]) for b in got
            )
            agreement.append({"height": h, "hash": got[0]["hash"], "agreed": same})
        behind = target - from_h
        sync_s = t_caught - t_rpc
        replay_txs = obs.txs_between(from_h, target)
        result = {
            "validators": n,
            "stop": how,
            "stop_exit_code": rc,
            "ports_busy_at_restart": busy,
            "block_time_ms": args.block_time_ms,
            "timeout_propose_ms": args.timeout_propose_ms,
            "txs_per_block": args.txs_per_block,
            "restart_from_height": from_h,
            "target_height": target,
            "blocks_behind": behind,
            "txs_behind": replay_txs,
            "restart_to_rpc_seconds": round(t_rpc - t_restart, 3),
            "catchup_seconds": round(t_caught - t_restart, 3),
            "sync_seconds": round(sync_s, 3),
            "in_sync_seconds": round(t_sync - t_restart, 3),
            "catchup_blocks_per_s": round(behind / sync_s, 1) if sync_s > 0 else None,
            "catchup_txs_per_s": round(replay_txs / sync_s, 1) if sync_s > 0 else None,
            "caught_up": cur.get("height", 0) >= target,
            "net_blocks": net_blocks,
            "net_txs": net_txs,
            "net_window_seconds": round(window, 3),
            "net_blocks_per_s": round(net_blocks / window, 2),
            "net_tx_per_s": round(net_txs / window, 1),
            "load_sent": load.sent,
            "load_admitted": load.admitted,
            "load_refused": load.refused,
            "load_errors": load.errors,
            "agreement": agreement,
            "agreed": all(a["agreed"] for a in agreement),
        }
        return result
    finally:
        if load is not None:
            load.stop_event.set()
        if obs is not None:
            obs.stop_event.set()
        net.close()
        if args.keep:
            print(f"[done] kept {workdir}", flush=True)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def print_table(r: dict[str, Any]) -> None:
    from rich.console import Console

    console = Console()
    console.print(
        f"[bold]huzhu catch-up[/]: {r['validators']} validators, one stopped by {r['stop']}, "
        f"{r['txs_per_block']} txs/block, block_time_ms {r['block_time_ms']}"
    )
    keys = (
        "blocks_behind",
        "txs_behind",
        "restart_to_rpc_seconds",
        "catchup_seconds",
        "sync_seconds",
        "in_sync_seconds",
        "catchup_blocks_per_s",
        "catchup_txs_per_s",
        "net_blocks_per_s",
        "net_tx_per_s",
        "net_window_seconds",
        "load_admitted",
        "load_refused",
        "load_errors",
        "caught_up",
        "agreed",
    )
    console.print(metric_table(r, keys))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--validators", type=int, default=4)
    p.add_argument("--blocks", type=int, default=1000, help="blocks committed while it is down")
    p.add_argument("--block-time-ms", type=int, default=100, help="genesis block_time_ms")
    p.add_argument(
        "--timeout-propose-ms",
        type=int,
        default=300,
        help="config.toml timeout_propose_ms (the other timeouts are scaled from it)",
    )
    p.add_argument("--txs-per-block", type=int, default=20, help="transfers sent per new block")
    p.add_argument("--kill", action="store_true", help="SIGKILL the node instead of SIGTERM")
    p.add_argument(
        "--base-port",
        type=int,
        default=None,
        help="RPC ports base..base+N-1, P2P base+1000.. (default: a free range below the "
        "kernel's ephemeral range, where an outgoing connection could hold a stopped node's port)",
    )
    p.add_argument("--json", dest="json_out", required=True)
    p.add_argument("--keep", action="store_true", help="keep the node directories and logs")
    args = p.parse_args(argv)
    result = run(args)
    Path(args.json_out).write_text(json.dumps(result, indent=2))
    print_table(result)
    return 0 if result["agreed"] and result["caught_up"] else 1


if __name__ == "__main__":
    sys.exit(main())
