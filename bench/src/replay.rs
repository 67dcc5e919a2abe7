//! `keel-bench replay`: the verifier's replay rate over a long history, on its real code path.
//!
//! Setup (not timed): `accounts` accounts funded by inbox deposits, `transfers` signed transfers
//! among them (round robin, so every batch holds many senders in nonce order), cut into batches
//! of at most `batch` records like the sequencer's, each with its honest post-state root computed
//! by `keel_core::state` from the known senders (no recovery), and laid out as the calldata of an
//! `appendBatch` call, which is where the verifier reads records from.
//!
//! Timed: what the verifier does per batch once L1 has answered — ABI-decode the calldata and
//! split the records (`keel_l1::client::rollup_events`), recover the senders on all cores
//! (`Domain::prepare_all`, as `verifier/src/follower.rs` does), then
//! `Chain::apply(ChainEvent::Appended(..))` and `Chain::execute_pending()`. Every batch must be
//! agreed; the rate counts transfers over the whole timed span.
//!
//! Two schedules are measured. *follower*: each batch is derived, then executed, as the
//! follower does today (recovery uses both cores, the ordered apply and the root one, in turn).
//! *pipelined*: batch k+1 is decoded and recovered on a second thread while batch k executes, so
//! the single-threaded part overlaps the parallel one; it shows what the follower would gain.

use std::{collections::HashSet, time::Instant};

use alloy::sol_types::SolCall;
use anyhow::{bail, ensure, Context};
use keel_core::{
    state::{execute_batch, BatchSteps, MemoryState},
    tx::{split_records, Domain, PreparedRecord, SecretKey, Transaction, TxKind},
    Address, ChainConfig, InboxEntry, InboxKind, Outcome, B256, U256,
};
use keel_l1::bindings::rollup::Rollup;
use keel_store::StoredInboxEntry;
use keel_verifier::chain::{Chain, ChainEvent, DerivedBatch};
use rayon::prelude::*;
use serde_json::{json, Value};

use crate::{key_of, load_average, median};

/// Options of `keel-bench replay`.
#[derive(Debug, clap::Args)]
pub(crate) struct ReplayArgs {
    /// Transfers replayed.
    #[arg(long, default_value_t = 1_000_000)]
    transfers: usize,
    /// Funded accounts the transfers move among.
    #[arg(long, default_value_t = 10_000)]
    accounts: usize,
    /// Most records per batch (the sequencer's default `KEEL_BATCH_MAX_TXS`).
    #[arg(long, default_value_t = 800)]
    batch: usize,
    /// Timed runs per schedule (medians are reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

/// One batch as it sits on L1: its calldata and what the Rollup's event says about it.
struct L1Batch {
    calldata: Vec<u8>,
    inbox_start: u64,
    inbox_end: u64,
    claimed_root: B256,
}

fn config() -> ChainConfig {
    ChainConfig {
        l2_chain_id: 1_000_001,
        rollup_address: Address::repeat_byte(0xAB),
        fee_recipient: Address::repeat_byte(0xFE),
    }
}

/// Build the history: deposits, signed batches with honest roots, their calldata.
fn history(args: &ReplayArgs) -> anyhow::Result<(Vec<StoredInboxEntry>, Vec<L1Batch>)> {
    let started = Instant::now();
    let domain = Domain::new(config());
    let keys: Vec<SecretKey> = (0..args.accounts).map(key_of).collect();
    let addrs: Vec<Address> = keys.par_iter().map(keel_core::tx::address_of).collect();
    let inbox: Vec<StoredInboxEntry> = addrs
        .iter()
        .enumerate()
        .map(|(i, a)| StoredInboxEntry {
            index: i as u64,
            entry: InboxEntry {
                kind: InboxKind::Deposit,
                sender: *a,
                recipient: *a,
                token: Address::ZERO,
                amount: 10u128.pow(24),
            },
            l1_block: 1,
            l1_timestamp: 1,
        })
        .collect();
    let n_acc = args.accounts;
    // Transfer i: sender i mod A with nonce i div A, to another funded account (never itself),
    // fee 1 so every transfer writes the fee recipient too (4 leaf writes, as in the core bench).
    let prepared: Vec<PreparedRecord> = (0..args.transfers)
        .into_par_iter()
        .with_min_len(256)
        .map(|i| {
            let s = i % n_acc;
            let nonce = (i / n_acc) as u64;
            let r = (s + 1 + (nonce as usize).wrapping_mul(7_919) % (n_acc - 1)) % n_acc;
            let tx = Transaction {
                kind: TxKind::Transfer,
                to: addrs[r],
                token: Address::ZERO,
                amount: 1 + (i % 1_000) as u128,
                fee: 1,
                nonce,
            };
            PreparedRecord { record: domain.sign(&tx, &keys[s]), sender: Ok((tx, addrs[s])) }
        })
        .collect();
    tracing::info!(
        transfers = prepared.len(),
        secs = started.elapsed().as_secs_f64(),
        "transfers signed"
    );
    // Honest roots from the known senders: the model the verifier must agree with.
    let mut model = MemoryState::new();
    let mut batches = Vec::with_capacity(args.transfers.div_ceil(args.batch));
    for (k, chunk) in prepared.chunks(args.batch).enumerate() {
        // The first batch consumes every deposit before its records, as the sequencer's would.
        let n_inbox = inbox.len() as u64;
        let (inbox_start, inbox_end) = if k == 0 { (0, n_inbox) } else { (n_inbox, n_inbox) };
        let steps = BatchSteps {
            entries: inbox[inbox_start as usize..inbox_end as usize]
                .iter()
                .map(|e| e.entry)
                .collect(),
            records: chunk.to_vec(),
        };
        let exec = execute_batch(domain.config(), &mut model, &steps)?;
        if let Some(o) = exec.outcomes.iter().find(|o| **o != Outcome::Applied) {
            bail!(
                "batch {k} of the generated history has a no-op step ({o:?}): a bug in the bench"
            );
        }
        let records: Vec<u8> = chunk.iter().flat_map(|p| p.record.0).collect();
        let calldata = Rollup::appendBatchCall {
            records: records.into(),
            inboxEnd: U256::from(inbox_end),
            postStateRoot_: exec.post_root,
            expectedIndex: U256::from(batches.len()),
            expectedPreStateRoot: batches.last().map_or(B256::ZERO, |b: &L1Batch| b.claimed_root),
        }
        .abi_encode();
        batches.push(L1Batch { calldata, inbox_start, inbox_end, claimed_root: exec.post_root });
    }
    tracing::info!(
        batches = batches.len(),
        leaves = model.leaf_count(),
        secs = started.elapsed().as_secs_f64(),
        "history built with honest roots"
    );
    Ok((inbox, batches))
}

/// Decode and recover one batch, as the follower derives it from L1.
fn derive(domain: &Domain, index: usize, b: &L1Batch) -> anyhow::Result<DerivedBatch> {
    let call = Rollup::appendBatchCall::abi_decode(&b.calldata).context("appendBatch calldata")?;
    let records = split_records(&call.records).context("records")?;
    Ok(DerivedBatch {
        index: index as u64,
        id: index as u64,
        poster: Address::repeat_byte(0x5E),
        tx_root: B256::ZERO, // L1 computed it; the verifier does not recompute it
        inbox_start: b.inbox_start,
        inbox_end: b.inbox_end,
        claimed_root: call.postStateRoot_,
        l1_tx: B256::ZERO,
        l1_block: 1 + index as u64,
        l1_timestamp: 1 + index as u64,
        is_final: false,
        records: domain.prepare_all(&records),
    })
}

/// What one timed replay measured.
struct Replay {
    secs: f64,
    agreed: u64,
    /// Seconds spent deriving (decode + recovery) and executing, in the follower schedule.
    derive_secs: f64,
    execute_secs: f64,
}

fn execute(chain: &mut Chain, b: DerivedBatch, expected: B256) -> anyhow::Result<()> {
    let index = b.index;
    chain.apply(ChainEvent::Appended(b))?;
    let reports = chain.execute_pending()?;
    ensure!(
        reports.len() == 1 && reports[0].agrees() && reports[0].computed_root == expected,
        "the verifier disagrees with batch {index}: {reports:?}"
    );
    Ok(())
}

fn replay_follower(inbox: &[StoredInboxEntry], batches: &[L1Batch]) -> anyhow::Result<Replay> {
    let mut chain = Chain::new(config(), HashSet::new());
    let domain = *chain.domain();
    let started = Instant::now();
    chain.add_inbox(inbox)?;
    let (mut derive_secs, mut execute_secs) = (0.0, 0.0);
    for (i, b) in batches.iter().enumerate() {
        let t = Instant::now();
        let derived = derive(&domain, i, b)?;
        let t2 = Instant::now();
        execute(&mut chain, derived, b.claimed_root)?;
        derive_secs += (t2 - t).as_secs_f64();
        execute_secs += t2.elapsed().as_secs_f64();
    }
    Ok(Replay {
        secs: started.elapsed().as_secs_f64(),
        agreed: chain.agreed_count(),
        derive_secs,
        execute_secs,
    })
}

fn replay_pipelined(inbox: &[StoredInboxEntry], batches: &[L1Batch]) -> anyhow::Result<Replay> {
    let mut chain = Chain::new(config(), HashSet::new());
    let domain = *chain.domain();
    let started = Instant::now();
    chain.add_inbox(inbox)?;
    // Two batches of look-ahead: enough to keep the recovery busy while a batch executes, and
    // it bounds the memory of recovered records.
    let (tx, rx) = std::sync::mpsc::sync_channel::<anyhow::Result<DerivedBatch>>(2);
    std::thread::scope(|scope| -> anyhow::Result<Replay> {
        scope.spawn(move || {
            for (i, b) in batches.iter().enumerate() {
                if tx.send(derive(&domain, i, b)).is_err() {
                    return;
                }
            }
        });
        for (derived, b) in rx.iter().zip(batches) {
            execute(&mut chain, derived?, b.claimed_root)?;
        }
        Ok(Replay {
            secs: started.elapsed().as_secs_f64(),
            agreed: chain.agreed_count(),
            derive_secs: f64::NAN,
            execute_secs: f64::NAN,
        })
    })
}

/// Run the replay benchmark; returns its JSON figures.
pub(crate) fn run(args: &ReplayArgs) -> anyhow::Result<Value> {
    ensure!(
        args.accounts >= 2 && args.batch >= 1 && args.runs >= 1,
        "need ≥ 2 accounts, a batch of ≥ 1 and ≥ 1 run"
    );
    let (inbox, batches) = history(args)?;
    let mut runs = Vec::new();
    for r in 0..args.runs {
        type Schedule = fn(&[StoredInboxEntry], &[L1Batch]) -> anyhow::Result<Replay>;
        let schedules: [(&str, Schedule); 2] =
            [("follower", replay_follower), ("pipelined", replay_pipelined)];
        for (schedule, f) in schedules {
            let load_before = load_average();
            let m = f(&inbox, &batches)?;
            ensure!(
                m.agreed == batches.len() as u64,
                "only {} of {} batches agreed",
                m.agreed,
                batches.len()
            );
            let rate = args.transfers as f64 / m.secs;
            tracing::info!(run = r + 1, schedule, rate, secs = m.secs, "replay done");
            runs.push(json!({
                "schedule": schedule,
                "seconds": m.secs,
                "transfers_per_s": rate,
                "batches_agreed": m.agreed,
                "derive_seconds": finite(m.derive_secs),
                "execute_seconds": finite(m.execute_secs),
                "load_before": load_before,
                "load_after": load_average(),
            }));
        }
    }
    let med = |schedule: &str, key: &str| {
        let mut xs: Vec<f64> = runs
            .iter()
            .filter(|v| v["schedule"] == schedule)
            .filter_map(|v| v[key].as_f64())
            .collect();
        if xs.is_empty() {
            f64::NAN
        } else {
            median(&mut xs)
        }
    };
    Ok(json!({
        "transfers": args.transfers,
        "accounts": args.accounts,
        "batch_records": args.batch,
        "batches": batches.len(),
        "all_batches_agreed": true,
        "runs": runs,
        "median": {
            "follower_transfers_per_s": med("follower", "transfers_per_s"),
            "follower_seconds": med("follower", "seconds"),
            "follower_derive_seconds": med("follower", "derive_seconds"),
            "follower_execute_seconds": med("follower", "execute_seconds"),
            "pipelined_transfers_per_s": med("pipelined", "transfers_per_s"),
            "pipelined_seconds": med("pipelined", "seconds"),
        }
    }))
}

fn finite(x: f64) -> Value {
    if x.is_finite() {
        json!(x)
    } else {
        Value::Null
    }
}
