"""Evidence bundles: self-contained proof of one approval decision (or one recipient),
and their verification with nothing but the bundle and a JSON-RPC node.

An approval bundle (``ledgerline-approval-evidence/1``) carries the record, its leaf
index and hash, an RFC 9162 inclusion proof into an anchored tree, that tree's size and
root, the approver's EIP-712 signature and where the root was anchored::

    {"format": "ledgerline-approval-evidence/1", "record": {...},
     "leaf_index": 41, "leaf_hash": "0x…", "tree_size": 100,
     "inclusion_proof": ["0x…"], "root": "0x…", "signature": "0x…", "signer": "0x…",
     "anchor": {"chain_id": 1, "contract": "0x…", "tx_hash": "0x…",
                "block_number": 7, "tree_size": 100, "root": "0x…"}}

A recipient bundle (``ledgerline-recipient-evidence/1``) proves that one recipient
(``{"contact_id", "channel", "address"}``) is a leaf of a frozen segment snapshot, and
embeds the approval bundle of the decision that approved that snapshot.

:func:`verify_evidence` runs every check (see :data:`APPROVAL_CHECKS`) and returns a
:class:`Report`; no check stops the others, so a tampered bundle shows every way it
fails.  ``docs/audit.md`` states the algorithm for re-implementation elsewhere.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from web3.exceptions import Web3Exception

from ledger._utils.addresses import to_address
from ledger.approval_log import ApprovalLogClient, LogDivergedError
from ledger.approval_record import validate_record
from ledger.chain import Chain
from ledger.eip712 import recover_signer
from ledger.errors import LedgerError, LedgerValueError
from ledger.merkle import MerkleLog, record_leaf, root_from_leaf_hashes, verify_inclusion

APPROVAL_FORMAT = "ledgerline-approval-evidence/1"
RECIPIENT_FORMAT = "ledgerline-recipient-evidence/1"

#: The checks of an approval bundle, in the order they run and print.
APPROVAL_CHECKS: dict[str, str] = {
    "format": "bundle format",
    "record": "record fields",
    "leaf_hash": "leaf hash",
    "inclusion_proof": "inclusion proof",
    "anchor": "anchor matches the proven tree",
    "chain_id": "chain id",
    "contract": "ApprovalLog contract",
    "anchored_root": "root anchored on-chain",
    "anchor_transaction": "anchoring transaction",
    "signature": "approver's EIP-712 signature",
}

#: The checks a recipient bundle adds before those of its embedded approval bundle
#: (which are prefixed ``approval.``).
RECIPIENT_CHECKS: dict[str, str] = {
    "format": "bundle format",
    "member_leaf": "recipient leaf hash",
    "member_inclusion": "recipient in the snapshot",
    "snapshot_approved": "snapshot is the approved one",
}

RECIPIENT_FIELDS = ("contact_id", "channel", "address")

_HASH = re.compile(r"^0x[0-9a-fA-F]{64}$")
_TX_HASH = _HASH

Status = Literal["ok", "failed", "skipped"]


@dataclass(frozen=True)
class Check:
    """One verification step: its name (a key of :data:`APPROVAL_CHECKS`), outcome, detail."""

    name: str
    status: Status
    detail: str
    label: str = ""

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    def line(self) -> str:
        mark = {"ok": "✓", "failed": "✗", "skipped": "-"}[self.status]
        return f"{mark} {self.label or self.name}: {self.detail}"

    def to_json(self) -> dict[str, Any]:
        return {"check": self.name, "status": self.status, "detail": self.detail}


@dataclass(frozen=True)
class Report:
    """Every check of one bundle; ``ok`` when none failed."""

    format: str
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def failed(self) -> list[str]:
        return [check.name for check in self.checks if check.status == "failed"]

    def check(self, name: str) -> Check:
        for one in self.checks:
            if one.name == name:
                return one
        raise KeyError(name)

    def lines(self) -> list[str]:
        verdict = "VERIFIED" if self.ok else f"FAILED ({', '.join(self.failed)})"
        return [*(check.line() for check in self.checks), verdict]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "ok": self.ok,
            "failed": self.failed,
            "checks": [check.to_json() for check in self.checks],
        }


# -- building --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnchorInfo:
    """Where a tree (``tree_size``, ``root``) was anchored."""

    chain_id: int
    contract: str
    tree_size: int
    root: bytes
    tx_hash: str | None = None
    block_number: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "chain_id": self.chain_id,
            "contract": to_address(self.contract, "contract"),
            "tx_hash": self.tx_hash,
            "block_number": self.block_number,
            "tree_size": self.tree_size,
            "root": _hex(self.root),
        }


def build_approval_evidence(
    *,
    record: Mapping[str, Any],
    leaf_index: int,
    log: MerkleLog,
    anchor: AnchorInfo,
    signature: str | None,
    signer: str | None,
) -> dict[str, Any]:
    """The evidence bundle of the entry ``leaf_index`` of ``log``, proven into the
    anchored tree ``anchor``.

    Refuses (LogDivergedError) to build evidence the log contradicts: the record must
    hash to the leaf at ``leaf_index`` and the log must reproduce the anchored root.
    """
    if not 0 <= leaf_index < anchor.tree_size <= log.size:
        raise LedgerValueError(
            f"entry {leaf_index} is not in the anchored tree of {anchor.tree_size} entries "
            f"(the log holds {log.size}); anchor the log first"
        )
    leaf = record_leaf(record)
    if leaf != log.leaf(leaf_index):
        raise LogDivergedError(
            f"entry {leaf_index}'s record hashes to {_hex(leaf)}, not to the log's leaf "
            f"{_hex(log.leaf(leaf_index))}; the entry was changed: verify the log"
        )
    root = log.root(anchor.tree_size)
    if root != anchor.root:
        raise LogDivergedError(
            f"the log's first {anchor.tree_size} entries hash to {_hex(root)}, not to the "
            f"anchored root {_hex(anchor.root)}; entries were changed: verify the log"
        )
    return {
        "format": APPROVAL_FORMAT,
        "record": dict(record),
        "leaf_index": leaf_index,
        "leaf_hash": _hex(leaf),
        "tree_size": anchor.tree_size,
        "inclusion_proof": [_hex(p) for p in log.inclusion_proof(leaf_index, anchor.tree_size)],
        "root": _hex(root),
        "signature": signature,
        "signer": signer,
        "anchor": anchor.to_json(),
    }


def snapshot_member(contact_id: Any, channel: str, address: str) -> dict[str, Any]:
    """The leaf record of one snapshot recipient, exactly as snapshots hash it."""
    return {"contact_id": contact_id, "channel": channel, "address": address}


def snapshot_root(members: Sequence[Mapping[str, Any]]) -> bytes:
    """The RFC 9162 root of a snapshot's members, in their stored order."""
    return root_from_leaf_hashes([record_leaf(m) for m in members])


def build_recipient_evidence(
    *,
    snapshot_id: str,
    members: Sequence[Mapping[str, Any]],
    index: int,
    approval: Mapping[str, Any],
) -> dict[str, Any]:
    """The evidence that ``members[index]`` was in the snapshot approved by ``approval``
    (an approval evidence bundle)."""
    if not 0 <= index < len(members):
        raise LedgerValueError(f"member index {index} is outside the {len(members)} members")
    log = MerkleLog(record_leaf(m) for m in members)
    root = log.root()
    record = approval.get("record") or {}
    if _hex(root) != str(record.get("snapshot_root", "")).lower():
        raise LogDivergedError(
            f"snapshot {snapshot_id} hashes to {_hex(root)}, not to the root "
            f"{record.get('snapshot_root')} its approval names; the snapshot was changed"
        )
    return {
        "format": RECIPIENT_FORMAT,
        "snapshot_id": snapshot_id,
        "member": dict(members[index]),
        "leaf_index": index,
        "leaf_hash": _hex(log.leaf(index)),
        "snapshot_size": log.size,
        "inclusion_proof": [_hex(p) for p in log.inclusion_proof(index)],
        "snapshot_root": _hex(root),
        "approval": dict(approval),
    }


# -- verifying -------------------------------------------------------------------------------


def verify_evidence(bundle: Mapping[str, Any], chain: Chain) -> Report:
    """Verify an approval or recipient bundle against ``chain`` (by its ``format``)."""
    kind = bundle.get("format") if isinstance(bundle, Mapping) else None
    if kind == RECIPIENT_FORMAT:
        return verify_recipient_evidence(bundle, chain)
    return verify_approval_evidence(bundle, chain)


class _Checks:
    def __init__(self, labels: Mapping[str, str], prefix: str = "") -> None:
        self.labels = labels
        self.prefix = prefix
        self.done: list[Check] = []

    def add(self, name: str, status: Status, detail: str) -> bool:
        label = self.labels.get(name, name)
        if self.prefix:
            label = f"{self.prefix}{label}"
        self.done.append(Check(self.prefix.replace(": ", ".") + name, status, detail, label))
        return status == "ok"

    def ok(self, name: str, detail: str) -> bool:
        return self.add(name, "ok", detail)

    def fail(self, name: str, detail: str) -> bool:
        return self.add(name, "failed", detail)

    def skip(self, name: str, detail: str) -> bool:
        return self.add(name, "skipped", detail)

    def run(self, name: str, step: Callable[[], tuple[Status, str]]) -> bool:
        """Run one check; a chain that cannot be asked fails the check, naming why."""
        try:
            status, detail = step()
        except (LedgerError, ValueError, Web3Exception, OSError) as exc:
            status, detail = "failed", f"could not be checked: {_first_line(exc)}"
        return self.add(name, status, detail)


@dataclass
class _Approval:
    record: Any
    leaf_index: int
    leaf_hash: bytes
    tree_size: int
    proof: list[bytes]
    root: bytes
    signature: str | None
    signer: str | None
    chain_id: int
    contract: str
    tx_hash: str | None
    block_number: int | None
    anchor_size: int
    anchor_root: bytes


def verify_approval_evidence(
    bundle: Mapping[str, Any], chain: Chain, *, prefix: str = ""
) -> Report:
    """Every check of :data:`APPROVAL_CHECKS` on an approval bundle, against ``chain``."""
    checks = _Checks(APPROVAL_CHECKS, prefix)
    parsed = _parse_approval(bundle)
    if isinstance(parsed, str):
        checks.fail("format", parsed)
        return Report(APPROVAL_FORMAT, tuple(checks.done))
    a = parsed
    checks.ok("format", f"{APPROVAL_FORMAT}, entry {a.leaf_index} of a tree of {a.tree_size}")

    # The record, and its RFC 9162 leaf hash over its RFC 8785 canonical form.
    record_ok = False
    try:
        validate_record(a.record)
        record_ok = True
        checks.ok(
            "record",
            f"{a.record['decision']} of campaign {a.record['campaign_id']} "
            f"v{a.record['campaign_version']} at {a.record['decided_at']}",
        )
    except LedgerValueError as exc:
        checks.fail("record", str(exc))
    try:
        computed = record_leaf(a.record)
    except LedgerValueError as exc:
        checks.fail("leaf_hash", f"the record cannot be canonicalised: {exc}")
    else:
        if computed == a.leaf_hash:
            checks.ok("leaf_hash", f"SHA-256(0x00 ‖ RFC 8785 record) = {_hex(computed)}")
        else:
            checks.fail(
                "leaf_hash",
                f"the record hashes to {_hex(computed)}, not to the bundle's {_hex(a.leaf_hash)}:"
                " the record was changed",
            )

    # The inclusion proof, RFC 9162 §2.1.3.2.
    if verify_inclusion(a.leaf_hash, a.leaf_index, a.tree_size, a.proof, a.root):
        checks.ok(
            "inclusion_proof",
            f"{len(a.proof)} hashes lead from leaf {a.leaf_index} to root {_hex(a.root)} "
            f"of {a.tree_size} entries",
        )
    else:
        checks.fail(
            "inclusion_proof",
            f"the proof does not lead from leaf {a.leaf_index} to root {_hex(a.root)} "
            f"of a tree of {a.tree_size} entries",
        )
    if a.anchor_size == a.tree_size and a.anchor_root == a.root:
        checks.ok("anchor", f"the anchor names the same tree ({a.tree_size}, {_hex(a.root)})")
    else:
        checks.fail(
            "anchor",
            f"the anchor names the tree ({a.anchor_size}, {_hex(a.anchor_root)}), "
            f"the proof the tree ({a.tree_size}, {_hex(a.root)})",
        )

    # The chain: the right network, the right contract, the root anchored there.
    def chain_id() -> tuple[Status, str]:
        if chain.chain_id == a.chain_id:
            return "ok", f"the node at {chain.url} is chain {chain.chain_id}"
        return "failed", (
            f"the bundle was anchored on chain {a.chain_id} but the node at {chain.url} "
            f"is chain {chain.chain_id}: ask a node of chain {a.chain_id}"
        )

    checks.run("chain_id", chain_id)
    client = ApprovalLogClient(chain, a.contract)

    def contract() -> tuple[Status, str]:
        if client.is_approval_log():
            return "ok", f"{client.address} is an ApprovalLog"
        return "failed", f"{client.address} holds no ApprovalLog on chain {chain.chain_id}"

    contract_ok = checks.run("contract", contract)

    def anchored_root() -> tuple[Status, str]:
        if not contract_ok:
            return "failed", "not checked: there is no ApprovalLog at the bundle's contract"
        found = client.find_root(a.tree_size)
        if found is None:
            return "failed", f"no checkpoint of {a.tree_size} entries was anchored there"
        if found != a.root:
            return "failed", (
                f"rootAt({a.tree_size}) is {_hex(found)}, not the bundle's root {_hex(a.root)}"
            )
        return "ok", f"rootAt({a.tree_size}) = {_hex(found)}"

    checks.run("anchored_root", anchored_root)

    def anchor_transaction() -> tuple[Status, str]:
        if a.tx_hash is None:
            return "skipped", "the bundle names no transaction"
        if not contract_ok:
            return "failed", "not checked: there is no ApprovalLog at the bundle's contract"
        events = client.events_in(a.tx_hash)
        match = [e for e in events if e.size == a.anchor_size and e.root == a.anchor_root]
        if not match:
            return "failed", (
                f"transaction {a.tx_hash} did not anchor ({a.anchor_size}, "
                f"{_hex(a.anchor_root)}) on {client.address}"
            )
        event = match[0]
        if a.block_number is not None and event.block_number != a.block_number:
            return "failed", (
                f"transaction {a.tx_hash} is in block {event.block_number}, "
                f"not in block {a.block_number} as the bundle says"
            )
        block = chain.w3.eth.get_block(event.block_number)
        when = datetime.fromtimestamp(int(block["timestamp"]), UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        return "ok", (
            f"CheckpointAnchored({a.anchor_size}) by {event.by} in block "
            f"{event.block_number} at {when}"
        )

    checks.run("anchor_transaction", anchor_transaction)

    # The approver's signature, recovered in the domain of the anchoring contract.
    approver = a.record.get("approver_address") if isinstance(a.record, Mapping) else None
    if approver is None:
        if a.signature is None:
            checks.skip("signature", "the record names no approver address (an unsigned entry)")
        else:
            checks.fail("signature", "a signature is given but the record names no approver")
    elif a.signature is None:
        checks.fail("signature", f"the record names approver {approver} but carries no signature")
    elif not record_ok:
        checks.fail("signature", "not checked: the record is malformed")
    else:
        try:
            signer = recover_signer(a.record, a.signature, a.chain_id, a.contract)
        except LedgerValueError as exc:
            checks.fail("signature", str(exc))
        else:
            if signer != approver:
                checks.fail(
                    "signature",
                    f"the signature recovers to {signer}, not to the approver {approver}",
                )
            elif a.signer is not None and a.signer != signer:
                checks.fail("signature", f"the bundle names signer {a.signer} but {signer} signed")
            else:
                checks.ok("signature", f"signed by the approver {signer}")
    return Report(APPROVAL_FORMAT, tuple(checks.done))


def verify_recipient_evidence(bundle: Mapping[str, Any], chain: Chain) -> Report:
    """The recipient checks, then every approval check of the embedded approval bundle."""
    checks = _Checks(RECIPIENT_CHECKS)
    parsed = _parse_recipient(bundle)
    if isinstance(parsed, str):
        checks.fail("format", parsed)
        return Report(RECIPIENT_FORMAT, tuple(checks.done))
    member, index, leaf, size, proof, root, approval = parsed
    checks.ok("format", f"{RECIPIENT_FORMAT}, member {index} of a snapshot of {size}")
    try:
        computed = record_leaf(member)
    except LedgerValueError as exc:
        checks.fail("member_leaf", f"the member cannot be canonicalised: {exc}")
    else:
        if computed == leaf:
            checks.ok("member_leaf", f"SHA-256(0x00 ‖ RFC 8785 member) = {_hex(computed)}")
        else:
            checks.fail(
                "member_leaf",
                f"the member hashes to {_hex(computed)}, not to the bundle's {_hex(leaf)}",
            )
    if verify_inclusion(leaf, index, size, proof, root):
        checks.ok("member_inclusion", f"leaf {index} is in snapshot root {_hex(root)} of {size}")
    else:
        checks.fail(
            "member_inclusion",
            f"the proof does not lead from leaf {index} to snapshot root {_hex(root)} of {size}",
        )
    record = approval.get("record") if isinstance(approval, Mapping) else None
    if not isinstance(record, Mapping):
        checks.fail("snapshot_approved", "the embedded approval bundle has no record")
    elif record.get("decision") != "approve":
        checks.fail(
            "snapshot_approved",
            f"the embedded record is a {record.get('decision')!r} decision, not an approval",
        )
    elif (
        str(record.get("snapshot_root", "")).lower() != _hex(root)
        or record.get("snapshot_count") != size
    ):
        checks.fail(
            "snapshot_approved",
            f"the approval names snapshot ({record.get('snapshot_count')}, "
            f"{record.get('snapshot_root')}), the proof ({size}, {_hex(root)})",
        )
    else:
        checks.ok(
            "snapshot_approved",
            f"approved by {record.get('approver_address')} at stage {record.get('stage')!r}",
        )
    inner = verify_approval_evidence(approval, chain, prefix="approval: ")
    return Report(RECIPIENT_FORMAT, (*checks.done, *inner.checks))


# -- parsing ---------------------------------------------------------------------------------


def _parse_approval(bundle: Any) -> _Approval | str:
    """The bundle's values, or a sentence naming the first malformed field."""
    if not isinstance(bundle, Mapping):
        return f"the bundle is a {type(bundle).__name__}, not a JSON object"
    if bundle.get("format") != APPROVAL_FORMAT:
        return f"format is {bundle.get('format')!r}, not {APPROVAL_FORMAT!r}"
    try:
        anchor = bundle["anchor"]
        if not isinstance(anchor, Mapping):
            return "anchor is not an object"
        record = bundle["record"]
        if not isinstance(record, Mapping):
            return "record is not a JSON object"
        proof = bundle["inclusion_proof"]
        if not isinstance(proof, list):
            return "inclusion_proof is not a list"
        tx_hash = anchor.get("tx_hash")
        if tx_hash is not None and not (isinstance(tx_hash, str) and _TX_HASH.match(tx_hash)):
            return f"anchor.tx_hash {tx_hash!r} is not a transaction hash"
        block = anchor.get("block_number")
        return _Approval(
            record=dict(record),
            leaf_index=_count(bundle["leaf_index"], "leaf_index"),
            leaf_hash=_hash(bundle["leaf_hash"], "leaf_hash"),
            tree_size=_count(bundle["tree_size"], "tree_size"),
            proof=[_hash(p, f"inclusion_proof[{i}]") for i, p in enumerate(proof)],
            root=_hash(bundle["root"], "root"),
            signature=_optional_str(bundle.get("signature"), "signature"),
            signer=(
                None if bundle.get("signer") is None else to_address(bundle["signer"], "signer")
            ),
            chain_id=_count(anchor["chain_id"], "anchor.chain_id"),
            contract=to_address(anchor["contract"], "anchor.contract"),
            tx_hash=tx_hash,
            block_number=None if block is None else _count(block, "anchor.block_number"),
            anchor_size=_count(anchor["tree_size"], "anchor.tree_size"),
            anchor_root=_hash(anchor["root"], "anchor.root"),
        )
    except KeyError as exc:
        return f"the bundle lacks {exc.args[0]!r}"
    except LedgerValueError as exc:
        return str(exc)


def _parse_recipient(
    bundle: Any,
) -> tuple[dict[str, Any], int, bytes, int, list[bytes], bytes, Any] | str:
    if not isinstance(bundle, Mapping):
        return f"the bundle is a {type(bundle).__name__}, not a JSON object"
    if bundle.get("format") != RECIPIENT_FORMAT:
        return f"format is {bundle.get('format')!r}, not {RECIPIENT_FORMAT!r}"
    try:
        member = bundle["member"]
        if not isinstance(member, Mapping) or sorted(member) != sorted(RECIPIENT_FIELDS):
            return f"member must be an object of exactly {', '.join(RECIPIENT_FIELDS)}"
        proof = bundle["inclusion_proof"]
        if not isinstance(proof, list):
            return "inclusion_proof is not a list"
        return (
            dict(member),
            _count(bundle["leaf_index"], "leaf_index"),
            _hash(bundle["leaf_hash"], "leaf_hash"),
            _count(bundle["snapshot_size"], "snapshot_size"),
            [_hash(p, f"inclusion_proof[{i}]") for i, p in enumerate(proof)],
            _hash(bundle["snapshot_root"], "snapshot_root"),
            bundle["approval"],
        )
    except KeyError as exc:
        return f"the bundle lacks {exc.args[0]!r}"
    except LedgerValueError as exc:
        return str(exc)


def _count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise LedgerValueError(f"{name} is {value!r}, not a whole number >= 0")
    return value


def _hash(value: Any, name: str) -> bytes:
    if not isinstance(value, str) or not _HASH.match(value):
        raise LedgerValueError(f"{name} is {value!r}, not 0x followed by 64 hex digits")
    return bytes.fromhex(value[2:])


def _optional_str(value: Any, name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise LedgerValueError(f"{name} is a {type(value).__name__}, not a string")


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


__all__ = [
    "APPROVAL_CHECKS",
    "APPROVAL_FORMAT",
    "RECIPIENT_CHECKS",
    "RECIPIENT_FORMAT",
    "AnchorInfo",
    "Check",
    "Report",
    "build_approval_evidence",
    "build_recipient_evidence",
    "snapshot_member",
    "snapshot_root",
    "verify_approval_evidence",
    "verify_evidence",
    "verify_recipient_evidence",
]
