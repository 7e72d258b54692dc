"""The one builder of genesis documents (the JSON object of PROTOCOL.md section 5).

Every writer of a genesis (the committed localnet file, `huzhu testnet`'s default template,
the simulator, tests and benchmarks) calls :func:`genesis_doc`, so the document's shape is
decided here once: key order, every chain param written out with its default, hex addresses,
a validator's entry. A chain param added to ``ChainParams`` reaches all of them.

Parsing and validation stay in ``state.genesis``; this module only writes the document, so a
test may still build an invalid one through ``params`` to check that it is refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from state.params import CHAIN_PARAMS

#: the genesis time of every reproducible (development, test, simulated) chain
GENESIS_TIME = "2026-11-26T00:00:00Z"


@dataclass(frozen=True, slots=True)
class ValidatorSpec:
    """One entry of the genesis validator set."""

    name: str
    operator: bytes
    consensus_key: bytes
    p2p: str  # host:port the validator's peers dial
    power: int = 1

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "operator": self.operator.hex(),
            "consensus_key": self.consensus_key.hex(),
            "power": self.power,
            "p2p": self.p2p,
        }


def default_chain_params() -> dict[str, Any]:
    """Every chain param that has a default, with its JSON value, in declaration order."""
    return {s.name: s.default for s in CHAIN_PARAMS if not s.required}


def genesis_doc(
    *,
    chain_id: str,
    treasury: bytes,
    genesis_time: str = GENESIS_TIME,
    registrars: Iterable[bytes] = (),
    operators: Iterable[bytes] = (),
    params: Mapping[str, Any] | None = None,
    validators: Iterable[ValidatorSpec] | None = (),
    accounts: Iterable[tuple[bytes, int]] = (),
    pools: Iterable[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """A genesis document: chain params are the defaults, then the three address params,
    then ``params`` over them (an override keeps its key's place; an unknown key is kept).

    ``validators=None`` leaves the key out: a template for `huzhu testnet`, which adds its
    generated validators. ``accounts`` are (address, balance); ``pools`` are written as given.
    """
    addresses = ("treasury", "registrars", "operators")
    p = {k: v for k, v in default_chain_params().items() if k not in addresses}
    p["treasury"] = treasury.hex()
    p["registrars"] = [a.hex() for a in registrars]
    p["operators"] = [a.hex() for a in operators]
    p.update(params or {})
    doc: dict[str, Any] = {"chain_id": chain_id, "genesis_time": genesis_time, "params": p}
    if validators is not None:
        doc["validators"] = [v.to_json() for v in validators]
    doc["accounts"] = [{"address": a.hex(), "balance": b} for a, b in accounts]
    doc["pools"] = [dict(pool) for pool in pools]
    return doc
