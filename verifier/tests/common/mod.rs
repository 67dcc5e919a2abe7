//! Test harness: a private Postgres cluster, a real anvil with the real contracts deployed, a
//! test-driven sequencer (anvil account 0) that builds batches with keel_core and posts them —
//! honest or with a root that goes wrong at a chosen step — and plays the asserter's side of a
//! game, and the verifier under test (anvil account 2).
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::{path::PathBuf, time::Duration};

use alloy::{
    node_bindings::AnvilInstance,
    primitives::{Address, B256, U256},
    providers::ext::AnvilApi,
    signers::local::PrivateKeySigner,
};
use keel_core::{
    dissection::dissection_points,
    state::{execute_batch, step_roots, BatchSteps, MemoryState},
    tx::{Domain, SecretKey, Transaction, TxKind},
    ChainConfig, InboxEntry, Record,
};
use keel_l1::{
    client::connect_http, deploy, devnode::spawn_anvil, Deployment, GameStatus, L1Client,
    RollupParams,
};
use keel_store::PgCluster;
use keel_verifier::{
    follower::FollowerConfig,
    node::{self, RunningVerifier, VerifierConfig},
};
use serde_json::Value;

pub const ETH: Address = Address::ZERO;
pub const ETHER: u128 = 1_000_000_000_000_000_000;

pub fn signer(anvil: &AnvilInstance, i: usize) -> PrivateKeySigner {
    PrivateKeySigner::from_bytes(&B256::from_slice(&anvil.keys()[i].to_bytes())).expect("key")
}

pub struct Net {
    pub anvil: AnvilInstance,
    pub pg: PgCluster,
    pub database_url: String,
    pub dir: tempfile::TempDir,
    pub deployment: Deployment,
    pub deployment_path: PathBuf,
    /// The sequencer's L1 client (account 0).
    pub l1: L1Client,
    /// A user with L1 funds (account 1), and the same key on L2.
    pub user: L1Client,
    pub user_key: SecretKey,
    /// The verifier's key (account 2).
    pub verifier_key: PrivateKeySigner,
    pub seq: Sequencer,
}

impl Net {
    pub async fn start() -> Self {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "warn".into()),
            )
            .with_test_writer()
            .try_init();
        let pg = PgCluster::start_temp().await.expect("postgres starts");
        let database_url = pg.create_database("keel_verifier_test").await.expect("database");
        let anvil = spawn_anvil(&[]).expect("anvil starts");
        let seq_signer = signer(&anvil, 0);
        let provider = connect_http(&anvil.endpoint(), seq_signer.clone()).expect("url");
        let params =
            RollupParams::devnet(1_000_001, seq_signer.address(), Address::repeat_byte(0xFE));
        let deployment = deploy(&provider, &params).await.expect("deploys");
        let l1 = L1Client::new(provider, seq_signer.address(), deployment.clone());
        l1.stake(params.required_stake_wei).await.expect("stakes");
        let user_signer = signer(&anvil, 1);
        let user_key = SecretKey::from_byte_array(user_signer.to_bytes().0).expect("key");
        let user =
            L1Client::connect(&anvil.endpoint(), user_signer, deployment.clone()).expect("url");
        let dir = tempfile::tempdir().expect("tempdir");
        let deployment_path = dir.path().join("deployment.json");
        deployment.save(&deployment_path).expect("write deployment");
        let seq = Sequencer::new(l1.clone());
        Net {
            verifier_key: signer(&anvil, 2),
            anvil,
            pg,
            database_url,
            dir,
            deployment,
            deployment_path,
            l1,
            user,
            user_key,
            seq,
        }
    }

    pub fn config(&self) -> VerifierConfig {
        VerifierConfig {
            listen: "127.0.0.1:0".parse().expect("addr"),
            database_url: Some(self.database_url.clone()),
            data_dir: self.dir.path().join("data"),
            l1_rpc: self.anvil.endpoint(),
            deployment: self.deployment_path.clone(),
            key: Some(self.verifier_key.clone()),
            follower: FollowerConfig {
                confirmations: 0,
                poll: Duration::from_millis(100),
                max_range: 2_000,
            },
            fallback_proposer: false,
            defend_agreed: false,
        }
    }

    pub async fn verifier(&self) -> RunningVerifier {
        node::start(self.config()).await.expect("verifier starts")
    }

    pub fn domain(&self) -> Domain {
        Domain::new(self.deployment.chain_config())
    }

    /// Records signed by the user.
    pub fn sign(&self, txs: &[Transaction]) -> Vec<Record> {
        let d = self.domain();
        txs.iter().map(|t| d.sign(t, &self.user_key)).collect()
    }

    /// Deposit `amount` wei for the user on L2.
    pub async fn deposit(&self, amount: u128) {
        self.user.deposit_eth(self.user.account(), U256::from(amount)).await.expect("deposit");
    }

    /// Skip L1 time (anvil), never wall time.
    pub async fn skip_time(&self, secs: u64) {
        let p = self.l1.provider();
        p.anvil_increase_time(secs).await.expect("anvil");
        p.evm_mine(None).await.expect("anvil");
    }

    /// A client for the verifier's account, to read its credits.
    pub fn verifier_l1(&self) -> L1Client {
        L1Client::connect(
            &self.anvil.endpoint(),
            self.verifier_key.clone(),
            self.deployment.clone(),
        )
        .expect("url")
    }
}

pub fn transfer(to: Address, amount: u128, fee: u128, nonce: u64) -> Transaction {
    Transaction { kind: TxKind::Transfer, to, token: ETH, amount, fee, nonce }
}

pub fn withdraw(to: Address, amount: u128, fee: u128, nonce: u64) -> Transaction {
    Transaction { kind: TxKind::Withdraw, to, token: ETH, amount, fee, nonce }
}

/// A batch built but not posted: its steps and the state before it.
pub struct Built {
    pub records: Vec<Record>,
    pub inbox_end: u64,
    pub steps: BatchSteps,
    pub pre: MemoryState,
}

/// A batch posted with a root that is wrong from step `diverge` on.
pub struct Wrong {
    pub index: u64,
    pub honest: Vec<B256>,
    pub diverge: u64,
}

impl Wrong {
    /// The dishonest asserter's root after `k` steps.
    pub fn claimed(&self, k: u64) -> B256 {
        if k < self.diverge {
            self.honest[k as usize]
        } else {
            B256::repeat_byte(0xBD)
        }
    }
}

/// The test's sequencer: builds batches with keel_core from L1's inbox and posts them.
pub struct Sequencer {
    pub l1: L1Client,
    config: ChainConfig,
    /// State after each batch it keeps on L1, and the inbox end of each.
    states: Vec<(MemoryState, u64)>,
}

impl Sequencer {
    pub fn new(l1: L1Client) -> Self {
        let config = l1.deployment().chain_config();
        Self { l1, config, states: Vec::new() }
    }

    /// The next batch: every inbox entry L1 has that no batch consumed, then `records`.
    pub async fn build(&self, records: Vec<Record>) -> Built {
        let head = self.l1.head().await.expect("rpc");
        let inbox: Vec<InboxEntry> = self
            .l1
            .inbox_entries(self.l1.deployment().start_block, head)
            .await
            .expect("inbox")
            .into_iter()
            .map(|e| e.entry)
            .collect();
        let (pre, start) = self.states.last().cloned().unwrap_or_default();
        let domain = Domain::new(self.config);
        let steps = BatchSteps {
            entries: inbox[start as usize..].to_vec(),
            records: domain.prepare_all(&records),
        };
        Built { records, inbox_end: inbox.len() as u64, steps, pre }
    }

    /// Post `records` with the honest root; returns the batch index and root.
    pub async fn post_honest(&mut self, records: Vec<Record>) -> (u64, B256) {
        let Built { records, inbox_end, steps, mut pre } = self.build(records).await;
        let (at, pre_root) = (self.states.len() as u64, pre.committed_root());
        let root = execute_batch(&self.config, &mut pre, &steps).expect("mem").post_root;
        let (index, _) =
            self.l1.append_batch(&records, inbox_end, root, at, pre_root).await.expect("append");
        assert_eq!(index, self.states.len() as u64);
        self.states.push((pre, inbox_end));
        (index, root)
    }

    /// Post `records` with a root that goes wrong from step `diverge` on. The sequencer does
    /// not build on it (it is removed once a challenger wins).
    pub async fn post_wrong(&mut self, records: Vec<Record>, diverge: u64) -> Wrong {
        let Built { records, inbox_end, steps, pre } = self.build(records).await;
        let honest = step_roots(&self.config, pre.tree().store(), pre.committed_root(), &steps)
            .expect("mem");
        assert!(diverge >= 1 && (diverge as usize) < honest.len(), "diverge inside the batch");
        let wrong = Wrong { index: 0, honest, diverge };
        let n = steps.len() as u64;
        let (at, pre_root) = (self.states.len() as u64, pre.committed_root());
        let (index, _) = self
            .l1
            .append_batch(&records, inbox_end, wrong.claimed(n), at, pre_root)
            .await
            .expect("append");
        assert_eq!(index, self.states.len() as u64);
        Wrong { index, ..wrong }
    }

    /// Play the asserter until the game ends: dissect with `wrong`'s roots whenever it is the
    /// asserter's turn. Returns the final status.
    pub async fn defend(&self, game: u64, wrong: &Wrong, secs: u64) -> GameStatus {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let g = self.l1.game(game).await.expect("rpc");
            match g.status {
                GameStatus::AsserterTurn => self.dissect(game, wrong).await,
                GameStatus::ChallengerTurn => {
                    assert!(tokio::time::Instant::now() < deadline, "the verifier did not move");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                over => return over,
            }
        }
    }

    /// One dissection with `wrong`'s roots (it must be the asserter's turn).
    pub async fn dissect(&self, game: u64, wrong: &Wrong) {
        let g = self.l1.game(game).await.expect("rpc");
        assert_eq!(g.status, GameStatus::AsserterTurn);
        let degree = self.l1.deployment().params.degree;
        let points = dissection_points(g.lo, g.hi, degree).expect("range");
        let roots = points.iter().map(|&p| wrong.claimed(p)).collect();
        self.l1.dissect(game, roots).await.expect("dissect");
    }
}

pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
}

impl Api {
    pub fn new(addr: std::net::SocketAddr) -> Self {
        Self { base: format!("http://{addr}"), http: reqwest::Client::new() }
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.http.get(format!("{}{path}", self.base)).send().await.expect("http");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn text(&self, path: &str) -> String {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("http")
            .text()
            .await
            .expect("body")
    }

    pub async fn status(&self) -> Value {
        self.get("/v1/status").await.1
    }

    /// Wait until the verifier agrees with every batch up to and including `index`.
    pub async fn agreed_through(&self, index: u64) {
        eventually(30, || async {
            let s = self.status().await;
            (s["batches"]["agreedUpTo"].as_u64() >= Some(index)).then_some(())
        })
        .await;
    }
}

/// Poll `f` until it returns `Some`, for at most `secs` seconds of wall time (the services poll
/// L1 every 100 ms; this waits for them, it does not skip L1 time).
pub async fn eventually<T, F, Fut>(secs: u64, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "condition not reached within {secs} s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A TCP proxy in front of anvil that can cut L1 off: while down it refuses new connections and
/// drops open ones, as an L1 node that went away would.
pub struct L1Proxy {
    pub url: String,
    up: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl L1Proxy {
    pub async fn start(upstream: &str) -> Self {
        let upstream = upstream.trim_start_matches("http://").to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (up, up_rx) = tokio::sync::watch::channel(true);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else { return };
                if !*up_rx.borrow() {
                    continue; // dropped: connection refused, in effect
                }
                let upstream = upstream.clone();
                let mut up_rx = up_rx.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = up_rx.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Self { url, up, task }
    }

    pub fn set_up(&self, up: bool) {
        let _ = self.up.send(up);
    }
}

impl Drop for L1Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Sum of what `who` withdrew from the ChallengeManager, from its `Withdrawn` events.
#[allow(dead_code)] // each test binary compiles this module; not every one uses everything
pub async fn withdrawn_by(net: &Net, who: Address) -> U256 {
    use alloy::{providers::Provider, rpc::types::Filter, sol_types::SolEvent};
    use keel_l1::bindings::ChallengeManager;
    let filter = Filter::new()
        .address(net.deployment.challenge_manager)
        .event_signature(ChallengeManager::Withdrawn::SIGNATURE_HASH)
        .from_block(net.deployment.start_block);
    let logs = net.l1.provider().get_logs(&filter).await.expect("logs");
    logs.iter()
        .filter_map(|l| l.log_decode::<ChallengeManager::Withdrawn>().ok())
        .filter(|e| e.inner.data.account == who)
        .map(|e| e.inner.data.amount)
        .sum()
}
