"""Key files: an Ed25519 key (account, operator, node or consensus key) as JSON on disk.

Plain::

    {"public_key": "<64 hex>", "secret": "<64 hex: the 32-byte seed>"}

Encrypted with a passphrase (argon2id stretches it into a SecretBox key; XSalsa20-Poly1305
authenticates, so a wrong passphrase is detected, never silently yields another key)::

    {"public_key": "<64 hex>", "encrypted_secret": "<hex: nonce + box>", "salt": "<32 hex>",
     "kdf": {"name": "argon2id", "opslimit": 3, "memlimit": 268435456}}

The passphrase comes from ``HUZHU_PASSPHRASE`` (not a prompt: nodes start unattended, under
systemd or docker). Files are created with mode 0600 and never overwritten. The public key is
stored in clear so that tools (testnet, operators) can read an address without the passphrase;
on load it must match the secret, which catches a file edited by hand.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.pwhash
import nacl.secret
import nacl.utils

from node.durable import fsync_dir
from state.crypto import KEY_LEN, Signer
from state.hexfmt import is_hex32, is_hex_bytes

PASSPHRASE_ENV = "HUZHU_PASSPHRASE"
KDF_NAME = "argon2id"
# libsodium's "moderate" profile: about a second and 256 MiB per unlock, once per start.
DEFAULT_OPSLIMIT = nacl.pwhash.argon2id.OPSLIMIT_MODERATE
DEFAULT_MEMLIMIT = nacl.pwhash.argon2id.MEMLIMIT_MODERATE
# Bounds on what a key file may ask of us: a hostile file must not make us allocate 100 GiB.
MAX_OPSLIMIT = nacl.pwhash.argon2id.OPSLIMIT_SENSITIVE * 4
MAX_MEMLIMIT = nacl.pwhash.argon2id.MEMLIMIT_SENSITIVE * 2
MAX_KEY_FILE_BYTES = 64 * 1024


class KeyFileError(Exception):
    """A key file that cannot be written, read, decrypted or trusted; the message says why."""


def _kdf_key(passphrase: str, salt: bytes, opslimit: int, memlimit: int) -> bytes:
    return nacl.pwhash.argon2id.kdf(
        nacl.secret.SecretBox.KEY_SIZE,
        passphrase.encode("utf-8"),
        salt,
        opslimit=opslimit,
        memlimit=memlimit,
    )


def key_to_json(
    signer: Signer,
    passphrase: str | None = None,
    *,
    opslimit: int = DEFAULT_OPSLIMIT,
    memlimit: int = DEFAULT_MEMLIMIT,
) -> dict[str, Any]:
    """The key file document of ``signer``: encrypted when ``passphrase`` is non-empty."""
    if not passphrase:
        return {"public_key": signer.public_key.hex(), "secret": signer.seed.hex()}
    salt = nacl.utils.random(nacl.pwhash.argon2id.SALTBYTES)
    box = nacl.secret.SecretBox(_kdf_key(passphrase, salt, opslimit, memlimit))
    return {
        "public_key": signer.public_key.hex(),
        "encrypted_secret": bytes(box.encrypt(signer.seed)).hex(),
        "salt": salt.hex(),
        "kdf": {"name": KDF_NAME, "opslimit": opslimit, "memlimit": memlimit},
    }


def write_key(
    path: Path,
    signer: Signer,
    passphrase: str | None = None,
    *,
    opslimit: int = DEFAULT_OPSLIMIT,
    memlimit: int = DEFAULT_MEMLIMIT,
) -> None:
    """Write a new key file with mode 0600; refuse to replace an existing file (a lost key is
    a lost account, or worse a validator that can double-sign with a fresh one)."""
    doc = key_to_json(signer, passphrase, opslimit=opslimit, memlimit=memlimit)
    data = (json.dumps(doc, indent=2) + "\n").encode("utf-8")
    path = Path(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(f"{path} already exists; not overwriting a key file") from None
    except OSError as exc:
        raise KeyFileError(f"cannot create {path}: {exc.strerror or exc}") from None
    try:
        os.fchmod(fd, 0o600)  # the umask may not have let 0600 through as asked
        view = memoryview(data)
        while view:  # os.write may write less than asked
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    # the file's name lives in its directory: without this a power cut can lose a key file
    # whose contents were synced (node/durable.py)
    try:
        fsync_dir(path.parent)
    except OSError as exc:
        raise KeyFileError(f"cannot sync {path.parent}: {exc.strerror or exc}") from None


def generate_key(path: Path, passphrase: str | None = None, **kdf: int) -> Signer:
    """Create a fresh random key and write it to ``path``; return it."""
    signer = Signer(os.urandom(KEY_LEN))
    write_key(path, signer, passphrase, **kdf)
    return signer


def _read_doc(path: Path) -> dict[str, Any]:
    try:
        size = os.stat(path).st_size
        if size > MAX_KEY_FILE_BYTES:
            raise KeyFileError(f"{path} is too large ({size} bytes) to be a key file")
        doc = json.loads(Path(path).read_bytes().decode("utf-8"))
    except KeyFileError:
        raise
    except FileNotFoundError:
        raise KeyFileError(f"key file {path} does not exist") from None
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise KeyFileError(f"key file {path} is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise KeyFileError(f"key file {path} must hold a JSON object")
    pk = doc.get("public_key")
    if not is_hex32(pk):
        raise KeyFileError(f"key file {path}: public_key must be 64 hex characters")
    return doc


def load_public_key(path: Path) -> bytes:
    """The public key of a key file (no passphrase needed)."""
    return bytes.fromhex(_read_doc(path)["public_key"])


def _hex_field(path: Path, doc: dict[str, Any], name: str) -> bytes:
    v = doc.get(name)
    if not is_hex_bytes(v):
        raise KeyFileError(f"key file {path}: {name} must be a hex string")
    return bytes.fromhex(v)


def _int_field(path: Path, kdf: dict[str, Any], name: str, low: int, high: int) -> int:
    v = kdf.get(name)
    if type(v) is not int or not low <= v <= high:
        raise KeyFileError(f"key file {path}: kdf.{name} must be an integer in {low}..{high}")
    return v


def is_encrypted(path: Path) -> bool:
    return "encrypted_secret" in _read_doc(path)


def load_key(path: Path, passphrase: str | None = None) -> Signer:
    """Read a key file. For an encrypted one the passphrase is ``passphrase`` or, when None,
    the environment variable HUZHU_PASSPHRASE; missing or wrong, a KeyFileError says so."""
    path = Path(path)
    doc = _read_doc(path)
    if "secret" in doc and "encrypted_secret" not in doc:
        seed = _hex_field(path, doc, "secret")
    elif "encrypted_secret" in doc and "secret" not in doc:
        kdf = doc.get("kdf")
        if not isinstance(kdf, dict) or kdf.get("name") != KDF_NAME:
            raise KeyFileError(f"key file {path}: kdf must be {{'name': '{KDF_NAME}', ...}}")
        opslimit = _int_field(
            path, kdf, "opslimit", nacl.pwhash.argon2id.OPSLIMIT_MIN, MAX_OPSLIMIT
        )
        memlimit = _int_field(
            path, kdf, "memlimit", nacl.pwhash.argon2id.MEMLIMIT_MIN, MAX_MEMLIMIT
        )
        salt = _hex_field(path, doc, "salt")
        if len(salt) != nacl.pwhash.argon2id.SALTBYTES:
            raise KeyFileError(
                f"key file {path}: salt must be {nacl.pwhash.argon2id.SALTBYTES} bytes"
            )
        box_bytes = _hex_field(path, doc, "encrypted_secret")
        if passphrase is None:
            passphrase = os.environ.get(PASSPHRASE_ENV)
        if not passphrase:
            raise KeyFileError(
                f"key file {path} is encrypted: set {PASSPHRASE_ENV} to its passphrase"
            )
        box = nacl.secret.SecretBox(_kdf_key(passphrase, salt, opslimit, memlimit))
        try:
            seed = box.decrypt(box_bytes)
        except nacl.exceptions.CryptoError:
            raise KeyFileError(
                f"wrong passphrase for key file {path} (or the file is damaged)"
            ) from None
    else:
        raise KeyFileError(f"key file {path}: needs exactly one of secret, encrypted_secret")
    if len(seed) != KEY_LEN:
        raise KeyFileError(f"key file {path}: the secret must be {KEY_LEN} bytes")
    signer = Signer(seed)
    if signer.public_key.hex() != doc["public_key"].lower():
        raise KeyFileError(f"key file {path}: public_key does not match the secret")
    return signer
