"""DEVELOPMENT-ONLY deterministic keys, and the localnet genesis built from them.

!!! NEVER USE THESE KEYS FOR ANYTHING OF VALUE. !!!
Every secret here is sha256 of a public label, so anyone can recompute it. They exist so
that tests, the simulator and the committed localnet `genesis.json` are reproducible.

Regenerate the top-level genesis file with:

    python -m state.devkeys genesis > genesis.json
"""

from __future__ import annotations

import json
import sys
from typing import Any

from state.crypto import Signer, sha256
from state.params import ChainParams

DEV_KEY_DOMAIN = b"huzhu-dev-key/v1/"
LOCALNET_CHAIN_ID = "huzhu-localnet"
LOCALNET_GENESIS_TIME = "2026-11-26T00:00:00Z"
LOCALNET_VALIDATORS = 4
LOCALNET_MEMBERS = 10
LOCALNET_BALANCE = 1_000_000
LOCALNET_P2P_BASE_PORT = 27657
LOCALNET_POOLS = (("medical", "Medical mutual aid"), ("disaster", "Disaster relief"))


def dev_signer(label: str) -> Signer:
    """The DEVELOPMENT-ONLY key named `label`: seed = sha256("huzhu-dev-key/v1/" + label).

    Public knowledge by construction; only for localnets, tests and the simulator."""
    return Signer(sha256(DEV_KEY_DOMAIN + label.encode("utf-8")))


def dev_address(label: str) -> str:
    """Hex address of dev_signer(label)."""
    return dev_signer(label).public_key.hex()


def localnet_genesis() -> dict[str, Any]:
    """The localnet genesis document committed as the repository's genesis.json."""
    defaults = ChainParams(treasury=b"\x00" * 32)
    return {
        "chain_id": LOCALNET_CHAIN_ID,
        "genesis_time": LOCALNET_GENESIS_TIME,
        "params": {
            "min_fee": defaults.min_fee,
            "max_tx_bytes": defaults.max_tx_bytes,
            "max_block_txs": defaults.max_block_txs,
            "block_time_ms": defaults.block_time_ms,
            "epoch_length": defaults.epoch_length,
            "max_validators": defaults.max_validators,
            "min_validators": defaults.min_validators,
            "max_votes_per_elector": defaults.max_votes_per_elector,
            "treasury": dev_address("treasury"),
            "registrars": [dev_address("registrar")],
            "operators": [],
        },
        "validators": [
            {
                "name": f"node{i}",
                "operator": dev_address(f"operator{i}"),
                "consensus_key": dev_address(f"validator{i}"),
                "power": 1,
                "p2p": f"127.0.0.1:{LOCALNET_P2P_BASE_PORT + i}",
            }
            for i in range(LOCALNET_VALIDATORS)
        ],
        "accounts": [
            {"address": dev_address(f"member{i}"), "balance": LOCALNET_BALANCE}
            for i in range(LOCALNET_MEMBERS)
        ]
        + [{"address": dev_address("registrar"), "balance": LOCALNET_BALANCE}],
        "pools": [{"id": pid, "name": name, "params": {}} for pid, name in LOCALNET_POOLS],
    }


def genesis_text() -> str:
    """The exact text of the committed genesis.json (2-space indent, trailing newline)."""
    return json.dumps(localnet_genesis(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["genesis"]:
        sys.stdout.write(genesis_text())
        return 0
    if len(args) == 2 and args[0] == "address":
        sys.stdout.write(dev_address(args[1]) + "\n")
        return 0
    sys.stderr.write(
        "usage: python -m state.devkeys genesis > genesis.json\n"
        "       python -m state.devkeys address LABEL\n"
        "DEVELOPMENT-ONLY keys: never use them for anything of value.\n"
    )
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
