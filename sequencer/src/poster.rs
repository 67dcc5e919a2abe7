//! The batch poster: puts closed batches on L1 in order, exactly once, and follows them to
//! finality.
//!
//! It never trusts its own memory of what it posted: every round it reads the Rollup's batch
//! count, posts only the batch with exactly that index, and treats a batch the ledger calls
//! posted but L1 does not have (a reorg, an L1 restart without state) as not posted. Every
//! posting names the index it is meant for and the pre-state root it builds on, and L1 reverts
//! it anywhere else, so a crash with a posting pending, a replacement or a race with another
//! poster can never land a batch twice or at another index.
//!
//! A batch L1 holds at one of our indexes is adopted as ours only when it is ours field by
//! field (tx root, count, inbox range, pre- and post-state root). When it is not, the poster
//! stops posting, sets `keel_l1_batch_mismatch`, logs what differs and turns `/readyz` not
//! ready: building on a history L1 does not have would only produce batches that revert or
//! that anyone can challenge. It then asks the node to realign the ledger with L1
//! ([`crate::realign`]), which restarts the service on the realigned ledger.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use alloy::primitives::B256;
use keel_core::txroot::tx_root;
use keel_l1::{L1Client, L1Error};
use keel_store::{BatchState, Ledger};
use parking_lot::Mutex;

use crate::{
    chain::Chain,
    fault::{ClaimError, Faults, PostedClaim},
    metrics::Metrics,
};

/// Most batches finalized in one transaction.
const MAX_FINALIZE: u64 = 256;

/// How often the poster looks for work.
pub const POLL: Duration = Duration::from_millis(500);

/// How the poster is doing, for `/readyz`, `/v1/status` and the metrics. Shared by clones.
#[derive(Clone, Debug, Default)]
pub struct PostingHealth {
    inner: Arc<Mutex<HealthState>>,
}

#[derive(Debug, Default)]
struct HealthState {
    failing_since: Option<Instant>,
    last_error: Option<String>,
    mismatch: Option<String>,
}

impl PostingHealth {
    fn succeeded(&self) {
        let mut h = self.inner.lock();
        h.failing_since = None;
        h.last_error = None;
        h.mismatch = None;
    }

    fn failed(&self, error: &PostError) {
        let mut h = self.inner.lock();
        h.failing_since.get_or_insert_with(Instant::now);
        h.last_error = Some(error.to_string());
        h.mismatch = match error {
            PostError::Mismatch { .. } => Some(error.to_string()),
            _ => None,
        };
    }

    /// How long posting rounds have failed without a success in between.
    pub fn failing_for(&self) -> Option<Duration> {
        self.inner.lock().failing_since.map(|t| t.elapsed())
    }

    /// The last round's error, if it failed.
    pub fn last_error(&self) -> Option<String> {
        self.inner.lock().last_error.clone()
    }

    /// Why the sequencer is not ready to serve as the chain's poster: L1 holds a batch that is
    /// not ours at one of our indexes, or posting has failed for longer than `stall_after`.
    pub fn not_ready_reason(&self, stall_after: Duration) -> Option<String> {
        let h = self.inner.lock();
        if let Some(m) = &h.mismatch {
            return Some(m.clone());
        }
        match (h.failing_since, &h.last_error) {
            (Some(since), Some(e)) if since.elapsed() >= stall_after => {
                Some(format!("posting to L1 has failed for {} s: {e}", since.elapsed().as_secs()))
            }
            _ => None,
        }
    }
}

/// When the poster asks the node to realign the ledger with L1 ([`crate::realign`]): L1's tip
/// is a batch that is not the ledger's, and not the one the last realignment left waiting for
/// its removal (a wrong root a game will remove; realigning again would change nothing).
#[derive(Clone, Debug)]
pub struct Realignment {
    /// Set to true to ask for a realignment (shared by the poster and the inbox watcher).
    pub request: Arc<tokio::sync::watch::Sender<bool>>,
    /// The L1 batch (index, post-state root) the last realignment did not adopt.
    pub waiting_for_removal: Option<(u64, B256)>,
}

impl Realignment {
    fn consider(&self, error: &PostError) {
        match error {
            PostError::Mismatch { index, on_l1_root, .. }
                if self.waiting_for_removal != Some((*index, *on_l1_root)) =>
            {
                self.ask(&format!("L1 holds a batch {index} the ledger does not"))
            }
            PostError::InboxReorged { index } => {
                self.ask(&format!("L1 no longer has the ledger's inbox entry {index}"))
            }
            _ => {}
        }
    }

    /// Ask for a realignment (once).
    pub fn ask(&self, why: &str) {
        if !*self.request.borrow() {
            tracing::warn!(%why, "asking for a realignment with L1");
            let _ = self.request.send(true);
        }
    }
}

/// Post and finalize batches until `shutdown` fires.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    l1: L1Client,
    ledger: Ledger,
    metrics: Metrics,
    faults: std::sync::Arc<Faults>,
    chain: std::sync::Arc<parking_lot::RwLock<Chain>>,
    health: PostingHealth,
    realignment: Realignment,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut backoff = POLL;
    loop {
        let result = round(&l1, &ledger, &metrics, &faults, &chain).await;
        metrics.l1_fees_paid.set(l1.spent_wei() as f64 / 1e18);
        match &result {
            Ok(_) => {
                health.succeeded();
                metrics.posting_failing_seconds.set(0);
                metrics.batch_mismatch.set(0);
            }
            Err(e) => {
                health.failed(e);
                metrics.posting_failures.inc();
                metrics
                    .posting_failing_seconds
                    .set(health.failing_for().map_or(0, |d| d.as_secs() as i64));
                metrics.batch_mismatch.set(i64::from(matches!(e, PostError::Mismatch { .. })));
            }
        }
        match result {
            // More closed batches may be waiting: post the next one at once, so posting keeps
            // up with the sequencer under load instead of one batch per poll.
            Ok(true) => {
                backoff = POLL;
                if *shutdown.borrow() {
                    return;
                }
                continue;
            }
            Ok(false) => backoff = POLL,
            Err(e @ PostError::InboxReorged { .. }) => {
                tracing::error!(error = %e, "posting stopped");
                realignment.consider(&e);
                backoff = Duration::from_secs(5);
            }
            Err(e @ PostError::Mismatch { .. }) => {
                tracing::error!(error = %e, "L1 holds a batch that is not ours: posting stopped");
                realignment.consider(&e);
                backoff = Duration::from_secs(5);
            }
            Err(e) => {
                tracing::warn!(error = %e, "batch poster round failed; retrying");
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Errors of one round.
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    /// L1 failed.
    #[error(transparent)]
    L1(#[from] L1Error),
    /// The ledger failed.
    #[error(transparent)]
    Store(#[from] keel_store::StoreError),
    /// A fault injection does not fit the batch (tests only).
    #[error(transparent)]
    Fault(#[from] ClaimError),
    /// L1 no longer holds an inbox entry the next batch consumes as the ledger has it (a
    /// reorg deeper than the confirmations).
    #[error(
        "L1's inbox entry {index} is not the ledger's (a reorg deeper than the confirmations)"
    )]
    InboxReorged {
        /// The entry.
        index: u64,
    },
    /// L1 holds a batch at one of our indexes that differs from the ledger's.
    #[error("L1 batch {index} is not the ledger's batch {index}: {differences}")]
    Mismatch {
        /// The batch.
        index: u64,
        /// Its post-state root on L1 (which batch it is, for [`Realignment`]).
        on_l1_root: B256,
        /// Which fields differ, with both values.
        differences: String,
    },
}

/// A batch header as L1 stores it, or as the ledger says it must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) tx_root: B256,
    pub(crate) tx_count: u64,
    pub(crate) inbox_start: u64,
    pub(crate) inbox_end: u64,
    pub(crate) pre_root: B256,
    pub(crate) post_root: B256,
}

impl Header {
    /// The header of a batch as L1 holds it.
    pub(crate) fn of(b: &keel_l1::bindings::rollup::IRollup::Batch) -> Self {
        Self {
            tx_root: b.txRoot,
            tx_count: b.txCount,
            inbox_start: b.inboxStart,
            inbox_end: b.inboxEnd,
            pre_root: b.preStateRoot,
            post_root: b.postStateRoot,
        }
    }

    /// The fields in which `self` (L1) differs from `ours`, named with both values.
    fn differences(&self, ours: &Header) -> Vec<String> {
        let mut d = Vec::new();
        let mut field = |name: &str, l1: String, ledger: String| {
            if l1 != ledger {
                d.push(format!("{name} is {l1} on L1, {ledger} in the ledger"));
            }
        };
        field("tx root", self.tx_root.to_string(), ours.tx_root.to_string());
        field("tx count", self.tx_count.to_string(), ours.tx_count.to_string());
        field("inbox start", self.inbox_start.to_string(), ours.inbox_start.to_string());
        field("inbox end", self.inbox_end.to_string(), ours.inbox_end.to_string());
        field("pre-state root", self.pre_root.to_string(), ours.pre_root.to_string());
        field("post-state root", self.post_root.to_string(), ours.post_root.to_string());
        d
    }
}

/// The header of closed batch `index` as the ledger and the chain say it must be on L1.
async fn ledger_header(
    ledger: &Ledger,
    chain: &parking_lot::RwLock<Chain>,
    index: u64,
) -> Result<Option<Header>, PostError> {
    let info = chain.read().batches().get(index as usize).cloned();
    let Some(info) = info.filter(|b| b.post_root.is_some()) else { return Ok(None) };
    let records = ledger.batch_records(index).await?;
    Ok(Some(Header {
        tx_root: tx_root(&records),
        tx_count: records.len() as u64,
        inbox_start: info.inbox_start,
        inbox_end: info.inbox_end,
        pre_root: info.pre_root,
        post_root: info.post_root.unwrap_or_default(),
    }))
}

/// Check that L1's batch `index` is ours (honest, or the dishonest claim a fault posted).
async fn check_ours(
    l1: &L1Client,
    ledger: &Ledger,
    faults: &Faults,
    chain: &parking_lot::RwLock<Chain>,
    index: u64,
) -> Result<(), PostError> {
    let on_l1 = Header::of(&l1.batch(index).await?);
    let Some(ours) = ledger_header(ledger, chain, index).await? else {
        return Err(PostError::Mismatch {
            index,
            on_l1_root: on_l1.post_root,
            differences: "the ledger has no closed batch at this index (another poster's \
                          batch, e.g. the escape hatch's)"
                .into(),
        });
    };
    let differences = on_l1.differences(&ours);
    if differences.is_empty() {
        return Ok(());
    }
    // A batch a fault posted dishonestly (tests only), or a batch on top of one.
    let claimed = |i: u64| faults.posted_claim(i);
    let pre_claim = index.checked_sub(1).and_then(claimed).map(|c| c.post_root);
    let dishonest = claimed(index).map_or(ours, |c| Header {
        tx_root: c.tx_root,
        tx_count: c.tx_count,
        post_root: c.post_root,
        ..ours
    });
    let dishonest = Header { pre_root: pre_claim.unwrap_or(dishonest.pre_root), ..dishonest };
    if on_l1.differences(&dishonest).is_empty() {
        return Ok(());
    }
    Err(PostError::Mismatch {
        index,
        on_l1_root: on_l1.post_root,
        differences: differences.join("; "),
    })
}

/// One round: reconcile with L1, post the next batch if it is closed, finalize what can be.
/// Returns whether a batch was posted.
pub async fn round(
    l1: &L1Client,
    ledger: &Ledger,
    metrics: &Metrics,
    faults: &Faults,
    chain: &parking_lot::RwLock<Chain>,
) -> Result<bool, PostError> {
    let on_l1 = l1.batch_count().await?;
    // Gauges first, so they stay true while posting fails.
    metrics.unposted_batches.set(ledger.count_closed_from(on_l1).await? as i64);
    metrics
        .oldest_unposted_batch_age
        .set(ledger.oldest_closed_age_from(on_l1).await?.unwrap_or(0.0));
    let now = l1.head_timestamp().await?;
    let (next_inbox, inbox_length) = (l1.next_inbox_start().await?, l1.inbox_length().await?);
    let oldest_waiting = if next_inbox < inbox_length {
        now.saturating_sub(l1.inbox_entry_timestamp(next_inbox).await?)
    } else {
        0
    };
    metrics.oldest_unconsumed_inbox_age.set(oldest_waiting as i64);

    let dropped = ledger.mark_unposted_from(on_l1).await?;
    if dropped > 0 {
        tracing::warn!(
            count = dropped,
            from = on_l1,
            "posted batches are missing on L1 (reorg or L1 restart); posting them again"
        );
    }
    // The tip must be ours, whoever posted it: a batch L1 holds that the ledger does not have
    // (or has otherwise) means a history the sequencer cannot build on.
    if on_l1 > 0 {
        check_ours(l1, ledger, faults, chain, on_l1 - 1).await?;
    }
    // Batches L1 has but the ledger does not call posted: a crash after posting. Adopt each
    // once it is ours field by field.
    let window = ledger.batches(on_l1.saturating_sub(64), 64 + 2).await?;
    for b in window.iter().filter(|b| b.index < on_l1 && b.state == BatchState::Closed) {
        check_ours(l1, ledger, faults, chain, b.index).await?;
        ledger.mark_posted(b.index, B256::ZERO, 0).await?;
        tracing::info!(batch = b.index, "adopted a batch found on L1 after a restart");
    }
    let mut posted = false;
    if let Some(next) = window.iter().find(|b| b.index == on_l1) {
        if next.state == BatchState::Closed {
            posted = post(l1, ledger, metrics, faults, chain, next.index, next.inbox_end).await?;
        }
    }
    let on_l1 = l1.batch_count().await?;
    metrics.unposted_batches.set(ledger.count_closed_from(on_l1).await? as i64);
    metrics
        .oldest_unposted_batch_age
        .set(ledger.oldest_closed_age_from(on_l1).await?.unwrap_or(0.0));
    // Finality: finalize every batch whose challenge period is over (deadlines grow with the
    // index, so they are a prefix of the unfinalized batches).
    let finalized = l1.finalized_count().await?;
    metrics.unfinalized_batches.set(on_l1.saturating_sub(finalized) as i64);
    let mut up_to = None;
    for index in finalized..on_l1.min(finalized + MAX_FINALIZE) {
        if l1.challenge_deadline(index).await? <= now {
            up_to = Some(index);
        } else {
            break;
        }
    }
    if let Some(up_to) = up_to {
        // Reverts while a game against one of them is open; retried next round.
        match l1.finalize_batches(up_to).await {
            Ok(_) => tracing::info!(up_to, "batches finalized"),
            Err(e) => {
                tracing::info!(up_to, error = %e, "batches not finalized yet (an open game?)")
            }
        }
    }
    ledger.mark_final_below(l1.finalized_count().await?).await?;
    Ok(posted)
}

/// Post closed batch `index` (L1's next index) on top of its pre-state root.
async fn post(
    l1: &L1Client,
    ledger: &Ledger,
    metrics: &Metrics,
    faults: &Faults,
    chain: &parking_lot::RwLock<Chain>,
    index: u64,
    inbox_end: u64,
) -> Result<bool, PostError> {
    let Some(info) = chain.read().batches().get(index as usize).cloned() else {
        return Ok(false);
    };
    // The batch's last inbox entry must still be on L1 as the ledger has it: after a reorg
    // deeper than the confirmations, a batch built on the old entries would claim a wrong root.
    // (A reorg replaces a suffix of blocks, so a replaced entry shows at the end of the range;
    // the inbox watcher checks the newest stored entry every round too.)
    if let Some(last) = info.inbox_end.checked_sub(1).filter(|_| info.inbox_end > info.inbox_start)
    {
        let stored = chain.read().inbox_entries(last, last + 1).first().map(|e| e.hash());
        let on_l1 = if last < l1.inbox_length().await? {
            Some(l1.inbox_entry_hash(last).await?)
        } else {
            None
        };
        if stored != on_l1 {
            return Err(PostError::InboxReorged { index: last });
        }
    }
    let mut root = info.post_root.unwrap_or_default();
    // On top of a batch a fault posted dishonestly (tests only) and L1 still holds, the tip's
    // root is the claim.
    let pre_root = match index.checked_sub(1).and_then(|i| Some((i, faults.posted_claim(i)?))) {
        Some((i, c)) if l1.batch(i).await?.postStateRoot == c.post_root => c.post_root,
        _ => info.pre_root,
    };
    let mut records = ledger.batch_records(index).await?;
    let dishonest = faults.dishonest_posting_due(index);
    if dishonest {
        let claim = faults.claim(&chain.read(), index, &records)?;
        if let Some(claim) = claim {
            tracing::warn!(batch = index, "FAULT: posting a dishonest batch");
            root = claim.roots.last().copied().unwrap_or_default();
            records = claim.records;
        }
    }
    let started = Instant::now();
    let (posted_at, receipt) = l1.append_batch(&records, inbox_end, root, index, pre_root).await?;
    if dishonest {
        let claim = PostedClaim {
            tx_root: tx_root(&records),
            tx_count: records.len() as u64,
            post_root: root,
        };
        faults.posted_dishonestly(posted_at, claim);
    }
    metrics.post_seconds.observe(started.elapsed().as_secs_f64());
    metrics.post_gas.observe(receipt.gas_used as f64);
    metrics.batches_posted.inc();
    ledger
        .mark_posted(posted_at, receipt.transaction_hash, receipt.block_number.unwrap_or_default())
        .await?;
    tracing::info!(batch = posted_at, txs = records.len(), gas = receipt.gas_used, "batch posted");
    Ok(true)
}
