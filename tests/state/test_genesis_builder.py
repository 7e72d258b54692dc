"""The one genesis builder: what it writes is a genesis the chain accepts, with every param."""

from __future__ import annotations

import pytest

from state.devkeys import dev_signer, localnet_genesis
from state.genesis import GenesisError, parse_genesis
from state.genesis_builder import GENESIS_TIME, ValidatorSpec, genesis_doc
from state.params import ChainParams


def key(label: str) -> bytes:
    return dev_signer(f"builder-{label}").public_key


def small(**over: object) -> dict[str, object]:
    args: dict[str, object] = {
        "chain_id": "builder-test",
        "treasury": key("treasury"),
        "validators": [ValidatorSpec("v0", key("op0"), key("val0"), "127.0.0.1:1")],
        "accounts": [(key("alice"), 500)],
        "pools": [{"id": "med", "name": "Medical"}],
    }
    args.update(over)
    return genesis_doc(**args)  # type: ignore[arg-type]  # a test's loose kwargs


def test_the_defaults_written_out_are_the_chains_defaults() -> None:
    doc = small()
    g = parse_genesis(doc)
    assert g.params == ChainParams(treasury=key("treasury"), operators=(key("op0"),))
    assert doc["genesis_time"] == GENESIS_TIME
    # written in full, so a reader of the file sees every param without the code
    assert set(doc["params"]) == set(ChainParams(treasury=b"\0" * 32).to_json())


def test_overrides_win_and_keep_their_place() -> None:
    doc = small(params={"epoch_length": 7, "min_validators": 1})
    assert list(doc["params"]) == list(small()["params"])
    g = parse_genesis(doc)
    assert (g.params.epoch_length, g.params.min_validators) == (7, 1)


def test_an_invalid_override_is_written_for_the_parser_to_refuse() -> None:
    with pytest.raises(GenesisError, match="epoch_length"):
        parse_genesis(small(params={"epoch_length": 0}))
    with pytest.raises(GenesisError):
        parse_genesis(small(params={"no_such_param": 1}))


def test_addresses_accounts_and_validators_are_hex() -> None:
    doc = small(registrars=[key("reg")], operators=[key("op9")])
    g = parse_genesis(doc)
    assert g.params.registrars == (key("reg"),)
    # the validator's operator joins the operators list after the file's own
    assert g.params.operators == (key("op9"), key("op0"))
    assert doc["validators"] == [
        {
            "name": "v0",
            "operator": key("op0").hex(),
            "consensus_key": key("val0").hex(),
            "power": 1,
            "p2p": "127.0.0.1:1",
        }
    ]
    assert doc["accounts"] == [{"address": key("alice").hex(), "balance": 500}]


def test_without_validators_it_is_a_testnet_template() -> None:
    doc = small(validators=None)
    assert "validators" not in doc
    with pytest.raises(GenesisError, match="validators"):
        parse_genesis(doc)


def test_localnet_overrides_replace_only_what_they_name() -> None:
    base = localnet_genesis()
    doc = localnet_genesis(chain_id="other", validators=None)
    assert doc["chain_id"] == "other" and "validators" not in doc
    assert {k: v for k, v in doc.items() if k != "chain_id"} == {
        k: v for k, v in base.items() if k not in ("chain_id", "validators")
    }
