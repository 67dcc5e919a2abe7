//! Typed access to Keel's contracts: what the sequencer, the verifiers and the CLI do on L1.

use alloy::{
    consensus::Transaction as _,
    network::{Ethereum, EthereumWallet},
    primitives::{Address, Bytes, TxHash, B256, U256},
    providers::{DynProvider, PendingTransactionBuilder, Provider, ProviderBuilder},
    rpc::types::{Filter, Log, TransactionReceipt},
    signers::local::PrivateKeySigner,
    sol_types::{SolCall, SolEvent},
};
use keel_core::{tx::split_records, InboxEntry, InboxKind, Record};

use crate::{
    bindings::{
        bridge::Bridge::{self, BridgeInstance},
        challenge_manager::ChallengeManager::{self, ChallengeManagerInstance},
        erc20::IErc20,
        rollup::{
            IRollup,
            Rollup::{self, RollupInstance},
        },
    },
    Deployment, L1Error,
};

/// A batch as posted on L1, with its records taken from the posting transaction's calldata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostedBatch {
    /// The batch index.
    pub index: u64,
    /// The Rollup's unique id of this batch (indexes are reused after a removal, ids are not).
    pub id: u64,
    /// Who posted it.
    pub poster: Address,
    /// The tx root L1 computed.
    pub tx_root: B256,
    /// Inbox entries consumed: `[inbox_start, inbox_end)`.
    pub inbox_start: u64,
    /// End of the consumed inbox range.
    pub inbox_end: u64,
    /// The claimed post-state root.
    pub post_state_root: B256,
    /// The records, from calldata.
    pub records: Vec<Record>,
    /// The posting transaction.
    pub l1_tx: TxHash,
    /// The L1 block it is in.
    pub l1_block: u64,
}

/// A change of the Rollup's batch list, in L1 order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RollupEvent {
    /// A batch was appended.
    Appended(PostedBatch),
    /// Batches `from_index..to_index` (end exclusive, as the contract's `BatchesRemoved`) were
    /// removed after a lost game; the inbox rewound.
    Removed {
        /// First removed index.
        from_index: u64,
        /// One past the last removed index (the batch count before the removal).
        to_index: u64,
        /// The inbox index the next batch starts from.
        inbox_rewound_to: u64,
    },
    /// A batch became final.
    Finalized {
        /// Its index.
        index: u64,
        /// Its id.
        id: u64,
    },
}

/// An inbox entry as appended on L1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PostedInboxEntry {
    /// Its index in the inbox.
    pub index: u64,
    /// The entry.
    pub entry: InboxEntry,
    /// The L1 block timestamp when it was appended (starts the force-inclusion clock).
    pub timestamp: u64,
    /// The L1 block it is in.
    pub l1_block: u64,
}

/// Whose turn it is in a game, or how it ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GameStatus {
    /// The asserter must dissect.
    AsserterTurn,
    /// The challenger must select or prove.
    ChallengerTurn,
    /// The asserter won.
    AsserterWon,
    /// The challenger won.
    ChallengerWon,
    /// The batch was removed by another game; bonds returned.
    Cancelled,
}

/// The defence of one batch as L1 has it (`IChallengeManager.Defence`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DefenceInfo {
    /// When its latest game started (zero: none).
    pub last_challenge: u64,
    /// Bonded defenders still standing.
    pub bonded_defenders: u32,
    /// Whether the poster lost a game on it.
    pub poster_eliminated: bool,
    /// Who beat the poster (zero if nobody).
    pub poster_beaten_by: Address,
}

impl DefenceInfo {
    /// How many defenders (the poster included) still stand.
    pub fn standing(&self) -> u32 {
        self.bonded_defenders + u32::from(!self.poster_eliminated)
    }
}

/// Where one party stands in a batch's defence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefenderStatus {
    /// Not a bonded defender (the poster has no record either).
    None,
    /// Bonded and standing.
    Active,
    /// Lost a game: out.
    Eliminated,
    /// Took its bond back.
    Released,
}

/// An escrowed slashing reward (`IRollup.Slash`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlashInfo {
    /// Its id.
    pub id: u64,
    /// Who gets it.
    pub beneficiary: Address,
    /// The removed batch's id.
    pub batch_id: u64,
    /// The removed batch's index.
    pub batch_index: u64,
    /// Wei.
    pub amount: U256,
}

/// A game's state as L1 has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GameInfo {
    /// The game id.
    pub id: u64,
    /// The challenged batch.
    pub batch_index: u64,
    /// The challenged batch's unique id.
    pub batch_id: u64,
    /// The defender this game is against: the batch's poster or a bonded defender.
    pub asserter: Address,
    /// Who challenged.
    pub challenger: Address,
    /// Turn or result.
    pub status: GameStatus,
    /// When the party to move loses by timeout (L1 timestamp, seconds).
    pub deadline: u64,
    /// The disputed range's start (an agreed step count).
    pub lo: u64,
    /// The disputed range's end.
    pub hi: u64,
    /// The root at `lo`.
    pub root_lo: B256,
    /// The asserter's root at `hi`.
    pub root_hi: B256,
    /// The asserter's last posted interior roots (empty before the first dissection).
    pub dissection_roots: Vec<B256>,
}

impl GameInfo {
    /// Whether the game has ended.
    pub fn is_over(&self) -> bool {
        !matches!(self.status, GameStatus::AsserterTurn | GameStatus::ChallengerTurn)
    }
}

/// A connection to L1 with a signing account and the deployed contracts.
#[derive(Clone, Debug)]
pub struct L1Client {
    provider: DynProvider,
    account: Address,
    deployment: Deployment,
    rollup: RollupInstance<DynProvider>,
    bridge: BridgeInstance<DynProvider>,
    manager: ChallengeManagerInstance<DynProvider>,
    /// Held from sending a transaction until its receipt, shared by clones.
    sending: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// What this client bids for gas.
    fees: FeePolicy,
    /// What this client's transactions paid, shared by clones.
    spend: std::sync::Arc<parking_lot::Mutex<Spend>>,
    /// One past the highest nonce this client saw mined, shared by clones (see
    /// [`L1Client::next_nonce`]).
    mined_nonce_floor: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// What an account bids for L1 gas, and the most it may spend.
///
/// The bid is taken from the protocol, never from recent blocks' tips: on a quiet L1 those
/// blocks are the poster's own postings, and a bid that follows them (as a fee-history
/// estimate does) bids itself up without limit. The max fee is twice the latest base fee plus
/// the tip (room for six full blocks of base-fee growth), capped at `max_fee_per_gas`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeePolicy {
    /// The highest max fee per gas ever bid, in wei, replacements included.
    pub max_fee_per_gas: u128,
    /// The priority fee (tip) per gas of a first attempt, in wei.
    pub tip: u128,
    /// The highest tip per gas ever bid, in wei, replacements included.
    pub max_tip: u128,
    /// The most this account may pay for gas in any hour, in wei (`None`: no limit). A
    /// transaction that could take it over (at its gas limit and max fee) is not sent.
    pub budget_per_hour: Option<u128>,
    /// How long a posting may wait for its receipt before it is replaced with a higher bid.
    pub replace_after: std::time::Duration,
}

impl Default for FeePolicy {
    fn default() -> Self {
        Self {
            max_fee_per_gas: 200 * GWEI,
            tip: GWEI,
            max_tip: 10 * GWEI,
            budget_per_hour: None,
            replace_after: std::time::Duration::from_secs(30),
        }
    }
}

/// One gwei, in wei.
pub const GWEI: u128 = 1_000_000_000;

/// A replacement must raise both fees by at least 10 % (geth's and anvil's price bump); 12.5 %
/// clears it after integer rounding.
const BUMP_NUMERATOR: u128 = 9;
const BUMP_DENOMINATOR: u128 = 8;

impl FeePolicy {
    /// The `(max fee, tip)` per gas for an attempt after `bumps` replacements, given the latest
    /// base fee.
    pub fn bid(&self, base_fee: u128, bumps: u32) -> (u128, u128) {
        let mut tip = self.tip.min(self.max_tip);
        let mut max_fee = base_fee.saturating_mul(2).saturating_add(tip);
        for _ in 0..bumps {
            if max_fee >= self.max_fee_per_gas && tip >= self.max_tip {
                break;
            }
            tip = (tip * BUMP_NUMERATOR).div_ceil(BUMP_DENOMINATOR).max(tip + 1);
            max_fee = (max_fee * BUMP_NUMERATOR).div_ceil(BUMP_DENOMINATOR).max(max_fee + 1);
        }
        let max_fee = max_fee.min(self.max_fee_per_gas);
        (max_fee, tip.min(self.max_tip).min(max_fee))
    }
}

/// Gas paid, in total and over the last hour.
#[derive(Debug, Default)]
struct Spend {
    total_wei: u128,
    recent: std::collections::VecDeque<(std::time::Instant, u128)>,
}

impl Spend {
    const WINDOW: std::time::Duration = std::time::Duration::from_secs(3600);

    fn last_hour(&mut self) -> u128 {
        while self.recent.front().is_some_and(|(t, _)| t.elapsed() >= Self::WINDOW) {
            self.recent.pop_front();
        }
        self.recent.iter().map(|(_, w)| w).sum()
    }

    fn record(&mut self, wei: u128) {
        self.total_wei = self.total_wei.saturating_add(wei);
        self.recent.push_back((std::time::Instant::now(), wei));
    }
}

/// The gas limit sent for an estimate: nodes' estimates can come out short (a first `dissect`
/// was estimated 2,800 gas below what it used), and a move that runs out of gas on chain can
/// lose a game by timeout.
pub fn gas_limit_for(estimate: u64) -> u64 {
    estimate.saturating_add(estimate / 5).saturating_add(20_000)
}

/// How an attempt at a transaction ended while it was waited for.
enum Wait {
    Mined(Box<TransactionReceipt>),
    /// The nonce was taken by a transaction this wait did not send (one of a crashed process).
    NonceTaken,
    /// Nothing sent is known to the node any more.
    Dropped,
    /// Still pending after the replacement time.
    Pending,
    /// The account's mined count fell below the nonce (L1 forgot earlier transactions of this
    /// account: a reorg or a restart), so nothing at the nonce can be mined before the gap is
    /// filled.
    Gap {
        /// The account's mined transaction count.
        count: u64,
    },
}

/// Connect an HTTP provider that signs with `signer`.
pub fn connect_http(rpc_url: &str, signer: PrivateKeySigner) -> Result<DynProvider, L1Error> {
    let url = rpc_url.parse().map_err(|e: url::ParseError| L1Error::BadUrl {
        url: rpc_url.into(),
        reason: e.to_string(),
    })?;
    // Nonces are asked of the node for every transaction (not cached): after a dropped
    // transaction, a reorg or an L1 restart, a cached nonce would leave every later transaction
    // stuck. `L1Client` serializes its own sends so two tasks never take the same nonce.
    Ok(ProviderBuilder::new()
        .disable_recommended_fillers()
        .with_gas_estimation()
        .with_simple_nonce_management()
        .fetch_chain_id()
        .wallet(EthereumWallet::from(signer))
        .connect_http(url)
        .erased())
}

/// How long to wait for a sent transaction's receipt before giving up: a dropped transaction must
/// not hang its caller (nor, through the send lock, every other task of this account).
pub const RECEIPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(180);

/// How long a sent transaction may be unknown to the node before it counts as dropped (a
/// load-balanced RPC may not know a just-sent transaction for a moment).
pub const DROPPED_AFTER: std::time::Duration = std::time::Duration::from_secs(10);

/// How long a nonce count that disagrees with what this client saw (below a nonce it saw mined,
/// or past a nonce whose receipt it has not got yet) is read again before it is believed.
const NONCE_CATCH_UP: std::time::Duration = std::time::Duration::from_secs(2);

/// How often a pending transaction's receipt is polled.
const RECEIPT_POLL: std::time::Duration = std::time::Duration::from_millis(250);

/// Wait (at most [`RECEIPT_TIMEOUT`]) for a sent transaction's receipt; a revert is an error. A
/// transaction the node no longer knows for [`DROPPED_AFTER`] (erased by a reorg or an L1
/// restart) is reported at once instead of holding the caller, and the send lock, for the
/// whole timeout.
pub(crate) async fn confirm(
    pending: PendingTransactionBuilder<Ethereum>,
) -> Result<TransactionReceipt, L1Error> {
    let receipt = confirm_unchecked(pending).await?;
    if !receipt.status() {
        return Err(L1Error::Reverted(receipt.transaction_hash));
    }
    Ok(receipt)
}

/// [`confirm`], but a mined transaction's receipt is returned whether it reverted or not (its
/// gas is paid either way).
async fn confirm_unchecked(
    pending: PendingTransactionBuilder<Ethereum>,
) -> Result<TransactionReceipt, L1Error> {
    let hash = *pending.tx_hash();
    let provider = pending.provider().clone();
    let started = std::time::Instant::now();
    let mut unknown_since: Option<std::time::Instant> = None;
    let receipt = loop {
        if let Some(receipt) = provider.get_transaction_receipt(hash).await? {
            break receipt;
        }
        if provider.get_transaction_by_hash(hash).await?.is_some() {
            unknown_since = None;
        } else if unknown_since.get_or_insert_with(std::time::Instant::now).elapsed()
            >= DROPPED_AFTER
        {
            return Err(L1Error::NotMined { hash, why: "dropped by the node (reorg or restart)" });
        }
        if started.elapsed() >= RECEIPT_TIMEOUT {
            return Err(L1Error::NotMined { hash, why: "no receipt within the time limit" });
        }
        tokio::time::sleep(RECEIPT_POLL).await;
    };
    Ok(receipt)
}

fn event<E: SolEvent>(receipt: &TransactionReceipt) -> Result<E, L1Error> {
    receipt
        .inner
        .logs()
        .iter()
        .find_map(|l| l.log_decode::<E>().ok())
        .map(|l| l.inner.data)
        .ok_or_else(|| L1Error::Decode(format!("no {} event in the receipt", E::SIGNATURE)))
}

fn to_u64(v: U256, what: &str) -> Result<u64, L1Error> {
    u64::try_from(v).map_err(|_| L1Error::Decode(format!("{what} {v} does not fit in 64 bits")))
}

impl L1Client {
    /// A client over `provider`, sending from `account` (which the provider must sign for).
    pub fn new(provider: DynProvider, account: Address, deployment: Deployment) -> Self {
        Self {
            rollup: Rollup::new(deployment.rollup, provider.clone()),
            bridge: Bridge::new(deployment.bridge, provider.clone()),
            manager: ChallengeManager::new(deployment.challenge_manager, provider.clone()),
            provider,
            account,
            deployment,
            sending: Default::default(),
            fees: FeePolicy::default(),
            spend: Default::default(),
            mined_nonce_floor: Default::default(),
        }
    }

    /// This client with another fee policy.
    pub fn with_fee_policy(mut self, fees: FeePolicy) -> Self {
        self.fees = fees;
        self
    }

    /// The fee policy.
    pub fn fee_policy(&self) -> &FeePolicy {
        &self.fees
    }

    /// Wei this client's transactions have paid for gas since it was made (all its clones).
    pub fn spent_wei(&self) -> u128 {
        self.spend.lock().total_wei
    }

    /// The latest block's base fee per gas, in wei.
    pub async fn base_fee(&self) -> Result<u128, L1Error> {
        let block = self
            .provider
            .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
            .await?
            .ok_or_else(|| L1Error::Decode("no latest block".into()))?;
        Ok(u128::from(block.header.base_fee_per_gas.unwrap_or_default()))
    }

    /// Refuse a transaction that could take the hour's spend over the budget.
    fn check_budget(&self, gas: u64, max_fee: u128) -> Result<(), L1Error> {
        let Some(budget) = self.fees.budget_per_hour else { return Ok(()) };
        let spent = self.spend.lock().last_hour();
        let worst = u128::from(gas).saturating_mul(max_fee);
        if spent.saturating_add(worst) > budget {
            return Err(L1Error::BudgetExhausted {
                spent_wei: spent,
                next_wei: worst,
                budget_wei: budget,
            });
        }
        Ok(())
    }

    /// The nonce of the account's next transaction, as the node's latest state has it. A node can
    /// serve a receipt a moment before its `latest` state counts that transaction (anvil does,
    /// under load): taking the count then would reuse the nonce just mined and fail as "nonce
    /// too low". So a count below what this client saw mined is read again for up to
    /// [`NONCE_CATCH_UP`]; a count still below it after that is the truth (a reorg or an L1
    /// restart erased the transaction): it is used, and it becomes the new floor. The caller
    /// holds the send lock.
    async fn next_nonce(&self) -> Result<u64, L1Error> {
        let floor = self.mined_nonce_floor.load(std::sync::atomic::Ordering::Acquire);
        let started = std::time::Instant::now();
        loop {
            let count = self.provider.get_transaction_count(self.account).latest().await?;
            if count >= floor || started.elapsed() >= NONCE_CATCH_UP {
                if count < floor {
                    tracing::warn!(
                        count,
                        floor,
                        "L1 forgot transactions of this account (reorg or restart)"
                    );
                    // The floor described a history L1 no longer has: every later posting would
                    // wait out the catch-up again (a reorg of 30 postings cost a minute). The
                    // caller holds the send lock, so nothing records a nonce meanwhile.
                    self.mined_nonce_floor.store(count, std::sync::atomic::Ordering::Release);
                }
                return Ok(count);
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    fn record_mined_nonce(&self, nonce: u64) {
        self.mined_nonce_floor.fetch_max(nonce + 1, std::sync::atomic::Ordering::AcqRel);
    }

    fn record_spend(&self, receipt: &TransactionReceipt) {
        let wei = u128::from(receipt.gas_used).saturating_mul(receipt.effective_gas_price);
        self.spend.lock().record(wei);
    }

    /// Send a call with the gas limit of [`gas_limit_for`] and the fee policy's first bid, and
    /// wait for its receipt. The caller holds the send lock.
    async fn send_call<C: SolCall>(
        &self,
        call: alloy::contract::SolCallBuilder<&DynProvider, C>,
    ) -> Result<TransactionReceipt, L1Error> {
        let gas = gas_limit_for(call.estimate_gas().await?);
        let (max_fee, tip) = self.fees.bid(self.base_fee().await?, 0);
        self.check_budget(gas, max_fee)?;
        let pending =
            call.gas(gas).max_fee_per_gas(max_fee).max_priority_fee_per_gas(tip).send().await?;
        let receipt = confirm_unchecked(pending).await?;
        self.record_spend(&receipt);
        if !receipt.status() {
            return Err(L1Error::Reverted(receipt.transaction_hash));
        }
        Ok(receipt)
    }

    /// Wait for a receipt of any of `sent` (attempts at one nonce) for at most `limit`.
    async fn wait_for_any(
        &self,
        sent: &[TxHash],
        nonce: u64,
        limit: std::time::Duration,
    ) -> Result<Wait, L1Error> {
        let started = std::time::Instant::now();
        let mut unknown_since: Option<std::time::Instant> = None;
        let mut below_since: Option<std::time::Instant> = None;
        loop {
            for hash in sent {
                if let Some(receipt) = self.provider.get_transaction_receipt(*hash).await? {
                    return Ok(Wait::Mined(Box::new(receipt)));
                }
            }
            let count = self.provider.get_transaction_count(self.account).latest().await?;
            // Below the nonce: an L1 that forgot our earlier transactions keeps this one
            // pending forever (it was stuck until the receipt timeout). Read again for
            // [`NONCE_CATCH_UP`] first, as a node's count can lag.
            if count < nonce {
                if below_since.get_or_insert_with(std::time::Instant::now).elapsed()
                    >= NONCE_CATCH_UP
                {
                    return Ok(Wait::Gap { count });
                }
            } else {
                below_since = None;
            }
            if count > nonce {
                // Mined between the two reads, or taken by another transaction. A node can count
                // a mined transaction a moment before it serves its receipt (anvil does, under
                // load), so ours gets [`NONCE_CATCH_UP`] to show up before the nonce counts as
                // taken by another one.
                let counted = std::time::Instant::now();
                loop {
                    for hash in sent {
                        if let Some(receipt) = self.provider.get_transaction_receipt(*hash).await? {
                            return Ok(Wait::Mined(Box::new(receipt)));
                        }
                    }
                    if sent.is_empty() || counted.elapsed() >= NONCE_CATCH_UP {
                        return Ok(Wait::NonceTaken);
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            }
            let mut known = false;
            for hash in sent {
                known |= self.provider.get_transaction_by_hash(*hash).await?.is_some();
            }
            if known {
                unknown_since = None;
            } else if unknown_since.get_or_insert_with(std::time::Instant::now).elapsed()
                >= DROPPED_AFTER
            {
                return Ok(Wait::Dropped);
            }
            if started.elapsed() >= limit {
                return Ok(Wait::Pending);
            }
            tokio::time::sleep(RECEIPT_POLL).await;
        }
    }

    /// Connect over HTTP, signing with `signer`.
    pub fn connect(
        rpc_url: &str,
        signer: PrivateKeySigner,
        deployment: Deployment,
    ) -> Result<Self, L1Error> {
        let account = signer.address();
        Ok(Self::new(connect_http(rpc_url, signer)?, account, deployment))
    }

    /// The provider.
    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    /// The account this client sends from.
    pub fn account(&self) -> Address {
        self.account
    }

    /// The deployment.
    pub fn deployment(&self) -> &Deployment {
        &self.deployment
    }

    /// The latest L1 block number.
    pub async fn head(&self) -> Result<u64, L1Error> {
        Ok(self.provider.get_block_number().await?)
    }

    /// The hash of L1 block `number` on the chain the node follows now (`None` when it has no
    /// such block, e.g. after a reorg onto a shorter chain).
    pub async fn block_hash(&self, number: u64) -> Result<Option<B256>, L1Error> {
        let block = self.provider.get_block_by_number(number.into()).await?;
        Ok(block.map(|b| b.header.hash))
    }

    /// The timestamp of the latest L1 block.
    pub async fn head_timestamp(&self) -> Result<u64, L1Error> {
        let block = self
            .provider
            .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
            .await?
            .ok_or_else(|| L1Error::Decode("no latest block".into()))?;
        Ok(block.header.timestamp)
    }

    // --- Rollup ---

    /// Put `amount` wei of stake on the Rollup.
    pub async fn stake(&self, amount: U256) -> Result<TransactionReceipt, L1Error> {
        let _sending = self.sending.lock().await;
        self.send_call(self.rollup.stake().value(amount)).await
    }

    /// This account's stake, in wei.
    pub async fn stake_of(&self, who: Address) -> Result<U256, L1Error> {
        Ok(self.rollup.stakes(who).call().await?)
    }

    /// Append a batch meant for index `expected_index` on top of a tip whose post-state root is
    /// `expected_pre_root`; returns its index and the receipt.
    ///
    /// L1 reverts the call unless the Rollup is at exactly that index and tip, so a posting
    /// lands where it was computed for or nowhere: after a reorg, a crash with a posting still
    /// pending, or a race with another poster, a stale posting reverts instead of appending the
    /// same records at the next index.
    ///
    /// Every attempt uses the account's mined nonce: a posting of ours still pending (a crash
    /// or timeout while it waited) is replaced, not queued behind. An attempt without a receipt
    /// after the fee policy's `replace_after` is replaced with both fees raised by the minimum
    /// the node accepts, never above the policy's caps. Returns [`L1Error::NonceTaken`] when
    /// another transaction of this account (a crashed process's posting) took the nonce: the
    /// caller re-reads L1 before anything else.
    pub async fn append_batch(
        &self,
        records: &[Record],
        inbox_end: u64,
        post_state_root: B256,
        expected_index: u64,
        expected_pre_root: B256,
    ) -> Result<(u64, TransactionReceipt), L1Error> {
        let _sending = self.sending.lock().await;
        let bytes = Bytes::from(records.iter().flat_map(|r| r.0).collect::<Vec<u8>>());
        let call = || {
            self.rollup.appendBatch(
                bytes.clone(),
                U256::from(inbox_end),
                post_state_root,
                U256::from(expected_index),
                expected_pre_root,
            )
        };
        let nonce = self.next_nonce().await?;
        // Reverts (with the contract's error) when L1 is not at the expected index and tip.
        let gas = gas_limit_for(call().estimate_gas().await?);
        let started = std::time::Instant::now();
        let mut bumps = 0u32;
        let mut sent: Vec<TxHash> = Vec::new();
        let mut last_bid = None;
        loop {
            if started.elapsed() >= RECEIPT_TIMEOUT {
                return Err(L1Error::NotMined {
                    hash: sent.last().copied().unwrap_or_default(),
                    why: "no receipt within the time limit",
                });
            }
            let (max_fee, tip) = self.fees.bid(self.base_fee().await?, bumps);
            // At the caps a replacement cannot outbid what is pending: wait for it instead.
            if last_bid != Some((max_fee, tip)) {
                self.check_budget(gas, max_fee)?;
                let attempt = call()
                    .nonce(nonce)
                    .gas(gas)
                    .max_fee_per_gas(max_fee)
                    .max_priority_fee_per_gas(tip)
                    .send()
                    .await;
                match attempt {
                    Ok(pending) => {
                        sent.push(*pending.tx_hash());
                        last_bid = Some((max_fee, tip));
                    }
                    // A transaction of ours with higher or equal fees holds the nonce (one a
                    // crashed process sent): outbid it by one more step.
                    // At the caps, wait for that one (or for it to be dropped) instead.
                    Err(e) if is_replacement_refused(&e) => {
                        tracing::debug!(error = %e, bumps, "replacement refused; raising the bid");
                        let base = self.base_fee().await?;
                        if self.fees.bid(base, bumps + 1) != self.fees.bid(base, bumps) {
                            bumps += 1;
                            continue;
                        }
                        last_bid = Some((max_fee, tip));
                    }
                    Err(e) if is_nonce_too_low(&e) => return Err(L1Error::NonceTaken { nonce }),
                    Err(e) => return Err(e.into()),
                }
            }
            let limit = if sent.is_empty() { RECEIPT_POLL } else { self.fees.replace_after };
            match self.wait_for_any(&sent, nonce, limit).await? {
                Wait::Mined(receipt) => {
                    self.record_spend(&receipt);
                    self.record_mined_nonce(nonce);
                    if !receipt.status() {
                        return Err(L1Error::Reverted(receipt.transaction_hash));
                    }
                    let appended: Rollup::BatchAppended = event(&receipt)?;
                    return Ok((to_u64(appended.index, "batch index")?, *receipt));
                }
                Wait::NonceTaken => return Err(L1Error::NonceTaken { nonce }),
                Wait::Gap { count } => {
                    // The floor described what L1 forgot; the next posting starts at `count`.
                    self.mined_nonce_floor.store(count, std::sync::atomic::Ordering::Release);
                    return Err(L1Error::NonceAhead { nonce, count });
                }
                Wait::Dropped => {
                    tracing::warn!(nonce, "posting dropped by the node; sending it again");
                    sent.clear();
                    last_bid = None;
                }
                Wait::Pending => {
                    tracing::info!(
                        nonce,
                        bumps,
                        "posting not mined yet; replacing it with a higher bid"
                    );
                    bumps += 1;
                }
            }
        }
    }

    /// Check the deployment file against the contracts on L1: the chain, the wiring and every
    /// Rollup parameter. A service that took a wrong degree, chain id, fee recipient or period
    /// from the file would compute wrong roots or moves (a wrong degree made the challenger
    /// index out of bounds), so it refuses to start with the first field that differs.
    pub async fn check_deployment(&self) -> Result<(), L1Error> {
        let d = &self.deployment;
        let p = &d.params;
        let mismatch = |field: &'static str, file: String, l1: String| {
            Err(L1Error::DeploymentMismatch { field, file, l1 })
        };
        let chain_id = self.provider.get_chain_id().await?;
        if chain_id != d.l1_chain_id {
            return mismatch("l1ChainId", d.l1_chain_id.to_string(), chain_id.to_string());
        }
        if self.provider.get_code_at(d.rollup).await?.is_empty() {
            return mismatch("rollup", d.rollup.to_string(), "no contract at that address".into());
        }
        let r = &self.rollup;
        macro_rules! same {
            ($field:literal, $file:expr, $call:expr) => {{
                let on_l1 = $call.call().await?;
                if on_l1 != $file {
                    return mismatch($field, format!("{:?}", $file), format!("{:?}", on_l1));
                }
            }};
        }
        same!("bridge", d.bridge, r.bridge());
        same!("challengeManager", d.challenge_manager, r.challengeManager());
        same!("params.l2ChainId", p.l2_chain_id, r.l2ChainId());
        same!("params.feeRecipient", p.fee_recipient, r.feeRecipient());
        same!("params.sequencer", p.sequencer, r.sequencer());
        same!("params.challengePeriodSecs", p.challenge_period_secs, r.challengePeriod());
        same!("params.moveTimeoutSecs", p.move_timeout_secs, r.moveTimeout());
        same!("params.requiredStakeWei", p.required_stake_wei, r.requiredStake());
        same!("params.challengeBondWei", p.challenge_bond_wei, r.challengeBond());
        same!(
            "params.forceInclusionDelaySecs",
            p.force_inclusion_delay_secs,
            r.forceInclusionDelay()
        );
        same!(
            "params.sequencerInactivityPeriodSecs",
            p.sequencer_inactivity_period_secs,
            r.sequencerInactivityPeriod()
        );
        same!("params.degree", p.degree, r.degree());
        same!("params.challengerShareBps", p.challenger_share_bps, r.challengerShareBps());
        same!("oneStepProver", d.one_step_prover, self.manager.prover());
        Ok(())
    }

    /// The latest time batch `index` can be challenged (L1 timestamp, seconds).
    pub async fn challenge_deadline(&self, index: u64) -> Result<u64, L1Error> {
        to_u64(self.rollup.challengeDeadline(U256::from(index)).call().await?, "deadline")
    }

    /// How many batches the Rollup holds (the next batch's index).
    pub async fn batch_count(&self) -> Result<u64, L1Error> {
        Ok(self.rollup.batchCount().call().await?)
    }

    /// How many batches are final.
    pub async fn finalized_count(&self) -> Result<u64, L1Error> {
        Ok(self.rollup.finalizedCount().call().await?)
    }

    /// The inbox index the next batch starts at.
    pub async fn next_inbox_start(&self) -> Result<u64, L1Error> {
        Ok(self.rollup.nextInboxStart().call().await?)
    }

    /// A batch's stored header.
    pub async fn batch(&self, index: u64) -> Result<IRollup::Batch, L1Error> {
        Ok(self.rollup.getBatch(U256::from(index)).call().await?)
    }

    /// Whether batch `index` is still the batch with unique id `id` (not removed by a game).
    pub async fn is_current(&self, index: u64, id: u64) -> Result<bool, L1Error> {
        Ok(self.rollup.isCurrent(U256::from(index), id).call().await?)
    }

    /// Whether batch `index` is final.
    pub async fn is_final(&self, index: u64) -> Result<bool, L1Error> {
        Ok(self.rollup.isFinal(U256::from(index)).call().await?)
    }

    /// Finalize every batch up to and including `up_to` that can be.
    pub async fn finalize_batches(&self, up_to: u64) -> Result<TransactionReceipt, L1Error> {
        let _sending = self.sending.lock().await;
        self.send_call(self.rollup.finalizeBatches(U256::from(up_to))).await
    }

    /// The Rollup's batch events in `[from_block, to_block]`, in L1 order, with each appended
    /// batch's records read from its transaction's calldata.
    pub async fn rollup_events(
        &self,
        from_block: u64,
        to_block: u64,
    ) -> Result<Vec<RollupEvent>, L1Error> {
        let filter = Filter::new()
            .address(self.deployment.rollup)
            .event_signature(vec![
                Rollup::BatchAppended::SIGNATURE_HASH,
                Rollup::BatchesRemoved::SIGNATURE_HASH,
                Rollup::BatchFinalized::SIGNATURE_HASH,
            ])
            .from_block(from_block)
            .to_block(to_block);
        let mut out = Vec::new();
        for log in self.provider.get_logs(&filter).await? {
            if let Ok(e) = log.log_decode::<Rollup::BatchAppended>() {
                out.push(RollupEvent::Appended(self.posted_batch(&log, e.inner.data).await?));
            } else if let Ok(e) = log.log_decode::<Rollup::BatchesRemoved>() {
                let d = e.inner.data;
                out.push(RollupEvent::Removed {
                    from_index: to_u64(d.fromIndex, "batch index")?,
                    to_index: to_u64(d.toIndex, "batch index")?,
                    inbox_rewound_to: to_u64(d.inboxRewoundTo, "inbox index")?,
                });
            } else if let Ok(e) = log.log_decode::<Rollup::BatchFinalized>() {
                let d = e.inner.data;
                out.push(RollupEvent::Finalized {
                    index: to_u64(d.index, "batch index")?,
                    id: d.id,
                });
            }
        }
        Ok(out)
    }

    async fn posted_batch(
        &self,
        log: &Log,
        e: Rollup::BatchAppended,
    ) -> Result<PostedBatch, L1Error> {
        let hash =
            log.transaction_hash.ok_or_else(|| L1Error::Decode("log without tx hash".into()))?;
        let tx = self
            .provider
            .get_transaction_by_hash(hash)
            .await?
            .ok_or_else(|| L1Error::Decode(format!("posting transaction {hash} not found")))?;
        let call = Rollup::appendBatchCall::abi_decode(tx.input()).map_err(|err| {
            L1Error::Decode(format!("transaction {hash} is not an appendBatch call: {err}"))
        })?;
        let records = split_records(&call.records)
            .map_err(|err| L1Error::Decode(format!("records of {hash}: {err}")))?;
        if U256::from(records.len()) != e.txCount {
            return Err(L1Error::Decode(format!(
                "transaction {hash}: calldata and event disagree on the count"
            )));
        }
        Ok(PostedBatch {
            index: to_u64(e.index, "batch index")?,
            id: e.id,
            poster: e.poster,
            tx_root: e.txRoot,
            inbox_start: to_u64(e.inboxStart, "inbox index")?,
            inbox_end: to_u64(e.inboxEnd, "inbox index")?,
            post_state_root: e.postStateRoot,
            records,
            l1_tx: hash,
            l1_block: log.block_number.unwrap_or_default(),
        })
    }

    // --- Bridge ---

    /// The number of inbox entries.
    pub async fn inbox_length(&self) -> Result<u64, L1Error> {
        to_u64(self.bridge.inboxLength().call().await?, "inbox length")
    }

    /// The hash L1 stores for inbox entry `index` ([`InboxEntry::hash`]); reverts if there is
    /// none (check [`L1Client::inbox_length`] first).
    pub async fn inbox_entry_hash(&self, index: u64) -> Result<B256, L1Error> {
        Ok(self.bridge.entryHash(U256::from(index)).call().await?)
    }

    /// The L1 timestamp at which inbox entry `index` was appended.
    pub async fn inbox_entry_timestamp(&self, index: u64) -> Result<u64, L1Error> {
        to_u64(self.bridge.entryTimestamp(U256::from(index)).call().await?, "timestamp")
    }

    /// The inbox entries appended in `[from_block, to_block]`, in order.
    pub async fn inbox_entries(
        &self,
        from_block: u64,
        to_block: u64,
    ) -> Result<Vec<PostedInboxEntry>, L1Error> {
        let filter = Filter::new()
            .address(self.deployment.bridge)
            .event_signature(Bridge::InboxEntryAppended::SIGNATURE_HASH)
            .from_block(from_block)
            .to_block(to_block);
        let mut out = Vec::new();
        for log in self.provider.get_logs(&filter).await? {
            let e = log
                .log_decode::<Bridge::InboxEntryAppended>()
                .map_err(|err| L1Error::Decode(format!("inbox event: {err}")))?
                .inner
                .data;
            let kind = match e.kind {
                1 => InboxKind::Deposit,
                2 => InboxKind::ForcedWithdrawal,
                k => return Err(L1Error::Decode(format!("unknown inbox entry kind {k}"))),
            };
            let entry = InboxEntry {
                kind,
                sender: e.sender,
                recipient: e.recipient,
                token: e.token,
                amount: e.amount,
            };
            if entry.hash() != e.entryHash {
                return Err(L1Error::Decode(format!(
                    "inbox entry {} hash disagrees with its fields",
                    e.index
                )));
            }
            out.push(PostedInboxEntry {
                index: to_u64(e.index, "inbox index")?,
                entry,
                timestamp: to_u64(e.timestamp, "timestamp")?,
                l1_block: log.block_number.unwrap_or_default(),
            });
        }
        Ok(out)
    }

    /// Deposit `amount` wei of ETH for `recipient` on L2; returns the inbox index.
    pub async fn deposit_eth(&self, recipient: Address, amount: U256) -> Result<u64, L1Error> {
        let _sending = self.sending.lock().await;
        let receipt = self.send_call(self.bridge.depositETH(recipient).value(amount)).await?;
        let e: Bridge::InboxEntryAppended = event(&receipt)?;
        to_u64(e.index, "inbox index")
    }

    /// Deposit `amount` of an ERC-20 (already approved to the Bridge); returns the inbox index.
    pub async fn deposit_erc20(
        &self,
        token: Address,
        recipient: Address,
        amount: U256,
    ) -> Result<u64, L1Error> {
        let _sending = self.sending.lock().await;
        let receipt = self.send_call(self.bridge.depositERC20(token, recipient, amount)).await?;
        let e: Bridge::InboxEntryAppended = event(&receipt)?;
        to_u64(e.index, "inbox index")
    }

    /// Let the Bridge take up to `amount` of `token` from this account (before
    /// [`L1Client::deposit_erc20`]).
    pub async fn approve_bridge(
        &self,
        token: Address,
        amount: U256,
    ) -> Result<TransactionReceipt, L1Error> {
        let _sending = self.sending.lock().await;
        let erc20 = IErc20::new(token, self.provider.clone());
        self.send_call(erc20.approve(self.deployment.bridge, amount)).await
    }

    /// How much of `token` the Bridge may take from this account.
    pub async fn bridge_allowance(&self, token: Address) -> Result<U256, L1Error> {
        let erc20 = IErc20::new(token, self.provider.clone());
        Ok(erc20.allowance(self.account, self.deployment.bridge).call().await?)
    }

    /// `owner`'s balance of the ERC-20 `token` on L1.
    pub async fn erc20_balance(&self, token: Address, owner: Address) -> Result<U256, L1Error> {
        Ok(IErc20::new(token, self.provider.clone()).balanceOf(owner).call().await?)
    }

    /// Ask for a withdrawal through L1 that the sequencer cannot refuse; returns the inbox index.
    pub async fn force_withdraw(&self, token: Address, amount: u128) -> Result<u64, L1Error> {
        let _sending = self.sending.lock().await;
        let receipt = self.send_call(self.bridge.forceWithdraw(token, amount)).await?;
        let e: Bridge::InboxEntryAppended = event(&receipt)?;
        to_u64(e.index, "inbox index")
    }

    /// Pay out withdrawal `index` of final batch `batch_index` with its proof siblings.
    pub async fn finalize_withdrawal(
        &self,
        batch_index: u64,
        index: u64,
        recipient: Address,
        token: Address,
        amount: u128,
        siblings: Vec<B256>,
    ) -> Result<TransactionReceipt, L1Error> {
        let _sending = self.sending.lock().await;
        let call = self.bridge.finalizeWithdrawal(
            U256::from(batch_index),
            U256::from(index),
            recipient,
            token,
            U256::from(amount),
            siblings,
        );
        self.send_call(call).await
    }

    /// Whether withdrawal `index` has been paid.
    pub async fn is_withdrawal_spent(&self, index: u64) -> Result<bool, L1Error> {
        Ok(self.bridge.isWithdrawalSpent(U256::from(index)).call().await?)
    }

    // --- ChallengeManager ---

    /// Challenge `defender` (the poster or a bonded defender) of batch `batch_index`, posting
    /// the bond; returns the game id.
    pub async fn challenge(&self, batch_index: u64, defender: Address) -> Result<u64, L1Error> {
        let _sending = self.sending.lock().await;
        let bond = self.manager.challengeBond().call().await?;
        let receipt = self
            .send_call(self.manager.challenge(U256::from(batch_index), defender).value(bond))
            .await?;
        let e: ChallengeManager::GameStarted = event(&receipt)?;
        to_u64(e.gameId, "game id")
    }

    /// Bond to defend batch `batch_index` (this account then answers the games against it).
    pub async fn defend(&self, batch_index: u64) -> Result<TransactionReceipt, L1Error> {
        let _sending = self.sending.lock().await;
        let bond = self.manager.challengeBond().call().await?;
        self.send_call(self.manager.defend(U256::from(batch_index)).value(bond)).await
    }

    /// Remove batch `batch_index` once every defender of it lost and its defence window passed.
    pub async fn remove_defeated(&self, batch_index: u64) -> Result<TransactionReceipt, L1Error> {
        let _sending = self.sending.lock().await;
        self.send_call(self.manager.removeDefeated(U256::from(batch_index))).await
    }

    /// Take back this account's defence bond of the batch with id `batch_id` (final or removed).
    pub async fn release_defence(&self, batch_id: u64) -> Result<TransactionReceipt, L1Error> {
        let _sending = self.sending.lock().await;
        self.send_call(self.manager.releaseDefence(batch_id)).await
    }

    /// The defence of the batch with id `batch_id`.
    pub async fn defence(&self, batch_id: u64) -> Result<DefenceInfo, L1Error> {
        let d = self.manager.getDefence(batch_id).call().await?;
        Ok(DefenceInfo {
            last_challenge: d.lastChallenge,
            bonded_defenders: d.bondedDefenders,
            poster_eliminated: d.posterEliminated,
            poster_beaten_by: d.posterBeatenBy,
        })
    }

    /// Where `who` stands in the defence of the batch with id `batch_id`.
    pub async fn defender_status(
        &self,
        batch_id: u64,
        who: Address,
    ) -> Result<DefenderStatus, L1Error> {
        // The ABI carries enums as uint8: None, Active, Eliminated, Released.
        Ok(match self.manager.defenderStatus(batch_id, who).call().await? {
            0 => DefenderStatus::None,
            1 => DefenderStatus::Active,
            2 => DefenderStatus::Eliminated,
            _ => DefenderStatus::Released,
        })
    }

    /// The bonded defenders that joined the batch with id `batch_id`, in join order, from the
    /// ChallengeManager's `DefenderJoined` events since `from_block`.
    pub async fn bonded_defenders(
        &self,
        batch_id: u64,
        from_block: u64,
    ) -> Result<Vec<Address>, L1Error> {
        let filter = Filter::new()
            .address(self.deployment.challenge_manager)
            .event_signature(ChallengeManager::DefenderJoined::SIGNATURE_HASH)
            .topic2(U256::from(batch_id))
            .from_block(from_block);
        let mut out = Vec::new();
        for log in self.provider.get_logs(&filter).await? {
            let e = log
                .log_decode::<ChallengeManager::DefenderJoined>()
                .map_err(|e| L1Error::Decode(format!("DefenderJoined: {e}")))?;
            out.push(e.inner.data.defender);
        }
        Ok(out)
    }

    /// Pay escrowed slashing reward `slash_id` to its beneficiary (credited in the manager).
    pub async fn settle_slash(&self, slash_id: u64) -> Result<TransactionReceipt, L1Error> {
        let _sending = self.sending.lock().await;
        self.send_call(self.rollup.settleSlash(U256::from(slash_id))).await
    }

    /// The unpaid slashing rewards: (id, beneficiary, removed batch id, removed batch index).
    pub async fn open_slashes(&self) -> Result<Vec<SlashInfo>, L1Error> {
        let mut out = Vec::new();
        for id in self.rollup.openSlashes().call().await? {
            let s = self.rollup.getSlash(id).call().await?;
            out.push(SlashInfo {
                id: to_u64(id, "slash id")?,
                beneficiary: s.beneficiary,
                batch_id: s.batchId,
                batch_index: s.batchIndex,
                amount: s.amount,
            });
        }
        Ok(out)
    }

    /// As the asserter: post the interior roots of the current range.
    pub async fn dissect(
        &self,
        game: u64,
        roots: Vec<B256>,
    ) -> Result<TransactionReceipt, L1Error> {
        let _sending = self.sending.lock().await;
        self.send_call(self.manager.dissect(U256::from(game), roots)).await
    }

    /// As the challenger: pick the disputed segment.
    pub async fn select(&self, game: u64, segment: u64) -> Result<TransactionReceipt, L1Error> {
        let _sending = self.sending.lock().await;
        self.send_call(self.manager.select(U256::from(game), U256::from(segment))).await
    }

    /// As the challenger: prove the single disputed step with `witness` (ABI `StepWitness`).
    pub async fn prove_step(
        &self,
        game: u64,
        witness: Vec<u8>,
    ) -> Result<TransactionReceipt, L1Error> {
        let _sending = self.sending.lock().await;
        self.send_call(self.manager.proveStep(U256::from(game), Bytes::from(witness))).await
    }

    /// End a game whose party to move missed its deadline.
    pub async fn timeout(&self, game: u64) -> Result<TransactionReceipt, L1Error> {
        let _sending = self.sending.lock().await;
        self.send_call(self.manager.timeout(U256::from(game))).await
    }

    /// Whether game `game` can no longer be played: its batch was removed or its defender lost
    /// another game (close it with [`Self::cancel_stale`]).
    pub async fn is_stale(&self, game: u64) -> Result<bool, L1Error> {
        Ok(self.manager.isStale(U256::from(game)).call().await?)
    }

    /// Close a game whose batch was removed or whose defender was eliminated (bond returned).
    pub async fn cancel_stale(&self, game: u64) -> Result<TransactionReceipt, L1Error> {
        let _sending = self.sending.lock().await;
        self.send_call(self.manager.cancelStale(U256::from(game))).await
    }

    /// Withdraw the ETH the ChallengeManager credited to this account (rewards, bonds).
    pub async fn withdraw_credits(&self) -> Result<TransactionReceipt, L1Error> {
        let _sending = self.sending.lock().await;
        self.send_call(self.manager.withdraw()).await
    }

    /// ETH credited to `who` in the ChallengeManager, in wei.
    pub async fn credits(&self, who: Address) -> Result<U256, L1Error> {
        Ok(self.manager.credits(who).call().await?)
    }

    /// How many games have been started.
    pub async fn game_count(&self) -> Result<u64, L1Error> {
        to_u64(self.manager.gameCount().call().await?, "game count")
    }

    /// A game's state.
    pub async fn game(&self, id: u64) -> Result<GameInfo, L1Error> {
        let g = self.manager.getGame(U256::from(id)).call().await?;
        let roots = self.manager.dissectionRoots(U256::from(id)).call().await?;
        // The ABI carries enums as uint8: None, AsserterTurn, ChallengerTurn, AsserterWon,
        // ChallengerWon, Cancelled (IChallengeManager.Status).
        let status = match g.status {
            1 => GameStatus::AsserterTurn,
            2 => GameStatus::ChallengerTurn,
            3 => GameStatus::AsserterWon,
            4 => GameStatus::ChallengerWon,
            5 => GameStatus::Cancelled,
            other => {
                return Err(L1Error::Decode(format!("game {id} does not exist (status {other})")))
            }
        };
        Ok(GameInfo {
            id,
            batch_index: g.batchIndex,
            batch_id: g.batchId,
            asserter: g.asserter,
            challenger: g.challenger,
            status,
            deadline: g.deadline,
            lo: g.lo,
            hi: g.hi,
            root_lo: g.rootLo,
            root_hi: g.rootHi,
            dissection_roots: roots,
        })
    }
}

/// Whether a send failed because the node refuses to replace a pending transaction of the same
/// nonce (its fees are not higher by the price bump) or already has this exact one.
fn is_replacement_refused(e: &alloy::contract::Error) -> bool {
    let m = e.to_string().to_ascii_lowercase();
    m.contains("underpriced") || m.contains("already known") || m.contains("already imported")
}

/// Whether a send failed because the nonce is already mined.
fn is_nonce_too_low(e: &alloy::contract::Error) -> bool {
    let m = e.to_string().to_ascii_lowercase();
    m.contains("nonce too low") || m.contains("nonce is too low")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bid_follows_the_base_fee_and_never_passes_the_caps() {
        let p = FeePolicy {
            max_fee_per_gas: 100 * GWEI,
            tip: GWEI,
            max_tip: 3 * GWEI,
            budget_per_hour: None,
            replace_after: std::time::Duration::from_secs(1),
        };
        assert_eq!(p.bid(10 * GWEI, 0), (21 * GWEI, GWEI));
        // Each replacement raises both fees by at least the 10 % nodes require.
        let (f0, t0) = p.bid(10 * GWEI, 0);
        let (f1, t1) = p.bid(10 * GWEI, 1);
        assert!(f1 * 10 >= f0 * 11 && t1 * 10 >= t0 * 11, "{f1} {t1}");
        // However often it is replaced and however high the base fee, the caps hold.
        for bumps in [5, 50, 5_000] {
            let (f, t) = p.bid(10_000 * GWEI, bumps);
            assert!(f <= 100 * GWEI && t <= 3 * GWEI && t <= f);
        }
        // A quiet L1: the bid does not depend on earlier bids, only on the base fee.
        assert_eq!(p.bid(7, 0), (14 + GWEI, GWEI));
    }

    #[test]
    fn gas_limits_leave_a_margin_over_the_estimate() {
        assert_eq!(gas_limit_for(228_479), 228_479 + 45_695 + 20_000);
        assert!(gas_limit_for(228_479) > 231_279);
    }
}
