// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IRollup} from "./IRollup.sol";
import {IBridge} from "./IBridge.sol";
import {IOneStepProver} from "./IOneStepProver.sol";

/// @title IChallengeManager
/// @notice Keel's dispute game (docs/DESIGN.md §2, docs/protocol.md §13): a batch is defended by
///         its poster and by anyone who bonds to defend it; a challenger bonds per game against one
///         defender; in each game the defender (the asserter) dissects, the challenger selects,
///         until one step is left, which the OneStepProver executes. A batch is removed only when
///         every defender lost a game.
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

    /// @notice Where a defender of a batch stands. The poster has no record (`None`): it defends
    ///         by its stake until it loses a game (`Defence.posterEliminated`).
    enum DefenderStatus {
        None,
        Active,
        Eliminated,
        Released
    }

    /// @notice The defence of one batch (by id).
    /// @param batchIndex The batch's index (set by its first challenge or join).
    /// @param lastChallenge When its latest game started (zero: none).
    /// @param lastEarlyChallenge When its latest game started within the challenge period (zero: none).
    /// @param lastJoin When its latest bonded defender joined (zero: none).
    /// @param bondedDefenders How many bonded defenders still stand.
    /// @param posterEliminated Whether the poster lost a game on it.
    /// @param posterBeatenBy Who beat the poster: the beneficiary of the poster's slashed stake if
    ///        the batch is removed.
    struct Defence {
        uint64 batchIndex;
        uint64 lastChallenge;
        uint64 lastEarlyChallenge;
        uint64 lastJoin;
        uint32 bondedDefenders;
        bool posterEliminated;
        address posterBeatenBy;
    }

    /// @notice A game (laid out in five storage slots).
    /// @param asserter The defender this game is against: the batch's poster or a bonded defender.
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
    /// @notice `defender` bonded to defend batch `batchIndex` (id `batchId`); it can be challenged
    ///         until `challengeableUntil`.
    event DefenderJoined(
        uint256 indexed batchIndex, uint64 indexed batchId, address indexed defender, uint256 challengeableUntil
    );
    /// @notice `defender` lost a game to `challenger` and no longer defends the batch; its
    ///         `otherGames` other open games are void (cancel them with `cancelStale`).
    event DefenderOut(
        uint256 indexed batchIndex,
        uint64 indexed batchId,
        address indexed defender,
        address challenger,
        uint256 otherGames
    );
    /// @notice Every defender of the batch lost: the Rollup removed it (and every later batch)
    ///         and slashed its poster for `beneficiary`, the challenger that beat the poster.
    event DefeatedBatchRemoved(uint256 indexed batchIndex, uint64 indexed batchId, address beneficiary);
    /// @notice A bonded defender took its bond back (the batch is final or was removed by an
    ///         earlier batch's removal).
    event DefenceReleased(uint256 indexed batchIndex, uint64 indexed batchId, address indexed defender);
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
    /// @notice `defender` already defends the batch (the poster always does).
    error AlreadyDefending(address defender);
    /// @notice Defenders could join batch `batchIndex` until `closedAt`.
    error DefenceClosed(uint256 batchIndex, uint256 closedAt);
    /// @notice Every defender of batch `batchIndex` lost and its defence window passed: it can
    ///         only be removed (`removeDefeated`).
    error BatchDefeated(uint256 batchIndex);
    /// @notice `account` does not (or no longer) defend the batch.
    error NotADefender(address account);
    /// @notice Batch `batchIndex` still has a defender.
    error BatchDefended(uint256 batchIndex);
    /// @notice Defenders may join batch `batchIndex` until `windowEnd`; it cannot be removed before.
    error DefenceWindowOpen(uint256 batchIndex, uint256 windowEnd);
    /// @notice Batch `batchIndex` is neither final nor removed: the defence bond stays.
    error DefenceLocked(uint256 batchIndex);
    /// @notice The game's defender lost another game; close this one with `cancelStale`.
    error DefenderEliminated(address defender);

    /// @notice Bonds (`msg.value == challengeBond`) to defend batch `batchIndex`: the caller can
    ///         then be challenged, answers its own games, wins the bond of every challenger it
    ///         beats, loses its bond to the first that beats it, and takes it back with
    ///         `releaseDefence` once the batch is final. Open during the challenge period and
    ///         within `moveTimeout` of any game started during it.
    /// @param batchIndex The batch to defend.
    function defend(uint256 batchIndex) external payable;

    /// @notice Starts a game against `defender` of batch `batchIndex`; `msg.value` must be the
    ///         challenge bond. The poster can be challenged during the challenge period, a bonded
    ///         defender also until `moveTimeout` after it joined. Any number of games may run.
    /// @param batchIndex The batch disputed.
    /// @param defender Its poster or one of its standing bonded defenders.
    /// @return gameId The new game.
    function challenge(uint256 batchIndex, address defender) external payable returns (uint256 gameId);

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

    /// @notice Anyone removes batch `batchIndex` once every defender of it lost and `moveTimeout`
    ///         has passed since its latest challenge (a game's last win removes it at once when
    ///         that window has already passed).
    /// @param batchIndex The defeated batch.
    function removeDefeated(uint256 batchIndex) external;

    /// @notice A standing bonded defender of the batch with id `batchId` takes its bond back
    ///         (credited) once the batch is final or was removed by an earlier batch's removal.
    /// @param batchId The batch's id.
    function releaseDefence(uint64 batchId) external;

    /// @notice Credits `msg.value` to `beneficiary`: a slashing reward paid by the Rollup.
    /// @param beneficiary Who proved the batch wrong.
    function creditReward(address beneficiary) external payable;

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
    /// @notice Whether game `gameId` can no longer be played: its batch was removed or its
    ///         defender lost another game.
    function isStale(uint256 gameId) external view returns (bool);
    /// @notice Whether the dispute over the batch with id `batchId` (challenge period ending at
    ///         `periodEnd`) is over with the batch standing: no game open, a defender standing, and
    ///         no defender may join nor game start any more. The Rollup finalizes only then.
    function isSettled(uint64 batchId, uint256 periodEnd) external view returns (bool);
    /// @notice The defence of the batch with id `batchId`.
    function getDefence(uint64 batchId) external view returns (Defence memory);
    /// @notice Where `defender` stands in the defence of the batch with id `batchId`.
    function defenderStatus(uint64 batchId, address defender) external view returns (DefenderStatus);
}
