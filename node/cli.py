"""``huzhu``: the command line (PROTOCOL.md section 8, plus query helpers).

Output contract, so that scripts can rely on it: results are JSON on stdout (indented);
problems are one line on stderr starting with ``error:``. Exit status 0 on success, 1 when the
operation failed (node unreachable, JSON-RPC error, refused transaction, bad key file), 2 for
usage errors (argparse's convention).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

# Only the standard library is imported before main() runs: `huzhu start` must install its
# signal handlers within milliseconds of exec (see _record_stop_signals). Keep in step with
# node.config.DEFAULT_RPC_PORT (tests/node/test_cli.py checks they agree).
DEFAULT_RPC_PORT = 26657
DEFAULT_RPC_URL = f"http://127.0.0.1:{DEFAULT_RPC_PORT}"
RPC_ENV = "HUZHU_RPC"

#: what signal.signal installs and returns (None: a handler not installed from Python)
SignalHandler = Callable[[int, FrameType | None], Any] | int | None


def _record_stop_signals() -> tuple[threading.Event, dict[signal.Signals, SignalHandler]]:
    """From now on SIGINT/SIGTERM set the returned event instead of killing the process.

    Why: importing the node (aiohttp, plyvel, pynacl, pydantic) takes most of a second, more
    on a loaded machine. A SIGTERM in that window (localnet stopping its nodes, systemd, a
    test) used to kill `huzhu start` or `huzhu localnet` by the signal (exit status 143) and a
    SIGINT raised KeyboardInterrupt with a traceback, instead of the clean exit 0 that section
    8 promises. The runtime and the localnet supervisor install their own handlers later and
    look at this event for a signal that came first. Also returns the handlers it replaced:
    `main` puts them back when the command ends, so a caller running `main` in-process (tests,
    embedding programs) keeps its own signal handling, and processes it forks later die on
    SIGTERM as multiprocessing's Pool.terminate expects."""
    stop = threading.Event()

    def record(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous: dict[signal.Signals, SignalHandler] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, record)
    return stop, previous


class CliError(Exception):
    """A failure to report on stderr with exit status 1."""


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, ensure_ascii=False))


# --- keys -----------------------------------------------------------------------------------


def cmd_keys_new(args: argparse.Namespace) -> int:
    from node.keys import PASSPHRASE_ENV, generate_key

    signer = generate_key(Path(args.out), os.environ.get(PASSPHRASE_ENV) or None)
    print(signer.public_key.hex())
    return 0


def cmd_keys_show(args: argparse.Namespace) -> int:
    from node.keys import load_public_key

    print(load_public_key(Path(args.file)).hex())
    return 0


# --- networks --------------------------------------------------------------------------------


def cmd_testnet(args: argparse.Namespace) -> int:
    from node.testnet import create_testnet, load_template, print_summary

    template = load_template(Path(args.genesis_template)) if args.genesis_template else None
    net = create_testnet(
        Path(args.out),
        args.validators,
        template=template,
        base_port=args.base_port,
        hostnames=args.hostnames,
    )
    print_summary(net)
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    early: threading.Event | None = getattr(args, "stop_event", None)
    stop_requested: Callable[[], bool] = early.is_set if early is not None else lambda: False
    try:
        from node.serve import run
    except ImportError as exc:
        raise CliError(f"this build has no node runtime (node.runtime): {exc}") from None
    home = Path(args.home)
    if not home.is_dir():
        raise CliError(f"--home {home} is not a directory")
    return int(run(home, stop_requested) or 0)


def cmd_localnet(args: argparse.Namespace) -> int:
    from node.localnet import run_localnet

    return run_localnet(
        validators=args.validators,
        base_port=args.base_port,
        directory=Path(args.dir) if args.dir else None,
        stop=getattr(args, "stop_event", None),
    )


def _rpc_url(args: argparse.Namespace) -> str:
    return args.rpc or os.environ.get(RPC_ENV) or DEFAULT_RPC_URL


# --- main ------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    from node.config import DEFAULT_RPC_PORT as CONFIG_RPC_PORT

    assert CONFIG_RPC_PORT == DEFAULT_RPC_PORT, "node.cli and node.config disagree"
    parser = argparse.ArgumentParser(
        prog="huzhu", description="huzhu: a permissioned blockchain node for mutual-aid pools"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    keys = sub.add_parser("keys", help="key files")
    ksub = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    p = ksub.add_parser(
        "new",
        help="write a new key file and print its address (encrypted when HUZHU_PASSPHRASE is set)",
    )
    p.add_argument("--out", required=True, help="the key file to create (never overwritten)")
    p.set_defaults(func=cmd_keys_new)
    p = ksub.add_parser("show", help="print a key file's address")
    p.add_argument("file")
    p.set_defaults(func=cmd_keys_show)

    p = sub.add_parser("testnet", help="generate the files of an N-validator network")
    p.add_argument("--validators", type=int, required=True)
    p.add_argument("--out", required=True, help="directory to create (or an empty one)")
    p.add_argument("--genesis-template", help="genesis JSON supplying all but validators")
    p.add_argument("--base-port", type=int, default=DEFAULT_RPC_PORT)
    p.add_argument(
        "--hostnames",
        action="store_true",
        help="docker compose: peers by service name node0.., listen on 0.0.0.0",
    )
    p.set_defaults(func=cmd_testnet)

    p = sub.add_parser("start", help="run a node in the foreground until SIGINT/SIGTERM")
    p.add_argument("--home", required=True)
    p.set_defaults(func=cmd_start)

    p = sub.add_parser("localnet", help="generate and run a local network until Ctrl-C")
    p.add_argument("--validators", type=int, default=4)
    p.add_argument("--base-port", type=int, default=DEFAULT_RPC_PORT)
    p.add_argument("--dir", help="keep the network here (default: a throwaway directory)")
    p.set_defaults(func=cmd_localnet)

    from node.cli_query import add_query_parsers
    from node.cli_tx import add_tx_parsers

    add_tx_parsers(sub)
    add_query_parsers(sub, DEFAULT_RPC_URL)
    sub.add_parser("sim", help="the simulation harness (huzhu sim --help)")
    try:  # the node image ships without the nemesis package
        from nemesis.cli import add_parser as add_nemesis_parser
    except ImportError:
        pass
    else:
        add_nemesis_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["sim"]:
        # The simulator owns its own flags: hand it everything after "sim" untouched.
        try:
            from sim.cli import main as sim_main
        except ImportError as exc:
            print(f"error: the simulator is not available: {exc}", file=sys.stderr)
            return 1
        return int(sim_main(args_list[1:]) or 0)

    # the long-running commands: signals recorded before anything slow happens
    stop_event: threading.Event | None = None
    previous: dict[signal.Signals, SignalHandler] = {}
    if args_list[:1] in (["start"], ["localnet"]):
        stop_event, previous = _record_stop_signals()
    try:
        args = build_parser().parse_args(args_list)
        args.stop_event = stop_event
        from node.client import RpcError, RpcUnavailable
        from node.config import ConfigError
        from node.keys import KeyFileError
        from node.testnet import TestnetError

        try:
            return int(args.func(args))
        except (
            CliError,
            RpcError,
            RpcUnavailable,
            KeyFileError,
            TestnetError,
            ConfigError,
        ) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 130
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
