"""``huzhu tx TYPE``: one subcommand per registered transaction type (state/txtypes.py).

Each type's flags come from its fields' kinds, so a new type gets its subcommand without an
edit here. The parsed values are the payload's JSON form; the client checks them against the
type's schema (payload_from_json) before signing, so a bad value is named, not sent.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from node.cli import DEFAULT_RPC_URL, RPC_ENV, CliError, _print_json, _rpc_url
from node.rpcspec import cli_nonneg
from state.crypto import sha256
from state.txtypes import REGISTRY, TxType

#: subcommand (and alias) -> its type
_BY_COMMAND: dict[str, TxType] = {}
for _t in REGISTRY:
    _BY_COMMAND[_t.cli_name] = _t
    _BY_COMMAND[_t.name] = _t


def add_tx_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `huzhu tx` and its subcommands to the top-level subparsers."""
    tx = sub.add_parser("tx", help="build, sign and submit a transaction")
    types = tx.add_subparsers(dest="tx_type", required=True, metavar="TYPE")
    for t in REGISTRY:
        # Section 8 writes `huzhu tx TYPE` with TYPE a section 4 name, so `register_candidate`
        # is accepted as well as the dashed spelling of the other commands.
        aliases = [t.name] if t.name != t.cli_name else []
        p = types.add_parser(t.cli_name, help=t.summary, aliases=aliases)
        p.set_defaults(tx_type=t.cli_name, func=cmd_tx)
        p.add_argument("--key", required=True, help="the sender's key file")
        p.add_argument(
            "--rpc", default=None, help=f"node URL (default ${RPC_ENV} or {DEFAULT_RPC_URL})"
        )
        p.add_argument("--fee", type=cli_nonneg, help="default: the chain's min_fee")
        p.add_argument("--nonce", type=cli_nonneg, help="default: the account's pending_nonce")
        # Default commit (our choice; section 8 leaves it open): the command answers with
        # the execution result and exits non-zero when the rule refused, and a script's next
        # command sees the new state. `--mode sync` returns after admission.
        p.add_argument("--mode", choices=("async", "sync", "commit"), default="commit")
        for f in t.fields:
            f.kind.add_argument(p, f)


def parsed_payload(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """The protocol type name and the JSON payload the parsed `huzhu tx` flags spell."""
    t = _BY_COMMAND[args.tx_type]
    return t.name, {f.name: f.kind.from_cli(getattr(args, f.name)) for f in t.fields}


def hash_files(tx_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The payload with each field whose kind hashes a file (`propose --text FILE`) holding
    the hex sha256 of that file's bytes instead of its path (state/ does no I/O)."""
    out = dict(payload)
    for f in _BY_COMMAND[tx_type].fields:
        if f.kind.cli_hashes_file:
            path = Path(out[f.name])
            try:
                out[f.name] = sha256(path.read_bytes()).hex()
            except OSError as exc:
                raise CliError(f"{f.flag} {path}: {exc.strerror or exc}") from None
    return out


def cmd_tx(args: argparse.Namespace) -> int:
    from node.client import SyncRpcClient
    from node.keys import load_key

    signer = load_key(Path(args.key))
    tx_type, payload = parsed_payload(args)
    payload = hash_files(tx_type, payload)
    client = SyncRpcClient(_rpc_url(args))
    try:
        result = client.build_and_send(
            signer, tx_type, payload, fee=args.fee, nonce=args.nonce, mode=args.mode
        )
    except ValueError as exc:  # the payload breaks the type's schema (names the field)
        raise CliError(f"invalid payload: {exc}") from None
    _print_json(result)
    if result.get("code") != 0:
        print(
            f"error: transaction {result.get('error')} (code {result.get('code')})"
            + (f": {result['log']}" if result.get("log") else ""),
            file=sys.stderr,
        )
        return 1
    return 0
