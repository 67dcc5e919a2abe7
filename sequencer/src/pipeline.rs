//! Ordered execution with group commit: the path every transaction takes from the API to its
//! acknowledgement.
//!
//! Handlers recover the sender (the expensive part, in parallel across requests) and queue a
//! [`Submission`] on a bounded channel; a full queue is answered with 503 at once. The *apply*
//! task takes submissions in groups, applies each to the hot [`Chain`] in order (rejecting the
//! invalid ones on the spot), closes batches by size or age, and hands each group to the
//! *commit* task, which writes it to Postgres in one transaction and only then acknowledges.
//! While a group commits, the next one is applied, so Postgres latency is hidden but never
//! skipped; groups that queue up while one commits are written together as the next commit, so
//! groups grow with the load instead of queueing behind each other.
//!
//! Both tasks run on threads of their own (each with a single-threaded runtime), not on the
//! API's runtime: there, every handler recovers a signature (~45 µs) on a worker thread, and a
//! task woken by Postgres's answer or by a submission waits in the run queue behind hundreds of
//! them — under load that wait, not Postgres, set the commit time (docs/benchmarks.md). The
//! commit task also talks to Postgres over connections of its own runtime, so their readiness is
//! polled by the thread that waits for it. If Postgres fails, the commit task retries the same group until it succeeds; the
//! queues fill up and the API answers 503 — nothing acknowledged is lost, nothing is written twice.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use keel_core::{tx::PreparedRecord, B256};
use keel_store::{CommitGroup, Ledger, StoredTransaction};
use parking_lot::RwLock;
use tokio::{
    sync::{broadcast, mpsc, oneshot},
    time::Instant,
};

/// Live feed items buffered per subscriber before it must catch up from the ledger.
pub const FEED_CAPACITY: usize = 16_384;

use crate::{
    chain::{Chain, Rejection},
    metrics::Metrics,
};

/// Where an accepted transaction is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The transaction hash.
    pub hash: B256,
    /// Its position in the sequencer's order.
    pub seq: u64,
    /// The batch it is in.
    pub batch: u64,
}

/// Why a submission was not acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// The transaction is invalid now; nothing changed.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// The sequencer is shutting down and did not take it.
    #[error("the sequencer is shutting down")]
    ShuttingDown,
}

/// A transaction waiting for the executor.
#[derive(Debug)]
pub struct Submission {
    /// The record with its sender recovered.
    pub prepared: PreparedRecord,
    /// When the API received it.
    pub received: Instant,
    /// Where the answer goes.
    pub reply: oneshot::Sender<Result<Receipt, SubmitError>>,
}

/// When batches close.
#[derive(Clone, Copy, Debug)]
pub struct BatchPolicy {
    /// Close when the batch holds this many transactions.
    pub max_txs: u64,
    /// Close a non-empty batch this long after it opened.
    pub max_age: Duration,
    /// Most submissions applied and committed as one group.
    pub max_group: usize,
}

/// Merging stops once a commit holds this many transactions (a bound on one statement's size).
const MAX_MERGED_GROUP: usize = 16_384;

struct PendingCommit {
    group: CommitGroup,
    acks: Vec<(Submission, Receipt)>,
}

/// Start the apply and commit tasks. Returns the submission queue and the tasks' handles; close
/// the queue (drop every sender) to shut down: both tasks drain what they hold and exit.
pub fn spawn(
    chain: Arc<RwLock<Chain>>,
    ledger: Ledger,
    metrics: Metrics,
    policy: BatchPolicy,
    queue_capacity: usize,
) -> Pipeline {
    let (submit_tx, submit_rx) = mpsc::channel(queue_capacity);
    // A few groups in flight: enough to overlap applying and committing, small enough that a
    // stalled database stops the pipeline quickly.
    let (commit_tx, commit_rx) = mpsc::channel(4);
    let durable = Arc::new(AtomicU64::new(chain.read().next_seq()));
    let (feed, _) = broadcast::channel(FEED_CAPACITY);
    let apply_metrics = metrics.clone();
    let apply = on_own_thread("keel-apply", move || {
        apply_loop(chain, submit_rx, commit_tx, apply_metrics, policy)
    });
    let (commit_durable, commit_feed) = (durable.clone(), feed.clone());
    let commit = on_own_thread("keel-commit", move || async move {
        // Fresh connections, made on this thread's runtime; the given ledger (made on the
        // API's runtime) still works if that fails, only with slower wake-ups.
        let ledger = match ledger.reconnect().await {
            Ok(own) => own,
            Err(e) => {
                tracing::warn!(error = %e, "commit task: new connections failed; using the shared pool");
                ledger
            }
        };
        commit_loop(ledger, commit_rx, metrics, commit_durable, commit_feed).await
    });
    Pipeline { submissions: submit_tx, durable, feed, apply, commit }
}

/// Run the future `make` builds on a new OS thread with a single-threaded runtime. The returned
/// task (on the caller's runtime) ends when the future does.
fn on_own_thread<F, Fut>(name: &str, make: F) -> tokio::task::JoinHandle<()>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let (done_tx, done_rx) = oneshot::channel::<()>();
    let thread_name = name.to_string();
    let spawned = std::thread::Builder::new().name(thread_name.clone()).spawn(move || {
        match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt.block_on(make()),
            // Without its runtime the task cannot run: the sequencer must not serve on.
            Err(e) => {
                tracing::error!(error = %e, thread = thread_name, "cannot build a runtime; stopping");
                std::process::abort();
            }
        }
        let _ = done_tx.send(());
    });
    if let Err(e) = spawned {
        tracing::error!(error = %e, thread = name, "cannot start a pipeline thread; stopping");
        std::process::abort();
    }
    tokio::spawn(async move {
        let _ = done_rx.await;
    })
}

/// The running pipeline.
pub struct Pipeline {
    /// Where the API queues submissions.
    pub submissions: mpsc::Sender<Submission>,
    /// Every sequence number below this is durable.
    pub durable: Arc<AtomicU64>,
    /// Every acknowledged transaction, in order, as it becomes durable.
    pub feed: broadcast::Sender<StoredTransaction>,
    /// The apply task.
    pub apply: tokio::task::JoinHandle<()>,
    /// The commit task.
    pub commit: tokio::task::JoinHandle<()>,
}

async fn apply_loop(
    chain: Arc<RwLock<Chain>>,
    mut submissions: mpsc::Receiver<Submission>,
    commits: mpsc::Sender<PendingCommit>,
    metrics: Metrics,
    policy: BatchPolicy,
) {
    let mut buf = Vec::with_capacity(policy.max_group);
    let mut tick = tokio::time::interval(Duration::from_millis(20).min(policy.max_age));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        buf.clear();
        let closed = tokio::select! {
            n = submissions.recv_many(&mut buf, policy.max_group) => n == 0,
            _ = tick.tick() => false,
        };
        metrics.queue_depth.set(submissions.len() as i64);
        let pending = {
            let mut chain = chain.write();
            let mut acks = Vec::with_capacity(buf.len());
            let mut transactions = Vec::with_capacity(buf.len());
            for sub in buf.drain(..) {
                match chain.apply(&sub.prepared) {
                    Ok(tx) => {
                        let receipt =
                            Receipt { hash: tx.record.hash(), seq: tx.seq, batch: tx.batch };
                        transactions.push(tx);
                        acks.push((sub, receipt));
                    }
                    Err(rejection) => {
                        metrics.rejected.with_label_values(&[rejection.code()]).inc();
                        let _ = sub.reply.send(Err(SubmitError::Rejected(rejection)));
                    }
                }
                if chain.open_batch().is_some_and(|b| b.tx_count >= policy.max_txs) {
                    close(&mut chain);
                }
            }
            // A batch closes by age, and at once when inbox entries wait that it cannot take
            // (it holds transactions): entries are consumed within about one batch age, with
            // or without L2 traffic, and never left out until they are overdue.
            if chain.open_batch_has_steps()
                && (chain.open_batch_age().is_some_and(|age| age >= policy.max_age)
                    || chain.must_close_for_inbox())
            {
                close(&mut chain);
            }
            chain.absorb_inbox();
            metrics.inbox_backlog.set((chain.known_inbox() - chain.consumed_inbox()) as i64);
            metrics.state_leaves.set(chain.leaf_count() as i64);
            PendingCommit {
                group: CommitGroup { batch_changes: chain.take_batch_changes(), transactions },
                acks,
            }
        };
        if !pending.group.is_empty() && commits.send(pending).await.is_err() {
            tracing::error!("commit task stopped; the apply task stops too");
            return;
        }
        if closed {
            // Close the open batch so a restart finds every acknowledged transaction in a
            // closed batch ready to post.
            let changes = {
                let mut chain = chain.write();
                if chain.open_batch_has_steps() {
                    close(&mut chain);
                }
                chain.take_batch_changes()
            };
            if !changes.is_empty() {
                let group = CommitGroup { batch_changes: changes, transactions: vec![] };
                let _ = commits.send(PendingCommit { group, acks: vec![] }).await;
            }
            tracing::info!("submission queue closed; apply task drained");
            return;
        }
    }
}

fn close(chain: &mut Chain) {
    // The root is computed under the chain's write lock, which every reader waits for: its
    // duration is what a batch close stalls the sequencer by (docs/benchmarks.md).
    let started = std::time::Instant::now();
    match chain.close_batch() {
        Ok(Some(root)) => tracing::debug!(
            batch = chain.batches().len() - 1,
            %root,
            root_ms = started.elapsed().as_secs_f64() * 1e3,
            "batch closed"
        ),
        Ok(None) => {}
        // The in-memory tree cannot lose a node; if it does, the state is corrupt and serving
        // on would be wrong.
        Err(e) => {
            tracing::error!(error = %e, "state tree failed while closing a batch; stopping");
            std::process::abort();
        }
    }
}

async fn commit_loop(
    ledger: Ledger,
    mut commits: mpsc::Receiver<PendingCommit>,
    metrics: Metrics,
    durable: Arc<AtomicU64>,
    feed: broadcast::Sender<StoredTransaction>,
) {
    while let Some(mut pending) = commits.recv().await {
        // Whatever queued while the previous group committed goes into this commit: one round
        // trip and one WAL flush for all of it. Groups stay in order, so the merged group is
        // what applying them one after the other wrote.
        while pending.group.transactions.len() < MAX_MERGED_GROUP {
            let Ok(more) = commits.try_recv() else { break };
            pending.group.batch_changes.extend(more.group.batch_changes);
            pending.group.transactions.extend(more.group.transactions);
            pending.acks.extend(more.acks);
        }
        let mut backoff = Duration::from_millis(50);
        loop {
            let started = Instant::now();
            match ledger.commit(&pending.group).await {
                Ok(()) => {
                    metrics.commit_seconds.observe(started.elapsed().as_secs_f64());
                    break;
                }
                Err(e) => {
                    metrics.commit_failures.inc();
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "group commit failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
        metrics.commit_group_size.observe(pending.group.transactions.len() as f64);
        if let Some(last) = pending.group.transactions.last() {
            durable.store(last.seq + 1, Ordering::Release);
        }
        for tx in &pending.group.transactions {
            // No subscriber is fine; a slow one catches up from the ledger.
            let _ = feed.send(*tx);
        }
        for (sub, receipt) in pending.acks {
            metrics.accepted.inc();
            metrics.ack_latency.observe(sub.received.elapsed().as_secs_f64());
            let _ = sub.reply.send(Ok(receipt));
        }
    }
    tracing::info!("commit task drained");
}
