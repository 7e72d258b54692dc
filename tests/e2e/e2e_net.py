"""Helpers of the end-to-end tests (shared through conftest.py): real `huzhu start` processes.

The processes, ports, logs and RPC calls are node.localnet_harness's; this module adds what
the tests share: fast consensus timeouts, a genesis of funded development members, and
building, sending and loading transactions. Every process a test starts is killed at
teardown, whatever happened; each node's log is kept in the tmp dir and its tail is part of
every wait that times out.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from node.jsonrpc import RpcError
from node.localnet_harness import (
    DEFAULT_WAIT_S,
    ROOT,
    RPC_FAILURES,
    LocalNet,
    free_base_port,
    wait_for,
)
from state.crypto import Signer
from state.devkeys import dev_signer
from state.genesis_builder import genesis_doc

__all__ = [
    "CHAIN_ID",
    "DEFAULT_WAIT_S",
    "FAST_CONSENSUS",
    "REGISTRAR",
    "ROOT",
    "TREASURY",
    "Load",
    "Net",
    "RpcError",
    "build",
    "free_base_port",
    "genesis_template",
    "member",
    "new_net",
    "send",
    "wait_for",
]

Net = LocalNet  # what the tests annotate a network with
CHAIN_ID = "huzhu-e2e"

# short timeouts so blocks come fast and a dead proposer costs little (ms)
FAST_CONSENSUS = {
    "timeout_propose_ms": 600,
    "timeout_propose_delta_ms": 200,
    "timeout_prevote_ms": 200,
    "timeout_prevote_delta_ms": 100,
    "timeout_precommit_ms": 200,
    "timeout_precommit_delta_ms": 100,
}


def new_net(
    root: Path, n: int, template: dict[str, Any], config: dict[str, Any] | None = None
) -> LocalNet:
    """`n` validators from `template` under `root`, not started: fast consensus timeouts,
    then `config` (a mapping per section updates that section's keys)."""
    sections: dict[str, Any] = {"consensus": dict(FAST_CONSENSUS)}
    for key, value in (config or {}).items():
        if isinstance(value, dict):
            sections.setdefault(key, {}).update(value)
        else:
            sections[key] = value
    return LocalNet.create(root, n, template, config=sections)


def member(i: int) -> Signer:
    return dev_signer(f"e2e-member-{i}")


TREASURY = dev_signer("e2e-treasury")
REGISTRAR = dev_signer("e2e-registrar")


def genesis_template(
    *,
    members: int = 8,
    balance: int = 1_000_000,
    params: dict[str, Any] | None = None,
    pools: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A template for `huzhu testnet --genesis-template`: fast blocks, funded dev members."""
    return genesis_doc(
        chain_id=CHAIN_ID,
        treasury=TREASURY.public_key,
        registrars=[REGISTRAR.public_key],
        params={"block_time_ms": 200, "epoch_length": 100000, **(params or {})},
        validators=None,
        accounts=[(member(i).public_key, balance) for i in range(members)],
        pools=pools if pools is not None else [{"id": "medical", "name": "Medical aid"}],
    )


def build(net: Net, i: int, signer: Signer, type: str, payload: dict[str, Any], **kw: Any) -> bytes:
    """Signed wire bytes; nonce defaults to the node's `pending_nonce`, fee to 1."""
    from state.tx import build_tx

    nonce = kw.get("nonce")
    if nonce is None:
        nonce = net.call(i, "account", address=signer.public_key.hex())["pending_nonce"]
    chain = kw.get("chain_id", CHAIN_ID)
    return build_tx(signer, chain, type, nonce, kw.get("fee", 1), payload).wire


def send(
    net: Net,
    i: int,
    signer: Signer,
    type: str,
    payload: dict[str, Any],
    mode: str = "commit",
    **kw: Any,
) -> dict[str, Any]:
    """Build, sign and broadcast through node i's JSON-RPC; the broadcast_tx result."""
    wire = build(net, i, signer, type, payload, **kw)
    return net.call(i, "broadcast_tx", timeout=40, tx=wire.hex(), mode=mode)


class Load:
    """Background transfers (sync mode) from `senders` through `nodes`, until `stop()`.

    Each sender always talks to the same node and counts its nonces locally, so it never
    races gossip; `acked` holds the hashes of every admitted transaction (what a client was
    told "accepted"), so a test can check that none of them is lost."""

    def __init__(self, net: Net, nodes: list[int], senders: list[int]) -> None:
        import threading

        self.net = net
        self.nodes = nodes
        self.senders = senders
        self.acked: list[str] = []
        self.refused: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        from state.tx import build_tx

        route = {s: self.nodes[k % len(self.nodes)] for k, s in enumerate(self.senders)}
        nonce = {
            s: self.net.call(route[s], "account", address=member(s).public_key.hex())[
                "pending_nonce"
            ]
            for s in self.senders
        }
        while not self._stop.is_set():
            for s in self.senders:
                to = TREASURY.public_key
                wire = build_tx(
                    member(s), CHAIN_ID, "transfer", nonce[s], 1, {"to": to, "amount": 1}
                )
                try:
                    r = self.net.call(route[s], "broadcast_tx", tx=wire.wire.hex(), mode="sync")
                except RPC_FAILURES:
                    continue
                if r["code"] == 0:
                    self.acked.append(r["hash"])
                    nonce[s] += 1
                else:
                    self.refused[r["error"]] = self.refused.get(r["error"], 0) + 1
            time.sleep(0.01)
