"""The approval log: every campaign decision as an entry of an RFC 9162 Merkle log,
anchored on-chain through an outbox, with evidence bundles and whole-log verification."""
