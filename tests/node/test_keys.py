"""Key files: plain and encrypted round trips, 0600, refusals with clear messages."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import nacl.pwhash
import pytest

from node.keys import (
    KeyFileError,
    generate_key,
    is_encrypted,
    load_key,
    load_public_key,
    write_key,
)
from state.crypto import Signer, sha256

# The cheapest argon2id settings: the tests check the format, not the work factor.
FAST = {
    "opslimit": nacl.pwhash.argon2id.OPSLIMIT_MIN,
    "memlimit": nacl.pwhash.argon2id.MEMLIMIT_MIN,
}
SIGNER = Signer(sha256(b"key test"))


def test_plain_round_trip_and_mode(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    write_key(path, SIGNER)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    doc = json.loads(path.read_text())
    assert doc == {"public_key": SIGNER.public_key.hex(), "secret": SIGNER.seed.hex()}
    assert load_key(path).seed == SIGNER.seed
    assert load_public_key(path) == SIGNER.public_key
    assert not is_encrypted(path)


def test_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    generate_key(path)
    before = path.read_bytes()
    with pytest.raises(KeyFileError, match="already exists"):
        generate_key(path)
    assert path.read_bytes() == before


def test_encrypted_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "enc.json"
    write_key(path, SIGNER, "correct horse", **FAST)
    doc = json.loads(path.read_text())
    assert set(doc) == {"public_key", "encrypted_secret", "salt", "kdf"}
    assert SIGNER.seed.hex() not in path.read_text()
    assert doc["kdf"]["name"] == "argon2id"
    assert is_encrypted(path)
    assert load_public_key(path) == SIGNER.public_key  # no passphrase needed for the address
    monkeypatch.setenv("HUZHU_PASSPHRASE", "correct horse")
    assert load_key(path).seed == SIGNER.seed
    assert load_key(path, "correct horse").public_key == SIGNER.public_key


def test_encrypted_needs_the_passphrase(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "enc.json"
    write_key(path, SIGNER, "correct horse", **FAST)
    monkeypatch.delenv("HUZHU_PASSPHRASE", raising=False)
    with pytest.raises(KeyFileError, match="encrypted: set HUZHU_PASSPHRASE"):
        load_key(path)
    monkeypatch.setenv("HUZHU_PASSPHRASE", "battery staple")
    with pytest.raises(KeyFileError, match="wrong passphrase"):
        load_key(path)


def test_generate_encrypts_when_a_passphrase_is_given(tmp_path: Path) -> None:
    path = tmp_path / "g.json"
    signer = generate_key(path, "pw", **FAST)
    assert is_encrypted(path)
    assert load_key(path, "pw").public_key == signer.public_key


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "not JSON"),
        ("[]", "JSON object"),
        ('{"secret": "00"}', "public_key"),
        (json.dumps({"public_key": "ab" * 32}), "exactly one of"),
        (json.dumps({"public_key": "ab" * 32, "secret": "zz"}), "secret must be a hex"),
        (json.dumps({"public_key": "ab" * 32, "secret": "00" * 31}), "32 bytes"),
        (json.dumps({"public_key": "ab" * 32, "secret": SIGNER.seed.hex()}), "does not match"),
    ],
)
def test_bad_files_are_named(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(KeyFileError, match=message):
        load_key(path)


def test_hostile_kdf_parameters_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "enc.json"
    write_key(path, SIGNER, "pw", **FAST)
    doc = json.loads(path.read_text())
    doc["kdf"]["memlimit"] = 1 << 40  # a terabyte
    path.write_text(json.dumps(doc))
    with pytest.raises(KeyFileError, match="kdf.memlimit"):
        load_key(path, "pw")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="does not exist"):
        load_key(tmp_path / "nope.json")
