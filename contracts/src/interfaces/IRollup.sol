// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IBridge} from "./IBridge.sol";
import {IChallengeManager} from "./IChallengeManager.sol";
import {IOneStepProver} from "./IOneStepProver.sol";

/// @title IRollup
/// @notice Keel's batch chain on L1: posted batches, poster stakes, finality and removal of batches
///         that lost a dispute (docs/DESIGN.md §2, docs/protocol.md §6).
interface IRollup {
    /// @notice The deployment parameters, fixed forever.
    /// @param l2ChainId The EIP-712 `chainId` of L2 transactions.
    /// @param feeRecipient The L2 account credited with every transaction fee.
    /// @param sequencer The only account that may append batches while it is active.
    /// @param challengePeriod Seconds after its append during which a batch may be challenged.
    /// @param moveTimeout Seconds a game party has for each move.
    /// @param requiredStake Wei a poster must have staked to append a batch.
    /// @param challengeBond Wei a challenger posts per game.
    /// @param forceInclusionDelay Seconds after which an inbox entry must be consumed by the next batch.
    /// @param sequencerInactivityPeriod Seconds without a sequencer batch after which any staked
    ///        party may append batches.
    /// @param degree The number of segments of a dissection (k ≥ 2).
    /// @param challengerShareBps Share, in basis points, of a slashed stake paid to the winning challenger.
    struct Config {
        uint64 l2ChainId;
        address feeRecipient;
        address sequencer;
        uint64 challengePeriod;
        uint64 moveTimeout;
        uint256 requiredStake;
        uint256 challengeBond;
        uint64 forceInclusionDelay;
        uint64 sequencerInactivityPeriod;
        uint64 degree;
        uint16 challengerShareBps;
    }

    /// @notice A batch as clients see it.
    /// @param txRoot The tx root of its records (docs/protocol.md §6).
    /// @param preStateRoot The previous batch's post-state root (zero for batch 0).
    /// @param postStateRoot The state root the poster claims after the batch.
    /// @param txCount The number of records.
    /// @param inboxStart The first inbox entry it consumes.
    /// @param inboxEnd One past the last inbox entry it consumes.
    /// @param timestamp The L1 time of its append.
    /// @param poster Who appended it (the asserter of its games).
    /// @param id A number unique over all batches ever appended (indexes are reused after removal).
    struct Batch {
        bytes32 txRoot;
        bytes32 preStateRoot;
        bytes32 postStateRoot;
        uint64 txCount;
        uint64 inboxStart;
        uint64 inboxEnd;
        uint64 timestamp;
        address poster;
        uint64 id;
    }

    /// @notice A slashing reward held until the batches before the removed one are final.
    /// @param batchId The removed batch's id.
    /// @param batchIndex The removed batch's index.
    /// @param openPosition Its place in `openSlashes()` while unpaid.
    /// @param beneficiary Who gets it: the challenger that beat the poster, or whoever later
    ///        removed an earlier batch this one was built on.
    /// @param amount Wei (zero once paid).
    struct Slash {
        uint64 batchId;
        uint64 batchIndex;
        uint64 openPosition;
        address beneficiary;
        uint256 amount;
    }

    /// @notice The bridge and challenge manager were wired in.
    event Initialized(address indexed bridge, address indexed challengeManager);
    /// @notice `staker` added `amount` wei; its stake is now `total`.
    event Staked(address indexed staker, uint256 amount, uint256 total);
    /// @notice `staker` took back its whole stake of `amount` wei.
    event Unstaked(address indexed staker, uint256 amount);
    /// @notice A batch was appended. Its records are not in the event: they are the `records`
    ///         argument of the `appendBatch` call, which is always the transaction's own input.
    event BatchAppended(
        uint256 indexed index,
        uint64 indexed id,
        address indexed poster,
        bytes32 txRoot,
        uint256 txCount,
        uint256 inboxStart,
        uint256 inboxEnd,
        bytes32 postStateRoot
    );
    /// @notice Batch `index` became final with `postStateRoot`.
    event BatchFinalized(uint256 indexed index, uint64 indexed id, bytes32 postStateRoot);
    /// @notice Batches `[fromIndex, toIndex)` were removed; the next batch consumes the inbox from
    ///         `inboxRewoundTo`.
    event BatchesRemoved(uint256 indexed fromIndex, uint256 toIndex, uint256 inboxRewoundTo);
    /// @notice `poster`'s whole stake of `amount` wei was slashed: `reward` escrowed for
    ///         `challenger` (see `SlashEscrowed`), `burned` sent to the burn address.
    event StakeSlashed(
        address indexed poster, address indexed challenger, uint256 amount, uint256 reward, uint256 burned
    );
    /// @notice Slashing reward `slashId` of `amount` wei, for removing batch `batchIndex` (id
    ///         `batchId`) of `poster`, is held for `beneficiary`.
    event SlashEscrowed(
        uint256 indexed slashId,
        address indexed poster,
        uint256 batchIndex,
        uint64 batchId,
        address indexed beneficiary,
        uint256 amount
    );
    /// @notice An earlier batch that slash `slashId`'s batch was built on was removed: the reward
    ///         now goes to `beneficiary`, who removed it.
    event SlashReassigned(uint256 indexed slashId, address indexed beneficiary);
    /// @notice Slash `slashId`'s reward of `amount` wei was credited to `beneficiary` in the
    ///         ChallengeManager.
    event SlashRewardPaid(uint256 indexed slashId, address indexed beneficiary, uint256 amount);

    /// @notice A configuration value is out of range.
    error InvalidConfig();
    /// @notice Only the deployer may call this.
    error NotDeployer();
    /// @notice The bridge and challenge manager are already wired in.
    error AlreadyInitialized();
    /// @notice The bridge and challenge manager are not wired in yet.
    error NotInitialized();
    /// @notice The bridge or challenge manager given to `initialize` is not wired to this rollup.
    error BadWiring();
    /// @notice A stake top-up of zero.
    error ZeroStake();
    /// @notice The stake would be `total`, below `requiredStake`.
    error StakeTooLow(uint256 total, uint256 requiredStake);
    /// @notice The caller has no stake.
    error NoStake();
    /// @notice The caller's batch at `lastIndex` (or an earlier one) is not final yet.
    error UnfinalizedBatches(uint256 lastIndex);
    /// @notice The ETH transfer to `to` failed.
    error TransferFailed(address to);
    /// @notice Reentrant call.
    error Reentrancy();
    /// @notice `appendBatch` must be the transaction's own top-level call from an account without
    ///         code, so that verifiers find the records in the transaction input.
    error NotDirectCall();
    /// @notice The `appendBatch` calldata is not the canonical ABI encoding of its arguments (the
    ///         `records` offset is not 0xa0, bytes follow the padded `records`, or its padding is
    ///         not zero): every verifier must read the same records from it (docs/protocol.md §6).
    error NonCanonicalCalldata();
    /// @notice The caller is not the sequencer and the sequencer is still active.
    error NotSequencer();
    /// @notice The poster's stake is below `requiredStake`.
    error NotStaked(address poster);
    /// @notice `inboxEnd` is below the inbox start `inboxStart` or above the inbox length.
    error InvalidInboxEnd(uint256 inboxEnd, uint256 inboxStart, uint256 inboxLength);
    /// @notice The batch names index `expected` but the next batch's index (`batchCount()`) is
    ///         `actual`: it was computed for another tip (the tip moved after a reorg, a removal, a
    ///         duplicate or replaced posting, or another poster's append).
    error UnexpectedBatchIndex(uint256 expected, uint256 actual);
    /// @notice The batch builds on pre-state root `expected` but the current tip's post-state
    ///         root (zero when there is no batch) is `actual`: it was computed for another tip.
    error UnexpectedPreStateRoot(bytes32 expected, bytes32 actual);
    /// @notice A batch must have at least one step.
    error EmptyBatch();
    /// @notice Inbox entry `index` is older than `forceInclusionDelay` and must be consumed.
    error ForceInclusionRequired(uint256 index);
    /// @notice There is no batch at `index`.
    error NoSuchBatch(uint256 index);
    /// @notice Batch `index` is already final.
    error AlreadyFinal(uint256 index);
    /// @notice Batch `index` is still in its challenge period (until `deadline`).
    error ChallengePeriodNotOver(uint256 index, uint256 deadline);
    /// @notice Batch `index`'s dispute is not settled: a game is open, a defender may still join
    ///         or be challenged, or every defender lost and the batch awaits removal.
    error DisputeOpen(uint256 index);
    /// @notice There is no slashing reward `slashId`.
    error NoSuchSlash(uint256 slashId);
    /// @notice Slashing reward `slashId` was paid already.
    error SlashSettled(uint256 slashId);
    /// @notice Slashing reward `slashId` waits until the first `finalNeeded` batches are final.
    error SlashNotSettleable(uint256 slashId, uint256 finalNeeded);
    /// @notice Only the challenge manager may call this.
    error NotChallengeManager();
    /// @notice Batch `index` does not have id `id` (it was removed).
    error BatchIdMismatch(uint256 index, uint64 id);

    /// @notice Wires in the bridge and the challenge manager; callable once, by the deployer.
    /// @param bridge_ The Bridge, whose `rollup()` must be this contract.
    /// @param challengeManager_ The ChallengeManager, whose `rollup()` must be this contract and
    ///        whose `bridge()` must be `bridge_`.
    function initialize(IBridge bridge_, IChallengeManager challengeManager_) external;

    /// @notice Adds `msg.value` to the caller's stake; the total must reach `requiredStake`.
    function stake() external payable;

    /// @notice Pays the caller's whole stake back; only when nothing it posted is pending: every
    ///         batch it posted that is still on the chain is final (see `pendingUntil`). A poster
    ///         whose batches were removed by another batch's rejection (not slashed) waits only for
    ///         the batches before them.
    function unstake() external;

    /// @notice Appends a batch. Only the sequencer, or any staked party once the sequencer has not
    ///         appended for `sequencerInactivityPeriod`. The caller must be staked and must call
    ///         directly (no contract in between, no delegated code) so the records are in the
    ///         transaction input. The batch names the tip it was computed for, and the call
    ///         reverts unless that is still the current tip, so a posting never lands on another
    ///         one (after a reorg, a fee replacement, a poster's restart, or another poster's
    ///         append). Checks, in order: `NotDirectCall`, `NotInitialized`, `NotSequencer`,
    ///         `NotStaked`, `UnexpectedBatchIndex`, `UnexpectedPreStateRoot`, `InvalidInboxEnd`,
    ///         `ForceInclusionRequired`, `TxRoot.RecordsLengthNotMultiple`, `EmptyBatch`.
    /// @param records The concatenated 146-byte records (docs/protocol.md §3).
    /// @param inboxEnd One past the last inbox entry consumed; the batch consumes
    ///        `[nextInboxStart(), inboxEnd)`.
    /// @param postStateRoot The claimed state root after the batch.
    /// @param expectedIndex The index the batch is meant for; must equal `batchCount()`, else
    ///        `UnexpectedBatchIndex`.
    /// @param expectedPreStateRoot The state root the batch was executed on; must equal the
    ///        post-state root of batch `batchCount() − 1` (zero when there is no batch), else
    ///        `UnexpectedPreStateRoot`.
    /// @return index The batch's index (`expectedIndex`).
    function appendBatch(
        bytes calldata records,
        uint256 inboxEnd,
        bytes32 postStateRoot,
        uint256 expectedIndex,
        bytes32 expectedPreStateRoot
    ) external returns (uint256 index);

    /// @notice Makes every batch up to and including `upTo` final. Reverts with the reason of the
    ///         first one that cannot be (still challengeable, or a game is open against it).
    /// @param upTo The index of the last batch to finalize.
    function finalizeBatches(uint256 upTo) external;

    /// @notice Removes batch `index` and every later batch, rewinds inbox consumption to its start
    ///         and slashes its poster: the burn share at once, the reward escrowed for
    ///         `beneficiary`; pending rewards of batches built on this one go to `beneficiary`
    ///         too. Only the ChallengeManager, when every defender of the batch lost.
    /// @param index The batch that lost its defence.
    /// @param id The batch's id (guards against a removed and re-appended index).
    /// @param beneficiary The challenger that beat its poster.
    function rejectBatch(uint256 index, uint64 id, address beneficiary) external;

    /// @notice Anyone pays escrowed slashing reward `slashId` to its beneficiary (credited in the
    ///         ChallengeManager) once every batch that was before the removed one and is still on
    ///         the chain is final, so no earlier batch it was built on can be removed any more.
    /// @param slashId The escrow.
    function settleSlash(uint256 slashId) external;

    /// @notice The number of slashing rewards ever escrowed (ids `0 … slashCount() − 1`).
    function slashCount() external view returns (uint256);
    /// @notice Slashing reward `slashId`. Reverts if there is none.
    function getSlash(uint256 slashId) external view returns (Slash memory);
    /// @notice The ids of the rewards not paid yet.
    function openSlashes() external view returns (uint256[] memory);

    /// @notice The bridge (zero until `initialize`).
    function bridge() external view returns (IBridge);
    /// @notice The challenge manager (zero until `initialize`).
    function challengeManager() external view returns (IChallengeManager);
    /// @notice The account that may call `initialize`.
    function deployer() external view returns (address);
    /// @notice The EIP-712 `chainId` of L2 transactions.
    function l2ChainId() external view returns (uint64);
    /// @notice The L2 fee recipient.
    function feeRecipient() external view returns (address);
    /// @notice The sequencer.
    function sequencer() external view returns (address);
    /// @notice The challenge period, in seconds.
    function challengePeriod() external view returns (uint64);
    /// @notice The time per game move, in seconds.
    function moveTimeout() external view returns (uint64);
    /// @notice The stake a poster needs, in wei.
    function requiredStake() external view returns (uint256);
    /// @notice The bond per challenge, in wei.
    function challengeBond() external view returns (uint256);
    /// @notice The force-inclusion delay, in seconds.
    function forceInclusionDelay() external view returns (uint64);
    /// @notice The sequencer inactivity period that opens the escape hatch, in seconds.
    function sequencerInactivityPeriod() external view returns (uint64);
    /// @notice The dissection degree k.
    function degree() external view returns (uint64);
    /// @notice The challenger's share of a slashed stake, in basis points.
    function challengerShareBps() external view returns (uint16);
    /// @notice The chain configuration the OneStepProver executes with.
    function chainConfig() external view returns (IOneStepProver.ChainConfig memory);

    /// @notice The number of batches (the index of the next one).
    function batchCount() external view returns (uint64);
    /// @notice The number of final batches: batch `i` is final iff `i < finalizedCount()`.
    function finalizedCount() external view returns (uint64);
    /// @notice The time of the sequencer's last append (deployment time before the first).
    function lastSequencerAppend() external view returns (uint64);
    /// @notice The first inbox entry the next batch consumes.
    function nextInboxStart() external view returns (uint64);
    /// @notice The stake of `staker`, in wei.
    function stakes(address staker) external view returns (uint256);
    /// @notice One plus the highest batch index `poster` appended at (zero if never).
    function lastPostedIndexPlusOne(address poster) external view returns (uint64);
    /// @notice Batch `index`. Reverts if there is none.
    function getBatch(uint256 index) external view returns (Batch memory);
    /// @notice The claimed post-state root of batch `index`. Reverts if there is none.
    function postStateRoot(uint256 index) external view returns (bytes32);
    /// @notice Whether batch `index` is final.
    function isFinal(uint256 index) external view returns (bool);
    /// @notice Whether batch `index` exists and has id `id` (false once it was removed).
    function isCurrent(uint256 index, uint64 id) external view returns (bool);
    /// @notice The end of batch `index`'s challenge period: challenges are allowed before it,
    ///         finalization from it on. Reverts if there is no such batch.
    function challengeDeadline(uint256 index) external view returns (uint256);
    /// @notice Whether `staker` may unstake now.
    function canUnstake(address staker) external view returns (bool);
    /// @notice How many batches must be final before `staker` may unstake: one past its latest
    ///         batch while that is on the chain, else the number of batches before it that still
    ///         are (zero if it never posted).
    function pendingUntil(address staker) external view returns (uint256);
}
