//! Micro-benchmarks of the core: the physical bound (signature recovery), keccak, the STF with
//! signatures, and the tree root update per batch. Not tests: no assertion on time.
//!
//! `cargo bench -p keel-core --bench core` prints a Markdown table of medians over several runs.

use std::{hint::black_box, time::Instant};

use alloy_primitives::{Address, B256, U256};
use k256::ecdsa::{RecoveryId as KRecoveryId, Signature as KSignature, VerifyingKey};
use keel_core::{
    config::ChainConfig,
    state::{execute_batch, BatchSteps, MemoryState},
    stf::{InboxEntry, InboxKind},
    tx::{address_of, Domain, Record, Transaction, TxKind},
};
use secp256k1::SecretKey;
use sha3::Digest;

const RUNS: usize = 5;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[xs.len() / 2]
}

/// Runs `f` (which does `ops` operations) RUNS times; returns the median ops per second.
fn rate(ops: usize, mut f: impl FnMut()) -> f64 {
    f(); // warm up
    median(
        (0..RUNS)
            .map(|_| {
                let t = Instant::now();
                f();
                ops as f64 / t.elapsed().as_secs_f64()
            })
            .collect(),
    )
}

fn key(i: u32) -> SecretKey {
    let mut b = [0u8; 32];
    b[28..].copy_from_slice(&(i + 1).to_be_bytes());
    SecretKey::from_byte_array(b).expect("valid key")
}

fn domain() -> Domain {
    Domain::new(ChainConfig {
        l2_chain_id: 1,
        rollup_address: Address::repeat_byte(0xAB),
        fee_recipient: Address::repeat_byte(0xFE),
    })
}

/// `n` transfers from `senders` funded accounts, round robin, each with the right nonce.
fn transfers(d: &Domain, senders: u32, n: usize) -> (Vec<InboxEntry>, Vec<Record>) {
    let keys: Vec<SecretKey> = (0..senders).map(key).collect();
    let deposits = keys
        .iter()
        .map(|k| InboxEntry {
            kind: InboxKind::Deposit,
            sender: address_of(k),
            recipient: address_of(k),
            token: Address::ZERO,
            amount: 1_000_000_000,
        })
        .collect();
    let mut nonces = vec![0u64; senders as usize];
    let records = (0..n)
        .map(|i| {
            let s = i % senders as usize;
            let to = Address::from_word(B256::from(U256::from(i as u64 * 7_919 + 1)));
            let t = Transaction {
                kind: TxKind::Transfer,
                to,
                token: Address::ZERO,
                amount: 1,
                fee: 1,
                nonce: nonces[s],
            };
            nonces[s] += 1;
            d.sign(&t, &keys[s])
        })
        .collect();
    (deposits, records)
}

#[allow(clippy::print_stdout)] // a benchmark's report is its output
fn main() {
    let d = domain();
    let mut rows: Vec<(String, String)> = Vec::new();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);

    // Signature recovery: the sequencer's physical bound.
    let (_, records) = transfers(&d, 100, 20_000);
    let one = &records[..5_000];
    let r = rate(one.len(), || {
        for rec in one {
            black_box(d.prepare(*rec).sender.is_ok());
        }
    });
    rows.push((
        "decode + EIP-712 digest + recovery, libsecp256k1, 1 core".into(),
        format!("{r:.0} /s ({:.1} µs each)", 1e6 / r),
    ));
    let digests: Vec<(B256, KSignature, KRecoveryId)> = one
        .iter()
        .map(|rec| {
            let (t, sig) = rec.decode().expect("valid");
            let ks = KSignature::from_scalars(sig.r.0, sig.s.0).expect("valid");
            (d.digest(&t), ks, KRecoveryId::from_byte(sig.v - 27).expect("valid"))
        })
        .collect();
    let rk = rate(digests.len(), || {
        for (h, s, v) in &digests {
            black_box(VerifyingKey::recover_from_prehash(h.as_slice(), s, *v).is_ok());
        }
    });
    rows.push((
        "key recovery alone, k256 (pure Rust), 1 core".into(),
        format!("{rk:.0} /s ({:.1} µs each)", 1e6 / rk),
    ));
    let rp = rate(records.len(), || {
        black_box(d.prepare_all(&records));
    });
    rows.push((
        format!("decode + digest + recovery, libsecp256k1, all {cores} cores (rayon)"),
        format!("{rp:.0} /s"),
    ));

    // Keccak of 64 bytes: alloy-primitives (tiny-keccak) against sha3.
    let buf = [7u8; 64];
    let n = 1_000_000;
    let ka = rate(n, || {
        for _ in 0..n {
            black_box(alloy_primitives::keccak256(black_box(&buf)));
        }
    });
    let ks = rate(n, || {
        for _ in 0..n {
            black_box(sha3::Keccak256::digest(black_box(&buf)));
        }
    });
    rows.push(("keccak256(64 bytes), alloy-primitives".into(), format!("{:.3} µs", 1e6 / ka)));
    rows.push(("keccak256(64 bytes), sha3".into(), format!("{:.3} µs", 1e6 / ks)));

    // The STF with signatures: recover (parallel), apply, and commit the batch root.
    let (deposits, records) = transfers(&d, 1_000, 20_000);
    let mut genesis = MemoryState::new();
    execute_batch(d.config(), &mut genesis, &BatchSteps { entries: deposits, records: vec![] })
        .expect("mem");
    let stf = rate(records.len(), || {
        let mut s = genesis.clone();
        let batch = BatchSteps { entries: vec![], records: d.prepare_all(&records) };
        black_box(execute_batch(d.config(), &mut s, &batch).expect("mem"));
    });
    rows.push((
        "STF: 20,000 signed transfers recovered, applied, root committed".into(),
        format!("{stf:.0} transfers/s"),
    ));
    let prepared = d.prepare_all(&records);
    let apply_only = rate(records.len(), || {
        let mut s = genesis.clone();
        let batch = BatchSteps { entries: vec![], records: prepared.clone() };
        black_box(execute_batch(d.config(), &mut s, &batch).expect("mem"));
    });
    rows.push((
        "STF apply + root, senders already recovered".into(),
        format!("{apply_only:.0} transfers/s"),
    ));

    // Tree root update: a batch of 10,000 transfers over a tree of 1,000,000 leaves.
    let mut big = MemoryState::new();
    let leaves = 1_000_000u64;
    let chunk = 100_000u64;
    for c in 0..leaves / chunk {
        let entries: Vec<InboxEntry> = (c * chunk..(c + 1) * chunk)
            .map(|i| InboxEntry {
                kind: InboxKind::Deposit,
                sender: Address::ZERO,
                recipient: Address::from_word(B256::from(U256::from(i + 1_000_000_000))),
                token: Address::ZERO,
                amount: 1,
            })
            .collect();
        execute_batch(d.config(), &mut big, &BatchSteps { entries, records: vec![] }).expect("mem");
    }
    let (deposits, records) = transfers(&d, 1_000, 10_000);
    execute_batch(d.config(), &mut big, &BatchSteps { entries: deposits, records: vec![] })
        .expect("mem");
    let prepared = d.prepare_all(&records);
    let mut times = Vec::new();
    let mut writes = 0;
    for _ in 0..RUNS {
        let mut s = big.clone();
        let batch = BatchSteps { entries: vec![], records: prepared.clone() };
        for step in batch.steps() {
            let Ok(_) = keel_core::apply_step(d.config(), step, &mut s);
        }
        writes = 40_000; // 4 writes per transfer: nonce, debit, credit, fee
        let t = Instant::now();
        black_box(s.commit().expect("mem"));
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    rows.push((
        format!(
            "tree root update: 10,000 transfers ({writes} writes) over {} leaves",
            big.leaf_count()
        ),
        format!("{:.1} ms per batch", median(times)),
    ));

    println!("| measure | median of {RUNS} runs |");
    println!("|---|---|");
    for (k, v) in rows {
        println!("| {k} | {v} |");
    }
}
