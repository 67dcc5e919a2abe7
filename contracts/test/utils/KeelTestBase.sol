// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {Rollup} from "../../src/Rollup.sol";
import {Bridge} from "../../src/Bridge.sol";
import {ChallengeManager} from "../../src/ChallengeManager.sol";
import {IRollup} from "../../src/interfaces/IRollup.sol";
import {IBridge} from "../../src/interfaces/IBridge.sol";
import {IChallengeManager} from "../../src/interfaces/IChallengeManager.sol";
import {IOneStepProver} from "../../src/interfaces/IOneStepProver.sol";
import {MockProver} from "./Mocks.sol";

/// @notice Deploys Rollup + Bridge + ChallengeManager (with a mock prover unless told otherwise)
///         and offers helpers shared by the contract tests.
abstract contract KeelTestBase is Test {
    uint64 internal constant L2_CHAIN_ID = 1337;
    uint64 internal constant CHALLENGE_PERIOD = 1 days;
    uint64 internal constant MOVE_TIMEOUT = 1 hours;
    uint256 internal constant REQUIRED_STAKE = 10 ether;
    uint256 internal constant CHALLENGE_BOND = 1 ether;
    uint64 internal constant FORCE_INCLUSION_DELAY = 12 hours;
    uint64 internal constant INACTIVITY_PERIOD = 3 days;
    uint64 internal constant DEGREE = 4;
    uint16 internal constant SHARE_BPS = 5000;
    uint256 internal constant RECORD_SIZE = 146;
    address internal constant BURN = address(0xdEaD);

    address internal sequencer = makeAddr("sequencer");
    address internal feeRecipient = makeAddr("feeRecipient");
    address internal alice = makeAddr("alice");
    address internal bob = makeAddr("bob");
    address internal carol = makeAddr("carol");
    address internal watcher = makeAddr("watcher");
    address internal watcher2 = makeAddr("watcher2");

    Rollup internal rollup;
    Bridge internal bridge;
    ChallengeManager internal manager;
    IOneStepProver internal prover;

    function defaultConfig() internal view returns (IRollup.Config memory) {
        return IRollup.Config({
            l2ChainId: L2_CHAIN_ID,
            feeRecipient: feeRecipient,
            sequencer: sequencer,
            challengePeriod: CHALLENGE_PERIOD,
            moveTimeout: MOVE_TIMEOUT,
            requiredStake: REQUIRED_STAKE,
            challengeBond: CHALLENGE_BOND,
            forceInclusionDelay: FORCE_INCLUSION_DELAY,
            sequencerInactivityPeriod: INACTIVITY_PERIOD,
            degree: DEGREE,
            challengerShareBps: SHARE_BPS
        });
    }

    /// @dev Deploys the system with `config` and `prover_`; the rollup goes to `at` if non-zero.
    function deploy(IRollup.Config memory config, IOneStepProver prover_, address at) internal {
        if (at == address(0)) {
            rollup = new Rollup(config);
        } else {
            deployCodeTo("Rollup.sol:Rollup", abi.encode(config), at);
            rollup = Rollup(payable(at));
        }
        bridge = new Bridge(rollup);
        prover = prover_;
        manager = new ChallengeManager(rollup, bridge, prover_);
        rollup.initialize(bridge, manager);
        vm.label(address(rollup), "Rollup");
        vm.label(address(bridge), "Bridge");
        vm.label(address(manager), "ChallengeManager");
    }

    function deployDefault() internal {
        deploy(defaultConfig(), new MockProver(), address(0));
    }

    /// @dev `n` distinct 146-byte records shaped like real ones (a Transfer of ETH with a
    ///      random recipient and signature, a small amount, fee and nonce), so that calldata gas
    ///      is realistic. appendBatch does not validate them.
    function dummyRecords(uint256 n) internal pure returns (bytes memory records) {
        records = new bytes(n * RECORD_SIZE);
        for (uint256 i; i < n; ++i) {
            // forge-lint: disable-next-item(unsafe-typecast)
            bytes memory r = abi.encodePacked(
                uint8(1),
                address(uint160(uint256(keccak256(abi.encode(i, "to"))))),
                address(0),
                uint128(1 ether + i),
                uint128(100 + i % 50),
                uint64(i),
                keccak256(abi.encode(i, "r")),
                keccak256(abi.encode(i, "s")) >> 1,
                uint8(27)
            );
            uint256 base = i * RECORD_SIZE;
            for (uint256 j; j < RECORD_SIZE; ++j) {
                records[base + j] = r[j];
            }
        }
    }

    function stakeFor(address who) internal {
        vm.deal(who, who.balance + REQUIRED_STAKE);
        vm.prank(who);
        rollup.stake{value: REQUIRED_STAKE}();
    }

    /// @dev The `expectedIndex` and `expectedPreStateRoot` an append on the current tip must name:
    ///      `batchCount()` and the last batch's post-state root (zero when there is none).
    function tip() internal view returns (uint256 index, bytes32 preStateRoot) {
        index = rollup.batchCount();
        preStateRoot = index == 0 ? bytes32(0) : rollup.postStateRoot(index - 1);
    }

    /// @dev Appends on the current tip as `poster` with `tx.origin == poster` (appendBatch
    ///      requires a direct call).
    function appendAs(address poster, bytes memory records, uint256 inboxEnd, bytes32 root)
        internal
        returns (uint256 index)
    {
        (uint256 expectedIndex, bytes32 preStateRoot) = tip();
        vm.prank(poster, poster);
        index = rollup.appendBatch(records, inboxEnd, root, expectedIndex, preStateRoot);
    }

    /// @dev Appends one dummy record and every pending inbox entry as the sequencer.
    function appendSimple(bytes32 root) internal returns (uint256) {
        return appendAs(sequencer, dummyRecords(1), bridge.inboxLength(), root);
    }

    function depositETH(address from, address to, uint256 amount) internal returns (uint256) {
        vm.deal(from, from.balance + amount);
        vm.prank(from);
        return bridge.depositETH{value: amount}(to);
    }

    function challengeAs(address who, uint256 batchIndex) internal returns (uint256 gameId) {
        address poster = rollup.getBatch(batchIndex).poster;
        vm.deal(who, who.balance + CHALLENGE_BOND);
        vm.prank(who);
        gameId = manager.challenge{value: CHALLENGE_BOND}(batchIndex, poster);
    }

    /// @dev `who` challenges `defender` of batch `batchIndex`.
    function challengeDefenderAs(address who, uint256 batchIndex, address defender) internal returns (uint256 gameId) {
        vm.deal(who, who.balance + CHALLENGE_BOND);
        vm.prank(who);
        gameId = manager.challenge{value: CHALLENGE_BOND}(batchIndex, defender);
    }

    /// @dev `who` bonds to defend batch `batchIndex`.
    function defendAs(address who, uint256 batchIndex) internal {
        vm.deal(who, who.balance + CHALLENGE_BOND);
        vm.prank(who);
        manager.defend{value: CHALLENGE_BOND}(batchIndex);
    }

    function finalizeAll() internal {
        uint256 count = rollup.batchCount();
        if (count == 0 || rollup.finalizedCount() == count) return;
        IRollup.Batch memory last = rollup.getBatch(count - 1);
        // forge-lint: disable-next-line(block-timestamp)
        if (block.timestamp < uint256(last.timestamp) + CHALLENGE_PERIOD) {
            vm.warp(uint256(last.timestamp) + CHALLENGE_PERIOD);
        }
        rollup.finalizeBatches(count - 1);
    }

    function mockWitness(bytes32 rootAfter) internal pure returns (bytes memory) {
        return abi.encode(false, rootAfter);
    }

    function game(uint256 gameId) internal view returns (IChallengeManager.Game memory) {
        return manager.getGame(gameId);
    }
}
