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

/// A game's state as L1 has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GameInfo {
    /// The game id.
    pub id: u64,
    /// The challenged batch.
    pub batch_index: u64,
    /// The challenged batch's unique id.
    pub batch_id: u64,
    /// The batch's poster.
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

/// How often a pending transaction's receipt is polled.
const RECEIPT_POLL: std::time::Duration = std::time::Duration::from_millis(250);

/// Wait (at most [`RECEIPT_TIMEOUT`]) for a sent transaction's receipt; a revert is an error. A
/// transaction the node no longer knows for [`DROPPED_AFTER`] (erased by a reorg or an L1
/// restart) is reported at once instead of holding the caller, and the send lock, for the
/// whole timeout.
pub(crate) async fn confirm(
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
    if !receipt.status() {
        return Err(L1Error::Reverted(receipt.transaction_hash));
    }
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
        confirm(self.rollup.stake().value(amount).send().await?).await
    }

    /// This account's stake, in wei.
    pub async fn stake_of(&self, who: Address) -> Result<U256, L1Error> {
        Ok(self.rollup.stakes(who).call().await?)
    }

    /// Append a batch; returns its index and the receipt.
    pub async fn append_batch(
        &self,
        records: &[Record],
        inbox_end: u64,
        post_state_root: B256,
    ) -> Result<(u64, TransactionReceipt), L1Error> {
        let _sending = self.sending.lock().await;
        let bytes: Vec<u8> = records.iter().flat_map(|r| r.0).collect();
        // Sent with the account's *mined* nonce and twice the current fees: if an earlier
        // posting is still pending (a crash or timeout while it waited), this one replaces it
        // instead of queueing behind it, so the same batch can never land twice.
        let nonce = self.provider.get_transaction_count(self.account).latest().await?;
        let fees = self.provider.estimate_eip1559_fees().await?;
        let call = self
            .rollup
            .appendBatch(Bytes::from(bytes), U256::from(inbox_end), post_state_root)
            .nonce(nonce)
            .max_fee_per_gas(fees.max_fee_per_gas.saturating_mul(2))
            .max_priority_fee_per_gas(fees.max_priority_fee_per_gas.saturating_mul(2));
        let receipt = confirm(call.send().await?).await?;
        let appended: Rollup::BatchAppended = event(&receipt)?;
        Ok((to_u64(appended.index, "batch index")?, receipt))
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

    /// Whether batch `index` is final.
    pub async fn is_final(&self, index: u64) -> Result<bool, L1Error> {
        Ok(self.rollup.isFinal(U256::from(index)).call().await?)
    }

    /// Finalize every batch up to and including `up_to` that can be.
    pub async fn finalize_batches(&self, up_to: u64) -> Result<TransactionReceipt, L1Error> {
        let _sending = self.sending.lock().await;
        confirm(self.rollup.finalizeBatches(U256::from(up_to)).send().await?).await
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
        let receipt =
            confirm(self.bridge.depositETH(recipient).value(amount).send().await?).await?;
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
        let receipt =
            confirm(self.bridge.depositERC20(token, recipient, amount).send().await?).await?;
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
        confirm(erc20.approve(self.deployment.bridge, amount).send().await?).await
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
        let receipt = confirm(self.bridge.forceWithdraw(token, amount).send().await?).await?;
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
        confirm(call.send().await?).await
    }

    /// Whether withdrawal `index` has been paid.
    pub async fn is_withdrawal_spent(&self, index: u64) -> Result<bool, L1Error> {
        Ok(self.bridge.isWithdrawalSpent(U256::from(index)).call().await?)
    }

    // --- ChallengeManager ---

    /// Challenge batch `batch_index`, posting the bond; returns the game id.
    pub async fn challenge(&self, batch_index: u64) -> Result<u64, L1Error> {
        let _sending = self.sending.lock().await;
        let bond = self.manager.challengeBond().call().await?;
        let receipt =
            confirm(self.manager.challenge(U256::from(batch_index)).value(bond).send().await?)
                .await?;
        let e: ChallengeManager::GameStarted = event(&receipt)?;
        to_u64(e.gameId, "game id")
    }

    /// As the asserter: post the interior roots of the current range.
    pub async fn dissect(
        &self,
        game: u64,
        roots: Vec<B256>,
    ) -> Result<TransactionReceipt, L1Error> {
        let _sending = self.sending.lock().await;
        confirm(self.manager.dissect(U256::from(game), roots).send().await?).await
    }

    /// As the challenger: pick the disputed segment.
    pub async fn select(&self, game: u64, segment: u64) -> Result<TransactionReceipt, L1Error> {
        let _sending = self.sending.lock().await;
        confirm(self.manager.select(U256::from(game), U256::from(segment)).send().await?).await
    }

    /// As the challenger: prove the single disputed step with `witness` (ABI `StepWitness`).
    pub async fn prove_step(
        &self,
        game: u64,
        witness: Vec<u8>,
    ) -> Result<TransactionReceipt, L1Error> {
        let _sending = self.sending.lock().await;
        confirm(self.manager.proveStep(U256::from(game), Bytes::from(witness)).send().await?).await
    }

    /// End a game whose party to move missed its deadline.
    pub async fn timeout(&self, game: u64) -> Result<TransactionReceipt, L1Error> {
        let _sending = self.sending.lock().await;
        confirm(self.manager.timeout(U256::from(game)).send().await?).await
    }

    /// Close a game whose batch was removed by another game (bond returned).
    pub async fn cancel_stale(&self, game: u64) -> Result<TransactionReceipt, L1Error> {
        let _sending = self.sending.lock().await;
        confirm(self.manager.cancelStale(U256::from(game)).send().await?).await
    }

    /// Withdraw the ETH the ChallengeManager credited to this account (rewards, bonds).
    pub async fn withdraw_credits(&self) -> Result<TransactionReceipt, L1Error> {
        let _sending = self.sending.lock().await;
        confirm(self.manager.withdraw().send().await?).await
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
