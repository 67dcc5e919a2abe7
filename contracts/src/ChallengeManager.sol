// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IChallengeManager} from "./interfaces/IChallengeManager.sol";
import {IRollup} from "./interfaces/IRollup.sol";
import {IBridge} from "./interfaces/IBridge.sol";
import {IOneStepProver} from "./interfaces/IOneStepProver.sol";

/// @title ChallengeManager
/// @notice Keel's k-ary dissection game (docs/DESIGN.md §2, docs/protocol.md §9). Anyone bonds
///         `challengeBond` against a batch still in its challenge period; several games may run
///         against one batch, so a colluding challenger cannot shield it. The asserter (the batch's
///         poster) dissects `(lo, hi)` into `s = min(k, hi − lo)` segments, the challenger selects
///         one, until `hi − lo == 1`, when the challenger has the OneStepProver execute step `lo`.
///         Every move must come within `moveTimeout` of the previous one, else the party to move
///         loses (`timeout`).
/// @dev Payouts are pull-based: bonds and slashing rewards are credited and taken with `withdraw`,
///      so no game outcome depends on a recipient accepting ETH. A challenger win makes the Rollup
///      remove the batch and every later one and slash its poster; the challenger is credited its
///      bond plus the Rollup's reward. An asserter win credits the challenger's bond to the asserter.
///      A game whose batch was removed by another game is stale: it cannot be played on, and
///      `cancelStale` returns the bond.
contract ChallengeManager is IChallengeManager {
    /// @inheritdoc IChallengeManager
    IRollup public immutable rollup;
    /// @inheritdoc IChallengeManager
    IBridge public immutable bridge;
    /// @inheritdoc IChallengeManager
    IOneStepProver public immutable prover;
    /// @inheritdoc IChallengeManager
    uint64 public immutable degree;
    /// @inheritdoc IChallengeManager
    uint64 public immutable moveTimeout;
    /// @inheritdoc IChallengeManager
    uint64 public immutable challengePeriod;
    /// @inheritdoc IChallengeManager
    uint256 public immutable challengeBond;
    uint64 private immutable _l2ChainId;
    address private immutable _feeRecipient;

    /// @inheritdoc IChallengeManager
    uint256 public gameCount;
    /// @inheritdoc IChallengeManager
    mapping(uint64 batchId => uint256) public openGames;
    /// @inheritdoc IChallengeManager
    mapping(address account => uint256) public credits;
    mapping(uint256 gameId => Game) private _games;
    mapping(uint256 gameId => bytes32[]) private _roots;

    bool private transient _locked;

    modifier nonReentrant() {
        if (_locked) revert Reentrancy();
        _locked = true;
        _;
        _locked = false;
    }

    /// @notice Deploys the manager for `rollup_`, copying the game parameters from it.
    /// @param rollup_ The Rollup (already deployed; it is wired to this manager by `initialize`).
    /// @param bridge_ The Bridge of `rollup_`.
    /// @param prover_ The OneStepProver.
    constructor(IRollup rollup_, IBridge bridge_, IOneStepProver prover_) {
        if (address(rollup_) == address(0) || address(bridge_) == address(0) || address(prover_) == address(0)) {
            revert ZeroAddress();
        }
        rollup = rollup_;
        bridge = bridge_;
        prover = prover_;
        degree = rollup_.degree();
        moveTimeout = rollup_.moveTimeout();
        challengePeriod = rollup_.challengePeriod();
        challengeBond = rollup_.challengeBond();
        _l2ChainId = rollup_.l2ChainId();
        _feeRecipient = rollup_.feeRecipient();
    }

    /// @notice Receives slashing rewards from the rollup (credited to the winning challenger).
    receive() external payable {
        if (msg.sender != address(rollup)) revert NotRollup();
    }

    /// @inheritdoc IChallengeManager
    function challenge(uint256 batchIndex) external payable returns (uint256 gameId) {
        if (msg.value != challengeBond) revert WrongBond(msg.value, challengeBond);
        if (batchIndex >= rollup.batchCount()) revert NoSuchBatch(batchIndex);
        IRollup.Batch memory b = rollup.getBatch(batchIndex);
        uint256 periodEnd = uint256(b.timestamp) + challengePeriod;
        // forge-lint: disable-next-line(block-timestamp)
        if (block.timestamp >= periodEnd) revert ChallengePeriodOver(batchIndex, periodEnd);

        uint64 steps = (b.inboxEnd - b.inboxStart) + b.txCount;
        uint64 deadline = uint64(block.timestamp) + moveTimeout;
        gameId = gameCount++;
        // forge-lint: disable-next-item(unsafe-typecast)
        _games[gameId] = Game({
            asserter: b.poster,
            batchIndex: uint64(batchIndex),
            challenger: msg.sender,
            batchId: b.id,
            // A one-step batch has nothing to dissect: the challenger proves step 0 at once.
            status: steps == 1 ? Status.ChallengerTurn : Status.AsserterTurn,
            deadline: deadline,
            lo: 0,
            hi: steps,
            rootLo: b.preStateRoot,
            rootHi: b.postStateRoot
        });
        ++openGames[b.id];
        emit GameStarted(
            gameId, batchIndex, msg.sender, b.id, b.poster, steps, b.preStateRoot, b.postStateRoot, deadline
        );
    }

    /// @inheritdoc IChallengeManager
    function dissect(uint256 gameId, bytes32[] calldata roots) external {
        Game storage g = _move(gameId, Status.AsserterTurn);
        if (msg.sender != g.asserter) revert NotYourMove();
        uint256 lo = g.lo;
        uint256 hi = g.hi;
        uint256 s = _segments(lo, hi);
        if (roots.length != s - 1) revert WrongRootCount(roots.length, s - 1);

        _roots[gameId] = roots;
        uint64 deadline = uint64(block.timestamp) + moveTimeout;
        g.status = Status.ChallengerTurn;
        g.deadline = deadline;
        emit Dissected(gameId, lo, hi, roots, deadline);
    }

    /// @inheritdoc IChallengeManager
    function select(uint256 gameId, uint256 segment) external {
        Game storage g = _move(gameId, Status.ChallengerTurn);
        if (msg.sender != g.challenger) revert NotYourMove();
        uint256 lo = g.lo;
        uint256 hi = g.hi;
        if (hi - lo < 2) revert WrongRange(lo, hi);
        uint256 s = _segments(lo, hi);
        if (segment >= s) revert NoSuchSegment(segment, s);

        bytes32[] storage roots = _roots[gameId];
        uint256 newLo = lo + segment * (hi - lo) / s;
        uint256 newHi = lo + (segment + 1) * (hi - lo) / s;
        bytes32 rootLo = segment == 0 ? g.rootLo : roots[segment - 1];
        bytes32 rootHi = segment == s - 1 ? g.rootHi : roots[segment];
        uint64 deadline = uint64(block.timestamp) + moveTimeout;

        // forge-lint: disable-start(unsafe-typecast)
        g.lo = uint64(newLo); // lo ≤ newLo < newHi ≤ hi, both uint64
        g.hi = uint64(newHi);
        // forge-lint: disable-end(unsafe-typecast)
        g.rootLo = rootLo;
        g.rootHi = rootHi;
        // After narrowing to one step the challenger moves again: it must prove that step.
        g.status = newHi - newLo == 1 ? Status.ChallengerTurn : Status.AsserterTurn;
        g.deadline = deadline;
        emit Selected(gameId, segment, newLo, newHi, rootLo, rootHi, deadline);
    }

    /// @inheritdoc IChallengeManager
    function proveStep(uint256 gameId, bytes calldata witness) external nonReentrant {
        Game storage g = _move(gameId, Status.ChallengerTurn);
        if (msg.sender != g.challenger) revert NotYourMove();
        uint256 step = g.lo;
        if (g.hi - step != 1) revert WrongRange(step, g.hi);

        IRollup.Batch memory b = rollup.getBatch(g.batchIndex);
        IOneStepProver.StepContext memory context;
        uint256 inboxSteps = b.inboxEnd - b.inboxStart;
        if (step < inboxSteps) {
            context.isInbox = true;
            context.entryHash = bridge.entryHash(b.inboxStart + step);
        } else {
            context.txRoot = b.txRoot;
            context.recordIndex = step - inboxSteps;
            context.recordCount = b.txCount;
        }
        IOneStepProver.ChainConfig memory config =
            IOneStepProver.ChainConfig({l2ChainId: _l2ChainId, rollup: address(rollup), feeRecipient: _feeRecipient});
        // A witness the prover rejects reverts here; the challenger may retry before the deadline.
        bytes32 rootAfter = prover.proveStep(config, g.rootLo, context, witness);
        bytes32 claimed = g.rootHi;
        emit StepProven(gameId, step, rootAfter, claimed);
        if (rootAfter != claimed) {
            _challengerWins(gameId, g, Reason.StepProven);
        } else {
            _asserterWins(gameId, g, Reason.StepProven);
        }
    }

    /// @inheritdoc IChallengeManager
    function timeout(uint256 gameId) external nonReentrant {
        Game storage g = _existing(gameId);
        Status status = g.status;
        if (status != Status.AsserterTurn && status != Status.ChallengerTurn) revert WrongStatus(status);
        // forge-lint: disable-next-line(block-timestamp)
        if (block.timestamp <= g.deadline) revert DeadlineNotPassed(g.deadline);
        if (!rollup.isCurrent(g.batchIndex, g.batchId)) revert BatchRemoved();
        if (status == Status.AsserterTurn) {
            _challengerWins(gameId, g, Reason.AsserterTimedOut);
        } else {
            _asserterWins(gameId, g, Reason.ChallengerTimedOut);
        }
    }

    /// @inheritdoc IChallengeManager
    function cancelStale(uint256 gameId) external {
        Game storage g = _existing(gameId);
        Status status = g.status;
        if (status != Status.AsserterTurn && status != Status.ChallengerTurn) revert WrongStatus(status);
        if (rollup.isCurrent(g.batchIndex, g.batchId)) revert BatchNotRemoved();
        g.status = Status.Cancelled;
        --openGames[g.batchId];
        address challenger = g.challenger;
        _credit(challenger, challengeBond);
        emit GameEnded(gameId, Status.Cancelled, Reason.BatchRemoved, challenger);
    }

    /// @inheritdoc IChallengeManager
    function withdraw() external nonReentrant {
        uint256 amount = credits[msg.sender];
        if (amount == 0) revert NothingToWithdraw();
        credits[msg.sender] = 0;
        emit Withdrawn(msg.sender, amount);
        (bool ok,) = msg.sender.call{value: amount}("");
        if (!ok) revert TransferFailed();
    }

    /// @inheritdoc IChallengeManager
    function getGame(uint256 gameId) external view returns (Game memory) {
        return _existing(gameId);
    }

    /// @inheritdoc IChallengeManager
    function dissectionRoots(uint256 gameId) external view returns (bytes32[] memory) {
        _existing(gameId);
        return _roots[gameId];
    }

    /// @inheritdoc IChallengeManager
    function dissectionPoints(uint256 lo, uint256 hi) external view returns (uint256[] memory points) {
        if (hi < lo || hi - lo < 2) revert WrongRange(lo, hi);
        uint256 s = _segments(lo, hi);
        points = new uint256[](s - 1);
        for (uint256 i = 1; i < s; ++i) {
            points[i - 1] = lo + i * (hi - lo) / s;
        }
    }

    /// @inheritdoc IChallengeManager
    function isStale(uint256 gameId) external view returns (bool) {
        Game storage g = _existing(gameId);
        return !rollup.isCurrent(g.batchIndex, g.batchId);
    }

    /// @dev The game, which must be in `status`, before its deadline, on a batch still there.
    function _move(uint256 gameId, Status status) private view returns (Game storage g) {
        g = _existing(gameId);
        if (g.status != status) revert WrongStatus(g.status);
        // forge-lint: disable-next-line(block-timestamp)
        if (block.timestamp > g.deadline) revert DeadlinePassed(g.deadline);
        if (!rollup.isCurrent(g.batchIndex, g.batchId)) revert BatchRemoved();
    }

    function _existing(uint256 gameId) private view returns (Game storage) {
        if (gameId >= gameCount) revert NoSuchGame(gameId);
        return _games[gameId];
    }

    /// @dev `s = min(k, hi − lo)`; callers guarantee `hi − lo ≥ 2` (an asserter's turn always has it).
    function _segments(uint256 lo, uint256 hi) private view returns (uint256) {
        uint256 span = hi - lo;
        return span < degree ? span : degree;
    }

    function _challengerWins(uint256 gameId, Game storage g, Reason reason) private {
        g.status = Status.ChallengerWon;
        uint64 batchId = g.batchId;
        --openGames[batchId];
        address challenger = g.challenger;
        // The rollup removes the batches, slashes the poster and sends `reward` wei here.
        uint256 reward = rollup.rejectBatch(g.batchIndex, batchId, challenger);
        _credit(challenger, challengeBond + reward);
        emit GameEnded(gameId, Status.ChallengerWon, reason, challenger);
    }

    function _asserterWins(uint256 gameId, Game storage g, Reason reason) private {
        g.status = Status.AsserterWon;
        --openGames[g.batchId];
        address asserter = g.asserter;
        _credit(asserter, challengeBond);
        emit GameEnded(gameId, Status.AsserterWon, reason, asserter);
    }

    function _credit(address account, uint256 amount) private {
        credits[account] += amount;
        emit Credited(account, amount);
    }
}
