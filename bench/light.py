"""Light-client figures (section 11): proof size and verification time of one read, and the
time to verify a read at height 10,000 from the genesis file, following every set change.

    python bench/light.py [--height 10000] [--epoch 100] [--accounts 100000] [--repeat 200]
                          [--json OUT]

Builds the chain in process (tests/node/lightchain.py: real execution, headers, and
precommits signed by the four validators' dev keys; member0 re-votes every epoch, so every
election at the end of each epoch writes a new set), keeping every height, with `--accounts`
more funded accounts in genesis so that proofs have the depth of a real state. Then:

* ``account`` / ``claim``: the JSON bytes of ``proof`` alone and of the whole answer (proof,
  header, commit of 4 signatures), and the time node/light.py takes to check one answer
  whose validator set is already followed (proof + header + commit), median of `--repeat`;
* ``follow_from_genesis``: the time to read the anchor from the genesis document (it is
  validated whole, so it grows with the accounts in it), the time to follow the set from
  genesis through every change up to `--height` and check the read there with the answers
  already fetched (pure verification), and all of it through the client library over an
  in-process JSON-RPC server (HTTP and the anchor included);
* ``build_s``: how long building the chain took (not a figure of the verifier).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "node"))

from light_chain import DevLightChain  # noqa: E402

from node.client import RpcClient  # noqa: E402
from node.config import RpcConfig  # noqa: E402
from node.light import Follower, genesis_anchor  # noqa: E402
from node.rpc import RpcServer  # noqa: E402
from node.service import NodeService  # noqa: E402
from state.devkeys import dev_signer  # noqa: E402


def _size(obj: Any) -> int:
    return len(json.dumps(obj, separators=(",", ":")).encode())


async def run(height: int, epoch: int, accounts: int, repeat: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    lc = DevLightChain(epoch_length=epoch, state_history=0, extra_accounts=accounts)
    lc.start_elections()
    claim_id, _ = lc.populate()
    lc.run_to(height, rotate_every=epoch)
    build_s = time.perf_counter() - t0
    svc = NodeService(lc.parts())
    m1 = dev_signer("member1").public_key
    changes = [e for e in await svc.validator_changes(1, 100_000) if e <= height]
    # each change proven under the header at e - 1, the last block the previous set signs,
    # which is what the verifier checks (docs/protocol.md, light client step 3) and what the
    # client library asks for; changes come after the anchor (height 1), so e - 1 >= 1
    steps = [(e, await svc.validators(e, True, e - 1)) for e in changes]
    reads = {
        "account": ({"address": m1.hex()}, await svc.account(m1, None, True)),
        "claim": ({"id": claim_id.hex()}, await svc.claim(claim_id, None, True)),
    }
    anchor = genesis_anchor(lc.doc)

    def follow_all() -> Follower:
        f = Follower(anchor)
        for e, answer in steps:
            f.follow(e, answer)
        return f

    out: dict[str, Any] = {
        "height": height,
        "epoch_length": epoch,
        "accounts": accounts,
        "set_changes": len(steps),
    }
    followed = follow_all()
    for kind, (args, answer) in reads.items():
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            followed.verify_read(kind, args, height, answer)
            times.append(time.perf_counter() - t)
        out[kind] = {
            "proof_bytes": _size(answer["proof"]),
            "proof_levels": len(answer["proof"]["siblings"]),
            "answer_bytes": _size(answer),
            "verify_ms": round(statistics.median(times) * 1000, 3),
        }
    t = time.perf_counter()
    genesis_anchor(lc.doc)
    anchor_s = time.perf_counter() - t
    t = time.perf_counter()
    f = follow_all()
    f.verify_read("account", reads["account"][0], height, reads["account"][1])
    pure_s = time.perf_counter() - t
    server = RpcServer(svc, RpcConfig(listen="127.0.0.1:0"))
    await server.start()
    try:
        async with RpcClient(server.url) as c:
            t = time.perf_counter()
            _, verified = await c.verified_request("account", {"address": m1.hex()}, genesis=lc.doc)
            client_s = time.perf_counter() - t
    finally:
        await server.stop()
    assert verified["validator_changes_followed"] == len(steps)
    out["follow_from_genesis"] = {
        "anchor_from_genesis_file_s": round(anchor_s, 3),
        "pure_verify_s": round(pure_s, 3),
        "client_over_rpc_s": round(client_s, 3),
        "headers_checked": verified["headers_checked"],
    }
    out["build_s"] = round(build_s, 1)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--height", type=int, default=10_000)
    ap.add_argument("--epoch", type=int, default=100)
    ap.add_argument("--accounts", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=200)
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    args = ap.parse_args(argv)
    figures = asyncio.run(run(args.height, args.epoch, args.accounts, args.repeat))
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
