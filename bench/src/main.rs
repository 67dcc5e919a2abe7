//! `keel-bench`: Keel's benchmark harness. Benchmarks are not tests: nothing here asserts a time.
//!
//! - `e2e` ([`e2e`]): the real sequencer binary over HTTP with Postgres durability on, side by
//!   side with anvil on the same load, and the time until the real verifier binary agrees.
//! - `replay` ([`replay`]): the verifier's replay rate over a long history, on its real code path.
//! - `pg` ([`pg`]): Postgres group-commit throughput alone, through the sequencer's ledger.
//! - `report` ([`report`]): fills `docs/benchmarks.template.md` with the figures of the runs
//!   above, the core micro-benchmarks and the forge gas figures, into `docs/benchmarks.md` and
//!   `docs/benchmarks.json`.
//!
//! `scripts/bench.sh` runs them all in order; each measuring subcommand prints its figures as
//! JSON on stdout and, with `--out`, writes them to a file for `report`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use keel_core::tx::SecretKey;
use serde_json::Value;

mod e2e;
mod pg;
mod replay;
mod report;

/// Keel's benchmarks.
#[derive(Debug, Parser)]
#[command(name = "keel-bench")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
    /// Also write the figures (JSON) to this file.
    #[arg(long, global = true)]
    out: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// The sequencer end to end, side by side with anvil, and the verifier's agreement.
    E2e(e2e::E2eArgs),
    /// The verifier's replay rate.
    Replay(replay::ReplayArgs),
    /// Postgres group-commit throughput.
    Pg(pg::PgArgs),
    /// Write docs/benchmarks.md and docs/benchmarks.json from the figures of the other commands.
    Report(report::ReportArgs),
}

/// The deterministic key of bench account `i`.
pub(crate) fn key_of(i: usize) -> SecretKey {
    let mut b = [0u8; 32];
    b[24..].copy_from_slice(&(i as u64 + 1_000_000).to_be_bytes());
    SecretKey::from_byte_array(b).expect("valid key")
}

/// The L2 address of a key.
pub(crate) fn address_of(k: &SecretKey) -> keel_core::Address {
    keel_core::tx::address_of(k)
}

/// The median of `values` (sorted in place); NaN when empty.
pub(crate) fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The 1-, 5- and 15-minute load averages (`uptime`), recorded with every measurement because
/// other work on this 2-core machine skews them.
pub(crate) fn load_average() -> Value {
    let s = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let v: Vec<f64> = s.split_whitespace().take(3).filter_map(|x| x.parse().ok()).collect();
    serde_json::json!(v)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let figures = match &cli.command {
        Cmd::E2e(args) => e2e::run(args).await?,
        // CPU-bound and multi-threaded (rayon): off the async runtime.
        Cmd::Replay(args) => tokio::task::block_in_place(|| replay::run(args))?,
        Cmd::Pg(args) => pg::run(args).await?,
        Cmd::Report(args) => report::run(args)?,
    };
    let text = serde_json::to_string_pretty(&figures)? + "\n";
    if let Some(path) = &cli.out {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, &text).with_context(|| format!("writing {}", path.display()))?;
    }
    #[allow(clippy::print_stdout)] // the figures are the output
    {
        print!("{text}");
    }
    Ok(())
}
