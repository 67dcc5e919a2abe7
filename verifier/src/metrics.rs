//! Prometheus metrics of the verifier, served at `/metrics`. Every name carries its unit.

use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

/// The verifier's metrics.
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Registry,
    /// The latest L1 block seen.
    pub l1_head_block: IntGauge,
    /// The last L1 block whose events are derived and stored.
    pub l1_scanned_block: IntGauge,
    /// Batches in the current L1 list.
    pub batches_on_l1: IntGauge,
    /// Batches of the current L1 list with a verdict.
    pub batches_verified: IntGauge,
    /// Batches of the current L1 list the verifier agrees with, from index 0.
    pub batches_agreed: IntGauge,
    /// Batches on L1 without a verdict yet.
    pub lag_batches: IntGauge,
    /// Seconds between the L1 head and the last L1 block fully derived and verified.
    pub lag_seconds: Gauge,
    /// Batches found with a wrong root (each batch id once).
    pub mismatches: IntCounter,
    /// Steps (inbox entries and records) re-executed.
    pub replayed_steps: IntCounter,
    /// Time to re-execute one batch, seconds.
    pub replay_seconds: Histogram,
    /// Games this verifier started.
    pub challenges: IntCounter,
    /// Open games where this verifier is the challenger.
    pub games_open: IntGauge,
    /// Games this verifier won, as L1 records them.
    pub games_won: IntGauge,
    /// Games this verifier lost, as L1 records them.
    pub games_lost: IntGauge,
    /// Bond locked in open games, wei.
    pub bond_at_stake_wei: Gauge,
    /// Failed L1 or database rounds, by task.
    pub errors: IntCounterVec,
    /// Batches the fallback proposer appended.
    pub batches_proposed: IntCounter,
    /// 1 while the sequencer has been inactive for its period (anyone staked may post), else 0.
    pub escape_hatch_open: IntGauge,
    /// 1 while the first batch this verifier disputes is final on L1 (its wrong root can no
    /// longer be challenged: critical), else 0.
    pub final_batch_wrong: IntGauge,
    /// Reorgs of blocks already read (deeper than the confirmations) that made it re-derive.
    pub reorgs: IntCounter,
}

impl Metrics {
    /// Create and register every metric.
    pub fn new() -> Self {
        let m = Self {
            registry: Registry::new(),
            l1_head_block: IntGauge::new("keel_verifier_l1_head_block", "Latest L1 block seen")
                .expect("valid"),
            l1_scanned_block: IntGauge::new(
                "keel_verifier_l1_scanned_block",
                "Last L1 block derived and stored",
            )
            .expect("valid"),
            batches_on_l1: IntGauge::new(
                "keel_verifier_batches_on_l1",
                "Batches in the current L1 list",
            )
            .expect("valid"),
            batches_verified: IntGauge::new(
                "keel_verifier_batches_verified",
                "Batches of the current L1 list with a verdict",
            )
            .expect("valid"),
            batches_agreed: IntGauge::new(
                "keel_verifier_batches_agreed",
                "Batches agreed with, from index 0",
            )
            .expect("valid"),
            lag_batches: IntGauge::new(
                "keel_verifier_lag_batches",
                "Batches on L1 without a verdict yet",
            )
            .expect("valid"),
            lag_seconds: Gauge::new(
                "keel_verifier_lag_seconds",
                "Seconds between the L1 head and the last L1 block derived and verified",
            )
            .expect("valid"),
            mismatches: IntCounter::new(
                "keel_verifier_mismatches_total",
                "Batches found with a wrong post-state root",
            )
            .expect("valid"),
            replayed_steps: IntCounter::new(
                "keel_verifier_replayed_steps_total",
                "Steps (inbox entries and records) re-executed",
            )
            .expect("valid"),
            replay_seconds: Histogram::with_opts(
                HistogramOpts::new("keel_verifier_replay_seconds", "Re-execution time per batch")
                    .buckets(vec![0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0]),
            )
            .expect("valid"),
            challenges: IntCounter::new(
                "keel_verifier_challenges_total",
                "Games this verifier started",
            )
            .expect("valid"),
            games_open: IntGauge::new(
                "keel_verifier_games_open",
                "Open games where this verifier is the challenger",
            )
            .expect("valid"),
            games_won: IntGauge::new("keel_verifier_games_won", "Games this verifier won")
                .expect("valid"),
            games_lost: IntGauge::new("keel_verifier_games_lost", "Games this verifier lost")
                .expect("valid"),
            bond_at_stake_wei: Gauge::new(
                "keel_verifier_bond_at_stake_wei",
                "Bond locked in open games, in wei",
            )
            .expect("valid"),
            errors: IntCounterVec::new(
                Opts::new("keel_verifier_errors_total", "Failed rounds (retried), by task"),
                &["task"],
            )
            .expect("valid"),
            batches_proposed: IntCounter::new(
                "keel_verifier_batches_proposed_total",
                "Batches the fallback proposer appended",
            )
            .expect("valid"),
            escape_hatch_open: IntGauge::new(
                "keel_verifier_escape_hatch_open",
                "1 while the sequencer has been inactive for its period, else 0",
            )
            .expect("valid"),
            final_batch_wrong: IntGauge::new(
                "keel_verifier_final_batch_wrong",
                "1 while a batch final on L1 has a post-state root re-execution disputes, else 0",
            )
            .expect("valid"),
            reorgs: IntCounter::new(
                "keel_verifier_l1_reorgs_total",
                "Reorgs of L1 blocks already read (deeper than the confirmations), each re-derived",
            )
            .expect("valid"),
        };
        let collectors: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(m.l1_head_block.clone()),
            Box::new(m.l1_scanned_block.clone()),
            Box::new(m.batches_on_l1.clone()),
            Box::new(m.batches_verified.clone()),
            Box::new(m.batches_agreed.clone()),
            Box::new(m.lag_batches.clone()),
            Box::new(m.lag_seconds.clone()),
            Box::new(m.mismatches.clone()),
            Box::new(m.replayed_steps.clone()),
            Box::new(m.replay_seconds.clone()),
            Box::new(m.challenges.clone()),
            Box::new(m.games_open.clone()),
            Box::new(m.games_won.clone()),
            Box::new(m.games_lost.clone()),
            Box::new(m.bond_at_stake_wei.clone()),
            Box::new(m.errors.clone()),
            Box::new(m.batches_proposed.clone()),
            Box::new(m.escape_hatch_open.clone()),
            Box::new(m.final_batch_wrong.clone()),
            Box::new(m.reorgs.clone()),
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
