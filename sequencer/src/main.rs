//! `keel-sequencer`: the sequencer binary. Configured by flags, environment variables
//! (`KEEL_*`, `DATABASE_URL`) and an optional TOML file (`--config`), in that order of precedence.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use alloy::signers::local::PrivateKeySigner;
use anyhow::{bail, Context};
use clap::Parser;
use keel_sequencer::{
    node::{self, SequencerConfig},
    pipeline::BatchPolicy,
};

/// Keel's sequencer: orders signed L2 transfers and withdrawals, acknowledges them once they are
/// durable in Postgres, posts batches to L1 and defends them in dispute games.
#[derive(Debug, Parser)]
#[command(name = "keel-sequencer", version, args_override_self = true)]
struct Args {
    /// A TOML file of settings: keys are the long flag names (`l1-rpc = "http://…"`). Flags and
    /// environment variables override it.
    #[arg(long, env = "KEEL_CONFIG")]
    config: Option<PathBuf>,
    /// Address the HTTP API listens on.
    #[arg(long, env = "KEEL_LISTEN", default_value = "127.0.0.1:8645")]
    listen: SocketAddr,
    /// Postgres URL. Without it, a private cluster is started in `<data-dir>/postgres` from the
    /// machine's PostgreSQL server binaries (`initdb`, `pg_ctl`).
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// Folder for the embedded Postgres cluster.
    #[arg(long, env = "KEEL_DATA_DIR", default_value = "keel-data/sequencer")]
    data_dir: PathBuf,
    /// L1 JSON-RPC endpoint.
    #[arg(long, env = "KEEL_L1_RPC", default_value = "http://127.0.0.1:8545")]
    l1_rpc: String,
    /// The deployment file (`keel devnet` or the deploy step writes it).
    #[arg(long, env = "KEEL_DEPLOYMENT", default_value = "keel-data/deployment.json")]
    deployment: PathBuf,
    /// The sequencer's L1 private key (0x-prefixed hex). Prefer the environment variable.
    #[arg(long, env = "KEEL_SEQUENCER_KEY", hide_env_values = true)]
    sequencer_key: String,
    /// Close a batch when it holds this many transactions.
    /// (800 records are ~117 KB of calldata, under the 128 KB transaction limit of common L1 nodes.)
    #[arg(long, env = "KEEL_BATCH_MAX_TXS", default_value_t = 800)]
    batch_max_txs: u64,
    /// Close a non-empty batch this many milliseconds after it opened.
    #[arg(long, env = "KEEL_BATCH_MAX_AGE_MS", default_value_t = 2_000)]
    batch_max_age_ms: u64,
    /// Most transactions applied and committed to Postgres as one group.
    #[arg(long, env = "KEEL_COMMIT_GROUP_MAX", default_value_t = 4_096)]
    commit_group_max: usize,
    /// Submissions that may wait for the executor; beyond it the API answers 503.
    #[arg(long, env = "KEEL_QUEUE_CAPACITY", default_value_t = 20_000)]
    queue_capacity: usize,
    /// L1 blocks an inbox entry must be under before the sequencer consumes it.
    /// Use 0 only on a local devnet.
    #[arg(long, env = "KEEL_CONFIRMATIONS", default_value_t = 6)]
    confirmations: u64,
    /// How often the L1 tasks poll, in milliseconds.
    #[arg(long, env = "KEEL_L1_POLL_MS", default_value_t = 1_000)]
    l1_poll_ms: u64,
    /// The highest max fee per gas the sequencer ever bids on L1, in gwei (replacements
    /// included). Its first bid is twice the latest base fee plus the tip.
    #[arg(long, env = "KEEL_L1_MAX_FEE_GWEI", default_value_t = 200.0)]
    l1_max_fee_gwei: f64,
    /// The priority fee (tip) per gas of a first attempt, in gwei. Fixed: the bid never
    /// follows recent blocks' tips, which on a quiet L1 are the sequencer's own.
    #[arg(long, env = "KEEL_L1_TIP_GWEI", default_value_t = 1.0)]
    l1_tip_gwei: f64,
    /// The highest tip per gas ever bid, in gwei (replacements raise it by 12.5 % each).
    #[arg(long, env = "KEEL_L1_MAX_TIP_GWEI", default_value_t = 10.0)]
    l1_max_tip_gwei: f64,
    /// The most the sequencer's L1 account may pay for gas in any hour, in ETH (0: no limit).
    /// A transaction that could take it over is not sent; posting stalls visibly instead.
    #[arg(long, env = "KEEL_L1_BUDGET_ETH_PER_HOUR", default_value_t = 0.0)]
    l1_budget_eth_per_hour: f64,
    /// Seconds a posting may wait for its receipt before it is replaced with a higher bid.
    #[arg(long, env = "KEEL_L1_REPLACE_AFTER_SECS", default_value_t = 30)]
    l1_replace_after_secs: u64,
    /// Seconds posting to L1 may fail before `/readyz` answers 503 `posting_stalled`.
    #[arg(long, env = "KEEL_POSTING_STALL_AFTER_SECS", default_value_t = 60)]
    posting_stall_after_secs: u64,
}

/// `value` (of `unit`, 1 unit = `scale` wei) in wei; a negative or non-finite value is refused.
fn to_wei(flag: &str, value: f64, scale: f64) -> anyhow::Result<u128> {
    if !value.is_finite() || value < 0.0 {
        bail!("--{flag} must be a non-negative number, not {value}");
    }
    Ok((value * scale).round() as u128)
}

/// The command line with the `--config` file's settings put in front: each key becomes
/// `--key value` unless its environment variable is set; later flags override earlier ones, so
/// flags > environment > file.
fn args_with_config_file() -> anyhow::Result<Vec<String>> {
    let args: Vec<String> = std::env::args().collect();
    let path = args
        .iter()
        .position(|a| a == "--config")
        .and_then(|i| args.get(i + 1).cloned())
        .or_else(|| args.iter().find_map(|a| a.strip_prefix("--config=").map(String::from)))
        .or_else(|| std::env::var("KEEL_CONFIG").ok());
    let Some(path) = path else { return Ok(args) };
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading config file {path}"))?;
    let table: toml::Table =
        toml::from_str(&text).with_context(|| format!("parsing config file {path}"))?;
    let mut merged = vec![args[0].clone()];
    for (key, value) in table {
        let var = if key == "database-url" {
            "DATABASE_URL".to_string()
        } else {
            format!("KEEL_{}", key.to_uppercase().replace('-', "_"))
        };
        if std::env::var_os(&var).is_some() {
            continue;
        }
        let value = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => bail!(
                "config file {path}: `{key}` must be a string, integer or boolean, not {other}"
            ),
        };
        merged.push(format!("--{key}"));
        merged.push(value);
    }
    merged.extend(args.into_iter().skip(1));
    Ok(merged)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn,hyper=warn".into()),
        )
        .init();
    let args = Args::parse_from(args_with_config_file()?);
    let key: PrivateKeySigner = args.sequencer_key.trim().parse().context(
        "--sequencer-key / KEEL_SEQUENCER_KEY must be a 0x-prefixed 32-byte hex private key",
    )?;
    if args.batch_max_txs == 0 || args.commit_group_max == 0 || args.queue_capacity == 0 {
        bail!("--batch-max-txs, --commit-group-max and --queue-capacity must be at least 1");
    }
    let (gwei, ether) = (1e9, 1e18);
    let fees = keel_l1::client::FeePolicy {
        max_fee_per_gas: to_wei("l1-max-fee-gwei", args.l1_max_fee_gwei, gwei)?,
        tip: to_wei("l1-tip-gwei", args.l1_tip_gwei, gwei)?,
        max_tip: to_wei("l1-max-tip-gwei", args.l1_max_tip_gwei, gwei)?,
        budget_per_hour: Some(to_wei(
            "l1-budget-eth-per-hour",
            args.l1_budget_eth_per_hour,
            ether,
        )?)
        .filter(|b| *b > 0),
        replace_after: Duration::from_secs(args.l1_replace_after_secs.max(1)),
    };
    if fees.max_fee_per_gas == 0 || fees.tip > fees.max_tip {
        bail!("--l1-max-fee-gwei must be above 0 and --l1-tip-gwei at most --l1-max-tip-gwei");
    }
    let cfg = SequencerConfig {
        listen: args.listen,
        database_url: args.database_url,
        data_dir: args.data_dir,
        l1_rpc: args.l1_rpc,
        deployment: args.deployment,
        key,
        batch: BatchPolicy {
            max_txs: args.batch_max_txs,
            max_age: Duration::from_millis(args.batch_max_age_ms.max(1)),
            max_group: args.commit_group_max,
        },
        queue_capacity: args.queue_capacity,
        confirmations: args.confirmations,
        l1_poll: Duration::from_millis(args.l1_poll_ms.max(10)),
        fees,
        posting_stall_after: Duration::from_secs(args.posting_stall_after_secs),
    };
    // A realignment with L1 is a restart in place: `start` compares the ledger with L1 first.
    loop {
        let running = node::start(cfg.clone()).await?;
        if running.run_until_signal().await? == node::Stopped::Signal {
            return Ok(());
        }
    }
}
