// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IRollup} from "./interfaces/IRollup.sol";
import {IBridge} from "./interfaces/IBridge.sol";
import {IChallengeManager} from "./interfaces/IChallengeManager.sol";
import {IOneStepProver} from "./interfaces/IOneStepProver.sol";
import {TxRoot} from "./lib/TxRoot.sol";

/// @title Rollup
/// @notice Keel's batch chain on L1: posters stake, the sequencer (or, after it has been inactive,
///         any staked party) appends batches of records plus a claimed post-state root, batches
///         become final after their challenge period, and a batch that loses a game is removed
///         together with every later batch while its poster's stake is slashed.
/// @dev Data availability is calldata-only: `records` is not copied into the `BatchAppended` event
///      (that would cost 8 gas per byte); verifiers decode it from the input of the transaction
///      that emitted the event. To make that always possible, `appendBatch` only accepts a direct
///      call from an account without code (`msg.sender == tx.origin`, no EIP-7702 delegation), so
///      the call is the transaction's top-level call and its input is the transaction's input.
///
///      Batch `i`'s pre-state root is not stored: it is batch `i − 1`'s post-state root (zero for
///      batch 0), which cannot change while batch `i` exists, since removing batch `i − 1` removes
///      batch `i` too. This saves a storage slot (≈ 22k gas) per batch.
///
///      Slashing takes the poster's whole stake: the rest after `challengerShareBps` is sent to
///      `BURN_ADDRESS` (0x…dEaD) at once; the reward is escrowed here until every batch before the
///      removed one is final (`settleSlash`), and goes to whoever removes an earlier batch it was
///      built on, if anybody does. This contract's balance is always the sum of the stakes and
///      the escrowed rewards.
contract Rollup is IRollup {
    /// @notice Where the burned part of a slashed stake is sent.
    address public constant BURN_ADDRESS = address(0xdEaD);
    /// @notice The largest dissection degree allowed (bounds the gas of one dissection).
    uint64 public constant MAX_DEGREE = 64;
    /// @notice Basis points in one.
    uint16 internal constant BPS = 10_000;

    /// @dev A batch in storage (four slots); see `IRollup.Batch` for the fields. `id` fits 48 bits
    ///      (each id costs an append). `sequencerActiveBefore` is `lastSequencerAppend` as it was
    ///      just before this batch was appended: removing the batch restores it, so a rejected
    ///      batch never counts as sequencer activity for the escape hatch.
    struct StoredBatch {
        bytes32 txRoot;
        bytes32 postStateRoot;
        uint64 txCount;
        uint64 inboxStart;
        uint64 inboxEnd;
        uint64 timestamp;
        address poster;
        uint48 id;
        uint48 sequencerActiveBefore;
    }

    /// @dev A poster's latest append: one plus its index, and its id (to tell whether it is still
    ///      current). One slot, written by every append.
    struct LastPosted {
        uint64 indexPlusOne;
        uint64 id;
    }

    /// @inheritdoc IRollup
    address public immutable deployer;
    /// @inheritdoc IRollup
    uint64 public immutable l2ChainId;
    /// @inheritdoc IRollup
    address public immutable feeRecipient;
    /// @inheritdoc IRollup
    address public immutable sequencer;
    /// @inheritdoc IRollup
    uint64 public immutable challengePeriod;
    /// @inheritdoc IRollup
    uint64 public immutable moveTimeout;
    /// @inheritdoc IRollup
    uint256 public immutable requiredStake;
    /// @inheritdoc IRollup
    uint256 public immutable challengeBond;
    /// @inheritdoc IRollup
    uint64 public immutable forceInclusionDelay;
    /// @inheritdoc IRollup
    uint64 public immutable sequencerInactivityPeriod;
    /// @inheritdoc IRollup
    uint64 public immutable degree;
    /// @inheritdoc IRollup
    uint16 public immutable challengerShareBps;

    // Slot 0: read and written by every append.
    /// @inheritdoc IRollup
    IBridge public bridge;
    /// @inheritdoc IRollup
    uint64 public batchCount;

    // Slot 1.
    /// @inheritdoc IRollup
    IChallengeManager public challengeManager;
    /// @inheritdoc IRollup
    uint64 public finalizedCount;

    // Slot 2: read and written by every append.
    /// @inheritdoc IRollup
    uint64 public lastSequencerAppend;
    /// @notice The id the next batch gets (ids start at 1, so 0 means "no batch").
    uint64 public nextBatchId;
    /// @inheritdoc IRollup
    uint64 public nextInboxStart;

    /// @inheritdoc IRollup
    mapping(address staker => uint256) public stakes;
    mapping(address poster => LastPosted) private _lastPosted;
    mapping(uint256 index => StoredBatch) private _batches;
    /// @inheritdoc IRollup
    uint256 public slashCount;
    mapping(uint256 slashId => Slash) private _slashes;
    /// @dev Ids of escrowed rewards not paid yet (order is not kept: settling swaps and pops).
    uint256[] private _openSlashes;

    bool private transient _locked;

    modifier nonReentrant() {
        if (_locked) revert Reentrancy();
        _locked = true;
        _;
        _locked = false;
    }

    /// @notice Deploys the rollup with its fixed configuration; the caller becomes the deployer
    ///         that must call `initialize`.
    /// @param config The parameters (see `IRollup.Config`).
    constructor(Config memory config) {
        if (
            config.sequencer == address(0) || config.degree < 2 || config.degree > MAX_DEGREE
                || config.challengerShareBps > BPS || config.challengePeriod == 0 || config.moveTimeout == 0
                || config.requiredStake == 0 || config.challengeBond == 0 || config.sequencerInactivityPeriod == 0
        ) revert InvalidConfig();
        deployer = msg.sender;
        l2ChainId = config.l2ChainId;
        feeRecipient = config.feeRecipient;
        sequencer = config.sequencer;
        challengePeriod = config.challengePeriod;
        moveTimeout = config.moveTimeout;
        requiredStake = config.requiredStake;
        challengeBond = config.challengeBond;
        forceInclusionDelay = config.forceInclusionDelay;
        sequencerInactivityPeriod = config.sequencerInactivityPeriod;
        degree = config.degree;
        challengerShareBps = config.challengerShareBps;
        lastSequencerAppend = uint64(block.timestamp);
        nextBatchId = 1;
    }

    /// @inheritdoc IRollup
    function initialize(IBridge bridge_, IChallengeManager challengeManager_) external {
        if (msg.sender != deployer) revert NotDeployer();
        if (address(bridge) != address(0)) revert AlreadyInitialized();
        if (
            address(bridge_) == address(0) || address(challengeManager_) == address(0)
                || address(bridge_.rollup()) != address(this) || address(challengeManager_.rollup()) != address(this)
                || address(challengeManager_.bridge()) != address(bridge_)
        ) revert BadWiring();
        bridge = bridge_;
        challengeManager = challengeManager_;
        emit Initialized(address(bridge_), address(challengeManager_));
    }

    /// @inheritdoc IRollup
    function stake() external payable {
        if (msg.value == 0) revert ZeroStake();
        uint256 total = stakes[msg.sender] + msg.value;
        if (total < requiredStake) revert StakeTooLow(total, requiredStake);
        stakes[msg.sender] = total;
        emit Staked(msg.sender, msg.value, total);
    }

    /// @inheritdoc IRollup
    function unstake() external nonReentrant {
        uint256 amount = stakes[msg.sender];
        if (amount == 0) revert NoStake();
        uint256 pending = _pendingUntil(msg.sender);
        if (pending > finalizedCount) revert UnfinalizedBatches(pending - 1);
        stakes[msg.sender] = 0;
        emit Unstaked(msg.sender, amount);
        _sendETH(msg.sender, amount);
    }

    /// @inheritdoc IRollup
    function appendBatch(
        bytes calldata records,
        uint256 inboxEnd,
        bytes32 postStateRoot_,
        uint256 expectedIndex,
        bytes32 expectedPreStateRoot
    ) external returns (uint256 index) {
        _checkCanonical(records);
        uint256 inboxStart = _checkAppend(inboxEnd, expectedIndex, expectedPreStateRoot);
        (bytes32 txRoot, uint256 txCount) = TxRoot.compute(records);
        if (txCount == 0 && inboxEnd == inboxStart) revert EmptyBatch();

        index = expectedIndex; // == batchCount, checked above
        uint64 id = nextBatchId;
        // Casts to uint64 cannot truncate: counts of records, inbox entries and batches and the
        // time stay far below 2^64 (each record or entry costs calldata or a storage write).
        // forge-lint: disable-start(unsafe-typecast)
        _batches[index] = StoredBatch({
            txRoot: txRoot,
            postStateRoot: postStateRoot_,
            txCount: uint64(txCount),
            inboxStart: uint64(inboxStart),
            inboxEnd: uint64(inboxEnd),
            timestamp: uint64(block.timestamp),
            poster: msg.sender,
            id: uint48(id),
            sequencerActiveBefore: uint48(lastSequencerAppend) // read before this append updates it
        });
        batchCount = uint64(index + 1);
        nextBatchId = id + 1;
        nextInboxStart = uint64(inboxEnd);
        if (msg.sender == sequencer) lastSequencerAppend = uint64(block.timestamp);
        _lastPosted[msg.sender] = LastPosted({indexPlusOne: uint64(index + 1), id: id});
        // forge-lint: disable-end(unsafe-typecast)
        emit BatchAppended(index, id, msg.sender, txRoot, txCount, inboxStart, inboxEnd, postStateRoot_);
    }

    /// @inheritdoc IRollup
    function finalizeBatches(uint256 upTo) external {
        uint256 count = batchCount;
        if (upTo >= count) revert NoSuchBatch(upTo);
        uint256 first = finalizedCount;
        if (upTo < first) revert AlreadyFinal(upTo);
        IChallengeManager manager = challengeManager;
        for (uint256 i = first; i <= upTo; ++i) {
            StoredBatch storage b = _batches[i];
            uint256 deadline = uint256(b.timestamp) + challengePeriod;
            // Deadlines are hours or days long; a validator's few seconds of leeway do not matter.
            // forge-lint: disable-next-line(block-timestamp)
            if (block.timestamp < deadline) revert ChallengePeriodNotOver(i, deadline);
            uint64 id = b.id;
            // Settled: no game open, a defender standing, none may join nor start a game any more.
            if (!manager.isSettled(id, deadline)) revert DisputeOpen(i);
            emit BatchFinalized(i, id, b.postStateRoot);
        }
        // forge-lint: disable-next-line(unsafe-typecast)
        finalizedCount = uint64(upTo + 1); // upTo < batchCount, a uint64
    }

    /// @inheritdoc IRollup
    function rejectBatch(uint256 index, uint64 id, address beneficiary) external nonReentrant {
        if (msg.sender != address(challengeManager)) revert NotChallengeManager();
        uint256 count = batchCount;
        if (index >= count) revert NoSuchBatch(index);
        StoredBatch storage b = _batches[index];
        if (b.id != id) revert BatchIdMismatch(index, id);
        if (index < finalizedCount) revert AlreadyFinal(index);

        address poster = b.poster;
        uint64 rewoundTo = b.inboxStart;
        // O(1) removal: later slots are simply overwritten by the next appends.
        // forge-lint: disable-next-line(unsafe-typecast)
        batchCount = uint64(index); // index < batchCount, a uint64
        nextInboxStart = rewoundTo;
        // The removed batches were no activity: the escape hatch counts from the sequencer's last
        // append that is still on the chain (else a sequencer could hold the hatch shut by posting
        // a fraud just before it opens, once per stake).
        lastSequencerAppend = b.sequencerActiveBefore;
        emit BatchesRemoved(index, count, rewoundTo);

        _reassignSlashes(id, beneficiary);

        uint256 slashed = stakes[poster];
        stakes[poster] = 0;
        uint256 reward = slashed * challengerShareBps / BPS;
        uint256 burned = slashed - reward;
        emit StakeSlashed(poster, beneficiary, slashed, reward, burned);
        if (reward != 0) _escrowSlash(poster, index, id, beneficiary, reward);
        if (burned != 0) _sendETH(BURN_ADDRESS, burned);
    }

    /// @inheritdoc IRollup
    function settleSlash(uint256 slashId) external nonReentrant {
        if (slashId >= slashCount) revert NoSuchSlash(slashId);
        Slash memory e = _slashes[slashId];
        if (e.amount == 0) revert SlashSettled(slashId);
        uint256 before = _currentBefore(e.batchId, e.batchIndex);
        if (finalizedCount < before) revert SlashNotSettleable(slashId, before);
        // Swap-and-pop out of the open list.
        uint256[] storage open = _openSlashes;
        uint256 last = open[open.length - 1];
        open[e.openPosition] = last;
        _slashes[last].openPosition = e.openPosition;
        open.pop();
        _slashes[slashId].amount = 0;
        emit SlashRewardPaid(slashId, e.beneficiary, e.amount);
        challengeManager.creditReward{value: e.amount}(e.beneficiary);
    }

    /// @inheritdoc IRollup
    function chainConfig() external view returns (IOneStepProver.ChainConfig memory) {
        return IOneStepProver.ChainConfig({l2ChainId: l2ChainId, rollup: address(this), feeRecipient: feeRecipient});
    }

    /// @inheritdoc IRollup
    function getBatch(uint256 index) external view returns (Batch memory batch) {
        StoredBatch storage b = _existing(index);
        batch = Batch({
            txRoot: b.txRoot,
            preStateRoot: index == 0 ? bytes32(0) : _batches[index - 1].postStateRoot,
            postStateRoot: b.postStateRoot,
            txCount: b.txCount,
            inboxStart: b.inboxStart,
            inboxEnd: b.inboxEnd,
            timestamp: b.timestamp,
            poster: b.poster,
            id: b.id
        });
    }

    /// @inheritdoc IRollup
    function postStateRoot(uint256 index) external view returns (bytes32) {
        return _existing(index).postStateRoot;
    }

    /// @inheritdoc IRollup
    function isFinal(uint256 index) external view returns (bool) {
        return index < finalizedCount;
    }

    /// @inheritdoc IRollup
    function isCurrent(uint256 index, uint64 id) external view returns (bool) {
        return index < batchCount && _batches[index].id == id;
    }

    /// @inheritdoc IRollup
    function challengeDeadline(uint256 index) external view returns (uint256) {
        return uint256(_existing(index).timestamp) + challengePeriod;
    }

    /// @inheritdoc IRollup
    function canUnstake(address staker) external view returns (bool) {
        return stakes[staker] != 0 && _pendingUntil(staker) <= finalizedCount;
    }

    /// @inheritdoc IRollup
    function getSlash(uint256 slashId) external view returns (Slash memory) {
        if (slashId >= slashCount) revert NoSuchSlash(slashId);
        return _slashes[slashId];
    }

    /// @inheritdoc IRollup
    function openSlashes() external view returns (uint256[] memory) {
        return _openSlashes;
    }

    /// @inheritdoc IRollup
    function lastPostedIndexPlusOne(address poster) external view returns (uint64) {
        return _lastPosted[poster].indexPlusOne;
    }

    /// @inheritdoc IRollup
    function pendingUntil(address staker) external view returns (uint256) {
        return _pendingUntil(staker);
    }

    /// @dev How long a prefix of the chain must be final before `staker` has nothing pending:
    ///      one past its latest append while that batch is current; once it was removed (its own
    ///      rejection or a cascade from an earlier one), the number of current batches appended
    ///      before it. Ids grow with the index along the current chain (removal cuts a suffix,
    ///      appends get fresh ids), so that prefix is found by a binary search on ids: O(log n)
    ///      reads, and no per-poster history is kept.
    function _pendingUntil(address staker) private view returns (uint256) {
        LastPosted memory last = _lastPosted[staker];
        if (last.indexPlusOne == 0) return 0;
        uint256 index = last.indexPlusOne - 1;
        if (index < batchCount && _batches[index].id == last.id) return last.indexPlusOne;
        return _currentBefore(last.id, index);
    }

    /// @dev The number of current batches with an id below `id`, for a batch `id` once appended
    ///      at `index`: ids grow with the index along the current chain (removal cuts a suffix,
    ///      appends get fresh ids), so they are a prefix of it, found by a binary search below
    ///      `min(index, batchCount)` in O(log n) reads.
    function _currentBefore(uint64 id, uint256 index) private view returns (uint256) {
        uint256 count = batchCount;
        uint256 lo = 0;
        uint256 hi = index < count ? index : count;
        while (lo < hi) {
            uint256 mid = (lo + hi) / 2;
            if (_batches[mid].id < id) lo = mid + 1;
            else hi = mid;
        }
        return lo;
    }

    /// @dev Every pending reward for a batch built on batch `id` goes to `beneficiary`, who removes
    ///      it: that batch was judged against a wrong pre-state, and a shill that removed a decoy
    ///      on top of a fraud must not keep the reward of whoever proves the fraud itself wrong.
    ///      Batches built on `id` are exactly those with a larger id (`id` is still current). The
    ///      loop is over unpaid rewards only, each of which cost somebody a whole stake.
    function _reassignSlashes(uint64 id, address beneficiary) private {
        uint256[] storage open = _openSlashes;
        uint256 n = open.length;
        for (uint256 i = 0; i < n; ++i) {
            uint256 slashId = open[i];
            Slash storage e = _slashes[slashId];
            if (e.batchId > id && e.beneficiary != beneficiary) {
                e.beneficiary = beneficiary;
                emit SlashReassigned(slashId, beneficiary);
            }
        }
    }

    function _escrowSlash(address poster, uint256 index, uint64 id, address beneficiary, uint256 reward) private {
        uint256 slashId = slashCount++;
        // forge-lint: disable-next-item(unsafe-typecast)
        _slashes[slashId] = Slash({
            batchId: id,
            batchIndex: uint64(index),
            openPosition: uint64(_openSlashes.length),
            beneficiary: beneficiary,
            amount: reward
        });
        _openSlashes.push(slashId);
        emit SlashEscrowed(slashId, poster, index, id, beneficiary, reward);
    }

    /// @dev Checks who may append, that the batch is meant for the current tip (index and
    ///      pre-state root) and the inbox range `[nextInboxStart, inboxEnd)`; returns its start.
    function _checkAppend(uint256 inboxEnd, uint256 expectedIndex, bytes32 expectedPreStateRoot)
        private
        view
        returns (uint256 inboxStart)
    {
        // The records must be the transaction's own input (see the contract's @dev).
        if (msg.sender != tx.origin || msg.sender.code.length != 0) revert NotDirectCall();
        IBridge bridge_ = bridge;
        if (address(bridge_) == address(0)) revert NotInitialized();
        // forge-lint: disable-next-line(block-timestamp)
        if (msg.sender != sequencer && block.timestamp < uint256(lastSequencerAppend) + sequencerInactivityPeriod) {
            revert NotSequencer();
        }
        if (stakes[msg.sender] < requiredStake) revert NotStaked(msg.sender);

        // The posting must have been computed on the current tip: it names the index it is meant
        // for and the root it builds on (a reorg, a replaced or re-sent transaction, or another
        // poster may have moved the tip since). `batchCount` shares slot 0 with `bridge`.
        uint256 count = batchCount;
        if (expectedIndex != count) revert UnexpectedBatchIndex(expectedIndex, count);
        bytes32 tipRoot = count == 0 ? bytes32(0) : _batches[count - 1].postStateRoot;
        if (expectedPreStateRoot != tipRoot) revert UnexpectedPreStateRoot(expectedPreStateRoot, tipRoot);

        inboxStart = nextInboxStart;
        uint256 inboxLength = bridge_.inboxLength();
        if (inboxEnd < inboxStart || inboxEnd > inboxLength) {
            revert InvalidInboxEnd(inboxEnd, inboxStart, inboxLength);
        }
        // Entries are appended in time order, so the oldest unconsumed entry is the only one to check.
        // forge-lint: disable-next-line(block-timestamp)
        if (inboxEnd < inboxLength && bridge_.entryTimestamp(inboxEnd) + forceInclusionDelay <= block.timestamp) {
            revert ForceInclusionRequired(inboxEnd);
        }
    }

    /// @dev The calldata must be exactly `selector ‖ head (5 words) ‖ length ‖ records ‖ zero
    ///      padding to a word`: the `records` offset word is 0xa0 (its data then starts at byte
    ///      4 + 0xa0 + 32 = 196), nothing follows the padding, and the padding is zero. Solidity's
    ///      decoder accepts gaps after the head, trailing bytes and dirty padding; a verifier's
    ///      strict decoder would refuse such a batch while L1 holds it, so L1 refuses it first.
    function _checkCanonical(bytes calldata records) private pure {
        uint256 length = records.length;
        uint256 padded = (length + 31) & ~uint256(31);
        uint256 start;
        assembly ("memory-safe") {
            start := records.offset
        }
        if (start != 196 || msg.data.length != 196 + padded) revert NonCanonicalCalldata();
        uint256 tail = length & 31;
        if (tail != 0) {
            uint256 lastWord;
            assembly ("memory-safe") {
                lastWord := calldataload(add(196, sub(length, tail)))
            }
            // The low `32 − tail` bytes of the last word are padding.
            if (lastWord << (tail * 8) != 0) revert NonCanonicalCalldata();
        }
    }

    function _existing(uint256 index) private view returns (StoredBatch storage) {
        if (index >= batchCount) revert NoSuchBatch(index);
        return _batches[index];
    }

    function _sendETH(address to, uint256 amount) private {
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert TransferFailed(to);
    }
}
