//! The sequencer end to end against real Postgres, a real anvil and the real contracts.

mod common;

use alloy::primitives::{Address, U256};
use common::{transfer, tx_json, withdraw, Api, Net, ETH};
use keel_core::{
    dissection::first_disputed_segment,
    state::{step_roots, BatchSteps, MemoryState},
    txroot::TxTree,
    witness::prove_batch_step,
};
use keel_l1::GameStatus;
use serde_json::{json, Value};

const ETHER: u128 = 1_000_000_000_000_000_000;

/// Deposit on L1, wait until the sequencer credits it on L2.
async fn fund(net: &Net, api: &Api, i: usize, amount: u128) -> Address {
    let user = net.user(i);
    let who = user.account();
    let before = api.balance(who).await;
    user.deposit_eth(who, U256::from(amount)).await.expect("deposit");
    api.eventually(20, || async {
        (api.balance(who).await == before + U256::from(amount)).then_some(())
    })
    .await;
    who
}

#[tokio::test]
async fn deposit_transfer_withdraw_batch_posted_final_and_paid() {
    let net = Net::start().await;
    let seq = net.sequencer().await;
    let api = Api::new(seq.addr);
    let alice = fund(&net, &api, 1, ETHER).await;
    let key = common::l2_key(&net.anvil, 1);
    let d = net.domain();
    let bob = Address::repeat_byte(0xB0);
    let l1_recipient = Address::repeat_byte(0x1E);

    let (status, t1) =
        api.post("/v1/transactions", &tx_json(&d, &transfer(bob, 1_000, 10, 0), &key)).await;
    assert_eq!(status, 200, "{t1}");
    assert_eq!(t1["status"], "sequenced");
    let (status, t2) = api
        .post("/v1/transactions", &tx_json(&d, &withdraw(l1_recipient, 5_000, 10, 1), &key))
        .await;
    assert_eq!(status, 200, "{t2}");
    assert_eq!(api.balance(bob).await, U256::from(1_000));
    assert_eq!(api.balance(alice).await, U256::from(ETHER - 1_000 - 5_000 - 20));
    assert_eq!(api.nonce(alice).await, 2);

    // The batch closes, is posted to L1 and its records are what was acknowledged.
    let hash = t2["hash"].as_str().expect("hash").to_string();
    let posted = api
        .eventually(30, || async {
            let (_, v) = api.get(&format!("/v1/transactions/{hash}")).await;
            (v["status"] == "posted").then_some(v)
        })
        .await;
    let batch = posted["batch"].as_u64().expect("batch");
    let head = net.sequencer_l1.head().await.expect("rpc");
    let events =
        net.sequencer_l1.rollup_events(net.deployment.start_block, head).await.expect("events");
    let on_l1: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            keel_l1::client::RollupEvent::Appended(b) => Some(b),
            _ => None,
        })
        .collect();
    let records: Vec<String> =
        on_l1.iter().flat_map(|b| b.records.iter().map(|r| format!("{}", r.hash()))).collect();
    assert!(records.contains(&t1["hash"].as_str().expect("hash").to_string()));
    assert!(records.contains(&hash));

    // After the challenge period the poster finalizes; the withdrawal is then paid on L1 with
    // the proof the API serves.
    net.skip_time(net.deployment.params.challenge_period_secs + 1).await;
    api.eventually(30, || async {
        let (_, v) = api.get(&format!("/v1/transactions/{hash}")).await;
        (v["status"] == "final").then_some(())
    })
    .await;
    let (status, w) = api.get("/v1/withdrawals/0").await;
    assert_eq!(status, 200, "{w}");
    assert_eq!(w["batch"].as_u64(), Some(batch));
    assert_eq!(w["batchStatus"], "final");
    let siblings = w["siblings"]
        .as_array()
        .expect("siblings")
        .iter()
        .map(|s| s.as_str().expect("hex").parse().expect("b256"))
        .collect();
    let before = net.sequencer_l1.provider().get_balance(l1_recipient).await.expect("rpc");
    net.user(3)
        .finalize_withdrawal(batch, 0, l1_recipient, ETH, 5_000, siblings)
        .await
        .expect("paid");
    let after = net.sequencer_l1.provider().get_balance(l1_recipient).await.expect("rpc");
    assert_eq!(after - before, U256::from(5_000));
    seq.shutdown().await;
}

use alloy::providers::Provider as _;

/// Every class of bad input gets its own code and changes neither balances nor nonces.
#[tokio::test]
async fn bad_inputs_get_their_codes_and_change_nothing() {
    let net = Net::start().await;
    let seq = net.sequencer().await;
    let api = Api::new(seq.addr);
    let alice = fund(&net, &api, 1, 1_000_000).await;
    let key = common::l2_key(&net.anvil, 1);
    let d = net.domain();
    let bob = Address::repeat_byte(0xB0);
    let good = tx_json(&d, &transfer(bob, 100, 1, 0), &key);

    let mut high_s = good.clone();
    {
        let sig = alloy::hex::decode(high_s["signature"].as_str().expect("sig")).expect("hex");
        let s = U256::from_be_slice(&sig[32..64]);
        let flipped = keel_core::tx::SECP256K1_N - s;
        let mut new_sig = sig.clone();
        new_sig[32..64].copy_from_slice(&flipped.to_be_bytes::<32>());
        new_sig[64] ^= 27 ^ 28;
        high_s["signature"] = json!(alloy::hex::encode_prefixed(new_sig));
    }
    let with = |k: &str, v: Value| {
        let mut t = good.clone();
        t[k] = v;
        t
    };
    let cases: Vec<(&str, Value, u16, &str)> = vec![
        ("unknown kind", with("kind", json!("mint")), 400, "unknown_kind"),
        ("bad hex", with("to", json!("0xZZ")), 400, "invalid_hex"),
        ("short address", with("to", json!("0x1234")), 400, "invalid_address"),
        (
            "amount overflow",
            with("amount", json!("340282366920938463463374607431768211456")),
            400,
            "amount_overflow",
        ),
        ("negative amount", with("amount", json!("-1")), 400, "invalid_amount"),
        (
            "missing fee",
            {
                let mut t = good.clone();
                t.as_object_mut().expect("object").remove("fee");
                t
            },
            400,
            "missing_field",
        ),
        ("high s", high_s, 400, "high_s_signature"),
        (
            "bad v",
            with(
                "signature",
                json!(format!("{}1d", &good["signature"].as_str().expect("sig")[..130])),
            ),
            400,
            "invalid_signature_v",
        ),
        ("short signature", with("signature", json!("0x1234")), 400, "invalid_signature_length"),
        ("wrong chain", with("chainId", json!(1)), 400, "wrong_chain"),
        (
            "wrong domain",
            with("verifyingContract", json!(Address::repeat_byte(7))),
            400,
            "wrong_domain",
        ),
        ("wrong nonce", tx_json(&d, &transfer(bob, 100, 1, 5), &key), 422, "wrong_nonce"),
        (
            "balance too low",
            tx_json(&d, &transfer(bob, 2_000_000, 1, 0), &key),
            422,
            "insufficient_balance",
        ),
        ("record of wrong length", json!({ "record": "0x00" }), 400, "invalid_record_length"),
        (
            "transfer to address(0)",
            tx_json(&d, &transfer(Address::ZERO, 100, 1, 0), &key),
            400,
            "zero_recipient",
        ),
        (
            "withdrawal to address(0), signed fields",
            tx_json(
                &d,
                &keel_core::Transaction {
                    kind: keel_core::TxKind::Withdraw,
                    ..transfer(Address::ZERO, 100, 1, 0)
                },
                &key,
            ),
            400,
            "zero_recipient",
        ),
        (
            "withdrawal to address(0), record",
            {
                let tx = keel_core::Transaction {
                    kind: keel_core::TxKind::Withdraw,
                    ..transfer(Address::ZERO, 100, 1, 0)
                };
                json!({ "record": alloy::hex::encode_prefixed(d.sign(&tx, &key).0) })
            },
            400,
            "zero_recipient",
        ),
        ("not an object", json!([1, 2]), 400, "invalid_transaction"),
    ];
    for (what, body, status, code) in cases {
        let (s, v) = api.post("/v1/transactions", &body).await;
        assert_eq!((s, v["error"]["code"].as_str()), (status, Some(code)), "{what}: {v}");
    }
    let (s, v) = api.post("/v1/transactions", &tx_json(&d, &transfer(bob, 100, 1, 5), &key)).await;
    assert_eq!(
        (s, v["error"]["details"]["expected"].as_str()),
        (422, Some("0")),
        "the expected nonce is named"
    );
    let (s, v) =
        api.post("/v1/transactions", &tx_json(&d, &transfer(bob, 2_000_000, 1, 0), &key)).await;
    assert_eq!(
        (s, v["error"]["details"]["available"].as_str()),
        (422, Some("1000000")),
        "the available balance is named"
    );
    let (s, v) = api.post_raw("/v1/transactions", b"{not json".to_vec()).await;
    assert_eq!((s, v["error"]["code"].as_str()), (400, Some("invalid_json")));
    let (s, v) = api.post_raw("/v1/transactions", vec![b' '; 2 << 20]).await;
    assert_eq!((s, v["error"]["code"].as_str()), (413, Some("body_too_large")));
    let list: Vec<Value> = (0..1_001).map(|_| good.clone()).collect();
    let (s, v) = api.post("/v1/transactions/list", &json!({ "transactions": list })).await;
    assert_eq!((s, v["error"]["code"].as_str()), (413, Some("too_many_transactions")));

    // Malformed paths and queries, unknown endpoints: the same error format.
    for (path, status, code) in [
        ("/v1/batches/abc", 400, "invalid_path"),
        ("/v1/batches/18446744073709551615", 404, "unknown_batch"),
        ("/v1/batches?from=-1", 400, "invalid_query"),
        ("/v1/withdrawals/x", 400, "invalid_path"),
        ("/v1/accounts/0x1234", 400, "invalid_address"),
        ("/v1/transactions/0x12", 400, "invalid_hash"),
        ("/v1/nothing-here", 404, "not_found"),
    ] {
        let (s, v) = api.get(path).await;
        assert_eq!((s, v["error"]["code"].as_str()), (status, Some(code)), "{path}: {v}");
    }
    let r = api.http.delete(format!("{}/v1/config", api.base)).send().await.expect("http");
    assert_eq!(r.status().as_u16(), 405);
    let v: Value = r.json().await.expect("json error");
    assert_eq!(v["error"]["code"], "method_not_allowed");

    // Nothing moved.
    assert_eq!(api.balance(alice).await, U256::from(1_000_000));
    assert_eq!(api.nonce(alice).await, 0);
    assert_eq!(api.balance(bob).await, U256::ZERO);

    // The good one goes through once; the same bytes again are a duplicate.
    let (s, v) = api.post("/v1/transactions", &good).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = api.post("/v1/transactions", &good).await;
    assert_eq!((s, v["error"]["code"].as_str()), (409, Some("duplicate_transaction")));
    assert_eq!(api.nonce(alice).await, 1);

    // A list: each item answered on its own.
    let list = json!({ "transactions": [
        tx_json(&d, &transfer(bob, 1, 0, 1), &key),
        tx_json(&d, &transfer(bob, 1, 0, 9), &key),
        tx_json(&d, &transfer(bob, 1, 0, 2), &key),
    ]});
    let (s, v) = api.post("/v1/transactions/list", &list).await;
    assert_eq!(s, 200, "{v}");
    let results = v["results"].as_array().expect("results");
    assert_eq!(results[0]["status"], "sequenced");
    assert_eq!(results[1]["error"]["code"], "wrong_nonce");
    assert_eq!(results[2]["status"], "sequenced");
    assert_eq!(api.nonce(alice).await, 3);
    seq.shutdown().await;
}

/// A graceful restart rebuilds exactly the same state from Postgres and goes on.
#[tokio::test]
async fn restart_rebuilds_the_same_state_and_continues() {
    let net = Net::start().await;
    let seq = net.sequencer().await;
    let api = Api::new(seq.addr);
    let alice = fund(&net, &api, 1, 1_000_000).await;
    let key = common::l2_key(&net.anvil, 1);
    let d = net.domain();
    let mut hashes = Vec::new();
    for n in 0..25u64 {
        let (s, v) = api
            .post(
                "/v1/transactions",
                &tx_json(&d, &transfer(Address::repeat_byte(n as u8 + 1), 7, 1, n), &key),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        hashes
            .push((v["hash"].as_str().expect("hash").to_string(), v["seq"].as_u64().expect("seq")));
    }
    let balance = api.balance(alice).await;
    seq.shutdown().await;

    let seq = net.sequencer().await;
    let api = Api::new(seq.addr);
    assert_eq!(api.balance(alice).await, balance);
    assert_eq!(api.nonce(alice).await, 25);
    for (hash, number) in &hashes {
        let (s, v) = api.get(&format!("/v1/transactions/{hash}")).await;
        assert_eq!((s, v["seq"].as_u64()), (200, Some(*number)), "{v}");
    }
    let (s, v) = api
        .post(
            "/v1/transactions",
            &tx_json(&d, &transfer(Address::repeat_byte(0xEE), 7, 1, 25), &key),
        )
        .await;
    assert_eq!((s, v["seq"].as_u64()), (200, Some(25)), "{v}");
    // The inbox watcher resumes where it stopped: a new deposit is credited exactly once, and
    // the old one is not credited again.
    let before = api.balance(alice).await;
    fund(&net, &api, 1, 500).await;
    assert_eq!(api.balance(alice).await, before + U256::from(500));
    seq.shutdown().await;
}

/// A challenger disputes an honest batch; the defender answers every move with the true roots,
/// and the challenger's one-step proof confirms the asserter's root.
#[tokio::test]
async fn the_defender_answers_a_game_and_wins_it() {
    let net = Net::start().await;
    let seq = net.sequencer().await;
    let api = Api::new(seq.addr);
    let alice = fund(&net, &api, 1, 1_000_000).await;
    let key = common::l2_key(&net.anvil, 1);
    let d = net.domain();
    for n in 0..12u64 {
        let (s, v) = api
            .post(
                "/v1/transactions",
                &tx_json(&d, &transfer(Address::repeat_byte(n as u8 + 1), 3, 1, n), &key),
            )
            .await;
        assert_eq!(s, 200, "{v}");
    }
    // Wait until every batch with transactions is on L1.
    api.eventually(30, || async {
        let (_, v) = api.get("/v1/batches?from=0&limit=100").await;
        let all = v["batches"].as_array()?.clone();
        let posted = all.iter().filter(|b| b["state"] == "posted").count();
        let closed = all.iter().filter(|b| b["state"] == "closed").count();
        (posted > 0 && closed == 0 && api.nonce(alice).await == 12).then_some(())
    })
    .await;
    let l1 = net.user(2);
    let count = l1.batch_count().await.expect("rpc");
    let target = count - 1;
    let head = l1.head().await.expect("rpc");
    let posted = l1
        .rollup_events(net.deployment.start_block, head)
        .await
        .expect("events")
        .into_iter()
        .filter_map(|e| match e {
            keel_l1::client::RollupEvent::Appended(b) if b.index == target => Some(b),
            _ => None,
        })
        .next_back()
        .expect("the target batch");
    // Rebuild the batch's steps from L1 data alone, as a verifier would.
    let mut state = MemoryState::new();
    let entries = l1.inbox_entries(net.deployment.start_block, head).await.expect("inbox");
    let config = net.deployment.chain_config();
    let mut pre_root = alloy::primitives::B256::ZERO;
    let mut steps = BatchSteps::default();
    for e in l1
        .rollup_events(net.deployment.start_block, head)
        .await
        .expect("events")
        .into_iter()
        .filter_map(|e| match e {
            keel_l1::client::RollupEvent::Appended(b) => Some(b),
            _ => None,
        })
    {
        let batch = BatchSteps {
            entries: entries[e.inbox_start as usize..e.inbox_end as usize]
                .iter()
                .map(|x| x.entry)
                .collect(),
            records: d.prepare_all(&e.records),
        };
        if e.index == target {
            pre_root = state.committed_root();
            steps = batch;
            break;
        }
        keel_core::state::execute_batch(&config, &mut state, &batch).expect("mem");
    }
    let roots = step_roots(&config, state.tree().store(), pre_root, &steps).expect("mem");
    assert_eq!(
        *roots.last().expect("roots"),
        posted.post_state_root,
        "the sequencer's root is honest"
    );

    // A dishonest challenger always picks the last segment and then proves the honest step.
    let game = l1.challenge(target, net.sequencer_key.address()).await.expect("challenge");
    let tx_tree = TxTree::new(&posted.records);
    let degree = net.deployment.params.degree;
    loop {
        let g = l1.game(game).await.expect("rpc");
        match g.status {
            GameStatus::AsserterTurn => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            GameStatus::ChallengerTurn if g.hi - g.lo == 1 => {
                let (_, proven) = prove_batch_step(
                    &config,
                    state.tree().store(),
                    pre_root,
                    &steps,
                    &tx_tree,
                    g.lo as usize,
                )
                .expect("mem")
                .expect("step");
                l1.prove_step(game, proven.witness.abi_encode()).await.expect("prove");
            }
            GameStatus::ChallengerTurn => {
                // The defender's roots are all true, so an honest challenger finds nothing to
                // dispute; this one disputes the last segment anyway.
                let honest = first_disputed_segment(
                    g.lo,
                    g.hi,
                    degree,
                    &g.dissection_roots,
                    g.root_hi,
                    |k| roots[k as usize],
                )
                .expect("range");
                assert_eq!(honest, None, "every root the defender posted is true");
                let segments = (g.hi - g.lo).min(degree);
                l1.select(game, segments - 1).await.expect("select");
            }
            _ => break,
        }
    }
    assert_eq!(l1.game(game).await.expect("rpc").status, GameStatus::AsserterWon);
    assert_eq!(l1.batch_count().await.expect("rpc"), count, "the batch stays");
    // The bond is credited to the sequencer (and the defender withdraws it).
    let credited = {
        use alloy::{providers::Provider, rpc::types::Filter, sol_types::SolEvent};
        use keel_l1::bindings::ChallengeManager::Credited;
        let filter = Filter::new()
            .address(net.deployment.challenge_manager)
            .event_signature(Credited::SIGNATURE_HASH)
            .from_block(net.deployment.start_block);
        let logs = l1.provider().get_logs(&filter).await.expect("logs");
        logs.iter()
            .filter_map(|l| l.log_decode::<Credited>().ok())
            .filter(|e| e.inner.data.account == net.sequencer_key.address())
            .map(|e| e.inner.data.amount)
            .fold(U256::ZERO, |a, b| a + b)
    };
    assert_eq!(credited, net.deployment.params.challenge_bond_wei);
    seq.shutdown().await;
}

/// The websocket feed replays from a sequence number, then follows live, in order, no gaps.
#[tokio::test]
async fn the_feed_replays_then_follows_live() {
    use futures::StreamExt;
    let net = Net::start().await;
    let seq = net.sequencer().await;
    let api = Api::new(seq.addr);
    fund(&net, &api, 1, 1_000_000).await;
    let key = common::l2_key(&net.anvil, 1);
    let d = net.domain();
    let mut hashes = Vec::new();
    for n in 0..5u64 {
        let (s, v) = api
            .post(
                "/v1/transactions",
                &tx_json(&d, &transfer(Address::repeat_byte(9), 1, 0, n), &key),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        hashes.push(v["hash"].clone());
    }
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/v1/feed?from=2", seq.addr))
        .await
        .expect("ws");
    for n in 5..8u64 {
        let (s, v) = api
            .post(
                "/v1/transactions",
                &tx_json(&d, &transfer(Address::repeat_byte(9), 1, 0, n), &key),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        hashes.push(v["hash"].clone());
    }
    for expected in 2..8u64 {
        let msg = tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
            .await
            .expect("in time")
            .expect("open")
            .expect("frame");
        let v: Value = serde_json::from_str(msg.to_text().expect("text")).expect("json");
        assert_eq!(v["seq"].as_u64(), Some(expected));
        assert_eq!(v["hash"], hashes[expected as usize]);
    }
    seq.shutdown().await;
}

/// A wallet-compatible signature: Foundry's `cast wallet sign --data` (an EIP-712
/// implementation independent of Keel's) signs the typed data from the README; the API accepts
/// it and the transfer applies.
#[tokio::test]
async fn a_transfer_signed_by_cast_is_accepted() {
    let net = Net::start().await;
    let seq = net.sequencer().await;
    let api = Api::new(seq.addr);
    let alice = fund(&net, &api, 1, 1_000_000).await;
    let key = net.user(1);
    let (_, config) = api.get("/v1/config").await;
    let domain = &config["eip712Domain"];
    let to = Address::repeat_byte(0xC0);
    let typed = json!({
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}
            ],
            "Transfer": [
                {"name": "to", "type": "address"}, {"name": "token", "type": "address"},
                {"name": "amount", "type": "uint128"}, {"name": "fee", "type": "uint128"},
                {"name": "nonce", "type": "uint64"}
            ]
        },
        "primaryType": "Transfer",
        "domain": domain,
        "message": { "to": to, "token": ETH, "amount": "4321", "fee": "7", "nonce": 0 }
    });
    let file = net.dir.path().join("typed.json");
    std::fs::write(&file, typed.to_string()).expect("write");
    let cast = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../contracts/node_modules/.bin/cast");
    let private_key = format!("0x{}", alloy::hex::encode(common::signer(&net.anvil, 1).to_bytes()));
    let out = std::process::Command::new(&cast)
        .args(["wallet", "sign", "--data", "--from-file"])
        .arg(&file)
        .args(["--private-key", &private_key])
        .output()
        .expect("cast runs (scripts/setup.sh installs it)");
    assert!(out.status.success(), "cast failed: {}", String::from_utf8_lossy(&out.stderr));
    let signature = String::from_utf8(out.stdout).expect("utf8").trim().to_string();
    let body = json!({
        "kind": "transfer", "to": to, "token": ETH, "amount": "4321", "fee": "7", "nonce": 0,
        "signature": signature, "chainId": domain["chainId"], "verifyingContract": domain["verifyingContract"],
    });
    let (s, v) = api.post("/v1/transactions", &body).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(api.balance(to).await, U256::from(4321));
    assert_eq!(api.balance(alice).await, U256::from(1_000_000 - 4321 - 7));
    assert_eq!(key.account(), alice);
    seq.shutdown().await;
}
