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
from collections.abc import Mapping
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
LOCALNET_POOLS = (
    ("medical", "Medical mutual aid"),
    ("disaster", "Disaster relief"),
    ("rainfall", "Rainfall crop cover"),
)
#: the medical pool's attestor: a hospital that confirms diagnoses (section 10)
LOCALNET_HOSPITAL = "hospital"
#: the rainfall pool's attestors: weather stations that report the season's rainfall
LOCALNET_STATIONS = ("station0", "station1", "station2")
#: attestors pay only fees, so they get far less than a member
LOCALNET_ATTESTOR_BALANCE = 10_000
#: every key the localnet genesis names besides the validators', by key-file name (huzhu
#: testnet writes each of them to DIR/keys/NAME.json when it makes the localnet)
LOCALNET_KEY_NAMES = (
    "treasury",
    "registrar",
    *(f"member{i}" for i in range(LOCALNET_MEMBERS)),
    LOCALNET_HOSPITAL,
    *LOCALNET_STATIONS,
)


def dev_signer(label: str) -> Signer:
    """The DEVELOPMENT-ONLY key named `label`: seed = sha256("huzhu-dev-key/v1/" + label).

    Public knowledge by construction; only for localnets, tests and the simulator."""
    return Signer(sha256(DEV_KEY_DOMAIN + label.encode("utf-8")))


def dev_address(label: str) -> str:
    """Hex address of dev_signer(label)."""
    return dev_signer(label).public_key.hex()


def localnet_genesis(keys: Mapping[str, bytes] | None = None, **overrides: Any) -> dict[str, Any]:
    """The localnet genesis document committed as the repository's genesis.json.

    `keys` maps each of ``LOCALNET_KEY_NAMES`` to its public key (default: the development
    keys); `huzhu testnet` passes fresh ones, so the shape stays and the secrets are new.
    Keyword arguments of :func:`state.genesis_builder.genesis_doc` replace its parts."""
    pub = {name: dev_signer(name).public_key for name in LOCALNET_KEY_NAMES}
    pub.update(keys or {})
    funded = [f"member{i}" for i in range(LOCALNET_MEMBERS)] + ["registrar"]
    attestors = [LOCALNET_HOSPITAL, *LOCALNET_STATIONS]
    args: dict[str, Any] = {
        "chain_id": LOCALNET_CHAIN_ID,
        "genesis_time": LOCALNET_GENESIS_TIME,
        "treasury": pub["treasury"],
        "registrars": [pub["registrar"]],
        "validators": [
            ValidatorSpec(
                name=f"node{i}",
                operator=dev_signer(f"operator{i}").public_key,
                consensus_key=dev_signer(f"validator{i}").public_key,
                p2p=f"127.0.0.1:{LOCALNET_P2P_BASE_PORT + i}",
            )
            for i in range(LOCALNET_VALIDATORS)
        ],
        "accounts": [(pub[n], LOCALNET_BALANCE) for n in funded]
        + [(pub[n], LOCALNET_ATTESTOR_BALANCE) for n in attestors],
        "params": dict(LOCALNET_GOV),
        "pools": localnet_pools(pub),
    }
    args.update(overrides)
    return genesis_doc(**args)


#: short governance periods, so a proposal goes from filing to enactment in about 40 s; 30
#: blocks of voting leave time to paste the README's ballots one by one
LOCALNET_GOV: dict[str, int] = {"gov_voting_period": 30, "gov_timelock": 10}
#: the rainfall pool's index: a season's rainfall of 200 mm or more pays every member 500
LOCALNET_TRIGGER: dict[str, Any] = {
    "feed": "rainfall_mm",
    "op": ">=",
    "threshold": 200,
    "payout": 500,
}


#: blocks one contribution covers in the medical and rainfall pools (about 17 minutes at one
#: block a second), so nobody lapses while following the README at a human pace
LOCALNET_LONG_PERIOD = 1000


def localnet_pools(keys: Mapping[str, bytes] | None = None) -> list[dict[str, Any]]:
    """The localnet's pools, all with the short governance periods (section 10 in two of them):

    - medical: claims decided by one hospital attestor (attest_quorum 1); a minute of blocks
      to attest before the members decide instead, and 10 blocks of public notice in which
      members may object;
    - disaster: every param at its default, claims decided by member vote (section 4);
    - rainfall: parametric cover: three weather stations report each round's rainfall, the
      median of their three reports settles it, and 200 mm or more opens an event that pays
      each member up to 500.
    """
    pub = {name: dev_signer(name).public_key for name in LOCALNET_KEY_NAMES}
    pub.update(keys or {})
    extra: dict[str, dict[str, Any]] = {
        "medical": {
            "period": LOCALNET_LONG_PERIOD,
            "claim_mode": "attested",
            "attestors": [pub[LOCALNET_HOSPITAL].hex()],
            "attest_quorum": 1,
            "vote_window": 60,
            "notice_period": 10,
        },
        "rainfall": {
            "period": LOCALNET_LONG_PERIOD,
            "attestors": [pub[s].hex() for s in LOCALNET_STATIONS],
            "attest_quorum": 3,
            "trigger": dict(LOCALNET_TRIGGER),
        },
    }
    return [
        {"id": pid, "name": name, "params": {**LOCALNET_GOV, **extra.get(pid, {})}}
        for pid, name in LOCALNET_POOLS
    ]


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
