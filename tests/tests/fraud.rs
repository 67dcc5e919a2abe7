//! A dishonest sequencer is caught: the real `keel-sequencer` binary, with fault injection, posts
//! a batch with a wrong root; the real `keel-verifier` binary, deriving everything from L1,
//! challenges it and wins the dissection game by a one-step proof; the batch is removed, the
//! sequencer's stake is slashed, and after it stakes again it re-posts the batch honestly and
//! the chain goes on with the verifier agreeing.
//!
//! The binaries are built by `cargo test --workspace` / `cargo nextest run --workspace`.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use alloy::{
    primitives::{Address, B256, U256},
    signers::local::PrivateKeySigner,
};
use keel_core::tx::{Domain, SecretKey, Transaction, TxKind};
use keel_l1::{
    client::connect_http, deploy, devnode::spawn_anvil, GameStatus, L1Client, RollupParams,
};
use keel_store::PgCluster;
use serde_json::{json, Value};

struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn binary(name: &str) -> PathBuf {
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

async fn until<T, F, Fut>(what: &str, secs: u64, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not reached within {secs} s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn get(http: &reqwest::Client, url: String) -> Option<Value> {
    http.get(url).send().await.ok()?.json().await.ok()
}

#[tokio::test]
async fn a_wrong_root_from_the_sequencer_binary_is_caught_by_the_verifier_binary() {
    let pg = PgCluster::start_temp().await.expect("postgres");
    let seq_db = pg.create_database("sequencer").await.expect("db");
    let ver_db = pg.create_database("verifier").await.expect("db");
    let anvil = spawn_anvil(&[]).expect("anvil");
    let signer = |i: usize| {
        PrivateKeySigner::from_bytes(&B256::from_slice(&anvil.keys()[i].to_bytes())).expect("key")
    };
    let (seq_key, user_key, ver_key) = (signer(0), signer(1), signer(2));
    let provider = connect_http(&anvil.endpoint(), seq_key.clone()).expect("url");
    let params = RollupParams::devnet(1_000_001, seq_key.address(), Address::repeat_byte(0xFE));
    let deployment = deploy(&provider, &params).await.expect("deploy");
    let sequencer_l1 = L1Client::new(provider, seq_key.address(), deployment.clone());
    sequencer_l1.stake(params.required_stake_wei).await.expect("stake");
    let dir = tempfile::tempdir().expect("tmp");
    let deployment_path = dir.path().join("deployment.json");
    deployment.save(&deployment_path).expect("save");

    let (seq_port, ver_port) = (free_port(), free_port());
    let common = |cmd: &mut Command| {
        cmd.env("KEEL_L1_RPC", anvil.endpoint())
            .env("KEEL_DEPLOYMENT", &deployment_path)
            .env("KEEL_CONFIRMATIONS", "0")
            .env("KEEL_L1_POLL_MS", "100")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
    };
    let mut cmd = Command::new(binary("keel-sequencer"));
    common(&mut cmd);
    let _sequencer = Service(
        cmd.env("DATABASE_URL", &seq_db)
            .env("KEEL_SEQUENCER_KEY", hex_key(&seq_key))
            .env("KEEL_LISTEN", format!("127.0.0.1:{seq_port}"))
            .env("KEEL_BATCH_MAX_AGE_MS", "300")
            .env("KEEL_ALLOW_FAULT_INJECTION", "yes-break-my-chain")
            .env("KEEL_FAULT_WRONG_ROOT_AT_BATCH", "1")
            .spawn()
            .expect("sequencer"),
    );
    let mut cmd = Command::new(binary("keel-verifier"));
    common(&mut cmd);
    let _verifier = Service(
        cmd.env("DATABASE_URL", &ver_db)
            .env("KEEL_VERIFIER_KEY", hex_key(&ver_key))
            .env("KEEL_LISTEN", format!("127.0.0.1:{ver_port}"))
            .spawn()
            .expect("verifier"),
    );
    let http = reqwest::Client::new();
    let seq_url = format!("http://127.0.0.1:{seq_port}");
    let ver_url = format!("http://127.0.0.1:{ver_port}");
    until("both services ready", 60, || async {
        let a = http.get(format!("{seq_url}/readyz")).send().await.ok()?.status().is_success();
        let b = http.get(format!("{ver_url}/healthz")).send().await.ok()?.status().is_success();
        (a && b).then_some(())
    })
    .await;

    // Batch 0: a deposit. Batch 1 (the faulty one): transfers.
    let user =
        L1Client::connect(&anvil.endpoint(), user_key.clone(), deployment.clone()).expect("url");
    user.deposit_eth(user.account(), U256::from(10u128.pow(18))).await.expect("deposit");
    let who = user.account();
    until("deposit credited", 30, || async {
        let v = get(&http, format!("{seq_url}/v1/accounts/{who}")).await?;
        (v["balances"]["0x0000000000000000000000000000000000000000"] != "0").then_some(())
    })
    .await;
    until("batch 0 posted", 30, || async {
        (sequencer_l1.batch_count().await.ok()? >= 1).then_some(())
    })
    .await;
    let domain = Domain::new(deployment.chain_config());
    let key = SecretKey::from_byte_array(user_key.to_bytes().0).expect("key");
    for nonce in 0..6u64 {
        let t = Transaction {
            kind: TxKind::Transfer,
            to: Address::repeat_byte(nonce as u8 + 1),
            token: Address::ZERO,
            amount: 1_000,
            fee: 1,
            nonce,
        };
        let body = json!({ "record": alloy::hex::encode_prefixed(domain.sign(&t, &key).0) });
        let r =
            http.post(format!("{seq_url}/v1/transactions")).json(&body).send().await.expect("http");
        assert!(r.status().is_success(), "{:?}", r.text().await);
    }

    // The verifier challenges batch 1 and wins; the batch is removed and the stake slashed.
    let game = until("the verifier challenges", 60, || async {
        (sequencer_l1.game_count().await.ok()? >= 1).then_some(0u64)
    })
    .await;
    let g = until("the game ends", 120, || async {
        let g = sequencer_l1.game(game).await.ok()?;
        g.is_over().then_some(g)
    })
    .await;
    assert_eq!(g.status, GameStatus::ChallengerWon);
    assert_eq!(g.batch_index, 1);
    assert_eq!(g.challenger, ver_key.address());
    assert_eq!(
        sequencer_l1.stake_of(seq_key.address()).await.expect("rpc"),
        U256::ZERO,
        "stake slashed"
    );
    let status = until("the verifier counts the win", 30, || async {
        let v = get(&http, format!("{ver_url}/v1/status")).await?;
        (v["games"]["won"] == 1).then_some(v)
    })
    .await;
    assert_eq!(status["games"]["lost"], 0);

    // The sequencer stakes again, re-posts batch 1 honestly, and the chain goes on; the
    // verifier agrees with every batch and does not challenge again.
    sequencer_l1.stake(params.required_stake_wei).await.expect("stake again");
    let t = Transaction {
        kind: TxKind::Transfer,
        to: Address::repeat_byte(0x77),
        token: Address::ZERO,
        amount: 1,
        fee: 0,
        nonce: 6,
    };
    let body = json!({ "record": alloy::hex::encode_prefixed(domain.sign(&t, &key).0) });
    assert!(http
        .post(format!("{seq_url}/v1/transactions"))
        .json(&body)
        .send()
        .await
        .expect("http")
        .status()
        .is_success());
    until("the chain goes on and the verifier agrees with all of it", 90, || async {
        let count = sequencer_l1.batch_count().await.ok()?;
        let v = get(&http, format!("{ver_url}/v1/status")).await?;
        let agreed = v["batches"]["agreedUpTo"].as_u64()?;
        (count >= 3 && agreed + 1 == count && v["firstMismatch"].is_null()).then_some(())
    })
    .await;
    assert_eq!(sequencer_l1.game_count().await.expect("rpc"), 1, "no second challenge");
    let header = sequencer_l1.batch(1).await.expect("rpc");
    assert_ne!(header.postStateRoot, g.root_hi, "batch 1 now carries the true root");
}
