//! `keel-bench e2e`: end-to-end speed of the real `keel-sequencer` binary against real Postgres
//! (durability on) and a real anvil, side by side with anvil itself on the same load, and the
//! time until the real `keel-verifier` binary agrees.
//!
//! One run: fund `accounts` L2 accounts (one deposit, then L2 transfers), pre-sign `transfers`
//! transfers, submit them over HTTP with `concurrency` connections closed-loop (as fast as they
//! are acknowledged). Then start the verifier and let it catch up, so the closed loop measured
//! the sequencer alone; then the open loop at `rate` per second (latency measured from each
//! request's scheduled time, so queueing is not hidden) with the verifier following L1; then wait
//! until the batch holding the last acknowledged transfer is on L1 and until the verifier agrees
//! with it. The same number of signed ETH transfers go to anvil with `eth_sendRawTransaction`
//! from the same client code at the same concurrency. Benchmarks are not tests.

use std::{
    collections::BTreeMap,
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
use keel_core::tx::{Domain, SecretKey, Transaction, TxKind};
use keel_l1::{client::connect_http, deploy, devnode::spawn_anvil, L1Client, RollupParams};
use keel_store::PgCluster;
use serde_json::{json, Value};

use crate::{address_of, key_of, load_average, median};

/// Options of `keel-bench e2e`.
#[derive(Debug, clap::Args)]
pub(crate) struct E2eArgs {
    /// Transfers per measurement.
    #[arg(long, default_value_t = 40_000)]
    transfers: usize,
    /// Sending accounts (each has one request in flight at a time in the closed loop).
    #[arg(long, default_value_t = 2_000)]
    accounts: usize,
    /// Concurrent HTTP connections in the closed loop.
    #[arg(long, default_value_t = 128)]
    concurrency: usize,
    /// Concurrent connections of the batched closed loop, where each request carries one
    /// transfer of every account its connection owns (`POST /v1/transactions/list`); 0 skips it.
    #[arg(long, default_value_t = 8)]
    list_workers: usize,
    /// Offered rate of the open loop, transfers per second.
    #[arg(long, default_value_t = 10_000)]
    rate: u64,
    /// Runs (medians are reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// The sequencer's batch size (`KEEL_BATCH_MAX_TXS`; its default is 800).
    #[arg(long, default_value_t = 800)]
    batch_max_txs: u64,
    /// The sequencer binary (build it with `cargo build --release -p keel-sequencer`).
    #[arg(long, default_value = "target/release/keel-sequencer")]
    sequencer_bin: PathBuf,
    /// The verifier binary (build it with `cargo build --release -p keel-verifier`).
    #[arg(long, default_value = "target/release/keel-verifier")]
    verifier_bin: PathBuf,
}

const ETH: Address = Address::ZERO;

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

/// Closed loop with batched submissions: `workers` connections, each owning every
/// `workers`-th account and sending, round after round, one list with the next transfer of each
/// of its accounts. Returns (accepted transfers per second, latency per list, transfers refused).
async fn closed_loop_lists(
    url: &str,
    bodies: Vec<Vec<String>>,
    workers: usize,
) -> (f64, Latencies, usize) {
    let http = reqwest::Client::builder().pool_max_idle_per_host(workers).build().expect("client");
    let mut lists: Vec<Vec<String>> = vec![Vec::new(); workers];
    let rounds = bodies.iter().map(Vec::len).max().unwrap_or(0);
    for (w, list) in lists.iter_mut().enumerate() {
        for r in 0..rounds {
            let items: Vec<&str> = bodies
                .iter()
                .skip(w)
                .step_by(workers)
                .filter_map(|acc| acc.get(r).map(String::as_str))
                .collect();
            if !items.is_empty() {
                list.push(format!("{{\"transactions\":[{}]}}", items.join(",")));
            }
        }
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in lists {
        let http = http.clone();
        let url = url.to_string();
        tasks.push(tokio::spawn(async move {
            let (mut lat, mut accepted, mut refused) = (Vec::new(), 0usize, 0usize);
            for body in worker {
                let t = Instant::now();
                let v: Option<Value> = match http
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                {
                    Ok(r) => r.json().await.ok(),
                    Err(_) => None,
                };
                lat.push(t.elapsed().as_secs_f64() * 1e3);
                for item in v.as_ref().and_then(|v| v["results"].as_array()).into_iter().flatten() {
                    if item["status"] == "sequenced" {
                        accepted += 1;
                    } else {
                        refused += 1;
                    }
                }
            }
            (lat, accepted, refused)
        }));
    }
    let (mut all, mut accepted, mut refused) = (Vec::new(), 0, 0);
    for t in tasks {
        let (l, a, r) = t.await.expect("worker");
        all.extend(l);
        accepted += a;
        refused += r;
    }
    (accepted as f64 / started.elapsed().as_secs_f64(), Latencies(all), refused)
}

/// What an open loop measured.
struct OpenLoop {
    rate: f64,
    latencies: Latencies,
    /// Failures by HTTP status, or "transport" when the request did not complete.
    errors: std::collections::BTreeMap<String, usize>,
    /// The body of the transfer acknowledged last, if any.
    last_acked: Option<String>,
}

/// Open loop: transfer `n` of account `a` (of `A`) is scheduled at `(n·A + a) / rate`, and
/// latency counts from the schedule, so queueing in the sequencer is not hidden. Like a wallet,
/// an account sends its next transfer only after the previous one is answered (a transfer that
/// overtook its predecessor would be refused for its nonce); if that answer comes after the next
/// transfer's scheduled time, the wait counts in the next transfer's latency.
async fn open_loop(url: &str, per_account: Vec<Vec<String>>, rate: u64) -> OpenLoop {
    let http = reqwest::Client::builder().pool_max_idle_per_host(4_096).build().expect("client");
    let started = Instant::now();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let accounts = per_account.len();
    let n: usize = per_account.iter().map(Vec::len).sum();
    for (a, bodies) in per_account.into_iter().enumerate() {
        let http = http.clone();
        let url = url.to_string();
        let tx = tx.clone();
        tokio::spawn(async move {
            for (k, body) in bodies.into_iter().enumerate() {
                let i = k * accounts + a;
                let at = started + Duration::from_secs_f64(i as f64 / rate as f64);
                tokio::time::sleep_until(at.into()).await;
                let outcome = match http
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                {
                    Ok(r) if r.status().is_success() => Ok(body),
                    Ok(r) => Err(r.status().as_u16().to_string()),
                    Err(_) => Err("transport".to_string()),
                };
                let _ = tx.send((outcome, at.elapsed().as_secs_f64() * 1e3));
            }
        });
    }
    drop(tx);
    let mut lat = Vec::with_capacity(n);
    let mut errors = std::collections::BTreeMap::new();
    let mut last_acked = None;
    while let Some((outcome, ms)) = rx.recv().await {
        match outcome {
            Ok(body) => {
                lat.push(ms);
                last_acked = Some(body);
            }
            Err(e) => *errors.entry(e).or_insert(0) += 1,
        }
    }
    let secs = started.elapsed().as_secs_f64();
    OpenLoop { rate: lat.len() as f64 / secs, latencies: Latencies(lat), errors, last_acked }
}

fn record_body(domain: &Domain, t: &Transaction, key: &SecretKey) -> String {
    json!({ "record": alloy::hex::encode_prefixed(domain.sign(t, key).0) }).to_string()
}

/// A child service process, killed when dropped.
struct Service {
    child: Child,
    url: String,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Service {
    /// Start `bin` with `env` on a free loopback port and wait until `ready_path` answers 2xx.
    async fn start(
        bin: &PathBuf,
        env: &[(&str, String)],
        ready_path: &str,
    ) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new(bin)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("KEEL_LISTEN", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| {
                format!(
                    "starting {} (build it with `cargo build --release -p keel-sequencer -p keel-verifier`)",
                    bin.display()
                )
            })?;
        let svc = Service { child, url: format!("http://127.0.0.1:{port}") };
        let http = reqwest::Client::new();
        let started = Instant::now();
        while http
            .get(format!("{}{ready_path}", svc.url))
            .send()
            .await
            .map(|r| r.status().is_success())
            .ok()
            != Some(true)
        {
            if started.elapsed() > Duration::from_secs(60) {
                bail!("{} did not become ready", bin.display());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(svc)
    }
}

/// The batch the sequencer put a record in, and whether it is on L1 yet.
async fn batch_of(
    http: &reqwest::Client,
    seq: &Service,
    record: &str,
) -> anyhow::Result<(u64, bool)> {
    let raw = alloy::hex::decode(record)?;
    let hash = alloy::primitives::keccak256(&raw);
    let v: Value =
        http.get(format!("{}/v1/transactions/{hash}", seq.url)).send().await?.json().await?;
    let batch = v["batch"].as_u64().with_context(|| format!("no batch for {hash}: {v}"))?;
    Ok((batch, v["status"] == "posted" || v["status"] == "final"))
}

/// The last batch the verifier agrees with, if any.
async fn agreed_up_to(http: &reqwest::Client, verifier: &Service) -> anyhow::Result<Option<u64>> {
    let v: Value = http.get(format!("{}/v1/status", verifier.url)).send().await?.json().await?;
    Ok(v["batches"]["agreedUpTo"].as_u64())
}

/// Wait until the verifier agrees with batch `batch`; returns when it did.
async fn until_agreed(
    http: &reqwest::Client,
    verifier: &Service,
    batch: u64,
    limit: Duration,
) -> anyhow::Result<Instant> {
    let started = Instant::now();
    loop {
        if agreed_up_to(http, verifier).await?.is_some_and(|a| a >= batch) {
            return Ok(Instant::now());
        }
        if started.elapsed() > limit {
            bail!("the verifier did not agree with batch {batch} within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The sums and counts of the sequencer's histograms (Prometheus text), to tell what happened
/// inside it during a phase: `metric_sum` and `metric_count` by name.
async fn scrape(http: &reqwest::Client, seq: &Service) -> anyhow::Result<BTreeMap<String, f64>> {
    let text = http.get(format!("{}/metrics", seq.url)).send().await?.text().await?;
    Ok(text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(' '))
        .filter(|(k, _)| k.ends_with("_sum") || k.ends_with("_count") || k.ends_with("_total"))
        .filter_map(|(k, v)| Some((k.to_string(), v.trim().parse().ok()?)))
        .collect())
}

/// Means over a phase, from two scrapes: commit group size, commit time, submit→ack time as the
/// sequencer sees it, L1 posting time per batch.
fn phase_means(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>) -> Value {
    let delta =
        |k: &str| after.get(k).copied().unwrap_or(0.0) - before.get(k).copied().unwrap_or(0.0);
    let mean = |m: &str| {
        let n = delta(&format!("{m}_count"));
        if n > 0.0 {
            json!(delta(&format!("{m}_sum")) / n)
        } else {
            Value::Null
        }
    };
    json!({
        "commits": delta("keel_commit_seconds_count"),
        "commit_group_mean": mean("keel_commit_group_transactions"),
        "commit_mean_ms": mean("keel_commit_seconds").as_f64().map(|s| s * 1e3),
        "ack_mean_ms": mean("keel_submit_ack_seconds").as_f64().map(|s| s * 1e3),
        "batches_posted": delta("keel_batches_posted_total"),
        "batch_post_mean_s": mean("keel_batch_post_seconds"),
    })
}

fn record_of_body(body: &str) -> anyhow::Result<String> {
    let v: Value = serde_json::from_str(body)?;
    Ok(v["record"].as_str().unwrap_or_default().to_string())
}

async fn one_run(args: &E2eArgs) -> anyhow::Result<Value> {
    let load_before = load_average();
    let pg = PgCluster::start_temp().await?;
    let db = pg.create_database("keel_bench").await?;
    let verifier_db = pg.create_database("keel_bench_verifier").await?;
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
    let common = [
        ("KEEL_L1_RPC", anvil.endpoint()),
        ("KEEL_DEPLOYMENT", deployment_path.display().to_string()),
        ("KEEL_L1_POLL_MS", "200".to_string()),
        ("KEEL_CONFIRMATIONS", "0".to_string()),
    ];
    let mut seq_env = common.to_vec();
    seq_env.extend([
        ("DATABASE_URL", db),
        ("KEEL_SEQUENCER_KEY", format!("0x{}", alloy::hex::encode(seq_signer.to_bytes()))),
        ("KEEL_BATCH_MAX_TXS", args.batch_max_txs.to_string()),
        ("KEEL_BATCH_MAX_AGE_MS", "1000".to_string()),
    ]);
    let seq = Service::start(&args.sequencer_bin, &seq_env, "/readyz").await?;
    let http = reqwest::Client::new();

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
    loop {
        let v: Value =
            http.get(format!("{}/v1/accounts/{whale_addr}", seq.url)).send().await?.json().await?;
        if v["nonce"] == "0" && v["balances"][ETH.to_checksum(None)] != "0" {
            break;
        }
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
    let listed = sign(per_account as u64);
    let listed_last: Vec<String> = listed.iter().filter_map(|acc| acc.last().cloned()).collect();
    let open = sign(2 * per_account as u64);
    let total = closed.iter().map(Vec::len).sum::<usize>();
    let closed_last: Vec<String> =
        closed.iter().filter_map(|acc| acc.last().cloned()).collect::<Vec<_>>();

    let load_closed = load_average();
    let m0 = scrape(&http, &seq).await?;
    let (closed_rate, closed_lat, closed_errors) =
        closed_loop(&url, closed, args.concurrency).await;
    let m1 = scrape(&http, &seq).await?;

    // The same load again in lists: what the sequencer sustains when HTTP is amortized.
    let load_lists = load_average();
    let (list_rate, list_lat, list_refused) = if args.list_workers > 0 {
        let lists_url = format!("{}/v1/transactions/list", seq.url);
        closed_loop_lists(&lists_url, listed, args.list_workers).await
    } else {
        (f64::NAN, Latencies(Vec::new()), 0)
    };
    let m1b = scrape(&http, &seq).await?;

    // The verifier starts now, so the closed loop above measured the sequencer alone, and
    // catches up with everything acknowledged so far before the open loop starts.
    let mut closed_batch = 0;
    let last_before_open = if args.list_workers > 0 { &listed_last } else { &closed_last };
    for body in last_before_open {
        closed_batch = closed_batch.max(batch_of(&http, &seq, &record_of_body(body)?).await?.0);
    }
    let mut ver_env = common.to_vec();
    ver_env.extend([
        ("DATABASE_URL", verifier_db),
        ("KEEL_DATA_DIR", dir.path().join("verifier").display().to_string()),
    ]);
    let verifier = Service::start(&args.verifier_bin, &ver_env, "/v1/status").await?;
    let catch_up = Instant::now();
    until_agreed(&http, &verifier, closed_batch, Duration::from_secs(300)).await?;
    let verifier_catch_up_s = catch_up.elapsed().as_secs_f64();

    let load_open = load_average();
    let m2 = scrape(&http, &seq).await?;
    let open_started = Instant::now();
    let open = open_loop(&url, open, args.rate).await;
    let open_done = Instant::now();
    let m3 = scrape(&http, &seq).await?;
    let last_body = open.last_acked.clone().context("the open loop had no accepted transfer")?;

    // Until the batch holding the last acknowledged transfer is on L1 (batches post in order,
    // so every earlier one is too), and until the verifier agrees with it.
    let last_record = record_of_body(&last_body)?;
    let (last_batch, to_l1) = loop {
        let (batch, posted) = batch_of(&http, &seq, &last_record).await?;
        if posted {
            break (batch, open_done.elapsed().as_secs_f64());
        }
        if open_done.elapsed() > Duration::from_secs(120) {
            bail!("the last transfer was not posted within 120 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let agreed_at = until_agreed(&http, &verifier, last_batch, Duration::from_secs(300)).await?;
    let to_agreed = (agreed_at - open_done).as_secs_f64();
    // Every transfer of the open loop is on L1 by now: the rate the poster sustained.
    let open_accepted = open.latencies.0.len() as f64;
    let posted_per_s = open_accepted / ((open_done - open_started).as_secs_f64() + to_l1);
    drop(verifier);
    drop(seq);

    // anvil, same client code, same concurrency, same number of signed transfers.
    let load_anvil = load_average();
    let anvil_rate =
        anvil_closed_loop(&anvil, args.accounts.min(500), total, args.concurrency).await?;
    Ok(json!({
        "transfers": total,
        "closed_loop": { "concurrency": args.concurrency, "accepted_per_s": closed_rate, "errors": closed_errors, "latency": closed_lat.summary() },
        "closed_loop_lists": { "workers": args.list_workers, "accepted_per_s": list_rate, "refused": list_refused, "latency_per_list": list_lat.summary() },
        "sequencer_closed_loop_lists": phase_means(&m1, &m1b),
        "verifier_catch_up_s": verifier_catch_up_s,
        "open_loop": { "offered_per_s": args.rate, "accepted_per_s": open.rate, "errors": open.errors, "latency": open.latencies.summary() },
        "last_batch": last_batch,
        "seconds_until_all_posted_on_l1": to_l1,
        "seconds_until_verifier_agrees": to_agreed,
        "l1_posted_transfers_per_s": posted_per_s,
        "sequencer_closed_loop": phase_means(&m0, &m1),
        "sequencer_open_loop": phase_means(&m2, &m3),
        "anvil_accepted_per_s": anvil_rate,
        "ratio_keel_to_anvil": closed_rate / anvil_rate,
        "load": { "before": load_before, "closed_loop": load_closed, "closed_loop_lists": load_lists, "open_loop": load_open, "anvil": load_anvil, "after": load_average() },
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

/// Run the end-to-end benchmark `runs` times; returns every run and the medians.
pub(crate) async fn run(args: &E2eArgs) -> anyhow::Result<Value> {
    if args.accounts < args.concurrency || args.accounts == 0 || args.runs == 0 {
        bail!("--accounts must be at least --concurrency, and --runs at least 1");
    }
    let mut runs = Vec::new();
    for r in 0..args.runs {
        tracing::info!(run = r + 1, of = args.runs, "end-to-end run");
        let v = one_run(args).await?;
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
    Ok(json!({
        "transfers": runs[0]["transfers"],
        "accounts": args.accounts,
        "concurrency": args.concurrency,
        "batch_max_txs": args.batch_max_txs,
        "runs": runs,
        "median": {
            "closed_loop_accepted_per_s": med(&["closed_loop", "accepted_per_s"]),
            "closed_loop_p50_ms": med(&["closed_loop", "latency", "p50_ms"]),
            "closed_loop_p99_ms": med(&["closed_loop", "latency", "p99_ms"]),
            "open_loop_offered_per_s": args.rate,
            "open_loop_accepted_per_s": med(&["open_loop", "accepted_per_s"]),
            "open_loop_p50_ms": med(&["open_loop", "latency", "p50_ms"]),
            "open_loop_p90_ms": med(&["open_loop", "latency", "p90_ms"]),
            "open_loop_p99_ms": med(&["open_loop", "latency", "p99_ms"]),
            "open_loop_p999_ms": med(&["open_loop", "latency", "p999_ms"]),
            "open_loop_max_ms": med(&["open_loop", "latency", "max_ms"]),
            "verifier_catch_up_s": med(&["verifier_catch_up_s"]),
            "seconds_until_all_posted_on_l1": med(&["seconds_until_all_posted_on_l1"]),
            "seconds_until_verifier_agrees": med(&["seconds_until_verifier_agrees"]),
            "l1_posted_transfers_per_s": med(&["l1_posted_transfers_per_s"]),
            "closed_loop_lists_accepted_per_s": med(&["closed_loop_lists", "accepted_per_s"]),
            "closed_loop_lists_p99_ms": med(&["closed_loop_lists", "latency_per_list", "p99_ms"]),
            "closed_loop_lists_commit_group_mean": med(&["sequencer_closed_loop_lists", "commit_group_mean"]),
            "closed_loop_commit_group_mean": med(&["sequencer_closed_loop", "commit_group_mean"]),
            "closed_loop_commit_mean_ms": med(&["sequencer_closed_loop", "commit_mean_ms"]),
            "closed_loop_ack_mean_ms": med(&["sequencer_closed_loop", "ack_mean_ms"]),
            "batch_post_mean_s": med(&["sequencer_open_loop", "batch_post_mean_s"]),
            "anvil_accepted_per_s": med(&["anvil_accepted_per_s"]),
            "ratio_keel_to_anvil": med(&["ratio_keel_to_anvil"]),
        }
    }))
}
