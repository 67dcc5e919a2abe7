//! The escape hatch end to end (scenario 9) against real Postgres, a real anvil and the real
//! contracts: the sequencer (the test, posting honest batches) stops; a user asks for a forced
//! withdrawal on L1; once the sequencer has been inactive for its period, the verifier's fallback
//! proposer posts a batch consuming it, finalizes it after the challenge period, and the user is
//! paid on L1 with the verifier's proof. L1 time is skipped only with `evm_increaseTime`/`evm_mine`.

mod common;

use alloy::{
    primitives::{Address, B256, U256},
    providers::Provider,
};
use common::{eventually, transfer, withdraw, withdrawn_by, Api, Net, ETH, ETHER};
use keel_core::keys::balance_key;
use keel_l1::GameStatus;
use keel_verifier::node::{self, RunningVerifier};

async fn verifier_with_proposer(net: &Net) -> RunningVerifier {
    let mut cfg = net.config();
    cfg.fallback_proposer = true;
    node::start(cfg).await.expect("verifier starts")
}

/// The user's L2 balance of ETH as the verifier proves it under its latest agreed batch.
async fn l2_balance(api: &Api, who: Address) -> U256 {
    let (status, p) = api.get(&format!("/v1/accounts/{who}/proof")).await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["key"], serde_json::json!(balance_key(&who, &ETH)));
    let value: B256 = serde_json::from_value(p["value"].clone()).expect("value");
    U256::from_be_bytes(value.0)
}

fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// Give the proposer (polling every 100 ms) several rounds to act, in wall time: nothing of L1
/// time passes, so nothing it does here can be explained by a deadline.
async fn a_few_rounds() {
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
}

/// Scenario 9: the sequencer stops, a forced withdrawal is posted by the fallback proposer, the
/// batch becomes final, and the user is paid on L1 with the verifier's withdrawal proof.
#[tokio::test]
async fn a_forced_withdrawal_is_posted_by_the_fallback_proposer_and_paid_on_l1() {
    let mut net = Net::start().await;
    let verifier = verifier_with_proposer(&net).await;
    let api = Api::new(verifier.addr);
    let params = net.deployment.params.clone();
    let user = net.user.account();
    let us = net.verifier_key.address();
    let bob = Address::repeat_byte(0xB0);

    // While the sequencer works: a deposit, transfers and an ordinary withdrawal (index 0).
    net.deposit(ETHER).await;
    net.seq
        .post_honest(net.sign(&[transfer(bob, 1_000, 10, 0), withdraw(bob, 5_000, 10, 1)]))
        .await;
    net.seq.post_honest(net.sign(&[transfer(bob, 2_000, 10, 2)])).await;
    api.agreed_through(1).await;
    let l2_before = l2_balance(&api, user).await;
    assert_eq!(l2_before, U256::from(ETHER - 1_010 - 5_010 - 2_010));

    // The sequencer stops. The user asks L1 for a withdrawal the sequencer cannot refuse.
    let forced = ETHER / 4;
    let entry = net.user.force_withdraw(ETH, forced).await.expect("force_withdraw");
    assert_eq!(entry, 1);
    a_few_rounds().await;
    assert_eq!(net.l1.batch_count().await.expect("rpc"), 2, "the sequencer may still post");

    // The sequencer stays silent past its inactivity period: the fallback proposer posts.
    net.skip_time(params.sequencer_inactivity_period_secs + 1).await;
    eventually(30, || async { (net.l1.batch_count().await.expect("rpc") == 3).then_some(()) })
        .await;
    let header = net.l1.batch(2).await.expect("rpc");
    assert_eq!(header.poster, us, "posted by the verifier's account");
    assert_eq!((header.inboxStart, header.inboxEnd, header.txCount), (1, 2, 0));
    assert_eq!(net.l1.stake_of(us).await.expect("rpc"), params.required_stake_wei);
    api.agreed_through(2).await; // its own follower verifies it like any other batch
    let (_, b) = api.get("/v1/batches/2").await;
    assert_eq!((b["verdict"].as_str(), b["state"].as_str()), (Some("agreed"), Some("posted")));
    assert_eq!(b["poster"], serde_json::json!(us));
    assert_eq!(l2_balance(&api, user).await, l2_before - U256::from(forced));
    let (status, w) = api.get("/v1/withdrawals/1").await;
    assert_eq!(status, 200, "{w}");
    assert_eq!((w["batch"].as_u64(), w["batchStatus"].as_str()), (Some(2), Some("posted")));
    assert_eq!(w["recipient"], serde_json::json!(user));
    assert_eq!(w["amount"], forced.to_string());
    // The sequencer's batches are past their challenge period (longer ago than the inactivity
    // period): the proposer finalizes them (nobody else does here), but not its own yet.
    eventually(30, || async { (net.l1.finalized_count().await.expect("rpc") == 2).then_some(()) })
        .await;
    a_few_rounds().await;
    assert!(!net.l1.is_final(2).await.expect("rpc"), "nothing final before its time");

    // After the challenge period the proposer finalizes its own batch too.
    net.skip_time(params.challenge_period_secs + 1).await;
    eventually(30, || async { (net.l1.finalized_count().await.expect("rpc") == 3).then_some(()) })
        .await;
    let w = eventually(30, || async {
        let (_, w) = api.get("/v1/withdrawals/1").await;
        (w["batchStatus"] == "final").then_some(w)
    })
    .await;
    let siblings: Vec<B256> = serde_json::from_value(w["siblings"].clone()).expect("siblings");

    // The user finalizes with the verifier's proof and is paid on L1.
    let before = net.user.provider().get_balance(user).await.expect("rpc");
    let receipt = net
        .user
        .finalize_withdrawal(2, 1, user, ETH, forced, siblings)
        .await
        .expect("L1 accepts the verifier's proof");
    let gas = U256::from(receipt.gas_used) * U256::from(receipt.effective_gas_price);
    let after = net.user.provider().get_balance(user).await.expect("rpc");
    assert_eq!(after + gas - before, U256::from(forced), "paid exactly the forced amount");
    assert!(net.user.is_withdrawal_spent(1).await.expect("rpc"));
    assert!(!net.user.is_withdrawal_spent(0).await.expect("rpc"), "bob's is his to finalize");

    let (_, b) = api.get("/v1/batches/2").await;
    assert_eq!(b["state"], "final");
    let m = api.text("/metrics").await;
    assert_eq!(metric(&m, "keel_verifier_batches_proposed_total"), Some(1.0), "{m}");
    assert_eq!(metric(&m, "keel_verifier_escape_hatch_open"), Some(1.0), "{m}");
    assert_eq!(metric(&m, "keel_verifier_mismatches_total"), Some(0.0), "{m}");
    assert_eq!(net.l1.game_count().await.expect("rpc"), 0);
    verifier.shutdown().await;
}

/// While the sequencer appends within its inactivity period the proposer never posts — not
/// even when a forced withdrawal is overdue — and once the hatch is open it posts only when an
/// inbox entry waits.
#[tokio::test]
async fn the_fallback_proposer_does_not_post_while_the_sequencer_is_active() {
    let mut net = Net::start().await;
    let verifier = verifier_with_proposer(&net).await;
    let api = Api::new(verifier.addr);
    let params = net.deployment.params.clone();
    let period = params.sequencer_inactivity_period_secs;
    let us = net.verifier_key.address();

    net.deposit(ETHER).await;
    net.seq.post_honest(net.sign(&[transfer(Address::repeat_byte(1), 10, 1, 0)])).await;
    api.agreed_through(0).await;
    net.user.force_withdraw(ETH, 1_000).await.expect("force_withdraw");

    // Past the force-inclusion delay but within the inactivity period: the sequencer's turn.
    assert!(params.force_inclusion_delay_secs < period - 100);
    net.skip_time(period - 100).await;
    a_few_rounds().await;
    assert_eq!(net.l1.batch_count().await.expect("rpc"), 1);
    // The sequencer posts (it must take the overdue entry), which restarts its clock.
    net.seq.post_honest(net.sign(&[transfer(Address::repeat_byte(1), 10, 1, 1)])).await;
    net.skip_time(period - 100).await;
    a_few_rounds().await;
    assert_eq!(net.l1.batch_count().await.expect("rpc"), 2);
    let m = api.text("/metrics").await;
    assert_eq!(metric(&m, "keel_verifier_escape_hatch_open"), Some(0.0), "{m}");
    assert_eq!(metric(&m, "keel_verifier_batches_proposed_total"), Some(0.0), "{m}");

    // The hatch opens, but every entry is consumed: nothing to post (L1 refuses empty batches).
    net.skip_time(200).await;
    eventually(30, || async {
        let m = api.text("/metrics").await;
        (metric(&m, "keel_verifier_escape_hatch_open") == Some(1.0)).then_some(())
    })
    .await;
    a_few_rounds().await;
    assert_eq!(net.l1.batch_count().await.expect("rpc"), 2);
    assert_eq!(net.l1.stake_of(us).await.expect("rpc"), U256::ZERO, "no stake locked for nothing");

    // A deposit arrives: the proposer posts it.
    net.deposit(7).await;
    eventually(30, || async { (net.l1.batch_count().await.expect("rpc") == 3).then_some(()) })
        .await;
    let header = net.l1.batch(2).await.expect("rpc");
    assert_eq!((header.poster, header.inboxStart, header.inboxEnd), (us, 2, 3));
    api.agreed_through(2).await;
    verifier.shutdown().await;
}

/// The proposer never builds on a batch its verifier disputes: it waits until the challenger has
/// had the wrong batch removed, then posts from the last good batch, consuming the rewound inbox.
#[tokio::test]
async fn the_fallback_proposer_never_builds_on_a_disputed_batch() {
    let mut net = Net::start().await;
    let verifier = verifier_with_proposer(&net).await;
    let api = Api::new(verifier.addr);
    let params = net.deployment.params.clone();
    let us = net.verifier_key.address();
    let user = net.user.account();

    net.deposit(ETHER).await;
    net.seq.post_honest(net.sign(&[transfer(Address::repeat_byte(1), 10, 1, 0)])).await;
    api.agreed_through(0).await;
    net.deposit(5).await;
    let txs: Vec<_> = (1..=4).map(|n| transfer(Address::repeat_byte(2), 7, 1, n)).collect();
    let wrong = net.seq.post_wrong(net.sign(&txs), 2).await;
    assert_eq!(wrong.index, 1);
    eventually(30, || async { (net.l1.game_count().await.expect("rpc") == 1).then_some(()) }).await;
    net.user.force_withdraw(ETH, 1_000).await.expect("force_withdraw");

    // The sequencer goes silent, its game included: the challenger times it out (the move
    // timeout is shorter than the inactivity period) and the proposer posts only after that.
    net.skip_time(params.sequencer_inactivity_period_secs + 1).await;
    eventually(30, || async {
        (net.l1.game(0).await.expect("rpc").status == GameStatus::ChallengerWon).then_some(())
    })
    .await;
    eventually(30, || async {
        let count = net.l1.batch_count().await.expect("rpc");
        let poster = match count {
            2 => Some(net.l1.batch(1).await.expect("rpc").poster),
            _ => None,
        };
        (poster == Some(us)).then_some(())
    })
    .await;
    let header = net.l1.batch(1).await.expect("rpc");
    assert_eq!((header.inboxStart, header.inboxEnd, header.txCount), (1, 3, 0));
    assert_eq!(net.l1.stake_of(net.l1.account()).await.expect("rpc"), U256::ZERO, "slashed");
    api.agreed_through(1).await;
    let l2 = l2_balance(&api, user).await;
    assert_eq!(l2, U256::from(ETHER - 11 + 5 - 1_000));
    let (_, w) = api.get("/v1/withdrawals/0").await;
    assert_eq!((w["batch"].as_u64(), w["amount"].as_str()), (Some(1), Some("1000")));
    verifier.shutdown().await;
}

/// A griefer who challenges an honest fallback batch loses: the proposer dissects with its true
/// roots and times the silent challenger out; the batch stands and becomes final, the stake is
/// intact, and the griefer's bond is paid to the verifier's account.
#[tokio::test]
async fn a_challenge_against_a_fallback_batch_is_defended_and_lost_by_the_challenger() {
    let net = Net::start().await;
    let verifier = verifier_with_proposer(&net).await;
    let api = Api::new(verifier.addr);
    let params = net.deployment.params.clone();
    let us = net.verifier_key.address();

    // The sequencer never posts; three deposits wait; the hatch opens.
    for amount in [100, 200, 300] {
        net.deposit(amount).await;
    }
    net.skip_time(params.sequencer_inactivity_period_secs + 1).await;
    eventually(30, || async { (net.l1.batch_count().await.expect("rpc") == 1).then_some(()) })
        .await;
    let header = net.l1.batch(0).await.expect("rpc");
    assert_eq!((header.poster, header.inboxStart, header.inboxEnd), (us, 0, 3));
    api.agreed_through(0).await;

    // The user, as a griefer, bonds against it; the proposer answers with its true roots.
    let game = net.user.challenge(0, us).await.expect("challenge");
    eventually(30, || async {
        let g = net.l1.game(game).await.expect("rpc");
        (g.status == GameStatus::ChallengerTurn).then_some(g)
    })
    .await;
    let g = net.l1.game(game).await.expect("rpc");
    assert_eq!((g.asserter, g.lo, g.hi), (us, 0, 3));
    assert_eq!(g.dissection_roots.len(), 2, "one root per interior point");
    net.user.select(game, 1).await.expect("select");
    assert_eq!(net.l1.game(game).await.expect("rpc").status, GameStatus::ChallengerTurn);

    // The griefer cannot prove a wrong step and stays silent: the proposer times it out.
    net.skip_time(params.move_timeout_secs + 1).await;
    eventually(30, || async {
        (net.l1.game(game).await.expect("rpc").status == GameStatus::AsserterWon).then_some(())
    })
    .await;
    assert_eq!(net.l1.batch_count().await.expect("rpc"), 1, "the batch stands");
    assert_eq!(net.l1.stake_of(us).await.expect("rpc"), params.required_stake_wei);
    // The griefer's bond is paid to the verifier's account (its challenger task withdraws it).
    eventually(30, || async {
        (withdrawn_by(&net, us).await == params.challenge_bond_wei).then_some(())
    })
    .await;
    assert_eq!(net.verifier_l1().credits(us).await.expect("rpc"), U256::ZERO);

    net.skip_time(params.challenge_period_secs).await;
    eventually(30, || async { (net.l1.is_final(0).await.expect("rpc")).then_some(()) }).await;
    let m = api.text("/metrics").await;
    assert_eq!(metric(&m, "keel_verifier_batches_proposed_total"), Some(1.0), "{m}");
    verifier.shutdown().await;
}
