//! Liveness against real Postgres, a real anvil and the real contracts: no input stalls the
//! chain. Rejected transactions leave the batch structure alone, inbox entries reach L1 with or
//! without L2 traffic, and a poster that cannot post is visible in `/readyz`, `/v1/status` and
//! the metrics.

mod common;

use std::time::Duration;

use alloy::{
    primitives::{Address, U256},
    providers::{ext::AnvilApi, Provider},
};
use common::{l2_key, transfer, tx_json, Api, Net, ETH};
use keel_core::tx::SecretKey;
use serde_json::Value;

const ETHER: u128 = 1_000_000_000_000_000_000;

/// Wait until L1's batches have consumed inbox entry `index`, and return the L1 timestamp of
/// the block the consuming batch landed in.
async fn consumed_on_l1(net: &Net, api: &Api, index: u64) -> u64 {
    api.eventually(20, || async {
        (net.sequencer_l1.next_inbox_start().await.ok()? > index).then_some(())
    })
    .await;
    let count = net.sequencer_l1.batch_count().await.expect("rpc");
    for i in 0..count {
        let b = net.sequencer_l1.batch(i).await.expect("rpc");
        if b.inboxStart <= index && index < b.inboxEnd {
            return b.timestamp;
        }
    }
    panic!("no batch on L1 consumes inbox entry {index}");
}

async fn metric(api: &Api, name: &str) -> f64 {
    let text = api
        .http
        .get(format!("{}/metrics", api.base))
        .send()
        .await
        .expect("http")
        .text()
        .await
        .expect("text");
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("metric {name} missing"))
}

/// The stall found on a quiet devnet: a rejected transaction, then a deposit and a forced
/// withdrawal with no other L2 traffic. Each entry reaches L1 within a few batch ages, long
/// before its force-inclusion deadline.
#[tokio::test]
async fn a_rejected_transaction_on_an_idle_chain_stalls_no_inbox_entry() {
    let net = Net::start().await;
    let seq = net.sequencer().await;
    let api = Api::new(seq.addr);
    let d = net.domain();
    let key = l2_key(&net.anvil, 1);
    let alice = net.user(1).account();

    let (status, body) = api
        .post(
            "/v1/transactions",
            &tx_json(&d, &transfer(Address::repeat_byte(0xB0), ETHER, 0, 0), &key),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("insufficient_balance")),
        "{body}"
    );
    let (_, batches) = api.get("/v1/batches").await;
    assert_eq!(batches["batches"].as_array().map(Vec::len), Some(0), "no batch opened: {batches}");

    let deposit = net.user(1).deposit_eth(alice, U256::from(ETHER)).await.expect("deposit");
    let delay = net.deployment.params.force_inclusion_delay_secs;
    let entry_time = net.sequencer_l1.inbox_entry_timestamp(deposit).await.expect("rpc");
    let landed = consumed_on_l1(&net, &api, deposit).await;
    assert!(landed < entry_time + delay, "the deposit reached L1 before its deadline");
    assert_eq!(api.balance(alice).await, U256::from(ETHER));

    // A forced withdrawal with no L2 traffic at all.
    let forced = net.user(1).force_withdraw(ETH, ETHER / 4).await.expect("force withdraw");
    let entry_time = net.sequencer_l1.inbox_entry_timestamp(forced).await.expect("rpc");
    let landed = consumed_on_l1(&net, &api, forced).await;
    assert!(landed < entry_time + delay, "the forced withdrawal reached L1 before its deadline");
    assert_eq!(api.balance(alice).await, U256::from(ETHER - ETHER / 4));
    let (status, w) = api.get("/v1/withdrawals/0").await;
    assert_eq!(status, 200, "{w}");
    seq.shutdown().await;
}

/// Fifty rejected transactions of every kind that reaches the executor, interleaved with
/// deposits, a forced withdrawal and valid transfers: every inbox entry reaches L1, every valid
/// transfer is posted, and nothing is left open without a step.
#[tokio::test]
async fn fifty_rejections_of_every_kind_interleaved_with_inbox_entries_stall_nothing() {
    let net = Net::start().await;
    let seq = net.sequencer().await;
    let api = Api::new(seq.addr);
    let d = net.domain();
    let key = l2_key(&net.anvil, 1);
    let alice = net.user(1).account();
    let bob = Address::repeat_byte(0xB0);
    let first = net.user(1).deposit_eth(alice, U256::from(ETHER)).await.expect("deposit");
    consumed_on_l1(&net, &api, first).await;

    let fresh = SecretKey::from_byte_array([0x42; 32]).expect("key");
    let mut nonce = 0u64;
    let mut last_valid: Option<Value> = None;
    let mut entries = vec![];
    for i in 0..50u64 {
        let (body, want) = match i % 5 {
            0 => (tx_json(&d, &transfer(bob, 1, 0, nonce + 7), &key), "wrong_nonce"),
            1 => (tx_json(&d, &transfer(bob, 10 * ETHER, 0, nonce), &key), "insufficient_balance"),
            2 => (tx_json(&d, &transfer(bob, 1, 0, 0), &fresh), "insufficient_balance"),
            3 => {
                // A signature over another amount: it recovers some other, empty account.
                let mut t = tx_json(&d, &transfer(bob, 2, 0, nonce), &key);
                t["amount"] = Value::String("3".into());
                (t, "")
            }
            _ => match &last_valid {
                Some(v) => (v.clone(), "duplicate_transaction"),
                None => (tx_json(&d, &transfer(bob, 1, 0, nonce + 1), &key), "wrong_nonce"),
            },
        };
        let (status, answer) = api.post("/v1/transactions", &body).await;
        assert!((400..500).contains(&status), "rejection {i} answered {status}: {answer}");
        if !want.is_empty() {
            assert_eq!(answer["error"]["code"].as_str(), Some(want), "rejection {i}: {answer}");
        }
        if i % 7 == 3 {
            let valid = tx_json(&d, &transfer(bob, 1_000, 0, nonce), &key);
            let (status, answer) = api.post("/v1/transactions", &valid).await;
            assert_eq!(status, 200, "{answer}");
            nonce += 1;
            last_valid = Some(valid);
        }
        if i == 10 || i == 25 {
            entries.push(net.user(2).deposit_eth(alice, U256::from(ETHER)).await.expect("deposit"));
        }
        if i == 40 {
            entries.push(net.user(1).force_withdraw(ETH, ETHER / 2).await.expect("forced"));
        }
    }
    for e in entries {
        consumed_on_l1(&net, &api, e).await;
    }
    // Every acknowledged transfer reaches L1 and nothing waits unposted.
    api.eventually(20, || async {
        (api.nonce(alice).await == nonce && metric(&api, "keel_unposted_batches").await == 0.0)
            .then_some(())
    })
    .await;
    assert_eq!(api.balance(bob).await, U256::from(1_000 * nonce));
    assert_eq!(net.sequencer_l1.next_inbox_start().await.expect("rpc"), 4);
    let (status, _) = api.get("/readyz").await;
    assert_eq!(status, 200);
    seq.shutdown().await;
}

/// A poster that cannot post (its L1 account has no ETH left) is seen: the unposted batches
/// and their age in the metrics, `/readyz` not ready after the configured time, the L1 error
/// in `/v1/status`. With ETH again it posts what waited and is ready again.
#[tokio::test]
async fn a_stalled_poster_is_visible_and_recovers() {
    let net = Net::start().await;
    let mut cfg = net.config();
    cfg.posting_stall_after = Duration::from_secs(1);
    let seq = keel_sequencer::node::start(cfg).await.expect("starts");
    let api = Api::new(seq.addr);
    let d = net.domain();
    let key = l2_key(&net.anvil, 1);
    let alice = net.user(1).account();
    let first = net.user(1).deposit_eth(alice, U256::from(ETHER)).await.expect("deposit");
    consumed_on_l1(&net, &api, first).await;

    let provider = net.sequencer_l1.provider();
    let sequencer = net.sequencer_key.address();
    let funds = provider.get_balance(sequencer).await.expect("rpc");
    provider.anvil_set_balance(sequencer, U256::ZERO).await.expect("anvil");
    let (status, answer) = api
        .post(
            "/v1/transactions",
            &tx_json(&d, &transfer(Address::repeat_byte(0xB0), 5, 0, 0), &key),
        )
        .await;
    assert_eq!(status, 200, "{answer}");

    let (_, v) = api
        .eventually(20, || async {
            let (s, v) = api.get("/readyz").await;
            (s == 503).then_some((s, v))
        })
        .await;
    assert_eq!(v["error"]["code"], "posting_stalled", "{v}");
    assert!(metric(&api, "keel_unposted_batches").await >= 1.0);
    assert!(metric(&api, "keel_oldest_unposted_batch_age_seconds").await > 0.0);
    assert!(metric(&api, "keel_posting_failing_seconds").await >= 0.0);
    let (_, status_v) = api.get("/v1/status").await;
    assert!(status_v["l1"]["error"].is_string(), "{status_v}");
    assert!(status_v["posting"]["lastError"].is_string(), "{status_v}");

    provider.anvil_set_balance(sequencer, funds).await.expect("anvil");
    api.eventually(30, || async {
        let (s, _) = api.get("/readyz").await;
        (s == 200 && metric(&api, "keel_unposted_batches").await == 0.0).then_some(())
    })
    .await;
    assert_eq!(metric(&api, "keel_l1_batch_mismatch").await, 0.0);
    assert!(metric(&api, "keel_l1_fees_paid_eth").await > 0.0);
    seq.shutdown().await;
}
