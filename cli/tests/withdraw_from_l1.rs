//! The escape path, driving the real `keel` binary: deposit, withdraw, wait until the batch is
//! on L1, then **stop the sequencer** (no verifier runs either) and finalize the withdrawal with
//! `keel withdrawals finalize --from-l1`, which rebuilds the rollup from L1 data alone, finalizes
//! the batch on L1 itself (nobody else does any more) and is paid. Also `keel withdrawals list`
//! from both sources, and the errors a user meets on the way. L1 time is skipped with anvil's
//! `evm_increaseTime`/`evm_mine`, never slept through.

use std::time::{Duration, Instant};

use alloy::{
    primitives::{Address, B256, U256},
    providers::{ext::AnvilApi, Provider},
    signers::local::PrivateKeySigner,
};
use keel_l1::{client::connect_http, deploy, devnode::spawn_anvil, L1Client, RollupParams};
use keel_sequencer::{node, pipeline::BatchPolicy};
use serde_json::Value;

const ETH: u128 = 1_000_000_000_000_000_000;

struct Env {
    dir: tempfile::TempDir,
    key: String,
    l1_rpc: String,
    sequencer: String,
    deployment: String,
}

impl Env {
    async fn keel(&self, args: &[&str]) -> (bool, String, String) {
        self.keel_with(args, &[]).await
    }

    async fn keel_with(&self, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_keel"))
            .args(args)
            .env("KEEL_PRIVATE_KEY", &self.key)
            .env("KEEL_SEQUENCER", &self.sequencer)
            .env("KEEL_L1_RPC", &self.l1_rpc)
            .env("KEEL_DEPLOYMENT", &self.deployment)
            .env("KEEL_HOME", self.dir.path().join("home"))
            .envs(env.iter().copied())
            .output()
            .await
            .expect("keel runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into(),
            String::from_utf8_lossy(&out.stderr).into(),
        )
    }

    async fn keel_json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let (ok, out, err) = self.keel(&all).await;
        assert!(ok, "keel {args:?} failed: {err}");
        serde_json::from_str(out.trim()).expect("json output")
    }
}

fn signer_of(anvil: &alloy::node_bindings::AnvilInstance, i: usize) -> PrivateKeySigner {
    PrivateKeySigner::from_bytes(&B256::from_slice(&anvil.keys()[i].to_bytes())).expect("key")
}

/// Poll `f` (wall time, for the services to act) for at most `secs` seconds.
async fn until<T, Fut: std::future::Future<Output = Option<T>>>(
    secs: u64,
    mut f: impl FnMut() -> Fut,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "not reached in {secs} s");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withdrawal_is_finalized_from_l1_data_alone_with_the_sequencer_stopped() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
    let dir = tempfile::tempdir().expect("tempdir");
    let anvil = spawn_anvil(&[]).expect("anvil starts");
    let sequencer_key = signer_of(&anvil, 0);
    let user = signer_of(&anvil, 1);
    let params =
        RollupParams::devnet(1_000_001, sequencer_key.address(), signer_of(&anvil, 9).address());
    let provider = connect_http(&anvil.endpoint(), sequencer_key.clone()).expect("url");
    let deployment = deploy(&provider, &params).await.expect("deploys");
    L1Client::new(provider.clone(), sequencer_key.address(), deployment.clone())
        .stake(params.required_stake_wei)
        .await
        .expect("stakes");
    let deployment_path = dir.path().join("deployment.json");
    deployment.save(&deployment_path).expect("deployment file");
    let sequencer = node::start(node::SequencerConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        database_url: None,
        data_dir: dir.path().join("sequencer"),
        l1_rpc: anvil.endpoint(),
        deployment: deployment_path.clone(),
        key: sequencer_key,
        batch: BatchPolicy { max_txs: 100, max_age: Duration::from_millis(300), max_group: 64 },
        queue_capacity: 1_000,
        confirmations: 0,
        l1_poll: Duration::from_millis(200),
        fees: keel_l1::client::FeePolicy::default(),
        posting_stall_after: std::time::Duration::from_secs(60),
    })
    .await
    .expect("sequencer starts");
    let env = Env {
        key: alloy::hex::encode_prefixed(user.to_bytes()),
        l1_rpc: anvil.endpoint(),
        sequencer: format!("http://{}", sequencer.addr),
        deployment: deployment_path.display().to_string(),
        dir,
    };
    let me = user.address();

    // Deposit on L1, then withdraw 2 ETH on L2.
    let (ok, out, err) = env.keel(&["deposit", "--amount", "5eth"]).await;
    assert!(ok && out.contains("deposited 5 ETH"), "{out}{err}");
    until(30, || async {
        let v = env.keel_json(&["balance"]).await;
        (v["balances"][Address::ZERO.to_checksum(None)] == (5 * ETH).to_string()).then_some(())
    })
    .await;
    let w = env.keel_json(&["withdraw", "--amount", "2eth"]).await;
    assert_eq!(w["status"], "sequenced");
    let hash = w["hash"].as_str().expect("hash").to_string();
    until(30, || async {
        (env.keel_json(&["tx", &hash]).await["status"] == "posted").then_some(())
    })
    .await;

    // `withdrawals list` from the sequencer: the user's withdrawal, posted.
    let list = env.keel_json(&["withdrawals", "list"]).await;
    assert_eq!(list["source"], "sequencer");
    let rows = list["withdrawals"].as_array().expect("rows");
    assert_eq!(rows.len(), 1, "{list}");
    assert_eq!((rows[0]["index"].as_u64(), rows[0]["state"].as_str()), (Some(0), Some("posted")));
    assert_eq!(rows[0]["amount"], (2 * ETH).to_string());
    let other = Address::repeat_byte(0x77).to_string();
    let (ok, out, _) = env.keel(&["withdrawals", "list", "--account", &other]).await;
    assert!(ok && out.contains("no withdrawals to"), "{out}");

    // The sequencer goes away; no verifier runs. Nobody will finalize the batch on L1 either.
    sequencer.shutdown().await;
    let (ok, _, err) = env.keel(&["withdrawals", "finalize", "0"]).await;
    assert!(!ok && err.contains("cannot reach") && err.contains("--sequencer"), "{err}");

    // From L1 alone, still in the challenge period: refused, saying when it ends.
    let (ok, _, err) = env.keel(&["withdrawals", "finalize", "0", "--from-l1"]).await;
    assert!(!ok && err.contains("not final yet") && err.contains(" s)"), "{err}");
    let list = env.keel_json(&["withdrawals", "list", "--from-l1"]).await;
    assert_eq!(list["source"], "l1");
    assert_eq!(list["withdrawals"][0]["state"], "posted", "{list}");
    assert!(list["withdrawals"][0]["finalAt"].as_u64().is_some(), "{list}");

    // Errors that say what to fix: no L1, and a deployment file for another chain.
    let (ok, _, err) = env
        .keel_with(
            &["withdrawals", "finalize", "0", "--from-l1"],
            &[("KEEL_L1_RPC", "http://127.0.0.1:9")],
        )
        .await;
    assert!(!ok && err.contains("cannot reach L1") && err.contains("--l1-rpc"), "{err}");
    let mut other_chain = deployment.clone();
    other_chain.l1_chain_id += 1;
    let other_path = env.dir.path().join("other-chain.json");
    other_chain.save(&other_path).expect("file");
    let (ok, _, err) = env
        .keel_with(
            &["withdrawals", "finalize", "0", "--from-l1"],
            &[("KEEL_DEPLOYMENT", other_path.to_str().expect("utf-8"))],
        )
        .await;
    assert!(!ok && err.contains("wrong chain"), "{err}");

    // Skip L1 time past the challenge period; the batch is not final (its sequencer is gone).
    let p = anvil_provider(&env.l1_rpc);
    p.anvil_increase_time(params.challenge_period_secs + 1).await.expect("anvil");
    p.evm_mine(None).await.expect("anvil");
    let before = p.get_balance(me).await.expect("rpc");
    let (ok, out, err) = env.keel(&["withdrawals", "finalize", "0", "--from-l1"]).await;
    assert!(ok && out.contains("paid: 2 ETH") && out.contains("L1 data alone"), "{out}{err}");
    assert!(out.contains("finalized on L1 first"), "the CLI finalized the batch itself: {out}");
    let after = p.get_balance(me).await.expect("rpc");
    // Paid 2 ETH, less the gas of finalizeBatches and finalizeWithdrawal.
    let (two, cent) = (U256::from(2 * ETH), U256::from(ETH / 100));
    assert!(after > before + two - cent && after < before + two, "{before} → {after}");

    let (ok, _, err) = env.keel(&["withdrawals", "finalize", "0", "--from-l1"]).await;
    assert!(!ok && err.contains("already been paid"), "{err}");
    let list = env.keel_json(&["withdrawals", "list", "--from-l1"]).await;
    assert_eq!(list["withdrawals"][0]["state"], "paid", "{list}");
    let (ok, out, _) = env.keel(&["withdrawals", "list", "--from-l1"]).await;
    assert!(ok && out.contains("#0") && out.contains("paid on L1"), "{out}");
    drop(anvil);
}

fn anvil_provider(url: &str) -> impl Provider + AnvilApi<alloy::network::Ethereum> {
    alloy::providers::ProviderBuilder::new().connect_http(url.parse().expect("url"))
}
