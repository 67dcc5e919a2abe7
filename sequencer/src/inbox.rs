//! The inbox watcher: reads deposits and forced withdrawals from L1 once they are
//! `confirmations` blocks deep, stores them, and hands them to the chain, which consumes them
//! at the start of the next batch.

use std::{sync::Arc, time::Duration};

use keel_l1::{L1Client, PostedInboxEntry};
use keel_store::{Ledger, StoredInboxEntry};
use parking_lot::RwLock;

use crate::{chain::Chain, metrics::Metrics};

/// Most L1 blocks read per log query.
const MAX_RANGE: u64 = 2_000;

/// Watch the inbox until `shutdown` fires.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    l1: L1Client,
    ledger: Ledger,
    chain: Arc<RwLock<Chain>>,
    metrics: Metrics,
    confirmations: u64,
    poll: Duration,
    realignment: crate::poster::Realignment,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    // Resume at the block of the newest stored entry: entries are appended in block order, so
    // nothing newer is before it, and re-reading that block is harmless (entries are idempotent
    // by index). A fresh ledger starts at the deployment block.
    let start = l1.deployment().start_block;
    let mut next_block = chain.read().last_inbox_block().map_or(start, |b| b.max(start));
    tracing::info!(from_block = next_block, "inbox watcher starting");
    loop {
        match still_on_l1(&l1, &chain).await {
            Ok(true) => {}
            Ok(false) => realignment.ask("L1 no longer has the newest stored inbox entry"),
            Err(e) => tracing::warn!(error = %e, "inbox watcher could not check L1; retrying"),
        }
        match step(&l1, &ledger, &chain, &metrics, confirmations, next_block).await {
            Ok(n) => next_block = n,
            Err(e) => tracing::warn!(error = %e, "inbox watcher round failed; retrying"),
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Whether L1 still holds the newest stored inbox entry as stored. A reorg deeper than the
/// confirmations replaces a suffix of L1's blocks, so a replaced entry shows here; the node then
/// realigns the ledger with L1 ([`crate::realign`]).
async fn still_on_l1(l1: &L1Client, chain: &RwLock<Chain>) -> Result<bool, keel_l1::L1Error> {
    let newest = {
        let c = chain.read();
        let index = c.known_inbox().checked_sub(1);
        index.and_then(|i| Some((i, c.inbox_entries(i, i + 1).first()?.hash())))
    };
    let Some((index, hash)) = newest else { return Ok(true) };
    Ok(index < l1.inbox_length().await? && l1.inbox_entry_hash(index).await? == hash)
}

async fn step(
    l1: &L1Client,
    ledger: &Ledger,
    chain: &RwLock<Chain>,
    metrics: &Metrics,
    confirmations: u64,
    from: u64,
) -> anyhow::Result<u64> {
    let head = l1.head().await?;
    let safe = head.saturating_sub(confirmations);
    metrics.inbox_lag_blocks.set(head.saturating_sub(from) as i64);
    if safe < from {
        return Ok(from);
    }
    let to = safe.min(from + MAX_RANGE - 1);
    let entries = l1.inbox_entries(from, to).await?;
    let stored: Vec<StoredInboxEntry> = entries.iter().map(stored).collect();
    // Durable first: a batch that consumes an entry must find it in the ledger after a restart.
    ledger.insert_inbox_entries(&stored).await?;
    chain.write().add_inbox_entries(&stored)?;
    if !stored.is_empty() {
        tracing::info!(count = stored.len(), first = stored[0].index, "inbox entries confirmed");
    }
    Ok(to + 1)
}

/// An inbox entry read from L1, as the ledger stores it.
pub(crate) fn stored(e: &PostedInboxEntry) -> StoredInboxEntry {
    StoredInboxEntry {
        index: e.index,
        entry: e.entry,
        l1_block: e.l1_block,
        l1_timestamp: e.timestamp,
    }
}
