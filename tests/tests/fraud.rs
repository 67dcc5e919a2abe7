//! A dishonest sequencer is caught. The real `keel-sequencer` binary, with fault injection,
//! posts a batch whose claimed roots are false — diverging at the first inbox step, the first
//! transaction, a middle step or the last step; applying a transfer with a bad signature;
//! crediting a deposit twice; skipping a forced withdrawal. The real `keel-verifier` binary,
//! deriving everything from L1, challenges and wins by a one-step proof of exactly the step
//! where the lie starts; the batch and every later one are removed, the sequencer's stake is
//! slashed and the challenger paid; after the sequencer stakes again it re-posts honestly, the
//! chain goes on, and a withdrawal is paid once — never from the removed batch.

use alloy::primitives::{Address, U256};
use keel_e2e::{transfer, withdraw, System, ETH, SEQUENCER, VERIFIER};
use keel_l1::GameStatus;

/// What every won fraud proof must show: game `id` won by the verifier at step `step` of batch
/// `batch`, every batch from `batch` on removed, the stake slashed, the challenger paid.
async fn assert_caught(sys: &System, id: u64, batch: u64, step: u64) {
    let g = sys.until_game_over(id, 180).await;
    assert_eq!(g.status, GameStatus::ChallengerWon, "the verifier wins");
    assert_eq!(g.challenger, sys.address(VERIFIER));
    assert_eq!(g.batch_index, batch);
    assert_eq!((g.lo, g.hi), (step, step + 1), "the game ends at the step where the lie starts");
    let l1 = sys.l1(SEQUENCER);
    // The poster is out and nobody else defends the batch: once the defence window after the
    // challenge has passed, the verifier removes it.
    sys.skip_time(sys.params.move_timeout_secs).await;
    sys.until("the defeated batch is removed", 60, || async {
        (l1.batch_count().await.ok()? == batch).then_some(())
    })
    .await;
    assert_eq!(l1.stake_of(sys.address(SEQUENCER)).await.expect("rpc"), U256::ZERO, "slashed");
    let share = sys.params.required_stake_wei * U256::from(sys.params.challenger_share_bps)
        / U256::from(10_000);
    let bond = sys.params.challenge_bond_wei;
    if batch == 0 {
        // Nothing before it: the escrowed reward is settled by the verifier at once.
        sys.until("the challenger is paid", 60, || async {
            (sys.credited_to(sys.address(VERIFIER)).await == bond + share).then_some(())
        })
        .await;
    } else {
        // Held until the batches before it are final, for the verifier.
        let slashes = l1.open_slashes().await.expect("rpc");
        assert!(
            slashes.iter().any(|s| s.beneficiary == sys.address(VERIFIER) && s.amount == share),
            "the reward is escrowed for the challenger: {slashes:?}"
        );
        assert_eq!(sys.credited_to(sys.address(VERIFIER)).await, bond, "its bond back");
    }
}

/// Batch 0 = a deposit and five transactions (the fifth a withdrawal), batch 1 = one more
/// transfer; batch 0's roots diverge at `at`, which is step `step`.
async fn wrong_root_diverging_at(at: &str, step: u64) {
    let sys = System::start().await;
    let seq = sys.sequencer(Some(&format!("wrong-root@0:{at}")), 5, 3_000).await;
    let (user, recipient) = (1, Address::repeat_byte(0xAB));
    sys.deposit_and_wait(&seq, user, ETH).await;
    for nonce in 0..4 {
        sys.submit(&seq, user, transfer(Address::repeat_byte(0x10 + nonce as u8), 1_000, nonce))
            .await;
    }
    sys.submit(&seq, user, withdraw(recipient, ETH / 10, 4)).await;
    sys.submit(&seq, user, transfer(Address::repeat_byte(0x20), 1_000, 5)).await;
    sys.until_batches(2).await;
    let l1 = sys.l1(SEQUENCER);
    let b0 = l1.batch(0).await.expect("batch 0");
    assert_eq!((b0.inboxEnd - b0.inboxStart, b0.txCount), (1, 5), "batch 0 as planned");

    // The verifier starts after both batches are on L1, so both are removed by its win.
    let verifier = sys.verifier("verifier", VERIFIER, None).await;
    assert_caught(&sys, 0, 0, step).await;
    let removed = l1.batch(0).await;
    assert!(removed.is_err(), "batch 0 is gone");
    assert!(
        sys.l1(user)
            .finalize_withdrawal(0, 0, recipient, Address::ZERO, ETH / 10, vec![])
            .await
            .is_err(),
        "no withdrawal can be paid from a removed batch"
    );

    // The sequencer stakes again and re-posts both batches honestly.
    l1.stake(sys.params.required_stake_wei).await.expect("stake again");
    sys.until_verifier_agrees(&verifier, 2).await;
    let ours = sys.get(format!("{}/v1/batches/0", seq.url)).await.expect("batch");
    let root = l1.batch(0).await.expect("batch 0").postStateRoot;
    assert_eq!(ours["postStateRoot"], serde_json::json!(root), "the true root is on L1 now");
    assert_eq!(l1.game_count().await.expect("rpc"), 1, "the honest batches are not challenged");

    // Once final, the withdrawal is paid exactly once.
    sys.skip_time(sys.params.challenge_period_secs + 1).await;
    sys.until("batch 1 is final", 60, || async { l1.is_final(1).await.ok()?.then_some(()) }).await;
    sys.finalize_withdrawal(&verifier, user, 0).await.expect("paid");
    assert_eq!(sys.l1_balance(recipient).await, U256::from(ETH / 10));
    assert!(sys.finalize_withdrawal(&verifier, user, 0).await.is_err(), "never twice");
    assert_eq!(sys.l1_balance(recipient).await, U256::from(ETH / 10));
}

#[tokio::test]
async fn a_root_diverging_at_the_first_inbox_step_is_caught() {
    wrong_root_diverging_at("first-inbox", 0).await;
}

#[tokio::test]
async fn a_root_diverging_at_the_first_transaction_is_caught() {
    wrong_root_diverging_at("first-transaction", 1).await;
}

#[tokio::test]
async fn a_root_diverging_at_a_middle_step_is_caught() {
    wrong_root_diverging_at("middle", 3).await;
}

#[tokio::test]
async fn a_root_diverging_at_the_last_step_is_caught() {
    wrong_root_diverging_at("last", 5).await;
}

#[tokio::test]
async fn a_transfer_with_a_bad_signature_applied_is_caught() {
    let sys = System::start().await;
    let victim = 1;
    let fault = format!("bad-signature@0:{}", sys.address(victim));
    let seq = sys.sequencer(Some(&fault), 2, 3_000).await;
    sys.deposit_and_wait(&seq, victim, ETH).await;
    sys.submit(&seq, victim, transfer(Address::repeat_byte(0x10), 1_000, 0)).await;
    sys.submit(&seq, victim, transfer(Address::repeat_byte(0x11), 1_000, 1)).await;
    sys.until_batches(1).await;
    let l1 = sys.l1(SEQUENCER);
    assert_eq!(l1.batch(0).await.expect("batch 0").txCount, 3, "posted with a forged record");

    let verifier = sys.verifier("verifier", VERIFIER, None).await;
    // Steps: the deposit, two transfers, then the forged record (step 3).
    assert_caught(&sys, 0, 0, 3).await;
    l1.stake(sys.params.required_stake_wei).await.expect("stake again");
    sys.until_verifier_agrees(&verifier, 1).await;
    assert_eq!(l1.batch(0).await.expect("batch 0").txCount, 2, "re-posted without the forgery");
    let left = U256::from(ETH - 2 * 1_001);
    assert_eq!(sys.l2_balance(&seq, sys.address(victim), Address::ZERO).await, left);
    assert_eq!(sys.l2_balance(&seq, sys.address(SEQUENCER), Address::ZERO).await, U256::ZERO);
}

#[tokio::test]
async fn a_deposit_credited_twice_is_caught() {
    let sys = System::start().await;
    let seq = sys.sequencer(Some("double-deposit@0"), 1, 3_000).await;
    let _verifier = sys.verifier("verifier", VERIFIER, None).await;
    sys.deposit_and_wait(&seq, 1, ETH).await;
    sys.submit(&seq, 1, transfer(Address::repeat_byte(0x10), 1_000, 0)).await;
    // Steps: the deposit (step 0, credited twice in the claim), then the transfer.
    assert_caught(&sys, 0, 0, 0).await;
}

#[tokio::test]
async fn a_skipped_forced_withdrawal_is_caught_and_then_paid() {
    let sys = System::start().await;
    let seq = sys.sequencer(Some("skip-forced-withdrawal@1"), 10, 1_000).await;
    let verifier = sys.verifier("verifier", VERIFIER, None).await;
    let user = 1;
    sys.deposit_and_wait(&seq, user, ETH).await;
    sys.until_batches(1).await;
    let amount = 3 * ETH / 10;
    sys.l1(user).force_withdraw(Address::ZERO, amount).await.expect("forced withdrawal");
    // Batch 1 holds only the forced withdrawal; the claim skips it.
    assert_caught(&sys, 0, 1, 0).await;

    let l1 = sys.l1(SEQUENCER);
    l1.stake(sys.params.required_stake_wei).await.expect("stake again");
    sys.until_verifier_agrees(&verifier, 2).await;
    sys.skip_time(sys.params.challenge_period_secs + 1).await;
    sys.until("batch 1 is final", 60, || async { l1.is_final(1).await.ok()?.then_some(()) }).await;
    let before = sys.l1_balance(sys.address(user)).await;
    sys.finalize_withdrawal(&verifier, user, 0).await.expect("paid");
    let gained = sys.l1_balance(sys.address(user)).await - before;
    let gas_allowance = U256::from(ETH / 1_000);
    assert!(gained + gas_allowance > U256::from(amount), "paid {gained} of {amount}");
    assert_eq!(
        sys.l2_balance(&seq, sys.address(user), Address::ZERO).await,
        U256::from(ETH - amount)
    );
}
