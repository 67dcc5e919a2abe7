// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title TxRoot
/// @notice The tx root of a batch (docs/protocol.md §6): leaf i is `keccak(record_i)`, leaves are
///         padded with zero words to a power of two, internal nodes are `keccak(left ‖ right)`.
library TxRoot {
    /// @notice The size of one record in bytes (docs/protocol.md §3).
    uint256 internal constant RECORD_SIZE = 146;

    /// @notice `records.length` is not a multiple of `RECORD_SIZE`.
    error RecordsLengthNotMultiple(uint256 length);

    /// @notice Computes the tx root of the concatenated `records` and their count.
    /// @dev Zero for no record, the leaf for one record. Reverts if the length is not a multiple of 146.
    function compute(bytes calldata records) internal pure returns (bytes32 root, uint256 count) {
        if (records.length % RECORD_SIZE != 0) revert RecordsLengthNotMultiple(records.length);
        count = records.length / RECORD_SIZE;
        if (count == 0) return (bytes32(0), 0);
        assembly ("memory-safe") {
            // Leaves are hashed into free memory (not reserved: nothing else is allocated meanwhile).
            let buf := mload(0x40)
            let scratch := add(buf, shl(5, count))
            for { let i := 0 } lt(i, count) { i := add(i, 1) } {
                calldatacopy(scratch, add(records.offset, mul(i, 146)), 146)
                mstore(add(buf, shl(5, i)), keccak256(scratch, 146))
            }
            // Reduce in place; `width` nodes are live, the rest of the level is the zero subtree `zero`.
            let width := count
            let zero := 0
            for {} gt(width, 1) {} {
                let half := shr(1, add(width, 1))
                for { let i := 0 } lt(i, half) { i := add(i, 1) } {
                    let l := mload(add(buf, shl(6, i)))
                    let r := zero
                    if lt(add(shl(1, i), 1), width) { r := mload(add(buf, add(shl(6, i), 0x20))) }
                    mstore(0x00, l)
                    mstore(0x20, r)
                    mstore(add(buf, shl(5, i)), keccak256(0x00, 0x40))
                }
                mstore(0x00, zero)
                mstore(0x20, zero)
                zero := keccak256(0x00, 0x40)
                width := half
            }
            root := mload(buf)
        }
        // `width` reaches 1 only when the padded tree has been fully reduced: ceil-halving from t
        // takes exactly log2(P) rounds, where P is the next power of two ≥ t.
    }

    /// @notice Checks `proof` (siblings from the leaf level up) for `leaf` at `index` in a tree of
    ///         `count` records with root `root`. Returns false rather than reverting.
    function verify(bytes32 root, uint256 count, uint256 index, bytes32 leaf, bytes32[] memory proof)
        internal
        pure
        returns (bool)
    {
        if (index >= count) return false;
        uint256 depth;
        while (depth < 256 && (uint256(1) << depth) < count) {
            ++depth;
        }
        if (proof.length != depth) return false;
        bytes32 node = leaf;
        assembly ("memory-safe") {
            let data := add(proof, 0x20)
            for { let j := 0 } lt(j, depth) { j := add(j, 1) } {
                let sib := mload(add(data, shl(5, j)))
                switch and(shr(j, index), 1)
                case 0 {
                    mstore(0x00, node)
                    mstore(0x20, sib)
                }
                default {
                    mstore(0x00, sib)
                    mstore(0x20, node)
                }
                node := keccak256(0x00, 0x40)
            }
        }
        return node == root;
    }
}
