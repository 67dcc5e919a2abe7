// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {KeelTestBase} from "./utils/KeelTestBase.sol";
import {MockProver, RejectingReceiver} from "./utils/Mocks.sol";
import {Rollup} from "../src/Rollup.sol";
import {Bridge} from "../src/Bridge.sol";
import {ChallengeManager} from "../src/ChallengeManager.sol";
import {IRollup} from "../src/interfaces/IRollup.sol";
import {IBridge} from "../src/interfaces/IBridge.sol";
import {IChallengeManager} from "../src/interfaces/IChallengeManager.sol";
import {IOneStepProver} from "../src/interfaces/IOneStepProver.sol";
import {TxRoot} from "../src/lib/TxRoot.sol";

/// @notice Exposes TxRoot.compute for computing expected roots from memory bytes.
contract TxRootHarness {
    function compute(bytes calldata records) external pure returns (bytes32 root, uint256 count) {
        return TxRoot.compute(records);
    }
}

/// @notice Calls appendBatch from a contract (which must be refused: the records would not be the
///         transaction's input).
contract AppendProxy {
    function append(
        Rollup rollup,
        bytes calldata records,
        uint256 inboxEnd,
        bytes32 root,
        uint256 expectedIndex,
        bytes32 expectedPreStateRoot
    ) external {
        rollup.appendBatch(records, inboxEnd, root, expectedIndex, expectedPreStateRoot);
    }

    function stake(Rollup rollup) external payable {
        rollup.stake{value: msg.value}();
    }
}

contract RollupTest is KeelTestBase {
    TxRootHarness internal txRoots;

    function setUp() public {
        deployDefault();
        txRoots = new TxRootHarness();
        stakeFor(sequencer);
    }

    // ------------------------------------------------------------------ constructor / initialize

    function test_constructor_setsConfig_succeeds() public view {
        assertEq(rollup.l2ChainId(), L2_CHAIN_ID);
        assertEq(rollup.feeRecipient(), feeRecipient);
        assertEq(rollup.sequencer(), sequencer);
        assertEq(rollup.challengePeriod(), CHALLENGE_PERIOD);
        assertEq(rollup.moveTimeout(), MOVE_TIMEOUT);
        assertEq(rollup.requiredStake(), REQUIRED_STAKE);
        assertEq(rollup.challengeBond(), CHALLENGE_BOND);
        assertEq(rollup.forceInclusionDelay(), FORCE_INCLUSION_DELAY);
        assertEq(rollup.sequencerInactivityPeriod(), INACTIVITY_PERIOD);
        assertEq(rollup.degree(), DEGREE);
        assertEq(rollup.challengerShareBps(), SHARE_BPS);
        assertEq(rollup.deployer(), address(this));
        assertEq(rollup.lastSequencerAppend(), block.timestamp);
        assertEq(rollup.nextBatchId(), 1);
        assertEq(rollup.batchCount(), 0);
        IOneStepProver.ChainConfig memory c = rollup.chainConfig();
        assertEq(c.l2ChainId, L2_CHAIN_ID);
        assertEq(c.rollup, address(rollup));
        assertEq(c.feeRecipient, feeRecipient);
        // The manager copied the game parameters.
        assertEq(manager.degree(), DEGREE);
        assertEq(manager.moveTimeout(), MOVE_TIMEOUT);
        assertEq(manager.challengePeriod(), CHALLENGE_PERIOD);
        assertEq(manager.challengeBond(), CHALLENGE_BOND);
    }

    function test_constructor_invalidConfig_reverts() public {
        IRollup.Config[] memory bad = new IRollup.Config[](9);
        for (uint256 i; i < bad.length; ++i) {
            bad[i] = defaultConfig();
        }
        bad[0].sequencer = address(0);
        bad[1].degree = 1;
        bad[2].degree = 65;
        bad[3].challengerShareBps = 10_001;
        bad[4].challengePeriod = 0;
        bad[5].moveTimeout = 0;
        bad[6].requiredStake = 0;
        bad[7].challengeBond = 0;
        bad[8].sequencerInactivityPeriod = 0;
        for (uint256 i; i < bad.length; ++i) {
            vm.expectRevert(IRollup.InvalidConfig.selector);
            new Rollup(bad[i]);
        }
    }

    function test_constructor_boundaryConfig_succeeds() public {
        IRollup.Config memory c = defaultConfig();
        c.degree = 2;
        c.challengerShareBps = 10_000;
        c.forceInclusionDelay = 0;
        assertEq(new Rollup(c).degree(), 2);
        c.degree = 64;
        assertEq(new Rollup(c).degree(), 64);
    }

    function test_initialize_wiresContracts_succeeds() public {
        Rollup r = new Rollup(defaultConfig());
        Bridge b = new Bridge(r);
        ChallengeManager m = new ChallengeManager(r, b, new MockProver());
        vm.expectEmit(address(r));
        emit IRollup.Initialized(address(b), address(m));
        r.initialize(b, m);
        assertEq(address(r.bridge()), address(b));
        assertEq(address(r.challengeManager()), address(m));
    }

    function test_initialize_twice_reverts() public {
        vm.expectRevert(IRollup.AlreadyInitialized.selector);
        rollup.initialize(bridge, manager);
    }

    function test_initialize_notDeployer_reverts() public {
        Rollup r = new Rollup(defaultConfig());
        Bridge b = new Bridge(r);
        ChallengeManager m = new ChallengeManager(r, b, new MockProver());
        vm.prank(alice);
        vm.expectRevert(IRollup.NotDeployer.selector);
        r.initialize(b, m);
    }

    function test_initialize_badWiring_reverts() public {
        Rollup r = new Rollup(defaultConfig());
        Bridge b = new Bridge(r);
        ChallengeManager m = new ChallengeManager(r, b, new MockProver());
        // A bridge and a manager of another rollup.
        vm.expectRevert(IRollup.BadWiring.selector);
        r.initialize(bridge, m);
        vm.expectRevert(IRollup.BadWiring.selector);
        r.initialize(b, manager);
        // A manager wired to another bridge of the same rollup.
        ChallengeManager m2 = new ChallengeManager(r, new Bridge(r), new MockProver());
        vm.expectRevert(IRollup.BadWiring.selector);
        r.initialize(b, m2);
        vm.expectRevert(IRollup.BadWiring.selector);
        r.initialize(IBridge(address(0)), m);
        vm.expectRevert(IRollup.BadWiring.selector);
        r.initialize(b, IChallengeManager(address(0)));
    }

    function test_appendBatch_notInitialized_reverts() public {
        Rollup r = new Rollup(defaultConfig());
        vm.deal(sequencer, REQUIRED_STAKE);
        vm.prank(sequencer);
        r.stake{value: REQUIRED_STAKE}();
        vm.prank(sequencer, sequencer);
        vm.expectRevert(IRollup.NotInitialized.selector);
        r.appendBatch(dummyRecords(1), 0, bytes32(0), 0, bytes32(0));
    }

    // ------------------------------------------------------------------ stake / unstake

    function test_stake_reachesRequired_succeeds() public {
        vm.deal(alice, 20 ether);
        vm.expectEmit(address(rollup));
        emit IRollup.Staked(alice, REQUIRED_STAKE, REQUIRED_STAKE);
        vm.prank(alice);
        rollup.stake{value: REQUIRED_STAKE}();
        assertEq(rollup.stakes(alice), REQUIRED_STAKE);
        // Top-ups of any size are fine once the total is above the requirement.
        vm.prank(alice);
        rollup.stake{value: 1 wei}();
        assertEq(rollup.stakes(alice), REQUIRED_STAKE + 1);
        assertEq(address(rollup).balance, 2 * REQUIRED_STAKE + 1);
    }

    function test_stake_belowRequired_reverts() public {
        vm.deal(alice, 20 ether);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IRollup.StakeTooLow.selector, REQUIRED_STAKE - 1, REQUIRED_STAKE));
        rollup.stake{value: REQUIRED_STAKE - 1}();
    }

    function test_stake_zero_reverts() public {
        vm.prank(alice);
        vm.expectRevert(IRollup.ZeroStake.selector);
        rollup.stake();
    }

    function test_unstake_noBatches_succeeds() public {
        stakeFor(alice);
        assertTrue(rollup.canUnstake(alice));
        vm.expectEmit(address(rollup));
        emit IRollup.Unstaked(alice, REQUIRED_STAKE);
        vm.prank(alice);
        rollup.unstake();
        assertEq(rollup.stakes(alice), 0);
        assertEq(alice.balance, REQUIRED_STAKE);
        assertFalse(rollup.canUnstake(alice));
    }

    function test_unstake_noStake_reverts() public {
        vm.prank(alice);
        vm.expectRevert(IRollup.NoStake.selector);
        rollup.unstake();
    }

    function test_unstake_unfinalizedBatch_reverts() public {
        appendSimple(bytes32(uint256(1)));
        appendSimple(bytes32(uint256(2)));
        assertFalse(rollup.canUnstake(sequencer));
        vm.prank(sequencer);
        vm.expectRevert(abi.encodeWithSelector(IRollup.UnfinalizedBatches.selector, 1));
        rollup.unstake();
        // Finalizing only the first batch is not enough.
        vm.warp(block.timestamp + CHALLENGE_PERIOD);
        rollup.finalizeBatches(0);
        vm.prank(sequencer);
        vm.expectRevert(abi.encodeWithSelector(IRollup.UnfinalizedBatches.selector, 1));
        rollup.unstake();
    }

    function test_unstake_afterFinality_succeeds() public {
        appendSimple(bytes32(uint256(1)));
        finalizeAll();
        assertTrue(rollup.canUnstake(sequencer));
        uint256 before = sequencer.balance;
        vm.prank(sequencer);
        rollup.unstake();
        assertEq(sequencer.balance - before, REQUIRED_STAKE);
        assertEq(address(rollup).balance, 0);
    }

    function test_unstake_transferFails_reverts() public {
        RejectingReceiver r = new RejectingReceiver();
        vm.deal(address(r), REQUIRED_STAKE);
        vm.prank(address(r));
        rollup.stake{value: REQUIRED_STAKE}();
        vm.prank(address(r));
        vm.expectRevert(abi.encodeWithSelector(IRollup.TransferFailed.selector, address(r)));
        rollup.unstake();
    }

    // ------------------------------------------------------------------ appendBatch

    function test_appendBatch_firstBatch_succeeds() public {
        depositETH(alice, alice, 1 ether);
        depositETH(bob, bob, 2 ether);
        bytes memory records = dummyRecords(3);
        (bytes32 txRoot,) = txRoots.compute(records);
        bytes32 post = keccak256("post");

        vm.expectEmit(address(rollup));
        emit IRollup.BatchAppended(0, 1, sequencer, txRoot, 3, 0, 2, post);
        uint256 index = appendAs(sequencer, records, 2, post);

        assertEq(index, 0);
        assertEq(rollup.batchCount(), 1);
        assertEq(rollup.nextInboxStart(), 2);
        assertEq(rollup.nextBatchId(), 2);
        assertEq(rollup.lastSequencerAppend(), block.timestamp);
        assertEq(rollup.lastPostedIndexPlusOne(sequencer), 1);
        IRollup.Batch memory b = rollup.getBatch(0);
        assertEq(b.txRoot, txRoot);
        assertEq(b.preStateRoot, bytes32(0));
        assertEq(b.postStateRoot, post);
        assertEq(b.txCount, 3);
        assertEq(b.inboxStart, 0);
        assertEq(b.inboxEnd, 2);
        assertEq(b.timestamp, block.timestamp);
        assertEq(b.poster, sequencer);
        assertEq(b.id, 1);
        assertEq(rollup.postStateRoot(0), post);
        assertTrue(rollup.isCurrent(0, 1));
        assertFalse(rollup.isCurrent(0, 2));
        assertEq(rollup.challengeDeadline(0), block.timestamp + CHALLENGE_PERIOD);
    }

    function test_appendBatch_chainsRootsAndInbox_succeeds() public {
        depositETH(alice, alice, 1 ether);
        appendAs(sequencer, "", 1, bytes32(uint256(1)));
        depositETH(alice, alice, 1 ether);
        depositETH(alice, alice, 1 ether);
        vm.warp(block.timestamp + 10);
        appendAs(sequencer, dummyRecords(2), 2, bytes32(uint256(2)));
        appendAs(sequencer, dummyRecords(1), 3, bytes32(uint256(3)));

        IRollup.Batch memory b1 = rollup.getBatch(1);
        assertEq(b1.preStateRoot, bytes32(uint256(1)));
        assertEq(b1.inboxStart, 1);
        assertEq(b1.inboxEnd, 2);
        assertEq(b1.txCount, 2);
        IRollup.Batch memory b2 = rollup.getBatch(2);
        assertEq(b2.preStateRoot, bytes32(uint256(2)));
        assertEq(b2.inboxStart, 2);
        assertEq(b2.inboxEnd, 3);
        assertEq(b2.id, 3);
        // Inbox-only batch: no records, zero tx root.
        IRollup.Batch memory b0 = rollup.getBatch(0);
        assertEq(b0.txRoot, bytes32(0));
        assertEq(b0.txCount, 0);
    }

    function test_appendBatch_notSequencer_reverts() public {
        stakeFor(alice);
        vm.prank(alice, alice);
        vm.expectRevert(IRollup.NotSequencer.selector);
        rollup.appendBatch(dummyRecords(1), 0, bytes32(0), 0, bytes32(0));
    }

    function test_appendBatch_sequencerNotStaked_reverts() public {
        vm.prank(sequencer);
        rollup.unstake();
        vm.prank(sequencer, sequencer);
        vm.expectRevert(abi.encodeWithSelector(IRollup.NotStaked.selector, sequencer));
        rollup.appendBatch(dummyRecords(1), 0, bytes32(0), 0, bytes32(0));
    }

    function test_appendBatch_viaContract_reverts() public {
        AppendProxy proxy = new AppendProxy();
        bytes memory records = dummyRecords(1);
        // tx.origin is the sequencer but the caller is a contract.
        vm.prank(sequencer, sequencer);
        vm.expectRevert(IRollup.NotDirectCall.selector);
        proxy.append(rollup, records, 0, bytes32(0), 0, bytes32(0));
        // A contract as both caller and origin is refused too (code at msg.sender).
        vm.prank(address(proxy), address(proxy));
        vm.expectRevert(IRollup.NotDirectCall.selector);
        rollup.appendBatch(records, 0, bytes32(0), 0, bytes32(0));
        // msg.sender != tx.origin.
        vm.prank(sequencer, alice);
        vm.expectRevert(IRollup.NotDirectCall.selector);
        rollup.appendBatch(records, 0, bytes32(0), 0, bytes32(0));
    }

    function test_appendBatch_badRecordsLength_reverts() public {
        vm.prank(sequencer, sequencer);
        vm.expectRevert(abi.encodeWithSelector(TxRoot.RecordsLengthNotMultiple.selector, 147));
        rollup.appendBatch(new bytes(147), 0, bytes32(0), 0, bytes32(0));
    }

    function test_appendBatch_inboxEndBeyondLength_reverts() public {
        depositETH(alice, alice, 1 ether);
        vm.prank(sequencer, sequencer);
        vm.expectRevert(abi.encodeWithSelector(IRollup.InvalidInboxEnd.selector, 2, 0, 1));
        rollup.appendBatch(dummyRecords(1), 2, bytes32(0), 0, bytes32(0));
    }

    function test_appendBatch_inboxEndBeforeStart_reverts() public {
        depositETH(alice, alice, 1 ether);
        depositETH(alice, alice, 1 ether);
        appendAs(sequencer, "", 2, bytes32(0));
        (uint256 index, bytes32 pre) = tip();
        vm.prank(sequencer, sequencer);
        vm.expectRevert(abi.encodeWithSelector(IRollup.InvalidInboxEnd.selector, 1, 2, 2));
        rollup.appendBatch(dummyRecords(1), 1, bytes32(0), index, pre);
    }

    function test_appendBatch_empty_reverts() public {
        vm.prank(sequencer, sequencer);
        vm.expectRevert(IRollup.EmptyBatch.selector);
        rollup.appendBatch("", 0, bytes32(0), 0, bytes32(0));
        depositETH(alice, alice, 1 ether);
        appendAs(sequencer, "", 1, bytes32(0));
        (uint256 index, bytes32 pre) = tip();
        vm.prank(sequencer, sequencer);
        vm.expectRevert(IRollup.EmptyBatch.selector);
        rollup.appendBatch("", 1, bytes32(0), index, pre);
    }

    function test_appendBatch_forceInclusionDue_reverts() public {
        depositETH(alice, alice, 1 ether); // entry 0 at t0
        vm.warp(block.timestamp + 1 hours);
        depositETH(bob, bob, 1 ether); // entry 1 at t0 + 1h
        vm.warp(block.timestamp + FORCE_INCLUSION_DELAY - 1 hours);
        // Entry 0 is now exactly forceInclusionDelay old: it must be consumed.
        vm.prank(sequencer, sequencer);
        vm.expectRevert(abi.encodeWithSelector(IRollup.ForceInclusionRequired.selector, 0));
        rollup.appendBatch(dummyRecords(1), 0, bytes32(0), 0, bytes32(0));
        // Consuming entry 0 but leaving entry 1 (1 hour younger) is fine.
        appendAs(sequencer, dummyRecords(1), 1, bytes32(0));
        // Once entry 1 is due too, it must be consumed.
        vm.warp(block.timestamp + 1 hours);
        (uint256 index, bytes32 pre) = tip();
        vm.prank(sequencer, sequencer);
        vm.expectRevert(abi.encodeWithSelector(IRollup.ForceInclusionRequired.selector, 1));
        rollup.appendBatch(dummyRecords(1), 1, bytes32(0), index, pre);
        appendAs(sequencer, "", 2, bytes32(0));
        assertEq(rollup.nextInboxStart(), 2);
    }

    function test_appendBatch_forceInclusionNotYetDue_succeeds() public {
        depositETH(alice, alice, 1 ether);
        vm.warp(block.timestamp + FORCE_INCLUSION_DELAY - 1);
        appendAs(sequencer, dummyRecords(1), 0, bytes32(0));
        assertEq(rollup.getBatch(0).inboxEnd, 0);
    }

    function test_appendBatch_escapeHatchBeforeInactivity_reverts() public {
        stakeFor(alice);
        vm.warp(block.timestamp + INACTIVITY_PERIOD - 1);
        vm.prank(alice, alice);
        vm.expectRevert(IRollup.NotSequencer.selector);
        rollup.appendBatch(dummyRecords(1), 0, bytes32(0), 0, bytes32(0));
        // The sequencer's append restarts the clock.
        appendSimple(bytes32(0));
        vm.warp(block.timestamp + INACTIVITY_PERIOD - 1);
        (uint256 index, bytes32 pre) = tip();
        vm.prank(alice, alice);
        vm.expectRevert(IRollup.NotSequencer.selector);
        rollup.appendBatch(dummyRecords(1), 0, bytes32(0), index, pre);
    }

    function test_appendBatch_escapeHatchAfterInactivity_succeeds() public {
        appendSimple(bytes32(uint256(1)));
        uint256 seqTime = block.timestamp;
        stakeFor(alice);
        vm.warp(seqTime + INACTIVITY_PERIOD);
        depositETH(bob, bob, 1 ether);
        uint256 index = appendAs(alice, "", 1, bytes32(uint256(2)));
        assertEq(index, 1);
        assertEq(rollup.getBatch(1).poster, alice);
        // Other parties' appends do not restart the sequencer clock: the hatch stays open.
        assertEq(rollup.lastSequencerAppend(), seqTime);
        appendAs(alice, dummyRecords(1), 1, bytes32(uint256(3)));
        assertEq(rollup.batchCount(), 3);
        // The sequencer may come back at any time, and that closes the hatch again.
        appendSimple(bytes32(uint256(4)));
        (uint256 next, bytes32 pre) = tip();
        vm.prank(alice, alice);
        vm.expectRevert(IRollup.NotSequencer.selector);
        rollup.appendBatch(dummyRecords(1), 1, bytes32(0), next, pre);
    }

    function test_appendBatch_escapeHatchMeasuredFromDeployment_succeeds() public {
        stakeFor(alice);
        vm.warp(block.timestamp + INACTIVITY_PERIOD);
        appendAs(alice, dummyRecords(1), 0, bytes32(0));
        assertEq(rollup.batchCount(), 1);
    }

    function test_appendBatch_escapeHatchUnstaked_reverts() public {
        vm.warp(block.timestamp + INACTIVITY_PERIOD);
        vm.prank(alice, alice);
        vm.expectRevert(abi.encodeWithSelector(IRollup.NotStaked.selector, alice));
        rollup.appendBatch(dummyRecords(1), 0, bytes32(0), 0, bytes32(0));
    }

    function test_appendBatch_100Records_succeeds() public {
        bytes memory records = dummyRecords(100);
        (bytes32 expected,) = txRoots.compute(records);
        vm.prank(sequencer, sequencer);
        rollup.appendBatch(records, 0, keccak256("root"), 0, bytes32(0));
        // Execution only; the transaction also pays 21k + calldata (EIP-7623 floor: ~4.4k/record).
        emit log_named_uint("appendBatch(100 records) execution gas", vm.lastCallGas().gasTotalUsed);
        assertEq(rollup.getBatch(0).txRoot, expected);
        assertEq(rollup.getBatch(0).txCount, 100);
    }

    function test_appendBatch_1000Records_succeeds() public {
        bytes memory records = dummyRecords(1000);
        (bytes32 expected,) = txRoots.compute(records);
        vm.prank(sequencer, sequencer);
        rollup.appendBatch(records, 0, keccak256("root"), 0, bytes32(0));
        // Execution only; the transaction also pays 21k + calldata (EIP-7623 floor: ~4.4k/record).
        emit log_named_uint("appendBatch(1000 records) execution gas", vm.lastCallGas().gasTotalUsed);
        assertEq(rollup.getBatch(0).txRoot, expected);
        assertEq(rollup.getBatch(0).txCount, 1000);
    }

    function testFuzz_appendBatch_inboxRange_succeeds(uint8 deposits, uint8 consume, uint8 records) public {
        deposits = uint8(bound(deposits, 0, 20));
        consume = uint8(bound(consume, 0, deposits));
        records = uint8(bound(records, consume == 0 ? 1 : 0, 5));
        for (uint256 i; i < deposits; ++i) {
            depositETH(alice, bob, 1 + i);
        }
        appendAs(sequencer, dummyRecords(records), consume, bytes32(0));
        IRollup.Batch memory b = rollup.getBatch(0);
        assertEq(b.inboxEnd, consume);
        assertEq(b.txCount, records);
        assertEq(rollup.nextInboxStart(), consume);
    }

    // ------------------------------------------------------------------ appendBatch: canonical calldata

    /// @dev The canonical calldata of an append of `records` on the current tip.
    function appendCalldata(bytes memory records, bytes32 root) internal view returns (bytes memory) {
        (uint256 index, bytes32 pre) = tip();
        return abi.encodeCall(Rollup.appendBatch, (records, bridge.inboxLength(), root, index, pre));
    }

    /// @dev Sends `data` to the rollup as the sequencer's own top-level call.
    function rawAppend(bytes memory data) internal returns (bool ok, bytes memory ret) {
        vm.prank(sequencer, sequencer);
        (ok, ret) = address(rollup).call(data);
    }

    function test_appendBatch_canonicalRawCalldata_succeeds() public {
        // 146 bytes of records: 14 bytes of zero padding to the word.
        bytes memory data = appendCalldata(dummyRecords(1), bytes32(uint256(1)));
        assertEq(data.length, 4 + 5 * 32 + 32 + 160);
        (bool ok,) = rawAppend(data);
        assertTrue(ok);
        // 292 bytes (two records): 28 bytes of padding.
        (ok,) = rawAppend(appendCalldata(dummyRecords(2), bytes32(uint256(2))));
        assertTrue(ok);
        assertEq(rollup.batchCount(), 2);
    }

    function test_appendBatch_offsetWithGap_reverts() public {
        // The records' offset points one word further, with a junk word in the gap: Solidity would
        // decode the same records, a strict decoder would not.
        bytes memory records = dummyRecords(1);
        (uint256 index, bytes32 pre) = tip();
        bytes memory data = abi.encodePacked(
            Rollup.appendBatch.selector,
            abi.encode(uint256(0xc0), bridge.inboxLength(), bytes32(uint256(1)), index, pre),
            bytes32(uint256(0xdead)),
            abi.encode(records.length),
            records,
            new bytes(14)
        );
        (bool ok, bytes memory ret) = rawAppend(data);
        assertFalse(ok);
        assertEq(ret, abi.encodeWithSelector(IRollup.NonCanonicalCalldata.selector));
        assertEq(rollup.batchCount(), 0);
    }

    function test_appendBatch_trailingBytes_reverts() public {
        bytes memory data = abi.encodePacked(appendCalldata(dummyRecords(1), bytes32(uint256(1))), bytes1(0));
        (bool ok, bytes memory ret) = rawAppend(data);
        assertFalse(ok);
        assertEq(ret, abi.encodeWithSelector(IRollup.NonCanonicalCalldata.selector));
        // A whole extra word of zeros is refused as well.
        data = abi.encodePacked(appendCalldata(dummyRecords(1), bytes32(uint256(1))), bytes32(0));
        (ok, ret) = rawAppend(data);
        assertFalse(ok);
        assertEq(ret, abi.encodeWithSelector(IRollup.NonCanonicalCalldata.selector));
        assertEq(rollup.batchCount(), 0);
    }

    function test_appendBatch_dirtyPadding_reverts() public {
        bytes memory data = appendCalldata(dummyRecords(1), bytes32(uint256(1)));
        data[data.length - 1] = 0x01; // the last padding byte after the 146 bytes of records
        (bool ok, bytes memory ret) = rawAppend(data);
        assertFalse(ok);
        assertEq(ret, abi.encodeWithSelector(IRollup.NonCanonicalCalldata.selector));
        // The first padding byte, right after the records.
        data = appendCalldata(dummyRecords(1), bytes32(uint256(1)));
        data[4 + 6 * 32 + 146] = 0x80;
        (ok, ret) = rawAppend(data);
        assertFalse(ok);
        assertEq(ret, abi.encodeWithSelector(IRollup.NonCanonicalCalldata.selector));
        assertEq(rollup.batchCount(), 0);
    }

    function test_appendBatch_truncatedPadding_reverts() public {
        // The records end the calldata without their padding word-fill.
        bytes memory full = appendCalldata(dummyRecords(1), bytes32(uint256(1)));
        bytes memory data = new bytes(full.length - 14);
        for (uint256 i; i < data.length; ++i) {
            data[i] = full[i];
        }
        (bool ok, bytes memory ret) = rawAppend(data);
        assertFalse(ok);
        assertEq(ret, abi.encodeWithSelector(IRollup.NonCanonicalCalldata.selector));
    }

    // ------------------------------------------------------------------ appendBatch: expected tip

    /// @dev Sends `appendBatch` as `poster` and returns the revert data ("" on success).
    function tryAppend(
        address poster,
        bytes memory records,
        uint256 inboxEnd,
        bytes32 root,
        uint256 expectedIndex,
        bytes32 expectedPreStateRoot
    ) internal returns (bool ok, bytes memory ret) {
        bytes memory data = abi.encodeCall(
            rollup.appendBatch, (records, inboxEnd, root, expectedIndex, expectedPreStateRoot)
        );
        vm.prank(poster, poster);
        (ok, ret) = address(rollup).call(data);
    }

    function test_appendBatch_wrongExpectedIndex_reverts() public {
        bytes memory records = dummyRecords(1);
        // Empty rollup: only index 0 is accepted.
        vm.prank(sequencer, sequencer);
        vm.expectRevert(abi.encodeWithSelector(IRollup.UnexpectedBatchIndex.selector, 1, 0));
        rollup.appendBatch(records, 0, bytes32(uint256(1)), 1, bytes32(0));
        appendSimple(bytes32(uint256(1)));
        appendSimple(bytes32(uint256(2)));
        // Two batches: the next index is 2, whatever root is named.
        uint256[4] memory wrong = [uint256(0), 1, 3, type(uint256).max];
        for (uint256 i; i < wrong.length; ++i) {
            vm.prank(sequencer, sequencer);
            vm.expectRevert(abi.encodeWithSelector(IRollup.UnexpectedBatchIndex.selector, wrong[i], 2));
            rollup.appendBatch(records, 0, bytes32(uint256(3)), wrong[i], bytes32(uint256(2)));
        }
        assertEq(rollup.batchCount(), 2);
        assertEq(rollup.nextBatchId(), 3);
        // The index check runs before the inbox checks: a stale posting reports the moved tip,
        // not the inbox range it no longer fits.
        depositETH(alice, alice, 1 ether);
        vm.prank(sequencer, sequencer);
        vm.expectRevert(abi.encodeWithSelector(IRollup.UnexpectedBatchIndex.selector, 1, 2));
        rollup.appendBatch(records, 7, bytes32(uint256(3)), 1, bytes32(uint256(1)));
        assertEq(appendAs(sequencer, records, 1, bytes32(uint256(3))), 2);
    }

    function test_appendBatch_wrongPreStateRoot_reverts() public {
        bytes memory records = dummyRecords(1);
        // Empty rollup: the pre-state root is the genesis root, zero.
        vm.prank(sequencer, sequencer);
        vm.expectRevert(
            abi.encodeWithSelector(IRollup.UnexpectedPreStateRoot.selector, bytes32(uint256(1)), bytes32(0))
        );
        rollup.appendBatch(records, 0, bytes32(uint256(1)), 0, bytes32(uint256(1)));
        appendSimple(bytes32(uint256(1)));
        appendSimple(bytes32(uint256(2)));
        // The right index on any root but the tip's: genesis, an older batch's, an unknown one.
        bytes32[3] memory wrong = [bytes32(0), bytes32(uint256(1)), keccak256("other")];
        for (uint256 i; i < wrong.length; ++i) {
            vm.prank(sequencer, sequencer);
            vm.expectRevert(
                abi.encodeWithSelector(IRollup.UnexpectedPreStateRoot.selector, wrong[i], bytes32(uint256(2)))
            );
            rollup.appendBatch(records, 0, bytes32(uint256(3)), 2, wrong[i]);
        }
        assertEq(rollup.batchCount(), 2);
        vm.prank(sequencer, sequencer);
        assertEq(rollup.appendBatch(records, 0, bytes32(uint256(3)), 2, bytes32(uint256(2))), 2);
        assertEq(rollup.getBatch(2).preStateRoot, bytes32(uint256(2)));
    }

    /// @dev After a lost game removes batches 1 and 2, the next append must name the rewound
    ///      index 1 and batch 0's root. A posting made for the old tip is refused before and after
    ///      the indices are re-filled (then by its root).
    function test_appendBatch_expectedIndexAfterRemoval_succeeds() public {
        bytes32 r0 = keccak256("r0");
        bytes32 r1 = keccak256("r1");
        bytes32 r2 = keccak256("r2");
        appendSimple(r0);
        appendSimple(r1);
        appendSimple(r2);
        bytes memory records = dummyRecords(1);
        // The sequencer loses a game on batch 1 (a one-step batch: the watcher proves the step
        // right away, once the defence window after its challenge has passed): batches 1 and 2 go.
        uint256 gameId = challengeAs(watcher, 1);
        vm.warp(block.timestamp + MOVE_TIMEOUT);
        vm.prank(watcher);
        manager.proveStep(gameId, mockWitness(keccak256("truth")));
        assertEq(rollup.batchCount(), 1);
        stakeFor(sequencer);

        // The posting computed on the old tip (index 3 on r2).
        vm.prank(sequencer, sequencer);
        vm.expectRevert(abi.encodeWithSelector(IRollup.UnexpectedBatchIndex.selector, 3, 1));
        rollup.appendBatch(records, 0, keccak256("r3"), 3, r2);
        // The removed batch's own index and pre-state root, or the rewound index on a removed root.
        vm.prank(sequencer, sequencer);
        vm.expectRevert(abi.encodeWithSelector(IRollup.UnexpectedBatchIndex.selector, 2, 1));
        rollup.appendBatch(records, 0, r2, 2, r1);
        vm.prank(sequencer, sequencer);
        vm.expectRevert(abi.encodeWithSelector(IRollup.UnexpectedPreStateRoot.selector, r2, r0));
        rollup.appendBatch(records, 0, keccak256("r3"), 1, r2);

        (uint256 next, bytes32 pre) = tip();
        assertEq(next, 1);
        assertEq(pre, r0);
        vm.prank(sequencer, sequencer);
        assertEq(rollup.appendBatch(records, 0, keccak256("r1'"), 1, r0), 1);
        appendSimple(keccak256("r2'"));
        // Index 3 is the next one again, but on r2', not r2: the old posting still cannot land.
        vm.prank(sequencer, sequencer);
        vm.expectRevert(abi.encodeWithSelector(IRollup.UnexpectedPreStateRoot.selector, r2, keccak256("r2'")));
        rollup.appendBatch(records, 0, keccak256("r3"), 3, r2);
        assertEq(rollup.batchCount(), 3);
        assertEq(rollup.getBatch(1).preStateRoot, r0);
    }

    /// @dev A crashed poster that re-sends its posting (the same calldata, landing at the next
    ///      nonce because the first one was mined after all) cannot append it twice, even though
    ///      the inbox range `[inboxEnd, inboxEnd)` and the records alone would fit the new tip.
    function test_appendBatch_samePostingTwice_reverts() public {
        depositETH(alice, alice, 1 ether);
        appendSimple(keccak256("r0"));
        bytes memory records = dummyRecords(2);
        uint256 inboxEnd = bridge.inboxLength();
        (uint256 next, bytes32 pre) = tip();
        bytes32 post = keccak256("r1");
        (bool ok,) = tryAppend(sequencer, records, inboxEnd, post, next, pre);
        assertTrue(ok);
        (bool again, bytes memory ret) = tryAppend(sequencer, records, inboxEnd, post, next, pre);
        assertFalse(again);
        assertEq(ret, abi.encodeWithSelector(IRollup.UnexpectedBatchIndex.selector, 1, 2));
        assertEq(rollup.batchCount(), 2);

        // A batch that leaves the root unchanged (say, only invalid transactions) names its own
        // post-state root as pre-state root: only the index tells the re-sent copy apart.
        (next, pre) = tip();
        (ok,) = tryAppend(sequencer, records, inboxEnd, pre, next, pre);
        assertTrue(ok);
        (again, ret) = tryAppend(sequencer, records, inboxEnd, pre, next, pre);
        assertFalse(again);
        assertEq(ret, abi.encodeWithSelector(IRollup.UnexpectedBatchIndex.selector, 2, 3));
        assertEq(rollup.batchCount(), 3);
    }

    /// @dev Escape hatch front-run: once the sequencer has been silent for
    ///      `sequencerInactivityPeriod`, staked Alice (the attacker) sees honest staked Bob's
    ///      posting in the mempool and appends a state-changing batch right before it. Bob's
    ///      batch was computed on the old tip, so instead of landing on Alice's root (a wrong
    ///      claim that would cost Bob his stake) it reverts. Bob challenges Alice's batch, wins,
    ///      and then his original posting fits the tip again.
    function test_appendBatch_escapeHatchFrontRun_reverts() public {
        bytes32 r0 = keccak256("r0");
        appendSimple(r0);
        stakeFor(alice);
        stakeFor(bob);
        vm.warp(block.timestamp + INACTIVITY_PERIOD);

        // Bob computes his batch on the tip (index 1, root r0).
        (uint256 next, bytes32 pre) = tip();
        assertEq(next, 1);
        assertEq(pre, r0);
        bytes memory bobRecords = dummyRecords(2);
        bytes32 bobPost = keccak256("bob: r0 + records");

        // Alice front-runs with another batch on the same tip.
        bytes32 alicePost = keccak256("alice: r0 + other records");
        assertEq(appendAs(alice, dummyRecords(1), 0, alicePost), 1);

        vm.prank(bob, bob);
        vm.expectRevert(abi.encodeWithSelector(IRollup.UnexpectedBatchIndex.selector, 1, 2));
        rollup.appendBatch(bobRecords, 0, bobPost, next, pre);
        // Bob posted nothing, so he is not the asserter of anything and can leave at once.
        assertEq(rollup.batchCount(), 2);
        assertEq(rollup.getBatch(1).poster, alice);
        assertEq(rollup.lastPostedIndexPlusOne(bob), 0);
        assertEq(rollup.stakes(bob), REQUIRED_STAKE);
        assertTrue(rollup.canUnstake(bob));
        // Even naming the new index, Bob's root on r0 would not fit the new tip.
        vm.prank(bob, bob);
        vm.expectRevert(abi.encodeWithSelector(IRollup.UnexpectedPreStateRoot.selector, r0, alicePost));
        rollup.appendBatch(bobRecords, 0, bobPost, 2, r0);

        // Bob disputes Alice's batch (wrong, say) and wins; nobody else defends it, so once the
        // defence window after his challenge has passed it goes and the tip is (1, r0) again.
        uint256 gameId = challengeAs(bob, 1);
        vm.prank(bob);
        manager.proveStep(gameId, mockWitness(keccak256("truth")));
        assertEq(rollup.batchCount(), 2);
        assertTrue(manager.getDefence(2).posterEliminated);
        assertEq(manager.getDefence(2).posterBeatenBy, bob);
        vm.warp(block.timestamp + MOVE_TIMEOUT);
        manager.removeDefeated(1);
        assertEq(rollup.batchCount(), 1);
        assertEq(rollup.stakes(alice), 0);
        vm.prank(bob, bob);
        assertEq(rollup.appendBatch(bobRecords, 0, bobPost, next, pre), 1);
        assertEq(rollup.getBatch(1).poster, bob);
        assertEq(rollup.getBatch(1).preStateRoot, r0);
    }

    // ------------------------------------------------------------------ finalizeBatches

    function test_finalizeBatches_afterPeriod_succeeds() public {
        appendSimple(bytes32(uint256(1)));
        vm.warp(block.timestamp + 100);
        appendSimple(bytes32(uint256(2)));
        uint256 t1 = block.timestamp;
        vm.warp(t1 + CHALLENGE_PERIOD);
        assertFalse(rollup.isFinal(0));
        vm.expectEmit(address(rollup));
        emit IRollup.BatchFinalized(0, 1, bytes32(uint256(1)));
        vm.expectEmit(address(rollup));
        emit IRollup.BatchFinalized(1, 2, bytes32(uint256(2)));
        rollup.finalizeBatches(1);
        assertTrue(rollup.isFinal(0));
        assertTrue(rollup.isFinal(1));
        assertFalse(rollup.isFinal(2));
        assertEq(rollup.finalizedCount(), 2);
    }

    function test_finalizeBatches_oneAtATime_succeeds() public {
        appendSimple(bytes32(uint256(1)));
        vm.warp(block.timestamp + CHALLENGE_PERIOD / 2);
        appendSimple(bytes32(uint256(2)));
        vm.warp(block.timestamp + CHALLENGE_PERIOD / 2);
        rollup.finalizeBatches(0);
        assertEq(rollup.finalizedCount(), 1);
        vm.expectRevert(
            abi.encodeWithSelector(IRollup.ChallengePeriodNotOver.selector, 1, block.timestamp + CHALLENGE_PERIOD / 2)
        );
        rollup.finalizeBatches(1);
        vm.warp(block.timestamp + CHALLENGE_PERIOD / 2);
        rollup.finalizeBatches(1);
        assertEq(rollup.finalizedCount(), 2);
    }

    function test_finalizeBatches_beforePeriodEnd_reverts() public {
        appendSimple(bytes32(uint256(1)));
        uint256 deadline = block.timestamp + CHALLENGE_PERIOD;
        vm.warp(deadline - 1);
        vm.expectRevert(abi.encodeWithSelector(IRollup.ChallengePeriodNotOver.selector, 0, deadline));
        rollup.finalizeBatches(0);
    }

    function test_finalizeBatches_laterBatchStillInPeriod_reverts() public {
        appendSimple(bytes32(uint256(1)));
        vm.warp(block.timestamp + CHALLENGE_PERIOD);
        appendSimple(bytes32(uint256(2)));
        // Batch 0 is finalizable, batch 1 is not: the whole call reverts, nothing is finalized.
        vm.expectRevert(
            abi.encodeWithSelector(IRollup.ChallengePeriodNotOver.selector, 1, block.timestamp + CHALLENGE_PERIOD)
        );
        rollup.finalizeBatches(1);
        assertEq(rollup.finalizedCount(), 0);
    }

    function test_finalizeBatches_openGame_reverts() public {
        appendSimple(bytes32(uint256(1)));
        challengeAs(watcher, 0);
        vm.warp(block.timestamp + CHALLENGE_PERIOD);
        vm.expectRevert(abi.encodeWithSelector(IRollup.DisputeOpen.selector, 0));
        rollup.finalizeBatches(0);
    }

    function test_finalizeBatches_noSuchBatch_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(IRollup.NoSuchBatch.selector, 0));
        rollup.finalizeBatches(0);
        appendSimple(bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(IRollup.NoSuchBatch.selector, 1));
        rollup.finalizeBatches(1);
    }

    function test_finalizeBatches_alreadyFinal_reverts() public {
        appendSimple(bytes32(0));
        finalizeAll();
        vm.expectRevert(abi.encodeWithSelector(IRollup.AlreadyFinal.selector, 0));
        rollup.finalizeBatches(0);
    }

    // ------------------------------------------------------------------ rejectBatch

    function test_rejectBatch_notChallengeManager_reverts() public {
        appendSimple(bytes32(0));
        vm.expectRevert(IRollup.NotChallengeManager.selector);
        rollup.rejectBatch(0, 1, watcher);
    }

    function test_rejectBatch_removesAndSlashes_succeeds() public {
        depositETH(alice, alice, 1 ether);
        appendSimple(bytes32(uint256(1)));
        depositETH(alice, alice, 1 ether);
        appendSimple(bytes32(uint256(2)));
        appendSimple(bytes32(uint256(3)));

        uint256 burnBefore = BURN.balance;
        vm.expectEmit(address(rollup));
        emit IRollup.BatchesRemoved(1, 3, 1);
        vm.expectEmit(address(rollup));
        emit IRollup.StakeSlashed(sequencer, watcher, REQUIRED_STAKE, REQUIRED_STAKE / 2, REQUIRED_STAKE / 2);
        vm.expectEmit(address(rollup));
        emit IRollup.SlashEscrowed(0, sequencer, 1, 2, watcher, REQUIRED_STAKE / 2);
        vm.prank(address(manager));
        rollup.rejectBatch(1, 2, watcher);

        // The burn share goes at once; the reward is escrowed here until batch 0 is final.
        assertEq(BURN.balance - burnBefore, REQUIRED_STAKE / 2);
        assertEq(address(rollup).balance, REQUIRED_STAKE / 2);
        assertEq(rollup.slashCount(), 1);
        assertEq(rollup.getSlash(0).amount, REQUIRED_STAKE / 2);
        assertEq(rollup.getSlash(0).beneficiary, watcher);
        assertEq(rollup.stakes(sequencer), 0);
        assertEq(rollup.batchCount(), 1);
        assertEq(rollup.nextInboxStart(), 1);
        assertFalse(rollup.isCurrent(1, 2));
        assertTrue(rollup.isCurrent(0, 1));
        vm.expectRevert(abi.encodeWithSelector(IRollup.NoSuchBatch.selector, 1));
        rollup.getBatch(1);
    }

    function test_rejectBatch_wrongId_reverts() public {
        appendSimple(bytes32(0));
        vm.prank(address(manager));
        vm.expectRevert(abi.encodeWithSelector(IRollup.BatchIdMismatch.selector, 0, 7));
        rollup.rejectBatch(0, 7, watcher);
    }

    function test_rejectBatch_noSuchBatch_reverts() public {
        vm.prank(address(manager));
        vm.expectRevert(abi.encodeWithSelector(IRollup.NoSuchBatch.selector, 0));
        rollup.rejectBatch(0, 1, watcher);
    }

    function test_rejectBatch_finalBatch_reverts() public {
        appendSimple(bytes32(0));
        finalizeAll();
        vm.prank(address(manager));
        vm.expectRevert(abi.encodeWithSelector(IRollup.AlreadyFinal.selector, 0));
        rollup.rejectBatch(0, 1, watcher);
    }

    function test_rejectBatch_idsNotReused_succeeds() public {
        appendSimple(bytes32(uint256(1)));
        vm.prank(address(manager));
        rollup.rejectBatch(0, 1, watcher);
        stakeFor(sequencer);
        appendSimple(bytes32(uint256(9)));
        IRollup.Batch memory b = rollup.getBatch(0);
        assertEq(b.id, 2);
        assertEq(b.postStateRoot, bytes32(uint256(9)));
        assertFalse(rollup.isCurrent(0, 1));
        assertTrue(rollup.isCurrent(0, 2));
    }

    function test_unstake_cascadeRemoved_succeeds() public {
        // Alice (escape hatch) posts batch 1 on top of the sequencer's bad batch 0; batch 0 is
        // rejected, which removes Alice's batch without slashing her. Nothing of hers is left on
        // the chain, so she can leave at once: she need not wait for the chain to regrow past her
        // old index and that much to become final.
        appendSimple(bytes32(uint256(1)));
        stakeFor(alice);
        vm.warp(block.timestamp + INACTIVITY_PERIOD);
        appendAs(alice, dummyRecords(1), 0, bytes32(uint256(2)));
        assertFalse(rollup.canUnstake(alice));
        vm.prank(address(manager));
        rollup.rejectBatch(0, 1, watcher);
        assertEq(rollup.stakes(alice), REQUIRED_STAKE);
        assertEq(rollup.pendingUntil(alice), 0);
        assertTrue(rollup.canUnstake(alice));
        vm.expectEmit(address(rollup));
        emit IRollup.Unstaked(alice, REQUIRED_STAKE);
        vm.prank(alice);
        rollup.unstake();
        assertEq(alice.balance, REQUIRED_STAKE);
    }

    function test_unstake_cascadeRemovedWithEarlierBatchPending_reverts() public {
        // Alice posts batches 1 and 3, Bob batch 2. Bob's batch loses, which removes 2 and 3:
        // Alice is not slashed, but her batch 1 is still on the chain and not final, so she
        // must stay bonded until it is (else she could post a fraud and leave through a cascade).
        appendSimple(bytes32(uint256(1)));
        stakeFor(alice);
        stakeFor(bob);
        vm.warp(block.timestamp + INACTIVITY_PERIOD);
        appendAs(alice, dummyRecords(1), 0, bytes32(uint256(2)));
        appendAs(bob, dummyRecords(1), 0, bytes32(uint256(3)));
        appendAs(alice, dummyRecords(1), 0, bytes32(uint256(4)));
        assertEq(rollup.pendingUntil(alice), 4);
        vm.prank(address(manager));
        rollup.rejectBatch(2, 3, watcher);
        assertEq(rollup.stakes(bob), 0);
        assertEq(rollup.pendingUntil(alice), 2);
        assertFalse(rollup.canUnstake(alice));
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IRollup.UnfinalizedBatches.selector, 1));
        rollup.unstake();
        // Later batches of others do not hold her: batches 0 and 1 final is enough.
        appendSimple(bytes32(uint256(5)));
        finalizeAll();
        assertTrue(rollup.canUnstake(alice));
        vm.prank(alice);
        rollup.unstake();
        assertEq(alice.balance, REQUIRED_STAKE);
    }

    function test_pendingUntil_neverPosted_succeeds() public view {
        assertEq(rollup.pendingUntil(alice), 0);
    }

    // ------------------------------------------------------------------ escape hatch and rejection

    function test_rejectBatch_restoresSequencerActivity_succeeds() public {
        // The sequencer posts a fraud just before the hatch would open. Once the fraud is removed,
        // the hatch counts from the sequencer's last batch still on the chain: it opens on time,
        // and a new stake cannot buy the sequencer another inactivity period.
        appendSimple(bytes32(uint256(1)));
        uint256 goodTime = block.timestamp;
        stakeFor(alice);
        vm.warp(goodTime + INACTIVITY_PERIOD - 1);
        appendSimple(bytes32(uint256(2))); // the fraud, at index 1
        assertEq(rollup.lastSequencerAppend(), block.timestamp);
        vm.prank(address(manager));
        rollup.rejectBatch(1, 2, watcher);
        assertEq(rollup.lastSequencerAppend(), goodTime);
        vm.warp(goodTime + INACTIVITY_PERIOD);
        assertEq(appendAs(alice, dummyRecords(1), 0, bytes32(uint256(3))), 1);
        assertEq(rollup.getBatch(1).poster, alice);
    }

    function test_rejectBatch_cascadeRestoresActivityBeforeRemovedRange_succeeds() public {
        // A removal takes the sequencer's later batches with it: their activity goes too.
        appendSimple(bytes32(uint256(1)));
        uint256 t0 = block.timestamp;
        vm.warp(t0 + 10);
        appendSimple(bytes32(uint256(2))); // index 1: wrong
        vm.warp(t0 + 20);
        appendSimple(bytes32(uint256(3))); // index 2: on top of it
        assertEq(rollup.lastSequencerAppend(), t0 + 20);
        vm.prank(address(manager));
        rollup.rejectBatch(1, 2, watcher);
        assertEq(rollup.lastSequencerAppend(), t0);
    }

    function test_rejectBatch_removedFirstBatchRestoresDeploymentTime_succeeds() public {
        uint256 deployed = rollup.lastSequencerAppend();
        vm.warp(block.timestamp + 100);
        appendSimple(bytes32(uint256(1)));
        vm.prank(address(manager));
        rollup.rejectBatch(0, 1, watcher);
        assertEq(rollup.lastSequencerAppend(), deployed);
    }

    // ------------------------------------------------------------------ views

    function test_getBatch_noSuchBatch_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(IRollup.NoSuchBatch.selector, 0));
        rollup.getBatch(0);
        vm.expectRevert(abi.encodeWithSelector(IRollup.NoSuchBatch.selector, 0));
        rollup.postStateRoot(0);
        vm.expectRevert(abi.encodeWithSelector(IRollup.NoSuchBatch.selector, 0));
        rollup.challengeDeadline(0);
        assertFalse(rollup.isCurrent(0, 0));
        assertFalse(rollup.isFinal(0));
    }
}
