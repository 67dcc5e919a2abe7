// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {stdJson} from "forge-std/StdJson.sol";
import {KeelTestBase} from "./utils/KeelTestBase.sol";
import {MockProver, RejectingReceiver, ReentrantWithdrawer} from "./utils/Mocks.sol";
import {Rollup} from "../src/Rollup.sol";
import {Bridge} from "../src/Bridge.sol";
import {ChallengeManager} from "../src/ChallengeManager.sol";
import {OneStepProver} from "../src/OneStepProver.sol";
import {IRollup} from "../src/interfaces/IRollup.sol";
import {IBridge} from "../src/interfaces/IBridge.sol";
import {IChallengeManager} from "../src/interfaces/IChallengeManager.sol";
import {IOneStepProver} from "../src/interfaces/IOneStepProver.sol";

/// @notice Game helpers shared by the mock-prover and the vector suites.
abstract contract GameHelpers is KeelTestBase {
    /// @dev The interior points of `(lo, hi)` for degree `k`, computed independently of the contract.
    function points(uint256 lo, uint256 hi, uint256 k) internal pure returns (uint256[] memory p) {
        uint256 s = hi - lo < k ? hi - lo : k;
        p = new uint256[](s + 1);
        for (uint256 i; i <= s; ++i) {
            p[i] = lo + i * (hi - lo) / s;
        }
    }

    /// @dev The asserter dissects with `claims[p]` (its root after `p` steps) at every point.
    function dissectWith(uint256 gameId, bytes32[] memory claims) internal {
        IChallengeManager.Game memory g = game(gameId);
        uint256[] memory p = points(g.lo, g.hi, manager.degree());
        bytes32[] memory roots = new bytes32[](p.length - 2);
        for (uint256 i; i < roots.length; ++i) {
            roots[i] = claims[p[i + 1]];
        }
        vm.prank(g.asserter);
        manager.dissect(gameId, roots);
    }

    /// @dev The challenger selects the segment holding step `target` (`p_j ≤ target < p_{j+1}`).
    function selectToward(uint256 gameId, uint256 target) internal {
        IChallengeManager.Game memory g = game(gameId);
        uint256[] memory p = points(g.lo, g.hi, manager.degree());
        uint256 j;
        while (!(p[j] <= target && target < p[j + 1])) ++j;
        vm.prank(g.challenger);
        manager.select(gameId, j);
    }

    /// @dev The honest challenger's rule (docs/protocol.md §9): the first segment whose end root
    ///      (as posted) differs from its own root `truth[end]`.
    function selectHonestly(uint256 gameId, bytes32[] memory truth) internal {
        IChallengeManager.Game memory g = game(gameId);
        uint256[] memory p = points(g.lo, g.hi, manager.degree());
        bytes32[] memory posted = manager.dissectionRoots(gameId);
        uint256 s = p.length - 1;
        for (uint256 j; j < s; ++j) {
            bytes32 claimed = j + 1 == s ? g.rootHi : posted[j];
            if (claimed != truth[p[j + 1]]) {
                vm.prank(g.challenger);
                manager.select(gameId, j);
                return;
            }
        }
        revert("honest challenger agrees with every root");
    }

    /// @dev Plays dissect/select rounds until one step is left, toward step `target`.
    function narrowTo(uint256 gameId, bytes32[] memory claims, uint256 target) internal {
        while (game(gameId).hi - game(gameId).lo > 1) {
            dissectWith(gameId, claims);
            selectToward(gameId, target);
        }
    }

    /// @dev Plays with the honest selection rule until one step is left.
    function narrowHonestly(uint256 gameId, bytes32[] memory claims, bytes32[] memory truth) internal {
        while (game(gameId).hi - game(gameId).lo > 1) {
            dissectWith(gameId, claims);
            selectHonestly(gameId, truth);
        }
    }
}

/// @notice The game rules with a mock prover whose witness decides the step's result.
contract ChallengeManagerTest is GameHelpers {
    bytes32 internal constant POST = keccak256("post root");
    uint256 internal constant STEPS = 8; // 2 inbox entries + 6 records

    /// @dev The asserter's claimed root after `i` steps (claims[STEPS] == POST).
    bytes32[] internal claims;

    function setUp() public {
        deployDefault();
        stakeFor(sequencer);
        depositETH(alice, alice, 1 ether);
        depositETH(bob, bob, 2 ether);
        appendAs(sequencer, dummyRecords(6), 2, POST);
        for (uint256 i; i < STEPS; ++i) {
            claims.push(i == 0 ? bytes32(0) : keccak256(abi.encode("claim", i)));
        }
        claims.push(POST);
    }

    function claimsMem() internal view returns (bytes32[] memory) {
        return claims;
    }

    // ------------------------------------------------------------------ challenge

    function test_challenge_startsGame_succeeds() public {
        vm.deal(watcher, CHALLENGE_BOND);
        uint256 deadline = block.timestamp + MOVE_TIMEOUT;
        vm.expectEmit(address(manager));
        emit IChallengeManager.GameStarted(0, 0, watcher, 1, sequencer, STEPS, bytes32(0), POST, deadline);
        vm.prank(watcher);
        uint256 gameId = manager.challenge{value: CHALLENGE_BOND}(0, sequencer);

        assertEq(gameId, 0);
        assertEq(manager.gameCount(), 1);
        assertEq(manager.openGames(1), 1);
        assertEq(address(manager).balance, CHALLENGE_BOND);
        IChallengeManager.Game memory g = game(0);
        assertEq(g.asserter, sequencer);
        assertEq(g.batchIndex, 0);
        assertEq(g.challenger, watcher);
        assertEq(g.batchId, 1);
        assertEq(uint8(g.status), uint8(IChallengeManager.Status.AsserterTurn));
        assertEq(g.deadline, deadline);
        assertEq(g.lo, 0);
        assertEq(g.hi, STEPS);
        assertEq(g.rootLo, bytes32(0));
        assertEq(g.rootHi, POST);
        assertEq(manager.dissectionRoots(0).length, 0);
        assertFalse(manager.isStale(0));
    }

    function test_challenge_preStateRootOfLaterBatch_succeeds() public {
        appendAs(sequencer, dummyRecords(3), 2, keccak256("second"));
        uint256 gameId = challengeAs(watcher, 1);
        IChallengeManager.Game memory g = game(gameId);
        assertEq(g.rootLo, POST);
        assertEq(g.rootHi, keccak256("second"));
        assertEq(g.hi, 3);
        assertEq(g.batchId, 2);
    }

    function test_challenge_oneStepBatch_succeeds() public {
        appendAs(sequencer, dummyRecords(1), 2, keccak256("one"));
        uint256 gameId = challengeAs(watcher, 1);
        IChallengeManager.Game memory g = game(gameId);
        assertEq(g.hi, 1);
        // Nothing to dissect: the challenger must prove step 0 right away.
        assertEq(uint8(g.status), uint8(IChallengeManager.Status.ChallengerTurn));
        vm.prank(watcher);
        manager.proveStep(gameId, mockWitness(keccak256("true root")));
        assertEq(uint8(game(gameId).status), uint8(IChallengeManager.Status.ChallengerWon));
    }

    function test_challenge_severalGames_succeeds() public {
        uint256 a = challengeAs(watcher, 0);
        uint256 b = challengeAs(watcher2, 0);
        uint256 c = challengeAs(watcher, 0);
        assertEq(a, 0);
        assertEq(b, 1);
        assertEq(c, 2);
        assertEq(manager.openGames(1), 3);
        assertEq(address(manager).balance, 3 * CHALLENGE_BOND);
    }

    function test_challenge_wrongBond_reverts() public {
        vm.deal(watcher, 10 ether);
        vm.startPrank(watcher);
        vm.expectRevert(abi.encodeWithSelector(IChallengeManager.WrongBond.selector, 0, CHALLENGE_BOND));
        manager.challenge(0, sequencer);
        vm.expectRevert(
            abi.encodeWithSelector(IChallengeManager.WrongBond.selector, CHALLENGE_BOND + 1, CHALLENGE_BOND)
        );
        manager.challenge{value: CHALLENGE_BOND + 1}(0, sequencer);
        vm.stopPrank();
    }

    function test_challenge_noSuchBatch_reverts() public {
        vm.deal(watcher, CHALLENGE_BOND);
        vm.prank(watcher);
        vm.expectRevert(abi.encodeWithSelector(IChallengeManager.NoSuchBatch.selector, 1));
        manager.challenge{value: CHALLENGE_BOND}(1, sequencer);
    }

    function test_challenge_periodOver_reverts() public {
        uint256 end = block.timestamp + CHALLENGE_PERIOD;
        vm.warp(end - 1);
        challengeAs(watcher, 0); // the last second is still fine
        vm.warp(end);
        vm.deal(watcher2, CHALLENGE_BOND);
        vm.prank(watcher2);
        vm.expectRevert(abi.encodeWithSelector(IChallengeManager.ChallengePeriodOver.selector, 0, end));
        manager.challenge{value: CHALLENGE_BOND}(0, sequencer);
    }

    function test_challenge_finalBatch_reverts() public {
        finalizeAll();
        vm.deal(watcher, CHALLENGE_BOND);
        vm.prank(watcher);
        vm.expectRevert(
            abi.encodeWithSelector(
                IChallengeManager.ChallengePeriodOver.selector, 0, rollup.getBatch(0).timestamp + CHALLENGE_PERIOD
            )
        );
        manager.challenge{value: CHALLENGE_BOND}(0, sequencer);
    }

    // ------------------------------------------------------------------ dissect

    function test_dissect_postsRoots_succeeds() public {
        uint256 gameId = challengeAs(watcher, 0);
        vm.warp(block.timestamp + 10);
        bytes32[] memory roots = new bytes32[](3);
        (roots[0], roots[1], roots[2]) = (claims[2], claims[4], claims[6]);
        uint256 deadline = block.timestamp + MOVE_TIMEOUT;
        vm.expectEmit(address(manager));
        emit IChallengeManager.Dissected(gameId, 0, STEPS, roots, deadline);
        vm.prank(sequencer);
        manager.dissect(gameId, roots);

        IChallengeManager.Game memory g = game(gameId);
        assertEq(uint8(g.status), uint8(IChallengeManager.Status.ChallengerTurn));
        assertEq(g.deadline, deadline);
        assertEq(g.lo, 0);
        assertEq(g.hi, STEPS);
        bytes32[] memory stored = manager.dissectionRoots(gameId);
        assertEq(stored.length, 3);
        assertEq(stored[0], claims[2]);
        assertEq(stored[2], claims[6]);
        uint256[] memory p = manager.dissectionPoints(0, STEPS);
        assertEq(p.length, 3);
        (uint256 p1, uint256 p2, uint256 p3) = (p[0], p[1], p[2]);
        assertEq(p1, 2);
        assertEq(p2, 4);
        assertEq(p3, 6);
    }

    function test_dissect_fewerStepsThanDegree_succeeds() public {
        appendAs(sequencer, dummyRecords(3), 2, keccak256("three"));
        uint256 gameId = challengeAs(watcher, 1);
        bytes32[] memory roots = new bytes32[](2);
        vm.prank(sequencer);
        manager.dissect(gameId, roots);
        assertEq(manager.dissectionRoots(gameId).length, 2);
    }

    function test_dissect_notAsserter_reverts() public {
        uint256 gameId = challengeAs(watcher, 0);
        vm.prank(watcher);
        vm.expectRevert(IChallengeManager.NotYourMove.selector);
        manager.dissect(gameId, new bytes32[](3));
    }

    function test_dissect_wrongStatus_reverts() public {
        uint256 gameId = challengeAs(watcher, 0);
        dissectWith(gameId, claimsMem());
        vm.prank(sequencer);
        vm.expectRevert(
            abi.encodeWithSelector(IChallengeManager.WrongStatus.selector, IChallengeManager.Status.ChallengerTurn)
        );
        manager.dissect(gameId, new bytes32[](3));
    }

    function test_dissect_wrongRootCount_reverts() public {
        uint256 gameId = challengeAs(watcher, 0);
        vm.startPrank(sequencer);
        vm.expectRevert(abi.encodeWithSelector(IChallengeManager.WrongRootCount.selector, 2, 3));
        manager.dissect(gameId, new bytes32[](2));
        vm.expectRevert(abi.encodeWithSelector(IChallengeManager.WrongRootCount.selector, 4, 3));
        manager.dissect(gameId, new bytes32[](4));
        vm.stopPrank();
    }

    function test_dissect_deadlinePassed_reverts() public {
        uint256 gameId = challengeAs(watcher, 0);
        uint256 deadline = block.timestamp + MOVE_TIMEOUT;
        vm.warp(deadline);
        dissectWith(gameId, claimsMem()); // the deadline second itself is still in time
        selectToward(gameId, 0);
        deadline = block.timestamp + MOVE_TIMEOUT;
        vm.warp(deadline + 1);
        vm.prank(sequencer);
        vm.expectRevert(abi.encodeWithSelector(IChallengeManager.DeadlinePassed.selector, deadline));
        manager.dissect(gameId, new bytes32[](1));
    }

    function test_dissect_noSuchGame_reverts() public {
        vm.prank(sequencer);
        vm.expectRevert(abi.encodeWithSelector(IChallengeManager.NoSuchGame.selector, 0));
        manager.dissect(0, new bytes32[](3));
    }

    function test_dissect_batchRemoved_reverts() public {
        uint256 stale = challengeAs(watcher2, 0);
        uint256 winner = challengeAs(watcher, 0);
        narrowTo(winner, claimsMem(), 3);
        // The win comes after the defence window, so it removes the batch at once.
        vm.warp(block.timestamp + MOVE_TIMEOUT);
        vm.prank(watcher);
        manager.proveStep(winner, mockWitness(keccak256("true root 4")));
        assertTrue(manager.isStale(stale));
        // Still before the stale game's deadline: the removal itself stops the move.
        vm.prank(sequencer);
        vm.expectRevert(IChallengeManager.BatchRemoved.selector);
        manager.dissect(stale, new bytes32[](3));
    }

    // ------------------------------------------------------------------ select

    function test_select_eachSegment_succeeds() public {
        uint256[4] memory los = [uint256(0), 2, 4, 6];
        for (uint256 j; j < 4; ++j) {
            uint256 gameId = challengeAs(watcher, 0);
            dissectWith(gameId, claimsMem());
            uint256 deadline = block.timestamp + MOVE_TIMEOUT;
            bytes32 rootLo = j == 0 ? bytes32(0) : claims[los[j]];
            bytes32 rootHi = j == 3 ? POST : claims[los[j] + 2];
            vm.expectEmit(address(manager));
            emit IChallengeManager.Selected(gameId, j, los[j], los[j] + 2, rootLo, rootHi, deadline);
            vm.prank(watcher);
            manager.select(gameId, j);
            IChallengeManager.Game memory g = game(gameId);
            assertEq(g.lo, los[j]);
            assertEq(g.hi, los[j] + 2);
            assertEq(g.rootLo, rootLo);
            assertEq(g.rootHi, rootHi);
            assertEq(uint8(g.status), uint8(IChallengeManager.Status.AsserterTurn));
            assertEq(g.deadline, deadline);
        }
    }

    function test_select_toSingleStep_succeeds() public {
        uint256 gameId = challengeAs(watcher, 0);
        dissectWith(gameId, claimsMem()); // (0,8) → points 2,4,6
        selectToward(gameId, 5); // (4,6)
        dissectWith(gameId, claimsMem()); // (4,6) → point 5
        vm.prank(watcher);
        manager.select(gameId, 1); // (5,6)
        IChallengeManager.Game memory g = game(gameId);
        assertEq(g.lo, 5);
        assertEq(g.hi, 6);
        assertEq(g.rootLo, claims[5]);
        assertEq(g.rootHi, claims[6]);
        assertEq(uint8(g.status), uint8(IChallengeManager.Status.ChallengerTurn));
    }

    function test_select_notChallenger_reverts() public {
        uint256 gameId = challengeAs(watcher, 0);
        dissectWith(gameId, claimsMem());
        vm.prank(sequencer);
        vm.expectRevert(IChallengeManager.NotYourMove.selector);
        manager.select(gameId, 0);
    }

    function test_select_noSuchSegment_reverts() public {
        uint256 gameId = challengeAs(watcher, 0);
        dissectWith(gameId, claimsMem());
        vm.prank(watcher);
        vm.expectRevert(abi.encodeWithSelector(IChallengeManager.NoSuchSegment.selector, 4, 4));
        manager.select(gameId, 4);
    }

    function test_select_wrongStatus_reverts() public {
        uint256 gameId = challengeAs(watcher, 0);
        vm.prank(watcher);
        vm.expectRevert(
            abi.encodeWithSelector(IChallengeManager.WrongStatus.selector, IChallengeManager.Status.AsserterTurn)
        );
        manager.select(gameId, 0);
    }

    function test_select_singleStepLeft_reverts() public {
        uint256 gameId = challengeAs(watcher, 0);
        narrowTo(gameId, claimsMem(), 3);
        vm.prank(watcher);
        vm.expectRevert(abi.encodeWithSelector(IChallengeManager.WrongRange.selector, 3, 4));
        manager.select(gameId, 0);
    }

    function test_select_deadlinePassed_reverts() public {
        uint256 gameId = challengeAs(watcher, 0);
        dissectWith(gameId, claimsMem());
        uint256 deadline = block.timestamp + MOVE_TIMEOUT;
        vm.warp(deadline + 1);
        vm.prank(watcher);
        vm.expectRevert(abi.encodeWithSelector(IChallengeManager.DeadlinePassed.selector, deadline));
        manager.select(gameId, 0);
    }

    // ------------------------------------------------------------------ proveStep

    function test_proveStep_challengerWins_succeeds() public {
        uint256 gameId = challengeAs(watcher, 0);
        narrowTo(gameId, claimsMem(), 6);
        uint256 burnBefore = BURN.balance;
        bytes32 truth = keccak256("true root after step 6");
        // The defence window after the challenge has passed: the poster's loss removes the batch.
        vm.warp(block.timestamp + MOVE_TIMEOUT);

        vm.expectEmit(address(manager));
        emit IChallengeManager.StepProven(gameId, 6, truth, claims[7]);
        vm.expectEmit(address(manager));
        emit IChallengeManager.Credited(watcher, CHALLENGE_BOND);
        vm.expectEmit(address(manager));
        emit IChallengeManager.DefenderOut(0, 1, sequencer, watcher, 0);
        vm.expectEmit(address(manager));
        emit IChallengeManager.GameEnded(
            gameId, IChallengeManager.Status.ChallengerWon, IChallengeManager.Reason.StepProven, watcher
        );
        vm.expectEmit(address(manager));
        emit IChallengeManager.DefeatedBatchRemoved(0, 1, watcher);
        vm.expectEmit(address(rollup));
        emit IRollup.BatchesRemoved(0, 1, 0);
        vm.expectEmit(address(rollup));
        emit IRollup.StakeSlashed(sequencer, watcher, REQUIRED_STAKE, REQUIRED_STAKE / 2, REQUIRED_STAKE / 2);
        vm.expectEmit(address(rollup));
        emit IRollup.SlashEscrowed(0, sequencer, 0, 1, watcher, REQUIRED_STAKE / 2);
        vm.prank(watcher);
        manager.proveStep(gameId, mockWitness(truth));

        assertEq(uint8(game(gameId).status), uint8(IChallengeManager.Status.ChallengerWon));
        assertEq(rollup.batchCount(), 0);
        assertEq(rollup.nextInboxStart(), 0);
        assertEq(rollup.stakes(sequencer), 0);
        assertEq(manager.openGames(1), 0);
        // The bond comes back at once; the reward is escrowed in the Rollup, the rest burned.
        assertEq(manager.credits(watcher), CHALLENGE_BOND);
        assertEq(address(manager).balance, CHALLENGE_BOND);
        assertEq(BURN.balance - burnBefore, REQUIRED_STAKE / 2);
        assertEq(address(rollup).balance, REQUIRED_STAKE / 2);
        assertEq(rollup.slashCount(), 1);
        assertEq(rollup.openSlashes().length, 1);

        // Nothing precedes batch 0, so the reward can be settled right away (by anyone).
        vm.expectEmit(address(rollup));
        emit IRollup.SlashRewardPaid(0, watcher, REQUIRED_STAKE / 2);
        vm.expectEmit(address(manager));
        emit IChallengeManager.Credited(watcher, REQUIRED_STAKE / 2);
        vm.prank(carol);
        rollup.settleSlash(0);
        assertEq(rollup.getSlash(0).amount, 0);
        assertEq(rollup.openSlashes().length, 0);
        assertEq(manager.credits(watcher), CHALLENGE_BOND + REQUIRED_STAKE / 2);
        assertEq(address(manager).balance, CHALLENGE_BOND + REQUIRED_STAKE / 2);
        assertEq(address(rollup).balance, 0);
        vm.expectRevert(abi.encodeWithSelector(IRollup.SlashSettled.selector, 0));
        rollup.settleSlash(0);

        vm.expectEmit(address(manager));
        emit IChallengeManager.Withdrawn(watcher, CHALLENGE_BOND + REQUIRED_STAKE / 2);
        vm.prank(watcher);
        manager.withdraw();
        assertEq(watcher.balance, CHALLENGE_BOND + REQUIRED_STAKE / 2);
        assertEq(address(manager).balance, 0);
        assertEq(manager.credits(watcher), 0);
    }

    function test_proveStep_asserterWins_succeeds() public {
        uint256 gameId = challengeAs(watcher, 0);
        narrowTo(gameId, claimsMem(), 2);
        vm.expectEmit(address(manager));
        emit IChallengeManager.GameEnded(
            gameId, IChallengeManager.Status.AsserterWon, IChallengeManager.Reason.StepProven, sequencer
        );
        vm.prank(watcher);
        manager.proveStep(gameId, mockWitness(claims[3]));

        assertEq(uint8(game(gameId).status), uint8(IChallengeManager.Status.AsserterWon));
        assertEq(rollup.batchCount(), 1);
        assertEq(rollup.stakes(sequencer), REQUIRED_STAKE);
        assertEq(manager.openGames(1), 0);
        assertEq(manager.credits(sequencer), CHALLENGE_BOND);
        assertEq(manager.credits(watcher), 0);
        uint256 before = sequencer.balance;
        vm.prank(sequencer);
        manager.withdraw();
        assertEq(sequencer.balance - before, CHALLENGE_BOND);
        // The batch can now become final.
        finalizeAll();
        assertTrue(rollup.isFinal(0));
    }

    function test_proveStep_contextInboxStep_succeeds() public {
        uint256 gameId = challengeAs(watcher, 0);
        narrowTo(gameId, claimsMem(), 1); // step 1 is inbox entry 1
        IOneStepProver.StepContext memory ctx = IOneStepProver.StepContext({
            isInbox: true, entryHash: bridge.entryHash(1), txRoot: bytes32(0), recordIndex: 0, recordCount: 0
        });
        bytes memory witness = mockWitness(claims[2]);
        vm.expectCall(
            address(prover), abi.encodeCall(IOneStepProver.proveStep, (rollup.chainConfig(), claims[1], ctx, witness))
        );
        vm.prank(watcher);
        manager.proveStep(gameId, witness);
    }

    function test_proveStep_contextRecordStep_succeeds() public {
        uint256 gameId = challengeAs(watcher, 0);
        narrowTo(gameId, claimsMem(), 5); // step 5 is record 3 of 6
        IOneStepProver.StepContext memory ctx = IOneStepProver.StepContext({
            isInbox: false, entryHash: bytes32(0), txRoot: rollup.getBatch(0).txRoot, recordIndex: 3, recordCount: 6
        });
        bytes memory witness = mockWitness(claims[6]);
        vm.expectCall(
            address(prover), abi.encodeCall(IOneStepProver.proveStep, (rollup.chainConfig(), claims[5], ctx, witness))
        );
        vm.prank(watcher);
        manager.proveStep(gameId, witness);
    }

    function test_proveStep_contextLaterBatchInboxOffset_succeeds() public {
        // Batch 1 consumes entries [2, 4): its step 1 is inbox entry 3.
        depositETH(carol, carol, 3);
        depositETH(carol, carol, 4);
        appendAs(sequencer, dummyRecords(1), 4, keccak256("b1"));
        uint256 gameId = challengeAs(watcher, 1);
        bytes32[] memory c = new bytes32[](4);
        (c[0], c[1], c[2], c[3]) = (POST, keccak256("x1"), keccak256("x2"), keccak256("b1"));
        narrowTo(gameId, c, 1);
        IOneStepProver.StepContext memory ctx = IOneStepProver.StepContext({
            isInbox: true, entryHash: bridge.entryHash(3), txRoot: bytes32(0), recordIndex: 0, recordCount: 0
        });
        bytes memory witness = mockWitness(c[2]);
        vm.expectCall(
            address(prover), abi.encodeCall(IOneStepProver.proveStep, (rollup.chainConfig(), c[1], ctx, witness))
        );
        vm.prank(watcher);
        manager.proveStep(gameId, witness);
    }

    function test_proveStep_proverRejects_reverts() public {
        uint256 gameId = challengeAs(watcher, 0);
        narrowTo(gameId, claimsMem(), 4);
        vm.prank(watcher);
        vm.expectRevert(MockProver.MockRejected.selector);
        manager.proveStep(gameId, abi.encode(true, bytes32(0)));
        // The game is untouched: the challenger may retry with a good witness.
        assertEq(uint8(game(gameId).status), uint8(IChallengeManager.Status.ChallengerTurn));
        vm.prank(watcher);
        manager.proveStep(gameId, mockWitness(keccak256("truth")));
        assertEq(uint8(game(gameId).status), uint8(IChallengeManager.Status.ChallengerWon));
    }

    function test_proveStep_notChallenger_reverts() public {
        uint256 gameId = challengeAs(watcher, 0);
        narrowTo(gameId, claimsMem(), 4);
        vm.prank(sequencer);
        vm.expectRevert(IChallengeManager.NotYourMove.selector);
        manager.proveStep(gameId, mockWitness(bytes32(0)));
    }

    function test_proveStep_rangeTooWide_reverts() public {
        uint256 gameId = challengeAs(watcher, 0);
        dissectWith(gameId, claimsMem());
        vm.prank(watcher);
        vm.expectRevert(abi.encodeWithSelector(IChallengeManager.WrongRange.selector, 0, STEPS));
        manager.proveStep(gameId, mockWitness(bytes32(0)));
    }

    function test_proveStep_wrongStatus_reverts() public {
        uint256 gameId = challengeAs(watcher, 0);
        vm.prank(watcher);
        vm.expectRevert(
            abi.encodeWithSelector(IChallengeManager.WrongStatus.selector, IChallengeManager.Status.AsserterTurn)
        );
        manager.proveStep(gameId, mockWitness(bytes32(0)));
    }

    function test_proveStep_deadlinePassed_reverts() public {
        uint256 gameId = challengeAs(watcher, 0);
        narrowTo(gameId, claimsMem(), 4);
        uint256 deadline = game(gameId).deadline;
        vm.warp(deadline + 1);
        vm.prank(watcher);
        vm.expectRevert(abi.encodeWithSelector(IChallengeManager.DeadlinePassed.selector, deadline));
        manager.proveStep(gameId, mockWitness(bytes32(0)));
    }

    function test_proveStep_gameOver_reverts() public {
        uint256 gameId = challengeAs(watcher, 0);
        narrowTo(gameId, claimsMem(), 4);
        vm.prank(watcher);
        manager.proveStep(gameId, mockWitness(claims[5]));
        vm.prank(watcher);
        vm.expectRevert(
            abi.encodeWithSelector(IChallengeManager.WrongStatus.selector, IChallengeManager.Status.AsserterWon)
        );
        manager.proveStep(gameId, mockWitness(bytes32(0)));
    }

    // ------------------------------------------------------------------ timeout

    function test_timeout_asserterMissesDissect_succeeds() public {
        uint256 gameId = challengeAs(watcher, 0);
        vm.warp(block.timestamp + MOVE_TIMEOUT + 1);
        vm.expectEmit(address(manager));
        emit IChallengeManager.GameEnded(
            gameId, IChallengeManager.Status.ChallengerWon, IChallengeManager.Reason.AsserterTimedOut, watcher
        );
        vm.prank(carol); // anyone
        manager.timeout(gameId);
        assertEq(rollup.batchCount(), 0);
        assertEq(manager.credits(watcher), CHALLENGE_BOND);
        rollup.settleSlash(0);
        assertEq(manager.credits(watcher), CHALLENGE_BOND + REQUIRED_STAKE / 2);
    }

    function test_timeout_asserterMissesLaterDissect_succeeds() public {
        uint256 gameId = challengeAs(watcher, 0);
        dissectWith(gameId, claimsMem());
        selectToward(gameId, 3);
        vm.warp(block.timestamp + MOVE_TIMEOUT + 1);
        manager.timeout(gameId);
        assertEq(uint8(game(gameId).status), uint8(IChallengeManager.Status.ChallengerWon));
    }

    function test_timeout_challengerMissesSelect_succeeds() public {
        uint256 gameId = challengeAs(watcher, 0);
        dissectWith(gameId, claimsMem());
        vm.warp(block.timestamp + MOVE_TIMEOUT + 1);
        vm.expectEmit(address(manager));
        emit IChallengeManager.GameEnded(
            gameId, IChallengeManager.Status.AsserterWon, IChallengeManager.Reason.ChallengerTimedOut, sequencer
        );
        manager.timeout(gameId);
        assertEq(manager.credits(sequencer), CHALLENGE_BOND);
        assertEq(rollup.batchCount(), 1);
        assertEq(manager.openGames(1), 0);
    }

    function test_timeout_challengerMissesProof_succeeds() public {
        uint256 gameId = challengeAs(watcher, 0);
        narrowTo(gameId, claimsMem(), 7);
        vm.warp(block.timestamp + MOVE_TIMEOUT + 1);
        manager.timeout(gameId);
        assertEq(uint8(game(gameId).status), uint8(IChallengeManager.Status.AsserterWon));
        assertEq(manager.credits(sequencer), CHALLENGE_BOND);
    }

    function test_timeout_beforeDeadline_reverts() public {
        uint256 gameId = challengeAs(watcher, 0);
        uint256 deadline = block.timestamp + MOVE_TIMEOUT;
        vm.warp(deadline);
        vm.expectRevert(abi.encodeWithSelector(IChallengeManager.DeadlineNotPassed.selector, deadline));
        manager.timeout(gameId);
    }

    function test_timeout_gameOver_reverts() public {
        uint256 gameId = challengeAs(watcher, 0);
        vm.warp(block.timestamp + MOVE_TIMEOUT + 1);
        manager.timeout(gameId);
        vm.expectRevert(
            abi.encodeWithSelector(IChallengeManager.WrongStatus.selector, IChallengeManager.Status.ChallengerWon)
        );
        manager.timeout(gameId);
    }

    function test_timeout_noSuchGame_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(IChallengeManager.NoSuchGame.selector, 5));
        manager.timeout(5);
    }

    function test_timeout_staleGame_reverts() public {
        uint256 stale = challengeAs(watcher2, 0);
        uint256 winner = challengeAs(watcher, 0);
        vm.warp(block.timestamp + MOVE_TIMEOUT + 1);
        manager.timeout(winner);
        vm.expectRevert(IChallengeManager.BatchRemoved.selector);
        manager.timeout(stale);
    }

    // ------------------------------------------------------------------ cancelStale

    function test_cancelStale_returnsBond_succeeds() public {
        uint256 stale = challengeAs(watcher2, 0);
        uint256 winner = challengeAs(watcher, 0);
        vm.warp(block.timestamp + MOVE_TIMEOUT + 1);
        manager.timeout(winner);
        // The index is reused by a new batch: the old game is still stale.
        stakeFor(sequencer);
        appendAs(sequencer, dummyRecords(6), 2, POST);
        assertTrue(manager.isStale(stale));
        vm.expectEmit(address(manager));
        emit IChallengeManager.GameEnded(
            stale, IChallengeManager.Status.Cancelled, IChallengeManager.Reason.BatchRemoved, watcher2
        );
        vm.prank(carol);
        manager.cancelStale(stale);
        assertEq(uint8(game(stale).status), uint8(IChallengeManager.Status.Cancelled));
        assertEq(manager.credits(watcher2), CHALLENGE_BOND);
        assertEq(manager.openGames(1), 0);
        assertEq(manager.openGames(2), 0);
        vm.prank(watcher2);
        manager.withdraw();
        assertEq(watcher2.balance, CHALLENGE_BOND);
    }

    function test_cancelStale_batchStillThere_reverts() public {
        uint256 gameId = challengeAs(watcher, 0);
        vm.expectRevert(IChallengeManager.BatchNotRemoved.selector);
        manager.cancelStale(gameId);
    }

    function test_cancelStale_gameOver_reverts() public {
        uint256 gameId = challengeAs(watcher, 0);
        vm.warp(block.timestamp + MOVE_TIMEOUT + 1);
        manager.timeout(gameId);
        vm.expectRevert(
            abi.encodeWithSelector(IChallengeManager.WrongStatus.selector, IChallengeManager.Status.ChallengerWon)
        );
        manager.cancelStale(gameId);
    }

    // ------------------------------------------------------------------ withdraw / receive / views

    function test_withdraw_nothing_reverts() public {
        vm.prank(watcher);
        vm.expectRevert(IChallengeManager.NothingToWithdraw.selector);
        manager.withdraw();
    }

    function test_withdraw_reentrant_reverts() public {
        ReentrantWithdrawer w = new ReentrantWithdrawer(manager);
        vm.deal(address(w), CHALLENGE_BOND);
        uint256 gameId = w.challenge{value: CHALLENGE_BOND}(0);
        vm.warp(block.timestamp + MOVE_TIMEOUT + 1);
        manager.timeout(gameId);
        rollup.settleSlash(0);
        // The nested withdraw reverts, so the whole payout reverts.
        vm.expectRevert(IChallengeManager.TransferFailed.selector);
        w.withdraw();
        assertEq(manager.credits(address(w)), CHALLENGE_BOND + REQUIRED_STAKE / 2);
    }

    function test_withdraw_transferFails_reverts() public {
        RejectingReceiver r = new RejectingReceiver();
        vm.deal(address(r), CHALLENGE_BOND);
        vm.prank(address(r));
        uint256 gameId = manager.challenge{value: CHALLENGE_BOND}(0, sequencer);
        vm.warp(block.timestamp + MOVE_TIMEOUT + 1);
        // A challenger that rejects ETH still wins: payouts are pulled, never pushed.
        manager.timeout(gameId);
        vm.prank(address(r));
        vm.expectRevert(IChallengeManager.TransferFailed.selector);
        manager.withdraw();
    }

    function test_creditReward_notRollup_reverts() public {
        vm.deal(alice, 1 ether);
        vm.prank(alice);
        vm.expectRevert(IChallengeManager.NotRollup.selector);
        manager.creditReward{value: 1 ether}(alice);
        assertEq(manager.credits(alice), 0);
        assertEq(address(manager).balance, 0);
    }

    function test_getGame_noSuchGame_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(IChallengeManager.NoSuchGame.selector, 0));
        manager.getGame(0);
        vm.expectRevert(abi.encodeWithSelector(IChallengeManager.NoSuchGame.selector, 0));
        manager.dissectionRoots(0);
        vm.expectRevert(abi.encodeWithSelector(IChallengeManager.NoSuchGame.selector, 0));
        manager.isStale(0);
        vm.expectRevert(abi.encodeWithSelector(IChallengeManager.NoSuchGame.selector, 0));
        manager.cancelStale(0);
    }

    function test_dissectionPoints_tooShort_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(IChallengeManager.WrongRange.selector, 3, 4));
        manager.dissectionPoints(3, 4);
        vm.expectRevert(abi.encodeWithSelector(IChallengeManager.WrongRange.selector, 5, 4));
        manager.dissectionPoints(5, 4);
    }

    function test_constructor_zeroAddress_reverts() public {
        vm.expectRevert(IChallengeManager.ZeroAddress.selector);
        new ChallengeManager(rollup, bridge, IOneStepProver(address(0)));
        vm.expectRevert(IChallengeManager.ZeroAddress.selector);
        new ChallengeManager(rollup, IBridge(address(0)), prover);
        vm.expectRevert(IChallengeManager.ZeroAddress.selector);
        new ChallengeManager(IRollup(address(0)), bridge, prover);
    }

    // ------------------------------------------------------------------ fuzz

    /// @dev The contract's points match the formula, tile the range with non-empty segments, and
    ///      agree with the Rust examples of core/src/dissection.rs.
    function testFuzz_dissectionPoints_tileRange_succeeds(uint64 lo, uint64 len, uint8 k) public {
        len = uint64(bound(len, 2, 1_000_000));
        lo = uint64(bound(lo, 0, type(uint64).max - len));
        k = uint8(bound(k, 2, 64));
        IRollup.Config memory c = defaultConfig();
        c.degree = k;
        Rollup r = new Rollup(c);
        ChallengeManager m = new ChallengeManager(r, new Bridge(r), prover);
        uint256[] memory p = m.dissectionPoints(lo, uint256(lo) + len);
        uint256 s = len < k ? len : k;
        assertEq(p.length, s - 1);
        uint256 prev = lo;
        for (uint256 i; i < p.length; ++i) {
            assertEq(p[i], uint256(lo) + (i + 1) * uint256(len) / s);
            assertGt(p[i], prev);
            prev = p[i];
        }
        assertLt(prev, uint256(lo) + len);
    }

    function test_dissectionPoints_rustExamples_succeeds() public {
        IRollup.Config memory c = defaultConfig();
        c.degree = 8;
        Rollup r = new Rollup(c);
        ChallengeManager m8 = new ChallengeManager(r, new Bridge(r), prover);
        uint256[] memory p = m8.dissectionPoints(0, 16);
        assertEq(p.length, 7);
        for (uint256 i; i < 7; ++i) {
            assertEq(p[i], 2 * (i + 1));
        }
        p = m8.dissectionPoints(0, 5);
        assertEq(p.length, 4);
        assertEq(p[3], 4);
        // degree 4 (this suite's manager): (10, 27) → 14, 18, 22
        p = manager.dissectionPoints(10, 27);
        assertEq(p.length, 3);
        assertEq(p[0], 14);
        assertEq(p[1], 18);
        assertEq(p[2], 22);
    }

    /// @dev Random selections always narrow to one step within 2·⌈log_k n⌉ + 1 moves, and the
    ///      final (lo, rootLo, rootHi) are the claims at lo and lo + 1.
    function testFuzz_select_narrowsToOneStep_succeeds(uint256 records, uint256 seed) public {
        records = bound(records, 1, 300);
        bytes32[] memory c = new bytes32[](records + 3);
        c[0] = POST;
        for (uint256 i = 1; i < c.length; ++i) {
            c[i] = keccak256(abi.encode(seed, i));
        }
        depositETH(carol, carol, 1);
        depositETH(carol, carol, 2);
        appendAs(sequencer, dummyRecords(records), 4, c[c.length - 1]);
        uint256 n = records + 2;
        uint256 gameId = challengeAs(watcher, 1);
        uint256 moves = 1;
        while (game(gameId).hi - game(gameId).lo > 1) {
            dissectWith(gameId, c);
            IChallengeManager.Game memory g = game(gameId);
            uint256 s = g.hi - g.lo < DEGREE ? g.hi - g.lo : DEGREE;
            seed = uint256(keccak256(abi.encode(seed)));
            vm.prank(watcher);
            manager.select(gameId, seed % s);
            moves += 2;
        }
        IChallengeManager.Game memory last = game(gameId);
        assertEq(last.rootLo, c[last.lo]);
        assertEq(last.rootHi, c[last.lo + 1]);
        uint256 rounds;
        for (uint256 span = n; span > 1; span = (span + DEGREE - 1) / DEGREE) {
            ++rounds;
        }
        assertLe(moves, 2 * rounds + 1);
    }

    // ------------------------------------------------------------------ scenarios (several calls)

    /// @dev Exact balances of everyone after a challenger win and after an asserter win.
    function test_withdraw_stakeAndBondArithmetic_succeeds() public {
        uint256 burn0 = BURN.balance;
        // Game 0: the asserter wins against watcher2 (bond to the sequencer).
        uint256 lost = challengeAs(watcher2, 0);
        narrowTo(lost, claimsMem(), 0);
        vm.prank(watcher2);
        manager.proveStep(lost, mockWitness(claims[1]));
        // Game 1: watcher wins after the defence window (bond back at once, 50 % of the 10 ETH
        // stake escrowed until settled; 5 ETH burned).
        uint256 won = challengeAs(watcher, 0);
        narrowTo(won, claimsMem(), 7);
        vm.warp(block.timestamp + MOVE_TIMEOUT);
        vm.prank(watcher);
        manager.proveStep(won, mockWitness(bytes32(uint256(123))));

        assertEq(manager.credits(sequencer), 1 ether);
        assertEq(manager.credits(watcher), 1 ether);
        assertEq(manager.credits(watcher2), 0);
        assertEq(address(manager).balance, 2 ether);
        assertEq(BURN.balance - burn0, 5 ether);
        assertEq(address(rollup).balance, 5 ether);

        rollup.settleSlash(0);
        assertEq(manager.credits(watcher), 6 ether);
        assertEq(address(manager).balance, 7 ether);
        assertEq(address(rollup).balance, 0);

        uint256 seqBefore = sequencer.balance;
        vm.prank(sequencer);
        manager.withdraw();
        vm.prank(watcher);
        manager.withdraw();
        assertEq(sequencer.balance - seqBefore, 1 ether);
        assertEq(watcher.balance, 6 ether);
        assertEq(watcher2.balance, 0);
        assertEq(address(manager).balance, 0);
    }

    function test_proveStep_unevenSlashShare_succeeds() public {
        // 33.33 %: the challenger's share rounds down, the rest is burned; nothing is lost.
        IRollup.Config memory c = defaultConfig();
        c.challengerShareBps = 3333;
        c.requiredStake = 1 ether + 1;
        deploy(c, new MockProver(), address(0));
        vm.deal(sequencer, 1 ether + 1);
        vm.prank(sequencer);
        rollup.stake{value: 1 ether + 1}();
        appendSimple(keccak256("bad"));
        uint256 burn0 = BURN.balance;
        uint256 gameId = challengeAs(watcher, 0);
        vm.warp(block.timestamp + MOVE_TIMEOUT);
        vm.prank(watcher);
        manager.proveStep(gameId, mockWitness(keccak256("good")));
        uint256 stake_ = 1 ether + 1;
        uint256 reward = stake_ * 3333 / 10_000;
        assertEq(rollup.getSlash(0).amount, reward);
        assertEq(address(rollup).balance, reward);
        assertEq(BURN.balance - burn0, 1 ether + 1 - reward);
        rollup.settleSlash(0);
        assertEq(manager.credits(watcher), CHALLENGE_BOND + reward);
        assertEq(address(rollup).balance, 0);
    }

    /// @dev A colluding challenger plays badly and loses; an honest one still wins and the
    ///      batch is removed.
    function test_challenge_concurrentColluderPlaysBadly_succeeds() public {
        address colluder = makeAddr("colluder");
        uint256 bad = challengeAs(colluder, 0);
        uint256 honest = challengeAs(watcher, 0);
        // The colluder disputes an honest-looking step and proves it matches: the asserter wins.
        narrowTo(bad, claimsMem(), 0);
        vm.prank(colluder);
        manager.proveStep(bad, mockWitness(claims[1]));
        assertEq(uint8(game(bad).status), uint8(IChallengeManager.Status.AsserterWon));
        // The batch still cannot finalize: the honest game is open.
        vm.warp(block.timestamp + CHALLENGE_PERIOD);
        vm.expectRevert(abi.encodeWithSelector(IRollup.DisputeOpen.selector, 0));
        rollup.finalizeBatches(0);
        // ... and the honest challenger wins it: the asserter never answered it.
        assertEq(uint8(game(honest).status), uint8(IChallengeManager.Status.AsserterTurn));
        manager.timeout(honest);
        assertEq(rollup.batchCount(), 0);
        assertEq(manager.credits(watcher), CHALLENGE_BOND);
        rollup.settleSlash(0);
        assertEq(manager.credits(watcher), CHALLENGE_BOND + REQUIRED_STAKE / 2);
        assertEq(manager.credits(sequencer), CHALLENGE_BOND); // the colluder's bond, at best
    }

    /// @dev A colluding challenger stops answering and loses by timeout; the honest game is
    ///      unaffected and removes the batch.
    function test_challenge_concurrentColluderStops_succeeds() public {
        address colluder = makeAddr("colluder");
        uint256 t0 = block.timestamp;
        uint256 bad = challengeAs(colluder, 0);
        uint256 honest = challengeAs(watcher, 0);
        dissectWith(bad, claimsMem()); // the colluder never selects
        bytes32[] memory truth = claimsMem();
        truth[7] = keccak256("true root 7");
        truth[STEPS] = keccak256("true post root");
        vm.warp(t0 + MOVE_TIMEOUT / 2);
        narrowHonestly(honest, claimsMem(), truth);
        assertEq(game(honest).lo, 6);
        vm.warp(t0 + MOVE_TIMEOUT + 1);
        manager.timeout(bad);
        assertEq(uint8(game(bad).status), uint8(IChallengeManager.Status.AsserterWon));
        assertEq(rollup.batchCount(), 1);
        vm.prank(watcher);
        manager.proveStep(honest, mockWitness(truth[7]));
        assertEq(uint8(game(honest).status), uint8(IChallengeManager.Status.ChallengerWon));
        assertEq(rollup.batchCount(), 0);
        assertEq(manager.credits(watcher), CHALLENGE_BOND);
        rollup.settleSlash(0);
        assertEq(manager.credits(watcher), CHALLENGE_BOND + REQUIRED_STAKE / 2);
        assertEq(manager.credits(sequencer), CHALLENGE_BOND);
        assertEq(manager.credits(colluder), 0);
    }

    /// @dev The honest challenger finishes first; the colluder's game becomes stale and is
    ///      cancelled with its bond returned (it can no longer win or lose anything).
    function test_cancelStale_honestGameWinsFirst_succeeds() public {
        address colluder = makeAddr("colluder");
        uint256 bad = challengeAs(colluder, 0);
        uint256 honest = challengeAs(watcher, 0);
        dissectWith(bad, claimsMem());
        bytes32[] memory truth = claimsMem();
        truth[7] = keccak256("true root 7");
        truth[STEPS] = keccak256("true post root");
        narrowHonestly(honest, claimsMem(), truth);
        vm.prank(watcher);
        manager.proveStep(honest, mockWitness(truth[7]));
        assertEq(uint8(game(honest).status), uint8(IChallengeManager.Status.ChallengerWon));
        // The poster is out, but the defence window after the challenges is still open: the
        // batch stays, and the colluder's game against the poster is already void.
        assertEq(rollup.batchCount(), 1);
        assertEq(manager.openGames(1), 0);
        assertTrue(manager.isStale(bad));
        vm.prank(colluder);
        vm.expectRevert(abi.encodeWithSelector(IChallengeManager.DefenderEliminated.selector, sequencer));
        manager.select(bad, 0);
        vm.warp(block.timestamp + MOVE_TIMEOUT + 1);
        manager.removeDefeated(0);
        assertEq(rollup.batchCount(), 0);
        vm.expectRevert(IChallengeManager.BatchRemoved.selector);
        manager.timeout(bad);
        manager.cancelStale(bad);
        assertEq(manager.credits(colluder), CHALLENGE_BOND);
        assertEq(manager.credits(watcher), CHALLENGE_BOND);
        rollup.settleSlash(0);
        assertEq(manager.credits(watcher), CHALLENGE_BOND + REQUIRED_STAKE / 2);
        assertEq(manager.credits(sequencer), 0);
    }

    /// @dev Removing batch 1 of 4 removes 1..3, rewinds the inbox to batch 1's start, makes games
    ///      on batch 2 stale, and the next append starts at the rewound inbox index.
    function test_rejectBatch_cascadeAndReappend_succeeds() public {
        // Batch 0 (setUp) consumed entries [0, 2).
        depositETH(carol, carol, 1); // entry 2
        appendAs(sequencer, dummyRecords(2), 3, keccak256("b1")); // [2, 3)
        depositETH(carol, carol, 2); // entry 3
        depositETH(carol, carol, 3); // entry 4
        appendAs(sequencer, dummyRecords(1), 5, keccak256("b2")); // [3, 5)
        appendAs(sequencer, dummyRecords(1), 5, keccak256("b3")); // [5, 5)
        assertEq(rollup.batchCount(), 4);

        uint256 onB2 = challengeAs(watcher2, 2);
        uint256 onB1 = challengeAs(watcher, 1);
        vm.warp(block.timestamp + MOVE_TIMEOUT + 1);
        vm.expectEmit(address(rollup));
        emit IRollup.BatchesRemoved(1, 4, 2);
        manager.timeout(onB1);

        assertEq(rollup.batchCount(), 1);
        assertEq(rollup.nextInboxStart(), 2);
        assertTrue(rollup.isCurrent(0, 1));
        assertFalse(rollup.isCurrent(1, 2));
        assertTrue(manager.isStale(onB2));
        assertFalse(rollup.isFinal(1));

        // The sequencer re-stakes and re-posts from the last good batch; the inbox range starts
        // at the rewound index 2 and may consume everything again.
        stakeFor(sequencer);
        vm.prank(sequencer, sequencer);
        vm.expectRevert(abi.encodeWithSelector(IRollup.InvalidInboxEnd.selector, 1, 2, 5));
        rollup.appendBatch(dummyRecords(1), 1, bytes32(0), 1, POST);
        uint256 index = appendAs(sequencer, dummyRecords(1), 5, keccak256("b1'"));
        assertEq(index, 1);
        IRollup.Batch memory b = rollup.getBatch(1);
        assertEq(b.inboxStart, 2);
        assertEq(b.inboxEnd, 5);
        assertEq(b.preStateRoot, POST);
        assertEq(b.id, 5);
        // The stale game is closed with its bond returned; the good batch 0 finalizes.
        manager.cancelStale(onB2);
        assertEq(manager.credits(watcher2), CHALLENGE_BOND);
        finalizeAll();
        assertEq(rollup.finalizedCount(), 2);
    }

    /// @dev A batch posted through the escape hatch is slashed from its own poster.
    function test_proveStep_escapeHatchPosterSlashed_succeeds() public {
        stakeFor(alice);
        vm.warp(block.timestamp + INACTIVITY_PERIOD);
        appendAs(alice, dummyRecords(1), 2, keccak256("alice bad"));
        uint256 gameId = challengeAs(watcher, 1);
        assertEq(game(gameId).asserter, alice);
        vm.warp(block.timestamp + MOVE_TIMEOUT);
        vm.prank(watcher);
        manager.proveStep(gameId, mockWitness(keccak256("truth")));
        assertEq(rollup.stakes(alice), 0);
        assertEq(rollup.stakes(sequencer), REQUIRED_STAKE);
        assertEq(rollup.batchCount(), 1);
        // Alice's slashed reward waits until batch 0, before hers, is final.
        assertEq(rollup.getSlash(0).batchIndex, 1);
        assertEq(rollup.getSlash(0).beneficiary, watcher);
        vm.expectRevert(abi.encodeWithSelector(IRollup.SlashNotSettleable.selector, 0, 1));
        rollup.settleSlash(0);
        finalizeAll();
        assertTrue(rollup.isFinal(0));
        rollup.settleSlash(0);
        assertEq(manager.credits(watcher), CHALLENGE_BOND + REQUIRED_STAKE / 2);
    }

    /// @dev A game that outlives the challenge period still blocks finality until it ends.
    function test_finalizeBatches_gameOutlivesPeriod_succeeds() public {
        vm.warp(block.timestamp + CHALLENGE_PERIOD - 1);
        uint256 gameId = challengeAs(watcher, 0);
        vm.warp(block.timestamp + MOVE_TIMEOUT);
        dissectWith(gameId, claimsMem());
        vm.warp(block.timestamp + MOVE_TIMEOUT);
        selectToward(gameId, 1);
        vm.expectRevert(abi.encodeWithSelector(IRollup.DisputeOpen.selector, 0));
        rollup.finalizeBatches(0);
        dissectWith(gameId, claimsMem());
        vm.warp(block.timestamp + MOVE_TIMEOUT + 1);
        manager.timeout(gameId); // the challenger stopped
        rollup.finalizeBatches(0);
        assertTrue(rollup.isFinal(0));
    }
}

/// @notice Full games against the shared vectors (tests/vectors/game.json) with the real
///         OneStepProver: the Rollup is deployed at the vectors' rollup address so that the
///         EIP-712 signatures of the records hold.
contract ChallengeManagerVectorTest is GameHelpers {
    using stdJson for string;

    string internal json;

    struct VBatch {
        bytes records;
        uint256 inboxEnd;
        bytes32 preRoot;
        bytes32 postRoot;
        bytes32 txRoot;
        uint256 stepCount;
        bytes32[] roots;
        bytes[] witnesses;
    }

    function setUp() public {
        json = vm.readFile(string.concat(vm.projectRoot(), "/../tests/vectors/game.json"));
        IRollup.Config memory c = defaultConfig();
        c.l2ChainId = uint64(json.readUint(".config.l2ChainId"));
        c.feeRecipient = json.readAddress(".config.feeRecipient");
        c.degree = 8; // the suggested production degree (the mock suite uses 4)
        deploy(c, new OneStepProver(), json.readAddress(".config.rollup"));
        assertEq(address(rollup), json.readAddress(".config.rollup"));
        stakeFor(sequencer);
        uint256 n = _count(".deposits");
        for (uint256 i; i < n; ++i) {
            string memory p = string.concat(".deposits[", vm.toString(i), "]");
            address sender = json.readAddress(string.concat(p, ".sender"));
            address recipient = json.readAddress(string.concat(p, ".recipient"));
            assertEq(json.readAddress(string.concat(p, ".token")), address(0));
            uint256 amount = json.readUint(string.concat(p, ".amount"));
            uint256 index = depositETH(sender, recipient, amount);
            assertEq(index, i);
            assertEq(bridge.entryHash(i), json.readBytes32(string.concat(p, ".entryHash")));
        }
    }

    function _count(string memory key) internal view returns (uint256 n) {
        while (vm.keyExistsJson(json, string.concat(key, "[", vm.toString(n), "]"))) ++n;
    }

    function vbatch(uint256 i) internal view returns (VBatch memory b) {
        string memory p = string.concat(".batches[", vm.toString(i), "]");
        b.records = json.readBytes(string.concat(p, ".records"));
        b.inboxEnd = json.readUint(string.concat(p, ".inboxEnd"));
        b.preRoot = json.readBytes32(string.concat(p, ".preRoot"));
        b.postRoot = json.readBytes32(string.concat(p, ".postRoot"));
        b.txRoot = json.readBytes32(string.concat(p, ".txRoot"));
        b.stepCount = json.readUint(string.concat(p, ".stepCount"));
        b.roots = json.readBytes32Array(string.concat(p, ".roots"));
        b.witnesses = json.readBytesArray(string.concat(p, ".witnesses"));
        assertEq(b.roots.length, b.stepCount + 1);
        assertEq(b.witnesses.length, b.stepCount);
        assertEq(b.roots[0], b.preRoot);
        assertEq(b.roots[b.stepCount], b.postRoot);
    }

    function appendVector(VBatch memory b, bytes32 postRoot) internal returns (uint256 index) {
        index = appendAs(sequencer, b.records, b.inboxEnd, postRoot);
        IRollup.Batch memory stored = rollup.getBatch(index);
        assertEq(stored.txRoot, b.txRoot);
        assertEq(stored.preStateRoot, b.preRoot);
        assertEq(uint256(stored.inboxEnd - stored.inboxStart) + stored.txCount, b.stepCount);
    }

    /// @dev The honest roots with every root from step `d` on replaced (a dishonest post root).
    function lieFrom(bytes32[] memory roots, uint256 d) internal pure returns (bytes32[] memory lie) {
        lie = new bytes32[](roots.length);
        for (uint256 i; i < roots.length; ++i) {
            lie[i] = i < d ? roots[i] : keccak256(abi.encode("lie", i, roots[i]));
        }
    }

    function _batchCount() internal view returns (uint256) {
        return _count(".batches");
    }

    /// @dev Batch `bi` is dishonest from step `d` on; the honest challenger narrows to step d−1
    ///      by the honest rule and wins with the real prover.
    function _dishonestGame(uint256 bi, uint256 d) internal {
        for (uint256 i; i < bi; ++i) {
            VBatch memory prev = vbatch(i);
            appendVector(prev, prev.postRoot);
        }
        VBatch memory b = vbatch(bi);
        bytes32[] memory lie = lieFrom(b.roots, d);
        uint256 index = appendVector(b, lie[b.stepCount]);
        uint256 rewoundTo = rollup.getBatch(index).inboxStart;
        uint256 gameId = challengeAs(watcher, index);
        narrowHonestly(gameId, lie, b.roots);
        IChallengeManager.Game memory g = game(gameId);
        assertEq(g.lo, d - 1);
        assertEq(g.rootLo, b.roots[d - 1]);
        assertEq(g.rootHi, lie[d]);
        uint256 burn0 = BURN.balance;
        // Past the defence window after the challenge, so the win removes the batch at once.
        vm.warp(block.timestamp + MOVE_TIMEOUT);
        vm.prank(watcher);
        manager.proveStep(gameId, b.witnesses[d - 1]);
        assertEq(uint8(game(gameId).status), uint8(IChallengeManager.Status.ChallengerWon));
        assertEq(rollup.batchCount(), index);
        assertEq(rollup.nextInboxStart(), rewoundTo);
        assertEq(manager.credits(watcher), CHALLENGE_BOND);
        assertEq(BURN.balance - burn0, REQUIRED_STAKE / 2);
        // The reward is paid once the batches before the removed one are final.
        finalizeAll();
        rollup.settleSlash(0);
        assertEq(manager.credits(watcher), CHALLENGE_BOND + REQUIRED_STAKE / 2);
    }

    function test_proveStep_vectorDishonestEveryStep_succeeds() public {
        uint256 nb = _batchCount();
        assertGt(nb, 0);
        for (uint256 bi; bi < nb; ++bi) {
            uint256 steps = vbatch(bi).stepCount;
            for (uint256 d = 1; d <= steps; ++d) {
                uint256 snap = vm.snapshotState();
                _dishonestGame(bi, d);
                vm.revertToState(snap);
            }
        }
    }

    /// @dev The asserter is honest; a dishonest challenger narrows to step `t` and proves it with
    ///      the true witness, which confirms the asserter's root.
    function test_proveStep_vectorHonestAsserterEveryStep_succeeds() public {
        uint256 nb = _batchCount();
        for (uint256 bi; bi < nb; ++bi) {
            uint256 steps = vbatch(bi).stepCount;
            for (uint256 t; t < steps; ++t) {
                uint256 snap = vm.snapshotState();
                for (uint256 i; i < bi; ++i) {
                    VBatch memory prev = vbatch(i);
                    appendVector(prev, prev.postRoot);
                }
                VBatch memory b = vbatch(bi);
                uint256 index = appendVector(b, b.postRoot);
                uint256 gameId = challengeAs(watcher, index);
                narrowTo(gameId, b.roots, t);
                vm.prank(watcher);
                manager.proveStep(gameId, b.witnesses[t]);
                assertEq(uint8(game(gameId).status), uint8(IChallengeManager.Status.AsserterWon));
                assertEq(manager.credits(sequencer), CHALLENGE_BOND);
                assertEq(rollup.batchCount(), index + 1);
                vm.revertToState(snap);
            }
        }
    }

    /// @dev A witness for another step is rejected by the prover (the call reverts).
    function test_proveStep_vectorWrongWitness_reverts() public {
        VBatch memory b = vbatch(0);
        bytes32[] memory lie = lieFrom(b.roots, 5);
        appendVector(b, lie[b.stepCount]);
        uint256 gameId = challengeAs(watcher, 0);
        narrowHonestly(gameId, lie, b.roots);
        assertEq(game(gameId).lo, 4);
        vm.prank(watcher);
        vm.expectRevert();
        manager.proveStep(gameId, b.witnesses[3]);
        vm.prank(watcher);
        manager.proveStep(gameId, b.witnesses[4]);
        assertEq(uint8(game(gameId).status), uint8(IChallengeManager.Status.ChallengerWon));
    }

    /// @dev Both batches honest and final, then every withdrawal of the vectors is paid.
    function test_finalizeWithdrawal_vectors_succeeds() public {
        uint256 nb = _batchCount();
        for (uint256 i; i < nb; ++i) {
            VBatch memory b = vbatch(i);
            appendVector(b, b.postRoot);
        }
        finalizeAll();
        uint256 nw = _count(".withdrawals");
        assertGt(nw, 0);
        uint256 owed = bridge.outstanding(address(0));
        for (uint256 i; i < nw; ++i) {
            string memory p = string.concat(".withdrawals[", vm.toString(i), "]");
            uint256 batchIndex = json.readUint(string.concat(p, ".batch"));
            uint256 index = json.readUint(string.concat(p, ".index"));
            address recipient = json.readAddress(string.concat(p, ".recipient"));
            address token = json.readAddress(string.concat(p, ".token"));
            uint256 amount = json.readUint(string.concat(p, ".amount"));
            bytes32[] memory siblings = json.readBytes32Array(string.concat(p, ".siblings"));
            uint256 before = recipient.balance;
            bridge.finalizeWithdrawal(batchIndex, index, recipient, token, amount, siblings);
            assertEq(recipient.balance - before, amount);
            owed -= amount;
            assertEq(bridge.outstanding(address(0)), owed);
            vm.expectRevert(abi.encodeWithSelector(IBridge.WithdrawalAlreadySpent.selector, index));
            bridge.finalizeWithdrawal(batchIndex, index, recipient, token, amount, siblings);
        }
        assertEq(address(bridge).balance, owed);
    }
}
