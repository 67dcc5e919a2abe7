//! A reorg deeper than the verifier's confirmations while it runs (anvil snapshot and revert,
//! then a different deposit and batch on the new branch): the verifier finds that a block it
//! read is gone, deletes what it derived after the fork, derives the new branch, and agrees with
//! it; a restart on the same database stays on the new branch.

mod common;

use alloy::{primitives::Address, providers::ext::AnvilApi};
use common::{eventually, transfer, Api, Net, Sequencer, ETHER};
use keel_store::Ledger;
use serde_json::json;

#[tokio::test]
async fn a_reorg_deeper_than_the_confirmations_is_rewound_and_the_new_branch_derived() {
    let mut net = Net::start().await;
    let verifier = net.verifier().await;
    let api = Api::new(verifier.addr);
    let provider = net.l1.provider().clone();
    let fork = provider.anvil_snapshot().await.expect("snapshot");

    // The old branch: a deposit of 1 ETH and two batches, both agreed.
    net.deposit(ETHER).await;
    let (_, old_root) =
        net.seq.post_honest(net.sign(&[transfer(Address::repeat_byte(9), 5, 1, 0)])).await;
    net.seq.post_honest(net.sign(&[transfer(Address::repeat_byte(9), 5, 1, 1)])).await;
    api.agreed_through(1).await;
    let old_head = net.l1.head().await.expect("rpc");

    // L1 reorganizes onto a branch from before the deposit: 2 ETH instead, one other batch, and
    // more blocks than the old branch had, so every height the verifier read exists again.
    assert!(provider.anvil_revert(fork).await.expect("revert"));
    net.seq = Sequencer::new(net.l1.clone());
    net.deposit(2 * ETHER).await;
    let (_, new_root) =
        net.seq.post_honest(net.sign(&[transfer(Address::repeat_byte(8), 7, 1, 0)])).await;
    while net.l1.head().await.expect("rpc") <= old_head + 1 {
        provider.evm_mine(None).await.expect("mine");
    }
    assert_ne!(old_root, new_root);

    eventually(30, || async {
        let s = api.status().await;
        (s["batches"]["onL1"] == 1 && s["batches"]["agreedUpTo"] == 0).then_some(())
    })
    .await;
    let (_, b) = api.get("/v1/batches/0").await;
    assert_eq!(b["postStateRoot"], json!(new_root), "{b}");
    assert_eq!(b["verdict"], "agreed");
    let (status, _) = api.get("/v1/batches/1").await;
    assert_eq!(status, 404, "the old branch's second batch is gone");
    let metrics = api.text("/metrics").await;
    assert!(metrics.contains("keel_verifier_l1_reorgs_total 1"), "{metrics}");

    // The store holds the new branch only.
    let ledger = Ledger::connect(&net.database_url).await.expect("db");
    let inbox = ledger.inbox_entries_from(0).await.expect("inbox");
    assert_eq!(inbox.iter().map(|e| e.entry.amount).collect::<Vec<_>>(), vec![2 * ETHER]);
    let roots: Vec<_> =
        ledger.batches(0, 10).await.expect("batches").iter().map(|b| b.post_root).collect();
    assert_eq!(roots, vec![Some(new_root)]);

    // Restarted on that database, it stays there and follows on.
    verifier.shutdown().await;
    let verifier = net.verifier().await;
    let api = Api::new(verifier.addr);
    net.seq.post_honest(net.sign(&[transfer(Address::repeat_byte(8), 7, 1, 1)])).await;
    api.agreed_through(1).await;
    let s = api.status().await;
    assert_eq!(s["batches"]["onL1"], 2);
    assert!(s["firstMismatch"].is_null(), "{s}");
    verifier.shutdown().await;
}
