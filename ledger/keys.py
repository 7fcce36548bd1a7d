"""Accounts in standard encrypted keystore files (Web3 Secret Storage, version 3).

A :class:`Keystore` is a directory of V3 key files named the way geth names them
(``UTC--<time>--<address>``), so the directory can be handed to geth as ``--keystore`` and
each file imported into MetaMask.  Keys are encrypted with scrypt at geth's standard work
factor by default; tests may pass ``kdf="pbkdf2"`` or a lower ``iterations``.  Optional
human labels live beside the keys in ``.labels.json`` (geth ignores dot files), so the key
files themselves stay strictly standard.

Unlocking returns an eth-account :class:`LocalAccount` that signs locally; nothing here
ever asks a node to hold or unlock a key.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address

from ledger._utils.addresses import to_address, to_private_key
from ledger.errors import KeystoreError, LedgerValueError

Kdf = Literal["scrypt", "pbkdf2"]
DEFAULT_KDF: Kdf = "scrypt"
LABELS_FILE = ".labels.json"
_ADDRESS_IN_NAME = re.compile(r"--([0-9a-fA-F]{40})$")


@dataclass(frozen=True)
class KeyInfo:
    """One key file: its account address, optional label and path."""

    address: ChecksumAddress
    label: str | None
    path: Path


def geth_file_name(address: str, when: datetime | None = None) -> str:
    """``UTC--2024-01-02T03-04-05.000000000Z--<address in lowercase hex>``, as geth writes."""
    moment = (when or datetime.now(UTC)).astimezone(UTC)
    stamp = moment.strftime("%Y-%m-%dT%H-%M-%S") + f".{moment.microsecond * 1000:09d}Z"
    return f"UTC--{stamp}--{address.lower().removeprefix('0x')}"


def _is_v3(data: Any) -> bool:
    return (
        isinstance(data, dict)
        and data.get("version") == 3
        and isinstance(data.get("crypto") or data.get("Crypto"), dict)
    )


def _address_of(data: dict[str, Any], source: Path | str) -> ChecksumAddress:
    raw = data.get("address")
    if not isinstance(raw, str):
        raise KeystoreError(f"keystore file {source} has no address field; it is not a V3 key file")
    return to_address("0x" + raw.lower().removeprefix("0x"), f"address in keystore file {source}")


class Keystore:
    """A directory of V3 keystore files."""

    def __init__(
        self, path: Path | str, *, kdf: Kdf = DEFAULT_KDF, iterations: int | None = None
    ) -> None:
        self.path = Path(path).expanduser()
        if kdf not in ("scrypt", "pbkdf2"):
            raise LedgerValueError(f"key derivation {kdf!r} is not supported: use scrypt or pbkdf2")
        self.kdf: Kdf = kdf
        self.iterations = iterations

    def __repr__(self) -> str:
        return f"<Keystore {self.path}>"

    # -- reading ----------------------------------------------------------------------------

    def _files(self) -> dict[ChecksumAddress, Path]:
        found: dict[ChecksumAddress, Path] = {}
        if not self.path.is_dir():
            return found
        for file in sorted(self.path.iterdir()):
            if file.name.startswith(".") or not file.is_file():
                continue
            match = _ADDRESS_IN_NAME.search(file.name)
            if match:
                found.setdefault(to_checksum_address("0x" + match.group(1)), file)
                continue
            try:
                data = json.loads(file.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if _is_v3(data) and isinstance(data.get("address"), str):
                found.setdefault(_address_of(data, file), file)
        return found

    def _labels(self) -> dict[str, str]:
        file = self.path / LABELS_FILE
        if not file.is_file():
            return {}
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise KeystoreError(f"{file} is not valid JSON ({exc}); fix or delete it") from exc
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def list(self) -> list[KeyInfo]:
        """Every key in the directory, by address."""
        labels = self._labels()
        return [
            KeyInfo(address, labels.get(address), path)
            for address, path in sorted(self._files().items())
        ]

    def find(self, address: str) -> KeyInfo:
        account = to_address(address)
        path = self._files().get(account)
        if path is None:
            raise KeystoreError(
                f"no key for {account} in keystore {self.path}; "
                "`ledgerline keys list` shows the keys it holds"
            )
        return KeyInfo(account, self._labels().get(account), path)

    def __contains__(self, address: object) -> bool:
        return isinstance(address, str) and to_address(address) in self._files()

    def unlock(self, address: str, password: str) -> LocalAccount:
        """Decrypt the key of ``address``; a wrong password raises KeystoreError."""
        info = self.find(address)
        data = self._read(info.path)
        try:
            key = Account.decrypt(data, password)
        except ValueError as exc:
            if "MAC mismatch" in str(exc):
                raise KeystoreError(f"wrong password for keystore {info.address}") from None
            raise KeystoreError(f"cannot decrypt keystore file {info.path}: {exc}") from None
        account: LocalAccount = Account.from_key(key)
        if account.address != info.address:
            raise KeystoreError(
                f"keystore file {info.path} holds the key of {account.address}, "
                f"not {info.address}; the file was renamed or tampered with"
            )
        return account

    @staticmethod
    def _read(path: Path) -> dict[str, Any]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise KeystoreError(f"cannot read keystore file {path}: {exc.strerror}") from exc
        except ValueError as exc:
            raise KeystoreError(f"keystore file {path} is not valid JSON ({exc})") from exc
        if not _is_v3(data):
            raise KeystoreError(f"{path} is not a version 3 keystore file")
        return data

    # -- writing ----------------------------------------------------------------------------

    def new(self, password: str, label: str | None = None) -> ChecksumAddress:
        """Create a fresh random key, store it encrypted, and return its address."""
        account = Account.create()
        return self._store(account.key, password, label)

    def import_key(
        self, source: str | Path, password: str, label: str | None = None
    ) -> ChecksumAddress:
        """Add a key given as a hex private key, or as a V3 keystore file path.

        A private key is encrypted with ``password``.  A keystore file is checked to
        decrypt with ``password`` and copied unchanged.
        """
        if isinstance(source, Path) or (
            isinstance(source, str) and not re.fullmatch(r"(0x)?[0-9a-fA-F]{64}", source.strip())
        ):
            path = Path(source).expanduser()
            if not path.is_file():
                if re.fullmatch(r"(0x)?[0-9a-fA-F]+", str(source).strip()):
                    to_private_key(str(source))  # raises, without echoing the digits
                raise LedgerValueError(
                    f"{source!s} is neither a 64-hex-digit private key nor a keystore file"
                )
            data = self._read(path)
            address = _address_of(data, path)
            try:
                key = Account.decrypt(data, password)
            except ValueError:
                raise KeystoreError(f"wrong password for keystore {address}") from None
            if Account.from_key(key).address != address:
                raise KeystoreError(f"keystore file {path} does not hold the key of {address}")
            self._refuse_duplicate(address)
            self._write(address, data, label)
            return address
        return self._store(to_private_key(str(source)), password, label)

    def _store(self, key: bytes, password: str, label: str | None) -> ChecksumAddress:
        if not password:
            raise LedgerValueError("the keystore password is empty; choose a password")
        address = Account.from_key(key).address
        self._refuse_duplicate(address)
        data = Account.encrypt(key, password, kdf=self.kdf, iterations=self.iterations)
        self._write(address, data, label)
        return address

    def _refuse_duplicate(self, address: ChecksumAddress) -> None:
        existing = self._files().get(address)
        if existing is not None:
            raise KeystoreError(f"keystore {self.path} already holds {address} ({existing.name})")

    def _write(self, address: ChecksumAddress, data: dict[str, Any], label: str | None) -> None:
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        target = self.path / geth_file_name(address)
        tmp = target.with_name("." + target.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        os.replace(tmp, target)
        if label:
            self.set_label(address, label)

    def set_label(self, address: str, label: str) -> None:
        account = self.find(address).address
        labels = self._labels()
        labels[account] = label
        file = self.path / LABELS_FILE
        tmp = file.with_name(file.name + ".tmp")
        tmp.write_text(json.dumps(labels, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, file)
