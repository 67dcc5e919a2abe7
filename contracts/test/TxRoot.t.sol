// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {stdJson} from "forge-std/StdJson.sol";
import {TxRoot} from "../src/lib/TxRoot.sol";

/// @notice Exposes the internal TxRoot functions as external calls.
contract TxRootHarness {
    function compute(bytes calldata records) external pure returns (bytes32 root, uint256 count) {
        return TxRoot.compute(records);
    }

    function verify(bytes32 root, uint256 count, uint256 index, bytes32 leaf, bytes32[] memory proof)
        external
        pure
        returns (bool)
    {
        return TxRoot.verify(root, count, index, leaf, proof);
    }
}

/// @notice Tests of TxRoot: the shared vectors (tests/vectors/txroot.json) and a naive reference
///         of docs/protocol.md §6 (explicit zero padding to a power of two).
contract TxRootTest is Test {
    using stdJson for string;

    TxRootHarness internal h;

    function setUp() public {
        h = new TxRootHarness();
    }

    /// @dev One txroot.json case as forge's JSON decoder yields it (fields in alphabetical order).
    struct JsonCase {
        uint256 count;
        bytes records;
        bytes32 root;
    }

    // ------------------------------------------------------------ reference

    function _records(uint256 seed, uint256 n) internal pure returns (bytes memory out) {
        out = new bytes(n * 146);
        for (uint256 i = 0; i < out.length; i++) {
            out[i] = bytes1(uint8(uint256(keccak256(abi.encode(seed, i / 32))) >> (8 * (i % 32))));
        }
    }

    function _leaves(bytes memory records) internal pure returns (bytes32[] memory leaves) {
        uint256 n = records.length / 146;
        leaves = new bytes32[](n);
        for (uint256 i = 0; i < n; i++) {
            bytes memory r = new bytes(146);
            for (uint256 j = 0; j < 146; j++) {
                r[j] = records[i * 146 + j];
            }
            leaves[i] = keccak256(r);
        }
    }

    /// @dev All levels of the padded tree, leaves first.
    function _levels(bytes32[] memory leaves) internal pure returns (bytes32[][] memory levels) {
        uint256 p = 1;
        uint256 depth;
        while (p < leaves.length) {
            p *= 2;
            depth++;
        }
        levels = new bytes32[][](depth + 1);
        levels[0] = new bytes32[](p);
        for (uint256 i = 0; i < leaves.length; i++) {
            levels[0][i] = leaves[i];
        }
        for (uint256 l = 1; l <= depth; l++) {
            levels[l] = new bytes32[](levels[l - 1].length / 2);
            for (uint256 i = 0; i < levels[l].length; i++) {
                levels[l][i] = keccak256(abi.encodePacked(levels[l - 1][2 * i], levels[l - 1][2 * i + 1]));
            }
        }
    }

    function _refRoot(bytes32[] memory leaves) internal pure returns (bytes32) {
        if (leaves.length == 0) return 0;
        bytes32[][] memory levels = _levels(leaves);
        return levels[levels.length - 1][0];
    }

    function _refProof(bytes32[] memory leaves, uint256 index) internal pure returns (bytes32[] memory proof) {
        bytes32[][] memory levels = _levels(leaves);
        proof = new bytes32[](levels.length - 1);
        for (uint256 l = 0; l + 1 < levels.length; l++) {
            proof[l] = levels[l][(index >> l) ^ 1];
        }
    }

    // ------------------------------------------------------------ compute

    /// @notice compute reproduces every txroot.json root and count.
    function test_compute_vectors_succeeds() public view {
        string memory json = vm.readFile("../tests/vectors/txroot.json");
        JsonCase[] memory cs = abi.decode(vm.parseJson(json, ".cases"), (JsonCase[]));
        assertEq(cs.length, json.readUint(".count"));
        assertGt(cs.length, 0);
        for (uint256 i = 0; i < cs.length; i++) {
            (bytes32 root, uint256 n) = h.compute(cs[i].records);
            assertEq(n, cs[i].count);
            assertEq(root, cs[i].root);
            assertEq(root, _refRoot(_leaves(cs[i].records)));
        }
    }

    /// @notice No record gives the zero root; one record gives its hash.
    function test_compute_zeroAndOne_succeeds() public view {
        (bytes32 root, uint256 n) = h.compute("");
        assertEq(root, bytes32(0));
        assertEq(n, 0);
        bytes memory one = _records(1, 1);
        (root, n) = h.compute(one);
        assertEq(root, keccak256(one));
        assertEq(n, 1);
    }

    /// @notice Three records: the fourth leaf is a zero word (not a copy, not promoted).
    function test_compute_padding_succeeds() public view {
        bytes memory recs = _records(2, 3);
        bytes32[] memory l = _leaves(recs);
        bytes32 expected = keccak256(
            abi.encodePacked(keccak256(abi.encodePacked(l[0], l[1])), keccak256(abi.encodePacked(l[2], bytes32(0))))
        );
        (bytes32 root,) = h.compute(recs);
        assertEq(root, expected);
    }

    /// @notice A length that is not a multiple of 146 reverts.
    function test_compute_badLength_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(TxRoot.RecordsLengthNotMultiple.selector, 145));
        h.compute(new bytes(145));
        vm.expectRevert(abi.encodeWithSelector(TxRoot.RecordsLengthNotMultiple.selector, 293));
        h.compute(new bytes(293));
    }

    /// @notice Fuzz: compute agrees with the reference for 0..70 records.
    function testFuzz_compute_matchesReference_succeeds(uint256 seed, uint8 n) public view {
        n = uint8(bound(n, 0, 70));
        bytes memory recs = _records(seed, n);
        (bytes32 root, uint256 count) = h.compute(recs);
        assertEq(count, n);
        assertEq(root, _refRoot(_leaves(recs)));
    }

    /// @notice Fuzz: any length that is not a multiple of 146 reverts.
    function testFuzz_compute_badLength_reverts(uint16 len) public {
        vm.assume(len % 146 != 0);
        vm.expectRevert(abi.encodeWithSelector(TxRoot.RecordsLengthNotMultiple.selector, uint256(len)));
        h.compute(new bytes(len));
    }

    // ------------------------------------------------------------ verify

    /// @notice Fuzz: the reference proof of every record verifies; a wrong index, leaf, sibling,
    ///         count, proof length or root does not.
    function testFuzz_verify_everyIndex_succeeds(uint256 seed, uint8 n) public view {
        n = uint8(bound(n, 1, 40));
        bytes memory recs = _records(seed, n);
        bytes32[] memory leaves = _leaves(recs);
        (bytes32 root,) = h.compute(recs);
        for (uint256 i = 0; i < n; i++) {
            bytes32[] memory proof = _refProof(leaves, i);
            assertTrue(h.verify(root, n, i, leaves[i], proof));
            assertFalse(h.verify(root, n, i, leaves[i] ^ bytes32(uint256(1)), proof));
            assertFalse(h.verify(bytes32(uint256(root) ^ 1), n, i, leaves[i], proof));
            if (n > 1) {
                assertFalse(h.verify(root, n, i ^ 1, leaves[i], proof));
                proof[0] ^= bytes32(uint256(1));
                assertFalse(h.verify(root, n, i, leaves[i], proof));
                proof[0] ^= bytes32(uint256(1));
            }
            // A count with another padded size changes the required proof length.
            assertFalse(h.verify(root, 2 * n + 1, i, leaves[i], proof));
            bytes32[] memory longer = new bytes32[](proof.length + 1);
            for (uint256 j = 0; j < proof.length; j++) {
                longer[j] = proof[j];
            }
            assertFalse(h.verify(root, n, i, leaves[i], longer));
        }
    }

    /// @notice An index at or past the count is rejected, even with a proof that folds to the
    ///         root (a padding leaf is not a record).
    function test_verify_rejectsIndexOutOfRange_succeeds() public view {
        bytes memory recs = _records(3, 3);
        bytes32[] memory leaves = _leaves(recs);
        (bytes32 root,) = h.compute(recs);
        bytes32[] memory proof = _refProof(leaves, 3);
        assertFalse(h.verify(root, 3, 3, bytes32(0), proof));
        assertFalse(h.verify(root, 0, 0, root, new bytes32[](0)));
    }

    /// @notice One record: the root is the leaf and the proof is empty.
    function test_verify_single_succeeds() public view {
        bytes32 leaf = keccak256("r");
        assertTrue(h.verify(leaf, 1, 0, leaf, new bytes32[](0)));
        assertFalse(h.verify(leaf, 1, 0, leaf, new bytes32[](1)));
    }

    /// @notice A huge count does not loop forever; it needs a proof of matching length.
    function test_verify_hugeCount_succeeds() public view {
        assertFalse(h.verify(bytes32(0), type(uint256).max, 0, bytes32(0), new bytes32[](3)));
    }
}
