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
from state.genesis_builder import GENESIS_TIME, ValidatorSpec, genesis_doc

DEV_KEY_DOMAIN = b"huzhu-dev-key/v1/"
LOCALNET_CHAIN_ID = "huzhu-localnet"
LOCALNET_GENESIS_TIME = GENESIS_TIME
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


def localnet_genesis(**overrides: Any) -> dict[str, Any]:
    """The localnet genesis document committed as the repository's genesis.json; keyword
    arguments of :func:`state.genesis_builder.genesis_doc` replace its parts (`huzhu testnet`
    keeps the shape with fresh keys)."""
    args: dict[str, Any] = {
        "chain_id": LOCALNET_CHAIN_ID,
        "genesis_time": LOCALNET_GENESIS_TIME,
        "treasury": dev_signer("treasury").public_key,
        "registrars": [dev_signer("registrar").public_key],
        "validators": [
            ValidatorSpec(
                name=f"node{i}",
                operator=dev_signer(f"operator{i}").public_key,
                consensus_key=dev_signer(f"validator{i}").public_key,
                p2p=f"127.0.0.1:{LOCALNET_P2P_BASE_PORT + i}",
            )
            for i in range(LOCALNET_VALIDATORS)
        ],
        "accounts": [
            (dev_signer(f"member{i}").public_key, LOCALNET_BALANCE) for i in range(LOCALNET_MEMBERS)
        ]
        + [(dev_signer("registrar").public_key, LOCALNET_BALANCE)],
        "params": dict(LOCALNET_GOV),
        "pools": localnet_pools(),
    }
    args.update(overrides)
    return genesis_doc(**args)


#: short governance periods, so a proposal goes from filing to enactment in about 40 s; 30
#: blocks of voting leave time to paste the README's ballots one by one
LOCALNET_GOV: dict[str, int] = {"gov_voting_period": 30, "gov_timelock": 10}


def localnet_pools() -> list[dict[str, Any]]:
    """The localnet's pools: default params but the short governance periods."""
    return [{"id": pid, "name": name, "params": dict(LOCALNET_GOV)} for pid, name in LOCALNET_POOLS]


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
