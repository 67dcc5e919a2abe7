//! Prometheus metrics of the sequencer, served at `/metrics`. Every name carries its unit.

use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

/// The sequencer's metrics.
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Registry,
    /// Transactions acknowledged (durable).
    pub accepted: IntCounter,
    /// Transactions rejected, by reason code.
    pub rejected: IntCounterVec,
    /// Submissions waiting for the executor.
    pub queue_depth: IntGauge,
    /// Submit → acknowledgement latency, seconds.
    pub ack_latency: Histogram,
    /// Transactions per Postgres commit.
    pub commit_group_size: Histogram,
    /// Postgres commit duration, seconds.
    pub commit_seconds: Histogram,
    /// Failed Postgres commits (each retried until it succeeds).
    pub commit_failures: IntCounter,
    /// Batches posted to L1.
    pub batches_posted: IntCounter,
    /// appendBatch transaction latency, seconds.
    pub post_seconds: Histogram,
    /// Gas used by appendBatch transactions.
    pub post_gas: Histogram,
    /// Closed batches not yet on L1.
    pub unposted_batches: IntGauge,
    /// Batches on L1 not yet final.
    pub unfinalized_batches: IntGauge,
    /// Inbox entries known but not yet consumed by a batch.
    pub inbox_backlog: IntGauge,
    /// L1 blocks between the head and the last block the inbox watcher read.
    pub inbox_lag_blocks: IntGauge,
    /// Open games against this sequencer's batches.
    pub open_games: IntGauge,
    /// Leaves in the state tree.
    pub state_leaves: IntGauge,
    /// Seconds since the oldest closed batch not on L1 closed (0 when none waits).
    pub oldest_unposted_batch_age: Gauge,
    /// L1 seconds since the oldest inbox entry no L1 batch has consumed was appended (0 when
    /// none waits); an entry is overdue at the force-inclusion delay.
    pub oldest_unconsumed_inbox_age: IntGauge,
    /// Seconds the poster's rounds have failed without a success (0 while they succeed).
    pub posting_failing_seconds: IntGauge,
    /// Failed poster rounds.
    pub posting_failures: IntCounter,
    /// 1 while L1 holds a batch at one of our indexes that is not the ledger's.
    pub batch_mismatch: IntGauge,
    /// ETH this sequencer's L1 account paid for gas since the process started.
    pub l1_fees_paid: Gauge,
    /// Games the defender failed to play in a round (each retried the next round).
    pub defender_failures: IntCounter,
}

fn histogram(name: &str, help: &str, buckets: Vec<f64>) -> Histogram {
    Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))
        .expect("valid histogram options")
}

impl Metrics {
    /// Create and register every metric.
    pub fn new() -> Self {
        let latency =
            vec![0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];
        let m = Self {
            registry: Registry::new(),
            accepted: IntCounter::new(
                "keel_transactions_accepted_total",
                "Transactions acknowledged (durable)",
            )
            .expect("valid"),
            rejected: IntCounterVec::new(
                Opts::new("keel_transactions_rejected_total", "Transactions rejected, by reason"),
                &["reason"],
            )
            .expect("valid"),
            queue_depth: IntGauge::new(
                "keel_submission_queue_depth",
                "Submissions waiting for the executor",
            )
            .expect("valid"),
            ack_latency: histogram(
                "keel_submit_ack_seconds",
                "Submit to acknowledgement latency",
                latency.clone(),
            ),
            commit_group_size: histogram(
                "keel_commit_group_transactions",
                "Transactions per Postgres commit",
                vec![1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0],
            ),
            commit_seconds: histogram(
                "keel_commit_seconds",
                "Postgres group commit duration",
                latency.clone(),
            ),
            commit_failures: IntCounter::new(
                "keel_commit_failures_total",
                "Failed Postgres commits (retried)",
            )
            .expect("valid"),
            batches_posted: IntCounter::new("keel_batches_posted_total", "Batches posted to L1")
                .expect("valid"),
            post_seconds: histogram(
                "keel_batch_post_seconds",
                "appendBatch transaction latency",
                vec![0.1, 0.5, 1.0, 2.0, 5.0, 12.0, 30.0, 60.0, 120.0],
            ),
            post_gas: histogram(
                "keel_batch_post_gas",
                "Gas used by appendBatch transactions",
                vec![1e5, 3e5, 1e6, 3e6, 1e7, 3e7],
            ),
            unposted_batches: IntGauge::new(
                "keel_unposted_batches",
                "Closed batches not yet on L1",
            )
            .expect("valid"),
            unfinalized_batches: IntGauge::new(
                "keel_unfinalized_batches",
                "Batches on L1 not yet final",
            )
            .expect("valid"),
            inbox_backlog: IntGauge::new(
                "keel_inbox_backlog_entries",
                "Inbox entries not yet consumed",
            )
            .expect("valid"),
            inbox_lag_blocks: IntGauge::new(
                "keel_inbox_lag_blocks",
                "L1 blocks the inbox watcher is behind the head",
            )
            .expect("valid"),
            open_games: IntGauge::new(
                "keel_open_games",
                "Open games against this sequencer's batches",
            )
            .expect("valid"),
            state_leaves: IntGauge::new("keel_state_leaves", "Leaves in the state tree")
                .expect("valid"),
            oldest_unposted_batch_age: Gauge::new(
                "keel_oldest_unposted_batch_age_seconds",
                "Seconds since the oldest closed batch not on L1 closed",
            )
            .expect("valid"),
            oldest_unconsumed_inbox_age: IntGauge::new(
                "keel_oldest_unconsumed_inbox_entry_age_seconds",
                "L1 seconds since the oldest inbox entry not consumed on L1 was appended",
            )
            .expect("valid"),
            posting_failing_seconds: IntGauge::new(
                "keel_posting_failing_seconds",
                "Seconds the batch poster has failed without a success",
            )
            .expect("valid"),
            posting_failures: IntCounter::new(
                "keel_posting_failures_total",
                "Failed batch poster rounds",
            )
            .expect("valid"),
            batch_mismatch: IntGauge::new(
                "keel_l1_batch_mismatch",
                "1 while L1 holds a batch at one of our indexes that is not the ledger's",
            )
            .expect("valid"),
            l1_fees_paid: Gauge::new(
                "keel_l1_fees_paid_eth",
                "ETH the sequencer's L1 account paid for gas since the process started",
            )
            .expect("valid"),
            defender_failures: IntCounter::new(
                "keel_defender_game_failures_total",
                "Games the defender failed to play in a round (retried)",
            )
            .expect("valid"),
        };
        let collectors: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(m.accepted.clone()),
            Box::new(m.rejected.clone()),
            Box::new(m.queue_depth.clone()),
            Box::new(m.ack_latency.clone()),
            Box::new(m.commit_group_size.clone()),
            Box::new(m.commit_seconds.clone()),
            Box::new(m.commit_failures.clone()),
            Box::new(m.batches_posted.clone()),
            Box::new(m.post_seconds.clone()),
            Box::new(m.post_gas.clone()),
            Box::new(m.unposted_batches.clone()),
            Box::new(m.unfinalized_batches.clone()),
            Box::new(m.inbox_backlog.clone()),
            Box::new(m.inbox_lag_blocks.clone()),
            Box::new(m.open_games.clone()),
            Box::new(m.state_leaves.clone()),
            Box::new(m.oldest_unposted_batch_age.clone()),
            Box::new(m.oldest_unconsumed_inbox_age.clone()),
            Box::new(m.posting_failing_seconds.clone()),
            Box::new(m.posting_failures.clone()),
            Box::new(m.batch_mismatch.clone()),
            Box::new(m.l1_fees_paid.clone()),
            Box::new(m.defender_failures.clone()),
        ];
        for c in collectors {
            m.registry.register(c).expect("metric names are unique");
        }
        m
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
