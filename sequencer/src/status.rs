//! The operator's status page and the snapshot it reads.
//!
//! `GET /` serves `assets/status.html`: one self-contained page (inline CSS, JS and SVG, nothing
//! fetched from elsewhere, so it works on a machine without network) compiled into the binary.
//! It polls `GET /v1/status` every second and follows the `/v1/feed` websocket to chart accepted
//! transactions per second.
//!
//! `GET /v1/status` answers from the in-memory chain, one ledger read (the latest batches, so
//! their states match `/v1/batches`), and a cached view of L1 (dispute games, removed batches,
//! L1 counts) that a background task refreshes. The cache keeps page viewers from ever making
//! the API wait on L1, and many viewers cost L1 nothing extra.

use std::{
    collections::{BTreeMap, BTreeSet, VecDeque},
    sync::{Arc, Weak},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use alloy::{
    primitives::{B256, U256},
    providers::Provider,
    rpc::types::Filter,
    sol_types::SolEvent,
};
use axum::{
    extract::State,
    http::{header, HeaderValue},
    response::{IntoResponse, Response},
    Json,
};
use keel_l1::{bindings::rollup::Rollup, GameInfo, GameStatus, L1Client, L1Error};
use parking_lot::RwLock;
use serde_json::{json, Value};

use crate::api::{ApiError, ApiState};

/// The page, compiled in.
const PAGE: &str = include_str!("../assets/status.html");

/// The page may run its own inline script and talk to this origin only (the feed websocket
/// included); nothing else loads, which also keeps it honest about needing no network.
const PAGE_CSP: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
     connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Latest batches the snapshot lists.
const BATCHES_SHOWN: u32 = 20;
/// Ended games kept for the page, newest first.
const ENDED_GAMES_KEPT: usize = 10;
/// Removed batches kept for the page, newest first.
const REMOVED_KEPT: usize = 32;
/// Most L1 blocks read per log query (public RPCs limit the range).
const MAX_LOG_RANGE: u64 = 2_000;

/// `GET /`: the status page.
pub async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
            (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_CSP)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        PAGE,
    )
        .into_response()
}

/// `GET /v1/status`: what the status page shows, in one read.
pub async fn status(State(state): State<ApiState>) -> Result<Json<Value>, ApiError> {
    let accepted = state.durable.load(std::sync::atomic::Ordering::Acquire);
    let (batch_count, open_batch, open_age, known, consumed, oldest_waiting) = {
        let chain = state.chain.read();
        (
            chain.batches().len() as u64,
            chain.open_batch().map(|b| json!({ "index": b.index, "txCount": b.tx_count })),
            chain.open_batch_age(),
            chain.known_inbox(),
            chain.consumed_inbox(),
            chain.oldest_unconsumed_inbox_timestamp(),
        )
    };
    let from = batch_count.saturating_sub(u64::from(BATCHES_SHOWN));
    let rows = state
        .ledger
        .batches(from, BATCHES_SHOWN)
        .await
        .map_err(|e| ApiError::unavailable("reading batches for the status page", e))?;
    let mut batches: Vec<Value> = rows.iter().map(crate::api::batch_json).collect();
    batches.reverse();
    let l1 = state.status.snapshot();
    // Waiting time by L1's clock, the one the force-inclusion deadline runs on.
    let oldest_waiting_secs = match (oldest_waiting, l1.refreshed_at) {
        (Some(t), Some(_)) => Some(l1.head_timestamp.saturating_sub(t)),
        _ => None,
    };
    Ok(Json(json!({
        "serverTime": unix_now(),
        "l2ChainId": state.deployment.params.l2_chain_id,
        "rollup": state.deployment.rollup,
        "acceptedTransactions": accepted,
        "openBatch": open_batch.map(|mut b| {
            b["ageSeconds"] = json!(open_age.map_or(0.0, |a| a.as_secs_f64()));
            b
        }),
        "batches": batches,
        "removedBatches": l1.removed.iter().map(RemovedBatch::to_json).collect::<Vec<_>>(),
        "inbox": {
            "known": known,
            "consumed": consumed,
            "backlog": known.saturating_sub(consumed),
            "onL1": l1.refreshed_at.map(|_| l1.inbox_length),
            "oldestWaitingSeconds": oldest_waiting_secs,
            "forceInclusionDelaySeconds": state.deployment.params.force_inclusion_delay_secs,
        },
        "games": {
            "open": l1.open_games.iter().map(game_json).collect::<Vec<_>>(),
            "recentlyEnded": l1.ended_games.iter().map(game_json).collect::<Vec<_>>(),
        },
        "posting": {
            "failingSeconds": state.posting.failing_for().map(|d| d.as_secs()),
            "lastError": state.posting.last_error(),
            "stalled": state.posting.not_ready_reason(state.posting_stall_after).is_some(),
        },
        "l1": {
            "refreshedAt": l1.refreshed_at,
            // The status watcher's own error, or else the poster's: either means L1 is not
            // doing what the sequencer asks.
            "error": l1.error.or_else(|| state.posting.last_error()),
            "headBlock": l1.head_block,
            "headTimestamp": l1.head_timestamp,
            "batchCount": l1.batch_count,
            "finalizedCount": l1.finalized_count,
        },
    })))
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn game_json(g: &GameInfo) -> Value {
    let status = match g.status {
        GameStatus::AsserterTurn => "asserterTurn",
        GameStatus::ChallengerTurn => "challengerTurn",
        GameStatus::AsserterWon => "asserterWon",
        GameStatus::ChallengerWon => "challengerWon",
        GameStatus::Cancelled => "cancelled",
    };
    json!({
        "id": g.id,
        "batchIndex": g.batch_index,
        "batchId": g.batch_id,
        "asserter": g.asserter,
        "challenger": g.challenger,
        "status": status,
        "deadline": g.deadline,
        "lo": g.lo,
        "hi": g.hi,
    })
}

// ---------------------------------------------------------------- the cached L1 view

/// A batch L1 removed after a lost game.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemovedBatch {
    /// Its index (reused by the next batch appended there).
    pub index: u64,
    /// The Rollup's unique id of the removed batch; `None` if its append was not seen.
    pub id: Option<u64>,
    /// The root it claimed; `None` if its append was not seen.
    pub post_state_root: Option<B256>,
    /// The L1 block of the removal.
    pub removed_in_block: u64,
}

impl RemovedBatch {
    fn to_json(&self) -> Value {
        json!({
            "index": self.index,
            "l1Id": self.id,
            "state": "removed",
            "postStateRoot": self.post_state_root,
            "removedInBlock": self.removed_in_block,
        })
    }
}

/// A Rollup event, as far as the status page cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchEvent {
    /// Batch `index` was appended with unique id `id` and root `root`.
    Appended {
        /// Index.
        index: u64,
        /// Unique id.
        id: u64,
        /// Claimed post-state root.
        root: B256,
    },
    /// Batches `[from, to)` were removed in `block`.
    Removed {
        /// First removed index.
        from: u64,
        /// One past the last removed index.
        to: u64,
        /// The L1 block.
        block: u64,
    },
    /// Batch `index` (and every one before it) is final.
    Finalized {
        /// Index.
        index: u64,
    },
}

/// Folds Rollup events, in L1 order, into the list of removed batches. It remembers appended
/// batches only until they are final (a final batch can no longer be removed), so its memory is
/// bounded by the unfinalized batches, not the chain's length.
#[derive(Debug, Default)]
pub struct BatchLog {
    unfinal: BTreeMap<u64, (u64, B256)>,
    removed: VecDeque<RemovedBatch>,
}

impl BatchLog {
    /// Apply one event.
    pub fn apply(&mut self, event: BatchEvent) {
        match event {
            BatchEvent::Appended { index, id, root } => {
                self.unfinal.insert(index, (id, root));
            }
            BatchEvent::Removed { from, to, block } => {
                // Newest first; within one removal, the lowest index (the lost batch) first.
                for index in (from..to).rev() {
                    let seen = self.unfinal.remove(&index);
                    self.removed.push_front(RemovedBatch {
                        index,
                        id: seen.map(|s| s.0),
                        post_state_root: seen.map(|s| s.1),
                        removed_in_block: block,
                    });
                }
                self.removed.truncate(REMOVED_KEPT);
            }
            BatchEvent::Finalized { index } => {
                self.unfinal = self.unfinal.split_off(&(index + 1));
            }
        }
    }

    /// Removed batches, newest first.
    pub fn removed(&self) -> impl Iterator<Item = &RemovedBatch> {
        self.removed.iter()
    }
}

#[derive(Clone, Debug, Default)]
struct L1Snapshot {
    /// Unix seconds of the last complete refresh; `None` before the first.
    refreshed_at: Option<u64>,
    /// Why the last refresh failed, if it did (the rest is then from an earlier one).
    error: Option<String>,
    head_block: u64,
    head_timestamp: u64,
    batch_count: u64,
    finalized_count: u64,
    inbox_length: u64,
    open_games: Vec<GameInfo>,
    ended_games: Vec<GameInfo>,
    removed: Vec<RemovedBatch>,
}

/// The status page's cached view of L1, shared by the API and the task refreshing it.
#[derive(Clone, Debug, Default)]
pub struct StatusView {
    inner: Arc<RwLock<L1Snapshot>>,
}

impl StatusView {
    /// A view refreshed from `l1` every `poll` by a background task, which stops once every
    /// clone of the view is dropped (the API server has stopped).
    pub fn spawn(l1: L1Client, poll: Duration) -> Self {
        let view = Self::default();
        tokio::spawn(watch_l1(l1, Arc::downgrade(&view.inner), poll));
        view
    }

    fn snapshot(&self) -> L1Snapshot {
        self.inner.read().clone()
    }
}

async fn watch_l1(l1: L1Client, view: Weak<RwLock<L1Snapshot>>, poll: Duration) {
    let mut watcher = Watcher {
        next_block: l1.deployment().start_block,
        l1,
        log: BatchLog::default(),
        next_game: 0,
        open: BTreeSet::new(),
        ended: VecDeque::new(),
    };
    loop {
        let result = watcher.refresh().await;
        let Some(view) = view.upgrade() else { return };
        {
            let mut snap = view.write();
            match result {
                Ok(fresh) => *snap = fresh,
                Err(e) => {
                    tracing::debug!(error = %e, "status page: L1 refresh failed; retrying");
                    snap.error = Some(e.to_string());
                }
            }
        }
        drop(view);
        tokio::time::sleep(poll.max(Duration::from_millis(250))).await;
    }
}

struct Watcher {
    l1: L1Client,
    /// The first L1 block whose Rollup events are not folded in yet.
    next_block: u64,
    log: BatchLog,
    next_game: u64,
    /// Games not over when last read.
    open: BTreeSet<u64>,
    /// Ended games, newest first.
    ended: VecDeque<GameInfo>,
}

impl Watcher {
    async fn refresh(&mut self) -> Result<L1Snapshot, L1Error> {
        let head_block = self.l1.head().await?;
        self.scan_rollup_events(head_block).await?;
        let count = self.l1.game_count().await?;
        self.open.extend(self.next_game..count);
        self.next_game = count;
        let mut open_games = Vec::new();
        for id in self.open.clone() {
            let game = self.l1.game(id).await?;
            if game.is_over() {
                self.open.remove(&id);
                self.ended.push_front(game);
                self.ended.truncate(ENDED_GAMES_KEPT);
            } else {
                open_games.push(game);
            }
        }
        Ok(L1Snapshot {
            refreshed_at: Some(unix_now()),
            error: None,
            head_block,
            head_timestamp: self.l1.head_timestamp().await?,
            batch_count: self.l1.batch_count().await?,
            finalized_count: self.l1.finalized_count().await?,
            inbox_length: self.l1.inbox_length().await?,
            open_games,
            ended_games: self.ended.iter().cloned().collect(),
            removed: self.log.removed().cloned().collect(),
        })
    }

    /// Fold the Rollup's batch events up to `head` into the log, a bounded range per query.
    async fn scan_rollup_events(&mut self, head: u64) -> Result<(), L1Error> {
        while self.next_block <= head {
            let to = head.min(self.next_block + MAX_LOG_RANGE - 1);
            let filter = Filter::new()
                .address(self.l1.deployment().rollup)
                .event_signature(vec![
                    Rollup::BatchAppended::SIGNATURE_HASH,
                    Rollup::BatchesRemoved::SIGNATURE_HASH,
                    Rollup::BatchFinalized::SIGNATURE_HASH,
                ])
                .from_block(self.next_block)
                .to_block(to);
            let logs = self.l1.provider().get_logs(&filter).await.map_err(L1Error::from)?;
            for log in logs {
                let block = log.block_number.unwrap_or(to);
                let event = if let Ok(e) = log.log_decode::<Rollup::BatchAppended>() {
                    let d = e.inner.data;
                    BatchEvent::Appended { index: index(d.index)?, id: d.id, root: d.postStateRoot }
                } else if let Ok(e) = log.log_decode::<Rollup::BatchesRemoved>() {
                    let d = e.inner.data;
                    BatchEvent::Removed { from: index(d.fromIndex)?, to: index(d.toIndex)?, block }
                } else if let Ok(e) = log.log_decode::<Rollup::BatchFinalized>() {
                    BatchEvent::Finalized { index: index(e.inner.data.index)? }
                } else {
                    continue;
                };
                self.log.apply(event);
            }
            self.next_block = to + 1;
        }
        Ok(())
    }
}

fn index(v: U256) -> Result<u64, L1Error> {
    u64::try_from(v)
        .map_err(|_| L1Error::Decode(format!("batch index {v} does not fit in 64 bits")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(i: u8) -> B256 {
        B256::repeat_byte(i)
    }

    #[test]
    fn batch_log_lists_removed_batches_with_their_roots_newest_first() {
        let mut log = BatchLog::default();
        for i in 0..4u8 {
            log.apply(BatchEvent::Appended {
                index: u64::from(i),
                id: u64::from(i),
                root: root(i),
            });
        }
        log.apply(BatchEvent::Finalized { index: 0 });
        log.apply(BatchEvent::Removed { from: 2, to: 4, block: 50 });
        // Index 2 is reused by a new batch, which is removed again later.
        log.apply(BatchEvent::Appended { index: 2, id: 9, root: root(0xAA) });
        log.apply(BatchEvent::Removed { from: 2, to: 3, block: 60 });
        let removed: Vec<_> = log.removed().cloned().collect();
        assert_eq!(
            removed,
            vec![
                RemovedBatch {
                    index: 2,
                    id: Some(9),
                    post_state_root: Some(root(0xAA)),
                    removed_in_block: 60
                },
                RemovedBatch {
                    index: 2,
                    id: Some(2),
                    post_state_root: Some(root(2)),
                    removed_in_block: 50
                },
                RemovedBatch {
                    index: 3,
                    id: Some(3),
                    post_state_root: Some(root(3)),
                    removed_in_block: 50
                },
            ]
        );
    }

    #[test]
    fn batch_log_forgets_final_batches_and_keeps_a_bounded_list() {
        let mut log = BatchLog::default();
        for i in 0..100u64 {
            log.apply(BatchEvent::Appended { index: i, id: i, root: root(1) });
        }
        log.apply(BatchEvent::Finalized { index: 49 });
        assert_eq!(log.unfinal.len(), 50);
        log.apply(BatchEvent::Removed { from: 50, to: 100, block: 7 });
        assert!(log.unfinal.is_empty());
        assert_eq!(log.removed().count(), REMOVED_KEPT);
        assert_eq!(log.removed().next().map(|r| r.index), Some(50));
    }
}
