"""The approval log's RFC 9162 Merkle tree and RFC 8785 record canonicalisation.

The module is checked against a reference written here straight from the RFC's
recursive definitions (MTH §2.1.1, PATH §2.1.3.1, PROOF/SUBPROOF §2.1.4.1), and against
verifiers that rebuild the roots by the same recursion rather than by the RFC's
bit-shifting algorithms the module implements.
"""

from __future__ import annotations

import hashlib
import re
import types
from functools import cache

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.errors import LedgerValueError
from ledger.merkle import (
    EMPTY_ROOT,
    MerkleLog,
    canonical_record,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    record_leaf,
    root,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)

# -- the reference, from the RFC's definitions --------------------------------------------


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def largest_power_of_two_below(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


@cache
def ref_mth(entries: tuple[bytes, ...]) -> bytes:
    n = len(entries)
    if n == 0:
        return sha256(b"")
    if n == 1:
        return sha256(b"\x00" + entries[0])
    k = largest_power_of_two_below(n)
    return sha256(b"\x01" + ref_mth(entries[:k]) + ref_mth(entries[k:]))


def ref_path(m: int, entries: tuple[bytes, ...]) -> list[bytes]:
    n = len(entries)
    if n == 1:
        return []
    k = largest_power_of_two_below(n)
    if m < k:
        return [*ref_path(m, entries[:k]), ref_mth(entries[k:])]
    return [*ref_path(m - k, entries[k:]), ref_mth(entries[:k])]


def ref_subproof(m: int, entries: tuple[bytes, ...], b: bool) -> list[bytes]:
    n = len(entries)
    if m == n:
        return [] if b else [ref_mth(entries)]
    k = largest_power_of_two_below(n)
    if m <= k:
        return [*ref_subproof(m, entries[:k], b), ref_mth(entries[k:])]
    return [*ref_subproof(m - k, entries[k:], False), ref_mth(entries[:k])]


def ref_proof(m: int, entries: tuple[bytes, ...]) -> list[bytes]:
    return ref_subproof(m, entries, True)


def ref_root_from_path(m: int, n: int, leaf: bytes, path: list[bytes]) -> bytes | None:
    """Undo PATH: the root the path leads to, or None when its shape is wrong."""
    if n == 1:
        return None if path else leaf
    if not path:
        return None
    k = largest_power_of_two_below(n)
    sibling, rest = path[-1], path[:-1]
    if m < k:
        below = ref_root_from_path(m, k, leaf, rest)
        return None if below is None else sha256(b"\x01" + below + sibling)
    below = ref_root_from_path(m - k, n - k, leaf, rest)
    return None if below is None else sha256(b"\x01" + sibling + below)


def ref_roots_from_subproof(
    m: int, n: int, b: bool, old_root: bytes, proof: list[bytes]
) -> tuple[bytes, bytes] | None:
    """Undo SUBPROOF: (hash of the old part, hash of the whole) of D[0:n], or None."""
    if m == n:
        if b:
            return None if proof else (old_root, old_root)
        return (proof[0], proof[0]) if len(proof) == 1 else None
    if not proof:
        return None
    k = largest_power_of_two_below(n)
    sibling, rest = proof[-1], proof[:-1]
    if m <= k:
        below = ref_roots_from_subproof(m, k, b, old_root, rest)
        if below is None:
            return None
        return below[0], sha256(b"\x01" + below[1] + sibling)
    below = ref_roots_from_subproof(m - k, n - k, False, old_root, rest)
    if below is None:
        return None
    return sha256(b"\x01" + sibling + below[0]), sha256(b"\x01" + sibling + below[1])


def ref_verify_inclusion(
    leaf: bytes, m: int, n: int, path: list[bytes], expected_root: bytes
) -> bool:
    return 0 <= m < n and ref_root_from_path(m, n, leaf, path) == expected_root


def ref_verify_consistency(
    m: int, n: int, old_root: bytes, new_root: bytes, proof: list[bytes]
) -> bool:
    if not 0 < m < n:
        return False
    roots = ref_roots_from_subproof(m, n, True, old_root, proof)
    return roots == (old_root, new_root)


def entries_of(count: int, salt: bytes = b"") -> tuple[bytes, ...]:
    """Distinct entries, so that no two leaves share a hash."""
    return tuple(salt + b"entry-" + i.to_bytes(4, "big") for i in range(count))


def flip(proof: list[bytes], which: int, byte: int = 0) -> list[bytes]:
    changed = bytearray(proof[which])
    changed[byte % len(changed)] ^= 0x01
    return [*proof[:which], bytes(changed), *proof[which + 1 :]]


ENTRIES = entries_of(64)
LEAVES = [leaf_hash(entry) for entry in ENTRIES]
LOG = MerkleLog(LEAVES)

# -- known vectors --------------------------------------------------------------------------

# The Certificate Transparency reference entries and the tree heads for sizes 1..8, as
# published with the CT and transparency-dev/merkle test suites.
CT_ENTRIES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_LEAVES = [leaf_hash(entry) for entry in CT_ENTRIES]


def test_the_empty_tree_hashes_to_sha256_of_the_empty_string() -> None:
    empty = bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")

    assert empty == EMPTY_ROOT
    assert root([]) == empty
    assert root_from_leaf_hashes([]) == empty
    assert MerkleLog().root() == empty


def test_leaf_and_node_hashes_carry_the_rfc_prefixes() -> None:
    assert leaf_hash(b"abc") == sha256(b"\x00abc")
    assert node_hash(b"L" * 32, b"R" * 32) == sha256(b"\x01" + b"L" * 32 + b"R" * 32)


@pytest.mark.parametrize("size", range(1, 9))
def test_the_ct_reference_tree_heads_are_reproduced(size: int) -> None:
    assert root(CT_ENTRIES[:size]).hex() == CT_ROOTS[size - 1]
    assert root_from_leaf_hashes(CT_LEAVES, size).hex() == CT_ROOTS[size - 1]
    assert MerkleLog(CT_LEAVES).root(size).hex() == CT_ROOTS[size - 1]


@pytest.mark.parametrize(
    ("index", "size", "path"),
    [
        (
            0,
            8,
            [
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            8,
            [
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
    ],
)
def test_the_ct_reference_inclusion_proofs_are_reproduced(
    index: int, size: int, path: list[str]
) -> None:
    proof = inclusion_proof(CT_LEAVES, index, size)

    assert [node.hex() for node in proof] == path
    assert verify_inclusion(CT_LEAVES[index], index, size, proof, bytes.fromhex(CT_ROOTS[-1]))


@pytest.mark.parametrize(
    ("old_size", "new_size", "path"),
    [
        (
            2,
            8,
            [
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            [
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            5,
            [
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ],
)
def test_the_ct_reference_consistency_proofs_are_reproduced(
    old_size: int, new_size: int, path: list[str]
) -> None:
    proof = consistency_proof(CT_LEAVES, old_size, new_size)

    assert [node.hex() for node in proof] == path
    assert verify_consistency(
        old_size,
        new_size,
        bytes.fromhex(CT_ROOTS[old_size - 1]),
        bytes.fromhex(CT_ROOTS[new_size - 1]),
        proof,
    )


# -- every size, index and pair up to 64 against the reference ------------------------------


@pytest.mark.parametrize("size", range(1, 65))
def test_roots_and_inclusion_proofs_match_the_reference_for_every_index(size: int) -> None:
    entries = ENTRIES[:size]
    expected_root = ref_mth(entries)

    assert root_from_leaf_hashes(LEAVES, size) == expected_root
    assert LOG.root(size) == expected_root
    for index in range(size):
        expected = ref_path(index, entries)
        assert inclusion_proof(LEAVES, index, size) == expected
        assert LOG.inclusion_proof(index, size) == expected
        assert verify_inclusion(LEAVES[index], index, size, expected, expected_root)
        assert ref_verify_inclusion(LEAVES[index], index, size, expected, expected_root)


@pytest.mark.parametrize("new_size", range(1, 65))
def test_consistency_proofs_match_the_reference_for_every_older_size(new_size: int) -> None:
    new_root = ref_mth(ENTRIES[:new_size])
    for old_size in range(1, new_size):
        old_root = ref_mth(ENTRIES[:old_size])
        expected = ref_proof(old_size, ENTRIES[:new_size])
        assert consistency_proof(LEAVES, old_size, new_size) == expected
        assert LOG.consistency_proof(old_size, new_size) == expected
        assert verify_consistency(old_size, new_size, old_root, new_root, expected)
        assert ref_verify_consistency(old_size, new_size, old_root, new_root, expected)
        assert not verify_consistency(old_size, new_size, old_root, new_root, flip(expected, 0))
        assert not verify_consistency(old_size, new_size, old_root, new_root, expected[:-1])


def test_a_log_grown_one_leaf_at_a_time_answers_for_every_earlier_size() -> None:
    log = MerkleLog()
    for count, leaf in enumerate(LEAVES, start=1):
        assert log.append(leaf) == count - 1
        assert log.size == len(log) == count
        assert log.root() == ref_mth(ENTRIES[:count])
        assert log.leaf(count - 1) == leaf
    assert log.root(17) == ref_mth(ENTRIES[:17])


def test_append_data_hashes_the_entry_as_a_leaf() -> None:
    log = MerkleLog()

    log.append_data(b"entry")

    assert log.leaf(0) == leaf_hash(b"entry") == log.root()


# -- the degenerate cases the RFC leaves out ------------------------------------------------


def test_equal_sizes_are_consistent_only_with_equal_roots_and_an_empty_proof() -> None:
    root4 = ref_mth(ENTRIES[:4])

    assert consistency_proof(LEAVES, 4, 4) == []
    assert verify_consistency(4, 4, root4, root4, [])
    assert not verify_consistency(4, 4, root4, ref_mth(ENTRIES[:5]), [])
    assert not verify_consistency(4, 4, root4, root4, [root4])


def test_every_tree_extends_the_empty_tree_without_a_proof() -> None:
    root8 = ref_mth(ENTRIES[:8])

    assert consistency_proof(LEAVES, 0, 8) == []
    assert verify_consistency(0, 8, EMPTY_ROOT, root8, [])
    assert not verify_consistency(0, 8, ref_mth(ENTRIES[:1]), root8, [])
    assert not verify_consistency(0, 8, EMPTY_ROOT, root8, [root8])


def test_a_proof_cannot_pass_off_a_smaller_tree_as_a_bigger_one() -> None:
    root1, root2 = ref_mth(ENTRIES[:1]), ref_mth(ENTRIES[:2])
    proof = consistency_proof(LEAVES, 1, 2)

    assert verify_consistency(1, 2, root1, root2, proof)
    assert not verify_consistency(1, 3, root1, root2, proof)


def test_verifiers_say_false_to_malformed_input() -> None:
    root8 = ref_mth(ENTRIES[:8])
    root6 = ref_mth(ENTRIES[:6])
    path = inclusion_proof(LEAVES, 5, 8)
    proof = consistency_proof(LEAVES, 6, 8)

    assert not verify_inclusion(LEAVES[5], 8, 8, path, root8)
    assert not verify_inclusion(LEAVES[5], -1, 8, path, root8)
    assert not verify_inclusion(LEAVES[5][:31], 5, 8, path, root8)
    assert not verify_inclusion(LEAVES[5], 5, 8, [path[0][:31], *path[1:]], root8)
    assert not verify_inclusion(LEAVES[5], 5, 8, path, root8[:31])
    assert not verify_consistency(8, 6, root8, root6, proof)
    assert not verify_consistency(6, 8, root6, root8, [])
    assert not verify_consistency(6, 8, root6[:31], root8, proof)
    assert not verify_consistency(-1, 8, root6, root8, proof)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: inclusion_proof(LEAVES, 8, 8), "leaf index must be an integer from 0 to 7, got 8"),
        (lambda: inclusion_proof(LEAVES, -1, 8), "leaf index must be an integer from 0 to 7"),
        (lambda: inclusion_proof(LEAVES, 0, 65), "tree_size must be an integer from 0 to 64"),
        (lambda: consistency_proof(LEAVES, 5, 3), "old_size must be an integer from 0 to 3"),
        (lambda: consistency_proof(LEAVES, 1, 65), "new_size must be an integer from 0 to 64"),
        (lambda: root_from_leaf_hashes([b"short"]), "leaf hash 0 is not 32 bytes"),
        (lambda: LOG.root(65), "size must be an integer from 0 to 64, got 65"),
        (lambda: LOG.inclusion_proof(0, 0), "the tree of size 0 has no leaf 0"),
        (lambda: LOG.leaf(64), "leaf index must be an integer from 0 to 63, got 64"),
        (lambda: MerkleLog().append(b"x" * 31), "a leaf hash is 32 bytes"),
    ],
)
def test_generators_refuse_out_of_range_arguments(call: object, message: str) -> None:
    with pytest.raises(LedgerValueError, match=re.escape(message)):
        call()  # type: ignore[operator]


# -- properties: genuine proofs verify, tampered ones never do ----------------------------

trees = st.tuples(st.integers(1, 200), st.binary(min_size=1, max_size=8))


@settings(max_examples=150, deadline=None)
@given(trees, st.data())
def test_any_consistent_extension_verifies_and_any_tampering_fails(
    tree: tuple[int, bytes], data: st.DataObject
) -> None:
    size, salt = tree
    entries = entries_of(size, salt)
    leaves = [leaf_hash(entry) for entry in entries]
    log = MerkleLog(leaves)
    new_size = data.draw(st.integers(1, size), label="new_size")
    old_size = data.draw(st.integers(1, new_size), label="old_size")
    old_root, new_root = log.root(old_size), log.root(new_size)
    proof = log.consistency_proof(old_size, new_size)

    assert verify_consistency(old_size, new_size, old_root, new_root, proof)
    assert proof == consistency_proof(leaves, old_size, new_size)
    if old_size == new_size:
        return
    assert ref_verify_consistency(old_size, new_size, old_root, new_root, proof)

    # A different history: one old entry rewritten, the new tree built on top of it.
    rewritten = data.draw(st.integers(0, old_size - 1), label="rewritten")
    forged = list(leaves[:new_size])
    forged[rewritten] = leaf_hash(b"forged" + entries[rewritten])
    forged_root = root_from_leaf_hashes(forged)
    forged_proof = consistency_proof(forged, old_size, new_size)
    assert not verify_consistency(old_size, new_size, old_root, forged_root, forged_proof)
    assert not verify_consistency(old_size, new_size, old_root, forged_root, proof)

    # A flipped byte anywhere, a node dropped or added, a wrong size.
    which = data.draw(st.integers(0, len(proof) - 1), label="which")
    byte = data.draw(st.integers(0, 31), label="byte")
    mangled = [
        flip(proof, which, byte),
        [node for i, node in enumerate(proof) if i != which],
        [*proof, proof[which]],
    ]
    for bad in mangled:
        assert not verify_consistency(old_size, new_size, old_root, new_root, bad)
        assert not ref_verify_consistency(old_size, new_size, old_root, new_root, bad)
    for other_old in {old_size - 1, old_size + 1} - {0, new_size}:
        assert not verify_consistency(other_old, new_size, log.root(other_old), new_root, proof)
    if new_size < size:
        bigger = new_size + 1
        assert not verify_consistency(old_size, bigger, old_root, log.root(bigger), proof)
    # Sizes that do not belong to the roots: the RFC algorithm and the recursion agree.
    for claimed_new in (new_size - 1, new_size + 1, 2 * new_size):
        assert verify_consistency(
            old_size, claimed_new, old_root, new_root, proof
        ) == ref_verify_consistency(old_size, claimed_new, old_root, new_root, proof)


@settings(max_examples=150, deadline=None)
@given(trees, st.data())
def test_any_inclusion_proof_verifies_and_any_tampering_fails(
    tree: tuple[int, bytes], data: st.DataObject
) -> None:
    size, salt = tree
    entries = entries_of(size, salt)
    leaves = [leaf_hash(entry) for entry in entries]
    log = MerkleLog(leaves)
    tree_size = data.draw(st.integers(1, size), label="tree_size")
    index = data.draw(st.integers(0, tree_size - 1), label="index")
    tree_root = log.root(tree_size)
    proof = log.inclusion_proof(index, tree_size)

    assert verify_inclusion(leaves[index], index, tree_size, proof, tree_root)
    assert ref_verify_inclusion(leaves[index], index, tree_size, proof, tree_root)
    assert proof == inclusion_proof(leaves, index, tree_size)

    other = data.draw(st.integers(0, tree_size - 1), label="other")
    if other != index:
        assert not verify_inclusion(leaves[other], index, tree_size, proof, tree_root)
        assert not verify_inclusion(leaves[index], other, tree_size, proof, tree_root)
    assert not verify_inclusion(leaf_hash(b"never logged"), index, tree_size, proof, tree_root)
    for other_size in {tree_size - 1, tree_size + 1} - {0, size + 1}:
        if index < other_size:
            assert not verify_inclusion(
                leaves[index], index, other_size, proof, log.root(other_size)
            )
    for claimed_size in (tree_size - 1, tree_size + 1, 2 * tree_size):
        assert verify_inclusion(leaves[index], index, claimed_size, proof, tree_root) == (
            ref_verify_inclusion(leaves[index], index, claimed_size, proof, tree_root)
        )
    if proof:
        which = data.draw(st.integers(0, len(proof) - 1), label="which")
        byte = data.draw(st.integers(0, 31), label="byte")
        for bad in (flip(proof, which, byte), proof[:which] + proof[which + 1 :]):
            assert not verify_inclusion(leaves[index], index, tree_size, bad, tree_root)
            assert not ref_verify_inclusion(leaves[index], index, tree_size, bad, tree_root)
    assert not verify_inclusion(leaves[index], index, tree_size, [*proof, tree_root], tree_root)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 40),
    st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=6),
    st.data(),
)
def test_the_rfc_verifiers_agree_with_the_recursive_reference_on_arbitrary_proofs(
    size: int, noise: list[bytes], data: st.DataObject
) -> None:
    entries = entries_of(size)
    leaves = [leaf_hash(entry) for entry in entries]
    new_size = data.draw(st.integers(1, size))
    old_size = data.draw(st.integers(1, new_size))
    index = data.draw(st.integers(0, new_size - 1))
    genuine_c = consistency_proof(leaves, old_size, new_size)
    genuine_i = inclusion_proof(leaves, index, new_size)
    # Arbitrary splices of genuine nodes and noise: both verifiers must agree on each.
    pool = genuine_c + genuine_i + noise
    candidate = data.draw(st.lists(st.sampled_from(pool), max_size=8))
    old_root = root_from_leaf_hashes(leaves, old_size)
    new_root = root_from_leaf_hashes(leaves, new_size)

    if old_size < new_size:
        assert verify_consistency(
            old_size, new_size, old_root, new_root, candidate
        ) == ref_verify_consistency(old_size, new_size, old_root, new_root, candidate)
    assert verify_inclusion(leaves[index], index, new_size, candidate, new_root) == (
        ref_verify_inclusion(leaves[index], index, new_size, candidate, new_root)
    )


# -- RFC 8785 records -----------------------------------------------------------------------


def test_records_are_canonical_whatever_the_key_order() -> None:
    first = {"campaign_id": "17", "version": "3", "decision": "approve"}
    second = {"decision": "approve", "version": "3", "campaign_id": "17"}

    assert canonical_record(first) == b'{"campaign_id":"17","decision":"approve","version":"3"}'
    assert record_leaf(first) == record_leaf(second)
    assert record_leaf(first) == sha256(b"\x00" + canonical_record(first))


def test_keys_sort_by_utf16_code_units_as_rfc_8785_shows() -> None:
    # RFC 8785 §3.2.3's example: U+1F600 (a surrogate pair D83D DE00) sorts before U+FB33.
    record = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }

    text = canonical_record(record).decode("utf-8")

    keys_in_order = ["\\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]
    positions = [text.index(f'"{key}":') for key in keys_in_order]
    assert positions == sorted(positions)


def test_unicode_is_written_as_utf8_and_control_characters_escaped() -> None:
    record = {"name": "Zoë € 😀", "note": 'line\nbreak "quoted" \u001f \\'}

    assert canonical_record(record) == (
        '{"name":"Zoë € 😀","note":"line\\nbreak \\"quoted\\" \\u001f \\\\"}'.encode()
    )


def test_integers_booleans_null_and_nesting_are_canonical() -> None:
    record = {"b": [True, False, None], "a": {"z": 2**53 - 1, "y": -7, "x": 0}}

    assert canonical_record(record) == (
        b'{"a":{"x":0,"y":-7,"z":9007199254740991},"b":[true,false,null]}'
    )
    assert canonical_record(record) == rfc8785.dumps(record)


def test_any_mapping_and_tuples_are_accepted() -> None:
    record = types.MappingProxyType({"ids": ("1", "2")})

    assert canonical_record(record) == b'{"ids":["1","2"]}'


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"amount": 12.5}, "record.amount is a float (12.5); the approval log refuses floats"),
        ({"lines": [{"amount": 2.0}]}, "record.lines[0].amount is a float (2.0)"),
        ({"x": float("nan")}, "record.x is a float ('nan')"),
        ({"id": 2**53}, "record.id is the integer 9007199254740992, beyond"),
        ({1: "one"}, "record has the key 1; object keys must be strings"),
        ({"blob": b"\x00"}, "record.blob is a bytes, which JSON cannot carry"),
        ({"bad": "\ud800"}, "the record cannot be canonicalised"),
    ],
)
def test_records_json_cannot_carry_exactly_are_refused(record: object, message: str) -> None:
    with pytest.raises(LedgerValueError, match=re.escape(message)):
        record_leaf(record)  # type: ignore[arg-type]


def test_a_record_must_be_an_object() -> None:
    with pytest.raises(LedgerValueError, match="a log record is a JSON object"):
        canonical_record(["not", "an", "object"])  # type: ignore[arg-type]
