"""``huzhu testnet``: generate the files of an N-validator network (PROTOCOL.md section 8).

Layout written under ``--out DIR``::

    DIR/genesis.json             the network's genesis
    DIR/node0 .. DIR/node{N-1}   each a node home: config.toml, genesis.json, node_key.json
    DIR/keys/operatorI.json      the operator account of validator I
    DIR/keys/treasury.json       only when the template names no treasury
    DIR/keys/registrar.json      only when the template names no registrar
    DIR/keys/memberI.json        only without a template: the funded member accounts
    DIR/keys/hospital.json       only without a template: the medical pool's attestor
    DIR/keys/stationI.json       only without a template: the rainfall pool's weather stations

Node I listens for JSON-RPC on ``base_port + I`` and for peers on ``base_port + 1000 + I``, on
127.0.0.1, and lists every other node as a persistent peer (``node id @ host:port``); its node
key is its consensus key. With ``--hostnames`` (docker compose, one container per node) every
node listens on 0.0.0.0 at ``base_port`` (RPC) and ``base_port + 1000`` (P2P) inside its own
container, and peers are addressed by service name (``node3:27657``).

Keys are written in clear (mode 0600): a testnet is for testing. Real validators create their
key with ``huzhu keys new`` and HUZHU_PASSPHRASE.

The template supplies everything but ``validators``; the validators' operators are added to
``params.operators``. Without a template the network takes the shape of the repository's
localnet genesis (state/devkeys.py: params, pools, funded members) with fresh random keys,
since the development keys are public.
"""

from __future__ import annotations

import copy
import json
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from node.config import (
    DEFAULT_RPC_PORT,
    Home,
    NodeConfig,
    P2PConfig,
    RpcConfig,
    write_config,
)
from node.durable import write_durably
from node.keys import write_key
from state.crypto import KEY_LEN, Signer
from state.devkeys import LOCALNET_KEY_NAMES, localnet_genesis
from state.genesis import parse_genesis

P2P_PORT_OFFSET = 1000
MAX_VALIDATORS = 100  # a generator bound, far above params.max_validators' default


class TestnetError(ValueError):
    """The testnet cannot be generated; the message says why (nothing was written)."""

    __test__ = False  # not a pytest test class despite the name


@dataclass(frozen=True, slots=True)
class TestnetNode:
    __test__ = False

    name: str
    home: Path
    node_id: str
    rpc_listen: str
    p2p_listen: str
    rpc_url: str  # where a client reaches it: this host, or with --hostnames the compose network


@dataclass(frozen=True, slots=True)
class Testnet:
    __test__ = False

    out: Path
    chain_id: str
    nodes: list[TestnetNode]


def _fresh() -> Signer:
    return Signer(os.urandom(KEY_LEN))


def _now_rfc3339() -> str:
    return datetime.now(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def default_template(keys: dict[str, Signer]) -> dict[str, Any]:
    """The localnet genesis with fresh keys (filled into ``keys``: treasury, registrar,
    memberI, the attestors), no validators and genesis_time now."""
    for name in LOCALNET_KEY_NAMES:
        keys[name] = _fresh()
    return localnet_genesis(
        {name: keys[name].public_key for name in LOCALNET_KEY_NAMES},
        genesis_time=_now_rfc3339(),
        validators=None,
    )


def load_template(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise TestnetError(f"cannot read template {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise TestnetError(f"template {path} is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise TestnetError(f"template {path} must be a JSON object")
    return doc


def _check_out(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise TestnetError(f"{out} exists and is not an empty directory; not overwriting it")


def create_testnet(
    out: Path,
    validators: int,
    *,
    template: dict[str, Any] | None = None,
    base_port: int = DEFAULT_RPC_PORT,
    hostnames: bool = False,
) -> Testnet:
    """Generate the tree; the genesis is validated before the first file is written."""
    out = Path(out)
    if not 1 <= validators <= MAX_VALIDATORS:
        raise TestnetError(f"--validators must be in 1..{MAX_VALIDATORS}")
    last = base_port + P2P_PORT_OFFSET + (0 if hostnames else validators - 1)
    if base_port < 1 or last > 65535:
        raise TestnetError(
            f"--base-port {base_port}: ports up to {last} needed, must stay within 1..65535"
        )
    _check_out(out)

    keys: dict[str, Signer] = {}
    doc = copy.deepcopy(template) if template is not None else default_template(keys)
    if "validators" in doc:
        print(
            "testnet: the template's validators are replaced by the generated ones", file=sys.stderr
        )
    # A template may leave out what testnet can fill without guessing: params (defaults, and
    # the treasury/registrar keys below), accounts and pools (none), genesis_time (now).
    # chain_id has no sensible default and must be given.
    for key, empty in (("params", dict), ("accounts", list), ("pools", list)):
        if doc.get(key) is None:
            doc[key] = empty()
    if doc.get("genesis_time") is None:
        doc["genesis_time"] = _now_rfc3339()
    params = doc["params"]
    if not isinstance(params, dict):
        raise TestnetError("params: the template must have a params object")
    # "names no treasury or no registrar (absent or empty)": a missing key, null, "" or [].
    if not params.get("treasury"):
        keys["treasury"] = _fresh()
        params["treasury"] = keys["treasury"].public_key.hex()
    if not params.get("registrars"):
        keys["registrar"] = _fresh()
        params["registrars"] = [keys["registrar"].public_key.hex()]
    operators = params.get("operators")
    if operators is None:
        operators = params["operators"] = []
    if not isinstance(operators, list):
        raise TestnetError("params.operators: must be a list")

    node_keys = [_fresh() for _ in range(validators)]
    rpc_ports = [base_port + (0 if hostnames else i) for i in range(validators)]
    p2p_ports = [base_port + P2P_PORT_OFFSET + (0 if hostnames else i) for i in range(validators)]
    hosts = [f"node{i}" if hostnames else "127.0.0.1" for i in range(validators)]
    vals = []
    for i in range(validators):
        keys[f"operator{i}"] = op = _fresh()
        if op.public_key.hex() not in operators:
            operators.append(op.public_key.hex())
        vals.append(
            {
                "name": f"node{i}",
                "operator": op.public_key.hex(),
                "consensus_key": node_keys[i].public_key.hex(),
                "power": 1,
                "p2p": f"{hosts[i]}:{p2p_ports[i]}",
            }
        )
    doc["validators"] = vals
    try:
        genesis = parse_genesis(doc)
    except ValueError as exc:  # GenesisError names the field
        raise TestnetError(f"genesis: {exc}") from None

    # -- everything checked: write --
    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    write_durably(out / "genesis.json", text.encode("utf-8"))
    keydir = out / "keys"
    keydir.mkdir(exist_ok=True)
    for name, signer in keys.items():
        write_key(keydir / f"{name}.json", signer)
    listen_host = "0.0.0.0" if hostnames else "127.0.0.1"
    nodes = []
    for i in range(validators):
        home = Home(out / f"node{i}")
        home.root.mkdir()
        write_durably(home.genesis, text.encode("utf-8"))
        write_key(home.node_key, node_keys[i])
        peers = [
            f"{node_keys[j].public_key.hex()}@{hosts[j]}:{p2p_ports[j]}"
            for j in range(validators)
            if j != i
        ]
        cfg = NodeConfig(
            moniker=f"node{i}",
            rpc=RpcConfig(listen=f"{listen_host}:{rpc_ports[i]}"),
            p2p=P2PConfig(listen=f"{listen_host}:{p2p_ports[i]}", peers=peers),
        )
        write_config(home.config, cfg)
        nodes.append(
            TestnetNode(
                name=f"node{i}",
                home=home.root,
                node_id=node_keys[i].public_key.hex(),
                rpc_listen=cfg.rpc.listen,
                p2p_listen=cfg.p2p.listen,
                rpc_url=f"http://{hosts[i]}:{rpc_ports[i]}/",
            )
        )
    return Testnet(out=out, chain_id=genesis.chain_id, nodes=nodes)


def print_summary(net: Testnet) -> None:
    print(f"testnet {net.chain_id} written to {net.out}")
    for n in net.nodes:
        print(f"  {n.name}: home {n.home}  rpc {n.rpc_listen}  p2p {n.p2p_listen}")
    print(f"  keys: {net.out / 'keys'}")
