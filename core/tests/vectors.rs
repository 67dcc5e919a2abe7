//! The shared test vectors in `tests/vectors/`: generated here, checked here against the Rust
//! core, and read by the forge tests of the contracts.
//!
//! `cargo test -p keel-core --test vectors` fails if a committed file differs from what the
//! generator produces. To regenerate after a deliberate protocol change:
//!
//! ```text
//! KEEL_WRITE_VECTORS=1 cargo test -p keel-core --test vectors
//! ```

use std::{collections::BTreeSet, path::PathBuf};

use alloy_primitives::{hex, Address, B256, U256};
use alloy_sol_types::SolValue;
use keel_core::{
    config::ChainConfig,
    keys,
    smt::{MemoryNodeStore, SparseMerkleTree},
    state::{execute_batch, step_roots, BatchSteps, MemoryState},
    stf::{InboxEntry, InboxKind, Step},
    tx::{
        address_of, Domain, PreparedRecord, Record, RecordError, Transaction, TxKind, SECP256K1_N,
    },
    txroot::TxTree,
    witness::{
        execute_witness, proof_to_abi, prove_batch_step, prove_step, StepContext, StepWitness,
        WitnessError,
    },
};
use secp256k1::SecretKey;
use serde_json::{json, Value};

const ETH: Address = Address::ZERO;

fn token() -> Address {
    Address::repeat_byte(0x70)
}

fn key(n: u8) -> SecretKey {
    let mut b = [0u8; 32];
    b[31] = n;
    SecretKey::from_byte_array(b).expect("small keys are valid")
}

fn config() -> ChainConfig {
    ChainConfig {
        l2_chain_id: 1_000_001,
        rollup_address: "0x4b65656C00000000000000000000000000000001".parse().expect("address"),
        fee_recipient: address_of(&key(15)),
    }
}

fn hexs(b: impl AsRef<[u8]>) -> String {
    hex::encode_prefixed(b)
}

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors")
}

fn config_json(c: &ChainConfig) -> Value {
    json!({
        "l2ChainId": c.l2_chain_id,
        "rollup": c.rollup_address.to_checksum(None),
        "feeRecipient": c.fee_recipient.to_checksum(None),
    })
}

struct Accounts {
    alice: SecretKey,
    bob: SecretKey,
    fee: SecretKey,
}

fn accounts() -> Accounts {
    Accounts { alice: key(1), bob: key(2), fee: key(15) }
}

fn deposit(to: Address, token: Address, amount: u128) -> InboxEntry {
    InboxEntry {
        kind: InboxKind::Deposit,
        sender: Address::repeat_byte(0xD0),
        recipient: to,
        token,
        amount,
    }
}

fn tx(
    kind: TxKind,
    to: Address,
    token: Address,
    amount: u128,
    fee: u128,
    nonce: u64,
) -> Transaction {
    Transaction { kind, to, token, amount, fee, nonce }
}

/// The state every step vector starts from: a few funded accounts, alice and the fee recipient
/// at nonce 1, bob holding 310, one withdrawal already appended, and enough other leaves that proofs have real depth.
fn base_state(domain: &Domain) -> MemoryState {
    let a = accounts();
    let (alice, bob, fee) = (address_of(&a.alice), address_of(&a.bob), address_of(&a.fee));
    let mut entries = vec![
        deposit(alice, ETH, 1_000_000),
        deposit(alice, token(), 5_000),
        deposit(bob, ETH, 300),
        deposit(fee, ETH, 777),
    ];
    for i in 0..61u8 {
        entries.push(deposit(
            Address::repeat_byte(i.wrapping_mul(37).wrapping_add(11)),
            ETH,
            u128::from(i) + 1,
        ));
    }
    let records = vec![
        domain.sign(&tx(TxKind::Transfer, bob, ETH, 10, 1, 0), &a.alice),
        domain.sign(&tx(TxKind::Withdraw, fee, ETH, 5, 0, 0), &a.fee),
    ];
    let batch = BatchSteps { entries, records: domain.prepare_all(&records) };
    let mut state = MemoryState::new();
    let exec = execute_batch(domain.config(), &mut state, &batch).expect("memory tree");
    assert!(exec.outcomes.iter().all(|o| o.is_applied()));
    state
}

enum Case {
    Inbox(InboxEntry),
    Record(Record),
}

fn tamper(record: Record, f: impl FnOnce(&mut [u8; 146])) -> Record {
    let mut r = record;
    f(&mut r.0);
    r
}

/// A record whose `r` is not the x-coordinate of any curve point, so recovery fails.
fn unrecoverable(domain: &Domain, record: Record) -> Record {
    for x in 1u64.. {
        let r = tamper(record, |b| b[81..113].copy_from_slice(&U256::from(x).to_be_bytes::<32>()));
        if matches!(domain.prepare(r).sender, Err(RecordError::RecoveryFailed)) {
            return r;
        }
    }
    unreachable!("half of all x values are not on the curve")
}

fn step_cases(domain: &Domain) -> Vec<(&'static str, Case, &'static str)> {
    let a = accounts();
    let (alice, bob, fee) = (address_of(&a.alice), address_of(&a.bob), address_of(&a.fee));
    let fresh = Address::repeat_byte(0xCA);
    let l1 = Address::repeat_byte(0x1E);
    let sign = |t: Transaction, k: &SecretKey| domain.sign(&t, k);
    let valid = sign(tx(TxKind::Transfer, bob, ETH, 100, 1, 1), &a.alice);
    let other_chain = Domain::new(ChainConfig { l2_chain_id: 1, ..*domain.config() });
    use Case::{Inbox, Record as Rec};
    vec![
        ("deposit_fresh", Inbox(deposit(fresh, ETH, 42)), "applied"),
        ("deposit_existing", Inbox(deposit(alice, ETH, 42)), "applied"),
        ("deposit_zero", Inbox(deposit(alice, ETH, 0)), "applied"),
        ("deposit_erc20_fresh_token", Inbox(deposit(bob, token(), 9)), "applied"),
        ("deposit_max_amount", Inbox(deposit(fresh, token(), u128::MAX)), "applied"),
        (
            "forced_withdrawal_covered",
            Inbox(InboxEntry {
                kind: InboxKind::ForcedWithdrawal,
                sender: alice,
                recipient: alice,
                token: ETH,
                amount: 1_000,
            }),
            "applied",
        ),
        (
            "forced_withdrawal_whole_balance",
            Inbox(InboxEntry {
                kind: InboxKind::ForcedWithdrawal,
                sender: bob,
                recipient: bob,
                token: ETH,
                amount: 310,
            }),
            "applied",
        ),
        (
            "forced_withdrawal_zero",
            Inbox(InboxEntry {
                kind: InboxKind::ForcedWithdrawal,
                sender: fresh,
                recipient: fresh,
                token: ETH,
                amount: 0,
            }),
            "applied",
        ),
        (
            "forced_withdrawal_not_covered",
            Inbox(InboxEntry {
                kind: InboxKind::ForcedWithdrawal,
                sender: bob,
                recipient: bob,
                token: ETH,
                amount: 311,
            }),
            "insufficientBalance",
        ),
        ("transfer_valid", Rec(valid), "applied"),
        (
            "transfer_fresh_recipient",
            Rec(sign(tx(TxKind::Transfer, fresh, ETH, 100, 1, 1), &a.alice)),
            "applied",
        ),
        (
            "transfer_self",
            Rec(sign(tx(TxKind::Transfer, alice, ETH, 100, 1, 1), &a.alice)),
            "applied",
        ),
        (
            "transfer_zero_amount",
            Rec(sign(tx(TxKind::Transfer, bob, ETH, 0, 1, 1), &a.alice)),
            "applied",
        ),
        (
            "transfer_zero_fee",
            Rec(sign(tx(TxKind::Transfer, bob, ETH, 100, 0, 1), &a.alice)),
            "applied",
        ),
        (
            "transfer_zero_amount_zero_fee",
            Rec(sign(tx(TxKind::Transfer, bob, ETH, 0, 0, 1), &a.alice)),
            "applied",
        ),
        (
            "transfer_erc20",
            Rec(sign(tx(TxKind::Transfer, bob, token(), 4_999, 1, 1), &a.alice)),
            "applied",
        ),
        (
            "transfer_whole_balance",
            Rec(sign(tx(TxKind::Transfer, alice, ETH, 309, 1, 0), &a.bob)),
            "applied",
        ),
        (
            "transfer_fee_recipient_sender",
            Rec(sign(tx(TxKind::Transfer, bob, ETH, 7, 3, 1), &a.fee)),
            "applied",
        ),
        (
            "transfer_to_fee_recipient",
            Rec(sign(tx(TxKind::Transfer, fee, ETH, 7, 3, 1), &a.alice)),
            "applied",
        ),
        ("transfer_bad_signature", Rec(unrecoverable(domain, valid)), "invalidSignature"),
        (
            "transfer_wrong_chain",
            Rec(other_chain.sign(&tx(TxKind::Transfer, bob, ETH, 100, 1, 0), &a.alice)),
            "insufficientBalance",
        ),
        (
            "transfer_high_s",
            Rec(tamper(valid, |b| {
                let s = U256::from_be_slice(&b[113..145]);
                b[113..145].copy_from_slice(&(SECP256K1_N - s).to_be_bytes::<32>());
                b[145] ^= 27 ^ 28;
            })),
            "invalidRecord",
        ),
        ("transfer_bad_v", Rec(tamper(valid, |b| b[145] = 29)), "invalidRecord"),
        ("transfer_zero_s", Rec(tamper(valid, |b| b[113..145].fill(0))), "invalidRecord"),
        ("transfer_zero_r", Rec(tamper(valid, |b| b[81..113].fill(0))), "invalidRecord"),
        ("transfer_unknown_kind", Rec(tamper(valid, |b| b[0] = 3)), "invalidRecord"),
        (
            "transfer_wrong_nonce",
            Rec(sign(tx(TxKind::Transfer, bob, ETH, 100, 1, 5), &a.alice)),
            "badNonce",
        ),
        (
            "transfer_replayed_nonce",
            Rec(sign(tx(TxKind::Transfer, bob, ETH, 100, 1, 0), &a.alice)),
            "badNonce",
        ),
        (
            "transfer_insufficient_balance",
            Rec(sign(tx(TxKind::Transfer, alice, ETH, 310, 1, 0), &a.bob)),
            "insufficientBalance",
        ),
        (
            "transfer_amount_fee_overflow",
            Rec(sign(tx(TxKind::Transfer, bob, ETH, u128::MAX, u128::MAX, 1), &a.alice)),
            "insufficientBalance",
        ),
        ("withdraw_valid", Rec(sign(tx(TxKind::Withdraw, l1, ETH, 50, 1, 1), &a.alice)), "applied"),
        (
            "withdraw_zero_fee",
            Rec(sign(tx(TxKind::Withdraw, l1, ETH, 50, 0, 1), &a.alice)),
            "applied",
        ),
        (
            "withdraw_erc20",
            Rec(sign(tx(TxKind::Withdraw, alice, token(), 5_000, 0, 1), &a.alice)),
            "applied",
        ),
        (
            "withdraw_insufficient_balance",
            Rec(sign(tx(TxKind::Withdraw, l1, ETH, 310, 1, 0), &a.bob)),
            "insufficientBalance",
        ),
        (
            "withdraw_wrong_nonce",
            Rec(sign(tx(TxKind::Withdraw, l1, ETH, 50, 1, 0), &a.alice)),
            "badNonce",
        ),
        (
            "withdraw_bad_signature",
            Rec(unrecoverable(domain, sign(tx(TxKind::Withdraw, l1, ETH, 50, 1, 1), &a.alice))),
            "invalidSignature",
        ),
    ]
}

fn step_json(
    name: &str,
    context: &StepContext,
    root_before: B256,
    root_after: B256,
    outcome: &str,
    witness: &StepWitness,
) -> Value {
    let (is_inbox, entry_hash, tx_root, index, count) = match *context {
        StepContext::Inbox { entry_hash } => (true, entry_hash, B256::ZERO, 0, 0),
        StepContext::Record { tx_root, index, count } => (false, B256::ZERO, tx_root, index, count),
    };
    json!({
        "name": name,
        "isInbox": is_inbox,
        "outcome": outcome,
        "rootBefore": hexs(root_before),
        "rootAfter": hexs(root_after),
        "entryHash": hexs(entry_hash),
        "txRoot": hexs(tx_root),
        "recordIndex": index,
        "recordCount": count,
        "accessCount": witness.accesses().len(),
        "witness": hexs(witness.abi_encode()),
    })
}

/// Prove one step from `root` in `store` and check the witness with the Rust prover mirror.
fn prove_and_check(
    config: &ChainConfig,
    store: &MemoryNodeStore,
    root: B256,
    step: Step<'_>,
    context: &StepContext,
    tx_proof: Vec<B256>,
) -> (StepWitness, B256, &'static str) {
    let proven = prove_step(config, store, root, step, tx_proof).expect("nodes present");
    let (checked_root, outcome) =
        execute_witness(config, context, root, &proven.witness).expect("witness verifies");
    assert_eq!(checked_root, proven.root_after);
    assert_eq!(outcome, proven.outcome);
    // The encoding round-trips.
    let decoded = StepWitness::abi_decode(&proven.witness.abi_encode()).expect("decodes");
    assert_eq!(decoded, proven.witness);
    (proven.witness, proven.root_after, proven.outcome.name())
}

fn steps_vectors() -> Value {
    let config = config();
    let domain = Domain::new(config);
    let base = base_state(&domain);
    let root = base.committed_root();
    let store = base.tree().store();
    let mut steps = Vec::new();
    for (i, (name, case, expected)) in step_cases(&domain).into_iter().enumerate() {
        // Each record sits in a small batch of fillers, so its tx proof has real depth.
        let (witness, root_after, outcome, context) = match case {
            Case::Inbox(entry) => {
                let context = StepContext::Inbox { entry_hash: entry.hash() };
                let (w, r, o) =
                    prove_and_check(&config, store, root, Step::Inbox(&entry), &context, vec![]);
                (w, r, o, context)
            }
            Case::Record(record) => {
                let count = 3 + i % 4;
                let index = i % count;
                let mut records: Vec<Record> =
                    (0..count).map(|j| Record([j as u8 + 0xA0; 146])).collect();
                records[index] = record;
                let tree = TxTree::new(&records);
                let context = StepContext::Record { tx_root: tree.root(), index, count };
                let prepared = domain.prepare(record);
                let proof = tree.proof(index).expect("in range");
                let (w, r, o) =
                    prove_and_check(&config, store, root, Step::Record(&prepared), &context, proof);
                (w, r, o, context)
            }
        };
        assert_eq!(outcome, expected, "{name}");
        if outcome != "applied" {
            assert_eq!(root_after, root, "{name}: a no-op changes nothing");
        }
        steps.push(step_json(name, &context, root, root_after, outcome, &witness));
    }
    json!({
        "description": "One-step vectors: the OneStepProver must turn rootBefore into rootAfter with this witness. Generated by core/tests/vectors.rs.",
        "config": config_json(&config),
        "count": steps.len(),
        "steps": steps,
    })
}

fn smt_vectors() -> Value {
    let mut tree = SparseMerkleTree::new(MemoryNodeStore::new());
    let a = B256::ZERO;
    let mut b = B256::ZERO;
    b.0[31] = 1; // shares 255 bits with a
    let mut c = B256::ZERO;
    c.0[0] = 0x80; // differs from a at bit 0
    let mut d = B256::ZERO;
    d.0[25] = 0x10; // shares 203 bits with a
    let e = B256::repeat_byte(0x5A);
    let v = |x: u8| B256::repeat_byte(x);
    let root_a = tree.update(&B256::ZERO, [(a, v(1))]).expect("mem");
    let root_abc = tree.update(&root_a, [(b, v(2)), (c, v(3))]).expect("mem");
    let root_abcd = tree.update(&root_abc, [(d, B256::ZERO)]).expect("mem");
    let root_ac = tree.update(&root_a, [(c, v(3))]).expect("mem");
    let cases: Vec<(&str, B256, B256, B256)> = vec![
        ("empty_tree_insert", B256::ZERO, e, v(9)),
        ("single_leaf_update_same_key", root_a, a, v(9)),
        ("single_leaf_split_at_depth_255", root_a, b, v(9)),
        ("inclusion_deep_leaf", root_abc, b, v(7)),
        ("inclusion_shallow_leaf", root_abc, c, v(7)),
        ("non_inclusion_via_empty_at_depth_204", root_abc, d, v(7)),
        ("non_inclusion_via_other_leaf_at_depth_1_split_at_203", root_ac, d, v(7)),
        ("non_inclusion_via_empty", root_abcd, e, v(7)),
        ("inclusion_zero_value", root_abcd, d, v(8)),
        ("update_to_zero_value", root_abcd, c, B256::ZERO),
    ];
    let mut out = Vec::new();
    for (name, root, key, new_value) in cases {
        let proof = tree.prove(&root, &key).expect("mem");
        if name.starts_with("non_inclusion_via_other_leaf") {
            assert_eq!((proof.terminal.code(), proof.siblings.len()), (2, 1), "{name}");
        }
        let value = proof.verify(&root, &key).expect("valid");
        let new_root = proof.updated_root(&key, &new_value).expect("valid");
        assert_eq!(new_root, tree.compute_update(&root, [(key, new_value)]).expect("mem").root);
        out.push(json!({
            "name": name,
            "root": hexs(root),
            "key": hexs(key),
            "value": hexs(value),
            "terminal": proof.terminal.code(),
            "depth": proof.siblings.len(),
            "proof": hexs(proof_to_abi(&proof).abi_encode()),
            "newValue": hexs(new_value),
            "newRoot": hexs(new_root),
        }));
    }
    json!({
        "description": "Sparse Merkle proofs over raw keys (docs/protocol.md §4); proof is abi.encode(SparseMerkle.Proof). Generated by core/tests/vectors.rs.",
        "count": out.len(),
        "cases": out,
    })
}

fn txroot_vectors() -> Value {
    let mut cases = Vec::new();
    for n in [0usize, 1, 2, 3, 5, 8, 1000] {
        let records: Vec<Record> = (0..n)
            .map(|i| {
                let mut r = [0u8; 146];
                r[0] = 1;
                r[1..9].copy_from_slice(&(i as u64).to_be_bytes());
                Record(r)
            })
            .collect();
        let bytes: Vec<u8> = records.iter().flat_map(|r| r.0).collect();
        cases.push(json!({ "count": n, "records": hexs(bytes), "root": hexs(TxTree::new(&records).root()) }));
    }
    json!({
        "description": "Batch tx roots (docs/protocol.md §6). Generated by core/tests/vectors.rs.",
        "count": cases.len(),
        "cases": cases,
    })
}

fn external_signature() -> (Transaction, Record, Address, String) {
    let dir = vectors_dir().join("external");
    let meta: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("cast_transfer.json")).expect("file"),
    )
    .expect("json");
    let typed: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("cast_transfer_typed_data.json")).expect("file"),
    )
    .expect("json");
    let m = &typed["message"];
    let t = Transaction {
        kind: TxKind::Transfer,
        to: m["to"].as_str().expect("to").parse().expect("address"),
        token: m["token"].as_str().expect("token").parse().expect("address"),
        amount: m["amount"].as_str().expect("amount").parse().expect("u128"),
        fee: m["fee"].as_str().expect("fee").parse().expect("u128"),
        nonce: m["nonce"].as_u64().expect("nonce"),
    };
    let sig = hex::decode(meta["signature"].as_str().expect("signature")).expect("hex");
    let signature = keel_core::tx::Signature {
        r: B256::from_slice(&sig[..32]),
        s: B256::from_slice(&sig[32..64]),
        v: sig[64],
    };
    let signer = meta["signer"].as_str().expect("signer").parse().expect("address");
    (
        t,
        Record::encode(&t, &signature),
        signer,
        meta["command"].as_str().expect("command").to_string(),
    )
}

fn eip712_vectors() -> Value {
    let config = config();
    let domain = Domain::new(config);
    let a = accounts();
    let mut cases = Vec::new();
    let mut push = |t: Transaction, record: Record, sender: Address, source: String| {
        assert_eq!(domain.prepare(record).sender, Ok((t, sender)), "{source}");
        cases.push(json!({
            "source": source,
            "kind": t.kind.byte(),
            "to": t.to.to_checksum(None),
            "token": t.token.to_checksum(None),
            "amount": t.amount.to_string(),
            "fee": t.fee.to_string(),
            "nonce": t.nonce,
            "structHash": hexs(Domain::struct_hash(&t)),
            "digest": hexs(domain.digest(&t)),
            "record": hexs(record.0),
            "txHash": hexs(record.hash()),
            "sender": sender.to_checksum(None),
        }));
    };
    let (t, record, signer, command) = external_signature();
    push(t, record, signer, format!("cast: {command}"));
    for (i, t) in [
        tx(TxKind::Transfer, address_of(&a.bob), ETH, 1, 0, 0),
        tx(TxKind::Transfer, Address::repeat_byte(0xFF), token(), u128::MAX, u128::MAX, u64::MAX),
        tx(TxKind::Withdraw, Address::repeat_byte(0x1E), ETH, 123_456_789, 42, 7),
    ]
    .into_iter()
    .enumerate()
    {
        let k = key(i as u8 + 1);
        push(t, domain.sign(&t, &k), address_of(&k), "keel-core".to_string());
    }
    json!({
        "description": "EIP-712 digests and records (docs/protocol.md §2-3). The first case was signed by cast, not by Keel. Generated by core/tests/vectors.rs.",
        "config": config_json(&config),
        "domainSeparator": hexs(domain.separator()),
        "count": cases.len(),
        "cases": cases,
    })
}

fn record_vectors() -> Value {
    let domain = Domain::new(config());
    let a = accounts();
    let good = domain.sign(&tx(TxKind::Transfer, address_of(&a.bob), ETH, 5, 1, 0), &a.alice);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("valid", good.0.to_vec()),
        ("too_short", good.0[..145].to_vec()),
        ("too_long", [good.0.as_slice(), &[0]].concat()),
        ("unknown_kind", tamper(good, |b| b[0] = 0).0.to_vec()),
        ("bad_v", tamper(good, |b| b[145] = 1).0.to_vec()),
        ("zero_r", tamper(good, |b| b[81..113].fill(0)).0.to_vec()),
        (
            "r_at_curve_order",
            tamper(good, |b| b[81..113].copy_from_slice(&SECP256K1_N.to_be_bytes::<32>()))
                .0
                .to_vec(),
        ),
        ("zero_s", tamper(good, |b| b[113..145].fill(0)).0.to_vec()),
        ("high_s", tamper(good, |b| b[113..145].fill(0xFF)).0.to_vec()),
    ];
    let out: Vec<Value> = cases
        .into_iter()
        .map(|(name, bytes)| {
            let result = Record::from_slice(&bytes).and_then(|r| r.decode().map(|_| ()));
            let error = match result {
                Ok(()) => Value::Null,
                Err(e) => Value::String(format!("{e:?}")),
            };
            json!({ "name": name, "bytes": hexs(&bytes), "error": error })
        })
        .collect();
    json!({
        "description": "Strict record decoding (docs/protocol.md §3): each malformed case and its error. Generated by core/tests/vectors.rs.",
        "count": out.len(),
        "cases": out,
    })
}

/// Two batches from genesis, with every intermediate root and every step's witness, for the
/// dispute-game tests on L1.
fn game_vectors() -> Value {
    let config = config();
    let domain = Domain::new(config);
    let a = accounts();
    let (alice, bob) = (address_of(&a.alice), address_of(&a.bob));
    let carol = Address::repeat_byte(0xCA);
    let l1 = Address::repeat_byte(0x1E);
    let dep = |sender: u8, to: Address, amount: u128| InboxEntry {
        kind: InboxKind::Deposit,
        sender: Address::repeat_byte(sender),
        recipient: to,
        token: ETH,
        amount,
    };
    let deposits = [
        dep(0xD1, alice, 1_000_000),
        dep(0xD2, bob, 50_000),
        dep(0xD1, carol, 7),
        dep(0xD3, bob, 1),
    ];
    let batch_records = [
        vec![
            domain.sign(&tx(TxKind::Transfer, bob, ETH, 100, 1, 0), &a.alice),
            domain.sign(&tx(TxKind::Transfer, carol, ETH, 2_000, 2, 0), &a.bob),
            domain.sign(&tx(TxKind::Withdraw, l1, ETH, 30_000, 1, 1), &a.alice),
            domain.sign(&tx(TxKind::Transfer, carol, ETH, 1, 1, 7), &a.bob), // bad nonce: a no-op
            domain.sign(&tx(TxKind::Transfer, alice, ETH, 10, 0, 1), &a.bob),
            domain.sign(&tx(TxKind::Withdraw, bob, ETH, 500, 0, 2), &a.bob),
            domain.sign(&tx(TxKind::Transfer, bob, ETH, 1, 0, 2), &a.alice),
        ],
        vec![
            domain.sign(&tx(TxKind::Transfer, alice, ETH, 3, 1, 3), &a.bob),
            domain.sign(&tx(TxKind::Withdraw, l1, ETH, 5, 0, 3), &a.alice),
        ],
    ];
    let inbox_ends = [3usize, 4];
    let mut state = MemoryState::new();
    let mut inbox_start = 0;
    let mut batches = Vec::new();
    let mut withdrawal_index = U256::ZERO;
    let mut withdrawals = Vec::new();
    for (bi, records) in batch_records.iter().enumerate() {
        let batch = BatchSteps {
            entries: deposits[inbox_start..inbox_ends[bi]].to_vec(),
            records: domain.prepare_all(records),
        };
        let pre_root = state.committed_root();
        let roots = step_roots(&config, state.tree().store(), pre_root, &batch).expect("mem");
        let tree = TxTree::new(records);
        let mut witnesses = Vec::new();
        for k in 0..batch.len() {
            // As a challenger would: replay to R_k on a scratch overlay, then prove step k.
            let (context, proven) =
                prove_batch_step(&config, state.tree().store(), pre_root, &batch, &tree, k)
                    .expect("mem")
                    .expect("step exists");
            assert_eq!(proven.root_after, roots[k + 1]);
            let checked = execute_witness(&config, &context, roots[k], &proven.witness)
                .expect("witness verifies");
            assert_eq!(checked, (roots[k + 1], proven.outcome));
            witnesses.push(hexs(proven.witness.abi_encode()));
        }
        let exec = execute_batch(&config, &mut state, &batch).expect("mem");
        assert_eq!(exec.post_root, *roots.last().expect("n+1 roots"));
        // Every withdrawal this batch appended, with its proof against the batch's post root.
        let count = U256::from_be_bytes(state.value(&keys::withdrawal_count_key()).0);
        while withdrawal_index < count {
            let key = keys::withdrawal_key(withdrawal_index);
            let proof = state.tree().prove(&exec.post_root, &key).expect("mem");
            let (recipient, amount) =
                find_withdrawal(&batch, &config, withdrawal_index, &state, &key);
            withdrawals.push(json!({
                "batch": bi,
                "index": withdrawal_index.to::<u64>(),
                "recipient": recipient.to_checksum(None),
                "token": ETH.to_checksum(None),
                "amount": amount,
                "siblings": proof.siblings.iter().map(hexs).collect::<Vec<_>>(),
            }));
            withdrawal_index += U256::from(1);
        }
        let bytes: Vec<u8> = records.iter().flat_map(|r| r.0).collect();
        batches.push(json!({
            "records": hexs(bytes),
            "inboxStart": inbox_start,
            "inboxEnd": inbox_ends[bi],
            "preRoot": hexs(pre_root),
            "postRoot": hexs(exec.post_root),
            "txRoot": hexs(tree.root()),
            "txCount": records.len(),
            "stepCount": batch.len(),
            "roots": roots.iter().map(hexs).collect::<Vec<_>>(),
            "witnesses": witnesses,
            "outcomes": exec.outcomes.iter().map(|o| o.name()).collect::<Vec<_>>(),
        }));
        inbox_start = inbox_ends[bi];
    }
    let deposits_json: Vec<Value> = deposits
        .iter()
        .map(|d| {
            json!({
                "sender": d.sender.to_checksum(None),
                "recipient": d.recipient.to_checksum(None),
                "token": d.token.to_checksum(None),
                "amount": d.amount,
                "entryHash": hexs(d.hash()),
            })
        })
        .collect();
    json!({
        "description": "Two batches from genesis with all roots R_0..R_n and one witness per step, for L1 game tests. Generated by core/tests/vectors.rs.",
        "config": config_json(&config),
        "deposits": deposits_json,
        "batches": batches,
        "withdrawals": withdrawals,
    })
}

/// Find which withdraw record of the batch appended withdrawal `index` (they are the applied
/// withdraws, in order) and check its leaf value.
fn find_withdrawal(
    batch: &BatchSteps,
    _config: &ChainConfig,
    index: U256,
    state: &MemoryState,
    key: &B256,
) -> (Address, u128) {
    let leaf = state.value(key);
    for p in &batch.records {
        if let Ok((t, _)) = p.sender {
            if t.kind == TxKind::Withdraw
                && keys::withdrawal_value(&t.to, &t.token, t.amount) == leaf
            {
                return (t.to, t.amount);
            }
        }
    }
    panic!("withdrawal {index} not found in its batch");
}

fn all_vectors() -> Vec<(&'static str, Value)> {
    vec![
        ("steps.json", steps_vectors()),
        ("smt.json", smt_vectors()),
        ("txroot.json", txroot_vectors()),
        ("eip712.json", eip712_vectors()),
        ("records.json", record_vectors()),
        ("game.json", game_vectors()),
    ]
}

#[test]
fn committed_vectors_match_the_generator() {
    let write = std::env::var_os("KEEL_WRITE_VECTORS").is_some();
    let dir = vectors_dir();
    let mut stale = Vec::new();
    for (name, value) in all_vectors() {
        let text = serde_json::to_string_pretty(&value).expect("json") + "\n";
        let path = dir.join(name);
        if write {
            std::fs::write(&path, &text).expect("write vectors");
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            stale.push(name);
        }
    }
    assert!(
        stale.is_empty(),
        "{stale:?} differ from the generator: run `KEEL_WRITE_VECTORS=1 cargo test -p keel-core --test vectors` and commit"
    );
}

#[test]
fn step_vectors_cover_every_kind_and_outcome() {
    let v = steps_vectors();
    let names: BTreeSet<&str> = v["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["name"].as_str().expect("name"))
        .collect();
    let outcomes: BTreeSet<&str> = v["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["outcome"].as_str().expect("outcome"))
        .collect();
    assert_eq!(
        outcomes,
        ["applied", "badNonce", "insufficientBalance", "invalidRecord", "invalidSignature"]
            .into_iter()
            .collect()
    );
    for required in [
        "deposit_fresh",
        "deposit_existing",
        "forced_withdrawal_covered",
        "forced_withdrawal_not_covered",
        "transfer_valid",
        "transfer_self",
        "transfer_zero_amount",
        "transfer_zero_fee",
        "transfer_fresh_recipient",
        "transfer_bad_signature",
        "transfer_high_s",
        "transfer_wrong_nonce",
        "transfer_insufficient_balance",
        "withdraw_valid",
    ] {
        assert!(names.contains(required), "missing step vector {required}");
    }
}

/// Every way to tamper with a witness is caught by the Rust prover mirror: it errors, or the
/// root differs from the true one.
#[test]
fn tampered_witnesses_are_rejected() {
    let config = config();
    let domain = Domain::new(config);
    let base = base_state(&domain);
    let root = base.committed_root();
    let store = base.tree().store();
    let mut checked = 0;
    for (name, case, _) in step_cases(&domain) {
        let (context, step_owned): (StepContext, Result<InboxEntry, PreparedRecord>) = match case {
            Case::Inbox(e) => (StepContext::Inbox { entry_hash: e.hash() }, Ok(e)),
            Case::Record(r) => (
                StepContext::Record { tx_root: r.hash(), index: 0, count: 1 },
                Err(domain.prepare(r)),
            ),
        };
        let step = match &step_owned {
            Ok(e) => Step::Inbox(e),
            Err(p) => Step::Record(p),
        };
        let proven = prove_step(&config, store, root, step, vec![]).expect("mem");
        let truth = proven.root_after;
        let mut variants: Vec<(String, StepWitness)> = Vec::new();
        let n = proven.witness.accesses().len();
        for i in 0..n {
            let mut w = proven.witness.clone();
            if let Some(s) = w.accesses_mut()[i].siblings.first_mut() {
                s.0[0] ^= 1;
                variants.push((format!("sibling of access {i}"), w));
            }
            let mut w = proven.witness.clone();
            w.accesses_mut()[i].terminal = match w.accesses_mut()[i].terminal {
                keel_core::smt::Terminal::Leaf { value } => {
                    let mut v = value;
                    v.0[31] ^= 1;
                    keel_core::smt::Terminal::Leaf { value: v }
                }
                _ => keel_core::smt::Terminal::Leaf { value: B256::repeat_byte(1) },
            };
            variants.push((format!("value of access {i}"), w));
        }
        // A read and the write that follows it prove the same key against the same root, so
        // their proofs are equal and swapping them changes nothing; swap only distinct ones.
        if n >= 2 && proven.witness.accesses()[0] != proven.witness.accesses()[1] {
            let mut w = proven.witness.clone();
            w.accesses_mut().swap(0, 1);
            variants.push(("swapped accesses".into(), w));
        }
        if n >= 1 {
            let mut w = proven.witness.clone();
            w.accesses_mut().pop();
            variants.push(("dropped last access".into(), w));
        }
        let mut w = proven.witness.clone();
        let extra = w.accesses().first().cloned().unwrap_or(keel_core::smt::SmtProof {
            siblings: vec![],
            terminal: keel_core::smt::Terminal::Empty,
        });
        w.accesses_mut().push(extra);
        variants.push(("extra access".into(), w));
        if let StepWitness::Inbox { entry, accesses } = &proven.witness {
            let mut e = *entry;
            e.amount ^= 1;
            variants.push((
                "changed entry".into(),
                StepWitness::Inbox { entry: e, accesses: accesses.clone() },
            ));
        }
        if let StepWitness::Record { record, accesses, .. } = &proven.witness {
            let mut r = *record;
            r.0[50] ^= 1;
            variants.push((
                "changed record".into(),
                StepWitness::Record { record: r, tx_proof: vec![], accesses: accesses.clone() },
            ));
        }
        for (what, w) in variants {
            match execute_witness(&config, &context, root, &w) {
                Err(_) => {}
                Ok((r, _)) => {
                    assert_ne!(r, truth, "{name}: {what} was accepted with the true root")
                }
            }
            checked += 1;
        }
        // The honest witness is accepted.
        assert_eq!(
            execute_witness(&config, &context, root, &proven.witness).map(|(r, _)| r),
            Ok(truth),
            "{name}"
        );
        // And the wrong kind of context is refused.
        let wrong = match context {
            StepContext::Inbox { .. } => {
                StepContext::Record { tx_root: B256::ZERO, index: 0, count: 1 }
            }
            StepContext::Record { .. } => StepContext::Inbox { entry_hash: B256::ZERO },
        };
        assert_eq!(
            execute_witness(&config, &wrong, root, &proven.witness),
            Err(WitnessError::WrongStepKind)
        );
    }
    assert!(checked > 100, "only {checked} tampered witnesses checked");
}
