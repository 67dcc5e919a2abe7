// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {GameHelpers} from "./ChallengeManager.t.sol";
import {IRollup} from "../src/interfaces/IRollup.sol";
import {IChallengeManager} from "../src/interfaces/IChallengeManager.sol";

/// @notice The properties of the dispute design (docs/protocol.md §13): anyone who agrees with a
///         batch can defend it, a correct batch is never removed by anybody's silence while one
///         honest bonded party defends it, finality has a bound whoever plays, and a fraud's stake
///         pays whoever proves the earliest wrong batch wrong. Each test names the attack it tries.
contract DefenceTest is GameHelpers {
    bytes32 internal constant POST = keccak256("post root");
    uint256 internal constant STEPS = 8; // 2 inbox entries + 6 records; k = 4: 5 moves per game

    address internal honest = makeAddr("honest defender");
    address internal griefer = makeAddr("griefer");
    address internal shill = makeAddr("shill");

    /// @dev The roots of batch 0 after each step: the truth (the batch is correct).
    bytes32[] internal truth;
    uint256 internal periodEnd;

    function setUp() public {
        deployDefault();
        stakeFor(sequencer);
        depositETH(alice, alice, 1 ether);
        depositETH(bob, bob, 2 ether);
        appendAs(sequencer, dummyRecords(6), 2, POST);
        for (uint256 i; i < STEPS; ++i) {
            truth.push(i == 0 ? bytes32(0) : keccak256(abi.encode("truth", i)));
        }
        truth.push(POST);
        periodEnd = rollup.challengeDeadline(0);
    }

    function truthMem() internal view returns (bytes32[] memory) {
        return truth;
    }

    /// @dev The defender of `gameId` answers with the truth and the challenger, who disputes it,
    ///      narrows toward `target` and then proves it: the prover (a mock here) agrees with the
    ///      truth, so the defender wins.
    function playHonestDefence(uint256 gameId, uint256 target) internal {
        narrowTo(gameId, truthMem(), target);
        IChallengeManager.Game memory g = game(gameId);
        vm.prank(g.challenger);
        manager.proveStep(gameId, mockWitness(g.rootHi));
    }

    // ----------------------------------------------- a correct batch stays with one honest defender

    /// Item 1(b): the poster is offline for `moveTimeout`. Before, that alone removed its correct
    /// batch (and every later one) and gave half its stake to the griefer.
    function test_timeout_offlinePosterHonestDefender_batchStays_succeeds() public {
        uint256 g1 = challengeAs(griefer, 0);
        defendAs(honest, 0);
        vm.warp(block.timestamp + MOVE_TIMEOUT + 1);
        manager.timeout(g1); // the poster missed its dissection: the poster is out, not the batch

        assertTrue(rollup.isCurrent(0, 1));
        assertEq(rollup.stakes(sequencer), REQUIRED_STAKE);
        assertTrue(manager.getDefence(1).posterEliminated);
        vm.expectRevert(abi.encodeWithSelector(IChallengeManager.BatchDefended.selector, 0));
        manager.removeDefeated(0);

        // The griefer has to beat the honest defender too, and cannot.
        uint256 g2 = challengeDefenderAs(griefer, 0, honest);
        playHonestDefence(g2, 6);
        assertEq(uint8(game(g2).status), uint8(IChallengeManager.Status.AsserterWon));
        assertEq(manager.credits(honest), CHALLENGE_BOND);

        vm.warp(periodEnd);
        rollup.finalizeBatches(0);
        assertTrue(rollup.isFinal(0));
        vm.prank(honest);
        manager.releaseDefence(1);
        assertEq(manager.credits(honest), 2 * CHALLENGE_BOND);
    }

    /// Item 1(a): a poster deletes its own correct batch by losing at once to its own second
    /// account (a one-block game). Before, the batch was gone in that block; now the defence
    /// window lets an honest party join, and the batch stays.
    function test_proveStep_posterLosesOnPurpose_honestJoinsInWindow_succeeds() public {
        uint256 g1 = challengeAs(shill, 0);
        bytes32[] memory wrong = truthMem();
        wrong[3] = keccak256("a root the poster knows is wrong");
        narrowTo(g1, wrong, 2); // step 2 ends at the wrong root 3
        vm.prank(shill);
        manager.proveStep(g1, mockWitness(truth[3]));
        assertEq(uint8(game(g1).status), uint8(IChallengeManager.Status.ChallengerWon));
        assertTrue(rollup.isCurrent(0, 1), "removed before anybody could defend");

        vm.warp(block.timestamp + MOVE_TIMEOUT - 1);
        defendAs(honest, 0); // within the window of the shill's challenge
        vm.warp(block.timestamp + 1);
        vm.expectRevert(abi.encodeWithSelector(IChallengeManager.BatchDefended.selector, 0));
        manager.removeDefeated(0);

        vm.warp(periodEnd);
        rollup.finalizeBatches(0);
        assertTrue(rollup.isFinal(0));
    }

    /// A party that defends badly only eliminates itself: the honest defender's games go on.
    function test_proveStep_saboteurDefender_eliminatesOnlyItself_succeeds() public {
        address saboteur = makeAddr("saboteur");
        defendAs(honest, 0);
        defendAs(saboteur, 0);
        uint256 gs = challengeDefenderAs(griefer, 0, saboteur);
        uint256 gh = challengeDefenderAs(griefer, 0, honest);
        bytes32[] memory wrong = truthMem();
        wrong[5] = keccak256("sabotage");
        narrowTo(gs, wrong, 4);
        vm.prank(griefer);
        manager.proveStep(gs, mockWitness(truth[5]));
        assertEq(uint256(manager.defenderStatus(1, saboteur)), uint256(IChallengeManager.DefenderStatus.Eliminated));
        assertEq(manager.credits(griefer), 2 * CHALLENGE_BOND);

        playHonestDefence(gh, 0);
        assertEq(uint8(game(gh).status), uint8(IChallengeManager.Status.AsserterWon));
        assertTrue(rollup.isCurrent(0, 1));
        vm.warp(periodEnd);
        rollup.finalizeBatches(0);
    }

    // ----------------------------------------------------------- a fraud is removed, shields or not

    /// A shill defends a fraud: the honest challenger beats the poster and the shill, the batch is
    /// removed, and the shill's bond pays the challenger.
    function test_timeout_shillDefenderOfFraud_mustBeBeaten_succeeds() public {
        defendAs(shill, 0);
        uint256 gp = challengeAs(watcher, 0);
        uint256 gs = challengeDefenderAs(watcher, 0, shill);
        vm.warp(block.timestamp + MOVE_TIMEOUT + 1);
        manager.timeout(gp);
        assertTrue(rollup.isCurrent(0, 1), "the shill still stands");
        assertEq(manager.getDefence(1).posterBeatenBy, watcher);

        vm.expectEmit(address(manager));
        emit IChallengeManager.DefeatedBatchRemoved(0, 1, watcher);
        manager.timeout(gs);
        assertEq(rollup.batchCount(), 0);
        assertEq(manager.credits(watcher), 3 * CHALLENGE_BOND); // its two bonds and the shill's
        assertEq(rollup.getSlash(0).beneficiary, watcher);
        assertEq(rollup.getSlash(0).amount, REQUIRED_STAKE / 2);
        rollup.settleSlash(0); // nothing before batch 0: payable at once
        assertEq(manager.credits(watcher), 3 * CHALLENGE_BOND + REQUIRED_STAKE / 2);
        vm.expectRevert(abi.encodeWithSelector(IRollup.SlashSettled.selector, 0));
        rollup.settleSlash(0);
    }

    function test_removeDefeated_beforeWindow_reverts() public {
        uint256 g1 = challengeAs(watcher, 0);
        uint256 started = block.timestamp;
        bytes32[] memory wrong = truthMem();
        narrowTo(g1, wrong, 0);
        vm.prank(watcher);
        manager.proveStep(g1, mockWitness(keccak256("the true root after step 0")));
        vm.expectRevert(abi.encodeWithSelector(IChallengeManager.DefenceWindowOpen.selector, 0, started + MOVE_TIMEOUT));
        manager.removeDefeated(0);
        vm.warp(started + MOVE_TIMEOUT);
        manager.removeDefeated(0);
        assertEq(rollup.batchCount(), 0);
        vm.expectRevert(abi.encodeWithSelector(IChallengeManager.NoSuchBatch.selector, 0));
        manager.removeDefeated(0);
    }

    /// @dev The poster of batch 0 loses game `gameId` at once (a wrong root at step 1).
    function posterLosesNow(uint256 gameId) internal {
        narrowTo(gameId, truthMem(), 0);
        IChallengeManager.Game memory g = game(gameId);
        vm.prank(g.challenger);
        manager.proveStep(gameId, mockWitness(keccak256("the true root after step 0")));
    }

    function test_finalizeBatches_defeatedAwaitingRemoval_reverts() public {
        vm.warp(periodEnd - 1);
        posterLosesNow(challengeAs(watcher, 0));
        vm.warp(periodEnd + MOVE_TIMEOUT);
        vm.expectRevert(abi.encodeWithSelector(IRollup.DisputeOpen.selector, 0));
        rollup.finalizeBatches(0);
        manager.removeDefeated(0);
        assertEq(rollup.batchCount(), 0);
    }

    function test_defend_defeatedPastWindow_reverts() public {
        posterLosesNow(challengeAs(watcher, 0));
        vm.warp(block.timestamp + MOVE_TIMEOUT);
        vm.deal(honest, CHALLENGE_BOND);
        vm.prank(honest);
        vm.expectRevert(abi.encodeWithSelector(IChallengeManager.BatchDefeated.selector, 0));
        manager.defend{value: CHALLENGE_BOND}(0);
    }

    // ------------------------------------------------------------------- who may defend and when

    function test_defend_poster_reverts() public {
        vm.deal(sequencer, CHALLENGE_BOND);
        vm.prank(sequencer);
        vm.expectRevert(abi.encodeWithSelector(IChallengeManager.AlreadyDefending.selector, sequencer));
        manager.defend{value: CHALLENGE_BOND}(0);
    }

    function test_defend_twice_reverts() public {
        defendAs(honest, 0);
        vm.deal(honest, CHALLENGE_BOND);
        vm.prank(honest);
        vm.expectRevert(abi.encodeWithSelector(IChallengeManager.AlreadyDefending.selector, honest));
        manager.defend{value: CHALLENGE_BOND}(0);
    }

    function test_defend_wrongBond_reverts() public {
        vm.deal(honest, CHALLENGE_BOND);
        vm.prank(honest);
        vm.expectRevert(abi.encodeWithSelector(IChallengeManager.WrongBond.selector, 1, CHALLENGE_BOND));
        manager.defend{value: 1}(0);
    }

    function test_defend_afterPeriodUnchallenged_reverts() public {
        vm.warp(periodEnd);
        vm.deal(honest, CHALLENGE_BOND);
        vm.prank(honest);
        vm.expectRevert(abi.encodeWithSelector(IChallengeManager.DefenceClosed.selector, 0, periodEnd));
        manager.defend{value: CHALLENGE_BOND}(0);
    }

    function test_defend_joinedEvent_succeeds() public {
        vm.expectEmit(address(manager));
        emit IChallengeManager.DefenderJoined(0, 1, honest, periodEnd);
        defendAs(honest, 0);
        assertEq(uint256(manager.defenderStatus(1, honest)), uint256(IChallengeManager.DefenderStatus.Active));
        assertEq(manager.getDefence(1).bondedDefenders, 1);
    }

    /// A defender that joins in the last second can still be challenged for `moveTimeout`, so a
    /// fraud cannot be shielded by a late shill.
    function test_challenge_lateDefenderAfterPeriod_succeeds() public {
        vm.warp(periodEnd - 1);
        defendAs(shill, 0);
        vm.warp(periodEnd + MOVE_TIMEOUT - 2);
        challengeDefenderAs(watcher, 0, shill);
        vm.warp(periodEnd + MOVE_TIMEOUT - 1);
        vm.deal(watcher2, CHALLENGE_BOND);
        vm.prank(watcher2);
        vm.expectRevert(
            abi.encodeWithSelector(IChallengeManager.ChallengePeriodOver.selector, 0, periodEnd - 1 + MOVE_TIMEOUT)
        );
        manager.challenge{value: CHALLENGE_BOND}(0, shill);
    }

    function test_challenge_posterAfterPeriod_reverts() public {
        vm.warp(periodEnd - 1);
        defendAs(shill, 0);
        vm.warp(periodEnd);
        vm.deal(watcher, CHALLENGE_BOND);
        vm.prank(watcher);
        vm.expectRevert(abi.encodeWithSelector(IChallengeManager.ChallengePeriodOver.selector, 0, periodEnd));
        manager.challenge{value: CHALLENGE_BOND}(0, sequencer);
    }

    function test_challenge_notADefender_reverts() public {
        vm.deal(watcher, CHALLENGE_BOND);
        vm.prank(watcher);
        vm.expectRevert(abi.encodeWithSelector(IChallengeManager.NotADefender.selector, honest));
        manager.challenge{value: CHALLENGE_BOND}(0, honest);
    }

    /// Joins after a challenge that came after the period do not reopen the defence: else joins
    /// and challenges could extend each other without end.
    function test_defend_afterLateChallenge_reverts() public {
        vm.warp(periodEnd - 1);
        challengeAs(griefer, 0);
        vm.warp(periodEnd + MOVE_TIMEOUT - 2);
        defendAs(shill, 0); // within the window of the last early challenge
        vm.warp(periodEnd + MOVE_TIMEOUT - 1);
        challengeDefenderAs(griefer, 0, shill); // allowed: shill joined < moveTimeout ago
        vm.deal(honest, CHALLENGE_BOND);
        vm.prank(honest);
        vm.expectRevert(
            abi.encodeWithSelector(IChallengeManager.DefenceClosed.selector, 0, periodEnd - 1 + MOVE_TIMEOUT)
        );
        manager.defend{value: CHALLENGE_BOND}(0);
    }

    // ------------------------------------------------------------------------- the finality bound

    /// Many attackers, all as late and as slow as the rules allow, with defenders of their own
    /// joining at the last moment: the correct batch is final by `periodEnd + (2r + 3)·T` (r = 2
    /// dissection rounds for 8 steps at k = 4), and not removed.
    function test_finalizeBatches_slowAttackersWithinBound_succeeds() public {
        address[3] memory attackers = [makeAddr("a1"), makeAddr("a2"), makeAddr("a3")];
        address lateDefender = makeAddr("late defender");
        vm.warp(periodEnd - 1);
        uint256[] memory games = new uint256[](4);
        for (uint256 i; i < 3; ++i) {
            games[i] = challengeAs(attackers[i], 0);
        }
        // Every party moves at its last second; the defenders answer with the truth.
        uint256 joinAt = periodEnd - 1 + MOVE_TIMEOUT - 1;
        playSlowly(games, 3, joinAt);
        vm.warp(joinAt);
        defendAs(lateDefender, 0); // the attackers' own, to be challenged late
        uint256 lateChallengeAt = joinAt + MOVE_TIMEOUT - 1;
        playSlowly(games, 3, lateChallengeAt);
        vm.warp(lateChallengeAt);
        games[3] = challengeDefenderAs(attackers[0], 0, lateDefender);
        vm.expectRevert(abi.encodeWithSelector(IRollup.DisputeOpen.selector, 0));
        rollup.finalizeBatches(0);
        playSlowly(games, 4, type(uint256).max);
        uint256 bound = periodEnd + (2 * 2 + 3) * MOVE_TIMEOUT;
        assertLe(block.timestamp, bound);
        vm.warp(bound);
        rollup.finalizeBatches(0);
        assertTrue(rollup.isFinal(0));
        assertEq(rollup.stakes(sequencer), REQUIRED_STAKE);
    }

    /// Plays the first `n` of `games` in parallel with every move at its deadline (the game whose
    /// deadline comes first moves next), up to the moves due by `until`.
    function playSlowly(uint256[] memory games, uint256 n, uint256 until) internal {
        while (true) {
            uint256 next = type(uint256).max;
            uint256 soonest = type(uint256).max;
            for (uint256 i; i < n; ++i) {
                IChallengeManager.Game memory g = game(games[i]);
                bool open = g.status == IChallengeManager.Status.AsserterTurn
                    || g.status == IChallengeManager.Status.ChallengerTurn;
                if (open && g.deadline < soonest) {
                    soonest = g.deadline;
                    next = games[i];
                }
            }
            if (next == type(uint256).max || soonest > until) return;
            IChallengeManager.Game memory m = game(next);
            if (block.timestamp < m.deadline) vm.warp(m.deadline);
            if (m.status == IChallengeManager.Status.AsserterTurn) {
                dissectWith(next, truthMem());
            } else if (m.hi - m.lo > 1) {
                vm.prank(m.challenger);
                manager.select(next, 0);
            } else {
                vm.prank(m.challenger);
                manager.proveStep(next, mockWitness(m.rootHi));
            }
        }
    }

    function test_finalizeBatches_beforeLateDefenderChallengeable_reverts() public {
        vm.warp(periodEnd - 1);
        defendAs(honest, 0);
        vm.warp(periodEnd);
        vm.expectRevert(abi.encodeWithSelector(IRollup.DisputeOpen.selector, 0));
        rollup.finalizeBatches(0);
        vm.warp(periodEnd - 1 + MOVE_TIMEOUT);
        rollup.finalizeBatches(0);
    }

    // --------------------------------------------------- the earliest wrong batch's prover is paid

    /// Item 2: a fraud (batch 0) and a one-step decoy on top (batch 1) by the same poster. A shill
    /// removes the decoy first; the honest challenger who removes the fraud gets the stake's
    /// reward, and the shill only its bond back.
    function test_settleSlash_decoyOnFraud_paysEarliestProver_succeeds() public {
        (uint256 decoy,) = tip();
        appendAs(sequencer, dummyRecords(1), bridge.inboxLength(), keccak256("decoy root"));
        uint256 gd = challengeAs(shill, decoy);
        vm.warp(block.timestamp + MOVE_TIMEOUT);
        vm.prank(shill);
        manager.proveStep(gd, mockWitness(keccak256("the decoy's true root")));
        assertEq(rollup.batchCount(), 1, "decoy removed");
        assertEq(rollup.getSlash(0).beneficiary, shill);
        // The fraud below the decoy is still open: the shill cannot be paid yet.
        vm.expectRevert(abi.encodeWithSelector(IRollup.SlashNotSettleable.selector, 0, 1));
        rollup.settleSlash(0);

        uint256 gf = challengeAs(watcher, 0);
        narrowTo(gf, truthMem(), 4);
        vm.warp(block.timestamp + MOVE_TIMEOUT);
        vm.expectEmit(address(rollup));
        emit IRollup.SlashReassigned(0, watcher);
        vm.prank(watcher);
        manager.proveStep(gf, mockWitness(keccak256("the fraud's true root after step 4")));
        assertEq(rollup.batchCount(), 0);
        assertEq(rollup.slashCount(), 1, "the poster had nothing left to slash");

        rollup.settleSlash(0);
        assertEq(manager.credits(watcher), CHALLENGE_BOND + REQUIRED_STAKE / 2);
        assertEq(manager.credits(shill), CHALLENGE_BOND);
        assertEq(address(rollup).balance, 0);
    }

    /// A poster slashed for a decoy that re-stakes and posts a new fraud at the same index: the
    /// earlier reward stays with who earned it, the new stake pays the new fraud's prover.
    function test_settleSlash_restakedPosterEachStakeItsProver_succeeds() public {
        appendAs(sequencer, dummyRecords(1), bridge.inboxLength(), keccak256("decoy root"));
        uint256 g1 = challengeAs(shill, 1);
        vm.warp(block.timestamp + MOVE_TIMEOUT);
        vm.prank(shill);
        manager.proveStep(g1, mockWitness(keccak256("true")));
        stakeFor(sequencer);
        appendAs(sequencer, dummyRecords(1), bridge.inboxLength(), keccak256("second fraud"));
        uint256 g2 = challengeAs(watcher, 1);
        vm.warp(block.timestamp + MOVE_TIMEOUT);
        vm.prank(watcher);
        manager.proveStep(g2, mockWitness(keccak256("true")));
        assertEq(rollup.getSlash(0).beneficiary, shill);
        assertEq(rollup.getSlash(1).beneficiary, watcher);
        vm.warp(periodEnd);
        rollup.finalizeBatches(0);
        rollup.settleSlash(1);
        rollup.settleSlash(0);
        assertEq(manager.credits(shill), CHALLENGE_BOND + REQUIRED_STAKE / 2);
        assertEq(manager.credits(watcher), CHALLENGE_BOND + REQUIRED_STAKE / 2);
        assertEq(rollup.openSlashes().length, 0);
    }

    // ---------------------------------------------------------------------- defence bonds return

    function test_releaseDefence_beforeFinal_reverts() public {
        defendAs(honest, 0);
        vm.prank(honest);
        vm.expectRevert(abi.encodeWithSelector(IChallengeManager.DefenceLocked.selector, 0));
        manager.releaseDefence(1);
    }

    function test_releaseDefence_cascadeRemoved_succeeds() public {
        appendSimple(keccak256("batch 1"));
        defendAs(honest, 1);
        uint256 g0 = challengeAs(watcher, 0);
        vm.warp(block.timestamp + MOVE_TIMEOUT + 1);
        manager.timeout(g0);
        assertEq(rollup.batchCount(), 0);
        vm.prank(honest);
        manager.releaseDefence(2);
        assertEq(manager.credits(honest), CHALLENGE_BOND);
        vm.prank(honest);
        vm.expectRevert(abi.encodeWithSelector(IChallengeManager.NotADefender.selector, honest));
        manager.releaseDefence(2);
    }

    function test_cancelStale_gameOfEliminatedDefender_succeeds() public {
        defendAs(shill, 0);
        uint256 ga = challengeDefenderAs(watcher, 0, shill);
        uint256 gb = challengeDefenderAs(watcher2, 0, shill);
        vm.warp(block.timestamp + MOVE_TIMEOUT + 1);
        manager.timeout(ga);
        assertEq(manager.openGames(1), 0, "the eliminated defender's games left the count");
        vm.expectRevert(abi.encodeWithSelector(IChallengeManager.DefenderEliminated.selector, shill));
        manager.timeout(gb);
        assertTrue(manager.isStale(gb));
        manager.cancelStale(gb);
        assertEq(manager.credits(watcher2), CHALLENGE_BOND);
    }
}
