//! The honest path with the real binaries: deposits of ETH and of an ERC-20, transfers of both,
//! a withdrawal of each; the batches become final; `finalizeWithdrawal` pays on L1 with proofs
//! from the verifier; the verifier agreed with every root and nobody challenged.

use alloy::primitives::{Address, U256};
use keel_core::tx::{Transaction, TxKind};
use keel_e2e::{transfer, withdraw, System, ETH, SEQUENCER, VERIFIER};
use keel_l1::{client::connect_http, devnode};

#[tokio::test]
async fn deposits_transfers_and_withdrawals_of_eth_and_an_erc20_are_paid_on_l1() {
    let sys = System::start().await;
    let seq = sys.sequencer(None, 800, 1_000).await;
    let verifier = sys.verifier("verifier", VERIFIER, None).await;
    let (alice, bob, carol) = (1, 2, 3);
    let (eth_out, token_out) = (Address::repeat_byte(0xA1), Address::repeat_byte(0xA2));

    // An ERC-20 on L1: Bob gets 1,000 tokens, approves the Bridge and deposits 600.
    let provider = connect_http(&sys.anvil.endpoint(), sys.signer(bob)).expect("url");
    let token = devnode::deploy_dev_token(&provider, "Dev", "DEV").await.expect("token");
    devnode::mint_dev_token(&provider, token, sys.address(bob), U256::from(1_000))
        .await
        .expect("mint");
    let bob_l1 = sys.l1(bob);
    bob_l1.approve_bridge(token, U256::from(600)).await.expect("approve");
    bob_l1.deposit_erc20(token, sys.address(bob), U256::from(600)).await.expect("deposit");
    sys.deposit_and_wait(&seq, alice, ETH).await;
    sys.until("the token deposit is credited", 60, || async {
        (sys.l2_balance(&seq, sys.address(bob), token).await == U256::from(600)).then_some(())
    })
    .await;
    assert_eq!(
        sys.l1(bob).erc20_balance(token, sys.address(bob)).await.expect("rpc"),
        U256::from(400)
    );

    // Transfers of both, then a withdrawal of each (fees are paid in the token moved).
    let carol_addr = sys.address(carol);
    sys.submit(&seq, alice, transfer(carol_addr, 5_000, 0)).await;
    let token_tx = |kind, to, amount, nonce| Transaction { kind, to, token, amount, fee: 2, nonce };
    sys.submit(&seq, bob, token_tx(TxKind::Transfer, carol_addr, 100, 0)).await;
    sys.submit(&seq, alice, withdraw(eth_out, ETH / 4, 1)).await;
    let last = sys.submit(&seq, bob, token_tx(TxKind::Withdraw, token_out, 250, 1)).await;
    assert_eq!(sys.l2_balance(&seq, carol_addr, Address::ZERO).await, U256::from(5_000));
    assert_eq!(sys.l2_balance(&seq, carol_addr, token).await, U256::from(100));
    assert_eq!(sys.l2_balance(&seq, sys.address(bob), token).await, U256::from(600 - 102 - 252));
    assert_eq!(
        sys.l2_balance(&seq, sys.address(alice), Address::ZERO).await,
        U256::from(ETH - 5_001 - ETH / 4 - 1)
    );

    // Posted, verified, final, paid.
    let l1 = sys.l1(SEQUENCER);
    let last_batch = last["batch"].as_u64().expect("batch");
    sys.until_batches(last_batch + 1).await;
    let count = l1.batch_count().await.expect("rpc");
    sys.until_verifier_agrees(&verifier, count).await;
    sys.skip_time(sys.params.challenge_period_secs + 1).await;
    sys.until("every batch is final", 60, || async {
        l1.is_final(count - 1).await.ok()?.then_some(())
    })
    .await;
    sys.until_verifier_agrees(&verifier, count).await;
    sys.finalize_withdrawal(&verifier, alice, 0).await.expect("ETH paid");
    sys.finalize_withdrawal(&verifier, bob, 1).await.expect("token paid");
    assert_eq!(sys.l1_balance(eth_out).await, U256::from(ETH / 4));
    assert_eq!(sys.l1(bob).erc20_balance(token, token_out).await.expect("rpc"), U256::from(250));
    assert!(sys.finalize_withdrawal(&verifier, alice, 0).await.is_err(), "never twice");
    assert_eq!(l1.game_count().await.expect("rpc"), 0, "nobody challenged an honest batch");
}
