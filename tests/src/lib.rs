//! The harness of the end-to-end tests in `tests/tests/`: a whole Keel system on one machine —
//! a private Postgres cluster, a real anvil, the real contracts, and the real `keel-sequencer` and
//! `keel-verifier` binaries started as processes with the settings (and fault injections) a test
//! asks for. Time on L1 is skipped with `evm_increaseTime`/`evm_mine`, never slept through.
//!
//! Accounts are anvil's dev keys: 0 is the sequencer, 1–4 are users, 6 the honest verifier,
//! 7 a dishonest challenger. The test vectors shared by Rust and Solidity live in
//! `tests/vectors/`.

use std::{
    collections::HashMap,
    future::Future,
    path::PathBuf,
    process::{Child, Command},
    time::{Duration, Instant},
};

use alloy::{
    node_bindings::AnvilInstance,
    primitives::{Address, B256, U256},
    providers::{ext::AnvilApi, Provider},
    rpc::types::Filter,
    signers::local::PrivateKeySigner,
    sol_types::SolEvent,
};
use keel_core::tx::{Domain, SecretKey, Transaction, TxKind};
use keel_l1::{
    bindings::ChallengeManager, client::connect_http, deploy, devnode::spawn_anvil, Deployment,
    L1Client, RollupParams,
};
use keel_store::PgCluster;
use serde_json::{json, Value};
use tokio::sync::Mutex;

/// Anvil key of the sequencer.
pub const SEQUENCER: usize = 0;
/// Anvil key of the honest verifier.
pub const VERIFIER: usize = 6;
/// Anvil key of the dishonest challenger.
pub const CHEATER: usize = 7;
/// One ETH in wei.
pub const ETH: u128 = 1_000_000_000_000_000_000;

/// A running binary, killed when dropped.
pub struct Service {
    child: Child,
    /// Its HTTP base URL.
    pub url: String,
    /// Where its log goes.
    pub log: PathBuf,
}

impl Service {
    /// Kill it at once (SIGKILL: no graceful shutdown).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A whole Keel system: Postgres, anvil, deployed contracts, and the binaries a test starts.
pub struct System {
    /// The private Postgres cluster (one database per service).
    pub pg: PgCluster,
    /// The L1.
    pub anvil: AnvilInstance,
    /// The Rollup's parameters.
    pub params: RollupParams,
    /// Where the contracts are.
    pub deployment: Deployment,
    /// HTTP client for the services' APIs.
    pub http: reqwest::Client,
    dir: tempfile::TempDir,
    databases: Mutex<HashMap<String, String>>,
}

/// The path of a workspace binary next to this test's executable.
pub fn binary(name: &str) -> PathBuf {
    // target/<profile>/deps/<this test> → target/<profile>/<name>
    let exe = std::env::current_exe().expect("test path");
    let path = exe.parent().and_then(|d| d.parent()).expect("target dir").join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo test --workspace` (or nextest --workspace)",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

fn hex_key(s: &PrivateKeySigner) -> String {
    format!("0x{}", alloy::hex::encode(s.to_bytes()))
}

impl System {
    /// Postgres, anvil, the contracts deployed with devnet parameters, the sequencer staked.
    pub async fn start() -> Self {
        Self::start_with_anvil(&[]).await
    }

    /// [`System::start`] with more anvil arguments (e.g. `--block-time 1`, so that postings are
    /// pending for a while instead of mined at once).
    pub async fn start_with_anvil(anvil_args: &[&str]) -> Self {
        let pg = PgCluster::start_temp().await.expect("postgres");
        let anvil = spawn_anvil(anvil_args).expect("anvil");
        let seq =
            PrivateKeySigner::from_bytes(&B256::from_slice(&anvil.keys()[SEQUENCER].to_bytes()))
                .expect("key");
        let provider = connect_http(&anvil.endpoint(), seq.clone()).expect("url");
        let params = RollupParams::devnet(1_000_001, seq.address(), Address::repeat_byte(0xFE));
        let deployment = deploy(&provider, &params).await.expect("deploy");
        let dir = tempfile::tempdir().expect("tmp");
        deployment.save(&dir.path().join("deployment.json")).expect("save");
        let system = Self {
            pg,
            anvil,
            params,
            deployment,
            http: reqwest::Client::new(),
            dir,
            databases: Mutex::new(HashMap::new()),
        };
        system.l1(SEQUENCER).stake(system.params.required_stake_wei).await.expect("stake");
        system
    }

    /// Anvil's dev key `i`.
    pub fn signer(&self, i: usize) -> PrivateKeySigner {
        PrivateKeySigner::from_bytes(&B256::from_slice(&self.anvil.keys()[i].to_bytes()))
            .expect("key")
    }

    /// The address of dev key `i`.
    pub fn address(&self, i: usize) -> Address {
        self.signer(i).address()
    }

    /// An L1 client sending as dev key `i`.
    pub fn l1(&self, i: usize) -> L1Client {
        L1Client::connect(&self.anvil.endpoint(), self.signer(i), self.deployment.clone())
            .expect("url")
    }

    /// The L2 signing domain.
    pub fn domain(&self) -> Domain {
        Domain::new(self.deployment.chain_config())
    }

    /// Dev key `i` as an L2 signing key.
    pub fn l2_key(&self, i: usize) -> SecretKey {
        SecretKey::from_byte_array(self.signer(i).to_bytes().0).expect("key")
    }

    /// The URL of the database named `name` (created on first use; the sequencer's is
    /// "sequencer", a verifier's its name).
    pub async fn database(&self, name: &str) -> String {
        let mut dbs = self.databases.lock().await;
        if let Some(url) = dbs.get(name) {
            return url.clone();
        }
        let url = self.pg.create_database(name).await.expect("database");
        dbs.insert(name.to_owned(), url.clone());
        url
    }

    fn command(&self, bin: &str, name: &str, port: u16, envs: &[(&str, String)]) -> Service {
        let log = self.dir.path().join(format!("{name}.log"));
        let file = std::fs::OpenOptions::new().create(true).append(true).open(&log).expect("log");
        let mut cmd = Command::new(binary(bin));
        cmd.env("KEEL_L1_RPC", self.anvil.endpoint())
            .env("KEEL_DEPLOYMENT", self.dir.path().join("deployment.json"))
            .env("KEEL_CONFIRMATIONS", "0")
            .env("KEEL_L1_POLL_MS", "100")
            .env("KEEL_LISTEN", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(file.try_clone().expect("log"))
            .stderr(file);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap_or_else(|e| panic!("starting {bin}: {e}"));
        Service { child, url: format!("http://127.0.0.1:{port}"), log }
    }

    /// Start the sequencer binary (database "sequencer", kept across restarts), with a fault
    /// injection if `fault` is given, batches closed at `max_txs` transactions or after
    /// `max_age_ms`; waits until it is ready.
    pub async fn sequencer(&self, fault: Option<&str>, max_txs: u64, max_age_ms: u64) -> Service {
        self.sequencer_with(fault, max_txs, max_age_ms, &[]).await
    }

    /// [`System::sequencer`] with more settings (`KEEL_*` variables).
    pub async fn sequencer_with(
        &self,
        fault: Option<&str>,
        max_txs: u64,
        max_age_ms: u64,
        settings: &[(&str, &str)],
    ) -> Service {
        let mut envs = vec![
            ("DATABASE_URL", self.database("sequencer").await),
            ("KEEL_SEQUENCER_KEY", hex_key(&self.signer(SEQUENCER))),
            ("KEEL_BATCH_MAX_TXS", max_txs.to_string()),
            ("KEEL_BATCH_MAX_AGE_MS", max_age_ms.to_string()),
        ];
        if let Some(f) = fault {
            envs.push(("KEEL_FAULT", f.to_owned()));
            envs.push(("KEEL_ALLOW_FAULT_INJECTION", "yes-break-my-chain".to_owned()));
        }
        envs.extend(settings.iter().map(|&(k, v)| (k, v.to_owned())));
        let service = self.command("keel-sequencer", "sequencer", free_port(), &envs);
        self.until("the sequencer is ready", 60, || async {
            let r = self.http.get(format!("{}/readyz", service.url)).send().await.ok()?;
            r.status().is_success().then_some(())
        })
        .await;
        service
    }

    /// Start a verifier binary named `name` (its own database, kept across restarts) that
    /// challenges with dev key `key`, with a fault injection if `fault` is given; waits until
    /// it is up.
    pub async fn verifier(&self, name: &str, key: usize, fault: Option<&str>) -> Service {
        let fault = fault
            .map(|f| [("KEEL_FAULT", f), ("KEEL_ALLOW_FAULT_INJECTION", "yes-break-my-chain")]);
        self.verifier_with(name, key, fault.as_ref().map_or(&[][..], |f| &f[..])).await
    }

    /// [`System::verifier`] with more settings (`KEEL_*` variables).
    pub async fn verifier_with(
        &self,
        name: &str,
        key: usize,
        settings: &[(&str, &str)],
    ) -> Service {
        let mut envs = vec![
            ("DATABASE_URL", self.database(name).await),
            ("KEEL_VERIFIER_KEY", hex_key(&self.signer(key))),
        ];
        envs.extend(settings.iter().map(|&(k, v)| (k, v.to_owned())));
        let service = self.command("keel-verifier", name, free_port(), &envs);
        self.until("the verifier is up", 60, || async {
            let r = self.http.get(format!("{}/healthz", service.url)).send().await.ok()?;
            r.status().is_success().then_some(())
        })
        .await;
        service
    }

    /// Wait until `f` gives a value; after `secs` seconds, print the services' logs and fail.
    pub async fn until<T, F, Fut>(&self, what: &str, secs: u64, mut f: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let started = Instant::now();
        let deadline = started + Duration::from_secs(secs);
        loop {
            if let Some(v) = f().await {
                return v;
            }
            if Instant::now() >= deadline {
                self.print_logs();
                panic!("{what}: not reached within {secs} s (started {:?} ago)", started.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Print the last lines of every service's log (on a failure).
    pub fn print_logs(&self) {
        let Ok(entries) = std::fs::read_dir(self.dir.path()) else { return };
        for e in entries.flatten().filter(|e| e.path().extension().is_some_and(|x| x == "log")) {
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            eprintln!("===== {} (last 60 lines)", e.path().display());
            for l in &lines[lines.len().saturating_sub(60)..] {
                eprintln!("{l}");
            }
        }
    }

    /// GET a JSON document (`None` on any failure).
    pub async fn get(&self, url: String) -> Option<Value> {
        self.http.get(url).send().await.ok()?.json().await.ok()
    }

    /// Sign `tx` with dev key `i` and submit it to the sequencer; fails the test unless accepted.
    pub async fn submit(&self, seq: &Service, i: usize, tx: Transaction) -> Value {
        let record = self.domain().sign(&tx, &self.l2_key(i));
        let body = json!({ "record": alloy::hex::encode_prefixed(record.0) });
        let r = self
            .http
            .post(format!("{}/v1/transactions", seq.url))
            .json(&body)
            .send()
            .await
            .expect("http");
        let status = r.status();
        let v: Value = r.json().await.expect("json");
        assert!(status.is_success(), "transaction refused: {v}");
        v
    }

    /// An L2 balance of ETH (`token` zero) or an ERC-20 as the sequencer reports it.
    pub async fn l2_balance(&self, seq: &Service, who: Address, token: Address) -> U256 {
        let url = format!("{}/v1/accounts/{who}?tokens={token}", seq.url);
        let v = self.get(url).await.expect("account");
        v["balances"][token.to_checksum(None)].as_str().expect("balance").parse().expect("balance")
    }

    /// Deposit `amount` wei from dev key `i` to its own L2 account and wait until the sequencer
    /// has credited it.
    pub async fn deposit_and_wait(&self, seq: &Service, i: usize, amount: u128) {
        let who = self.address(i);
        let before = self.l2_balance(seq, who, Address::ZERO).await;
        self.l1(i).deposit_eth(who, U256::from(amount)).await.expect("deposit");
        self.until("the deposit is credited", 60, || async {
            (self.l2_balance(seq, who, Address::ZERO).await > before).then_some(())
        })
        .await;
    }

    /// Wait until L1 holds at least `count` batches.
    pub async fn until_batches(&self, count: u64) {
        let l1 = self.l1(SEQUENCER);
        self.until(&format!("{count} batches on L1"), 90, || async {
            (l1.batch_count().await.ok()? >= count).then_some(())
        })
        .await;
    }

    /// Wait until game `id` exists and is over; returns it.
    pub async fn until_game_over(&self, id: u64, secs: u64) -> keel_l1::GameInfo {
        let l1 = self.l1(SEQUENCER);
        self.until(&format!("game {id} ends"), secs, || async {
            let g = l1.game(id).await.ok()?;
            g.is_over().then_some(g)
        })
        .await
    }

    /// Wait until the verifier at `url` agrees with every batch L1 holds (and there is at
    /// least `min` of them).
    pub async fn until_verifier_agrees(&self, verifier: &Service, min: u64) {
        let l1 = self.l1(SEQUENCER);
        self.until("the verifier agrees with every batch", 90, || async {
            let count = l1.batch_count().await.ok()?;
            let v = self.get(format!("{}/v1/status", verifier.url)).await?;
            let agreed = v["batches"]["agreedUpTo"].as_u64()?;
            (count >= min && agreed + 1 == count && v["firstMismatch"].is_null()).then_some(())
        })
        .await;
    }

    /// Wait until every batch the sequencer at `seq` has is closed and on L1 (nothing
    /// acknowledged waits for a posting).
    pub async fn until_all_posted(&self, seq: &Service) {
        self.until("every batch of the sequencer is on L1", 90, || async {
            let v = self.get(format!("{}/v1/batches", seq.url)).await?;
            let batches = v["batches"].as_array()?;
            batches.iter().all(|b| b["state"] == "posted" || b["state"] == "final").then_some(())
        })
        .await;
    }

    /// Move L1's clock `secs` forward and mine a block.
    pub async fn skip_time(&self, secs: u64) {
        let provider = connect_http(&self.anvil.endpoint(), self.signer(SEQUENCER)).expect("url");
        provider.anvil_increase_time(secs).await.expect("evm_increaseTime");
        provider.anvil_mine(Some(1), None).await.expect("evm_mine");
    }

    /// Everything the ChallengeManager ever credited to `who` (bonds back, rewards, forfeits).
    pub async fn credited_to(&self, who: Address) -> U256 {
        let provider = connect_http(&self.anvil.endpoint(), self.signer(SEQUENCER)).expect("url");
        let filter = Filter::new()
            .address(self.deployment.challenge_manager)
            .event_signature(ChallengeManager::Credited::SIGNATURE_HASH)
            .from_block(0);
        provider
            .get_logs(&filter)
            .await
            .expect("logs")
            .iter()
            .filter_map(|l| l.log_decode::<ChallengeManager::Credited>().ok())
            .filter(|e| e.inner.data.account == who)
            .map(|e| e.inner.data.amount)
            .fold(U256::ZERO, |a, b| a + b)
    }

    /// Finalize withdrawal `index` on L1 as dev key `i`, with the proof served by `verifier`.
    pub async fn finalize_withdrawal(
        &self,
        verifier: &Service,
        i: usize,
        index: u64,
    ) -> Result<(), keel_l1::L1Error> {
        let w = self
            .get(format!("{}/v1/withdrawals/{index}", verifier.url))
            .await
            .expect("withdrawal proof");
        let siblings: Vec<B256> = serde_json::from_value(w["siblings"].clone()).expect("siblings");
        self.l1(i)
            .finalize_withdrawal(
                w["batch"].as_u64().expect("batch"),
                index,
                w["recipient"].as_str().expect("recipient").parse().expect("address"),
                w["token"].as_str().expect("token").parse().expect("address"),
                w["amount"].as_str().expect("amount").parse().expect("amount"),
                siblings,
            )
            .await
            .map(|_| ())
    }

    /// L1 ETH balance of `who`.
    pub async fn l1_balance(&self, who: Address) -> U256 {
        self.l1(SEQUENCER).provider().get_balance(who).await.expect("balance")
    }
}

/// An ETH transfer.
pub fn transfer(to: Address, amount: u128, nonce: u64) -> Transaction {
    Transaction { kind: TxKind::Transfer, to, token: Address::ZERO, amount, fee: 1, nonce }
}

/// An ETH withdrawal to `to` on L1.
pub fn withdraw(to: Address, amount: u128, nonce: u64) -> Transaction {
    Transaction { kind: TxKind::Withdraw, to, token: Address::ZERO, amount, fee: 1, nonce }
}
