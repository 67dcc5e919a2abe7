//! `keel_verifier::derive`: the rollup rebuilt from L1 data alone, as the `keel` CLI does with
//! `--from-l1`, against a real anvil and the real contracts with the test acting as the
//! sequencer. Its proof is paid on L1; a withdrawal behind a wrong root is refused. L1 time is
//! skipped only with anvil's `evm_increaseTime`/`evm_mine`.

mod common;

use alloy::{
    primitives::{Address, U256},
    providers::Provider,
};
use common::{withdraw, Net, ETH, ETHER};
use keel_verifier::derive::{
    derive_from_l1, withdrawal_count, withdrawal_proof, Finality, ProofError, DEFAULT_MAX_RANGE,
};

#[tokio::test]
async fn a_proof_rebuilt_from_l1_is_paid_and_a_withdrawal_behind_a_wrong_root_is_refused() {
    let mut net = Net::start().await;
    let recipient = Address::repeat_byte(0x1E);
    net.deposit(10 * ETHER).await;
    let (b0, root0) = net.seq.post_honest(net.sign(&[withdraw(recipient, ETHER, 0, 0)])).await;

    // Read one block per range, so the bounded reads and the stitching across them are used.
    let chain = derive_from_l1(&net.user, 1).await.expect("derives");
    assert_eq!((chain.batches().len(), chain.agreed_count()), (1, 1));
    assert_eq!(withdrawal_count(&chain), 1);
    let err = withdrawal_proof(&chain, 1).expect_err("not on L1 yet");
    assert!(matches!(err, ProofError::Unknown { index: 1, count: 1 }), "{err}");

    // The sequencer lies in the next batch, which holds withdrawal 1.
    let wrong = net.seq.post_wrong(net.sign(&[withdraw(recipient, 2 * ETHER, 0, 1)]), 1).await;
    let chain = derive_from_l1(&net.user, 1).await.expect("derives");
    assert_eq!((chain.batches().len(), chain.agreed_count()), (2, 1));
    let err = withdrawal_proof(&chain, 1).expect_err("behind a wrong root");
    let true_root = *wrong.honest.last().expect("roots");
    assert!(
        matches!(err, ProofError::WrongRoot { index: 1, batch: 1, computed, .. } if computed == true_root),
        "{err}"
    );
    assert!(err.to_string().contains("Do not finalize"), "{err}");

    // Withdrawal 0, in the batch before, is still proven under the root L1 holds.
    let proof = withdrawal_proof(&chain, 0).expect("proof");
    assert_eq!(
        (proof.batch, proof.state_root, proof.recipient, proof.token, proof.amount),
        (b0, root0, recipient, ETH, ETHER)
    );
    assert!(!proof.is_final);
    let deadline = net.l1.challenge_deadline(b0).await.expect("rpc");
    let now = net.l1.head_timestamp().await.expect("rpc");
    let err = proof.finality(deadline, now).expect_err("in its challenge period");
    assert!(matches!(err, ProofError::NotFinal { batch: 0, .. }), "{err}");

    // Past the deadline the batch can be finalized by anyone, then the proof is paid.
    net.skip_time(net.deployment.params.challenge_period_secs + 1).await;
    let now = net.l1.head_timestamp().await.expect("rpc");
    assert_eq!(proof.finality(deadline, now).expect("over"), Finality::PeriodOver);
    net.user.finalize_batches(b0).await.expect("finalize");
    let chain = derive_from_l1(&net.user, DEFAULT_MAX_RANGE).await.expect("derives");
    let proof = withdrawal_proof(&chain, 0).expect("proof");
    assert_eq!(proof.finality(deadline, now).expect("final"), Finality::Final);
    let before = net.user.provider().get_balance(recipient).await.expect("rpc");
    net.user
        .finalize_withdrawal(proof.batch, 0, recipient, ETH, proof.amount, proof.siblings)
        .await
        .expect("L1 accepts the proof rebuilt from L1");
    let after = net.user.provider().get_balance(recipient).await.expect("rpc");
    assert_eq!(after - before, U256::from(ETHER));
}
