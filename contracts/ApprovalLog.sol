// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IApprovalLog} from "./IApprovalLog.sol";
import {IOperatorRegistry} from "./IOperatorRegistry.sol";

/// @title ApprovalLog
/// @notice Anchors checkpoints of the RFC 9162 approval log and refuses any checkpoint that
/// is not an append-only extension of the last one.
/// @dev Gas: a checkpoint costs one new storage slot (its root), one rewritten slot (the
/// packed head), one read of the previous root, one registry call, and the SHA-256
/// precompile calls of the proof check, O(log size). Roots are stored by size; everything
/// else an indexer needs is in the event.
contract ApprovalLog is IApprovalLog {
    /// @inheritdoc IApprovalLog
    bytes32 public constant ANCHORER_ROLE = keccak256("ANCHORER");
    /// @inheritdoc IApprovalLog
    uint256 public constant MAX_PROOF_LENGTH = 64;

    IOperatorRegistry private immutable _registry;
    mapping(uint64 size => bytes32 root) private _roots;
    /// @dev The latest checkpoint's size (bits 0-63), block number (64-127), timestamp
    /// (128-191) and the number of checkpoints (192-255), packed by hand so that anchoring
    /// rewrites the slot with one SSTORE.
    uint256 private _head;

    /// @param registry_ the OperatorRegistry whose ANCHORER role holders may anchor
    constructor(IOperatorRegistry registry_) {
        if (address(registry_).code.length == 0) revert ApprovalLogInvalidRegistry(address(registry_));
        _registry = registry_;
    }

    // ------------------------------------------------------------- actions

    /// @inheritdoc IApprovalLog
    function anchor(uint64 newSize, bytes32 newRoot, bytes32[] calldata consistencyProof)
        external
    {
        if (!_registry.hasRole(ANCHORER_ROLE, msg.sender)) revert ApprovalLogNotAnchorer(msg.sender);
        if (newRoot == bytes32(0)) revert ApprovalLogZeroRoot();
        uint256 proofLength = consistencyProof.length;
        if (proofLength > MAX_PROOF_LENGTH) {
            revert ApprovalLogProofTooLong(proofLength, MAX_PROOF_LENGTH);
        }
        uint256 head = _head;
        uint64 oldSize = uint64(head);
        if (newSize <= oldSize) {
            if (newSize == oldSize && oldSize != 0 && newRoot == _roots[oldSize]) {
                revert ApprovalLogAlreadyAnchored(newSize, newRoot);
            }
            revert ApprovalLogNotExtension(oldSize, newSize);
        }
        if (oldSize == 0) {
            // Every tree extends the empty one; there is nothing to prove.
            if (proofLength != 0) revert ApprovalLogInvalidProof(0, newSize, bytes32(0), newRoot);
        } else {
            bytes32 oldRoot = _roots[oldSize];
            if (!_consistent(oldSize, newSize, oldRoot, newRoot, consistencyProof)) {
                revert ApprovalLogInvalidProof(oldSize, newSize, oldRoot, newRoot);
            }
        }
        _roots[newSize] = newRoot;
        // unchecked: the count cannot pass the size, a uint64, so it cannot overflow either.
        uint256 count;
        unchecked {
            count = (head >> 192) + 1;
        }
        // Block numbers and timestamps fit 64 bits for longer than anyone will care.
        _head = (count << 192) | (uint256(uint64(block.timestamp)) << 128)
            | (uint256(uint64(block.number)) << 64) | uint256(newSize);
        emit CheckpointAnchored(newSize, newRoot, msg.sender);
    }

    // ------------------------------------------------------------- views

    /// @inheritdoc IApprovalLog
    function rootAt(uint64 size) external view returns (bytes32 root) {
        root = _roots[size];
        if (root == bytes32(0)) revert ApprovalLogUnknownCheckpoint(size);
    }

    /// @inheritdoc IApprovalLog
    function latest() external view returns (uint64 size, bytes32 root) {
        size = uint64(_head);
        root = _roots[size];
    }

    /// @inheritdoc IApprovalLog
    function latestCheckpoint()
        external
        view
        returns (uint64 size, bytes32 root, uint64 blockNumber, uint64 timestamp, uint64 count)
    {
        uint256 head = _head;
        size = uint64(head);
        return (size, _roots[size], uint64(head >> 64), uint64(head >> 128), uint64(head >> 192));
    }

    /// @inheritdoc IApprovalLog
    function registry() external view returns (address) {
        return address(_registry);
    }

    // ------------------------------------------------------------- RFC 9162

    /// @dev RFC 9162 §2.1.4.2 for 0 < first < second, step by step. Every loop is bounded:
    /// the path by MAX_PROOF_LENGTH, the shifts by the 64 bits of the sizes.
    function _consistent(
        uint256 first,
        uint256 second,
        bytes32 firstHash,
        bytes32 secondHash,
        bytes32[] calldata path
    ) private view returns (bool) {
        uint256 length = path.length;
        // 1. An empty path fails.
        if (length == 0) return false;
        // 2 and 5. When first is an exact power of 2, first_hash is the path's (prepended)
        // first value; otherwise the path's own first value is.
        bytes32 fr;
        uint256 i;
        if (first & (first - 1) == 0) {
            fr = firstHash;
        } else {
            fr = path[0];
            i = 1;
        }
        bytes32 sr = fr;
        // 3 and 4.
        uint256 fn = first - 1;
        uint256 sn = second - 1;
        while (fn & 1 == 1) {
            fn >>= 1;
            sn >>= 1;
        }
        // 6.
        for (; i < length; ++i) {
            if (sn == 0) return false;
            bytes32 c = path[i];
            if (fn & 1 == 1 || fn == sn) {
                fr = _nodeHash(c, fr);
                sr = _nodeHash(c, sr);
                while (fn & 1 == 0 && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
            } else {
                sr = _nodeHash(sr, c);
            }
            fn >>= 1;
            sn >>= 1;
        }
        // 7.
        return fr == firstHash && sr == secondHash && sn == 0;
    }

    /// @dev SHA-256(0x01 || left || right) through the SHA-256 precompile, in the unused
    /// memory past the free memory pointer (which is left where it is).
    function _nodeHash(bytes32 left, bytes32 right) private view returns (bytes32 digest) {
        assembly ("memory-safe") {
            let buffer := mload(0x40)
            mstore8(buffer, 0x01)
            mstore(add(buffer, 1), left)
            mstore(add(buffer, 33), right)
            // The precompile only fails when it runs out of gas; pass that on as a bare revert.
            if iszero(staticcall(gas(), 0x02, buffer, 65, buffer, 32)) { revert(0, 0) }
            digest := mload(buffer)
        }
    }
}
