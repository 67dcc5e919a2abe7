//! The README's walkthrough, run by driving the real `keel` binary: `keel devnet`, then balance,
//! deposit, transfer, withdraw, withdrawals list/show/finalize, tx, batches — as a user types them
//! (only the ports differ, through the documented environment variables).

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;

const DEV_KEY_1: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
const DEV_ADDR_1: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

struct Devnet {
    child: Child,
    l1_rpc: String,
    sequencer: String,
    verifier: String,
    deployment: String,
    /// The devnet's ERC-20 (each dev account holds some on L1).
    dev_token: String,
    _dir: tempfile::TempDir,
}

impl Drop for Devnet {
    fn drop(&mut self) {
        // SIGINT, as Ctrl-C would, so it stops its anvil and Postgres cleanly.
        let _ = Command::new("kill").arg("-INT").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

fn start_devnet() -> Devnet {
    let dir = tempfile::tempdir().expect("tempdir");
    let (l1_port, api_port, verifier_port) = (free_port(), free_port(), free_port());
    let data_dir = dir.path().join("devnet");
    let mut child = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(["devnet", "--l1-port", &l1_port.to_string(), "--api-port", &api_port.to_string()])
        .args(["--verifier-port", &verifier_port.to_string()])
        .args(["--challenge-period-secs", "30", "--data-dir"])
        .arg(&data_dir)
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("keel devnet starts");
    // The banner is printed once everything runs and the dev accounts are funded.
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut banner = String::new();
    for line in lines.by_ref() {
        let line = line.expect("banner line");
        banner.push_str(&line);
        banner.push('\n');
        if line.contains("keel withdrawals finalize") {
            break;
        }
    }
    assert!(banner.contains("Keel devnet is running"), "devnet did not start:\n{banner}");
    assert!(banner.contains(DEV_KEY_1), "the banner lists the dev keys:\n{banner}");
    std::thread::spawn(move || for _ in lines {});
    Devnet {
        child,
        l1_rpc: format!("http://127.0.0.1:{l1_port}"),
        sequencer: format!("http://127.0.0.1:{api_port}"),
        verifier: format!("http://127.0.0.1:{verifier_port}"),
        deployment: data_dir.join("deployment.json").display().to_string(),
        dev_token: banner
            .lines()
            .find_map(|l| l.trim().strip_prefix("DevToken (ERC-20)"))
            .and_then(|rest| rest.split_whitespace().next())
            .expect("the banner names the dev token")
            .to_string(),
        _dir: dir,
    }
}

fn keel(net: &Devnet, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(args)
        .env("KEEL_PRIVATE_KEY", DEV_KEY_1)
        .env("KEEL_SEQUENCER", &net.sequencer)
        .env("KEEL_L1_RPC", &net.l1_rpc)
        .env("KEEL_DEPLOYMENT", &net.deployment)
        .env("KEEL_HOME", net._dir.path().join("home"))
        .output()
        .expect("keel runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn keel_json(net: &Devnet, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let (ok, out, err) = keel(net, &all);
    assert!(ok, "keel {args:?} failed: {err}");
    serde_json::from_str(out.trim()).expect("json output")
}

fn rpc(net: &Devnet, method: &str, params: Value) -> Value {
    let body = serde_json::json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
    reqwest::blocking::Client::new()
        .post(&net.l1_rpc)
        .json(&body)
        .send()
        .expect("rpc")
        .json()
        .expect("rpc answer")
}

fn eth_balance(net: &Devnet, who: &str) -> u128 {
    let v = rpc(net, "eth_getBalance", serde_json::json!([who, "latest"]));
    u128::from_str_radix(v["result"].as_str().expect("hex").trim_start_matches("0x"), 16)
        .expect("balance")
}

fn until<T>(secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "not reached in {secs} s");
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn l2_balance(net: &Devnet) -> u128 {
    let v = keel_json(net, &["balance"]);
    v["balances"]["0x0000000000000000000000000000000000000000"]
        .as_str()
        .expect("balance")
        .parse()
        .expect("decimal")
}

#[test]
fn the_readme_walkthrough_works() {
    let net = start_devnet();
    let eth = 10u128.pow(18);

    // keel balance: 100 ETH from the devnet's deposit.
    let (ok, out, err) = keel(&net, &["balance"]);
    assert!(ok, "{err}");
    assert!(out.contains("100 ETH"), "{out}");

    // keel deposit --amount 5eth: credited on L2 within seconds.
    let (ok, out, err) = keel(&net, &["deposit", "--amount", "5eth"]);
    assert!(ok && out.contains("deposited 5 ETH"), "{out}{err}");
    until(30, || (l2_balance(&net) == 105 * eth).then_some(()));

    // keel deposit --token: an ERC-20 deposit (the CLI approves the Bridge for it first).
    let (ok, out, err) = keel(&net, &["deposit", "--amount", "1000", "--token", &net.dev_token]);
    assert!(ok && out.contains("deposited 1000 units"), "{out}{err}");
    until(30, || {
        let v = keel_json(&net, &["balance", "--token", &net.dev_token]);
        let units = v["balances"].as_object()?.values().next()?.as_str()?.to_string();
        (units == "1000").then_some(())
    });

    // keel transfer / withdraw.
    let t = keel_json(
        &net,
        &["transfer", "--to", "0x000000000000000000000000000000000000b0b0", "--amount", "1.5eth"],
    );
    assert_eq!(t["status"], "sequenced");
    let w = keel_json(&net, &["withdraw", "--amount", "2eth"]);
    assert_eq!(w["status"], "sequenced");
    assert_eq!(l2_balance(&net), 105 * eth - 1_500_000_000_000_000_000 - 2 * eth);

    // Bad input gets an error that says what to fix, and a failing exit code.
    let (ok, _, err) = keel(
        &net,
        &["transfer", "--to", "0x000000000000000000000000000000000000b0b0", "--amount", "1000eth"],
    );
    assert!(!ok && err.contains("insufficient_balance") && err.contains("available"), "{err}");
    let (ok, _, err) = keel(
        &net,
        &["transfer", "--to", "0x000000000000000000000000000000000000b0b0", "--amount", "1.5"],
    );
    assert!(!ok && err.contains("eth"), "{err}");

    // Not final yet: finalize says when it will be.
    let hash = w["hash"].as_str().expect("hash").to_string();
    until(30, || (keel_json(&net, &["tx", &hash])["status"] == "posted").then_some(()));
    let (ok, out, err) = keel(&net, &["withdrawals", "list"]);
    assert!(ok && out.contains("#0") && out.contains("posted: final after"), "{out}{err}");
    let (ok, _, err) = keel(&net, &["withdrawals", "finalize", "--index", "0"]);
    assert!(!ok && err.contains("not final yet"), "{err}");

    // Skip L1 time past the challenge period (no sleeping through it), then finalize.
    rpc(&net, "evm_increaseTime", serde_json::json!([31]));
    rpc(&net, "evm_mine", serde_json::json!([]));
    until(60, || (keel_json(&net, &["tx", &hash])["status"] == "final").then_some(()));
    let show = keel_json(&net, &["withdrawals", "show", "--index", "0"]);
    assert_eq!(show["batchStatus"], "final");
    // The devnet's verifier, from L1 data alone, serves the same proof.
    let from_verifier = until(60, || {
        let (ok, out, _) = keel(
            &net,
            &["--json", "withdrawals", "show", "--index", "0", "--verifier", &net.verifier],
        );
        ok.then(|| serde_json::from_str::<Value>(out.trim()).expect("json"))
    });
    assert_eq!(from_verifier["siblings"], show["siblings"]);
    assert_eq!(from_verifier["stateRoot"], show["stateRoot"]);
    let before = eth_balance(&net, DEV_ADDR_1);
    let (ok, out, err) = keel(&net, &["withdrawals", "finalize", "--index", "0"]);
    assert!(ok && out.contains("paid"), "{out}{err}");
    let after = eth_balance(&net, DEV_ADDR_1);
    // Paid 2 ETH, minus the gas of the finalize transaction.
    assert!(after > before + 2 * eth - eth / 100 && after < before + 2 * eth, "{before} → {after}");
    let (ok, _, err) = keel(&net, &["withdrawals", "finalize", "--index", "0"]);
    assert!(!ok && err.contains("already been paid"), "{err}");
    let (ok, out, err) = keel(&net, &["withdrawals", "list"]);
    assert!(ok && out.contains("#0") && out.contains("paid on L1"), "{out}{err}");

    let (ok, out, _) = keel(&net, &["batches"]);
    assert!(ok && out.contains("final"), "{out}");

    // Keys: created with mode 0600 and usable by name.
    let (ok, out, err) = keel(&net, &["keys", "new", "alice"]);
    assert!(ok, "{err}");
    assert!(out.contains("0600"), "{out}");
    let (ok, out, _) = keel(&net, &["keys", "list"]);
    assert!(ok && out.contains("alice"), "{out}");
}
