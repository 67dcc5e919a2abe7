//! A reorg deeper than the sequencer's confirmations while it runs: the deposit it consumed and
//! posted is gone from L1, and another deposit took its inbox index on the new branch. The
//! sequencer finds the replaced entry, asks to realign, and (restarted, as the binary does in
//! place) follows the new branch: the old deposit is no longer credited, the new one is, and L1
//! holds the sequencer's batch of the new branch.

mod common;

use alloy::{primitives::U256, providers::ext::AnvilApi};
use common::{Api, Net};
use keel_store::Ledger;

const ETH: u128 = 1_000_000_000_000_000_000;

#[tokio::test]
async fn a_consumed_deposit_reorged_away_is_replaced_by_the_new_branch() {
    let net = Net::start().await;
    let provider = net.sequencer_l1.provider().clone();
    let fork = provider.anvil_snapshot().await.expect("snapshot");
    let seq = net.sequencer().await;
    let api = Api::new(seq.addr);
    let (old, new) = (net.user(1), net.user(2));
    old.deposit_eth(old.account(), U256::from(ETH)).await.expect("deposit");
    api.eventually(30, || async {
        (api.balance(old.account()).await == U256::from(ETH)).then_some(())
    })
    .await;
    api.eventually(30, || async {
        (net.sequencer_l1.batch_count().await.ok()? >= 1).then_some(())
    })
    .await;

    // The new branch: the first deposit never happened; 2 ETH to another account instead.
    assert!(provider.anvil_revert(fork).await.expect("revert"));
    new.deposit_eth(new.account(), U256::from(2 * ETH)).await.expect("deposit");
    provider.evm_mine(None).await.expect("mine");
    tokio::time::timeout(std::time::Duration::from_secs(60), seq.realign_requested())
        .await
        .expect("the sequencer asks to realign with L1");
    seq.shutdown().await;

    let seq = net.sequencer().await;
    let api = Api::new(seq.addr);
    api.eventually(30, || async {
        (api.balance(new.account()).await == U256::from(2 * ETH)).then_some(())
    })
    .await;
    assert_eq!(api.balance(old.account()).await, U256::ZERO, "the reorged deposit is gone");
    let ledger = Ledger::connect(&net.database_url).await.expect("db");
    let inbox = ledger.inbox_entries_from(0).await.expect("inbox");
    assert_eq!(inbox.iter().map(|e| e.entry.amount).collect::<Vec<_>>(), vec![2 * ETH]);
    api.eventually(30, || async {
        let on_l1 = net.sequencer_l1.batch_count().await.ok()?;
        let contents = ledger.load().await.ok()?;
        let ours = contents.batches.first()?.post_root?;
        (on_l1 >= 1 && net.sequencer_l1.batch(0).await.ok()?.postStateRoot == ours).then_some(())
    })
    .await;
    seq.shutdown().await;
}
