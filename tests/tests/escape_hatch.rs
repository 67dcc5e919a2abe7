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
