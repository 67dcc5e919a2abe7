//! `keel-bench pg`: Postgres group-commit throughput alone, through the sequencer's own write
//! path (`keel_store::Ledger::commit`), on a private cluster with durability on.
//!
//! The commit task of `sequencer/src/pipeline.rs` writes one group at a time and acknowledges
//! only after the commit returns, so this runs the same way: one group after another, each a
//! transaction of `group` acknowledged transfers (plus the open and close of a batch each time
//! 800 records fill one, as the apply task produces them). Records/s and commits/s are measured
//! at several group sizes; at a given offered load the sequencer's groups are as large as what
//! arrived while the previous group committed, so the curve says how far Postgres can follow.

use std::time::{Duration, Instant};

use anyhow::ensure;
use keel_core::{tx::RECORD_LEN, Address, Record, B256};
use keel_store::{BatchChange, CommitGroup, Ledger, PgCluster, StoredTransaction};
use serde_json::{json, Value};

use crate::{load_average, median};

/// Options of `keel-bench pg`.
#[derive(Debug, clap::Args)]
pub(crate) struct PgArgs {
    /// Group sizes (transactions per commit) to measure.
    #[arg(long, value_delimiter = ',', default_values_t = vec![1, 16, 128, 1024, 4096])]
    groups: Vec<usize>,
    /// Seconds of commits per group size and run.
    #[arg(long, default_value_t = 4.0)]
    seconds: f64,
    /// Runs (medians are reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Records per batch (a batch opens and closes every this many records).
    #[arg(long, default_value_t = 800)]
    batch: u64,
}

/// Writes groups into one ledger, keeping the sequence and batch numbering going across sizes.
struct Writer {
    ledger: Ledger,
    next_seq: u64,
    batch: u64,
    in_batch: u64,
    batch_size: u64,
}

impl Writer {
    fn group(&mut self, size: usize) -> CommitGroup {
        let mut g = CommitGroup::default();
        if self.in_batch == 0 {
            g.batch_changes.push(BatchChange::Open {
                index: self.batch,
                inbox_start: 0,
                inbox_end: 0,
            });
        }
        for _ in 0..size {
            // A distinct record per sequence number (the hash column is unique); the bytes need
            // not be a valid transaction for the ledger.
            let mut r = [0u8; RECORD_LEN];
            r[..8].copy_from_slice(&self.next_seq.to_be_bytes());
            r[8..16].copy_from_slice(&0x6b65_656c_u64.to_be_bytes());
            g.transactions.push(StoredTransaction {
                seq: self.next_seq,
                batch: self.batch,
                record: Record(r),
                sender: Address::repeat_byte(0x11),
            });
            self.next_seq += 1;
            self.in_batch += 1;
            if self.in_batch >= self.batch_size {
                g.batch_changes.push(BatchChange::Close {
                    index: self.batch,
                    tx_count: self.in_batch as u32,
                    post_root: B256::repeat_byte(0x22),
                });
                self.batch += 1;
                self.in_batch = 0;
                // The apply task opens the next batch at once; a later group carries the rest.
                g.batch_changes.push(BatchChange::Open {
                    index: self.batch,
                    inbox_start: 0,
                    inbox_end: 0,
                });
            }
        }
        g
    }
}

/// Run the Postgres benchmark; returns its JSON figures.
pub(crate) async fn run(args: &PgArgs) -> anyhow::Result<Value> {
    ensure!(
        !args.groups.is_empty() && args.runs >= 1 && args.batch >= 1,
        "need group sizes, ≥ 1 run, a batch of ≥ 1"
    );
    let mut runs = Vec::new();
    let mut settings = Value::Null;
    for r in 0..args.runs {
        // A fresh cluster per run, so a run does not write into the previous run's tables.
        let pg = PgCluster::start_temp().await?;
        let url = pg.create_database("keel_bench_pg").await?;
        let ledger = Ledger::connect(&url).await?;
        let show = |name: &'static str| {
            let pool = ledger.pool().clone();
            async move {
                sqlx::query_scalar::<_, String>(&format!("SHOW {name}"))
                    .fetch_one(&pool)
                    .await
                    .unwrap_or_default()
            }
        };
        settings = json!({
            "fsync": show("fsync").await,
            "synchronous_commit": show("synchronous_commit").await,
            "wal_sync_method": show("wal_sync_method").await,
            "full_page_writes": show("full_page_writes").await,
            "server_version": show("server_version").await,
        });
        ensure!(
            settings["fsync"] == "on" && settings["synchronous_commit"] == "on",
            "the cluster does not run with durability on: {settings}"
        );
        let mut w = Writer { ledger, next_seq: 0, batch: 0, in_batch: 0, batch_size: args.batch };
        for &size in &args.groups {
            let load_before = load_average();
            let mut latencies = Vec::new();
            let mut records = 0usize;
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs_f64(args.seconds) {
                // Building the group is the apply task's work, not Postgres's: not timed.
                let g = w.group(size);
                let t = Instant::now();
                w.ledger.commit(&g).await?;
                latencies.push(t.elapsed().as_secs_f64() * 1e3);
                records += g.transactions.len();
            }
            let in_commits: f64 = latencies.iter().sum::<f64>() / 1e3;
            let commits = latencies.len();
            latencies.sort_by(f64::total_cmp);
            let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
            let v = json!({
                "run": r + 1,
                "group": size,
                "commits": commits,
                "records": records,
                "records_per_s": records as f64 / in_commits,
                "commits_per_s": commits as f64 / in_commits,
                "commit_p50_ms": pct(0.5),
                "commit_p99_ms": pct(0.99),
                "load_before": load_before,
                "load_after": load_average(),
            });
            tracing::info!(result = %v, "group commits measured");
            runs.push(v);
        }
        drop(w);
        drop(pg);
    }
    let per_group: Vec<Value> = args
        .groups
        .iter()
        .map(|&size| {
            let med = |key: &str| {
                let mut xs: Vec<f64> = runs
                    .iter()
                    .filter(|v| v["group"] == size)
                    .filter_map(|v| v[key].as_f64())
                    .collect();
                median(&mut xs)
            };
            json!({
                "group": size,
                "records_per_s": med("records_per_s"),
                "commits_per_s": med("commits_per_s"),
                "commit_p50_ms": med("commit_p50_ms"),
                "commit_p99_ms": med("commit_p99_ms"),
            })
        })
        .collect();
    Ok(
        json!({ "settings": settings, "seconds_per_size": args.seconds, "runs": runs, "median": per_group }),
    )
}
