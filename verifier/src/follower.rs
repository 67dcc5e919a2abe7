//! Derivation from L1 alone: follow L1 `confirmations` blocks behind its head in bounded block
//! ranges, read the inbox entries and the Rollup's batch events (records from the posting
//! transactions' calldata), store them, and re-execute every new batch.
//!
//! Each range is stored before the in-memory chain takes it, and the progress block last, so a
//! crash or a failed round reads the range again (both sides ignore what they already have). An
//! L1 or database failure is retried with a growing pause; nothing is skipped.

use std::{collections::HashSet, sync::Arc, time::Duration};

use alloy::{eips::BlockNumberOrTag, providers::Provider};
use keel_l1::{client::RollupEvent, L1Client, L1Error};
use keel_store::{StoreError, StoredInboxEntry};

use crate::{
    chain::{self, ChainError, ChainEvent, VerdictReport},
    derive::{self, DeriveError},
    metrics::Metrics,
    shared::Shared,
    store::{ReadBlock, VerifierStore},
};

/// How the follower reads L1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FollowerConfig {
    /// Blocks to stay behind the L1 head.
    pub confirmations: u64,
    /// Pause between rounds once caught up.
    pub poll: Duration,
    /// Most L1 blocks read per round.
    pub max_range: u64,
}

/// The longest pause after repeated failures.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Why a round failed (it is retried).
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    /// L1 failed.
    #[error(transparent)]
    L1(#[from] L1Error),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The chain cannot take what L1 says.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// A blocking task panicked.
    #[error("a replay task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl From<DeriveError> for FollowError {
    fn from(e: DeriveError) -> Self {
        match e {
            DeriveError::L1(e) => Self::L1(e),
            DeriveError::Chain(e) => Self::Chain(e),
            DeriveError::Task(e) => Self::Task(e),
        }
    }
}

/// The follower task.
#[derive(Debug)]
pub struct Follower {
    l1: L1Client,
    store: VerifierStore,
    shared: Arc<Shared>,
    metrics: Metrics,
    cfg: FollowerConfig,
    next_block: u64,
    /// Batch ids already reported as wrong (a rebuild reaches the same verdict again).
    reported: HashSet<u64>,
    /// Batch ids already reported as wrong *and final* (too late to challenge).
    reported_final: HashSet<u64>,
}

impl Follower {
    /// A follower that reads L1 from `next_block` on.
    pub fn new(
        l1: L1Client,
        store: VerifierStore,
        shared: Arc<Shared>,
        metrics: Metrics,
        cfg: FollowerConfig,
        next_block: u64,
    ) -> Self {
        let reported = shared.chain.read().suspects().clone();
        Self {
            l1,
            store,
            shared,
            metrics,
            cfg,
            next_block,
            reported,
            reported_final: HashSet::new(),
        }
    }

    /// Follow L1 until `shutdown` fires.
    pub async fn run(mut self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut backoff = self.cfg.poll;
        loop {
            let pause = match self.round().await {
                // Behind: go on at once, so a long history is read at full speed.
                Ok(false) => Duration::ZERO,
                Ok(true) => {
                    backoff = self.cfg.poll;
                    self.cfg.poll
                }
                Err(e) => {
                    self.metrics.errors.with_label_values(&["follower"]).inc();
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "L1 follower round failed; retrying");
                    let pause = backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    pause
                }
            };
            if *shutdown.borrow() {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    async fn block_timestamp(&self, number: BlockNumberOrTag) -> Result<(u64, u64), L1Error> {
        derive::block_timestamp(&self.l1, number).await
    }

    /// One round: read up to `max_range` blocks, store, apply, execute. Returns whether the
    /// follower has caught up with the L1 head (less its confirmations).
    pub async fn round(&mut self) -> Result<bool, FollowError> {
        let (head, head_ts) = self.block_timestamp(BlockNumberOrTag::Latest).await?;
        {
            let mut v = self.shared.l1.lock();
            v.head_block = head;
            v.head_timestamp = head_ts;
        }
        self.metrics.l1_head_block.set(head as i64);
        if self.rewind_on_reorg().await? {
            return Ok(false);
        }
        let safe = head.saturating_sub(self.cfg.confirmations);
        if safe < self.next_block {
            self.update_lag();
            return Ok(true);
        }
        let from = self.next_block;
        let to = safe.min(from.saturating_add(self.cfg.max_range.max(1) - 1));
        let entries: Vec<StoredInboxEntry> = self
            .l1
            .inbox_entries(from, to)
            .await?
            .into_iter()
            .map(|e| StoredInboxEntry {
                index: e.index,
                entry: e.entry,
                l1_block: e.l1_block,
                l1_timestamp: e.timestamp,
            })
            .collect();
        let events = self.derive(self.l1.rollup_events(from, to).await?).await?;
        // Read after the logs: if L1 reorganized in between, this hash is the new branch's and
        // the logs may be the old one's, and the next round finds the reorg at `to` itself.
        let to_block = self
            .l1
            .provider()
            .get_block_by_number(to.into())
            .await
            .map_err(L1Error::from)?
            .ok_or_else(|| L1Error::Decode(format!("L1 has no block {to}")))?;
        let to_ts = to_block.header.timestamp;
        let irreversible = events
            .iter()
            .any(|e| matches!(e, ChainEvent::Removed { .. } | ChainEvent::Finalized { .. }));
        let read = ReadBlock { number: to, hash: to_block.header.hash, irreversible };

        // Durable first, then memory, event by event.
        self.store.put_inbox(&entries).await?;
        self.shared.chain.write().add_inbox(&entries)?;
        for event in events {
            match &event {
                ChainEvent::Appended(b) => {
                    let first_seq = self.shared.chain.read().first_seq_of(b.index);
                    self.store.put_batch(b, first_seq).await?;
                    tracing::info!(
                        batch = b.index,
                        id = b.id,
                        txs = b.records.len(),
                        inbox_end = b.inbox_end,
                        "batch derived from L1"
                    );
                }
                ChainEvent::Removed { from_index } => {
                    self.store.remove_batches_from(*from_index).await?;
                    tracing::warn!(from = from_index, "L1 removed batches");
                }
                ChainEvent::Finalized { index, .. } => {
                    self.store.mark_final_through(*index).await?;
                    tracing::debug!(batch = index, "batch final on L1");
                }
            }
            self.shared.chain.write().apply(event)?;
        }
        self.store.set_progress(read, self.l1.deployment().rollup).await?;
        self.next_block = to + 1;
        {
            let mut v = self.shared.l1.lock();
            v.scanned_block = Some(to);
            v.scanned_timestamp = to_ts;
        }
        self.metrics.l1_scanned_block.set(to as i64);

        if self.shared.chain.read().needs_reload() {
            self.reload().await?;
        }
        self.execute().await?;
        self.update_lag();
        Ok(to == safe)
    }

    /// Find a reorg of the blocks already read: the newest recorded block L1 no longer has. Then
    /// delete everything derived after the newest recorded block L1 still has (or everything,
    /// when a removal or finalization was read after it, or no recorded block is left), rebuild
    /// the chain from what remains and read on from there. Returns whether it rewound.
    async fn rewind_on_reorg(&mut self) -> Result<bool, FollowError> {
        // The common case costs one row and one RPC: the newest block read is still L1's.
        let Some(newest) = self.store.read_blocks(1).await?.pop() else { return Ok(false) };
        if self.l1.block_hash(newest.number).await? == Some(newest.hash) {
            return Ok(false);
        }
        let recorded = self.store.read_blocks(crate::store::READ_BLOCKS_KEPT).await?;
        let mut fork = None;
        let mut irreversible = false;
        for r in &recorded {
            if self.l1.block_hash(r.number).await? == Some(r.hash) {
                fork = Some(r.number);
                break;
            }
            irreversible |= r.irreversible;
        }
        let keep = if irreversible { None } else { fork };
        let rewound = self.store.rewind_after(keep).await?;
        self.metrics.reorgs.inc();
        tracing::warn!(
            read_up_to = newest.number,
            fork_block = ?fork,
            rewound_to = ?keep,
            first_batch_removed = ?rewound.first_index,
            "L1 reorganized blocks already read (deeper than the confirmations); re-deriving from the fork"
        );
        if let Some(id) = rewound.first_id {
            self.reported.retain(|&r| r < id);
            self.reported_final.retain(|&r| r < id);
        }
        self.next_block = keep.map_or(self.l1.deployment().start_block, |b| b + 1);
        {
            let mut v = self.shared.l1.lock();
            v.scanned_block = keep;
        }
        self.reload_from_store().await?;
        self.update_lag();
        Ok(true)
    }

    /// Turn Rollup events into chain events: recover the records' senders (in parallel, off
    /// the async threads) and stamp each batch with its L1 block's time.
    async fn derive(&self, events: Vec<RollupEvent>) -> Result<Vec<ChainEvent>, FollowError> {
        let domain = *self.shared.chain.read().domain();
        Ok(derive::chain_events(&self.l1, domain, events).await?)
    }

    /// Re-execute what can be, off the async threads; report and store the verdicts.
    async fn execute(&mut self) -> Result<(), FollowError> {
        let shared = self.shared.clone();
        let (reports, elapsed) = tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let reports = shared.chain.write().execute_pending();
            (reports, started.elapsed())
        })
        .await?;
        let reports = reports?;
        if reports.is_empty() {
            return Ok(());
        }
        let per_batch = elapsed.as_secs_f64() / reports.len() as f64;
        for r in &reports {
            self.metrics.replay_seconds.observe(per_batch);
            self.metrics.replayed_steps.inc_by(r.steps);
            self.report(r);
        }
        // The verdicts make a restart treat a wrong batch as a suspect at once; they are
        // recomputed on every start, so a failed write here only costs a second replay then.
        if let Err(e) = self.store.put_verdicts(&reports).await {
            tracing::warn!(error = %e, "storing verdicts failed");
        }
        if self.shared.chain.read().needs_reload() {
            self.reload().await?;
        }
        Ok(())
    }

    fn report(&mut self, r: &VerdictReport) {
        if r.agrees() {
            tracing::info!(batch = r.index, id = r.id, steps = r.steps, root = %r.claimed_root, "batch verified: roots agree");
        } else if self.reported.insert(r.id) {
            self.metrics.mismatches.inc();
            tracing::error!(
                batch = r.index,
                id = r.id,
                claimed = %r.claimed_root,
                computed = %r.computed_root,
                "MISMATCH: the batch's post-state root is wrong"
            );
        }
    }

    /// Rebuild the chain from the store: the hot state ran a batch it disputes, or L1 removed
    /// batches it had agreed with.
    async fn reload(&mut self) -> Result<(), FollowError> {
        let suspects = self.shared.chain.read().suspects().clone();
        self.rebuild(suspects).await
    }

    /// Rebuild the chain from the store alone (after a rewind: the suspects in memory may
    /// name batch ids L1 no longer has).
    async fn reload_from_store(&mut self) -> Result<(), FollowError> {
        self.rebuild(HashSet::new()).await
    }

    async fn rebuild(&mut self, mut suspects: HashSet<u64>) -> Result<(), FollowError> {
        let started = std::time::Instant::now();
        let config = *self.shared.chain.read().config();
        let loaded = self.store.load(&keel_core::tx::Domain::new(config)).await?;
        suspects.extend(loaded.suspects.iter().copied());
        let (chain, reports) = tokio::task::spawn_blocking(move || {
            chain::rebuild(config, &loaded.inbox, &loaded.batches, suspects)
        })
        .await??;
        for r in &reports {
            if !r.agrees() {
                self.report(r);
            }
        }
        let agreed = chain.agreed_count();
        *self.shared.chain.write() = chain;
        tracing::info!(
            agreed,
            ms = started.elapsed().as_millis() as u64,
            "state rebuilt from the store up to the last agreed batch"
        );
        Ok(())
    }

    /// The alarm of a wrong root that L1 made final anyway: nobody can challenge it any more,
    /// so every withdrawal it pays may be a theft. The follower goes on reading L1 (so the
    /// status and the bridge view stay current); an operator must act (docs/operations.md).
    fn check_final_dispute(&mut self) {
        let final_dispute = {
            let c = self.shared.chain.read();
            c.dispute()
                .filter(|d| d.is_final)
                .map(|d| (d.index, d.id, d.claimed_root, d.computed_root))
        };
        self.metrics.final_batch_wrong.set(i64::from(final_dispute.is_some()));
        if let Some((index, id, claimed, computed)) = final_dispute {
            if self.reported_final.insert(id) {
                tracing::error!(
                    batch = index,
                    id,
                    claimed = %claimed,
                    computed = %computed,
                    "CRITICAL: a batch FINAL on L1 has a wrong post-state root; it can no longer be challenged"
                );
            }
        }
    }

    fn update_lag(&mut self) {
        self.check_final_dispute();
        let (on_l1, verified, agreed) = {
            let c = self.shared.chain.read();
            let verified =
                c.batches().iter().filter(|b| b.verdict != crate::chain::Verdict::Pending).count()
                    as u64;
            (c.batches().len() as u64, verified, c.agreed_count())
        };
        let v = *self.shared.l1.lock();
        self.metrics.batches_on_l1.set(on_l1 as i64);
        self.metrics.batches_verified.set(verified as i64);
        self.metrics.batches_agreed.set(agreed as i64);
        self.metrics.lag_batches.set(on_l1.saturating_sub(verified) as i64);
        self.metrics.lag_seconds.set(v.head_timestamp.saturating_sub(v.scanned_timestamp) as f64);
    }
}
