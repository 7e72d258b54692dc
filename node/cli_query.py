"""``huzhu query WHAT``: one subcommand per read of node/methods.py ``METHODS``.

The subcommands, their arguments and their checks come from the table, so a new RPC read
is on the command line without a line here: each required param is a positional argument
(as is an optional one the table marks ``positional``, e.g. ``block [HEIGHT]``), every other
one a ``--flag``; the param's kind gives the argparse type and choices (a ``flag`` kind is a bare
switch). The answer is printed as the JSON the method returned.

A read with a ``prove`` param also takes ``--genesis FILE`` or ``--trust HEIGHT:BLOCKHASH``:
with ``--prove`` one of them is required (the trust anchor, section 11), and the command
prints ``{"answer": ..., "verified": ...}`` after node.light has checked the answer from that
anchor, or exits 1 with ``error: verification failed: <the failed check>``.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from node.methods import BY_NAME, METHODS

_DEST = "param_"  # argparse dest prefix: a param cannot clash with --rpc, func, command...


def add_query_parsers(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], default_url: str
) -> None:
    """Add ``query`` and its subcommands to the ``huzhu`` parser."""
    q = sub.add_parser("query", help="read from a node")
    what = q.add_subparsers(dest="what", required=True, metavar="WHAT")
    for m in METHODS:
        if not m.query:
            continue
        p = what.add_parser(m.cli_name, help=m.summary)
        p.add_argument("--rpc", default=None, help=f"node URL (default {default_url})")
        for param in m.params:
            kwargs: dict[str, Any] = {"help": param.doc}
            if param.kind.flag:
                p.add_argument(
                    "--" + param.name.replace("_", "-"),
                    dest=_DEST + param.name,
                    action="store_true",
                    default=None,
                    help=param.doc,
                )
                continue
            if param.kind.cli is not None:
                kwargs["type"] = param.kind.cli
            if param.kind.choices:
                kwargs["choices"] = param.kind.choices
            if param.cli_positional:
                p.add_argument(
                    _DEST + param.name,
                    metavar=param.name,
                    nargs=None if param.required else "?",
                    **kwargs,
                )
            else:
                p.add_argument(
                    "--" + param.name.replace("_", "-"),
                    dest=_DEST + param.name,
                    metavar=None if param.kind.choices else param.name.upper(),
                    required=param.required,
                    **kwargs,
                )
        if any(param.name == "prove" for param in m.params):
            anchor = p.add_mutually_exclusive_group()
            anchor.add_argument(
                "--genesis",
                metavar="FILE",
                help="with --prove: trust anchor, the genesis document you hold",
            )
            anchor.add_argument(
                "--trust",
                metavar="HEIGHT:BLOCKHASH",
                help="with --prove: trust anchor, a block you know the hash of",
            )
        p.set_defaults(func=cmd_query, rpc_method=m.name, query_parser=p)


def query_params(args: argparse.Namespace) -> dict[str, Any]:
    """The RPC params of a parsed ``huzhu query`` command (None: not given)."""
    return {p.name: getattr(args, _DEST + p.name) for p in BY_NAME[args.rpc_method].params}


def cmd_query(args: argparse.Namespace) -> int:
    from node.cli import _print_json, _rpc_url
    from node.client import SyncRpcClient

    client = SyncRpcClient(_rpc_url(args))
    params = query_params(args)
    genesis_file = getattr(args, "genesis", None)
    trust = getattr(args, "trust", None)
    if not params.get("prove"):
        if genesis_file is not None or trust is not None:
            args.query_parser.error("--genesis and --trust go with --prove")
        _print_json(client.request(args.rpc_method, params))
        return 0
    if genesis_file is None and trust is None:
        args.query_parser.error(
            "--prove needs a trust anchor: --genesis FILE or --trust HEIGHT:BLOCKHASH"
        )
    return _verified(client, args.rpc_method, params, genesis_file, trust)


def _verified(
    client: Any, method: str, params: dict[str, Any], genesis_file: str | None, trust: str | None
) -> int:
    """Run a verified read; exit status 1 with the failed check on refusal."""
    import sys

    from node.cli import _print_json
    from node.light import VerifyError

    genesis = None
    if genesis_file is not None:
        try:
            with open(genesis_file, encoding="utf-8") as fh:
                genesis = json.load(fh)
        except (OSError, ValueError) as exc:
            print(f"error: --genesis {genesis_file}: {exc}", file=sys.stderr)
            return 1
    query = {k: v for k, v in params.items() if k != "prove" and v is not None}
    try:
        answer, verified = client.verified_request(method, query, genesis=genesis, trust=trust)
    except VerifyError as exc:
        print(f"error: verification failed: {exc}", file=sys.stderr)
        return 1
    _print_json({"answer": answer, "verified": verified})
    return 0
