// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @notice A naive, recursive builder of Keel's compact sparse Merkle tree (docs/protocol.md §4),
///         for making roots and inclusion proofs in tests. Quadratic; fine for a handful of leaves.
library Smt {
    function leafHash(bytes32 key, bytes32 value) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(uint8(0), key, value));
    }

    function nodeHash(bytes32 left, bytes32 right) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(uint8(1), left, right));
    }

    function bit(bytes32 key, uint256 depth) internal pure returns (bool) {
        return (uint256(key) >> (255 - depth)) & 1 == 1;
    }

    /// @notice The root of the tree holding `keys[i] → values[i]` (keys distinct).
    function root(bytes32[] memory keys, bytes32[] memory values) internal pure returns (bytes32) {
        return _node(keys, values, 0);
    }

    /// @notice The inclusion proof (siblings, root first) of `keys[index]`.
    function proof(bytes32[] memory keys, bytes32[] memory values, uint256 index)
        internal
        pure
        returns (bytes32[] memory siblings)
    {
        bytes32[] memory path = new bytes32[](256);
        uint256 d;
        bytes32 key = keys[index];
        while (keys.length > 1) {
            (bytes32[] memory lk, bytes32[] memory lv, bytes32[] memory rk, bytes32[] memory rv) =
                _split(keys, values, d);
            if (bit(key, d)) {
                path[d] = _node(lk, lv, d + 1);
                (keys, values) = (rk, rv);
            } else {
                path[d] = _node(rk, rv, d + 1);
                (keys, values) = (lk, lv);
            }
            ++d;
        }
        siblings = new bytes32[](d);
        for (uint256 i; i < d; ++i) {
            siblings[i] = path[i];
        }
    }

    function _node(bytes32[] memory keys, bytes32[] memory values, uint256 depth) private pure returns (bytes32) {
        if (keys.length == 0) return bytes32(0);
        if (keys.length == 1) return leafHash(keys[0], values[0]);
        (bytes32[] memory lk, bytes32[] memory lv, bytes32[] memory rk, bytes32[] memory rv) =
            _split(keys, values, depth);
        return nodeHash(_node(lk, lv, depth + 1), _node(rk, rv, depth + 1));
    }

    function _split(bytes32[] memory keys, bytes32[] memory values, uint256 depth)
        private
        pure
        returns (bytes32[] memory lk, bytes32[] memory lv, bytes32[] memory rk, bytes32[] memory rv)
    {
        uint256 nr;
        for (uint256 i; i < keys.length; ++i) {
            if (bit(keys[i], depth)) ++nr;
        }
        lk = new bytes32[](keys.length - nr);
        lv = new bytes32[](keys.length - nr);
        rk = new bytes32[](nr);
        rv = new bytes32[](nr);
        (uint256 a, uint256 b) = (0, 0);
        for (uint256 i; i < keys.length; ++i) {
            if (bit(keys[i], depth)) {
                (rk[b], rv[b]) = (keys[i], values[i]);
                ++b;
            } else {
                (lk[a], lv[a]) = (keys[i], values[i]);
                ++a;
            }
        }
    }
}
