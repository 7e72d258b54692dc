"""Genesis (PROTOCOL.md section 5): the committed file loads; every broken rule names its field."""

from __future__ import annotations

import calendar
import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from state import codec
from state.codec import MAX_SAFE_INT
from state.crypto import sha256, verify
from state.devkeys import dev_signer, genesis_text, localnet_genesis, main
from state.genesis import GenesisError, load_genesis, parse_genesis, parse_genesis_bytes
from state.params import PoolParams

REPO = Path(__file__).resolve().parents[2]
A = "ab" * 32
B = "cd" * 32


def doc() -> dict[str, Any]:
    return localnet_genesis()


def mutated(f: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    d = doc()
    f(d)
    return d


def refused(d: Any) -> GenesisError:
    with pytest.raises(GenesisError) as info:
        parse_genesis(d)
    return info.value


# --- the committed localnet file --------------------------------------------------------


def test_committed_genesis_is_what_the_generator_writes() -> None:
    assert (REPO / "genesis.json").read_text(encoding="utf-8") == genesis_text()


def test_generator_script_prints_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["genesis"]) == 0
    assert capsys.readouterr().out == genesis_text()
    assert main(["address", "treasury"]) == 0
    assert capsys.readouterr().out.strip() == dev_signer("treasury").public_key.hex()
    assert main(["bogus"]) == 2


def test_committed_genesis_loads() -> None:
    g = load_genesis(REPO / "genesis.json")
    assert g.chain_id == "huzhu-localnet"
    assert g.genesis_time == "2026-11-26T00:00:00Z"
    assert g.genesis_time_ms == calendar.timegm((2026, 11, 26, 0, 0, 0)) * 1000
    assert [v.name for v in g.validators] == ["node0", "node1", "node2", "node3"]
    for i, v in enumerate(g.validators):
        assert v.operator == dev_signer(f"operator{i}").public_key
        assert v.consensus_key == dev_signer(f"validator{i}").public_key
        assert v.power == 1 and v.p2p == f"127.0.0.1:{27657 + i}"
        assert v.operator in g.params.operators
    assert g.params.treasury == dev_signer("treasury").public_key
    assert g.params.registrars == (dev_signer("registrar").public_key,)
    assert g.params.min_fee == 1 and g.params.max_votes_per_elector == 30
    assert g.supply == 11 * 1_000_000 + 4 * 10_000  # + the hospital and three weather stations
    assert {a.address for a in g.accounts} >= {dev_signer(f"member{i}").public_key for i in (0, 9)}
    assert [(p.id, p.name) for p in g.pools] == [
        ("medical", "Medical mutual aid"),
        ("disaster", "Disaster relief"),
        ("rainfall", "Rainfall crop cover"),
    ]
    # short governance periods so the README's proposal walkthrough takes about 40 s
    short = {"gov_voting_period": 30, "gov_timelock": 10}
    assert g.pools[1].params == PoolParams(**short)  # medical, rainfall: section 10 params too
    assert all((p.params.gov_voting_period, p.params.gov_timelock) == (30, 10) for p in g.pools)
    assert (g.params.gov_voting_period, g.params.gov_timelock) == (30, 10)


def test_dev_keys_are_deterministic_distinct_and_sign() -> None:
    a, b = dev_signer("member0"), dev_signer("member0")
    assert a.public_key == b.public_key
    assert dev_signer("member1").public_key != a.public_key
    assert verify(a.public_key, b"msg", b.sign(b"msg"))


# --- the parsed document and its hash ---------------------------------------------------


def test_hash_is_sha256_of_canonical_parsed_document() -> None:
    g = parse_genesis(doc())
    assert g.hash() == sha256(codec.encode(doc()))
    assert g.to_json() == doc()


def test_hash_ignores_formatting_key_order_and_hex_case() -> None:
    g = parse_genesis(doc())
    d = doc()
    d["params"]["treasury"] = d["params"]["treasury"].upper()
    text = json.dumps(dict(reversed(list(d.items()))), separators=(",", ":"))
    g2 = parse_genesis_bytes(text.encode())
    assert g2.hash() == g.hash()
    assert g2.to_json()["params"]["treasury"] == doc()["params"]["treasury"]


def test_hash_changes_with_content() -> None:
    g = parse_genesis(doc())
    assert parse_genesis(mutated(lambda d: d.__setitem__("chain_id", "x"))).hash() != g.hash()
    d = mutated(lambda d: d["accounts"][0].__setitem__("balance", 999_999))
    assert parse_genesis(d).hash() != g.hash()


def test_to_json_round_trips_and_is_a_copy() -> None:
    g = parse_genesis(doc())
    j = g.to_json()
    j["chain_id"] = "changed"
    assert g.to_json()["chain_id"] == "huzhu-localnet"
    assert parse_genesis(g.to_json()).hash() == g.hash()


def test_omitted_pool_params_take_defaults_and_stay_omitted() -> None:
    d = doc()
    del d["pools"][0]["params"]
    d["pools"][1]["params"] = {"quorum": 5, "admission": "kyc"}
    g = parse_genesis(d)
    assert g.pools[0].params == PoolParams()
    assert g.pools[1].params == PoolParams(quorum=5, admission="kyc")
    assert "params" not in g.to_json()["pools"][0]
    assert g.to_json()["pools"][1]["params"] == {"quorum": 5, "admission": "kyc"}


def test_omitted_chain_params_take_defaults() -> None:
    d = doc()
    d["params"] = {"treasury": A}
    g = parse_genesis(d)
    assert g.params.min_fee == 1 and g.params.max_tx_bytes == 4096
    assert g.params.registrars == ()
    assert g.params.operators == tuple(v.operator for v in g.validators)


def test_operators_listed_and_validators_merge_without_duplicates() -> None:
    d = doc()
    d["params"]["operators"] = [A, d["validators"][1]["operator"]]
    g = parse_genesis(d)
    ops = g.params.operators
    assert len(ops) == len(set(ops)) == 5
    assert ops[0] == bytes.fromhex(A)


# --- accepted boundaries ----------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.__setitem__("chain_id", "c" * 50),
        lambda d: d.__setitem__("chain_id", "c"),
        lambda d: d.__setitem__("validators", d["validators"][:1]),  # fewer than min: ok
        lambda d: d.__setitem__("accounts", []),
        lambda d: d.__setitem__("pools", []),
        lambda d: d.__setitem__("accounts", [{"address": A, "balance": MAX_SAFE_INT}]),
        lambda d: d.__setitem__(
            "accounts",
            [{"address": A, "balance": MAX_SAFE_INT - 5}, {"address": B, "balance": 5}],
        ),
        lambda d: d["accounts"][0].__setitem__("balance", 0),
        lambda d: d["pools"][0].__setitem__("id", "a" * 32),
        lambda d: d["pools"][0].__setitem__("id", "0-9"),
        lambda d: d["pools"][0].__setitem__("name", "\u4e92" * 64),
        lambda d: d["validators"][0].__setitem__("name", "v" * 64),
        lambda d: d["pools"][0].__setitem__("params", {"approve_bps": 10000, "fee_bps": 0}),
        lambda d: d["pools"][0].__setitem__("params", {"approve_bps": 0, "fee_bps": 10000}),
        lambda d: d["pools"][0].__setitem__("params", {"contribution": 1, "period": 1}),
        lambda d: d["params"].update(min_validators=1, max_validators=1, epoch_length=1),
        lambda d: d["params"].update(min_validators=21, max_validators=21),
        lambda d: d["params"].update(min_fee=0),
        lambda d: d.__setitem__("genesis_time", "2026-11-26T00:00:00.123456+00:00"),
        lambda d: d.__setitem__("genesis_time", "1970-01-01T00:00:00Z"),
        lambda d: d["validators"][0].__setitem__("p2p", "node0.example:1"),
        lambda d: d["params"].__setitem__("treasury", A.upper()),
    ],
)
def test_boundaries_accepted(change: Callable[[dict[str, Any]], Any]) -> None:
    parse_genesis(mutated(change))


def test_fractional_genesis_time_in_ms() -> None:
    g = parse_genesis(mutated(lambda d: d.__setitem__("genesis_time", "2026-11-26T00:00:01.5Z")))
    base = calendar.timegm((2026, 11, 26, 0, 0, 0)) * 1000
    assert g.genesis_time_ms == base + 1500


# --- refusals, each naming its field ----------------------------------------------------


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def f(d: dict[str, Any]) -> None:
        *head, last = path.split(".")
        node: Any = d
        for p in head:
            node = node[int(p)] if isinstance(node, list) else node[p]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return f


def _del(path: str) -> Callable[[dict[str, Any]], None]:
    def f(d: dict[str, Any]) -> None:
        *head, last = path.split(".")
        node: Any = d
        for p in head:
            node = node[int(p)] if isinstance(node, list) else node[p]
        del node[last]

    return f


def _dup(listname: str, idx: int, key: str) -> Callable[[dict[str, Any]], None]:
    def f(d: dict[str, Any]) -> None:
        items = d[listname]
        items[idx] = copy.deepcopy(items[idx])
        items[idx][key] = items[0][key]

    return f


BAD: list[tuple[str, Callable[[dict[str, Any]], Any], str]] = [
    ("unknown top key", _set("extra", 1), "extra"),
    *[
        (f"missing {k}", _del(k), k)
        for k in ("chain_id", "genesis_time", "params", "validators", "accounts", "pools")
    ],
    ("empty chain_id", _set("chain_id", ""), "chain_id"),
    ("long chain_id", _set("chain_id", "c" * 51), "chain_id"),
    ("chain_id not str", _set("chain_id", 5), "chain_id"),
    ("time with offset", _set("genesis_time", "2026-11-26T01:00:00+01:00"), "genesis_time"),
    ("time without zone", _set("genesis_time", "2026-11-26T00:00:00"), "genesis_time"),
    ("date only", _set("genesis_time", "2026-11-26"), "genesis_time"),
    ("feb 30", _set("genesis_time", "2026-02-30T00:00:00Z"), "genesis_time"),
    ("before 1970", _set("genesis_time", "1969-12-31T23:59:59Z"), "genesis_time"),
    ("non-ascii digit", _set("genesis_time", "2026-11-2\u0666T00:00:00Z"), "genesis_time"),
    ("time as int", _set("genesis_time", 1795651200), "genesis_time"),
    ("unknown param", _set("params.foo", 1), "params.foo"),
    ("missing treasury", _del("params.treasury"), "params.treasury"),
    ("short treasury", _set("params.treasury", "ab" * 31), "params.treasury"),
    ("non-hex treasury", _set("params.treasury", "zz" * 32), "params.treasury"),
    ("treasury with 0x", _set("params.treasury", "0x" + "ab" * 31), "params.treasury"),
    ("registrar bad hex", _set("params.registrars", [A, "xyz"]), "params.registrars.1"),
    ("registrars not list", _set("params.registrars", A), "params.registrars"),
    ("duplicate registrar", _set("params.registrars", [A, B, A.upper()]), "params.registrars.2"),
    ("duplicate operator", _set("params.operators", [A, A]), "params.operators.1"),
    ("min_fee bool", _set("params.min_fee", True), "params.min_fee"),
    ("min_fee float", _set("params.min_fee", 1.0), "params.min_fee"),
    ("min_fee string", _set("params.min_fee", "1"), "params.min_fee"),
    ("min_fee negative", _set("params.min_fee", -1), "params.min_fee"),
    ("min_fee 2^53", _set("params.min_fee", MAX_SAFE_INT + 1), "params.min_fee"),
    ("epoch_length 0", _set("params.epoch_length", 0), "params.epoch_length"),
    ("min_validators 0", _set("params.min_validators", 0), "params.min_validators"),
    ("max_tx_bytes 0", _set("params.max_tx_bytes", 0), "params.max_tx_bytes"),
    ("min > max", _set("params.min_validators", 22), "params.min_validators"),
    ("votes bool", _set("params.max_votes_per_elector", False), "params.max_votes_per_elector"),
    ("no validator", _set("validators", []), "validators"),
    ("validators not list", _set("validators", {}), "validators"),
    ("bad consensus key", _set("validators.0.consensus_key", "00"), "validators.0.consensus_key"),
    ("bad operator", _set("validators.2.operator", "g" * 64), "validators.2.operator"),
    ("power 2", _set("validators.0.power", 2), "validators.0.power"),
    ("power 0", _set("validators.1.power", 0), "validators.1.power"),
    ("power true", _set("validators.0.power", True), "validators.0.power"),
    ("missing power", _del("validators.0.power"), "validators.0.power"),
    ("missing p2p", _del("validators.0.p2p"), "validators.0.p2p"),
    ("p2p no port", _set("validators.0.p2p", "127.0.0.1"), "validators.0.p2p"),
    ("p2p port 0", _set("validators.0.p2p", "127.0.0.1:0"), "validators.0.p2p"),
    ("p2p port big", _set("validators.0.p2p", "127.0.0.1:65536"), "validators.0.p2p"),
    ("validator extra", _set("validators.3.stake", 5), "validators.3.stake"),
    ("validator empty name", _set("validators.0.name", ""), "validators.0.name"),
    ("validator long name", _set("validators.0.name", "n" * 65), "validators.0.name"),
    ("dup validator operator", _dup("validators", 2, "operator"), "validators.2.operator"),
    ("dup consensus key", _dup("validators", 3, "consensus_key"), "validators.3.consensus_key"),
    ("dup account", _dup("accounts", 4, "address"), "accounts.4.address"),
    ("negative balance", _set("accounts.1.balance", -1), "accounts.1.balance"),
    ("balance bool", _set("accounts.1.balance", True), "accounts.1.balance"),
    ("balance float", _set("accounts.1.balance", 1e6), "accounts.1.balance"),
    ("balance 2^53", _set("accounts.0.balance", MAX_SAFE_INT + 1), "accounts.0.balance"),
    ("account bad hex", _set("accounts.2.address", "AB" * 33), "accounts.2.address"),
    ("account extra", _set("accounts.0.kyc", True), "accounts.0.kyc"),
    (
        "supply over 2^53-1",
        _set("accounts", [{"address": A, "balance": MAX_SAFE_INT}, {"address": B, "balance": 1}]),
        "accounts.1.balance",
    ),
    ("pool id upper", _set("pools.1.id", "Disaster"), "pools.1.id"),
    ("pool id empty", _set("pools.0.id", ""), "pools.0.id"),
    ("pool id long", _set("pools.0.id", "a" * 33), "pools.0.id"),
    ("pool id space", _set("pools.0.id", "a b"), "pools.0.id"),
    ("pool id newline", _set("pools.0.id", "ab\n"), "pools.0.id"),
    ("dup pool", _dup("pools", 1, "id"), "pools.1.id"),
    ("pool name empty", _set("pools.0.name", ""), "pools.0.name"),
    ("pool name long", _set("pools.0.name", "\u00e9" * 65), "pools.0.name"),
    ("pool extra", _set("pools.0.balance", 5), "pools.0.balance"),
    ("lone surrogate name", _set("pools.1.name", "x\ud800"), "pools.1.name"),
    ("lone surrogate chain", _set("chain_id", "\udfff"), "chain_id"),
    ("lone surrogate p2p", _set("validators.0.p2p", "h\ud800:1"), "validators.0.p2p"),
    ("pool params unknown", _set("pools.1.params", {"bonus": 1}), "pools.1.params.bonus"),
    ("contribution 0", _set("pools.0.params", {"contribution": 0}), "pools.0.params.contribution"),
    ("period 0", _set("pools.0.params", {"period": 0}), "pools.0.params.period"),
    ("vote_window 0", _set("pools.0.params", {"vote_window": 0}), "pools.0.params.vote_window"),
    ("quorum 0", _set("pools.1.params", {"quorum": 0}), "pools.1.params.quorum"),
    ("approve_bps", _set("pools.0.params", {"approve_bps": 10001}), "pools.0.params.approve_bps"),
    ("fee_bps", _set("pools.0.params", {"fee_bps": -1}), "pools.0.params.fee_bps"),
    ("admission", _set("pools.0.params", {"admission": "closed"}), "pools.0.params.admission"),
    ("entry_fee bool", _set("pools.0.params", {"entry_fee": False}), "pools.0.params.entry_fee"),
    ("max_claim 2^53", _set("pools.0.params", {"max_claim": 2**53}), "pools.0.params.max_claim"),
    ("params null", _set("pools.0.params", None), "pools.0.params"),
]


@pytest.mark.parametrize(
    ("change", "field_path"), [(c, f) for _, c, f in BAD], ids=[n for n, _, _ in BAD]
)
def test_bad_genesis_refused_naming_the_field(
    change: Callable[[dict[str, Any]], Any], field_path: str
) -> None:
    err = refused(mutated(change))
    assert err.field == field_path
    assert str(err).startswith(field_path + ": ")


def test_lone_surrogate_from_json_text_is_refused_not_a_crash() -> None:
    text = json.dumps(doc()).replace('"node0"', '"node\\ud800"')
    with pytest.raises(GenesisError) as info:
        parse_genesis_bytes(text.encode())
    assert info.value.field == "validators.0.name"


def test_not_an_object() -> None:
    assert refused([doc()]).field == "genesis"


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xfe{}",
        b"{not json",
        b'{"chain_id": "a", "chain_id": "b"}',
        b'{"x": NaN}',
        b"[" * 100_000,
        b"",
    ],
)
def test_bad_bytes_refused(data: bytes) -> None:
    with pytest.raises(GenesisError) as info:
        parse_genesis_bytes(data)
    assert info.value.field == "genesis"


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(GenesisError, match="cannot read"):
        load_genesis(tmp_path / "nope.json")


def test_load_from_file(tmp_path: Path) -> None:
    p = tmp_path / "genesis.json"
    p.write_text(json.dumps(doc(), indent=4), encoding="utf-8")
    assert load_genesis(p).hash() == parse_genesis(doc()).hash()
    assert load_genesis(str(p)).chain_id == "huzhu-localnet"
