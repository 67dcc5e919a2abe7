// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test, console} from "forge-std/Test.sol";
import {stdJson} from "forge-std/StdJson.sol";
import {OneStepProver} from "../src/OneStepProver.sol";
import {IOneStepProver} from "../src/interfaces/IOneStepProver.sol";
import {SparseMerkle} from "../src/lib/SparseMerkle.sol";
import {TxRoot} from "../src/lib/TxRoot.sol";
import {Keys} from "../src/lib/Keys.sol";
import {InboxEntries} from "../src/lib/InboxEntries.sol";
import {RefSmt} from "./SparseMerkle.t.sol";

/// @notice The shared-vector differential test of the OneStepProver (tests/vectors/steps.json),
///         tampering tests on the same vectors, and EIP-712 / record-decoding checks.
contract OneStepProverTest is Test {
    using stdJson for string;

    OneStepProver internal prover;
    string internal steps;
    IOneStepProver.ChainConfig internal config;
    uint256 internal count;

    function setUp() public {
        prover = new OneStepProver();
        steps = vm.readFile("../tests/vectors/steps.json");
        config = IOneStepProver.ChainConfig({
            l2ChainId: uint64(steps.readUint(".config.l2ChainId")),
            rollup: steps.readAddress(".config.rollup"),
            feeRecipient: steps.readAddress(".config.feeRecipient")
        });
        count = steps.readUint(".count");
    }

    // ------------------------------------------------------------ vector helpers

    struct Vector {
        string name;
        string outcome;
        bytes32 rootBefore;
        bytes32 rootAfter;
        IOneStepProver.StepContext context;
        uint256 accessCount;
        bytes witness;
    }

    /// @dev One steps.json entry as forge's JSON decoder yields it (fields in alphabetical order).
    struct JsonStep {
        uint256 accessCount;
        bytes32 entryHash;
        bool isInbox;
        string name;
        string outcome;
        uint256 recordCount;
        uint256 recordIndex;
        bytes32 rootAfter;
        bytes32 rootBefore;
        bytes32 txRoot;
        bytes witness;
    }

    /// @dev All vectors, parsed once (parsing per field would copy the whole file each time).
    function _vectors() internal view returns (Vector[] memory vs) {
        JsonStep[] memory js = abi.decode(vm.parseJson(steps, ".steps"), (JsonStep[]));
        assertEq(js.length, count, "count");
        vs = new Vector[](js.length);
        for (uint256 i = 0; i < js.length; i++) {
            JsonStep memory j = js[i];
            vs[i] = Vector({
                name: j.name,
                outcome: j.outcome,
                rootBefore: j.rootBefore,
                rootAfter: j.rootAfter,
                context: IOneStepProver.StepContext({
                    isInbox: j.isInbox,
                    entryHash: j.entryHash,
                    txRoot: j.txRoot,
                    recordIndex: j.recordIndex,
                    recordCount: j.recordCount
                }),
                accessCount: j.accessCount,
                witness: j.witness
            });
        }
    }

    function _copy(IOneStepProver.StepContext memory c) internal pure returns (IOneStepProver.StepContext memory) {
        return IOneStepProver.StepContext({
            isInbox: c.isInbox,
            entryHash: c.entryHash,
            txRoot: c.txRoot,
            recordIndex: c.recordIndex,
            recordCount: c.recordCount
        });
    }

    function _decode(bytes memory witness) internal pure returns (OneStepProver.StepWitness memory) {
        return abi.decode(witness, (OneStepProver.StepWitness));
    }

    /// @dev Soundness: a witness the prover accepts must yield the true root. Every tampering used
    ///      here changes something the prover checks, so it must revert (a wrong root would be a
    ///      soundness bug, the true root would mean a check is missing).
    function _assertRejected(
        Vector memory v,
        IOneStepProver.StepContext memory ctx,
        bytes memory witness,
        string memory what
    ) internal view {
        try prover.proveStep(config, v.rootBefore, ctx, witness) returns (bytes32 root) {
            assertEq(root, v.rootAfter, string.concat(v.name, ": tampered witness accepted with a wrong root: ", what));
            revert(string.concat(v.name, ": tampered witness accepted: ", what));
        } catch {}
    }

    function _sameProof(SparseMerkle.Proof memory a, SparseMerkle.Proof memory b) internal pure returns (bool) {
        return keccak256(abi.encode(a)) == keccak256(abi.encode(b));
    }

    // ------------------------------------------------------------ differential test

    /// @notice Every vector: proveStep(config, rootBefore, context, witness) == rootAfter, and the
    ///         witness has exactly accessCount proofs. Logs the gas of each step.
    function test_proveStep_vectors_succeeds() public view {
        assertGt(count, 0);
        uint256 maxGas;
        Vector[] memory vs = _vectors();
        for (uint256 i = 0; i < vs.length; i++) {
            Vector memory v = vs[i];
            assertEq(_decode(v.witness).accesses.length, v.accessCount, v.name);
            (uint256 g, bytes32 root) = this.measureProveStep(v.rootBefore, v.context, v.witness);
            assertEq(root, v.rootAfter, v.name);
            if (keccak256(bytes(v.outcome)) != keccak256("applied") || v.accessCount == 0) {
                assertEq(root, v.rootBefore, string.concat(v.name, ": no-op changed the root"));
            }
            if (g > maxGas) maxGas = g;
            console.log(string.concat(v.name, " gas"), g);
        }
        console.log("max proveStep gas", maxGas);
        assertLe(maxGas, 250_000);
    }

    /// @notice The vector file covers both step kinds, every outcome and every required step name.
    function test_proveStep_vectorsCoverEveryCase_succeeds() public view {
        string[5] memory outcomes = ["applied", "invalidRecord", "invalidSignature", "badNonce", "insufficientBalance"];
        string[20] memory names = [
            "deposit_fresh",
            "deposit_existing",
            "deposit_zero",
            "forced_withdrawal_covered",
            "forced_withdrawal_not_covered",
            "transfer_valid",
            "transfer_fresh_recipient",
            "transfer_self",
            "transfer_zero_amount",
            "transfer_zero_fee",
            "transfer_bad_signature",
            "transfer_high_s",
            "transfer_bad_v",
            "transfer_unknown_kind",
            "transfer_wrong_nonce",
            "transfer_insufficient_balance",
            "withdraw_valid",
            "withdraw_insufficient_balance",
            "withdraw_wrong_nonce",
            "transfer_fee_recipient_sender"
        ];
        bool[5] memory seenOutcome;
        bool[20] memory seenName;
        bool seenInbox;
        bool seenRecord;
        Vector[] memory vs = _vectors();
        for (uint256 i = 0; i < vs.length; i++) {
            Vector memory v = vs[i];
            if (v.context.isInbox) seenInbox = true;
            else seenRecord = true;
            for (uint256 j = 0; j < outcomes.length; j++) {
                if (keccak256(bytes(v.outcome)) == keccak256(bytes(outcomes[j]))) seenOutcome[j] = true;
            }
            for (uint256 j = 0; j < names.length; j++) {
                if (keccak256(bytes(v.name)) == keccak256(bytes(names[j]))) seenName[j] = true;
            }
        }
        assertTrue(seenInbox, "no inbox step");
        assertTrue(seenRecord, "no record step");
        for (uint256 j = 0; j < outcomes.length; j++) {
            assertTrue(seenOutcome[j], string.concat("missing outcome ", outcomes[j]));
        }
        for (uint256 j = 0; j < names.length; j++) {
            assertTrue(seenName[j], string.concat("missing step ", names[j]));
        }
    }

    // ------------------------------------------------------------ tampering

    /// @notice Changing any one sibling of any access is rejected.
    function test_proveStep_tamperedSibling_reverts() public view {
        Vector[] memory vs = _vectors();
        for (uint256 i = 0; i < vs.length; i++) {
            Vector memory v = vs[i];
            OneStepProver.StepWitness memory w = _decode(v.witness);
            for (uint256 a = 0; a < w.accesses.length; a++) {
                bytes32[] memory sib = w.accesses[a].siblings;
                for (uint256 s = 0; s < sib.length; s += 1 + sib.length / 4) {
                    bytes32 saved = sib[s];
                    sib[s] = bytes32(uint256(saved) ^ 1);
                    _assertRejected(v, v.context, abi.encode(w), "sibling");
                    sib[s] = saved;
                }
            }
        }
    }

    /// @notice Changing the value, terminal, other key or other value of any access is rejected.
    function test_proveStep_tamperedProofFields_reverts() public view {
        Vector[] memory vs = _vectors();
        for (uint256 i = 0; i < vs.length; i++) {
            Vector memory v = vs[i];
            OneStepProver.StepWitness memory w = _decode(v.witness);
            for (uint256 a = 0; a < w.accesses.length; a++) {
                SparseMerkle.Proof memory p = w.accesses[a];
                bytes32 saved = p.value;
                p.value = bytes32(uint256(saved) + 1);
                _assertRejected(v, v.context, abi.encode(w), "value");
                p.value = saved;

                uint8 t = p.terminal;
                for (uint8 nt = 0; nt <= 3; nt++) {
                    if (nt == t) continue;
                    p.terminal = nt;
                    _assertRejected(v, v.context, abi.encode(w), "terminal");
                }
                p.terminal = t;

                saved = p.otherKey;
                p.otherKey = bytes32(uint256(saved) ^ 1);
                _assertRejected(v, v.context, abi.encode(w), "otherKey");
                p.otherKey = saved;

                saved = p.otherValue;
                p.otherValue = bytes32(uint256(saved) ^ 1);
                _assertRejected(v, v.context, abi.encode(w), "otherValue");
                p.otherValue = saved;

                // A sibling too many or too few.
                bytes32[] memory sib = p.siblings;
                bytes32[] memory longer = new bytes32[](sib.length + 1);
                for (uint256 s = 0; s < sib.length; s++) {
                    longer[s] = sib[s];
                }
                longer[sib.length] = keccak256("x");
                p.siblings = longer;
                _assertRejected(v, v.context, abi.encode(w), "extra sibling");
                if (sib.length > 0) {
                    bytes32[] memory shorter = new bytes32[](sib.length - 1);
                    for (uint256 s = 0; s + 1 < sib.length; s++) {
                        shorter[s] = sib[s];
                    }
                    p.siblings = shorter;
                    _assertRejected(v, v.context, abi.encode(w), "missing sibling");
                }
                p.siblings = sib;
            }
        }
    }

    /// @notice Swapping two different accesses is rejected.
    function test_proveStep_swappedAccesses_reverts() public view {
        Vector[] memory vs = _vectors();
        for (uint256 i = 0; i < vs.length; i++) {
            Vector memory v = vs[i];
            OneStepProver.StepWitness memory w = _decode(v.witness);
            for (uint256 a = 0; a + 1 < w.accesses.length; a++) {
                for (uint256 b = a + 1; b < w.accesses.length; b++) {
                    if (_sameProof(w.accesses[a], w.accesses[b])) continue;
                    (w.accesses[a], w.accesses[b]) = (w.accesses[b], w.accesses[a]);
                    _assertRejected(v, v.context, abi.encode(w), "swap");
                    (w.accesses[a], w.accesses[b]) = (w.accesses[b], w.accesses[a]);
                }
            }
        }
    }

    /// @notice Dropping the last access, or appending one (a copy of any access or an empty
    ///         proof), is rejected.
    function test_proveStep_wrongAccessCount_reverts() public view {
        Vector[] memory vs = _vectors();
        for (uint256 i = 0; i < vs.length; i++) {
            Vector memory v = vs[i];
            OneStepProver.StepWitness memory w = _decode(v.witness);
            SparseMerkle.Proof[] memory orig = w.accesses;
            uint256 n = orig.length;
            if (n > 0) {
                SparseMerkle.Proof[] memory fewer = new SparseMerkle.Proof[](n - 1);
                for (uint256 a = 0; a + 1 < n; a++) {
                    fewer[a] = orig[a];
                }
                w.accesses = fewer;
                _assertRejected(v, v.context, abi.encode(w), "drop last");
            }
            SparseMerkle.Proof[] memory more = new SparseMerkle.Proof[](n + 1);
            for (uint256 a = 0; a < n; a++) {
                more[a] = orig[a];
            }
            more[n] = n > 0 ? orig[n - 1] : more[n];
            w.accesses = more;
            _assertRejected(v, v.context, abi.encode(w), "extra access");
        }
    }

    /// @notice A wrong entry (inbox) or a wrong record, record index or tx proof is rejected, and
    ///         so is a witness of the other step kind.
    function test_proveStep_wrongStep_reverts() public view {
        Vector[] memory vs = _vectors();
        for (uint256 i = 0; i < vs.length; i++) {
            Vector memory v = vs[i];
            OneStepProver.StepWitness memory w = _decode(v.witness);
            IOneStepProver.StepContext memory ctx = _copy(v.context);
            if (ctx.isInbox) {
                w.entry.amount ^= 1;
                _assertRejected(v, ctx, abi.encode(w), "entry amount");
                w.entry.amount ^= 1;
                w.entry.recipient = address(uint160(w.entry.recipient) ^ 1);
                _assertRejected(v, ctx, abi.encode(w), "entry recipient");
                w.entry.recipient = address(uint160(w.entry.recipient) ^ 1);
                w.entry.kind = 3 - w.entry.kind;
                _assertRejected(v, ctx, abi.encode(w), "entry kind");
                w.entry.kind = 3 - w.entry.kind;
                ctx.entryHash = bytes32(uint256(ctx.entryHash) ^ 1);
                _assertRejected(v, ctx, abi.encode(w), "entry hash");
                ctx.entryHash = bytes32(uint256(ctx.entryHash) ^ 1);
                w.record = new bytes(146);
                _assertRejected(v, ctx, abi.encode(w), "record on inbox step");
                w.record = "";
                ctx.isInbox = false;
                _assertRejected(v, ctx, abi.encode(w), "inbox witness for a record step");
            } else {
                ctx.recordIndex += 1;
                _assertRejected(v, ctx, abi.encode(w), "record index + 1");
                ctx.recordIndex -= 1;
                if (ctx.recordIndex > 0) {
                    ctx.recordIndex -= 1;
                    _assertRejected(v, ctx, abi.encode(w), "record index - 1");
                    ctx.recordIndex += 1;
                }
                ctx.recordCount += ctx.recordCount; // a different tree shape
                _assertRejected(v, ctx, abi.encode(w), "record count");
                ctx.recordCount = ctx.recordIndex; // index out of range
                _assertRejected(v, ctx, abi.encode(w), "index >= count");
                ctx.recordCount = v.context.recordCount;
                ctx.txRoot = bytes32(uint256(ctx.txRoot) ^ 1);
                _assertRejected(v, ctx, abi.encode(w), "tx root");
                ctx.txRoot = v.context.txRoot;
                w.record[100] ^= 0x01;
                _assertRejected(v, ctx, abi.encode(w), "record byte");
                w.record[100] ^= 0x01;
                if (w.txProof.length > 0) {
                    w.txProof[0] ^= bytes32(uint256(1));
                    _assertRejected(v, ctx, abi.encode(w), "tx proof");
                    w.txProof[0] ^= bytes32(uint256(1));
                }
                w.entry.kind = 1;
                _assertRejected(v, ctx, abi.encode(w), "entry on record step");
                w.entry.kind = 0;
                ctx.isInbox = true;
                _assertRejected(v, ctx, abi.encode(w), "record witness for an inbox step");
            }
            // Sanity: the restored witness still proves the step.
            assertEq(prover.proveStep(config, v.rootBefore, v.context, abi.encode(w)), v.rootAfter, v.name);
        }
    }

    /// @notice A wrong rootBefore is rejected by every step that makes an access.
    function test_proveStep_wrongRootBefore_reverts() public view {
        Vector[] memory vs = _vectors();
        for (uint256 i = 0; i < vs.length; i++) {
            Vector memory v = vs[i];
            if (v.accessCount == 0) continue;
            v.rootBefore = bytes32(uint256(v.rootBefore) ^ 1);
            try prover.proveStep(config, v.rootBefore, v.context, v.witness) returns (bytes32) {
                revert(string.concat(v.name, ": accepted a wrong rootBefore"));
            } catch {}
        }
    }

    /// @notice The witness re-encoded by Solidity is byte-identical to the Rust encoding.
    function test_proveStep_witnessEncodingRoundTrips_succeeds() public view {
        Vector[] memory vs = _vectors();
        for (uint256 i = 0; i < vs.length; i++) {
            Vector memory v = vs[i];
            assertEq(abi.encode(_decode(v.witness)), v.witness, v.name);
        }
    }

    /// @notice Fuzz: flipping any byte of any vector's witness never yields a root other than the
    ///         true one (it reverts, or the byte was immaterial and the root is rootAfter).
    function testFuzz_proveStep_mutatedWitnessNeverWrongRoot_succeeds(uint256 which, uint256 offset, uint8 mask)
        public
        view
    {
        Vector memory v = _vectors()[bound(which, 0, count - 1)];
        mask = uint8(bound(mask, 1, 255));
        offset = bound(offset, 0, v.witness.length - 1);
        v.witness[offset] ^= bytes1(mask);
        try prover.proveStep(config, v.rootBefore, v.context, v.witness) returns (bytes32 root) {
            assertEq(root, v.rootAfter, v.name);
        } catch {}
    }

    /// @notice Fuzz: random bytes are not a witness for any vector's step.
    function testFuzz_proveStep_randomWitnessNeverWrongRoot_succeeds(uint256 which, bytes memory junk) public view {
        Vector memory v = _vectors()[bound(which, 0, count - 1)];
        try prover.proveStep(config, v.rootBefore, v.context, junk) returns (bytes32 root) {
            assertEq(root, v.rootAfter, v.name);
        } catch {}
    }

    // ------------------------------------------------------------ hand-built steps

    /// @notice A record step whose record is not 146 bytes reverts.
    function test_proveStep_shortRecord_reverts() public {
        OneStepProver.StepWitness memory w;
        w.record = new bytes(145);
        IOneStepProver.StepContext memory ctx;
        ctx.recordCount = 1;
        vm.expectRevert(abi.encodeWithSelector(OneStepProver.InvalidRecordLength.selector, 145));
        prover.proveStep(config, bytes32(0), ctx, abi.encode(w));
    }

    /// @notice An inbox entry of kind 0 or 3 reverts even when its hash matches.
    function test_proveStep_unknownEntryKind_reverts() public {
        OneStepProver.StepWitness memory w;
        w.entry = OneStepProver.InboxEntry({
            kind: 3, sender: address(1), recipient: address(1), token: address(0), amount: 5
        });
        IOneStepProver.StepContext memory ctx;
        ctx.isInbox = true;
        ctx.entryHash = InboxEntries.hash(3, address(1), address(1), address(0), 5);
        vm.expectRevert(abi.encodeWithSelector(OneStepProver.InvalidEntryKind.selector, 3));
        prover.proveStep(config, bytes32(0), ctx, abi.encode(w));
        w.entry.kind = 0;
        ctx.entryHash = InboxEntries.hash(0, address(1), address(1), address(0), 5);
        vm.expectRevert(abi.encodeWithSelector(OneStepProver.InvalidEntryKind.selector, 0));
        prover.proveStep(config, bytes32(0), ctx, abi.encode(w));
    }

    /// @notice A deposit into the empty tree: one write, the new root is the one leaf.
    function test_proveStep_depositIntoEmptyTree_succeeds() public view {
        OneStepProver.StepWitness memory w;
        w.entry = OneStepProver.InboxEntry({
            kind: 1, sender: address(7), recipient: address(8), token: address(9), amount: 5
        });
        w.accesses = new SparseMerkle.Proof[](1);
        IOneStepProver.StepContext memory ctx;
        ctx.isInbox = true;
        ctx.entryHash = InboxEntries.hash(1, address(7), address(8), address(9), 5);
        bytes32 root = prover.proveStep(config, bytes32(0), ctx, abi.encode(w));
        bytes32 key = Keys.balanceKey(address(8), address(9));
        assertEq(root, keccak256(abi.encodePacked(uint8(0), key, bytes32(uint256(5)))));
    }

    /// @notice A deposit whose witness has no access reverts with MissingAccess.
    function test_proveStep_missingAccess_reverts() public {
        OneStepProver.StepWitness memory w;
        w.entry = OneStepProver.InboxEntry({
            kind: 1, sender: address(7), recipient: address(8), token: address(9), amount: 5
        });
        IOneStepProver.StepContext memory ctx;
        ctx.isInbox = true;
        ctx.entryHash = InboxEntries.hash(1, address(7), address(8), address(9), 5);
        vm.expectRevert(abi.encodeWithSelector(OneStepProver.MissingAccess.selector, 0));
        prover.proveStep(config, bytes32(0), ctx, abi.encode(w));
    }

    /// @notice A zero deposit with a proof left over reverts with UnusedAccesses.
    function test_proveStep_unusedAccess_reverts() public {
        OneStepProver.StepWitness memory w;
        w.entry = OneStepProver.InboxEntry({
            kind: 1, sender: address(7), recipient: address(8), token: address(9), amount: 0
        });
        w.accesses = new SparseMerkle.Proof[](1);
        IOneStepProver.StepContext memory ctx;
        ctx.isInbox = true;
        ctx.entryHash = InboxEntries.hash(1, address(7), address(8), address(9), 0);
        vm.expectRevert(abi.encodeWithSelector(OneStepProver.UnusedAccesses.selector, 0, 1));
        prover.proveStep(config, bytes32(0), ctx, abi.encode(w));
    }

    /// @notice Fuzz: a record signed with vm.sign for a fresh sender (nonce 0, balance 0) with a
    ///         positive amount is an insufficientBalance no-op with two non-inclusion reads of the
    ///         empty tree; a record with a corrupted signature is a no-op with no access at all.
    function testFuzz_proveStep_signedRecordOnEmptyTree_succeeds(uint256 pk, address to, uint128 amount, uint128 fee)
        public
        view
    {
        pk = bound(pk, 1, 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364140);
        vm.assume(uint256(amount) + fee > 0);
        bytes32 d = prover.digest(config, 1, to, address(0), amount, fee, 0);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(pk, d);
        if (uint256(s) > 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0) {
            // vm.sign gives low-s already; keep the test total anyway.
            s = bytes32(0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141 - uint256(s));
            v = v == 27 ? 28 : 27;
        }
        bytes memory record = abi.encodePacked(uint8(1), to, address(0), amount, fee, uint64(0), r, s, v);
        assertEq(record.length, 146);
        assertEq(prover.recoverSender(config, record), vm.addr(pk));

        OneStepProver.StepWitness memory w;
        w.record = record;
        w.accesses = new SparseMerkle.Proof[](2);
        IOneStepProver.StepContext memory ctx = IOneStepProver.StepContext({
            isInbox: false, entryHash: 0, txRoot: keccak256(record), recordIndex: 0, recordCount: 1
        });
        assertEq(prover.proveStep(config, bytes32(0), ctx, abi.encode(w)), bytes32(0));

        // Flip v: either another sender (still a fresh account: same 2 reads) or a failed recovery
        // (no access). Either way the root stays zero; with no access proof it must be the latter
        // or revert with MissingAccess.
        record[145] = bytes1(v == 27 ? 28 : 27);
        ctx.txRoot = keccak256(record);
        w.record = record;
        w.accesses = new SparseMerkle.Proof[](0);
        address other = prover.recoverSender(config, record);
        if (other == address(0)) {
            assertEq(prover.proveStep(config, bytes32(0), ctx, abi.encode(w)), bytes32(0));
        } else {
            assertTrue(other != vm.addr(pk));
        }
    }

    // ------------------------------------------------------------ deep trees (gas)

    uint256 internal constant PK = 0xA11CE;
    address internal constant TO = address(0xB0B);
    address internal constant FRESH = address(0xF8E5);
    address internal constant TOKEN = address(0x70CE);

    /// @dev A state with ~2^fill accounts around the keys a step touches: every touched key's
    ///      leaf sits at depth `fill` or deeper. Fresh keys get a neighbour leaf sharing fill+1
    ///      bits, so their proofs end at another key's leaf (a split of one extra level).
    function _deepState(uint256 fill) internal view returns (RefSmt.Tree memory t) {
        t.fill = fill;
        address s = vm.addr(PK);
        RefSmt.set(t, Keys.nonceKey(s), bytes32(uint256(5)));
        RefSmt.set(t, Keys.balanceKey(s, TOKEN), bytes32(uint256(1e24)));
        RefSmt.set(t, Keys.balanceKey(TO, TOKEN), bytes32(uint256(7)));
        RefSmt.set(t, Keys.balanceKey(config.feeRecipient, TOKEN), bytes32(uint256(9)));
        RefSmt.set(t, Keys.withdrawalCountKey(), bytes32(uint256(3)));
        bytes32 flip = bytes32(uint256(1) << (255 - fill - 1));
        RefSmt.set(t, Keys.withdrawalKey(3) ^ flip, bytes32(uint256(1)));
        RefSmt.set(t, Keys.balanceKey(FRESH, TOKEN) ^ flip, bytes32(uint256(1)));
    }

    /// @dev Appends the proof of `key` to `w` and, for a write, applies it to `t`.
    function _access(RefSmt.Tree memory t, OneStepProver.StepWitness memory w, bytes32 key, bool write, bytes32 value)
        internal
        pure
    {
        SparseMerkle.Proof[] memory more = new SparseMerkle.Proof[](w.accesses.length + 1);
        for (uint256 i = 0; i < w.accesses.length; i++) {
            more[i] = w.accesses[i];
        }
        more[w.accesses.length] = RefSmt.prove(t, key);
        w.accesses = more;
        if (write) RefSmt.set(t, key, value);
    }

    function _add(RefSmt.Tree memory t, bytes32 key, uint256 x) internal pure returns (bytes32) {
        return bytes32(uint256(RefSmt.get(t, key)) + x);
    }

    /// @dev A signed record step over a deep state, in a batch of 1024 records (10-level tx proof).
    function _deepRecordStep(uint256 fill, uint8 kind, address to, uint128 amount, uint128 fee)
        internal
        view
        returns (bytes32 rootBefore, bytes32 rootAfter, IOneStepProver.StepContext memory ctx, bytes memory witness)
    {
        RefSmt.Tree memory t = _deepState(fill);
        rootBefore = RefSmt.root(t);
        OneStepProver.StepWitness memory w;
        w.record = _signedRecord(kind, to, amount, fee, 5);
        (ctx, w.txProof) = _batchOf1024(w.record, 777);
        _recordAccesses(t, w, kind, to, amount, fee);
        rootAfter = RefSmt.root(t);
        witness = abi.encode(w);
    }

    function _signedRecord(uint8 kind, address to, uint128 amount, uint128 fee, uint64 nonce)
        internal
        view
        returns (bytes memory)
    {
        bytes32 d = prover.digest(config, kind, to, TOKEN, amount, fee, nonce);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(PK, d);
        return abi.encodePacked(kind, to, TOKEN, amount, fee, nonce, r, s, v);
    }

    /// @dev A context placing `record` at `index` of 1024 records (the other leaves are opaque).
    function _batchOf1024(bytes memory record, uint256 index)
        internal
        pure
        returns (IOneStepProver.StepContext memory ctx, bytes32[] memory proof)
    {
        ctx.recordIndex = index;
        ctx.recordCount = 1024;
        proof = new bytes32[](10);
        bytes32 node = keccak256(record);
        for (uint256 j = 0; j < 10; j++) {
            proof[j] = keccak256(abi.encode("tx", j));
            node = (index >> j) & 1 == 0
                ? keccak256(abi.encodePacked(node, proof[j]))
                : keccak256(abi.encodePacked(proof[j], node));
        }
        ctx.txRoot = node;
    }

    /// @dev The access list of an applied transfer or withdraw (§5.3, §5.4) from sender PK.
    function _recordAccesses(
        RefSmt.Tree memory t,
        OneStepProver.StepWitness memory w,
        uint8 kind,
        address to,
        uint128 amount,
        uint128 fee
    ) internal view {
        address s = vm.addr(PK);
        bytes32 bk = Keys.balanceKey(s, TOKEN);
        _access(t, w, Keys.nonceKey(s), false, 0);
        _access(t, w, bk, false, 0);
        _access(t, w, Keys.nonceKey(s), true, _add(t, Keys.nonceKey(s), 1));
        _access(t, w, bk, true, bytes32(uint256(RefSmt.get(t, bk)) - amount - fee));
        if (kind == 1) {
            bytes32 k = Keys.balanceKey(to, TOKEN);
            _access(t, w, k, true, _add(t, k, amount));
        } else {
            uint256 c = uint256(RefSmt.get(t, Keys.withdrawalCountKey()));
            _access(t, w, Keys.withdrawalCountKey(), true, bytes32(c + 1));
            _access(t, w, Keys.withdrawalKey(c), true, Keys.withdrawalValue(to, TOKEN, amount));
        }
        bytes32 fk = Keys.balanceKey(config.feeRecipient, TOKEN);
        _access(t, w, fk, true, _add(t, fk, fee));
    }

    function _deepForcedWithdrawal(uint256 fill)
        internal
        view
        returns (bytes32 rootBefore, bytes32 rootAfter, IOneStepProver.StepContext memory ctx, bytes memory witness)
    {
        RefSmt.Tree memory t = _deepState(fill);
        rootBefore = RefSmt.root(t);
        address s = vm.addr(PK);
        OneStepProver.StepWitness memory w;
        w.entry = OneStepProver.InboxEntry({kind: 2, sender: s, recipient: s, token: TOKEN, amount: 1000});
        ctx.isInbox = true;
        ctx.entryHash = InboxEntries.hash(2, s, s, TOKEN, 1000);
        _access(t, w, Keys.balanceKey(s, TOKEN), false, 0);
        _access(t, w, Keys.balanceKey(s, TOKEN), true, bytes32(uint256(1e24) - 1000));
        _access(t, w, Keys.withdrawalCountKey(), true, bytes32(uint256(4)));
        _access(t, w, Keys.withdrawalKey(3), true, Keys.withdrawalValue(s, TOKEN, 1000));
        rootAfter = RefSmt.root(t);
        witness = abi.encode(w);
    }

    function _gas(bytes32 rootBefore, bytes32 rootAfter, IOneStepProver.StepContext memory ctx, bytes memory witness)
        internal
        view
        returns (uint256 g)
    {
        bytes32 root;
        (g, root) = this.measureProveStep(rootBefore, ctx, witness);
        assertEq(root, rootAfter);
    }

    /// @dev Gas of one proveStep call made from a fresh frame (so the test's own large memory
    ///      does not inflate the cost of encoding the call). Includes the ABI encoding of the
    ///      arguments and the call, as a caller contract would pay them; not the transaction's
    ///      intrinsic calldata cost.
    function measureProveStep(bytes32 rootBefore, IOneStepProver.StepContext calldata ctx, bytes calldata witness)
        external
        view
        returns (uint256 g, bytes32 root)
    {
        g = gasleft();
        root = prover.proveStep(config, rootBefore, ctx, witness);
        g -= gasleft();
    }

    /// @notice proveStep over a state of ~2^32 leaves (and ~2^64 for the worst case) in a batch
    ///         of 1024 records: the result matches the reference tree, and gas stays ≤ 250k at 2^32.
    function test_proveStep_deepTree_succeeds() public view {
        uint256[2] memory fills = [uint256(32), 64];
        for (uint256 f = 0; f < 2; f++) {
            uint256 fill = fills[f];
            (bytes32 a, bytes32 b, IOneStepProver.StepContext memory c, bytes memory w) =
                _deepRecordStep(fill, 1, TO, 1e18, 1e15);
            uint256 gTransfer = _gas(a, b, c, w);
            (a, b, c, w) = _deepRecordStep(fill, 1, FRESH, 1e18, 1e15);
            uint256 gFresh = _gas(a, b, c, w);
            (a, b, c, w) = _deepRecordStep(fill, 2, TO, 1e18, 1e15);
            uint256 gWithdraw = _gas(a, b, c, w);
            (a, b, c, w) = _deepForcedWithdrawal(fill);
            uint256 gForced = _gas(a, b, c, w);
            console.log("depth", fill);
            console.log("  transfer gas", gTransfer);
            console.log("  transfer to fresh recipient gas", gFresh);
            console.log("  withdraw gas", gWithdraw);
            console.log("  forced withdrawal gas", gForced);
            if (fill == 32) {
                assertLe(gTransfer, 250_000);
                assertLe(gFresh, 250_000);
                assertLe(gWithdraw, 250_000);
                assertLe(gForced, 250_000);
            }
        }
    }

    // ------------------------------------------------------------ EIP-712 and records

    /// @notice The digest and the recovered sender of every eip712.json case.
    function test_digest_vectors_succeeds() public view {
        string memory json = vm.readFile("../tests/vectors/eip712.json");
        IOneStepProver.ChainConfig memory cfg = IOneStepProver.ChainConfig({
            l2ChainId: uint64(json.readUint(".config.l2ChainId")),
            rollup: json.readAddress(".config.rollup"),
            feeRecipient: json.readAddress(".config.feeRecipient")
        });
        uint256 n = json.readUint(".count");
        assertGt(n, 0);
        for (uint256 i = 0; i < n; i++) {
            string memory p = string.concat(".cases[", vm.toString(i), "]");
            bytes32 d = prover.digest(
                cfg,
                uint8(json.readUint(string.concat(p, ".kind"))),
                json.readAddress(string.concat(p, ".to")),
                json.readAddress(string.concat(p, ".token")),
                uint128(json.readUint(string.concat(p, ".amount"))),
                uint128(json.readUint(string.concat(p, ".fee"))),
                uint64(json.readUint(string.concat(p, ".nonce")))
            );
            assertEq(d, json.readBytes32(string.concat(p, ".digest")));
            bytes memory record = json.readBytes(string.concat(p, ".record"));
            assertEq(keccak256(record), json.readBytes32(string.concat(p, ".txHash")));
            assertEq(prover.recoverSender(cfg, record), json.readAddress(string.concat(p, ".sender")));
        }
    }

    /// @notice Every 146-byte records.json case: a valid record recovers a sender, an invalid one
    ///         recovers none (the STF's no-op); other lengths revert.
    function test_recoverSender_recordVectors_succeeds() public {
        string memory json = vm.readFile("../tests/vectors/records.json");
        uint256 n = json.readUint(".count");
        assertGt(n, 0);
        for (uint256 i = 0; i < n; i++) {
            string memory p = string.concat(".cases[", vm.toString(i), "]");
            bytes memory record = json.readBytes(string.concat(p, ".bytes"));
            bool valid = keccak256(bytes(json.readString(string.concat(p, ".name")))) == keccak256("valid");
            if (record.length != 146) {
                vm.expectRevert(abi.encodeWithSelector(OneStepProver.InvalidRecordLength.selector, record.length));
                prover.recoverSender(config, record);
            } else if (valid) {
                assertTrue(prover.recoverSender(config, record) != address(0));
            } else {
                assertEq(prover.recoverSender(config, record), address(0), json.readString(string.concat(p, ".name")));
            }
        }
    }

    // ------------------------------------------------------------ keys and entries

    /// @notice The state keys are the abi.encode hashes of protocol.md §4.
    function test_keys_match_succeeds() public pure {
        assertEq(Keys.withdrawalCountKey(), keccak256(abi.encode(uint8(4))));
        assertEq(Keys.balanceKey(address(1), address(2)), keccak256(abi.encode(uint8(1), address(1), address(2))));
        assertEq(Keys.nonceKey(address(3)), keccak256(abi.encode(uint8(2), address(3))));
        assertEq(Keys.withdrawalKey(7), keccak256(abi.encode(uint8(3), uint256(7))));
        assertEq(
            Keys.withdrawalValue(address(1), address(2), 3), keccak256(abi.encode(address(1), address(2), uint256(3)))
        );
    }

    /// @notice Every inbox vector's entry hashes to its entryHash.
    function test_hash_inboxVectors_succeeds() public view {
        Vector[] memory vs = _vectors();
        for (uint256 i = 0; i < vs.length; i++) {
            Vector memory v = vs[i];
            if (!v.context.isInbox) continue;
            OneStepProver.InboxEntry memory e = _decode(v.witness).entry;
            assertEq(InboxEntries.hash(e.kind, e.sender, e.recipient, e.token, e.amount), v.context.entryHash, v.name);
        }
    }
}
