//! The batch poster: puts closed batches on L1 in order, exactly once, and follows them to
//! finality.
//!
//! It never trusts its own memory of what it posted: every round it reads the Rollup's batch
//! count, posts only the batch with exactly that index, and treats a batch the ledger calls
//! posted but L1 does not have (a reorg, an L1 restart without state) as not posted. So a crash
//! at any point, an L1 restart or a dropped transaction leads to posting again, never twice.

use std::time::Duration;

use keel_l1::{L1Client, L1Error};
use keel_store::{BatchState, Ledger};

use crate::{
    chain::Chain,
    fault::{ClaimError, Faults},
    metrics::Metrics,
};

/// Most batches finalized in one transaction.
const MAX_FINALIZE: u64 = 256;

/// How often the poster looks for work.
pub const POLL: Duration = Duration::from_millis(500);

/// Post and finalize batches until `shutdown` fires.
pub async fn run(
    l1: L1Client,
    ledger: Ledger,
    metrics: Metrics,
    faults: std::sync::Arc<Faults>,
    chain: std::sync::Arc<parking_lot::RwLock<Chain>>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut backoff = POLL;
    loop {
        match round(&l1, &ledger, &metrics, &faults, &chain).await {
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
    /// L1 holds a batch that is not ours at an index we own: something is badly wrong.
    #[error("L1 batch {index} has root {on_l1}, the ledger has {ours}")]
    Fork {
        /// The batch.
        index: u64,
        /// Root on L1.
        on_l1: alloy::primitives::B256,
        /// Our root.
        ours: alloy::primitives::B256,
    },
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
    let mut posted = false;
    let on_l1 = l1.batch_count().await?;
    let dropped = ledger.mark_unposted_from(on_l1).await?;
    if dropped > 0 {
        tracing::warn!(
            count = dropped,
            from = on_l1,
            "posted batches are missing on L1 (reorg or L1 restart); posting them again"
        );
    }
    // Batches L1 has but the ledger does not call posted: a crash after posting. Adopt them if
    // the roots match.
    let window = ledger.batches(on_l1.saturating_sub(64), 64 + 2).await?;
    for b in window.iter().filter(|b| b.index < on_l1 && b.state == BatchState::Closed) {
        let header = l1.batch(b.index).await?;
        let ours = b.post_root.unwrap_or_default();
        if header.postStateRoot != ours {
            return Err(PostError::Fork { index: b.index, on_l1: header.postStateRoot, ours });
        }
        ledger.mark_posted(b.index, alloy::primitives::B256::ZERO, 0).await?;
        tracing::info!(batch = b.index, "adopted a batch found on L1 after a restart");
    }
    if let Some(next) = window.iter().find(|b| b.index == on_l1) {
        if next.state == BatchState::Closed {
            let mut root = next.post_root.unwrap_or_default();
            let mut records = ledger.batch_records(next.index).await?;
            let dishonest = faults.dishonest_posting_due(next.index);
            if dishonest {
                let claim = faults.claim(&chain.read(), next.index, &records)?;
                if let Some(claim) = claim {
                    tracing::warn!(batch = next.index, "FAULT: posting a dishonest batch");
                    root = claim.roots.last().copied().unwrap_or_default();
                    records = claim.records;
                }
            }
            let started = std::time::Instant::now();
            let (index, receipt) = l1.append_batch(&records, next.inbox_end, root).await?;
            if dishonest {
                faults.posted_dishonestly(index);
            }
            metrics.post_seconds.observe(started.elapsed().as_secs_f64());
            metrics.post_gas.observe(receipt.gas_used as f64);
            metrics.batches_posted.inc();
            ledger
                .mark_posted(
                    index,
                    receipt.transaction_hash,
                    receipt.block_number.unwrap_or_default(),
                )
                .await?;
            tracing::info!(
                batch = index,
                txs = records.len(),
                gas = receipt.gas_used,
                "batch posted"
            );
            posted = true;
        }
    }
    let on_l1 = l1.batch_count().await?;
    metrics.unposted_batches.set(ledger.count_closed_from(on_l1).await? as i64);
    // Finality: finalize every batch whose challenge period is over (deadlines grow with the
    // index, so they are a prefix of the unfinalized batches).
    let finalized = l1.finalized_count().await?;
    metrics.unfinalized_batches.set(on_l1.saturating_sub(finalized) as i64);
    let now = l1.head_timestamp().await?;
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
