// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IRollup} from "./IRollup.sol";
import {IBridge} from "./IBridge.sol";
import {IOneStepProver} from "./IOneStepProver.sol";

/// @title IChallengeManager
/// @notice Keel's k-ary dissection game (docs/DESIGN.md §2, docs/protocol.md §9): a challenger
///         bonds against a batch, the asserter (its poster) dissects, the challenger selects,
///         until one step is left, which the OneStepProver executes.
interface IChallengeManager {
    /// @notice Where a game stands.
    /// @dev `AsserterTurn`: the asserter must dissect. `ChallengerTurn`: the challenger must select
    ///      (`hi − lo ≥ 2`) or prove step `lo` (`hi − lo == 1`).
    enum Status {
        None,
        AsserterTurn,
        ChallengerTurn,
        AsserterWon,
        ChallengerWon,
        Cancelled
    }

    /// @notice A game (laid out in five storage slots).
    /// @param asserter The batch's poster.
    /// @param batchIndex The challenged batch.
    /// @param challenger Who bonded (`challengeBond` wei).
    /// @param batchId The batch's id: the game is stale once the batch at `batchIndex` no longer has it.
    /// @param status Whose turn it is, or how it ended.
    /// @param deadline The last second at which the party to move may move.
    /// @param lo The agreed step count: both agree on `rootLo` after `lo` steps.
    /// @param hi The disputed step count: the asserter claims `rootHi` after `hi` steps.
    /// @param rootLo The root after `lo` steps.
    /// @param rootHi The asserter's root after `hi` steps.
    struct Game {
        address asserter;
        uint64 batchIndex;
        address challenger;
        uint64 batchId;
        Status status;
        uint64 deadline;
        uint64 lo;
        uint64 hi;
        bytes32 rootLo;
        bytes32 rootHi;
    }

    /// @notice How a game ended.
    enum Reason {
        StepProven,
        AsserterTimedOut,
        ChallengerTimedOut,
        BatchRemoved
    }

    /// @notice A game started over steps `[0, steps)` of batch `batchIndex`.
    event GameStarted(
        uint256 indexed gameId,
        uint256 indexed batchIndex,
        address indexed challenger,
        uint64 batchId,
        address asserter,
        uint256 steps,
        bytes32 rootLo,
        bytes32 rootHi,
        uint256 deadline
    );
    /// @notice The asserter posted `roots` at the dissection points of `(lo, hi)`.
    event Dissected(uint256 indexed gameId, uint256 lo, uint256 hi, bytes32[] roots, uint256 deadline);
    /// @notice The challenger selected `segment`; the game continues over `(lo, hi)`.
    event Selected(
        uint256 indexed gameId,
        uint256 segment,
        uint256 lo,
        uint256 hi,
        bytes32 rootLo,
        bytes32 rootHi,
        uint256 deadline
    );
    /// @notice The OneStepProver executed step `step` from `rootLo` and got `rootAfter`.
    event StepProven(uint256 indexed gameId, uint256 step, bytes32 rootAfter, bytes32 claimedRoot);
    /// @notice Game `gameId` ended with `status` (AsserterWon, ChallengerWon or Cancelled).
    event GameEnded(uint256 indexed gameId, Status status, Reason reason, address indexed winner);
    /// @notice `amount` wei were credited to `account` (withdraw with `withdraw()`).
    event Credited(address indexed account, uint256 amount);
    /// @notice `account` withdrew `amount` wei.
    event Withdrawn(address indexed account, uint256 amount);

    /// @notice A zero address in the constructor.
    error ZeroAddress();
    /// @notice `msg.value` is not the challenge bond.
    error WrongBond(uint256 sent, uint256 required);
    /// @notice There is no batch at `index`.
    error NoSuchBatch(uint256 index);
    /// @notice The batch's challenge period ended at `deadline`.
    error ChallengePeriodOver(uint256 batchIndex, uint256 deadline);
    /// @notice There is no game `gameId`.
    error NoSuchGame(uint256 gameId);
    /// @notice The game is not in the status the move needs.
    error WrongStatus(Status status);
    /// @notice The caller is not the party this move belongs to.
    error NotYourMove();
    /// @notice The deadline `deadline` has passed.
    error DeadlinePassed(uint256 deadline);
    /// @notice The deadline `deadline` has not passed yet.
    error DeadlineNotPassed(uint256 deadline);
    /// @notice `dissect` got `got` roots but needs `expected`.
    error WrongRootCount(uint256 got, uint256 expected);
    /// @notice Segment `segment` does not exist; there are `segments`.
    error NoSuchSegment(uint256 segment, uint256 segments);
    /// @notice `select` needs `hi − lo ≥ 2`, `proveStep` needs `hi − lo == 1`.
    error WrongRange(uint256 lo, uint256 hi);
    /// @notice The game's batch was removed; close it with `cancelStale`.
    error BatchRemoved();
    /// @notice The game's batch is still there.
    error BatchNotRemoved();
    /// @notice Nothing to withdraw.
    error NothingToWithdraw();
    /// @notice The ETH transfer failed.
    error TransferFailed();
    /// @notice ETH sent by someone other than the rollup.
    error NotRollup();
    /// @notice Reentrant call.
    error Reentrancy();

    /// @notice Starts a game against batch `batchIndex`; `msg.value` must be the challenge bond.
    ///         Several games may run against one batch.
    /// @param batchIndex The batch disputed (before the end of its challenge period).
    /// @return gameId The new game.
    function challenge(uint256 batchIndex) external payable returns (uint256 gameId);

    /// @notice The asserter posts the roots at the dissection points of `(lo, hi)`:
    ///         `p_i = lo + floor(i·(hi − lo)/s)` for `i = 1 … s − 1`, `s = min(k, hi − lo)`.
    /// @param gameId The game.
    /// @param roots The `s − 1` roots, in order.
    function dissect(uint256 gameId, bytes32[] calldata roots) external;

    /// @notice The challenger picks the segment `[p_j, p_{j+1}]` whose start root it agrees with and
    ///         whose end root it disputes.
    /// @param gameId The game.
    /// @param segment `j`, with `0 ≤ j < s`.
    function select(uint256 gameId, uint256 segment) external;

    /// @notice The challenger proves step `lo` once `hi − lo == 1`: the OneStepProver executes it
    ///         from `rootLo`; a result other than `rootHi` wins the game for the challenger, else the
    ///         asserter wins. A witness the prover rejects reverts (the challenger may retry).
    /// @param gameId The game.
    /// @param witness `abi.encode(StepWitness)` (docs/protocol.md §8).
    function proveStep(uint256 gameId, bytes calldata witness) external;

    /// @notice Anyone ends a game whose party to move missed its deadline: that party loses.
    /// @param gameId The game.
    function timeout(uint256 gameId) external;

    /// @notice Anyone closes an open game whose batch was removed meanwhile; the bond is returned.
    /// @param gameId The game.
    function cancelStale(uint256 gameId) external;

    /// @notice Pays the caller everything credited to it (bonds won or returned, slashing rewards).
    function withdraw() external;

    /// @notice The rollup.
    function rollup() external view returns (IRollup);
    /// @notice The bridge (source of inbox entry hashes).
    function bridge() external view returns (IBridge);
    /// @notice The one-step prover.
    function prover() external view returns (IOneStepProver);
    /// @notice The dissection degree k (copied from the rollup at deployment).
    function degree() external view returns (uint64);
    /// @notice Seconds per move (copied from the rollup at deployment).
    function moveTimeout() external view returns (uint64);
    /// @notice The challenge period in seconds (copied from the rollup at deployment).
    function challengePeriod() external view returns (uint64);
    /// @notice The bond per game in wei (copied from the rollup at deployment).
    function challengeBond() external view returns (uint256);
    /// @notice The number of games ever started (ids are `0 … gameCount() − 1`).
    function gameCount() external view returns (uint256);
    /// @notice Game `gameId`. Reverts if there is none.
    function getGame(uint256 gameId) external view returns (Game memory);
    /// @notice The roots of the game's last dissection (empty before the first).
    function dissectionRoots(uint256 gameId) external view returns (bytes32[] memory);
    /// @notice The interior points of a dissection of `(lo, hi)` with this manager's degree.
    function dissectionPoints(uint256 lo, uint256 hi) external view returns (uint256[] memory);
    /// @notice The number of games still open against the batch with id `batchId`.
    function openGames(uint64 batchId) external view returns (uint256);
    /// @notice Wei credited to `account`, to be withdrawn.
    function credits(address account) external view returns (uint256);
    /// @notice Whether game `gameId`'s batch was removed.
    function isStale(uint256 gameId) external view returns (bool);
}
