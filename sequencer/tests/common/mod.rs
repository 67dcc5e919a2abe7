//! Test harness: a private Postgres cluster, a real anvil with the real contracts deployed, and a
//! sequencer (in-process or its real binary) wired to them.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::{path::PathBuf, time::Duration};

use alloy::{
    node_bindings::AnvilInstance,
    primitives::{Address, B256, U256},
    providers::ext::AnvilApi,
    signers::local::PrivateKeySigner,
};
use keel_core::tx::{Domain, SecretKey, Transaction, TxKind};
use keel_l1::{
    client::connect_http, deploy, devnode::spawn_anvil, Deployment, L1Client, RollupParams,
};
use keel_sequencer::{
    node::{self, RunningSequencer, SequencerConfig},
    pipeline::BatchPolicy,
};
use keel_store::PgCluster;
use serde_json::{json, Value};

pub const ETH: Address = Address::ZERO;

pub struct Net {
    pub anvil: AnvilInstance,
    pub pg: PgCluster,
    pub database_url: String,
    pub dir: tempfile::TempDir,
    pub deployment: Deployment,
    pub deployment_path: PathBuf,
    pub sequencer_key: PrivateKeySigner,
    pub sequencer_l1: L1Client,
}

pub fn signer(anvil: &AnvilInstance, i: usize) -> PrivateKeySigner {
    PrivateKeySigner::from_bytes(&B256::from_slice(&anvil.keys()[i].to_bytes())).expect("key")
}

pub fn l2_key(anvil: &AnvilInstance, i: usize) -> SecretKey {
    SecretKey::from_byte_array(signer(anvil, i).to_bytes().0).expect("key")
}

impl Net {
    pub async fn start() -> Self {
        // Logs of the services under test, shown for failing tests (RUST_LOG to change).
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "warn".into()),
            )
            .with_test_writer()
            .try_init();
        let pg = PgCluster::start_temp().await.expect("postgres starts");
        let database_url = pg.create_database("keel_test").await.expect("database");
        let anvil = spawn_anvil(&[]).expect("anvil starts");
        let seq = signer(&anvil, 0);
        let provider = connect_http(&anvil.endpoint(), seq.clone()).expect("url");
        let params = RollupParams::devnet(1_000_001, seq.address(), Address::repeat_byte(0xFE));
        let deployment = deploy(&provider, &params).await.expect("deploys");
        let sequencer_l1 = L1Client::new(provider, seq.address(), deployment.clone());
        sequencer_l1.stake(params.required_stake_wei).await.expect("stakes");
        let dir = tempfile::tempdir().expect("tempdir");
        let deployment_path = dir.path().join("deployment.json");
        deployment.save(&deployment_path).expect("write deployment");
        Net {
            anvil,
            pg,
            database_url,
            dir,
            deployment,
            deployment_path,
            sequencer_key: seq,
            sequencer_l1,
        }
    }

    pub fn config(&self) -> SequencerConfig {
        SequencerConfig {
            listen: "127.0.0.1:0".parse().expect("addr"),
            database_url: Some(self.database_url.clone()),
            data_dir: self.dir.path().join("data"),
            l1_rpc: self.anvil.endpoint(),
            deployment: self.deployment_path.clone(),
            key: self.sequencer_key.clone(),
            batch: BatchPolicy {
                max_txs: 100,
                max_age: Duration::from_millis(200),
                max_group: 1024,
            },
            queue_capacity: 10_000,
            confirmations: 0,
            l1_poll: Duration::from_millis(100),
            fees: keel_l1::client::FeePolicy::default(),
            posting_stall_after: std::time::Duration::from_secs(60),
        }
    }

    pub async fn sequencer(&self) -> RunningSequencer {
        node::start(self.config()).await.expect("sequencer starts")
    }

    pub fn user(&self, i: usize) -> L1Client {
        L1Client::connect(&self.anvil.endpoint(), signer(&self.anvil, i), self.deployment.clone())
            .expect("url")
    }

    pub fn domain(&self) -> Domain {
        Domain::new(self.deployment.chain_config())
    }

    pub async fn skip_time(&self, secs: u64) {
        let p = self.sequencer_l1.provider();
        p.anvil_increase_time(secs).await.expect("anvil");
        p.evm_mine(None).await.expect("anvil");
    }
}

pub fn transfer(to: Address, amount: u128, fee: u128, nonce: u64) -> Transaction {
    Transaction { kind: TxKind::Transfer, to, token: ETH, amount, fee, nonce }
}

pub fn withdraw(to: Address, amount: u128, fee: u128, nonce: u64) -> Transaction {
    Transaction { kind: TxKind::Withdraw, to, token: ETH, amount, fee, nonce }
}

/// The signed-fields JSON form of a transaction.
pub fn tx_json(domain: &Domain, t: &Transaction, key: &SecretKey) -> Value {
    let record = domain.sign(t, key);
    let sig = &record.0[81..146];
    json!({
        "kind": if t.kind == TxKind::Transfer { "transfer" } else { "withdraw" },
        "to": t.to,
        "token": t.token,
        "amount": t.amount.to_string(),
        "fee": t.fee.to_string(),
        "nonce": t.nonce,
        "signature": alloy::hex::encode_prefixed(sig),
    })
}

pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
}

impl Api {
    pub fn new(addr: std::net::SocketAddr) -> Self {
        Self { base: format!("http://{addr}"), http: reqwest::Client::new() }
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let r =
            self.http.post(format!("{}{path}", self.base)).json(body).send().await.expect("http");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post_raw(&self, path: &str, body: Vec<u8>) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("http");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.http.get(format!("{}{path}", self.base)).send().await.expect("http");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn balance(&self, who: Address) -> U256 {
        let (_, v) = self.get(&format!("/v1/accounts/{who}")).await;
        v["balances"][ETH.to_checksum(None)].as_str().expect("balance").parse().expect("decimal")
    }

    pub async fn nonce(&self, who: Address) -> u64 {
        let (_, v) = self.get(&format!("/v1/accounts/{who}")).await;
        v["nonce"].as_str().expect("nonce").parse().expect("decimal")
    }

    /// Poll `f` until it returns `Some`, for at most `secs` seconds of wall time (the services
    /// poll L1 every 100 ms; this waits for them, it does not skip L1 time).
    pub async fn eventually<T, F, Fut>(&self, secs: u64, mut f: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(v) = f().await {
                return v;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "condition not reached within {secs} s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
