"""``huzhu query WHAT``: one subcommand per read of node/methods.py ``METHODS``.

The subcommands, their arguments and their checks come from the table, so a new RPC read
is on the command line without a line here: each required param is a positional argument
(as is an optional one the table marks ``positional``, e.g. ``block [HEIGHT]``), every other
one a ``--flag``; the param's kind gives the argparse type and choices. The answer is printed
as the JSON the method returned.
"""

from __future__ import annotations

import argparse
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
        p.set_defaults(func=cmd_query, rpc_method=m.name)


def query_params(args: argparse.Namespace) -> dict[str, Any]:
    """The RPC params of a parsed ``huzhu query`` command (None: not given)."""
    return {p.name: getattr(args, _DEST + p.name) for p in BY_NAME[args.rpc_method].params}


def cmd_query(args: argparse.Namespace) -> int:
    from node.cli import _print_json, _rpc_url
    from node.client import SyncRpcClient

    _print_json(SyncRpcClient(_rpc_url(args)).request(args.rpc_method, query_params(args)))
    return 0
