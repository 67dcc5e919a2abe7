//! `keel-verifier`: the verifier binary. Configured by flags, environment variables (`KEEL_*`,
//! `DATABASE_URL`) and an optional TOML file (`--config`), in that order of precedence.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use alloy::signers::local::PrivateKeySigner;
use anyhow::{bail, Context};
use clap::Parser;
use keel_verifier::{
    follower::FollowerConfig,
    node::{self, VerifierConfig},
};

/// Keel's verifier: derives batches from L1 alone, re-executes them, challenges a wrong root and
/// plays the dispute game to the end, and serves state and withdrawal proofs.
#[derive(Debug, Parser)]
#[command(name = "keel-verifier", version, args_override_self = true)]
struct Args {
    /// A TOML file of settings: keys are the long flag names (`l1-rpc = "http://…"`). Flags and
    /// environment variables override it.
    #[arg(long, env = "KEEL_CONFIG")]
    config: Option<PathBuf>,
    /// Address the HTTP API listens on.
    #[arg(long, env = "KEEL_LISTEN", default_value = "127.0.0.1:8646")]
    listen: SocketAddr,
    /// Postgres URL. Without it, a private cluster is started in `<data-dir>/postgres` from the
    /// machine's PostgreSQL server binaries (`initdb`, `pg_ctl`).
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// Folder for the embedded Postgres cluster.
    #[arg(long, env = "KEEL_DATA_DIR", default_value = "keel-data/verifier")]
    data_dir: PathBuf,
    /// L1 JSON-RPC endpoint.
    #[arg(long, env = "KEEL_L1_RPC", default_value = "http://127.0.0.1:8545")]
    l1_rpc: String,
    /// The deployment file (`keel devnet` or the deploy step writes it).
    #[arg(long, env = "KEEL_DEPLOYMENT", default_value = "keel-data/deployment.json")]
    deployment: PathBuf,
    /// The L1 private key (0x-prefixed hex) that posts bonds and plays games; its account needs
    /// ETH for bonds and gas. Without it the verifier only watches and reports. Prefer the
    /// environment variable.
    #[arg(long, env = "KEEL_VERIFIER_KEY", hide_env_values = true)]
    verifier_key: Option<String>,
    /// L1 blocks to stay behind the head: a reorg deeper than this is found and rewound, at the
    /// cost of re-deriving. Use 0 only on a local devnet.
    #[arg(long, env = "KEEL_CONFIRMATIONS", default_value_t = 6)]
    confirmations: u64,
    /// How often the L1 tasks poll once caught up, in milliseconds.
    #[arg(long, env = "KEEL_L1_POLL_MS", default_value_t = 1_000)]
    l1_poll_ms: u64,
    /// Most L1 blocks read per log query.
    #[arg(long, env = "KEEL_L1_MAX_RANGE", default_value_t = 2_000)]
    l1_max_range: u64,
    /// The escape hatch: once the sequencer has not appended for the Rollup's
    /// `sequencerInactivityPeriod`, stake `requiredStake` from the verifier key, post batches that
    /// consume the L1 inbox (deposits, forced withdrawals) and finalize batches whose challenge
    /// period is over. Needs --verifier-key. `--fallback-proposer` alone means true.
    #[arg(
        long,
        env = "KEEL_FALLBACK_PROPOSER",
        default_value_t = false,
        num_args = 0..=1,
        default_missing_value = "true",
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    fallback_proposer: bool,
    /// Bond `challengeBond` to defend every challenged batch this verifier agrees with and answer
    /// the games against it, so a correct batch stays when its poster is offline or loses on
    /// purpose (docs/protocol.md §13). Needs --verifier-key. `--defend-agreed` alone means true.
    #[arg(
        long,
        env = "KEEL_DEFEND_AGREED",
        default_value_t = false,
        num_args = 0..=1,
        default_missing_value = "true",
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    defend_agreed: bool,
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
    let key = match args.verifier_key.as_deref().map(str::trim).filter(|k| !k.is_empty()) {
        Some(k) => Some(k.parse::<PrivateKeySigner>().context(
            "--verifier-key / KEEL_VERIFIER_KEY must be a 0x-prefixed 32-byte hex private key",
        )?),
        None => None,
    };
    if args.l1_max_range == 0 {
        bail!("--l1-max-range must be at least 1");
    }
    let cfg = VerifierConfig {
        listen: args.listen,
        database_url: args.database_url,
        data_dir: args.data_dir,
        l1_rpc: args.l1_rpc,
        deployment: args.deployment,
        key,
        follower: FollowerConfig {
            confirmations: args.confirmations,
            poll: Duration::from_millis(args.l1_poll_ms.max(10)),
            max_range: args.l1_max_range,
        },
        fallback_proposer: args.fallback_proposer,
        defend_agreed: args.defend_agreed,
    };
    let running = node::start(cfg).await?;
    running.run_until_signal().await
}
