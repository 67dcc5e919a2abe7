//! The STF's rules, checked on balances and nonces, and the agreement of its three executions:
//! the hot in-memory state, the step-by-step replay through the tree, and the prover's view that
//! consumes witnesses.

use alloy_primitives::{Address, B256, U256};
use keel_core::{
    config::ChainConfig,
    keys::{balance_key, nonce_key, withdrawal_count_key, withdrawal_key, withdrawal_value},
    state::{execute_batch, step_roots, BatchSteps, MemoryState},
    stf::{apply_step, InboxEntry, InboxKind, NoOpReason, Outcome, Step},
    tx::{address_of, Domain, Record, Transaction, TxKind},
    txroot::TxTree,
    witness::{execute_witness, prove_batch_step},
};
use proptest::prelude::*;
use secp256k1::SecretKey;

const ETH: Address = Address::ZERO;

fn key(n: u8) -> SecretKey {
    let mut b = [0u8; 32];
    b[31] = n;
    SecretKey::from_byte_array(b).expect("valid key")
}

fn domain() -> Domain {
    Domain::new(ChainConfig {
        l2_chain_id: 9,
        rollup_address: Address::repeat_byte(0xAB),
        fee_recipient: address_of(&key(9)),
    })
}

fn deposit(to: Address, amount: u128) -> InboxEntry {
    InboxEntry { kind: InboxKind::Deposit, sender: to, recipient: to, token: ETH, amount }
}

fn balance(s: &MemoryState, who: Address) -> U256 {
    U256::from_be_bytes(s.value(&balance_key(&who, &ETH)).0)
}

fn nonce(s: &MemoryState, who: Address) -> U256 {
    U256::from_be_bytes(s.value(&nonce_key(&who)).0)
}

fn apply(d: &Domain, s: &mut MemoryState, record: Record) -> Outcome {
    let p = d.prepare(record);
    let Ok(o) = apply_step(d.config(), Step::Record(&p), s);
    o
}

fn transfer(to: Address, amount: u128, fee: u128, nonce: u64) -> Transaction {
    Transaction { kind: TxKind::Transfer, to, token: ETH, amount, fee, nonce }
}

#[test]
fn transfer_moves_amount_and_fee_and_bumps_nonce() {
    let d = domain();
    let (alice, bob, fee) = (address_of(&key(1)), address_of(&key(2)), d.config().fee_recipient);
    let mut s = MemoryState::new();
    let Ok(_) = apply_step(d.config(), Step::Inbox(&deposit(alice, 100)), &mut s);
    assert_eq!(apply(&d, &mut s, d.sign(&transfer(bob, 60, 3, 0), &key(1))), Outcome::Applied);
    assert_eq!(balance(&s, alice), U256::from(37));
    assert_eq!(balance(&s, bob), U256::from(60));
    assert_eq!(balance(&s, fee), U256::from(3));
    assert_eq!(nonce(&s, alice), U256::from(1));
    // Replaying the same record is a no-op: the nonce moved on.
    let root = s.commit().expect("mem");
    assert_eq!(
        apply(&d, &mut s, d.sign(&transfer(bob, 60, 3, 0), &key(1))),
        Outcome::NoOp(NoOpReason::BadNonce { expected: U256::from(1), got: 0 })
    );
    assert!(!s.has_pending());
    assert_eq!(s.commit().expect("mem"), root);
}

#[test]
fn insufficient_balance_changes_nothing_and_reports_what_is_available() {
    let d = domain();
    let alice = address_of(&key(1));
    let mut s = MemoryState::new();
    let Ok(_) = apply_step(d.config(), Step::Inbox(&deposit(alice, 10)), &mut s);
    let root = s.commit().expect("mem");
    let out = apply(&d, &mut s, d.sign(&transfer(alice, 10, 1, 0), &key(1)));
    assert_eq!(
        out,
        Outcome::NoOp(NoOpReason::InsufficientBalance {
            available: U256::from(10),
            required: U256::from(11)
        })
    );
    assert_eq!(s.commit().expect("mem"), root);
    assert_eq!(nonce(&s, alice), U256::ZERO);
}

#[test]
fn self_transfer_only_costs_the_fee() {
    let d = domain();
    let alice = address_of(&key(1));
    let mut s = MemoryState::new();
    let Ok(_) = apply_step(d.config(), Step::Inbox(&deposit(alice, 10)), &mut s);
    assert_eq!(apply(&d, &mut s, d.sign(&transfer(alice, 9, 1, 0), &key(1))), Outcome::Applied);
    assert_eq!(balance(&s, alice), U256::from(9));
}

#[test]
fn withdraw_and_forced_withdrawal_append_withdrawals_in_order() {
    let d = domain();
    let alice = address_of(&key(1));
    let l1 = Address::repeat_byte(0x1E);
    let mut s = MemoryState::new();
    let Ok(_) = apply_step(d.config(), Step::Inbox(&deposit(alice, 100)), &mut s);
    let w =
        Transaction { kind: TxKind::Withdraw, to: l1, token: ETH, amount: 40, fee: 2, nonce: 0 };
    assert_eq!(apply(&d, &mut s, d.sign(&w, &key(1))), Outcome::Applied);
    let forced = InboxEntry {
        kind: InboxKind::ForcedWithdrawal,
        sender: alice,
        recipient: alice,
        token: ETH,
        amount: 50,
    };
    let Ok(o) = apply_step(d.config(), Step::Inbox(&forced), &mut s);
    assert_eq!(o, Outcome::Applied);
    assert_eq!(balance(&s, alice), U256::from(8));
    assert_eq!(s.value(&withdrawal_count_key()), B256::from(U256::from(2)));
    assert_eq!(s.value(&withdrawal_key(U256::ZERO)), withdrawal_value(&l1, &ETH, 40));
    assert_eq!(s.value(&withdrawal_key(U256::from(1))), withdrawal_value(&alice, &ETH, 50));
    // A forced withdrawal the balance does not cover does nothing, nonce untouched.
    let Ok(o) = apply_step(d.config(), Step::Inbox(&InboxEntry { amount: 9, ..forced }), &mut s);
    assert!(!o.is_applied());
    assert_eq!(nonce(&s, alice), U256::from(1));
}

#[derive(Clone, Debug)]
enum Op {
    Deposit { to: u8, amount: u128 },
    Forced { who: u8, amount: u128 },
    Transfer { from: u8, to: u8, amount: u128, fee: u128, nonce_skew: u8, kind: bool },
    Garbage { byte: u8, at: usize },
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..6, 0u128..1_000).prop_map(|(to, amount)| Op::Deposit { to, amount }),
        (0u8..6, 0u128..500).prop_map(|(who, amount)| Op::Forced { who, amount }),
        (0u8..6, 0u8..7, 0u128..400, 0u128..5, 0u8..4, any::<bool>()).prop_map(
            |(from, to, amount, fee, nonce_skew, kind)| Op::Transfer {
                from,
                to,
                amount,
                fee,
                nonce_skew,
                kind
            }
        ),
        (any::<u8>(), 0usize..146).prop_map(|(byte, at)| Op::Garbage { byte, at }),
    ]
}

/// Turn ops into two batches (entries first within each batch, as the protocol orders steps).
fn build(d: &Domain, ops: &[Op]) -> Vec<BatchSteps> {
    let addr = |i: u8| address_of(&key(i + 1));
    let mut nonces = [0u64; 7];
    let mut batches = vec![BatchSteps::default(), BatchSteps::default()];
    let mut records: Vec<Vec<Record>> = vec![vec![], vec![]];
    for (i, op) in ops.iter().enumerate() {
        let b = i % 2;
        match *op {
            Op::Deposit { to, amount } => batches[b].entries.push(deposit(addr(to), amount)),
            Op::Forced { who, amount } => batches[b].entries.push(InboxEntry {
                kind: InboxKind::ForcedWithdrawal,
                sender: addr(who),
                recipient: addr(who),
                token: ETH,
                amount,
            }),
            Op::Transfer { from, to, amount, fee, nonce_skew, kind } => {
                let n = nonces[from as usize] + u64::from(nonce_skew == 3);
                let t = Transaction {
                    kind: if kind { TxKind::Transfer } else { TxKind::Withdraw },
                    to: addr(to),
                    token: ETH,
                    amount,
                    fee,
                    nonce: n,
                };
                records[b].push(d.sign(&t, &key(from + 1)));
                nonces[from as usize] += 1;
            }
            Op::Garbage { byte, at } => {
                let mut r = d.sign(&transfer(addr(0), 1, 0, 0), &key(1));
                r.0[at] ^= byte.max(1);
                records[b].push(r);
            }
        }
    }
    for (b, recs) in records.iter().enumerate() {
        batches[b].records = d.prepare_all(recs);
    }
    batches
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// For random batches (valid, invalid and garbage steps): the hot state's batch root equals
    /// the replayed `R_n`, and for every step the witness produced from `R_k` executes, in the
    /// prover's view, to exactly `R_{k+1}` with the same outcome.
    #[test]
    fn three_executions_agree(ops in proptest::collection::vec(arb_op(), 1..24)) {
        let d = domain();
        let config = *d.config();
        let mut state = MemoryState::new();
        for batch in build(&d, &ops) {
            if batch.is_empty() {
                continue;
            }
            let pre = state.committed_root();
            let roots = step_roots(&config, state.tree().store(), pre, &batch).expect("mem");
            let records: Vec<Record> = batch.records.iter().map(|p| p.record).collect();
            let tx_tree = TxTree::new(&records);
            let mut outcomes = Vec::new();
            for k in 0..batch.len() {
                let (context, proven) = prove_batch_step(&config, state.tree().store(), pre, &batch, &tx_tree, k)
                    .expect("mem")
                    .expect("step exists");
                prop_assert_eq!(proven.root_after, roots[k + 1]);
                let (root, outcome) = execute_witness(&config, &context, roots[k], &proven.witness)
                    .expect("an honest witness verifies");
                prop_assert_eq!(root, roots[k + 1]);
                prop_assert_eq!(outcome, proven.outcome);
                outcomes.push(outcome);
            }
            let exec = execute_batch(&config, &mut state, &batch).expect("mem");
            prop_assert_eq!(exec.post_root, roots[batch.len()]);
            prop_assert_eq!(exec.outcomes, outcomes);
        }
    }
}
