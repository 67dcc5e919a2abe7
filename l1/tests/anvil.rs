//! The L1 crate against a real anvil and the real compiled contracts: deploy, deposit, append a
//! batch and read it back from L1 data, finalize and pay a withdrawal, and play a whole dispute
//! game that the honest challenger wins.

use alloy::{
    node_bindings::AnvilInstance,
    primitives::{Address, B256, U256},
    providers::{ext::AnvilApi, Provider},
    signers::local::PrivateKeySigner,
};
use keel_core::{
    dissection::{dissection_points, first_disputed_segment},
    keys::withdrawal_key,
    state::{execute_batch, step_roots, BatchSteps, MemoryState},
    tx::{Domain, Transaction, TxKind},
    txroot::TxTree,
    witness::prove_batch_step,
    Record,
};
use keel_l1::{
    client::RollupEvent, deploy, devnode::spawn_anvil, Deployment, GameStatus, L1Client,
    RollupParams,
};

const ETH: Address = Address::ZERO;

struct Net {
    _anvil: AnvilInstance,
    sequencer: L1Client,
    user: L1Client,
    challenger: L1Client,
    user_key: keel_core::tx::SecretKey,
    deployment: Deployment,
}

fn signer(anvil: &AnvilInstance, i: usize) -> PrivateKeySigner {
    PrivateKeySigner::from_bytes(&B256::from_slice(&anvil.keys()[i].to_bytes())).expect("key")
}

async fn setup() -> Net {
    let anvil = spawn_anvil(&[]).expect("anvil starts");
    let url = anvil.endpoint();
    let seq = signer(&anvil, 0);
    let provider = keel_l1::client::connect_http(&url, seq.clone()).expect("url");
    let params = RollupParams::devnet(1_000_001, seq.address(), Address::repeat_byte(0xFE));
    let deployment = deploy(&provider, &params).await.expect("deploys");
    let sequencer = L1Client::new(provider, seq.address(), deployment.clone());
    sequencer.stake(params.required_stake_wei).await.expect("stakes");
    let user_signer = signer(&anvil, 1);
    let user_key =
        keel_core::tx::SecretKey::from_byte_array(user_signer.to_bytes().0).expect("key");
    let user = L1Client::connect(&url, user_signer, deployment.clone()).expect("url");
    let challenger = L1Client::connect(&url, signer(&anvil, 2), deployment.clone()).expect("url");
    Net { _anvil: anvil, sequencer, user, challenger, user_key, deployment }
}

async fn skip_time(client: &L1Client, secs: u64) {
    client.provider().anvil_increase_time(secs).await.expect("anvil");
    client.provider().evm_mine(None).await.expect("anvil");
}

/// One deposit of 1 ETH for the user, then `records` signed by the user.
fn user_batch(
    net: &Net,
    deposit: keel_core::InboxEntry,
    txs: &[Transaction],
) -> (BatchSteps, Vec<Record>) {
    let domain = Domain::new(net.deployment.chain_config());
    let records: Vec<Record> = txs.iter().map(|t| domain.sign(t, &net.user_key)).collect();
    (BatchSteps { entries: vec![deposit], records: domain.prepare_all(&records) }, records)
}

fn transfer(kind: TxKind, to: Address, amount: u128, nonce: u64) -> Transaction {
    Transaction { kind, to, token: ETH, amount, fee: 1_000, nonce }
}

#[tokio::test]
async fn deposit_append_read_back_finalize_and_withdraw() {
    let net = setup().await;
    let user = net.user.account();
    let one_eth = U256::from(10u128.pow(18));
    assert_eq!(net.user.deposit_eth(user, one_eth).await.expect("deposit"), 0);

    let head = net.user.head().await.expect("rpc");
    let entries = net.user.inbox_entries(net.deployment.start_block, head).await.expect("inbox");
    assert_eq!(entries.len(), 1);
    let deposit = entries[0].entry;
    assert_eq!((deposit.recipient, deposit.token, deposit.amount), (user, ETH, 10u128.pow(18)));

    let l1_recipient = Address::repeat_byte(0x1E);
    let (batch, records) = user_batch(
        &net,
        deposit,
        &[
            transfer(TxKind::Transfer, Address::repeat_byte(0xB0), 10u128.pow(17), 0),
            transfer(TxKind::Withdraw, l1_recipient, 3 * 10u128.pow(17), 1),
        ],
    );
    let config = net.deployment.chain_config();
    let mut state = MemoryState::new();
    let exec = execute_batch(&config, &mut state, &batch).expect("mem");
    assert!(exec.outcomes.iter().all(|o| o.is_applied()));

    let (index, _) = net
        .sequencer
        .append_batch(&records, 1, exec.post_root, 0, B256::ZERO)
        .await
        .expect("append");
    assert_eq!(index, 0);

    // Read it back from L1 data alone.
    let head = net.user.head().await.expect("rpc");
    let events = net.user.rollup_events(net.deployment.start_block, head).await.expect("events");
    let [RollupEvent::Appended(posted)] = events.as_slice() else {
        panic!("one append: {events:?}")
    };
    assert_eq!(posted.records, records);
    assert_eq!(posted.tx_root, TxTree::new(&records).root());
    assert_eq!((posted.inbox_start, posted.inbox_end), (0, 1));
    assert_eq!(posted.post_state_root, exec.post_root);
    assert_eq!(posted.poster, net.sequencer.account());

    // Not final before the challenge period, final after.
    assert!(!net.user.is_final(0).await.expect("rpc"));
    skip_time(&net.user, net.deployment.params.challenge_period_secs + 1).await;
    net.user.finalize_batches(0).await.expect("finalize");
    assert!(net.user.is_final(0).await.expect("rpc"));

    // The withdrawal is paid once, with a proof from the state.
    let proof = state.tree().prove(&exec.post_root, &withdrawal_key(U256::ZERO)).expect("mem");
    let before = net.user.provider().get_balance(l1_recipient).await.expect("rpc");
    net.user
        .finalize_withdrawal(0, 0, l1_recipient, ETH, 3 * 10u128.pow(17), proof.siblings.clone())
        .await
        .expect("paid");
    let after = net.user.provider().get_balance(l1_recipient).await.expect("rpc");
    assert_eq!(after - before, U256::from(3 * 10u128.pow(17)));
    assert!(net.user.is_withdrawal_spent(0).await.expect("rpc"));
    assert!(net
        .user
        .finalize_withdrawal(0, 0, l1_recipient, ETH, 3 * 10u128.pow(17), proof.siblings)
        .await
        .is_err());
}

#[tokio::test]
async fn a_wrong_root_loses_its_game_and_the_batch_is_removed() {
    let net = setup().await;
    let user = net.user.account();
    net.user.deposit_eth(user, U256::from(10u128.pow(18))).await.expect("deposit");
    let head = net.user.head().await.expect("rpc");
    let deposit = net.user.inbox_entries(0, head).await.expect("inbox")[0].entry;
    let txs: Vec<Transaction> = (0..10)
        .map(|n| transfer(TxKind::Transfer, Address::repeat_byte(n as u8 + 1), 1_000, n))
        .collect();
    let (batch, records) = user_batch(&net, deposit, &txs);
    let config = net.deployment.chain_config();
    let genesis = MemoryState::new();
    let honest = step_roots(&config, genesis.tree().store(), B256::ZERO, &batch).expect("mem");
    let n = batch.len() as u64;

    // The dishonest sequencer's roots diverge from step 6 on.
    let diverge = 6u64;
    let claimed = |k: u64| if k < diverge { honest[k as usize] } else { B256::repeat_byte(0xBD) };
    net.sequencer.append_batch(&records, 1, claimed(n), 0, B256::ZERO).await.expect("append");

    let stake_before = net.sequencer.stake_of(net.sequencer.account()).await.expect("rpc");
    let poster = net.sequencer.account();
    let game = net.challenger.challenge(0, poster).await.expect("challenge");
    let degree = net.deployment.params.degree;
    let tx_tree = TxTree::new(&records);
    loop {
        let g = net.challenger.game(game).await.expect("rpc");
        match g.status {
            GameStatus::AsserterTurn => {
                let points = dissection_points(g.lo, g.hi, degree).expect("range");
                let roots = points.iter().map(|&p| claimed(p)).collect();
                net.sequencer.dissect(game, roots).await.expect("dissect");
            }
            GameStatus::ChallengerTurn if g.hi - g.lo == 1 => {
                let (_, proven) = prove_batch_step(
                    &config,
                    genesis.tree().store(),
                    B256::ZERO,
                    &batch,
                    &tx_tree,
                    g.lo as usize,
                )
                .expect("mem")
                .expect("step exists");
                assert_eq!(g.lo, diverge - 1, "the game narrows to the first wrong step");
                net.challenger.prove_step(game, proven.witness.abi_encode()).await.expect("prove");
            }
            GameStatus::ChallengerTurn => {
                let segment = first_disputed_segment(
                    g.lo,
                    g.hi,
                    degree,
                    &g.dissection_roots,
                    g.root_hi,
                    |k| honest[k as usize],
                )
                .expect("range")
                .expect("the challenger disagrees somewhere");
                net.challenger.select(game, segment).await.expect("select");
            }
            _ => break,
        }
    }
    let g = net.challenger.game(game).await.expect("rpc");
    assert_eq!(g.status, GameStatus::ChallengerWon);
    // The poster is out, but the batch stays for the defence window after the challenge, in
    // which anybody who agrees with it could still bond to defend it.
    assert_eq!(net.sequencer.batch_count().await.expect("rpc"), 1, "removed inside the window");
    assert!(net.challenger.remove_defeated(0).await.is_err(), "the window is still open");
    skip_time(&net.challenger, net.deployment.params.move_timeout_secs).await;
    net.challenger.remove_defeated(0).await.expect("remove the defeated batch");
    assert_eq!(net.sequencer.batch_count().await.expect("rpc"), 0, "the batch is removed");
    assert_eq!(net.sequencer.next_inbox_start().await.expect("rpc"), 0, "the inbox rewinds");
    assert_eq!(net.sequencer.stake_of(net.sequencer.account()).await.expect("rpc"), U256::ZERO);
    let bond = net.deployment.params.challenge_bond_wei;
    let share =
        stake_before * U256::from(net.deployment.params.challenger_share_bps) / U256::from(10_000);
    // The reward is escrowed until the batches before the removed one are final (none here).
    let slashes = net.challenger.open_slashes().await.expect("rpc");
    assert_eq!(slashes.len(), 1);
    assert_eq!((slashes[0].beneficiary, slashes[0].amount), (net.challenger.account(), share));
    assert_eq!(net.challenger.credits(net.challenger.account()).await.expect("rpc"), bond);
    net.challenger.settle_slash(slashes[0].id).await.expect("settle");
    assert_eq!(net.challenger.credits(net.challenger.account()).await.expect("rpc"), bond + share);
}

/// A batch whose roots follow from the genesis state: one deposit, no records.
async fn inbox_only_batch(net: &Net) -> (u64, B256) {
    let user = net.user.account();
    let index = net.user.deposit_eth(user, U256::from(1_000u64)).await.expect("deposit");
    let head = net.user.head().await.expect("rpc");
    let entries = net.user.inbox_entries(net.deployment.start_block, head).await.expect("inbox");
    let steps = BatchSteps { entries: vec![entries[index as usize].entry], records: vec![] };
    let mut state = MemoryState::new();
    let root =
        execute_batch(&net.deployment.chain_config(), &mut state, &steps).expect("mem").post_root;
    (index + 1, root)
}

/// The poster's crash race made deterministic: a posting is pending (automine off) when a
/// restarted poster posts the same batch again. The second attempt replaces the first at the
/// same nonce (raising the bid by the node's minimum instead of failing as "already known"),
/// exactly one batch lands, at the index both were meant for; and a posting meant for an index
/// L1 has moved past is refused before anything is sent.
#[tokio::test]
async fn a_posting_pending_at_a_restart_is_replaced_and_lands_once() {
    let net = setup().await;
    let (inbox_end, root) = inbox_only_batch(&net).await;
    let provider = net.sequencer.provider().clone();
    provider.anvil_set_auto_mine(false).await.expect("anvil");

    let first = net.sequencer.clone();
    let pending =
        tokio::spawn(async move { first.append_batch(&[], inbox_end, root, 0, B256::ZERO).await });
    // Wait until the first posting is in the pool.
    let account = net.sequencer.account();
    for _ in 0..100 {
        let (mined, pooled) = (
            provider.get_transaction_count(account).latest().await.expect("rpc"),
            provider.get_transaction_count(account).pending().await.expect("rpc"),
        );
        if pooled > mined {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // The "restarted" poster: a new client with the same key and no memory of the first.
    let restarted = L1Client::new(provider.clone(), account, net.deployment.clone());
    let mining = {
        let provider = provider.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
            provider.evm_mine(None).await.expect("mine");
        })
    };
    let (index, _) =
        restarted.append_batch(&[], inbox_end, root, 0, B256::ZERO).await.expect("lands");
    mining.await.expect("miner");
    assert_eq!(index, 0);
    match pending.await.expect("task") {
        Ok((i, _)) => assert_eq!(i, 0),
        Err(keel_l1::L1Error::NonceTaken { .. }) => {}
        Err(e) => panic!("the first attempt ended with {e}"),
    }
    provider.anvil_set_auto_mine(true).await.expect("anvil");
    assert_eq!(net.sequencer.batch_count().await.expect("rpc"), 1, "the batch landed once");

    // The same posting again (a third process, or the first one retrying): L1 is at index 1,
    // so it is refused and nothing lands at index 1.
    let again = net.sequencer.append_batch(&[], inbox_end, root, 0, B256::ZERO).await;
    assert!(again.is_err(), "a posting for a past index must not land");
    // Meant for index 1 but computed on another tip: refused too.
    let stale_tip = net.sequencer.append_batch(&[], inbox_end, root, 1, B256::ZERO).await;
    assert!(stale_tip.is_err(), "a posting on a stale tip must not land");
    assert_eq!(net.sequencer.batch_count().await.expect("rpc"), 1);
}

/// Two postings in flight and an L1 revert between them: after the revert L1 is back at index
/// 0, and the posting meant for index 1 can no longer land there.
#[tokio::test]
async fn a_posting_meant_for_a_reverted_tip_cannot_land_at_another_index() {
    let net = setup().await;
    let (inbox_end, root) = inbox_only_batch(&net).await;
    let provider = net.sequencer.provider().clone();
    let snapshot = provider.anvil_snapshot().await.expect("snapshot");
    let (i0, _) = net.sequencer.append_batch(&[], inbox_end, root, 0, B256::ZERO).await.expect("0");
    assert_eq!(i0, 0);
    // A second, empty-inbox batch cannot exist (EmptyBatch); post one with a record instead.
    let domain = Domain::new(net.deployment.chain_config());
    let record =
        domain.sign(&transfer(TxKind::Transfer, Address::repeat_byte(9), 1, 0), &net.user_key);
    let (i1, _) = net.sequencer.append_batch(&[record], inbox_end, root, 1, root).await.expect("1");
    assert_eq!(i1, 1);
    assert!(provider.anvil_revert(snapshot).await.expect("revert"));
    provider.evm_mine(None).await.expect("mine");
    assert_eq!(net.sequencer.batch_count().await.expect("rpc"), 0);
    // Batch 1 re-sent before batch 0 (the order a confused poster might use) is refused.
    assert!(net.sequencer.append_batch(&[record], inbox_end, root, 1, root).await.is_err());
    assert_eq!(net.sequencer.batch_count().await.expect("rpc"), 0);
}

/// The poster's fee bid on a quiet L1, where every block holds only its own postings: 200
/// postings in a row all bid the configured tip, never more than the configured max fee, and
/// the spend the client counts is what the receipts paid. (A bid that follows recent blocks'
/// tips, as a fee-history estimate does, fed on its own postings and doubled every ~5 of them.)
#[tokio::test]
async fn two_hundred_postings_on_a_quiet_l1_keep_their_bid_within_the_bound() {
    use alloy::consensus::Transaction as _;
    let net = setup().await;
    let policy = keel_l1::client::FeePolicy {
        tip: 2 * keel_l1::client::GWEI,
        max_tip: 3 * keel_l1::client::GWEI,
        max_fee_per_gas: 50 * keel_l1::client::GWEI,
        ..keel_l1::client::FeePolicy::default()
    };
    let poster = net.sequencer.clone().with_fee_policy(policy);
    let provider = poster.provider().clone();
    let domain = Domain::new(net.deployment.chain_config());
    // The clone shares the account's spend, which already holds the stake transaction.
    let (mut pre_root, mut paid, spent_before) = (B256::ZERO, 0u128, poster.spent_wei());
    for i in 0..200u64 {
        let record =
            domain.sign(&transfer(TxKind::Transfer, Address::repeat_byte(9), 1, i), &net.user_key);
        let root = B256::from(U256::from(i + 1));
        let (index, receipt) =
            poster.append_batch(&[record], 0, root, i, pre_root).await.expect("posts");
        assert_eq!(index, i);
        let tx = provider
            .get_transaction_by_hash(receipt.transaction_hash)
            .await
            .expect("rpc")
            .expect("the posting is known");
        let (max_fee, tip) = (tx.max_fee_per_gas(), tx.max_priority_fee_per_gas());
        assert_eq!(tip, Some(policy.tip), "posting {i} bid the configured tip");
        assert!(max_fee <= policy.max_fee_per_gas, "posting {i} bid {max_fee} > the max fee");
        paid += u128::from(receipt.gas_used) * receipt.effective_gas_price;
        pre_root = root;
    }
    assert_eq!(
        poster.spent_wei() - spent_before,
        paid,
        "the counted spend is what the receipts paid"
    );
}
