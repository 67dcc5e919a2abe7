// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IChallengeManager} from "./interfaces/IChallengeManager.sol";
import {IRollup} from "./interfaces/IRollup.sol";
import {IBridge} from "./interfaces/IBridge.sol";
import {IOneStepProver} from "./interfaces/IOneStepProver.sol";

/// @title ChallengeManager
/// @notice Keel's dispute game (docs/DESIGN.md §2, docs/protocol.md §13). A batch is defended by
///         its poster (by its stake) and by anyone else who bonds `challengeBond` with `defend`;
///         a challenger bonds `challengeBond` per game against one defender of one batch. Each
///         game is a k-ary dissection between the two: the defender (the game's asserter)
///         dissects `(lo, hi)` into `s = min(k, hi − lo)` segments, the challenger selects one,
///         until `hi − lo == 1`, when the challenger has the OneStepProver execute step `lo`.
///         Every move must come within `moveTimeout` of the previous one, else the party to move
///         loses (`timeout`).
/// @dev Why pairwise games: a defender's dissection commits only that defender, so a party that
///      defends badly (or not at all) loses only its own place, never another defender's. A
///      defender that loses a game is eliminated (its other games end, their bonds returned);
///      the batch is removed only once every defender is eliminated and `moveTimeout` has passed
///      since the latest challenge against it (the window in which anybody who agrees with the
///      batch may still join its defence). So a correct batch with one honest defender is never
///      removed: the honest defender wins every one-step proof and never misses a deadline.
///
///      Time is bounded for everybody: the poster may be challenged during the challenge period,
///      defenders may join during it and within `moveTimeout` of a challenge started during it,
///      and a defender may be challenged until `moveTimeout` after it joined. So every game on a
///      batch starts before `periodEnd + 2·moveTimeout`, lasts at most `2·⌈log_k n⌉ + 1` moves,
///      and the batch is final by `periodEnd + (2·⌈log_k n⌉ + 3)·moveTimeout` whoever plays.
///
///      Payouts are pull-based (`withdraw`). A challenger that eliminates a bonded defender is
///      credited both bonds; one that eliminates the poster gets its bond back and becomes the
///      beneficiary of the poster's slashed stake if the batch is removed (the Rollup escrows
///      that reward until the earlier batches are final, so it goes to whoever proves the
///      earliest wrong batch wrong). A defender that wins a game is credited the challenger's
///      bond; a bonded defender still standing when the batch is final or removed by another
///      batch's removal takes its bond back with `releaseDefence`.
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

    /// @dev One defender of one batch: its state, when it joined (zero for the poster) and how
    ///      many of its games are open.
    struct DefenderRecord {
        DefenderStatus status;
        uint64 joinedAt;
        uint64 openGames;
    }

    /// @inheritdoc IChallengeManager
    uint256 public gameCount;
    /// @inheritdoc IChallengeManager
    mapping(uint64 batchId => uint256) public openGames;
    /// @inheritdoc IChallengeManager
    mapping(address account => uint256) public credits;
    mapping(uint256 gameId => Game) private _games;
    mapping(uint256 gameId => bytes32[]) private _roots;
    mapping(uint64 batchId => Defence) private _defences;
    mapping(uint64 batchId => mapping(address defender => DefenderRecord)) private _defenders;

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

    /// @inheritdoc IChallengeManager
    function creditReward(address beneficiary) external payable {
        if (msg.sender != address(rollup)) revert NotRollup();
        _credit(beneficiary, msg.value);
    }

    /// @inheritdoc IChallengeManager
    function defend(uint256 batchIndex) external payable {
        if (msg.value != challengeBond) revert WrongBond(msg.value, challengeBond);
        IRollup.Batch memory b = _batch(batchIndex);
        if (msg.sender == b.poster) revert AlreadyDefending(msg.sender);
        DefenderRecord storage d = _defenders[b.id][msg.sender];
        if (d.status != DefenderStatus.None) revert AlreadyDefending(msg.sender);
        Defence storage f = _defences[b.id];
        uint256 now_ = block.timestamp;
        uint256 closes = _joinClosesAt(f, _periodEnd(b));
        if (now_ >= closes) revert DefenceClosed(batchIndex, closes);
        // A batch whose last defender fell and whose window has passed is removable: joining now
        // would only race its removal.
        if (_activeDefenders(f) == 0 && now_ >= uint256(f.lastChallenge) + moveTimeout) {
            revert BatchDefeated(batchIndex);
        }
        // forge-lint: disable-start(unsafe-typecast)
        d.status = DefenderStatus.Active;
        d.joinedAt = uint64(now_);
        f.batchIndex = uint64(batchIndex);
        f.bondedDefenders += 1;
        f.lastJoin = uint64(now_);
        // forge-lint: disable-end(unsafe-typecast)
        uint256 challengeableUntil = _max(_periodEnd(b), now_ + moveTimeout);
        emit DefenderJoined(batchIndex, b.id, msg.sender, challengeableUntil);
    }

    /// @inheritdoc IChallengeManager
    function challenge(uint256 batchIndex, address defender) external payable returns (uint256 gameId) {
        if (msg.value != challengeBond) revert WrongBond(msg.value, challengeBond);
        IRollup.Batch memory b = _batch(batchIndex);
        Defence storage f = _defences[b.id];
        uint256 periodEnd = _periodEnd(b);
        uint256 closes;
        if (defender == b.poster) {
            if (f.posterEliminated) revert NotADefender(defender);
            closes = periodEnd;
        } else {
            DefenderRecord storage r = _defenders[b.id][defender];
            if (r.status != DefenderStatus.Active) revert NotADefender(defender);
            closes = _max(periodEnd, uint256(r.joinedAt) + moveTimeout);
        }
        // forge-lint: disable-next-line(block-timestamp)
        if (block.timestamp >= closes) revert ChallengePeriodOver(batchIndex, closes);

        uint64 steps = (b.inboxEnd - b.inboxStart) + b.txCount;
        uint64 now_ = uint64(block.timestamp);
        uint64 deadline = now_ + moveTimeout;
        gameId = gameCount++;
        // forge-lint: disable-next-item(unsafe-typecast)
        _games[gameId] = Game({
            asserter: defender,
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
        ++_defenders[b.id][defender].openGames;
        // forge-lint: disable-next-line(unsafe-typecast)
        f.batchIndex = uint64(batchIndex);
        f.lastChallenge = now_;
        if (now_ < periodEnd) f.lastEarlyChallenge = now_;
        emit GameStarted(
            gameId, batchIndex, msg.sender, b.id, defender, steps, b.preStateRoot, b.postStateRoot, deadline
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
        _checkLive(g);
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
        if (_isLive(g)) revert BatchNotRemoved();
        // Not counted in `openGames` any more: the batch is gone, or its defender's elimination
        // took all of that defender's games off the count.
        g.status = Status.Cancelled;
        address challenger = g.challenger;
        _credit(challenger, challengeBond);
        emit GameEnded(gameId, Status.Cancelled, Reason.BatchRemoved, challenger);
    }

    /// @inheritdoc IChallengeManager
    function removeDefeated(uint256 batchIndex) external nonReentrant {
        IRollup.Batch memory b = _batch(batchIndex);
        Defence storage f = _defences[b.id];
        if (_activeDefenders(f) != 0) revert BatchDefended(batchIndex);
        uint256 windowEnd = uint256(f.lastChallenge) + moveTimeout;
        // forge-lint: disable-next-line(block-timestamp)
        if (block.timestamp < windowEnd) revert DefenceWindowOpen(batchIndex, windowEnd);
        _remove(batchIndex, b.id, f);
    }

    /// @inheritdoc IChallengeManager
    function releaseDefence(uint64 batchId) external {
        DefenderRecord storage d = _defenders[batchId][msg.sender];
        if (d.status != DefenderStatus.Active) revert NotADefender(msg.sender);
        uint256 index = _defences[batchId].batchIndex;
        if (rollup.isCurrent(index, batchId) && !rollup.isFinal(index)) revert DefenceLocked(index);
        d.status = DefenderStatus.Released;
        _credit(msg.sender, challengeBond);
        emit DefenceReleased(index, batchId, msg.sender);
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
    function isSettled(uint64 batchId, uint256 periodEnd) external view returns (bool) {
        if (openGames[batchId] != 0) return false;
        Defence storage f = _defences[batchId];
        if (_activeDefenders(f) == 0) return false;
        // forge-lint: disable-next-line(block-timestamp)
        return block.timestamp >= _settlesAt(f, periodEnd);
    }

    /// @inheritdoc IChallengeManager
    function getDefence(uint64 batchId) external view returns (Defence memory) {
        return _defences[batchId];
    }

    /// @inheritdoc IChallengeManager
    function defenderStatus(uint64 batchId, address defender) external view returns (DefenderStatus) {
        return _defenders[batchId][defender].status;
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
        return !_isLive(_existing(gameId));
    }

    /// @dev The game, which must be in `status`, before its deadline, still live.
    function _move(uint256 gameId, Status status) private view returns (Game storage g) {
        g = _existing(gameId);
        if (g.status != status) revert WrongStatus(g.status);
        // forge-lint: disable-next-line(block-timestamp)
        if (block.timestamp > g.deadline) revert DeadlinePassed(g.deadline);
        _checkLive(g);
    }

    function _existing(uint256 gameId) private view returns (Game storage) {
        if (gameId >= gameCount) revert NoSuchGame(gameId);
        return _games[gameId];
    }

    /// @dev Batch `index`, which must exist.
    function _batch(uint256 index) private view returns (IRollup.Batch memory) {
        if (index >= rollup.batchCount()) revert NoSuchBatch(index);
        return rollup.getBatch(index);
    }

    /// @dev A game is live while its batch is current and its defender still stands.
    function _isLive(Game storage g) private view returns (bool) {
        return rollup.isCurrent(g.batchIndex, g.batchId) && _stands(g.batchId, g.asserter);
    }

    function _checkLive(Game storage g) private view {
        if (!rollup.isCurrent(g.batchIndex, g.batchId)) revert BatchRemoved();
        if (!_stands(g.batchId, g.asserter)) revert DefenderEliminated(g.asserter);
    }

    /// @dev Whether `defender` still defends the batch: a bonded defender until it loses, the
    ///      poster (who has no record) until it loses.
    function _stands(uint64 batchId, address defender) private view returns (bool) {
        DefenderStatus status = _defenders[batchId][defender].status;
        if (status == DefenderStatus.None) return !_defences[batchId].posterEliminated;
        return status == DefenderStatus.Active;
    }

    function _activeDefenders(Defence storage f) private view returns (uint256) {
        return uint256(f.bondedDefenders) + (f.posterEliminated ? 0 : 1);
    }

    function _periodEnd(IRollup.Batch memory b) private view returns (uint256) {
        return uint256(b.timestamp) + challengePeriod;
    }

    /// @dev Defenders may join during the challenge period and within `moveTimeout` of a game
    ///      started during it (one started later, against a late defender, does not extend it:
    ///      else joins and challenges could extend each other forever).
    function _joinClosesAt(Defence storage f, uint256 periodEnd) private view returns (uint256) {
        if (f.lastEarlyChallenge == 0) return periodEnd;
        return _max(periodEnd, uint256(f.lastEarlyChallenge) + moveTimeout);
    }

    /// @dev From when no defender can join and no game can start any more.
    function _settlesAt(Defence storage f, uint256 periodEnd) private view returns (uint256) {
        uint256 joins = _joinClosesAt(f, periodEnd);
        uint256 lastJoin = f.lastJoin;
        return lastJoin == 0 ? joins : _max(joins, lastJoin + moveTimeout);
    }

    function _max(uint256 a, uint256 b) private pure returns (uint256) {
        return a > b ? a : b;
    }

    /// @dev `s = min(k, hi − lo)`; callers guarantee `hi − lo ≥ 2` (an asserter's turn always has it).
    function _segments(uint256 lo, uint256 hi) private view returns (uint256) {
        uint256 span = hi - lo;
        return span < degree ? span : degree;
    }

    /// @dev The defender lost: it is eliminated, its other games leave the count (they are
    ///      cancelled with their bonds returned), and the batch goes once nobody defends it and
    ///      the defence window after the latest challenge has passed.
    function _challengerWins(uint256 gameId, Game storage g, Reason reason) private {
        g.status = Status.ChallengerWon;
        uint64 batchId = g.batchId;
        address challenger = g.challenger;
        address defender = g.asserter;
        DefenderRecord storage d = _defenders[batchId][defender];
        Defence storage f = _defences[batchId];
        uint256 others = d.openGames - 1;
        openGames[batchId] -= others + 1;
        d.openGames = 0;
        if (d.status == DefenderStatus.None) {
            // The poster: defended by its stake, which the Rollup slashes if the batch goes.
            f.posterEliminated = true;
            f.posterBeatenBy = challenger;
            _credit(challenger, challengeBond);
        } else {
            d.status = DefenderStatus.Eliminated;
            f.bondedDefenders -= 1;
            _credit(challenger, 2 * challengeBond);
        }
        emit DefenderOut(g.batchIndex, batchId, defender, challenger, others);
        emit GameEnded(gameId, Status.ChallengerWon, reason, challenger);
        // forge-lint: disable-next-line(block-timestamp)
        if (_activeDefenders(f) == 0 && block.timestamp >= uint256(f.lastChallenge) + moveTimeout) {
            _remove(g.batchIndex, batchId, f);
        }
    }

    function _asserterWins(uint256 gameId, Game storage g, Reason reason) private {
        g.status = Status.AsserterWon;
        uint64 batchId = g.batchId;
        address asserter = g.asserter;
        --openGames[batchId];
        --_defenders[batchId][asserter].openGames;
        _credit(asserter, challengeBond);
        emit GameEnded(gameId, Status.AsserterWon, reason, asserter);
    }

    /// @dev Has the Rollup remove the batch (and every later one) and slash its poster for the
    ///      challenger that eliminated it.
    function _remove(uint256 batchIndex, uint64 batchId, Defence storage f) private {
        address beneficiary = f.posterBeatenBy;
        emit DefeatedBatchRemoved(batchIndex, batchId, beneficiary);
        rollup.rejectBatch(batchIndex, batchId, beneficiary);
    }

    function _credit(address account, uint256 amount) private {
        credits[account] += amount;
        emit Credited(account, amount);
    }
}
