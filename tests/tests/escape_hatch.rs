//! The escape hatch with the real binaries: the sequencer stops for good; a user asks for a
//! forced withdrawal on L1; once the sequencer has been inactive for its period, a verifier
//! running as fallback proposer posts a batch that consumes it and finalizes it after the
//! challenge period; the user is paid on L1 with the verifier's proof.

use alloy::primitives::{Address, U256};
use keel_e2e::{transfer, System, ETH, SEQUENCER, VERIFIER};

#[tokio::test]
async fn a_forced_withdrawal_is_paid_after_the_sequencer_disappears() {
    let sys = System::start().await;
    let mut seq = sys.sequencer(None, 800, 1_000).await;
    let verifier =
        sys.verifier_with("verifier", VERIFIER, &[("KEEL_FALLBACK_PROPOSER", "true")]).await;
    let user = 1;
    sys.deposit_and_wait(&seq, user, ETH).await;
    sys.submit(&seq, user, transfer(Address::repeat_byte(0x10), 1_000, 0)).await;
    sys.until_batches(1).await;
    sys.until_verifier_agrees(&verifier, 1).await;
    let l1 = sys.l1(SEQUENCER);
    let posted = l1.batch_count().await.expect("rpc");

    // The sequencer disappears; the user asks L1 for 0.4 ETH back.
    seq.kill();
    let amount = 4 * ETH / 10;
    sys.l1(user).force_withdraw(Address::ZERO, amount).await.expect("forced withdrawal");
    sys.skip_time(60).await;
    assert_eq!(l1.batch_count().await.expect("rpc"), posted, "nobody may post yet");

    // After the inactivity period the verifier posts the inbox, then finalizes it.
    sys.skip_time(sys.params.sequencer_inactivity_period_secs).await;
    sys.until_batches(posted + 1).await;
    let batch = l1.batch(posted).await.expect("batch");
    assert_eq!(batch.poster, sys.address(VERIFIER), "posted by the fallback proposer");
    assert_eq!((batch.txCount, batch.inboxEnd - batch.inboxStart), (0, 1), "just the inbox");
    sys.until_verifier_agrees(&verifier, posted + 1).await;
    sys.skip_time(sys.params.challenge_period_secs + 1).await;
    sys.until("the fallback batch is final", 60, || async {
        l1.is_final(posted).await.ok()?.then_some(())
    })
    .await;
    sys.until_verifier_agrees(&verifier, posted + 1).await;

    let before = sys.l1_balance(sys.address(user)).await;
    sys.finalize_withdrawal(&verifier, user, 0).await.expect("paid");
    let gained = sys.l1_balance(sys.address(user)).await - before;
    let gas_allowance = U256::from(ETH / 1_000);
    assert!(gained + gas_allowance > U256::from(amount) && gained <= U256::from(amount));
    assert!(sys.finalize_withdrawal(&verifier, user, 0).await.is_err(), "never twice");
}

/// The sequencer comes back after the escape hatch: it restarts on its old ledger while L1
/// holds the fallback proposer's batch in the place of its own unposted one. It takes L1's
/// batch, sequences the transfer that still applies on top of it again, reports the one the
/// forced withdrawal made invalid as removed, and goes on posting batches the verifier agrees
/// with.
#[tokio::test]
async fn the_sequencer_follows_the_fallback_batch_when_it_comes_back() {
    let sys = System::start().await;
    let mut seq = sys.sequencer(None, 800, 1_000).await;
    let verifier =
        sys.verifier_with("verifier", VERIFIER, &[("KEEL_FALLBACK_PROPOSER", "true")]).await;
    let (alice, bob) = (1, 2);
    sys.deposit_and_wait(&seq, alice, ETH).await;
    sys.deposit_and_wait(&seq, bob, ETH).await;
    sys.until_all_posted(&seq).await;
    sys.until_verifier_agrees(&verifier, 1).await;
    let l1 = sys.l1(SEQUENCER);
    let posted = l1.batch_count().await.expect("rpc");

    // The sequencer acknowledges two transfers but cannot post them (its L1 budget is spent),
    // then disappears.
    seq.kill();
    let mut seq = sys
        .sequencer_with(None, 800, 1_000, &[("KEEL_L1_BUDGET_ETH_PER_HOUR", "0.000000000001")])
        .await;
    let to = Address::repeat_byte(0x10);
    let kept = sys.submit(&seq, alice, transfer(to, 1_000, 0)).await;
    let dropped = sys.submit(&seq, bob, transfer(to, 9 * ETH / 10, 0)).await;
    seq.kill();
    assert_eq!(l1.batch_count().await.expect("rpc"), posted, "the starved sequencer posted");

    // Bob takes half an ETH out on L1; after the inactivity period the fallback proposer posts
    // a batch that pays it, at the index of the sequencer's unposted batch.
    sys.l1(bob).force_withdraw(Address::ZERO, ETH / 2).await.expect("forced withdrawal");
    sys.skip_time(sys.params.sequencer_inactivity_period_secs + 1).await;
    sys.until_batches(posted + 1).await;
    assert_eq!(l1.batch(posted).await.expect("batch").poster, sys.address(VERIFIER));
    sys.until_verifier_agrees(&verifier, posted + 1).await;

    // The sequencer comes back on its old ledger and follows L1.
    let seq = sys.sequencer(None, 800, 1_000).await;
    let lookup = |v: &serde_json::Value| {
        format!("{}/v1/transactions/{}", seq.url, v["hash"].as_str().expect("hash"))
    };
    let again = sys
        .until("Alice's transfer is posted again after the fallback batch", 90, || async {
            let v = sys.get(lookup(&kept)).await?;
            (v["status"] == "posted" && v["batch"].as_u64()? > posted).then_some(v)
        })
        .await;
    assert_eq!(again["seq"], kept["seq"], "the same place in the order (Bob's came after it)");
    let removed = sys.get(lookup(&dropped)).await.expect("lookup");
    assert_eq!(removed["status"], "removed", "{removed}");
    assert_eq!(removed["code"], "insufficient_balance", "{removed}");
    assert_eq!(removed["previousSeq"], dropped["seq"]);

    // L2 balances are L1's history plus Alice's transfer; the verifier agrees with all of it.
    let bob_balance = sys.l2_balance(&seq, sys.address(bob), Address::ZERO).await;
    assert_eq!(bob_balance, U256::from(ETH / 2), "Bob: the deposit less the forced withdrawal");
    let alice_balance = sys.l2_balance(&seq, sys.address(alice), Address::ZERO).await;
    assert_eq!(alice_balance, U256::from(ETH - 1_001), "Alice: less the transfer and its fee");
    let batch = l1.batch(again["batch"].as_u64().expect("batch")).await.expect("batch");
    assert_eq!(batch.poster, sys.address(SEQUENCER));
    sys.until_verifier_agrees(&verifier, posted + 2).await;
}

/// A running sequencer finds a batch it did not post on L1 (the fallback proposer's, posted while
/// the sequencer did not see the inbox entry it consumes): the poster stops, the service restarts
/// in place on a ledger realigned with L1, and is ready again with L1's batch as its own history.
#[tokio::test]
async fn a_running_sequencer_realigns_with_a_fallback_batch() {
    let sys = System::start().await;
    // With this many confirmations the sequencer never takes an inbox entry (anvil's chain is
    // shorter), so only the fallback proposer consumes it.
    let seq = sys.sequencer_with(None, 800, 1_000, &[("KEEL_CONFIRMATIONS", "100000")]).await;
    let verifier =
        sys.verifier_with("verifier", VERIFIER, &[("KEEL_FALLBACK_PROPOSER", "true")]).await;
    sys.l1(1).force_withdraw(Address::ZERO, 1).await.expect("forced withdrawal");
    sys.skip_time(sys.params.sequencer_inactivity_period_secs + 1).await;
    sys.until_batches(1).await;
    let l1 = sys.l1(SEQUENCER);
    let fallback = l1.batch(0).await.expect("batch");
    assert_eq!(fallback.poster, sys.address(VERIFIER));

    sys.until("the sequencer holds L1's batch 0 as posted", 90, || async {
        let v = sys.get(format!("{}/v1/batches/0", seq.url)).await?;
        (v["state"] == "posted"
            && v["postStateRoot"] == serde_json::json!(fallback.postStateRoot)
            && v["inboxEnd"] == 1)
            .then_some(())
    })
    .await;
    sys.until("the sequencer is ready again", 60, || async {
        let r = sys.http.get(format!("{}/readyz", seq.url)).send().await.ok()?;
        r.status().is_success().then_some(())
    })
    .await;
    let log = std::fs::read_to_string(&seq.log).expect("log");
    assert!(log.contains("ledger realigned with L1"), "realigned in place");
    sys.until_verifier_agrees(&verifier, 1).await;
}
