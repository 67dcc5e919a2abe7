//! The verifier end to end against real Postgres, a real anvil and the real contracts, with the
//! test acting as the sequencer (honest or not). L1 time is skipped only with anvil's
//! `evm_increaseTime`/`evm_mine`.

mod common;

use alloy::{
    primitives::{Address, B256, U256},
    providers::Provider,
};
use common::{eventually, transfer, withdraw, withdrawn_by, Api, Net, ETH, ETHER};
use keel_core::{keys::balance_key, Record};
use keel_l1::GameStatus;
use keel_store::{BatchState, Ledger};

/// (a) Honest batches: the verifier agrees with every root, serves proofs in the sequencer's
/// shapes, and its withdrawal proof is paid on L1 once the batch is final.
#[tokio::test]
async fn honest_batches_are_verified_and_a_withdrawal_proof_is_paid_on_l1() {
    let mut net = Net::start().await;
    let verifier = net.verifier().await;
    let api = Api::new(verifier.addr);
    let alice = net.user.account();
    let bob = Address::repeat_byte(0xB0);
    let l1_recipient = Address::repeat_byte(0x1E);

    net.deposit(ETHER).await;
    let records = net.sign(&[
        transfer(bob, 1_000, 10, 0),
        withdraw(l1_recipient, 5_000, 10, 1),
        transfer(bob, 2_000, 10, 2),
    ]);
    let (b0, root0) = net.seq.post_honest(records).await;
    let records = net.sign(&[transfer(bob, 3, 1, 3), transfer(Address::repeat_byte(7), 4, 1, 4)]);
    let (b1, root1) = net.seq.post_honest(records).await;
    assert_eq!((b0, b1), (0, 1));
    api.agreed_through(1).await;

    let s = api.status().await;
    assert_eq!(s["batches"]["onL1"], 2);
    assert_eq!(s["batches"]["verified"], 2);
    assert_eq!(s["batches"]["lag"], 0);
    assert_eq!(s["firstMismatch"], serde_json::Value::Null);
    assert_eq!(s["account"], serde_json::json!(net.verifier_key.address()));
    let (_, b) = api.get("/v1/batches/0").await;
    assert_eq!(b["verdict"], "agreed");
    assert_eq!(b["postStateRoot"], serde_json::json!(root0));

    // An account proof in the sequencer's shape, under the latest agreed root by default.
    let (status, p) = api.get(&format!("/v1/accounts/{bob}/proof")).await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["batch"], 1);
    assert_eq!(p["stateRoot"], serde_json::json!(root1));
    assert_eq!(p["key"], serde_json::json!(balance_key(&bob, &ETH)));
    assert_eq!(p["value"], serde_json::json!(B256::from(U256::from(3_003u64))));
    assert_eq!(p["terminal"]["kind"], "leaf");
    assert!(p["siblings"].is_array());
    let (status, p) = api.get(&format!("/v1/accounts/{alice}/proof?token={ETH}&batch=0")).await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["batch"], 0);
    assert_eq!(p["stateRoot"], serde_json::json!(root0));
    // Errors in the sequencer's envelope.
    let (status, e) = api.get(&format!("/v1/accounts/{bob}/proof?batch=9")).await;
    assert_eq!((status, e["error"]["code"].as_str()), (404, Some("no_verified_batch")));
    let (status, e) = api.get("/v1/accounts/0x12/proof").await;
    assert_eq!((status, e["error"]["code"].as_str()), (400, Some("invalid_address")));
    let (status, e) = api.get(&format!("/v1/accounts/{bob}/proof?batch=x")).await;
    assert_eq!((status, e["error"]["code"].as_str()), (400, Some("invalid_query")));
    let (status, e) = api.get("/v1/withdrawals/1").await;
    assert_eq!((status, e["error"]["code"].as_str()), (404, Some("unknown_withdrawal")));

    let (status, w) = api.get("/v1/withdrawals/0").await;
    assert_eq!(status, 200, "{w}");
    assert_eq!(w["batch"], 0);
    assert_eq!(w["batchStatus"], "posted");
    assert_eq!(w["amount"], "5000");
    assert_eq!(w["recipient"], serde_json::json!(l1_recipient));
    assert_eq!(w["token"], serde_json::json!(ETH));
    assert_eq!(w["stateRoot"], serde_json::json!(root0));

    // Finality: skip the challenge period on L1, finalize, and the verifier sees it.
    net.skip_time(net.deployment.params.challenge_period_secs + 1).await;
    net.l1.finalize_batches(1).await.expect("finalize");
    let w = eventually(20, || async {
        let (_, w) = api.get("/v1/withdrawals/0").await;
        (w["batchStatus"] == "final").then_some(w)
    })
    .await;
    let siblings: Vec<B256> = serde_json::from_value(w["siblings"].clone()).expect("siblings");
    let before = net.user.provider().get_balance(l1_recipient).await.expect("rpc");
    net.user
        .finalize_withdrawal(0, 0, l1_recipient, ETH, 5_000, siblings)
        .await
        .expect("L1 accepts the verifier's proof");
    let after = net.user.provider().get_balance(l1_recipient).await.expect("rpc");
    assert_eq!(after - before, U256::from(5_000));

    // The verifier's own ledger holds what it derived, in the shared schema.
    let ledger = Ledger::connect(&net.database_url).await.expect("db");
    let batches = ledger.batches(0, 10).await.expect("batches");
    assert_eq!(batches.len(), 2);
    assert!(batches.iter().all(|b| b.state == BatchState::Final));
    assert_eq!((batches[0].post_root, batches[1].post_root), (Some(root0), Some(root1)));
    assert_eq!(ledger.transactions_from(0, 100).await.expect("txs").len(), 5);
    let metrics = api.text("/metrics").await;
    assert!(metrics.contains("keel_verifier_batches_agreed 2"), "{metrics}");
    assert!(metrics.contains("keel_verifier_mismatches_total 0"), "{metrics}");
    verifier.shutdown().await;
}

/// (d) It never challenges a batch it agrees with — also when a batch repeats a record or
/// carries one whose signature does not recover (no-op steps with an honest root).
#[tokio::test]
async fn it_never_challenges_a_batch_it_agrees_with() {
    let mut net = Net::start().await;
    let verifier = net.verifier().await;
    let api = Api::new(verifier.addr);
    net.deposit(ETHER).await;
    let t0 = net.sign(&[transfer(Address::repeat_byte(1), 10, 1, 0)])[0];
    let mut garbage = [0x11u8; 146];
    garbage[0] = 1;
    let records = vec![t0, t0, Record(garbage)];
    net.seq.post_honest(records).await;
    let records = net.sign(&[transfer(Address::repeat_byte(2), 10, 1, 1)]);
    net.seq.post_honest(vec![records[0], t0]).await;
    api.agreed_through(1).await;
    // Give the challenger several rounds to (wrongly) act.
    for _ in 0..10 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert_eq!(net.l1.game_count().await.expect("rpc"), 0);
    }
    assert_eq!(api.status().await["games"]["open"], serde_json::json!([]));
    // A repeated record is stored once in the ledger's transactions, every record in order.
    let ledger = Ledger::connect(&net.database_url).await.expect("db");
    let txs = ledger.transactions_from(0, 100).await.expect("txs");
    assert_eq!(txs.iter().map(|t| t.seq).collect::<Vec<_>>(), vec![0, 2, 3]);
    verifier.shutdown().await;

    // The database is this verifier's alone: a second verifier on it, another deployment, or
    // a sequencer's database is refused.
    let first = net.verifier().await;
    let err = keel_verifier::node::start(net.config()).await.expect_err("a second verifier");
    assert!(err.to_string().contains("another verifier"), "{err:#}");
    first.shutdown().await;
    let mut other = net.deployment.clone();
    other.rollup = Address::repeat_byte(0x42);
    let path = net.dir.path().join("other.json");
    other.save(&path).expect("write");
    let mut cfg = net.config();
    cfg.deployment = path;
    let err = keel_verifier::node::start(cfg).await.expect_err("another deployment");
    assert!(err.to_string().contains("another deployment"), "{err:#}");
    // On an empty database the same file is refused against L1, naming the field.
    let mut cfg = net.config();
    cfg.deployment = net.dir.path().join("other.json");
    cfg.database_url = Some(net.pg.create_database("fresh_verifier").await.expect("db"));
    let err = keel_verifier::node::start(cfg).await.expect_err("a file L1 disagrees with");
    assert!(format!("{err:#}").contains("disagrees with L1 on `rollup`"), "{err:#}");
    let url = net.pg.create_database("a_sequencer").await.expect("db");
    Ledger::connect(&url).await.expect("db").claim_role("sequencer").await.expect("claim");
    let mut cfg = net.config();
    cfg.database_url = Some(url);
    assert!(keel_verifier::node::start(cfg).await.is_err(), "a sequencer's database");
}

/// (b) A root that goes wrong at a middle step: the verifier challenges, narrows the game to
/// that step, wins by proveStep; the batch is removed, the sequencer's stake slashed, and the
/// verifier is paid its bond plus the challenger's share. The chain then continues.
#[tokio::test]
async fn a_wrong_root_is_challenged_and_the_verifier_wins_by_proving_the_step() {
    let mut net = Net::start().await;
    let verifier = net.verifier().await;
    let api = Api::new(verifier.addr);
    net.deposit(ETHER).await;
    let (_, root0) =
        net.seq.post_honest(net.sign(&[transfer(Address::repeat_byte(9), 5, 1, 0)])).await;
    api.agreed_through(0).await;

    let txs: Vec<_> = (1..=20).map(|n| transfer(Address::repeat_byte(n as u8), 7, 1, n)).collect();
    let wrong = net.seq.post_wrong(net.sign(&txs), 12).await;
    assert_eq!(wrong.index, 1);
    let stake_before = net.l1.stake_of(net.l1.account()).await.expect("rpc");
    eventually(30, || async { (net.l1.game_count().await.expect("rpc") == 1).then_some(()) }).await;
    let s = api.status().await;
    assert_eq!(s["firstMismatch"]["batch"], 1);
    assert_eq!(s["firstMismatch"]["claimedRoot"], serde_json::json!(wrong.claimed(20)));
    assert_eq!(s["firstMismatch"]["computedRoot"], serde_json::json!(wrong.honest[20]));
    let (status, e) =
        api.get(&format!("/v1/accounts/{}/proof?batch=1", Address::repeat_byte(1))).await;
    assert_eq!((status, e["error"]["code"].as_str()), (409, Some("batch_disputed")));

    let g = net.l1.game(0).await.expect("rpc");
    assert_eq!(g.challenger, net.verifier_key.address());
    let wrong_id = g.batch_id;
    assert_eq!(net.seq.defend(0, &wrong, 30).await, GameStatus::ChallengerWon);
    let g = net.l1.game(0).await.expect("rpc");
    assert_eq!(
        (g.lo, g.hi),
        (wrong.diverge - 1, wrong.diverge),
        "narrowed to the first wrong step"
    );
    // The poster is out; nobody else defends, so once the defence window after the challenge
    // has passed the verifier removes the batch.
    let params = &net.deployment.params;
    net.skip_time(params.move_timeout_secs).await;
    eventually(20, || async { (net.l1.batch_count().await.expect("rpc") == 1).then_some(()) })
        .await;
    assert_eq!(net.l1.stake_of(net.l1.account()).await.expect("rpc"), U256::ZERO, "slashed");
    // The reward is escrowed for the verifier until batch 0 is final; then it settles it.
    let share = stake_before * U256::from(params.challenger_share_bps) / U256::from(10_000);
    let slashes = net.l1.open_slashes().await.expect("rpc");
    assert_eq!(slashes.len(), 1);
    assert_eq!((slashes[0].beneficiary, slashes[0].amount), (net.verifier_key.address(), share));
    net.skip_time(params.challenge_period_secs).await;
    net.l1.finalize_batches(0).await.expect("finalize");
    let paid = params.challenge_bond_wei + share;
    eventually(20, || async {
        (withdrawn_by(&net, net.verifier_key.address()).await == paid).then_some(())
    })
    .await;
    assert_eq!(
        net.verifier_l1().credits(net.verifier_key.address()).await.expect("rpc"),
        U256::ZERO
    );
    eventually(20, || async {
        let s = api.status().await;
        (s["games"]["won"] == 1 && s["firstMismatch"].is_null() && s["batches"]["onL1"] == 1)
            .then_some(())
    })
    .await;

    // The sequencer stakes again and re-posts batch 1 honestly: same index, new id, agreed.
    net.l1.stake(params.required_stake_wei).await.expect("stake");
    let (index, root1) = net.seq.post_honest(net.sign(&txs)).await;
    assert_eq!(index, 1);
    api.agreed_through(1).await;
    let (_, b) = api.get("/v1/batches/1").await;
    assert_eq!(b["verdict"], "agreed");
    assert!(b["id"].as_u64() > Some(wrong_id), "a new id for the reused index: {b}");
    assert_eq!(b["postStateRoot"], serde_json::json!(root1));
    assert_eq!(net.l1.game_count().await.expect("rpc"), 1, "no second challenge");
    let ledger = Ledger::connect(&net.database_url).await.expect("db");
    let stored = ledger.batches(0, 10).await.expect("batches");
    assert_eq!(
        stored.iter().map(|b| b.post_root).collect::<Vec<_>>(),
        vec![Some(root0), Some(root1)]
    );
    let metrics = api.text("/metrics").await;
    assert!(metrics.contains("keel_verifier_mismatches_total 1"), "{metrics}");
    assert!(metrics.contains("keel_verifier_games_won 1"), "{metrics}");
    verifier.shutdown().await;
}

/// (c) Stopped mid-game and started again on the same database, the verifier resumes the game
/// where it was (no second bond) and still wins.
#[tokio::test]
async fn a_restarted_verifier_resumes_its_game_and_wins() {
    let mut net = Net::start().await;
    let mut cfg = net.config();
    // Small ranges: the restart must resume from the stored progress block.
    cfg.follower.max_range = 3;
    let verifier = keel_verifier::node::start(cfg.clone()).await.expect("starts");
    net.deposit(ETHER).await;
    let txs: Vec<_> =
        (0..20).map(|n| transfer(Address::repeat_byte(n as u8 + 1), 7, 1, n)).collect();
    let wrong = net.seq.post_wrong(net.sign(&txs), 12).await;
    eventually(30, || async { (net.l1.game_count().await.expect("rpc") == 1).then_some(()) }).await;

    // One round: the asserter dissects, the verifier selects.
    net.seq.dissect(0, &wrong).await;
    eventually(20, || async {
        let g = net.l1.game(0).await.expect("rpc");
        (g.status == GameStatus::AsserterTurn && g.hi - g.lo < 21).then_some(())
    })
    .await;
    verifier.shutdown().await;

    // While it is down the asserter moves; the game waits on the challenger.
    net.seq.dissect(0, &wrong).await;
    assert_eq!(net.l1.game(0).await.expect("rpc").status, GameStatus::ChallengerTurn);
    let verifier = keel_verifier::node::start(cfg).await.expect("restarts");
    let api = Api::new(verifier.addr);
    assert_eq!(api.status().await["firstMismatch"]["batch"], 0, "the dispute is known at start");
    assert_eq!(net.seq.defend(0, &wrong, 30).await, GameStatus::ChallengerWon);
    assert_eq!(net.l1.game_count().await.expect("rpc"), 1, "no second bond");
    net.skip_time(net.deployment.params.move_timeout_secs).await;
    eventually(20, || async { (net.l1.batch_count().await.expect("rpc") == 0).then_some(()) })
        .await;
    eventually(20, || async { (api.status().await["games"]["won"] == 1).then_some(()) }).await;
    verifier.shutdown().await;
}

/// An asserter that misses its deadline loses: the verifier calls `timeout`.
#[tokio::test]
async fn an_asserter_that_misses_its_deadline_is_timed_out() {
    let mut net = Net::start().await;
    let verifier = net.verifier().await;
    let api = Api::new(verifier.addr);
    net.deposit(ETHER).await;
    let txs: Vec<_> =
        (0..4).map(|n| transfer(Address::repeat_byte(n as u8 + 1), 7, 1, n)).collect();
    net.seq.post_wrong(net.sign(&txs), 2).await;
    eventually(30, || async { (net.l1.game_count().await.expect("rpc") == 1).then_some(()) }).await;
    assert_eq!(net.l1.game(0).await.expect("rpc").status, GameStatus::AsserterTurn);
    net.skip_time(net.deployment.params.move_timeout_secs + 1).await;
    eventually(20, || async {
        (net.l1.game(0).await.expect("rpc").status == GameStatus::ChallengerWon).then_some(())
    })
    .await;
    assert_eq!(net.l1.batch_count().await.expect("rpc"), 0);
    eventually(20, || async { (api.status().await["games"]["won"] == 1).then_some(()) }).await;
    verifier.shutdown().await;
}

/// L1 goes away for a while: the verifier's rounds fail and are retried with backoff, and once
/// L1 is back it derives and verifies everything posted meanwhile.
#[tokio::test]
async fn it_survives_an_l1_outage_and_catches_up() {
    let mut net = Net::start().await;
    let proxy = common::L1Proxy::start(&net.anvil.endpoint()).await;
    let mut cfg = net.config();
    cfg.l1_rpc = proxy.url.clone();
    let verifier = keel_verifier::node::start(cfg).await.expect("starts");
    let api = Api::new(verifier.addr);
    net.deposit(ETHER).await;
    net.seq.post_honest(net.sign(&[transfer(Address::repeat_byte(1), 10, 1, 0)])).await;
    api.agreed_through(0).await;

    proxy.set_up(false);
    for n in 1..=3u64 {
        net.seq.post_honest(net.sign(&[transfer(Address::repeat_byte(2), 10, 1, n)])).await;
    }
    eventually(20, || async {
        let m = api.text("/metrics").await;
        m.contains("keel_verifier_errors_total{task=\"follower\"}").then_some(())
    })
    .await;
    assert_eq!(api.status().await["batches"]["onL1"], 1, "nothing derived while L1 is away");

    proxy.set_up(true);
    api.agreed_through(3).await;
    assert_eq!(net.l1.game_count().await.expect("rpc"), 0);
    verifier.shutdown().await;
}

/// A wrong root that became final while no verifier watched (it was down for the whole
/// challenge period) can no longer be challenged: the verifier says so loudly — `/readyz` not
/// ready with `final_batch_wrong` naming the batch and both roots, the critical gauge at 1, the
/// status's mismatch marked final — bonds nothing, and keeps following L1.
#[tokio::test]
async fn a_wrong_root_already_final_raises_the_alarm_and_the_verifier_keeps_following() {
    let mut net = Net::start().await;
    net.deposit(ETHER).await;
    net.seq.post_honest(net.sign(&[transfer(Address::repeat_byte(9), 5, 1, 0)])).await;
    let txs: Vec<_> = (1..=4).map(|n| transfer(Address::repeat_byte(n as u8), 7, 1, n)).collect();
    let wrong = net.seq.post_wrong(net.sign(&txs), 2).await;
    net.skip_time(net.deployment.params.challenge_period_secs + 1).await;
    net.l1.finalize_batches(wrong.index).await.expect("finalize");

    let verifier = net.verifier().await;
    let api = Api::new(verifier.addr);
    let (status, body) = eventually(30, || async {
        let (status, body) = api.get("/readyz").await;
        (status == 503 && body["error"]["code"] == "final_batch_wrong").then_some((status, body))
    })
    .await;
    assert_eq!(status, 503);
    let message = body["error"]["message"].as_str().expect("a message");
    // Batch 1's steps are its records alone: batch 0 consumed the deposit.
    let n = txs.len() as u64;
    assert!(message.contains("batch 1"), "{message}");
    assert!(message.contains(&wrong.claimed(n).to_string()), "names the claimed root: {message}");
    assert!(message.contains(&wrong.honest[n as usize].to_string()), "and the true one: {message}");
    let s = api.status().await;
    assert_eq!(s["firstMismatch"]["batch"], 1);
    assert_eq!(s["firstMismatch"]["final"], true);
    assert_eq!(s["batches"]["agreedUpTo"], 0);
    let metrics = api.text("/metrics").await;
    assert!(metrics.contains("keel_verifier_final_batch_wrong 1"), "{metrics}");

    // It keeps following L1: a later batch is derived (and cannot be verified on a state L1's
    // root contradicts), and it never bonds on the final batch.
    let later = net.sign(&[transfer(Address::repeat_byte(7), 1, 1, 5)]);
    net.l1
        .append_batch(&later, 1, B256::repeat_byte(0x77), 2, wrong.claimed(n))
        .await
        .expect("append on the final tip");
    eventually(30, || async { (api.status().await["batches"]["onL1"] == 3).then_some(()) }).await;
    assert_eq!(net.l1.game_count().await.expect("rpc"), 0, "no bond on a final batch");
    assert_eq!(api.get("/readyz").await.0, 503, "still not ready");
    verifier.shutdown().await;
}
