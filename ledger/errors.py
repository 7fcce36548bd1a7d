"""The ledger's exceptions.

Every error raised by :mod:`ledger` derives from :class:`LedgerError`.  Narrow subclasses
also inherit the matching built-in, so callers can catch ``ValueError`` or
``ConnectionError`` without knowing this package.  Messages are one line: what is wrong,
and what to do next.
"""

from __future__ import annotations

from typing import Any


class LedgerError(Exception):
    """Root of every error raised by the ledger package."""


class LedgerValueError(LedgerError, ValueError):
    """An argument is malformed: an address, an amount, a currency, a file row."""


class LedgerConfigError(LedgerError, ValueError):
    """The configuration or a local file (deployment, keystore, artifact) is wrong."""


class ArtifactError(LedgerConfigError):
    """A compiled contract artifact is missing or no longer matches its source."""


class DeploymentError(LedgerConfigError):
    """The deployment file does not match the chain it is used with."""


class KeystoreError(LedgerError, ValueError):
    """A keystore cannot be read or unlocked."""


class ChainUnavailableError(LedgerError, ConnectionError):
    """The chain cannot be reached, or is owned by another process."""


class ChainLockedError(ChainUnavailableError):
    """An embedded chain file is already open in another process."""


class TransactionFailedError(LedgerError, RuntimeError):
    """A transaction was mined but failed, or was never mined."""


class ContractRevertError(LedgerError):
    """A contract call reverted with a custom error.

    ``error_name`` is the Solidity error's name (``SettlementLedgerNotCounterparty``)
    and ``args`` its decoded arguments, in declaration order and by name.
    """

    def __init__(
        self,
        error_name: str,
        args: dict[str, Any] | None = None,
        message: str | None = None,
        contract: str | None = None,
    ) -> None:
        self.error_name = error_name
        self.error_args: dict[str, Any] = dict(args or {})
        self.contract = contract
        rendered = ", ".join(f"{k}={_render(v)}" for k, v in self.error_args.items())
        text = message or f"{error_name}({rendered})"
        super().__init__(text)


def _render(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value)
