// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {stdJson} from "forge-std/StdJson.sol";
import {SparseMerkle} from "../src/lib/SparseMerkle.sol";

/// @notice Exposes the internal SparseMerkle functions as external calls (so reverts can be expected).
contract SparseMerkleHarness {
    function verify(bytes32 root, bytes32 key, SparseMerkle.Proof memory p) external pure returns (bytes32) {
        return SparseMerkle.verify(root, key, p);
    }

    function update(bytes32 root, bytes32 key, SparseMerkle.Proof memory p, bytes32 newValue)
        external
        pure
        returns (bytes32)
    {
        return SparseMerkle.update(root, key, p, newValue);
    }

    function verifyInclusion(bytes32 root, bytes32 key, bytes32 value, bytes32[] calldata siblings)
        external
        pure
        returns (bool)
    {
        return SparseMerkle.verifyInclusion(root, key, value, siblings);
    }
}

/// @notice A deliberately naive reference of the compact sparse Merkle tree of docs/protocol.md §4
///         (recursive, no assembly), used to build roots and proofs for differential tests.
/// @dev `fill > 0` surrounds the keys with opaque non-empty subtrees down to depth `fill`, so that
///      every key's leaf sits at depth ≥ `fill`: a stand-in for a tree with ~2^fill leaves.
library RefSmt {
    struct Tree {
        bytes32[] keys;
        bytes32[] values;
        uint256 fill;
    }

    function leafHash(bytes32 k, bytes32 v) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(uint8(0), k, v));
    }

    function nodeHash(bytes32 l, bytes32 r) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(uint8(1), l, r));
    }

    function bit(bytes32 k, uint256 i) internal pure returns (bool) {
        return (uint256(k) >> (255 - i)) & 1 == 1;
    }

    function root(Tree memory t) internal pure returns (bytes32) {
        uint256[] memory all = new uint256[](t.keys.length);
        for (uint256 i = 0; i < all.length; i++) {
            all[i] = i;
        }
        return _sub(t, all, 0, 0);
    }

    /// @dev Sets `k` to `v` (inserting it if absent).
    function set(Tree memory t, bytes32 k, bytes32 v) internal pure {
        for (uint256 i = 0; i < t.keys.length; i++) {
            if (t.keys[i] == k) {
                t.values[i] = v;
                return;
            }
        }
        bytes32[] memory ks = new bytes32[](t.keys.length + 1);
        bytes32[] memory vs = new bytes32[](t.keys.length + 1);
        for (uint256 i = 0; i < t.keys.length; i++) {
            ks[i] = t.keys[i];
            vs[i] = t.values[i];
        }
        ks[t.keys.length] = k;
        vs[t.keys.length] = v;
        t.keys = ks;
        t.values = vs;
    }

    function get(Tree memory t, bytes32 k) internal pure returns (bytes32) {
        for (uint256 i = 0; i < t.keys.length; i++) {
            if (t.keys[i] == k) return t.values[i];
        }
        return 0;
    }

    function prove(Tree memory t, bytes32 k) internal pure returns (SparseMerkle.Proof memory p) {
        uint256[] memory idx = new uint256[](t.keys.length);
        for (uint256 i = 0; i < idx.length; i++) {
            idx[i] = i;
        }
        bytes32[] memory sib = new bytes32[](256);
        uint256 depth;
        while (true) {
            if (idx.length == 0) {
                require(depth > t.fill || t.fill == 0, "RefSmt: path ends in filler");
                p.terminal = 0;
                break;
            }
            if (idx.length == 1 && depth >= t.fill) {
                if (t.keys[idx[0]] == k) {
                    p.terminal = 1;
                    p.value = t.values[idx[0]];
                } else {
                    p.terminal = 2;
                    p.otherKey = t.keys[idx[0]];
                    p.otherValue = t.values[idx[0]];
                }
                break;
            }
            (uint256[] memory l, uint256[] memory r) = _split(t, idx, depth);
            bool b = bit(k, depth);
            sib[depth] = _sub(t, b ? l : r, depth + 1, siblingPrefix(k, depth));
            idx = b ? r : l;
            depth++;
        }
        p.siblings = new bytes32[](depth);
        for (uint256 i = 0; i < depth; i++) {
            p.siblings[i] = sib[i];
        }
    }

    /// @dev The top `d` bits of `k` (the path to depth `d`).
    function prefixOf(bytes32 k, uint256 d) internal pure returns (uint256) {
        if (d == 0) return 0;
        return uint256(k) & ~((uint256(1) << (256 - d)) - 1);
    }

    /// @dev The path of the sibling, at depth `i + 1`, of `k`'s node at depth `i + 1`.
    function siblingPrefix(bytes32 k, uint256 i) internal pure returns (uint256) {
        return prefixOf(k, i) | (bit(k, i) ? 0 : uint256(1) << (255 - i));
    }

    /// @dev The hash of an empty subtree at `depth` with path `prefix`: an opaque filler above
    ///      `fill`, else zero.
    function empty(Tree memory t, uint256 depth, uint256 prefix) internal pure returns (bytes32) {
        if (t.fill > 0 && depth <= t.fill) return keccak256(abi.encode("filler", depth, prefix));
        return 0;
    }

    /// @dev Recursion only at real branching points (so at most ~n frames); single-child levels
    ///      are folded in a loop.
    function _sub(Tree memory t, uint256[] memory idx, uint256 depth, uint256 prefix) private pure returns (bytes32) {
        if (idx.length == 0) return empty(t, depth, prefix);
        bytes32 k0 = t.keys[idx[0]];
        bytes32 node;
        uint256 p;
        if (idx.length == 1) {
            if (depth >= t.fill) return leafHash(k0, t.values[idx[0]]);
            node = leafHash(k0, t.values[idx[0]]);
            p = t.fill;
        } else {
            p = 256;
            for (uint256 i = 1; i < idx.length; i++) {
                uint256 x = uint256(k0) ^ uint256(t.keys[idx[i]]);
                uint256 c = 0;
                while (x >> (255 - c) == 0) {
                    c++;
                }
                if (c < p) p = c;
            }
            (uint256[] memory l, uint256[] memory r) = _split(t, idx, p);
            uint256 base = prefixOf(k0, p);
            node = nodeHash(_sub(t, l, p + 1, base), _sub(t, r, p + 1, base | (uint256(1) << (255 - p))));
        }
        for (uint256 d = p; d > depth;) {
            d--;
            bytes32 sib = empty(t, d + 1, siblingPrefix(k0, d));
            node = bit(k0, d) ? nodeHash(sib, node) : nodeHash(node, sib);
        }
        return node;
    }

    function _split(Tree memory t, uint256[] memory idx, uint256 depth)
        private
        pure
        returns (uint256[] memory l, uint256[] memory r)
    {
        uint256 nr;
        for (uint256 i = 0; i < idx.length; i++) {
            if (bit(t.keys[idx[i]], depth)) nr++;
        }
        l = new uint256[](idx.length - nr);
        r = new uint256[](nr);
        uint256 a;
        uint256 b;
        for (uint256 i = 0; i < idx.length; i++) {
            if (bit(t.keys[idx[i]], depth)) r[b++] = idx[i];
            else l[a++] = idx[i];
        }
    }
}

/// @notice Tests of SparseMerkle: the shared vectors (tests/vectors/smt.json), every rejection
///         rule of docs/protocol.md §4, and fuzzed differential tests against RefSmt.
contract SparseMerkleTest is Test {
    using stdJson for string;

    SparseMerkleHarness internal h;

    function setUp() public {
        h = new SparseMerkleHarness();
    }

    // ------------------------------------------------------------ helpers

    /// @dev One smt.json case as forge's JSON decoder yields it (fields in alphabetical order).
    struct JsonCase {
        uint256 depth;
        bytes32 key;
        string name;
        bytes32 newRoot;
        bytes32 newValue;
        bytes proof;
        bytes32 root;
        uint256 terminal;
        bytes32 value;
    }

    function _cases() internal view returns (JsonCase[] memory cs) {
        string memory json = vm.readFile("../tests/vectors/smt.json");
        cs = abi.decode(vm.parseJson(json, ".cases"), (JsonCase[]));
        assertEq(cs.length, json.readUint(".count"));
        assertGt(cs.length, 0);
    }

    function _proof(bytes memory encoded) internal pure returns (SparseMerkle.Proof memory) {
        return abi.decode(encoded, (SparseMerkle.Proof));
    }

    function _leaf(bytes32 k, bytes32 v) internal pure returns (bytes32) {
        return RefSmt.leafHash(k, v);
    }

    function _node(bytes32 l, bytes32 r) internal pure returns (bytes32) {
        return RefSmt.nodeHash(l, r);
    }

    /// @dev A two-leaf tree {a: va, b: vb} where a and b first differ at bit 0 (a's bit is 0).
    function _twoLeaves() internal pure returns (bytes32 a, bytes32 b, bytes32 root, SparseMerkle.Proof memory pa) {
        a = bytes32(uint256(0x11));
        b = bytes32(uint256(1) << 255 | 0x22);
        root = _node(_leaf(a, bytes32(uint256(5))), _leaf(b, bytes32(uint256(6))));
        pa.value = bytes32(uint256(5));
        pa.terminal = 1;
        pa.siblings = new bytes32[](1);
        pa.siblings[0] = _leaf(b, bytes32(uint256(6)));
    }

    function _tree(bytes32[] memory keys, bytes32[] memory values, uint256 fill)
        internal
        pure
        returns (RefSmt.Tree memory t)
    {
        t.keys = keys;
        t.values = values;
        t.fill = fill;
    }

    /// @dev `n` distinct keys from `seed`; some share long prefixes with others (deep splits).
    function _keys(uint256 seed, uint256 n) internal pure returns (bytes32[] memory keys) {
        keys = new bytes32[](n);
        for (uint256 i = 0; i < n; i++) {
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            bytes32 k;
            if (i > 0 && r % 3 == 0) {
                // Near an earlier key: flip one bit at a random position (often deep).
                k = keys[(r >> 8) % i] ^ bytes32(uint256(1) << ((r >> 16) % 256));
            } else {
                k = bytes32(r);
            }
            for (uint256 j = 0; j < i; j++) {
                if (keys[j] == k) k = bytes32(uint256(keccak256(abi.encode(k))));
            }
            keys[i] = k;
        }
    }

    function _values(uint256 seed, uint256 n) internal pure returns (bytes32[] memory values) {
        values = new bytes32[](n);
        for (uint256 i = 0; i < n; i++) {
            uint256 r = uint256(keccak256(abi.encode("v", seed, i)));
            values[i] = r % 5 == 0 ? bytes32(0) : bytes32(r);
        }
    }

    // ------------------------------------------------------------ shared vectors

    /// @notice verify returns each smt.json case's value and update gives its newRoot.
    function test_verify_vectors_succeeds() public view {
        JsonCase[] memory cs = _cases();
        for (uint256 i = 0; i < cs.length; i++) {
            SparseMerkle.Proof memory p = _proof(cs[i].proof);
            assertEq(p.siblings.length, cs[i].depth, cs[i].name);
            assertEq(h.verify(cs[i].root, cs[i].key, p), cs[i].value, cs[i].name);
            assertEq(h.update(cs[i].root, cs[i].key, p, cs[i].newValue), cs[i].newRoot, cs[i].name);
            // The new root holds newValue: K's own leaf, same depth unless it was a split.
            if (p.terminal != 2) {
                assertTrue(h.verifyInclusion(cs[i].newRoot, cs[i].key, cs[i].newValue, p.siblings), cs[i].name);
            }
            if (p.terminal == 1) {
                assertTrue(h.verifyInclusion(cs[i].root, cs[i].key, cs[i].value, p.siblings), cs[i].name);
                assertFalse(h.verifyInclusion(cs[i].root, cs[i].key, cs[i].newValue, p.siblings), cs[i].name);
            }
        }
    }

    /// @notice The vectors re-encode byte for byte (the Rust ABI is the Solidity struct's).
    function test_verify_vectorEncodingRoundTrips_succeeds() public view {
        JsonCase[] memory cs = _cases();
        for (uint256 i = 0; i < cs.length; i++) {
            assertEq(abi.encode(_proof(cs[i].proof)), cs[i].proof, cs[i].name);
        }
    }

    /// @notice Tampering with any field of any vector proof makes verify revert.
    function test_verify_tamperedVectors_reverts() public view {
        JsonCase[] memory cs = _cases();
        for (uint256 i = 0; i < cs.length; i++) {
            SparseMerkle.Proof memory p = _proof(cs[i].proof);
            bytes32 k = cs[i].key;
            // Another key only fails for an inclusion proof (a non-inclusion proof may hold for it).
            if (p.terminal == 1) _expectFail(cs[i].root, bytes32(uint256(k) ^ 1), p);
            _expectFail(bytes32(uint256(cs[i].root) ^ 1), k, p);
            p.value = bytes32(uint256(p.value) ^ 1);
            _expectFail(cs[i].root, k, p);
            p = _proof(cs[i].proof);
            p.otherValue = bytes32(uint256(p.otherValue) ^ 1);
            _expectFail(cs[i].root, k, p);
            p = _proof(cs[i].proof);
            p.otherKey = bytes32(uint256(p.otherKey) ^ 1);
            _expectFail(cs[i].root, k, p);
            for (uint8 t = 0; t < 4; t++) {
                p = _proof(cs[i].proof);
                if (t == p.terminal) continue;
                p.terminal = t;
                _expectFail(cs[i].root, k, p);
            }
            for (uint256 s = 0; s < p.siblings.length; s += 1 + p.siblings.length / 8) {
                p = _proof(cs[i].proof);
                p.siblings[s] = bytes32(uint256(p.siblings[s]) ^ 1);
                _expectFail(cs[i].root, k, p);
            }
        }
    }

    function _expectFail(bytes32 root, bytes32 key, SparseMerkle.Proof memory p) internal view {
        try h.verify(root, key, p) returns (bytes32) {
            revert("tampered proof verified");
        } catch {}
        try h.update(root, key, p, bytes32(uint256(1))) returns (bytes32) {
            revert("tampered proof updated");
        } catch {}
    }

    // ------------------------------------------------------------ verify: unit cases

    /// @notice The empty tree: terminal 0, no siblings, value zero.
    function test_verify_emptyTree_succeeds() public view {
        SparseMerkle.Proof memory p;
        assertEq(h.verify(bytes32(0), keccak256("k"), p), bytes32(0));
    }

    /// @notice A one-leaf tree: the root is the leaf hash (depth 0), for its own key and as
    ///         non-inclusion (terminal 2) for any other key.
    function test_verify_singleLeaf_succeeds() public view {
        bytes32 k = keccak256("k");
        bytes32 root = _leaf(k, bytes32(uint256(9)));
        SparseMerkle.Proof memory p;
        p.terminal = 1;
        p.value = bytes32(uint256(9));
        assertEq(h.verify(root, k, p), bytes32(uint256(9)));
        SparseMerkle.Proof memory q;
        q.terminal = 2;
        q.otherKey = k;
        q.otherValue = bytes32(uint256(9));
        assertEq(h.verify(root, keccak256("other"), q), bytes32(0));
    }

    /// @notice Both leaves of a two-leaf tree verify.
    function test_verify_twoLeaves_succeeds() public view {
        (bytes32 a, bytes32 b, bytes32 root, SparseMerkle.Proof memory pa) = _twoLeaves();
        assertEq(h.verify(root, a, pa), bytes32(uint256(5)));
        SparseMerkle.Proof memory pb;
        pb.value = bytes32(uint256(6));
        pb.terminal = 1;
        pb.siblings = new bytes32[](1);
        pb.siblings[0] = _leaf(a, bytes32(uint256(5)));
        assertEq(h.verify(root, b, pb), bytes32(uint256(6)));
    }

    /// @notice A terminal code above 2 reverts.
    function test_verify_invalidTerminal_reverts() public {
        SparseMerkle.Proof memory p;
        p.terminal = 3;
        vm.expectRevert(abi.encodeWithSelector(SparseMerkle.InvalidTerminal.selector, 3));
        h.verify(bytes32(0), bytes32(0), p);
    }

    /// @notice Terminal 0 with a non-zero value, other key or other value reverts.
    function test_verify_emptyTerminalWithFields_reverts() public {
        SparseMerkle.Proof memory p;
        p.value = bytes32(uint256(1));
        vm.expectRevert(SparseMerkle.NonCanonicalFields.selector);
        h.verify(bytes32(0), bytes32(0), p);
        p.value = 0;
        p.otherKey = bytes32(uint256(1));
        vm.expectRevert(SparseMerkle.NonCanonicalFields.selector);
        h.verify(bytes32(0), bytes32(0), p);
        p.otherKey = 0;
        p.otherValue = bytes32(uint256(1));
        vm.expectRevert(SparseMerkle.NonCanonicalFields.selector);
        h.verify(bytes32(0), bytes32(0), p);
    }

    /// @notice Terminal 1 with a non-zero other key or other value reverts, even if it folds.
    function test_verify_leafTerminalWithOtherFields_reverts() public {
        bytes32 k = keccak256("k");
        SparseMerkle.Proof memory p;
        p.terminal = 1;
        p.value = bytes32(uint256(9));
        p.otherKey = bytes32(uint256(1));
        bytes32 root = _leaf(k, bytes32(uint256(9)));
        vm.expectRevert(SparseMerkle.NonCanonicalFields.selector);
        h.verify(root, k, p);
        p.otherKey = 0;
        p.otherValue = bytes32(uint256(1));
        vm.expectRevert(SparseMerkle.NonCanonicalFields.selector);
        h.verify(root, k, p);
    }

    /// @notice Terminal 2 with a non-zero value reverts (a non-inclusion proof proves zero).
    function test_verify_otherTerminalWithValue_reverts() public {
        bytes32 k = keccak256("k");
        SparseMerkle.Proof memory p;
        p.terminal = 2;
        p.otherKey = keccak256("o");
        p.value = bytes32(uint256(1));
        vm.expectRevert(SparseMerkle.NonCanonicalFields.selector);
        h.verify(_leaf(p.otherKey, 0), k, p);
    }

    /// @notice Terminal 2 whose other key is the key itself reverts: that is a leaf of the key,
    ///         claiming value zero.
    function test_verify_otherKeyIsKey_reverts() public {
        bytes32 k = keccak256("k");
        SparseMerkle.Proof memory p;
        p.terminal = 2;
        p.otherKey = k;
        p.otherValue = bytes32(uint256(7));
        vm.expectRevert(SparseMerkle.InvalidNeighbour.selector);
        h.verify(_leaf(k, bytes32(uint256(7))), k, p);
    }

    /// @notice Terminal 2 whose other key is not on the key's path reverts, even though the
    ///         proof folds to the root (b's leaf is a's sibling, not on a's path).
    function test_verify_otherKeyOffPath_reverts() public {
        (bytes32 a, bytes32 b, bytes32 root,) = _twoLeaves();
        // Claim: "at a's depth-1 position sits b's leaf", with sibling a's leaf.
        SparseMerkle.Proof memory p;
        p.terminal = 2;
        p.otherKey = b;
        p.otherValue = bytes32(uint256(6));
        p.siblings = new bytes32[](1);
        p.siblings[0] = _leaf(a, bytes32(uint256(5)));
        bytes32 c = bytes32(uint256(0x33)); // bit 0 is 0, like a
        // Folding for c: node = leaf(b), c's bit 0 = 0 → hash(leaf(b), leaf(a)) ≠ root; so build
        // the root the forged proof folds to, to isolate the neighbour check.
        bytes32 forgedRoot = _node(_leaf(b, bytes32(uint256(6))), _leaf(a, bytes32(uint256(5))));
        vm.expectRevert(SparseMerkle.InvalidNeighbour.selector);
        h.verify(forgedRoot, c, p);
        root; // silence
    }

    /// @notice More than 256 siblings reverts.
    function test_verify_tooManySiblings_reverts() public {
        SparseMerkle.Proof memory p;
        p.siblings = new bytes32[](257);
        for (uint256 i = 0; i < 257; i++) {
            p.siblings[i] = bytes32(uint256(1));
        }
        vm.expectRevert(abi.encodeWithSelector(SparseMerkle.TooManySiblings.selector, 257));
        h.verify(bytes32(0), bytes32(0), p);
    }

    /// @notice A zero deepest sibling reverts even when the fold matches (non-canonical path:
    ///         the one leaf would sit at depth 0, not 1).
    function test_verify_zeroLastSibling_reverts() public {
        bytes32 k = bytes32(uint256(0x11));
        SparseMerkle.Proof memory p;
        p.terminal = 1;
        p.value = bytes32(uint256(5));
        p.siblings = new bytes32[](1);
        bytes32 root = _node(_leaf(k, p.value), 0);
        vm.expectRevert(SparseMerkle.ZeroLastSibling.selector);
        h.verify(root, k, p);
    }

    /// @notice Zero siblings above the deepest one are allowed (a path through single-child levels).
    function test_verify_zeroInnerSibling_succeeds() public view {
        bytes32 a = bytes32(uint256(0x11)); // bits 0, 1 = 0, 0
        bytes32 b = bytes32(uint256(1) << 254 | 0x22); // bits 0, 1 = 0, 1
        bytes32 root = _node(_node(_leaf(a, bytes32(uint256(5))), _leaf(b, bytes32(uint256(6)))), 0);
        SparseMerkle.Proof memory p;
        p.terminal = 1;
        p.value = bytes32(uint256(5));
        p.siblings = new bytes32[](2);
        p.siblings[1] = _leaf(b, bytes32(uint256(6)));
        assertEq(h.verify(root, a, p), bytes32(uint256(5)));
    }

    /// @notice A proof of the wrong value reverts with RootMismatch.
    function test_verify_wrongValue_reverts() public {
        (bytes32 a,, bytes32 root, SparseMerkle.Proof memory pa) = _twoLeaves();
        pa.value = bytes32(uint256(4));
        vm.expectPartialRevert(SparseMerkle.RootMismatch.selector);
        h.verify(root, a, pa);
    }

    /// @notice A non-inclusion proof of a key that is present reverts (its path ends at its leaf).
    function test_verify_nonInclusionOfPresentKey_reverts() public {
        (bytes32 a,, bytes32 root,) = _twoLeaves();
        SparseMerkle.Proof memory p;
        p.siblings = new bytes32[](1);
        p.siblings[0] = _leaf(bytes32(uint256(1) << 255 | 0x22), bytes32(uint256(6)));
        vm.expectPartialRevert(SparseMerkle.RootMismatch.selector);
        h.verify(root, a, p);
    }

    /// @notice A 256-deep proof (two keys differing only in the last bit) verifies and updates.
    function test_verify_fullDepth_succeeds() public view {
        bytes32 a = keccak256("deep");
        bytes32 b = a ^ bytes32(uint256(1));
        bytes32[] memory ks = new bytes32[](2);
        ks[0] = a;
        ks[1] = b;
        bytes32[] memory vs = new bytes32[](2);
        vs[0] = bytes32(uint256(1));
        vs[1] = bytes32(uint256(2));
        RefSmt.Tree memory t = _tree(ks, vs, 0);
        SparseMerkle.Proof memory p = RefSmt.prove(t, a);
        assertEq(p.siblings.length, 256);
        bytes32 root = RefSmt.root(t);
        assertEq(h.verify(root, a, p), vs[0]);
        assertTrue(h.verifyInclusion(root, a, vs[0], p.siblings));
        RefSmt.set(t, a, bytes32(uint256(3)));
        assertEq(h.update(root, a, p, bytes32(uint256(3))), RefSmt.root(t));
    }

    // ------------------------------------------------------------ update: unit cases

    /// @notice Inserting into the empty tree gives the leaf hash.
    function test_update_emptyTree_succeeds() public view {
        SparseMerkle.Proof memory p;
        bytes32 k = keccak256("k");
        assertEq(h.update(bytes32(0), k, p, bytes32(uint256(3))), _leaf(k, bytes32(uint256(3))));
    }

    /// @notice Writing zero keeps a leaf (value zero is not deletion).
    function test_update_toZeroKeepsLeaf_succeeds() public view {
        bytes32 k = keccak256("k");
        SparseMerkle.Proof memory p;
        assertEq(h.update(bytes32(0), k, p, 0), _leaf(k, 0));
        assertTrue(h.update(bytes32(0), k, p, 0) != bytes32(0));
    }

    /// @notice The split: inserting next to a single leaf, for keys diverging at bit 0 and at a deep bit.
    function test_update_split_succeeds() public view {
        bytes32 a = bytes32(uint256(0x11));
        bytes32 b = bytes32(uint256(1) << 255 | 0x22);
        SparseMerkle.Proof memory p;
        p.terminal = 2;
        p.otherKey = a;
        p.otherValue = bytes32(uint256(5));
        bytes32 root = _leaf(a, bytes32(uint256(5)));
        assertEq(
            h.update(root, b, p, bytes32(uint256(6))),
            _node(_leaf(a, bytes32(uint256(5))), _leaf(b, bytes32(uint256(6))))
        );

        // a and c share 3 bits (0,0,0) then differ at bit 3: two single-child levels above them.
        bytes32 c = bytes32(uint256(1) << 252 | 0x33);
        bytes32 expected =
            _node(_node(_node(_node(_leaf(a, bytes32(uint256(5))), _leaf(c, bytes32(uint256(7)))), 0), 0), 0);
        assertEq(h.update(root, c, p, bytes32(uint256(7))), expected);
    }

    /// @notice update rejects an invalid proof of the old value.
    function test_update_invalidProof_reverts() public {
        (bytes32 a,, bytes32 root, SparseMerkle.Proof memory pa) = _twoLeaves();
        pa.value = bytes32(uint256(4));
        vm.expectPartialRevert(SparseMerkle.RootMismatch.selector);
        h.update(root, a, pa, bytes32(uint256(1)));
    }

    /// @notice update rejects the same canonical-form violations as verify.
    function test_update_nonCanonical_reverts() public {
        bytes32 k = keccak256("k");
        SparseMerkle.Proof memory p;
        p.terminal = 2;
        p.otherKey = k;
        vm.expectRevert(SparseMerkle.InvalidNeighbour.selector);
        h.update(_leaf(k, 0), k, p, bytes32(uint256(1)));
        p.terminal = 9;
        vm.expectRevert(abi.encodeWithSelector(SparseMerkle.InvalidTerminal.selector, 9));
        h.update(_leaf(k, 0), k, p, bytes32(uint256(1)));
    }

    // ------------------------------------------------------------ verifyInclusion

    /// @notice verifyInclusion accepts a leaf and rejects a wrong value, key, root or sibling.
    function test_verifyInclusion_twoLeaves_succeeds() public view {
        (bytes32 a,, bytes32 root, SparseMerkle.Proof memory pa) = _twoLeaves();
        assertTrue(h.verifyInclusion(root, a, bytes32(uint256(5)), pa.siblings));
        assertFalse(h.verifyInclusion(root, a, bytes32(uint256(4)), pa.siblings));
        assertFalse(h.verifyInclusion(root, a ^ bytes32(uint256(1)), bytes32(uint256(5)), pa.siblings));
        assertFalse(h.verifyInclusion(bytes32(uint256(root) ^ 1), a, bytes32(uint256(5)), pa.siblings));
        pa.siblings[0] ^= bytes32(uint256(1));
        assertFalse(h.verifyInclusion(root, a, bytes32(uint256(5)), pa.siblings));
    }

    /// @notice verifyInclusion rejects a zero last sibling and more than 256 siblings.
    function test_verifyInclusion_rejectsNonCanonical_succeeds() public view {
        bytes32 k = bytes32(uint256(0x11));
        bytes32[] memory s = new bytes32[](1);
        assertFalse(h.verifyInclusion(_node(_leaf(k, bytes32(uint256(5))), 0), k, bytes32(uint256(5)), s));
        bytes32[] memory long = new bytes32[](257);
        for (uint256 i = 0; i < 257; i++) {
            long[i] = bytes32(uint256(1));
        }
        assertFalse(h.verifyInclusion(bytes32(0), k, bytes32(uint256(5)), long));
    }

    // ------------------------------------------------------------ fuzz: differential against RefSmt

    /// @notice Fuzz: in a random tree every key's proof verifies to its value and every update
    ///         gives the reference root; an absent key proves zero and inserting it gives the
    ///         reference root (including the split).
    function testFuzz_update_randomTree_succeeds(uint256 seed, uint8 n, uint8 fill, bytes32 absent, bytes32 newValue)
        public
        view
    {
        n = uint8(bound(n, 1, 7));
        fill = uint8(bound(fill, 0, 40));
        if (fill < 20) fill = 0;
        bytes32[] memory keys = _keys(seed, n + 1);
        RefSmt.Tree memory t = _tree(new bytes32[](0), new bytes32[](0), 0);
        bytes32[] memory vals = _values(seed, n);
        for (uint256 i = 0; i < n; i++) {
            RefSmt.set(t, keys[i], vals[i]);
        }
        t.fill = fill;
        bytes32 root = RefSmt.root(t);
        for (uint256 i = 0; i < n; i++) {
            SparseMerkle.Proof memory p = RefSmt.prove(t, keys[i]);
            assertEq(h.verify(root, keys[i], p), vals[i]);
            assertTrue(h.verifyInclusion(root, keys[i], vals[i], p.siblings));
            RefSmt.Tree memory t2 = _tree(t.keys, _copy(t.values), fill);
            RefSmt.set(t2, keys[i], newValue);
            assertEq(h.update(root, keys[i], p, newValue), RefSmt.root(t2));
        }
        if (fill == 0) {
            // Absent keys: the spare near-key and a random one (paths may end in filler otherwise).
            bytes32[2] memory abs = [keys[n], absent];
            for (uint256 j = 0; j < 2; j++) {
                if (RefSmt.get(t, abs[j]) != 0 || _contains(t.keys, abs[j])) continue;
                SparseMerkle.Proof memory p = RefSmt.prove(t, abs[j]);
                assertEq(h.verify(root, abs[j], p), bytes32(0));
                RefSmt.Tree memory t2 = _tree(t.keys, _copy(t.values), 0);
                RefSmt.set(t2, abs[j], newValue);
                assertEq(h.update(root, abs[j], p, newValue), RefSmt.root(t2));
            }
        }
    }

    /// @notice Fuzz: building a tree by successive single-key updates from the empty root gives
    ///         the reference root after every insertion.
    function testFuzz_update_insertSequence_succeeds(uint256 seed, uint8 n) public view {
        n = uint8(bound(n, 1, 10));
        bytes32[] memory keys = _keys(seed, n);
        bytes32[] memory vals = _values(seed, n);
        RefSmt.Tree memory t = _tree(new bytes32[](0), new bytes32[](0), 0);
        bytes32 root;
        for (uint256 i = 0; i < n; i++) {
            SparseMerkle.Proof memory p = RefSmt.prove(t, keys[i]);
            assertEq(h.verify(root, keys[i], p), bytes32(0));
            root = h.update(root, keys[i], p, vals[i]);
            RefSmt.set(t, keys[i], vals[i]);
            assertEq(root, RefSmt.root(t));
        }
    }

    /// @notice Fuzz: a random proof never verifies against a random root.
    function testFuzz_verify_randomProof_reverts(
        bytes32 root,
        bytes32 key,
        bytes32 value,
        uint8 terminal,
        bytes32 otherKey,
        bytes32 otherValue,
        bytes32[] memory siblings
    ) public {
        SparseMerkle.Proof memory p = SparseMerkle.Proof(value, terminal % 4, otherKey, otherValue, siblings);
        vm.expectRevert();
        h.verify(root, key, p);
    }

    /// @notice Fuzz: a valid proof does not verify for another key, another value or another root.
    function testFuzz_verify_wrongKeyValueOrRoot_reverts(uint256 seed, uint8 n, bytes32 delta) public {
        vm.assume(delta != 0);
        n = uint8(bound(n, 1, 6));
        RefSmt.Tree memory t = _tree(_keys(seed, n), _values(seed, n), 0);
        bytes32 root = RefSmt.root(t);
        SparseMerkle.Proof memory p = RefSmt.prove(t, t.keys[0]);
        vm.expectRevert();
        h.verify(root ^ delta, t.keys[0], p);
        vm.expectRevert();
        h.verify(root, t.keys[0] ^ delta, p);
        p.value ^= delta;
        vm.expectRevert();
        h.verify(root, t.keys[0], p);
    }

    function _copy(bytes32[] memory a) internal pure returns (bytes32[] memory b) {
        b = new bytes32[](a.length);
        for (uint256 i = 0; i < a.length; i++) {
            b[i] = a[i];
        }
    }

    function _contains(bytes32[] memory a, bytes32 x) internal pure returns (bool) {
        for (uint256 i = 0; i < a.length; i++) {
            if (a[i] == x) return true;
        }
        return false;
    }
}
