"""Keystore: standard V3 key files, geth naming, passwords and imports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from eth_account import Account

from ledger.errors import KeystoreError, LedgerValueError
from ledger.keys import Keystore, geth_file_name

FAST_SCRYPT = 2**10  # tests only: the default is geth's standard n = 2**18
PASSWORD = "correct horse battery staple"


@pytest.fixture
def keystore(tmp_path: Path) -> Keystore:
    return Keystore(tmp_path / "keystore", iterations=FAST_SCRYPT)


def test_a_new_key_is_listed_with_its_label_and_unlocks_with_its_password(
    keystore: Keystore,
) -> None:
    address = keystore.new(PASSWORD, label="treasury")

    [info] = keystore.list()
    assert info.address == address
    assert info.label == "treasury"
    account = keystore.unlock(address, PASSWORD)
    assert account.address == address


def test_the_key_file_is_standard_v3_json_named_like_geth_and_decrypts_with_eth_account(
    keystore: Keystore,
) -> None:
    address = keystore.new(PASSWORD)

    [info] = keystore.list()
    assert re.fullmatch(
        r"UTC--\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{9}Z--" + address[2:].lower(), info.path.name
    )
    data = json.loads(info.path.read_text())
    assert data["version"] == 3
    assert data["address"].lower() == address[2:].lower()
    crypto = data["crypto"]
    assert crypto["cipher"] == "aes-128-ctr"
    assert set(crypto["cipherparams"]) == {"iv"}
    assert crypto["kdf"] == "scrypt"
    assert crypto["kdfparams"]["n"] == FAST_SCRYPT
    assert {"ciphertext", "mac"} <= set(crypto)
    assert Account.from_key(Account.decrypt(data, PASSWORD)).address == address
    assert info.path.stat().st_mode & 0o777 == 0o600


def test_the_default_key_derivation_is_scrypt_at_geths_standard_work_factor(
    tmp_path: Path,
) -> None:
    default = Keystore(tmp_path)
    assert (default.kdf, default.iterations) == ("scrypt", None)  # eth-keyfile: n = 2**18


def test_a_wrong_password_is_refused_naming_the_keystore(keystore: Keystore) -> None:
    address = keystore.new(PASSWORD)

    with pytest.raises(KeystoreError) as caught:
        keystore.unlock(address, "not the password")
    assert str(caught.value) == f"wrong password for keystore {address}"


def test_a_malformed_address_is_refused_naming_it(keystore: Keystore) -> None:
    with pytest.raises(LedgerValueError) as caught:
        keystore.unlock("0x1234", PASSWORD)
    assert str(caught.value) == (
        "address '0x1234' is not an address: expected 0x followed by 40 hex digits"
    )


def test_an_address_with_a_wrong_checksum_is_refused(keystore: Keystore) -> None:
    address = keystore.new(PASSWORD)
    mangled = address[:2] + address[2:].swapcase()
    with pytest.raises(LedgerValueError, match="wrong EIP-55 checksum"):
        keystore.unlock(mangled, PASSWORD)


def test_an_address_without_a_key_is_refused_with_a_hint(keystore: Keystore) -> None:
    stranger = Account.create().address
    with pytest.raises(KeystoreError) as caught:
        keystore.unlock(stranger, PASSWORD)
    assert str(caught.value) == (
        f"no key for {stranger} in keystore {keystore.path}; "
        "`ledgerline keys list` shows the keys it holds"
    )


def test_a_private_key_is_imported_encrypted_and_only_once(keystore: Keystore) -> None:
    account = Account.create()

    address = keystore.import_key(account.key.hex(), PASSWORD, label="imported")

    assert address == account.address
    assert keystore.unlock(address, PASSWORD).key == account.key
    [info] = keystore.list()
    assert account.key.hex() not in info.path.read_text()
    with pytest.raises(KeystoreError, match=f"already holds {address}"):
        keystore.import_key("0x" + account.key.hex(), PASSWORD)


def test_a_keystore_file_from_another_wallet_is_imported_unchanged(
    keystore: Keystore, tmp_path: Path
) -> None:
    account = Account.create()
    exported = Account.encrypt(account.key, PASSWORD, kdf="pbkdf2", iterations=1000)
    source = tmp_path / "metamask-export.json"
    source.write_text(json.dumps(exported))

    address = keystore.import_key(source, PASSWORD)

    assert address == account.address
    [info] = keystore.list()
    assert json.loads(info.path.read_text()) == exported
    assert keystore.unlock(address, PASSWORD).address == account.address


def test_a_keystore_file_with_the_wrong_password_is_not_imported(
    keystore: Keystore, tmp_path: Path
) -> None:
    account = Account.create()
    source = tmp_path / "key.json"
    source.write_text(json.dumps(Account.encrypt(account.key, PASSWORD, iterations=FAST_SCRYPT)))

    with pytest.raises(KeystoreError) as caught:
        keystore.import_key(source, "wrong")
    assert str(caught.value) == f"wrong password for keystore {account.address}"
    assert keystore.list() == []


def test_a_malformed_private_key_is_refused_without_echoing_it(keystore: Keystore) -> None:
    with pytest.raises(LedgerValueError) as caught:
        keystore.import_key("0x" + "ab" * 31, PASSWORD)
    assert str(caught.value) == (
        "the private key is malformed: expected 64 hex digits (optionally prefixed by 0x)"
    )


def test_a_source_that_is_neither_a_key_nor_a_file_is_refused_naming_it(
    keystore: Keystore, tmp_path: Path
) -> None:
    missing = tmp_path / "missing.json"
    with pytest.raises(LedgerValueError) as caught:
        keystore.import_key(str(missing), PASSWORD)
    assert str(caught.value) == (
        f"{missing} is neither a 64-hex-digit private key nor a keystore file"
    )


def test_an_empty_password_is_refused(keystore: Keystore) -> None:
    with pytest.raises(LedgerValueError, match="password is empty"):
        keystore.new("")


def test_geth_file_names_use_utc_nanoseconds_and_the_lowercase_address() -> None:
    from datetime import UTC, datetime

    when = datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    name = geth_file_name("0xAbCdEf0123456789aBcDeF0123456789AbCdEf01", when)
    assert name == "UTC--2024-01-02T03-04-05.123456000Z--abcdef0123456789abcdef0123456789abcdef01"
