//! `keel-bench`: end-to-end speed of the real `keel-sequencer` binary against real Postgres
//! (durability on) and a real anvil, side by side with anvil itself on the same load.
//!
//! One run: fund `accounts` L2 accounts (one deposit, then L2 transfers), pre-sign `transfers`
//! transfers, submit them over HTTP with `concurrency` connections closed-loop (as fast as they
//! are acknowledged), then open-loop at `rate` per second (latency measured from each request's
//! scheduled time, so queueing is not hidden), then wait until every batch is on L1. The same
//! number of signed ETH transfers go to anvil with `eth_sendRawTransaction` from the same client
//! code at the same concurrency. Medians over `runs` runs are written to `docs/benchmarks.md`
//! (between markers) and `docs/benchmarks.json`. Benchmarks are not tests.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use alloy::{
    consensus::{SignableTransaction, TxEip1559, TxEnvelope},
    eips::eip2718::Encodable2718,
    network::TxSignerSync,
    primitives::{Address, TxKind as EvmTxKind, B256, U256},
    providers::{ext::AnvilApi, Provider},
    signers::local::PrivateKeySigner,
};
use anyhow::{bail, Context};
use clap::Parser;
use keel_core::tx::{Domain, SecretKey, Transaction, TxKind};
use keel_l1::{client::connect_http, deploy, devnode::spawn_anvil, L1Client, RollupParams};
use keel_store::PgCluster;
use serde_json::{json, Value};

/// Measure Keel's sequencer end to end, side by side with anvil.
#[derive(Debug, Parser)]
#[command(name = "keel-bench")]
struct Args {
    /// Transfers per measurement.
    #[arg(long, default_value_t = 40_000)]
    transfers: usize,
    /// Sending accounts (each has one request in flight at a time in the closed loop).
    #[arg(long, default_value_t = 2_000)]
    accounts: usize,
    /// Concurrent HTTP connections in the closed loop.
    #[arg(long, default_value_t = 128)]
    concurrency: usize,
    /// Offered rate of the open loop, transfers per second.
    #[arg(long, default_value_t = 10_000)]
    rate: u64,
    /// Runs (medians are reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// The sequencer binary (build it with `cargo build --release -p keel-sequencer`).
    #[arg(long, default_value = "target/release/keel-sequencer")]
    sequencer_bin: PathBuf,
    /// Write docs/benchmarks.md (the marked section) and docs/benchmarks.json.
    #[arg(long)]
    write_docs: bool,
}

const ETH: Address = Address::ZERO;

fn key_of(i: usize) -> SecretKey {
    let mut b = [0u8; 32];
    b[24..].copy_from_slice(&(i as u64 + 1_000_000).to_be_bytes());
    SecretKey::from_byte_array(b).expect("valid key")
}

fn address_of(k: &SecretKey) -> Address {
    keel_core::tx::address_of(k)
}

struct Latencies(Vec<f64>);

impl Latencies {
    fn pct(&self, p: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        let i = ((self.0.len() as f64 - 1.0) * p).round() as usize;
        self.0[i]
    }
    fn summary(mut self) -> Value {
        self.0.sort_by(f64::total_cmp);
        json!({
            "p50_ms": self.pct(0.5), "p90_ms": self.pct(0.9), "p99_ms": self.pct(0.99),
            "p999_ms": self.pct(0.999), "max_ms": self.0.last().copied().unwrap_or(f64::NAN),
        })
    }
}

/// Closed loop: `concurrency` workers, each owning a slice of the accounts and sending one
/// request at a time. Returns (accepted per second, latencies, errors).
async fn closed_loop(
    url: &str,
    bodies: Vec<Vec<String>>,
    concurrency: usize,
) -> (f64, Latencies, usize) {
    let http =
        reqwest::Client::builder().pool_max_idle_per_host(concurrency).build().expect("client");
    let per_worker: Vec<Vec<String>> = {
        // Interleave accounts so each worker sends its accounts' transfers in nonce order.
        let mut workers: Vec<Vec<String>> = vec![Vec::new(); concurrency];
        for (a, account) in bodies.into_iter().enumerate() {
            workers[a % concurrency].push(account.join("\u{1}"));
        }
        workers
    };
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in per_worker {
        let http = http.clone();
        let url = url.to_string();
        tasks.push(tokio::spawn(async move {
            let accounts: Vec<Vec<&str>> =
                worker.iter().map(|s| s.split('\u{1}').collect()).collect();
            let rounds = accounts.iter().map(Vec::len).max().unwrap_or(0);
            let mut lat = Vec::new();
            let mut errors = 0;
            for r in 0..rounds {
                for acc in &accounts {
                    let Some(body) = acc.get(r) else { continue };
                    let t = Instant::now();
                    let ok = http
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(body.to_string())
                        .send()
                        .await
                        .is_ok_and(|r| r.status().is_success());
                    if ok {
                        lat.push(t.elapsed().as_secs_f64() * 1e3);
                    } else {
                        errors += 1;
                    }
                }
            }
            (lat, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.expect("worker");
        all.extend(l);
        errors += e;
    }
    let secs = started.elapsed().as_secs_f64();
    (all.len() as f64 / secs, Latencies(all), errors)
}

/// What an open loop measured.
struct OpenLoop {
    rate: f64,
    latencies: Latencies,
    /// Failures by HTTP status, or "transport" when the request did not complete.
    errors: std::collections::BTreeMap<String, usize>,
    /// The index of the last accepted request, if any.
    last_accepted: Option<usize>,
}

/// Open loop: request i is scheduled at i/rate; latency counts from the schedule.
async fn open_loop(url: &str, bodies: Vec<String>, rate: u64) -> OpenLoop {
    let http = reqwest::Client::builder().pool_max_idle_per_host(1_024).build().expect("client");
    let started = Instant::now();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let n = bodies.len();
    for (i, body) in bodies.into_iter().enumerate() {
        let at = started + Duration::from_secs_f64(i as f64 / rate as f64);
        let http = http.clone();
        let url = url.to_string();
        let tx = tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(at.into()).await;
            let outcome = match http
                .post(&url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => Ok(()),
                Ok(r) => Err(r.status().as_u16().to_string()),
                Err(_) => Err("transport".to_string()),
            };
            let _ = tx.send((i, outcome, at.elapsed().as_secs_f64() * 1e3));
        });
    }
    drop(tx);
    let mut lat = Vec::with_capacity(n);
    let mut errors = std::collections::BTreeMap::new();
    let mut last_accepted = None;
    while let Some((i, outcome, ms)) = rx.recv().await {
        match outcome {
            Ok(()) => {
                lat.push(ms);
                last_accepted = last_accepted.max(Some(i));
            }
            Err(e) => *errors.entry(e).or_insert(0) += 1,
        }
    }
    let secs = started.elapsed().as_secs_f64();
    OpenLoop { rate: lat.len() as f64 / secs, latencies: Latencies(lat), errors, last_accepted }
}

fn record_body(domain: &Domain, t: &Transaction, key: &SecretKey) -> String {
    json!({ "record": alloy::hex::encode_prefixed(domain.sign(t, key).0) }).to_string()
}

struct Sequencer {
    child: Child,
    url: String,
}

impl Drop for Sequencer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn one_run(args: &Args) -> anyhow::Result<Value> {
    let pg = PgCluster::start_temp().await?;
    let db = pg.create_database("keel_bench").await?;
    let anvil = spawn_anvil(&[])?;
    let seq_signer = PrivateKeySigner::from_bytes(&B256::from_slice(&anvil.keys()[0].to_bytes()))?;
    let provider = connect_http(&anvil.endpoint(), seq_signer.clone())?;
    let params = RollupParams::devnet(1_000_001, seq_signer.address(), Address::repeat_byte(0xFE));
    let deployment = deploy(&provider, &params).await?;
    let l1 = L1Client::new(provider.clone(), seq_signer.address(), deployment.clone());
    l1.stake(params.required_stake_wei).await?;
    let dir = tempfile::tempdir()?;
    let deployment_path = dir.path().join("deployment.json");
    deployment.save(&deployment_path)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let child = Command::new(&args.sequencer_bin)
        .env("DATABASE_URL", &db)
        .env("KEEL_L1_RPC", anvil.endpoint())
        .env("KEEL_DEPLOYMENT", &deployment_path)
        .env("KEEL_SEQUENCER_KEY", format!("0x{}", alloy::hex::encode(seq_signer.to_bytes())))
        .env("KEEL_LISTEN", format!("127.0.0.1:{port}"))
        .env("KEEL_L1_POLL_MS", "200")
        .env("KEEL_CONFIRMATIONS", "0")
        .env("KEEL_BATCH_MAX_TXS", "5000")
        .env("KEEL_BATCH_MAX_AGE_MS", "1000")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| {
            format!(
                "starting {} (build it with `cargo build --release -p keel-sequencer`)",
                args.sequencer_bin.display()
            )
        })?;
    let seq = Sequencer { child, url: format!("http://127.0.0.1:{port}") };
    let http = reqwest::Client::new();
    let ready = Instant::now();
    while http.get(format!("{}/readyz", seq.url)).send().await.map(|r| r.status().is_success()).ok()
        != Some(true)
    {
        if ready.elapsed() > Duration::from_secs(60) {
            bail!("the sequencer did not become ready");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Fund: one whale deposit, then the whale pays every account on L2.
    let domain = Domain::new(deployment.chain_config());
    let whale = key_of(usize::MAX / 2);
    let whale_addr = address_of(&whale);
    let user = L1Client::connect(
        &anvil.endpoint(),
        PrivateKeySigner::from_bytes(&B256::from_slice(&anvil.keys()[1].to_bytes()))?,
        deployment.clone(),
    )?;
    user.deposit_eth(whale_addr, U256::from(10u128.pow(21))).await?;
    let url = format!("{}/v1/transactions", seq.url);
    while http
        .get(format!("{}/v1/accounts/{whale_addr}", seq.url))
        .send()
        .await?
        .json::<Value>()
        .await?["nonce"]
        != "0"
        || http
            .get(format!("{}/v1/accounts/{whale_addr}", seq.url))
            .send()
            .await?
            .json::<Value>()
            .await?["balances"][ETH.to_checksum(None)]
            == "0"
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let keys: Vec<SecretKey> = (0..args.accounts).map(key_of).collect();
    let funding: Vec<String> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let t = Transaction {
                kind: TxKind::Transfer,
                to: address_of(k),
                token: ETH,
                amount: 10u128.pow(17),
                fee: 0,
                nonce: i as u64,
            };
            record_body(&domain, &t, &whale)
        })
        .collect();
    let (_, _, funding_errors) = closed_loop(&url, vec![funding], 1).await;
    if funding_errors > 0 {
        bail!("{funding_errors} funding transfers failed");
    }

    // Pre-sign: per account, its transfers in nonce order (the signing is not measured).
    let per_account = args.transfers.div_ceil(args.accounts);
    let sign = |round_offset: u64| -> Vec<Vec<String>> {
        keys.iter()
            .enumerate()
            .map(|(a, k)| {
                (0..per_account as u64)
                    .map(|n| {
                        let to = Address::from_word(B256::from(U256::from((a as u64) << 20 | n)));
                        let t = Transaction {
                            kind: TxKind::Transfer,
                            to,
                            token: ETH,
                            amount: 1,
                            fee: 0,
                            nonce: round_offset + n,
                        };
                        record_body(&domain, &t, k)
                    })
                    .collect()
            })
            .collect()
    };
    let closed = sign(0);
    let open = sign(per_account as u64);
    let total = closed.iter().map(Vec::len).sum::<usize>();

    let (closed_rate, closed_lat, closed_errors) =
        closed_loop(&url, closed, args.concurrency).await;
    // Open loop: interleave accounts so each account's transfers are far apart in time.
    let mut open_bodies = Vec::with_capacity(total);
    for n in 0..per_account {
        for acc in &open {
            open_bodies.push(acc[n].clone());
        }
    }
    let bodies_kept = open_bodies.clone();
    let open = open_loop(&url, open_bodies, args.rate).await;
    let open_bodies_last = open
        .last_accepted
        .map(|i| bodies_kept[i].clone())
        .context("the open loop had no accepted transfer")?;
    let open_done = Instant::now();

    // Until every batch is on L1: the last transfer sent is posted (batches post in order).
    let last: Value = serde_json::from_str(open_bodies_last.as_str())?;
    let last_record = alloy::hex::decode(last["record"].as_str().unwrap_or_default())?;
    let last_hash = alloy::primitives::keccak256(&last_record);
    loop {
        let v: Value = http
            .get(format!("{}/v1/transactions/{last_hash}", seq.url))
            .send()
            .await?
            .json()
            .await?;
        if v["status"] == "posted" || v["status"] == "final" {
            break;
        }
        if open_done.elapsed() > Duration::from_secs(120) {
            bail!("the last transfer was not posted within 120 s (its status: {v})");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let to_l1 = open_done.elapsed().as_secs_f64();
    drop(seq);

    // anvil, same client code, same concurrency, same number of signed transfers.
    let anvil_rate =
        anvil_closed_loop(&anvil, args.accounts.min(500), total, args.concurrency).await?;
    Ok(json!({
        "transfers": total,
        "closed_loop": { "concurrency": args.concurrency, "accepted_per_s": closed_rate, "errors": closed_errors, "latency": closed_lat.summary() },
        "open_loop": { "offered_per_s": args.rate, "accepted_per_s": open.rate, "errors": open.errors, "latency": open.latencies.summary() },
        "seconds_until_all_posted_on_l1": to_l1,
        "anvil_accepted_per_s": anvil_rate,
        "ratio_keel_to_anvil": closed_rate / anvil_rate,
    }))
}

/// The same load on anvil: signed EIP-1559 ETH transfers via `eth_sendRawTransaction`.
async fn anvil_closed_loop(
    anvil: &alloy::node_bindings::AnvilInstance,
    senders: usize,
    total: usize,
    concurrency: usize,
) -> anyhow::Result<f64> {
    let provider = alloy::providers::ProviderBuilder::new().connect_http(anvil.endpoint_url());
    let chain_id = provider.get_chain_id().await?;
    let keys: Vec<PrivateKeySigner> = (0..senders)
        .map(|i| {
            PrivateKeySigner::from_bytes(&B256::from_slice(&key_of(i + 5_000_000).secret_bytes()))
                .expect("key")
        })
        .collect();
    for k in &keys {
        provider.anvil_set_balance(k.address(), U256::from(10u128.pow(21))).await?;
    }
    let per = total.div_ceil(senders);
    let bodies: Vec<Vec<String>> = keys
        .iter()
        .enumerate()
        .map(|(a, k)| {
            (0..per as u64)
                .map(|n| {
                    let mut tx = TxEip1559 {
                        chain_id,
                        nonce: n,
                        gas_limit: 21_000,
                        max_fee_per_gas: 20_000_000_000,
                        max_priority_fee_per_gas: 1_000_000_000,
                        to: EvmTxKind::Call(Address::from_word(B256::from(U256::from((a as u64) << 20 | n)))),
                        value: U256::from(1),
                        ..Default::default()
                    };
                    let sig = k.sign_transaction_sync(&mut tx).expect("sign");
                    let raw = TxEnvelope::from(tx.into_signed(sig)).encoded_2718();
                    json!({ "jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction", "params": [alloy::hex::encode_prefixed(raw)] }).to_string()
                })
                .collect()
        })
        .collect();
    let (rate, _, errors) = closed_loop(&anvil.endpoint(), bodies, concurrency).await;
    if errors > 0 {
        tracing::warn!(errors, "anvil rejected some transactions");
    }
    Ok(rate)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
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
    let args = Args::parse();
    if args.accounts < args.concurrency || args.accounts == 0 || args.runs == 0 {
        bail!("--accounts must be at least --concurrency, and --runs at least 1");
    }
    let mut runs = Vec::new();
    for r in 0..args.runs {
        tracing::info!(run = r + 1, of = args.runs, "benchmark run");
        let v = one_run(&args).await?;
        tracing::info!(result = %v, "run done");
        runs.push(v);
    }
    let med = |path: &[&str]| {
        let mut xs: Vec<f64> = runs
            .iter()
            .map(|v| path.iter().fold(v, |v, k| &v[*k]).as_f64().unwrap_or(f64::NAN))
            .collect();
        median(&mut xs)
    };
    let summary = json!({
        "date": chrono_like_date(),
        "machine": machine(),
        "command": std::env::args().collect::<Vec<_>>().join(" "),
        "runs": runs,
        "median": {
            "closed_loop_accepted_per_s": med(&["closed_loop", "accepted_per_s"]),
            "closed_loop_p99_ms": med(&["closed_loop", "latency", "p99_ms"]),
            "open_loop_offered_per_s": args.rate,
            "open_loop_accepted_per_s": med(&["open_loop", "accepted_per_s"]),
            "open_loop_p50_ms": med(&["open_loop", "latency", "p50_ms"]),
            "open_loop_p90_ms": med(&["open_loop", "latency", "p90_ms"]),
            "open_loop_p99_ms": med(&["open_loop", "latency", "p99_ms"]),
            "open_loop_p999_ms": med(&["open_loop", "latency", "p999_ms"]),
            "open_loop_max_ms": med(&["open_loop", "latency", "max_ms"]),
            "seconds_until_all_posted_on_l1": med(&["seconds_until_all_posted_on_l1"]),
            "anvil_accepted_per_s": med(&["anvil_accepted_per_s"]),
            "ratio_keel_to_anvil": med(&["ratio_keel_to_anvil"]),
        }
    });
    #[allow(clippy::print_stdout)] // the report is the output
    {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    }
    if args.write_docs {
        write_docs(&summary)?;
    }
    Ok(())
}

fn chrono_like_date() -> String {
    Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    format!("{cpus} CPUs ({model}), Linux")
}

fn write_docs(summary: &Value) -> anyhow::Result<()> {
    std::fs::write("docs/benchmarks.json", serde_json::to_string_pretty(summary)? + "\n")?;
    let m = &summary["median"];
    let f = |k: &str| m[k].as_f64().unwrap_or(f64::NAN);
    let section = format!(
        "<!-- keel-bench:begin (generated by keel-bench --write-docs; do not edit) -->\n\
## Sequencer end to end\n\n\
Command: `{}` — {} on {}; medians of {} runs; the real `keel-sequencer` release binary with \
Postgres durability on (every acknowledgement is committed), anvil as L1, clients on the same \
machine. Raw figures: `docs/benchmarks.json`.\n\n\
| measure | median |\n|---|---|\n\
| closed loop: accepted, durable transfers | {:.0} /s |\n\
| closed loop: submit→ack p99 | {:.1} ms |\n\
| open loop at {} /s offered: accepted | {:.0} /s |\n\
| open loop: submit→ack p50 / p90 / p99 / p99.9 / max | {:.1} / {:.1} / {:.1} / {:.1} / {:.1} ms |\n\
| after the load: seconds until every batch is on L1 | {:.1} s |\n\
| anvil, same transfers as signed ETH transactions, same client and concurrency | {:.0} /s |\n\
| ratio Keel / anvil | {:.1}× |\n\
<!-- keel-bench:end -->",
        summary["command"].as_str().unwrap_or(""),
        summary["date"].as_str().unwrap_or(""),
        summary["machine"].as_str().unwrap_or(""),
        summary["runs"].as_array().map_or(0, Vec::len),
        f("closed_loop_accepted_per_s"),
        f("closed_loop_p99_ms"),
        m["open_loop_offered_per_s"],
        f("open_loop_accepted_per_s"),
        f("open_loop_p50_ms"),
        f("open_loop_p90_ms"),
        f("open_loop_p99_ms"),
        f("open_loop_p999_ms"),
        f("open_loop_max_ms"),
        f("seconds_until_all_posted_on_l1"),
        f("anvil_accepted_per_s"),
        f("ratio_keel_to_anvil"),
    );
    let path = "docs/benchmarks.md";
    let doc = std::fs::read_to_string(path)?;
    let new = match (doc.find("<!-- keel-bench:begin"), doc.find("<!-- keel-bench:end -->")) {
        (Some(a), Some(b)) => {
            format!("{}{}{}", &doc[..a], section, &doc[b + "<!-- keel-bench:end -->".len()..])
        }
        _ => format!("{doc}\n{section}\n"),
    };
    std::fs::write(path, new)?;
    Ok(())
}
