"""scripts/besu_genesis.py: the committed 4-validator QBFT network is what it claims to be."""

from __future__ import annotations

import json
from pathlib import Path

import coincurve
import pytest
import rlp
from eth_utils import keccak, to_checksum_address

from scripts.besu_genesis import DEV_SEED, main

BESU = Path(__file__).resolve().parents[2] / "besu"
NODES = [f"node{i}" for i in range(1, 5)]


def key_of(folder: Path, node: str) -> bytes:
    text = (folder / node / "key").read_text(encoding="ascii")
    assert text.startswith("0x") and len(text) == 66
    return bytes.fromhex(text[2:])


def public_key(secret: bytes) -> bytes:
    """The 64-byte public key, computed with coincurve (not the script's eth-keys)."""
    return coincurve.PrivateKey(secret).public_key.format(compressed=False)[1:]


def address_of(secret: bytes) -> str:
    return to_checksum_address(keccak(public_key(secret))[-20:])


def test_the_extra_data_decodes_to_exactly_the_four_validators_and_nothing_else() -> None:
    genesis = json.loads((BESU / "genesis.json").read_text())
    vanity, validators, vote, round_, seals = rlp.decode(bytes.fromhex(genesis["extraData"][2:]))
    assert vanity == b"\x00" * 32
    assert [to_checksum_address(v) for v in validators] == [
        address_of(key_of(BESU, node)) for node in NODES
    ]
    assert (vote, round_, seals) == ([], b"", [])


def test_the_genesis_is_a_free_gas_qbft_chain_with_the_cancun_evm() -> None:
    config = json.loads((BESU / "genesis.json").read_text())["config"]
    assert 133700 <= config["chainId"] <= 133799
    assert config["qbft"] == {
        "blockperiodseconds": 2,
        "epochlength": 30000,
        "requesttimeoutseconds": 4,
    }
    assert config["zeroBaseFee"] is True
    assert (config["berlinBlock"], config["londonBlock"]) == (0, 0)
    assert (config["shanghaiTime"], config["cancunTime"]) == (0, 0)


def test_every_enode_id_derives_from_its_node_key() -> None:
    enodes = json.loads((BESU / "static-nodes.json").read_text())
    listed = json.loads((BESU / "validators.json").read_text())["validators"]
    for n, (node, enode, entry) in enumerate(zip(NODES, enodes, listed, strict=True)):
        secret = key_of(BESU, node)
        ip = f"172.31.233.{11 + n}"
        assert enode == f"enode://{public_key(secret).hex()}@{ip}:30303"
        assert entry == {"node": node, "address": address_of(secret), "enode": enode, "ip": ip}


def test_the_committed_files_are_the_scripts_output_for_the_development_seed(
    tmp_path: Path,
) -> None:
    assert main(["--seed", DEV_SEED, "--out", str(tmp_path)]) == 0
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert [str(p) for p in generated] == [
        "genesis.json",
        *[f"{node}/key" for node in NODES],
        "static-nodes.json",
        "validators.json",
    ]
    for relative in generated:
        assert (tmp_path / relative).read_bytes() == (BESU / relative).read_bytes(), relative
    assert json.loads((BESU / "validators.json").read_text())["warning"].startswith(
        "DEVELOPMENT KEYS derived from a public seed"
    )


def test_without_a_seed_every_run_makes_new_keys(tmp_path: Path) -> None:
    assert main(["--out", str(tmp_path / "a")]) == 0
    assert main(["--out", str(tmp_path / "b")]) == 0
    keys_a = {key_of(tmp_path / "a", node) for node in NODES}
    keys_b = {key_of(tmp_path / "b", node) for node in NODES}
    assert len(keys_a) == len(keys_b) == 4 and not keys_a & keys_b
    assert json.loads((tmp_path / "a" / "validators.json").read_text())["warning"] is None


def test_a_seven_validator_network_lists_seven_validators(tmp_path: Path) -> None:
    assert main(["--seed", "x", "--validators", "7", "--out", str(tmp_path)]) == 0
    genesis = json.loads((tmp_path / "genesis.json").read_text())
    assert len(rlp.decode(bytes.fromhex(genesis["extraData"][2:]))[1]) == 7


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--validators", "3"],
            "error: --validators 3: QBFT needs at least 4 validators to tolerate one fault "
            "(f = (n - 1) / 3)",
        ),
        (
            ["--subnet", "10.0.0.0/29"],
            "error: --subnet 10.0.0.0/29 is too small for 4 validators; use a /24",
        ),
    ],
)
def test_bad_arguments_are_refused_with_one_line(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*args, "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == message
    assert not any(tmp_path.iterdir())
