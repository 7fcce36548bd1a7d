"""Generate the `besu` compose profile's network: a 4-validator QBFT chain with free gas.

Writes into ``besu/`` (or ``--out``):

* ``genesis.json``: QBFT (block header validator selection), Cancun EVM from block 0
  (the contracts are compiled for it), ``zeroBaseFee`` and an empty ``alloc``: gas is
  free, so no account needs a balance;
* ``node<i>/key``: each validator's secp256k1 node key, hex, as Besu reads it;
* ``static-nodes.json``: every validator's enode URL at its fixed address on the
  compose network ``besu`` (``--subnet``);
* ``validators.json``: per node its address (the QBFT validator address), enode id and
  IP, for people and tests.

``extraData`` is Besu's QBFT encoding: ``RLP([32 zero bytes of vanity, [validator
addresses], [] (no vote), round 0, [] (no seals)])``.

The committed files are **development keys** made with ``--seed ledgerline-besu-dev``:
anyone can recompute them, so they must never hold value or run a real network.  A real
consortium generates one key per operator on that operator's own machine (without
``--seed``, keys come from the OS's random source) and shares only enode URLs.

    python scripts/besu_genesis.py --seed ledgerline-besu-dev     # the committed files
    python scripts/besu_genesis.py --out /tmp/net --validators 7   # fresh random keys
"""

from __future__ import annotations

import argparse
import hashlib
import ipaddress
import json
import secrets
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import rlp
from eth_keys.datatypes import PrivateKey

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "besu"
DEV_SEED = "ledgerline-besu-dev"
DEFAULT_CHAIN_ID = 133701
DEFAULT_SUBNET = "172.31.233.0/24"
FIRST_HOST = 11  # node1 is .11, node2 .12, …
P2P_PORT = 30303
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
# Besu's own example values for a BFT genesis (its mixHash marks the block as BFT).
BFT_MIX_HASH = "0x63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365"
GENESIS_TIMESTAMP = "0x58ee40ba"
GAS_LIMIT = "0x1fffffffffffff"
DEV_WARNING = (
    "DEVELOPMENT KEYS derived from a public seed: anyone can recompute them. Never use "
    "them for a network that matters; each operator generates its own node key."
)


class GenesisError(ValueError):
    """Bad arguments for the network to generate."""


@dataclass(frozen=True)
class Validator:
    index: int  # 1-based: node1, node2, …
    private_key: bytes
    ip: str

    @property
    def _key(self) -> PrivateKey:
        return PrivateKey(self.private_key)

    @property
    def address(self) -> str:
        """The validator (and node) address: keccak of the public key, last 20 bytes."""
        return str(self._key.public_key.to_checksum_address())

    @property
    def enode_id(self) -> str:
        """The 64-byte uncompressed public key without its 0x04 prefix, hex."""
        return bytes(self._key.public_key.to_bytes()).hex()

    @property
    def enode_url(self) -> str:
        return f"enode://{self.enode_id}@{self.ip}:{P2P_PORT}"


def derive_keys(count: int, seed: str | None) -> list[bytes]:
    """``count`` valid secp256k1 private keys: from ``seed`` (reproducible) or random."""
    found: list[bytes] = []
    counter = 0
    while len(found) < count:
        if seed is None:
            candidate = secrets.token_bytes(32)
        else:
            material = f"{seed}:{len(found) + 1}:{counter}".encode()
            candidate = hashlib.sha256(material).digest()
            counter += 1
        if 0 < int.from_bytes(candidate, "big") < SECP256K1_N:
            found.append(candidate)
            counter = 0
    return found


def node_ips(subnet: str, count: int) -> list[str]:
    try:
        network = ipaddress.ip_network(subnet)
    except ValueError as exc:
        raise GenesisError(
            f"--subnet {subnet!r} is not a network ({exc}); e.g. 172.31.233.0/24"
        ) from None
    hosts = list(network.hosts())
    if len(hosts) < FIRST_HOST + count:
        raise GenesisError(f"--subnet {subnet} is too small for {count} validators; use a /24")
    return [str(hosts[FIRST_HOST - 1 + i]) for i in range(count)]


def qbft_extra_data(addresses: Sequence[str]) -> str:
    """Besu's QBFT genesis extraData for ``addresses`` (no vote, round 0, no seals)."""
    validators = [bytes.fromhex(a.removeprefix("0x")) for a in addresses]
    return "0x" + rlp.encode([b"\x00" * 32, validators, [], b"", []]).hex()


def genesis(validators: Sequence[Validator], chain_id: int, block_period: int) -> dict:
    return {
        "config": {
            "chainId": chain_id,
            "homesteadBlock": 0,
            "eip150Block": 0,
            "eip155Block": 0,
            "eip158Block": 0,
            "byzantiumBlock": 0,
            "constantinopleBlock": 0,
            "petersburgBlock": 0,
            "istanbulBlock": 0,
            "berlinBlock": 0,
            "londonBlock": 0,
            "shanghaiTime": 0,
            "cancunTime": 0,
            "zeroBaseFee": True,
            "qbft": {
                "blockperiodseconds": block_period,
                "epochlength": 30000,
                "requesttimeoutseconds": 2 * block_period,
            },
        },
        "nonce": "0x0",
        "timestamp": GENESIS_TIMESTAMP,
        "gasLimit": GAS_LIMIT,
        "difficulty": "0x1",
        "mixHash": BFT_MIX_HASH,
        "coinbase": "0x0000000000000000000000000000000000000000",
        "alloc": {},
        "extraData": qbft_extra_data([v.address for v in validators]),
    }


def make_validators(count: int, seed: str | None, subnet: str) -> list[Validator]:
    if count < 4:
        raise GenesisError(
            f"--validators {count}: QBFT needs at least 4 validators to tolerate one fault "
            "(f = (n - 1) / 3)"
        )
    ips = node_ips(subnet, count)
    return [Validator(i + 1, key, ips[i]) for i, key in enumerate(derive_keys(count, seed))]


def render(
    validators: Sequence[Validator], *, chain_id: int, block_period: int, seed: str | None
) -> dict[str, str]:
    """Every file to write, relative path -> content."""
    files = {
        "genesis.json": json.dumps(genesis(validators, chain_id, block_period), indent=2) + "\n",
        "static-nodes.json": json.dumps([v.enode_url for v in validators], indent=2) + "\n",
    }
    files["validators.json"] = (
        json.dumps(
            {
                "warning": DEV_WARNING if seed is not None else None,
                "seed": seed,
                "chainId": chain_id,
                "validators": [
                    {
                        "node": f"node{v.index}",
                        "address": v.address,
                        "enode": v.enode_url,
                        "ip": v.ip,
                    }
                    for v in validators
                ],
            },
            indent=2,
        )
        + "\n"
    )
    for v in validators:
        files[f"node{v.index}/key"] = "0x" + v.private_key.hex()
    return files


def write(out: Path, files: dict[str, str]) -> None:
    for relative, content in files.items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="ascii")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (besu/)")
    parser.add_argument(
        "--seed",
        default=None,
        help=f"derive the keys from this text ({DEV_SEED} "
        "for the committed development network); random without it",
    )
    parser.add_argument("--validators", type=int, default=4, help="number of validators (>= 4)")
    parser.add_argument("--chain-id", type=int, default=DEFAULT_CHAIN_ID)
    parser.add_argument("--block-period", type=int, default=2, help="seconds between blocks")
    parser.add_argument(
        "--subnet",
        default=DEFAULT_SUBNET,
        help="the compose network 'besu' (must match docker-compose.yml)",
    )
    args = parser.parse_args(argv)
    try:
        validators = make_validators(args.validators, args.seed, args.subnet)
    except GenesisError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    files = render(
        validators, chain_id=args.chain_id, block_period=args.block_period, seed=args.seed
    )
    write(args.out, files)
    print(f"wrote a {len(validators)}-validator QBFT network ({args.chain_id}) to {args.out}")
    for v in validators:
        print(f"  node{v.index}  {v.address}  {v.enode_url}")
    if args.seed is not None:
        print(f"warning: {DEV_WARNING}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
