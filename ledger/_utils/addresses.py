"""Checking addresses and private keys given by people, with errors that name the value."""

from __future__ import annotations

import re

from eth_typing import ChecksumAddress
from eth_utils import is_checksum_address, to_checksum_address

from ledger.errors import LedgerValueError

_HEX_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_HEX_KEY = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


def to_address(value: object, what: str = "address") -> ChecksumAddress:
    """Return ``value`` as a checksummed address, or raise naming the bad value.

    All-lowercase and all-uppercase hex are accepted (they carry no checksum); mixed case
    must be a valid EIP-55 checksum, since a wrong one usually means a typo.
    """
    text = value if isinstance(value, str) else repr(value)
    if not isinstance(value, str) or not _HEX_ADDRESS.match(value.strip()):
        raise LedgerValueError(
            f"{what} {text!r} is not an address: expected 0x followed by 40 hex digits"
        )
    value = value.strip()
    digits = value[2:]
    mixed = digits != digits.lower() and digits != digits.upper()
    if mixed and not is_checksum_address(value):
        raise LedgerValueError(
            f"{what} {value} has a wrong EIP-55 checksum; check it for typos "
            "or give it in all lowercase"
        )
    return to_checksum_address(value)


def to_private_key(value: str) -> bytes:
    """Parse a 32-byte hex private key (with or without 0x); never echo it back."""
    text = value.strip()
    if not _HEX_KEY.match(text):
        raise LedgerValueError(
            "the private key is malformed: expected 64 hex digits (optionally prefixed by 0x)"
        )
    key = bytes.fromhex(text.removeprefix("0x"))
    if int.from_bytes(key, "big") == 0:
        raise LedgerValueError("the private key is zero, which is not a valid key")
    return key
