// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title SparseMerkle
/// @notice Verification and single-key update of proofs in Keel's compact sparse Merkle tree
///         (docs/protocol.md §4): an empty subtree hashes to zero, a subtree holding one leaf is
///         that leaf's hash `keccak(0x00 ‖ key ‖ value)`, any other subtree is
///         `keccak(0x01 ‖ left ‖ right)`. Bit 0 of a key is its most significant bit.
/// @dev The 65-byte preimages are hashed in memory past the free memory pointer, which is scratch
///      space that Solidity never relies on (so the assembly blocks are memory-safe).
library SparseMerkle {
    /// @notice A proof for one key (docs/protocol.md §4, `SmtProof`).
    /// @param value The key's value: the leaf's value if `terminal == 1`, else zero.
    /// @param terminal 0 = empty subtree, 1 = the key's own leaf, 2 = another key's leaf.
    /// @param otherKey `terminal == 2`: the other leaf's key; else zero.
    /// @param otherValue `terminal == 2`: the other leaf's value; else zero.
    /// @param siblings `siblings[i]` is the sibling of the path node at depth i+1, root first.
    struct Proof {
        bytes32 value;
        uint8 terminal;
        bytes32 otherKey;
        bytes32 otherValue;
        bytes32[] siblings;
    }

    /// @notice The terminal code is not 0, 1 or 2.
    error InvalidTerminal(uint8 terminal);
    /// @notice `value`, `otherKey` or `otherValue` is non-zero where the terminal code requires zero.
    error NonCanonicalFields();
    /// @notice The proof has more than 256 siblings.
    error TooManySiblings(uint256 length);
    /// @notice `terminal == 2` but the other key equals the key or leaves its path above the terminal.
    error InvalidNeighbour();
    /// @notice The deepest sibling is zero (a canonical path never continues past an empty subtree).
    error ZeroLastSibling();
    /// @notice The proof folds to `computed`, not to the expected root.
    error RootMismatch(bytes32 computed, bytes32 expected);

    uint8 internal constant TERMINAL_EMPTY = 0;
    uint8 internal constant TERMINAL_LEAF = 1;
    uint8 internal constant TERMINAL_OTHER = 2;

    /// @notice Verifies `p` for `key` against `root` and returns the key's value (zero for a
    ///         non-inclusion proof). Reverts with a custom error if the proof is invalid.
    function verify(bytes32 root, bytes32 key, Proof memory p) internal pure returns (bytes32 value) {
        bytes32 terminalNode = _terminalNode(key, p);
        bytes32 node = _fold(key, terminalNode, p.siblings);
        if (node != root) revert RootMismatch(node, root);
        return p.value;
    }

    /// @notice Verifies `p` (the proof of `key`'s current value) against `root` and returns the
    ///         root after setting `key` to `newValue`. Reverts if the proof is invalid.
    function update(bytes32 root, bytes32 key, Proof memory p, bytes32 newValue)
        internal
        pure
        returns (bytes32 newRoot)
    {
        bytes32 oldNode = _terminalNode(key, p);
        bytes32 newNode;
        if (p.terminal == TERMINAL_OTHER) {
            newNode = _splitNode(key, newValue, p.otherKey, p.otherValue, p.siblings.length);
        } else {
            newNode = leafHash(key, newValue);
        }
        bytes32 oldRoot;
        (oldRoot, newRoot) = _fold2(key, oldNode, newNode, p.siblings);
        if (oldRoot != root) revert RootMismatch(oldRoot, root);
    }

    /// @notice Checks that `key` has a leaf holding `value` under `root`, with `siblings` from the
    ///         root down (a terminal-1 proof). Returns false rather than reverting.
    function verifyInclusion(bytes32 root, bytes32 key, bytes32 value, bytes32[] calldata siblings)
        internal
        pure
        returns (bool)
    {
        uint256 d = siblings.length;
        if (d > 256) return false;
        if (d > 0 && siblings[d - 1] == bytes32(0)) return false;
        bytes32 node = leafHash(key, value);
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore8(ptr, 1)
            for { let i := d } i {} {
                i := sub(i, 1)
                let sib := calldataload(add(siblings.offset, shl(5, i)))
                switch and(shr(sub(255, i), key), 1)
                case 0 {
                    mstore(add(ptr, 1), node)
                    mstore(add(ptr, 33), sib)
                }
                default {
                    mstore(add(ptr, 1), sib)
                    mstore(add(ptr, 33), node)
                }
                node := keccak256(ptr, 65)
            }
        }
        return node == root;
    }

    /// @notice `keccak(0x00 ‖ key ‖ value)`, the hash of a leaf.
    function leafHash(bytes32 key, bytes32 value) internal pure returns (bytes32 h) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore8(ptr, 0)
            mstore(add(ptr, 1), key)
            mstore(add(ptr, 33), value)
            h := keccak256(ptr, 65)
        }
    }

    /// @notice `keccak(0x01 ‖ left ‖ right)`, the hash of an internal node.
    function nodeHash(bytes32 left, bytes32 right) internal pure returns (bytes32 h) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore8(ptr, 1)
            mstore(add(ptr, 1), left)
            mstore(add(ptr, 33), right)
            h := keccak256(ptr, 65)
        }
    }

    /// @dev Runs the canonical-form checks of §4 and returns the proof's terminal node.
    function _terminalNode(bytes32 key, Proof memory p) private pure returns (bytes32) {
        uint256 d = p.siblings.length;
        if (d > 256) revert TooManySiblings(d);
        if (d > 0 && p.siblings[d - 1] == bytes32(0)) revert ZeroLastSibling();
        uint8 t = p.terminal;
        if (t == TERMINAL_EMPTY) {
            if (p.value != 0 || p.otherKey != 0 || p.otherValue != 0) revert NonCanonicalFields();
            return bytes32(0);
        }
        if (t == TERMINAL_LEAF) {
            if (p.otherKey != 0 || p.otherValue != 0) revert NonCanonicalFields();
            return leafHash(key, p.value);
        }
        if (t == TERMINAL_OTHER) {
            if (p.value != 0) revert NonCanonicalFields();
            bytes32 other = p.otherKey;
            if (other == key) revert InvalidNeighbour();
            // d <= 255 here in effect: with d == 256 the shift is 0 and the keys differ.
            if (d > 0 && (uint256(key) ^ uint256(other)) >> (256 - d) != 0) revert InvalidNeighbour();
            return leafHash(other, p.otherValue);
        }
        revert InvalidTerminal(t);
    }

    /// @dev The terminal node after writing `newValue` to `key` where another key's leaf sat at
    ///      depth `d`: both leaves under their deepest common ancestor, then single-child levels
    ///      (a zero sibling) up to depth `d`.
    function _splitNode(bytes32 key, bytes32 newValue, bytes32 otherKey, bytes32 otherValue, uint256 d)
        private
        pure
        returns (bytes32 node)
    {
        uint256 p = _commonPrefix(key, otherKey);
        bytes32 mine = leafHash(key, newValue);
        bytes32 theirs = leafHash(otherKey, otherValue);
        node = _bit(key, p) == 0 ? nodeHash(mine, theirs) : nodeHash(theirs, mine);
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore8(ptr, 1)
            for { let j := p } gt(j, d) {} {
                j := sub(j, 1)
                switch and(shr(sub(255, j), key), 1)
                case 0 {
                    mstore(add(ptr, 1), node)
                    mstore(add(ptr, 33), 0)
                }
                default {
                    mstore(add(ptr, 1), 0)
                    mstore(add(ptr, 33), node)
                }
                node := keccak256(ptr, 65)
            }
        }
    }

    /// @dev Folds `siblings` from the deepest up onto `node` along `key`'s path.
    function _fold(bytes32 key, bytes32 node, bytes32[] memory siblings) private pure returns (bytes32) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore8(ptr, 1)
            let data := add(siblings, 0x20)
            for { let i := mload(siblings) } i {} {
                i := sub(i, 1)
                let sib := mload(add(data, shl(5, i)))
                switch and(shr(sub(255, i), key), 1)
                case 0 {
                    mstore(add(ptr, 1), node)
                    mstore(add(ptr, 33), sib)
                }
                default {
                    mstore(add(ptr, 1), sib)
                    mstore(add(ptr, 33), node)
                }
                node := keccak256(ptr, 65)
            }
        }
        return node;
    }

    /// @dev Folds the same `siblings` onto two terminal nodes at once (old and new root).
    function _fold2(bytes32 key, bytes32 a, bytes32 b, bytes32[] memory siblings)
        private
        pure
        returns (bytes32, bytes32)
    {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore8(ptr, 1)
            let data := add(siblings, 0x20)
            for { let i := mload(siblings) } i {} {
                i := sub(i, 1)
                let sib := mload(add(data, shl(5, i)))
                switch and(shr(sub(255, i), key), 1)
                case 0 {
                    mstore(add(ptr, 33), sib)
                    mstore(add(ptr, 1), a)
                    a := keccak256(ptr, 65)
                    mstore(add(ptr, 1), b)
                    b := keccak256(ptr, 65)
                }
                default {
                    mstore(add(ptr, 1), sib)
                    mstore(add(ptr, 33), a)
                    a := keccak256(ptr, 65)
                    mstore(add(ptr, 33), b)
                    b := keccak256(ptr, 65)
                }
            }
        }
        return (a, b);
    }

    /// @dev Bit `i` of `key`, bit 0 being the most significant.
    function _bit(bytes32 key, uint256 i) private pure returns (uint256) {
        return (uint256(key) >> (255 - i)) & 1;
    }

    /// @dev The number of leading bits `a` and `b` share; requires `a != b` (result ≤ 255).
    function _commonPrefix(bytes32 a, bytes32 b) private pure returns (uint256 n) {
        uint256 x = uint256(a) ^ uint256(b);
        // n = 255 - msb(x), by binary search on the most significant set bit.
        uint256 msb;
        if (x >= 1 << 128) {
            x >>= 128;
            msb += 128;
        }
        if (x >= 1 << 64) {
            x >>= 64;
            msb += 64;
        }
        if (x >= 1 << 32) {
            x >>= 32;
            msb += 32;
        }
        if (x >= 1 << 16) {
            x >>= 16;
            msb += 16;
        }
        if (x >= 1 << 8) {
            x >>= 8;
            msb += 8;
        }
        if (x >= 1 << 4) {
            x >>= 4;
            msb += 4;
        }
        if (x >= 1 << 2) {
            x >>= 2;
            msb += 2;
        }
        if (x >= 1 << 1) msb += 1;
        n = 255 - msb;
    }
}
