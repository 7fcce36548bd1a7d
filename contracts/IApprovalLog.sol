// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title IApprovalLog
/// @notice Checkpoints of Ledgerline's approval log, an RFC 9162 (Certificate Transparency
/// 2.0) Merkle tree of the campaign approval decisions. A checkpoint is a tree size and its
/// root; the contract accepts a new checkpoint only when an RFC 9162 consistency proof
/// shows the new tree is an append-only extension of the last anchored one, so a log that
/// rewrites or forks its history cannot be anchored.
/// @dev Hashing is RFC 9162's: SHA-256 (the 0x02 precompile), node hash
/// SHA-256(0x01 || left || right). Only active registry members holding the ANCHORER role
/// may anchor.
interface IApprovalLog {
    // ----------------------------------------------------------------- errors

    /// @notice The registry given to the constructor is not a contract.
    error ApprovalLogInvalidRegistry(address registry);
    /// @notice `caller` is not an active registry member holding the ANCHORER role.
    error ApprovalLogNotAnchorer(address caller);
    /// @notice A checkpoint of `newSize` leaves cannot follow the last one of `oldSize`:
    /// the log only grows.
    error ApprovalLogNotExtension(uint64 oldSize, uint64 newSize);
    /// @notice The checkpoint (`size`, `root`) is already the latest one.
    error ApprovalLogAlreadyAnchored(uint64 size, bytes32 root);
    /// @notice The consistency proof does not show that the tree (`newSize`, `newRoot`)
    /// extends the anchored tree (`oldSize`, `oldRoot`).
    error ApprovalLogInvalidProof(uint64 oldSize, uint64 newSize, bytes32 oldRoot, bytes32 newRoot);
    /// @notice The proof has `length` hashes, more than the `maxLength` any real proof needs.
    error ApprovalLogProofTooLong(uint256 length, uint256 maxLength);
    /// @notice A zero root is never the root of a tree.
    error ApprovalLogZeroRoot();
    /// @notice No checkpoint of `size` leaves was ever anchored.
    error ApprovalLogUnknownCheckpoint(uint64 size);

    // ----------------------------------------------------------------- events

    /// @notice The tree of `size` leaves with `root` was anchored by `by`.
    event CheckpointAnchored(uint64 indexed size, bytes32 root, address indexed by);

    // ------------------------------------------------------------- actions

    /// @notice Anchor the checkpoint (`newSize`, `newRoot`) of the approval log.
    /// @dev Requires the caller to be an active member holding the registry's ANCHORER
    /// role; `newRoot` non-zero; `consistencyProof` at most `MAX_PROOF_LENGTH` hashes;
    /// `newSize` larger than the latest anchored size; and, unless this is the first
    /// checkpoint (which takes an empty proof), `consistencyProof` the RFC 9162 §2.1.4
    /// consistency proof from the latest checkpoint to the new one, checked with the
    /// verification algorithm of §2.1.4.2. Emits CheckpointAnchored.
    /// @param newSize the number of leaves of the new tree
    /// @param newRoot the new tree's RFC 9162 root hash
    /// @param consistencyProof PROOF(latest size, D[newSize]) in RFC 9162 order
    function anchor(uint64 newSize, bytes32 newRoot, bytes32[] calldata consistencyProof)
        external;

    // ------------------------------------------------------------- views

    /// @notice The root anchored for the tree of `size` leaves.
    /// @dev Reverts with ApprovalLogUnknownCheckpoint when no checkpoint has that size.
    function rootAt(uint64 size) external view returns (bytes32 root);

    /// @notice The latest checkpoint; (0, 0) before the first one.
    function latest() external view returns (uint64 size, bytes32 root);

    /// @notice The latest checkpoint with the block and time it was anchored in, and how
    /// many checkpoints were anchored in all; zeros before the first one.
    function latestCheckpoint()
        external
        view
        returns (uint64 size, bytes32 root, uint64 blockNumber, uint64 timestamp, uint64 count);

    /// @notice The operator registry consulted for the ANCHORER role.
    function registry() external view returns (address);

    /// @notice keccak256("ANCHORER"), the registry role that may anchor.
    function ANCHORER_ROLE() external view returns (bytes32);

    /// @notice The longest consistency proof `anchor` accepts: 64 hashes, enough for any tree
    /// of up to 2**63 leaves (a proof into a tree of at most 2**k leaves has at most k + 1).
    function MAX_PROOF_LENGTH() external view returns (uint256);
}
