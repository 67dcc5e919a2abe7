//! Following L1 when it holds batches the sequencer did not post: the escape hatch's fallback
//! proposer appended while the sequencer was down or could not post, or a batch of another
//! party sits at one of the ledger's indexes. L1 is the truth; the ledger follows it before
//! the sequencer serves anything.
//!
//! At start the sequencer compares the ledger with L1 from the top down, batch by batch, field
//! by field, to the newest batch both hold alike (the fork), and its stored inbox entries with
//! the hashes L1 stores for them: an entry L1 no longer has (a reorg deeper than
//! `confirmations`) moves the fork down to the first batch that consumed it. When L1 holds
//! other batches or other entries from there on, the ledger is realigned in one database
//! transaction (the replaced entries are deleted and L1's are read again):
//! - L1's batches from the fork on are executed on the state before the fork and stored as
//!   posted (or final) — but only while re-execution gives the root L1 holds: a batch with a
//!   wrong root is not adopted (verifiers will remove it; until then the poster refuses to build
//!   on it and `/readyz` says so);
//! - every transaction the sequencer acknowledged after the fork that L1's batches do not hold
//!   is sequenced again on top, in its old order, if it still applies (a new seq, a later
//!   batch); the ones that no longer apply (the fallback batch paid a forced withdrawal first,
//!   say) are kept as removed, with the rejection, and the API reports them so.
//!
//! A ledger batch that is final but differs from L1 means the database belongs to another chain:
//! the sequencer refuses to start. So does an L1 batch it cannot hold (a record that does not
//! apply: the ledger keeps only transactions that applied) or a final batch with a wrong root.
//!
//! [`plan`] is the pure part (no I/O, unit-tested); [`with_l1`] reads L1 and writes the ledger.

use alloy::primitives::B256;
use keel_core::{txroot::tx_root, ChainConfig};
use keel_l1::{client::RollupEvent, L1Client, L1Error, PostedBatch};
use keel_store::{
    BatchState, CommitGroup, Ledger, LedgerContents, Realignment, RemovedTransaction, StoredBatch,
    StoredInboxEntry,
};

use crate::{
    chain::{AdoptError, AdoptedBatch, Chain, RebuildError},
    poster::Header,
};

/// Most L1 blocks one log query asks for (public RPC providers cap ranges).
const MAX_RANGE: u64 = 2_000;

/// A batch L1 holds from the fork on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForeignBatch {
    /// The batch as it is on L1.
    pub batch: AdoptedBatch,
    /// The posting transaction.
    pub l1_tx: B256,
    /// Its L1 block.
    pub l1_block: u64,
    /// Whether L1 made it final.
    pub is_final: bool,
}

/// What a realignment does.
#[derive(Debug)]
pub struct Plan {
    /// The ledger change.
    pub realignment: Realignment,
    /// The first L1 batch that was not adopted, and why.
    pub refused: Option<AdoptError>,
}

/// Why the ledger cannot follow L1.
#[derive(Debug, thiserror::Error)]
pub enum RealignError {
    /// L1 failed or changed while it was read.
    #[error(transparent)]
    L1(#[from] L1Error),
    /// The ledger failed.
    #[error(transparent)]
    Store(#[from] keel_store::StoreError),
    /// The ledger (or the part before the fork) cannot be replayed.
    #[error(transparent)]
    Rebuild(#[from] RebuildError),
    /// L1 holds a batch the sequencer cannot take or build on for good.
    #[error("{0}")]
    Refused(String),
}

/// The header of ledger batch `index` (closed), as it must be on L1.
fn ledger_header(contents: &LedgerContents, index: u64) -> Option<Header> {
    let b = contents.batches.get(index as usize).filter(|b| b.post_root.is_some())?;
    let pre_root = index
        .checked_sub(1)
        .and_then(|i| contents.batches.get(i as usize))
        .and_then(|p| p.post_root)
        .unwrap_or_default();
    // Transactions are in seq order, and batches hold consecutive runs of them.
    let txs = &contents.transactions;
    let first = txs.partition_point(|t| t.batch < index);
    let end = txs.partition_point(|t| t.batch <= index);
    let records: Vec<_> = txs[first..end].iter().map(|t| t.record).collect();
    Some(Header {
        tx_root: tx_root(&records),
        tx_count: records.len() as u64,
        inbox_start: b.inbox_start,
        inbox_end: b.inbox_end,
        pre_root,
        post_root: b.post_root.unwrap_or_default(),
    })
}

/// The realignment of `contents` onto L1's batches `foreign` (which start at `from_index`),
/// keeping the stored inbox entries before `inbox_from`, with `new_inbox` the inbox entries L1
/// has from there on (in order). Displaced transactions are sequenced again in batches of at
/// most `max_txs`.
pub fn plan(
    config: ChainConfig,
    contents: &LedgerContents,
    from_index: u64,
    inbox_from: u64,
    foreign: &[ForeignBatch],
    new_inbox: &[StoredInboxEntry],
    max_txs: u64,
) -> Result<Plan, RebuildError> {
    let from = from_index as usize;
    let kept_inbox = (inbox_from as usize).min(contents.inbox.len());
    if contents.batches[..from.min(contents.batches.len())]
        .last()
        .is_some_and(|b| b.inbox_end > kept_inbox as u64)
    {
        return Err(RebuildError::Inconsistent(format!(
            "batch {} consumes an inbox entry that is replaced",
            from_index - 1
        )));
    }
    let mut prefix = LedgerContents {
        inbox: contents.inbox[..kept_inbox].to_vec(),
        batches: contents.batches[..from.min(contents.batches.len())].to_vec(),
        transactions: contents
            .transactions
            .iter()
            .filter(|t| t.batch < from_index)
            .copied()
            .collect(),
    };
    // Only entries an L1 batch consumed: those are as settled as the batch. Later ones come
    // through the inbox watcher, after their confirmations.
    let consumed = foreign.iter().map(|f| f.batch.inbox_end).max().unwrap_or(0);
    let mut inbox = Vec::new();
    for e in new_inbox.iter().filter(|e| e.index < consumed) {
        if e.index == prefix.inbox.len() as u64 {
            prefix.inbox.push(*e);
            inbox.push(*e);
        }
    }
    let mut chain = Chain::rebuild(config, &prefix)?;
    let mut adopted = Vec::new();
    let mut refused = None;
    for f in foreign {
        match chain.adopt(&f.batch) {
            Ok(txs) => adopted.push((stored(f, txs.len()), txs)),
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    if refused.is_some() {
        // The refused batch left the chain part-way: replay the adopted ones on a clean one.
        chain = Chain::rebuild(config, &prefix)?;
        for f in &foreign[..adopted.len()] {
            chain.adopt(&f.batch).map_err(|e| {
                RebuildError::Inconsistent(format!("an adopted batch failed on replay: {e}"))
            })?;
        }
    }
    // The adopted batches are stored as L1 has them, not as batch changes.
    chain.take_batch_changes();
    let adopted_count = adopted.len();

    let mut transactions = Vec::new();
    let mut removed = Vec::new();
    for t in contents.transactions.iter().filter(|t| t.batch >= from_index) {
        if chain.seq_of(&t.record.hash()).is_some() {
            continue; // L1's batches hold it
        }
        // Signatures are checked again (unlike a rebuild, which trusts the ledger's own
        // batches): a ledger of another chain or deployment must not be re-sequenced here.
        let prepared = chain.domain().prepare(t.record);
        if prepared.sender.map(|(_, s)| s) != Ok(t.sender) {
            return Err(RebuildError::Inconsistent(format!(
                "stored transaction {} is not signed by its sender for this chain: this database \
                 belongs to another chain or deployment",
                t.seq
            )));
        }
        match chain.apply(&prepared) {
            Ok(accepted) => transactions.push(accepted),
            Err(r) => removed.push(RemovedTransaction {
                record: t.record,
                sender: t.sender,
                previous_seq: t.seq,
                code: r.code().to_string(),
                reason: r.to_string(),
            }),
        }
        if chain.open_batch().is_some_and(|b| b.tx_count >= max_txs) {
            chain.close_batch()?;
        }
    }
    if chain.open_batch_has_steps() {
        chain.close_batch()?;
    }
    tracing::debug!(
        adopted = adopted_count,
        resequenced = transactions.len(),
        removed = removed.len(),
        "realignment planned"
    );
    Ok(Plan {
        realignment: Realignment {
            from_index,
            inbox_from: kept_inbox as u64,
            inbox,
            adopted,
            resequenced: CommitGroup { batch_changes: chain.take_batch_changes(), transactions },
            removed,
        },
        refused,
    })
}

fn stored(f: &ForeignBatch, tx_count: usize) -> StoredBatch {
    StoredBatch {
        index: f.batch.index,
        inbox_start: f.batch.inbox_start,
        inbox_end: f.batch.inbox_end,
        state: if f.is_final { BatchState::Final } else { BatchState::Posted },
        tx_count: Some(tx_count as u32),
        post_root: Some(f.batch.post_root),
        l1_tx: Some(f.l1_tx),
        l1_block: Some(f.l1_block),
    }
}

/// What [`with_l1`] did.
#[derive(Debug)]
pub struct Realigned {
    /// The ledger as it is now.
    pub contents: LedgerContents,
    /// The L1 batch (index, claimed root) the poster must not build on: a wrong root, which a
    /// game will remove.
    pub waiting_for_removal: Option<(u64, B256)>,
}

/// Compare the ledger with L1 and realign it when L1 holds other batches (see the module
/// docs). Returns the ledger's contents as they are afterwards.
pub async fn with_l1(
    l1: &L1Client,
    ledger: &Ledger,
    contents: LedgerContents,
    max_txs: u64,
) -> Result<Realigned, RealignError> {
    let on_l1 = l1.batch_count().await?;
    let closed = contents.batches.iter().take_while(|b| b.post_root.is_some()).count() as u64;
    let stored_inbox = contents.inbox.len() as u64;
    let inbox_fork = inbox_fork(l1, &contents).await?;
    if inbox_fork < stored_inbox {
        tracing::warn!(
            from = inbox_fork,
            stored = stored_inbox,
            "L1 no longer has stored inbox entries (a reorg deeper than the confirmations)"
        );
    }
    // No batch before the fork may consume a replaced entry.
    let first_consuming = contents
        .batches
        .iter()
        .position(|b| b.inbox_end > inbox_fork)
        .map_or(u64::MAX, |i| i as u64);
    let mut fork = on_l1.min(closed).min(first_consuming);
    while fork > 0 {
        let i = fork - 1;
        if Some(Header::of(&l1.batch(i).await?)) == ledger_header(&contents, i) {
            break;
        }
        if contents.batches[i as usize].state == BatchState::Final {
            return Err(RealignError::Refused(format!(
                "the ledger's batch {i} is final but L1 holds another batch {i}: this database \
                 belongs to another chain or deployment"
            )));
        }
        fork = i;
    }
    // (Not when a replaced inbox entry put the fork there: that is a reorg, not a database.)
    if fork == 0
        && first_consuming > 0
        && contents
            .batches
            .iter()
            .any(|b| matches!(b.state, BatchState::Posted | BatchState::Final))
        && on_l1 > 0
    {
        return Err(RealignError::Refused(
            "L1's first batch is not the ledger's, which posted batches: this database belongs \
             to another chain or deployment"
                .into(),
        ));
    }
    if fork == on_l1 && inbox_fork == stored_inbox {
        return Ok(Realigned { contents, waiting_for_removal: None });
    }
    tracing::warn!(
        from = fork,
        on_l1,
        ledger = closed,
        "L1 holds batches the sequencer did not post: realigning the ledger with L1"
    );
    let (foreign, new_inbox) = read_from_l1(l1, &contents, fork, on_l1, inbox_fork).await?;
    let config = l1.deployment().chain_config();
    let plan = {
        let contents = contents.clone();
        tokio::task::spawn_blocking(move || {
            plan(config, &contents, fork, inbox_fork, &foreign, &new_inbox, max_txs)
        })
        .await
        .map_err(|e| RealignError::Refused(format!("the realignment task failed: {e}")))??
    };
    let waiting_for_removal = match &plan.refused {
        None => None,
        Some(e @ AdoptError::WrongRoot { index, on_l1, .. }) if !l1.is_final(*index).await? => {
            tracing::warn!(error = %e, "not building on L1's batch {index} until a game removes it");
            Some((*index, *on_l1))
        }
        Some(e) => {
            return Err(RealignError::Refused(format!(
                "the sequencer cannot follow L1: {e}; the chain needs an operator (see \
                 docs/operations.md, \"L1 holds batches the sequencer did not post\")"
            )))
        }
    };
    let r = &plan.realignment;
    ledger.realign(r).await?;
    for t in &r.removed {
        tracing::warn!(hash = %t.record.hash(), previous_seq = t.previous_seq, code = %t.code, reason = %t.reason, "an acknowledged transaction no longer applies on L1's history: removed");
    }
    tracing::warn!(
        from = fork,
        adopted = r.adopted.len(),
        resequenced = r.resequenced.transactions.len(),
        removed = r.removed.len(),
        "ledger realigned with L1"
    );
    Ok(Realigned { contents: ledger.load().await?, waiting_for_removal })
}

/// The first stored inbox entry that L1 no longer holds as stored (with every later one), or
/// the stored count. Entries consumed by final batches are not checked: L1 cannot change them.
async fn inbox_fork(l1: &L1Client, contents: &LedgerContents) -> Result<u64, L1Error> {
    let settled = contents
        .batches
        .iter()
        .rev()
        .find(|b| b.state == BatchState::Final)
        .map_or(0, |b| b.inbox_end);
    let on_l1 = l1.inbox_length().await?;
    let mut fork = contents.inbox.len() as u64;
    while fork > settled {
        let e = &contents.inbox[(fork - 1) as usize];
        if e.index < on_l1 && l1.inbox_entry_hash(e.index).await? == e.entry.hash() {
            break;
        }
        fork -= 1;
    }
    Ok(fork)
}

/// L1's batches `fork..on_l1` with their records, and the inbox entries L1 has from index
/// `inbox_fork` on.
async fn read_from_l1(
    l1: &L1Client,
    contents: &LedgerContents,
    fork: u64,
    on_l1: u64,
    inbox_fork: u64,
) -> Result<(Vec<ForeignBatch>, Vec<StoredInboxEntry>), RealignError> {
    // Every append at the fork or later, and every inbox entry the ledger lacks, is in a block
    // at or after both the ledger's last posting before the fork and its newest inbox entry.
    let start = l1.deployment().start_block;
    let posted_block = fork
        .checked_sub(1)
        .and_then(|i| contents.batches.get(i as usize))
        .and_then(|b| b.l1_block)
        .filter(|&b| b > 0)
        .unwrap_or(start);
    let inbox_block = inbox_fork
        .checked_sub(1)
        .and_then(|i| contents.inbox.get(i as usize))
        .map_or(start, |e| e.l1_block);
    let mut from = posted_block.min(inbox_block).max(start);
    let head = l1.head().await?;
    let known_inbox = inbox_fork;
    let mut current: Vec<PostedBatch> = Vec::new();
    let mut inbox = Vec::new();
    while from <= head {
        let to = head.min(from + MAX_RANGE - 1);
        for e in l1.inbox_entries(from, to).await? {
            if e.index >= known_inbox + inbox.len() as u64 {
                inbox.push(crate::inbox::stored(&e));
            }
        }
        for event in l1.rollup_events(from, to).await? {
            match event {
                RollupEvent::Appended(b) if b.index >= fork => {
                    let at = (b.index - fork) as usize;
                    if at > current.len() {
                        return Err(RealignError::L1(L1Error::Decode(format!(
                            "batch {} appended after only {} batches",
                            b.index,
                            fork + current.len() as u64
                        ))));
                    }
                    current.truncate(at);
                    current.push(b);
                }
                RollupEvent::Removed { from_index, .. } => {
                    current.truncate(from_index.saturating_sub(fork) as usize);
                }
                _ => {}
            }
        }
        from = to + 1;
    }
    // The batches read must be the ones L1 holds now (a reorg between the reads fails here).
    let finalized = l1.finalized_count().await?;
    if current.len() as u64 != on_l1 - fork {
        return Err(RealignError::L1(L1Error::Decode(format!(
            "read {} batches from index {fork} on, L1 holds {}: L1 changed while it was read",
            current.len(),
            on_l1 - fork
        ))));
    }
    let mut foreign = Vec::with_capacity(current.len());
    for b in current {
        if l1.batch(b.index).await?.id != b.id {
            return Err(RealignError::L1(L1Error::Decode(format!(
                "batch {} changed while L1 was read",
                b.index
            ))));
        }
        foreign.push(ForeignBatch {
            is_final: b.index < finalized,
            l1_tx: b.l1_tx,
            l1_block: b.l1_block,
            batch: AdoptedBatch {
                index: b.index,
                inbox_start: b.inbox_start,
                inbox_end: b.inbox_end,
                records: b.records,
                post_root: b.post_state_root,
            },
        });
    }
    Ok((foreign, inbox))
}

#[cfg(test)]
mod tests {
    use keel_core::{
        tx::{address_of, SecretKey, Transaction},
        Address, InboxEntry, InboxKind, TxKind,
    };
    use keel_store::{BatchChange, StoredTransaction};

    use super::*;

    const ETH: Address = Address::ZERO;

    fn config() -> ChainConfig {
        ChainConfig {
            l2_chain_id: 1_000_001,
            rollup_address: Address::repeat_byte(0x11),
            fee_recipient: Address::repeat_byte(0xFE),
        }
    }

    fn key(i: u8) -> SecretKey {
        SecretKey::from_byte_array([i; 32]).expect("valid key")
    }

    fn entry(index: u64, kind: InboxKind, who: Address, amount: u128) -> StoredInboxEntry {
        StoredInboxEntry {
            index,
            entry: InboxEntry { kind, sender: who, recipient: who, token: ETH, amount },
            l1_block: 10 + index,
            l1_timestamp: 100 + index,
        }
    }

    fn transfer(chain: &Chain, from: u8, amount: u128, nonce: u64) -> keel_core::tx::Record {
        let tx = Transaction {
            kind: TxKind::Transfer,
            to: Address::repeat_byte(0xB0),
            token: ETH,
            amount,
            fee: 0,
            nonce,
        };
        chain.domain().sign(&tx, &key(from))
    }

    /// A ledger written the way the pipeline writes it: `batches` are closed batches of records
    /// (each opened after absorbing the inbox the chain knows); the first `posted` are posted.
    fn ledger(
        inbox: &[StoredInboxEntry],
        batches: &[Vec<keel_core::tx::Record>],
        posted: usize,
    ) -> LedgerContents {
        let mut chain = Chain::new(config());
        chain.add_inbox_entries(inbox).expect("in order");
        let mut transactions: Vec<StoredTransaction> = Vec::new();
        for records in batches {
            chain.absorb_inbox();
            for r in records {
                transactions.push(chain.apply(&chain.domain().prepare(*r)).expect("applies"));
            }
            chain.close_batch().expect("tree");
        }
        let batches = chain
            .batches()
            .iter()
            .map(|b| StoredBatch {
                index: b.index,
                inbox_start: b.inbox_start,
                inbox_end: b.inbox_end,
                state: if (b.index as usize) < posted {
                    BatchState::Posted
                } else {
                    BatchState::Closed
                },
                tx_count: Some(b.tx_count as u32),
                post_root: b.post_root,
                l1_tx: None,
                l1_block: None,
            })
            .collect();
        LedgerContents { inbox: inbox.to_vec(), batches, transactions }
    }

    /// The root of a fallback batch: the first `batches` of `contents`, then inbox entries up
    /// to `inbox_end` (of `inbox`, all known).
    fn fallback_root(contents: &LedgerContents, batches: u64, inbox: &[StoredInboxEntry]) -> B256 {
        let prefix = LedgerContents {
            inbox: inbox.to_vec(),
            batches: contents.batches[..batches as usize].to_vec(),
            transactions: contents
                .transactions
                .iter()
                .filter(|t| t.batch < batches)
                .copied()
                .collect(),
        };
        let mut chain = Chain::rebuild(config(), &prefix).expect("rebuild");
        chain.absorb_inbox();
        chain.close_batch().expect("tree").expect("a batch")
    }

    fn foreign(
        index: u64,
        inbox: (u64, u64),
        records: Vec<keel_core::tx::Record>,
        root: B256,
    ) -> ForeignBatch {
        ForeignBatch {
            batch: AdoptedBatch {
                index,
                inbox_start: inbox.0,
                inbox_end: inbox.1,
                records,
                post_root: root,
            },
            l1_tx: B256::repeat_byte(0x77),
            l1_block: 99,
            is_final: false,
        }
    }

    /// The escape hatch: the fallback proposer's batch 1 pays Bob's forced withdrawal in the
    /// place of the sequencer's unposted batch 1. Alice's transfer still applies on top and is
    /// sequenced again; Bob's transfer no longer does and is removed with the rejection.
    #[test]
    fn a_fallback_batch_in_the_ledger_place_keeps_what_still_applies_and_removes_the_rest() {
        let (alice, bob) = (address_of(&key(1)), address_of(&key(2)));
        let deposits = [
            entry(0, InboxKind::Deposit, alice, 10_000),
            entry(1, InboxKind::Deposit, bob, 10_000),
        ];
        let c = Chain::new(config());
        let (a0, a1, b0) =
            (transfer(&c, 1, 1_000, 0), transfer(&c, 1, 1_000, 1), transfer(&c, 2, 5_000, 0));
        let contents = ledger(&deposits, &[vec![a0], vec![a1, b0]], 1);
        let forced = entry(2, InboxKind::ForcedWithdrawal, bob, 9_000);
        let all = [deposits[0], deposits[1], forced];
        let root = fallback_root(&contents, 1, &all);

        let p = plan(
            config(),
            &contents,
            1,
            u64::MAX,
            &[foreign(1, (2, 3), vec![], root)],
            &[forced],
            800,
        )
        .expect("plan");
        assert!(p.refused.is_none());
        let r = p.realignment;
        assert_eq!((r.from_index, r.inbox.len()), (1, 1), "the consumed entry is stored");
        assert_eq!(r.adopted.len(), 1);
        let (b, txs) = &r.adopted[0];
        assert_eq!((b.index, b.inbox_start, b.inbox_end, b.state), (1, 2, 3, BatchState::Posted));
        assert_eq!((b.post_root, txs.len()), (Some(root), 0));
        let again: Vec<_> =
            r.resequenced.transactions.iter().map(|t| (t.seq, t.batch, t.record)).collect();
        assert_eq!(
            again,
            vec![(1, 2, a1)],
            "Alice's transfer, sequenced again after the fallback batch"
        );
        assert!(matches!(
            r.resequenced.batch_changes.as_slice(),
            [
                BatchChange::Open { index: 2, inbox_start: 3, inbox_end: 3 },
                BatchChange::Close { index: 2, tx_count: 1, .. }
            ]
        ));
        assert_eq!(r.removed.len(), 1);
        assert_eq!((r.removed[0].record, r.removed[0].previous_seq), (b0, 2));
        assert_eq!(r.removed[0].code, "insufficient_balance");
    }

    /// A batch L1 holds that carries one of the displaced transactions keeps it in its place
    /// (not sequenced twice).
    #[test]
    fn a_displaced_transaction_that_l1_holds_is_not_sequenced_again() {
        let alice = address_of(&key(1));
        let deposits = [entry(0, InboxKind::Deposit, alice, 10_000)];
        let c = Chain::new(config());
        let (a0, a1) = (transfer(&c, 1, 1_000, 0), transfer(&c, 1, 1_000, 1));
        let contents = ledger(&deposits, &[vec![a0, a1]], 0);
        // Another poster's batch 0 holds only Alice's first transfer.
        let theirs = ledger(&deposits, &[vec![a0]], 0);
        let root = theirs.batches[0].post_root.expect("closed");
        let p =
            plan(config(), &contents, 0, u64::MAX, &[foreign(0, (0, 1), vec![a0], root)], &[], 800)
                .expect("plan");
        assert!(p.refused.is_none());
        let r = p.realignment;
        assert_eq!(
            r.adopted[0].1.iter().map(|t| (t.seq, t.record)).collect::<Vec<_>>(),
            vec![(0, a0)]
        );
        let again: Vec<_> =
            r.resequenced.transactions.iter().map(|t| (t.seq, t.batch, t.record)).collect();
        assert_eq!(again, vec![(1, 1, a1)]);
        assert!(r.removed.is_empty());
    }

    /// A batch whose root is wrong is not adopted: the chain stays on the state before it, and
    /// the displaced transactions are sequenced again there (posted once a game removes it).
    #[test]
    fn a_batch_with_a_wrong_root_is_not_adopted() {
        let alice = address_of(&key(1));
        let deposits = [entry(0, InboxKind::Deposit, alice, 10_000)];
        let c = Chain::new(config());
        let (a0, a1) = (transfer(&c, 1, 1_000, 0), transfer(&c, 1, 1_000, 1));
        let contents = ledger(&deposits, &[vec![a0], vec![a1]], 1);
        let p = plan(
            config(),
            &contents,
            1,
            u64::MAX,
            &[foreign(1, (1, 1), vec![], B256::repeat_byte(9))],
            &[],
            800,
        )
        .expect("plan");
        assert!(matches!(p.refused, Some(AdoptError::WrongRoot { index: 1, .. })));
        let r = p.realignment;
        assert!(r.adopted.is_empty());
        let again: Vec<_> = r.resequenced.transactions.iter().map(|t| (t.seq, t.batch)).collect();
        assert_eq!(again, vec![(1, 1)]);
        let root = r.resequenced.batch_changes.iter().find_map(|c| match c {
            BatchChange::Close { post_root, .. } => Some(*post_root),
            BatchChange::Open { .. } => None,
        });
        assert_eq!(root, contents.batches[1].post_root, "the same batch as before");
    }

    /// A record L1 carries that does not apply (a no-op step) cannot be held by the ledger.
    #[test]
    fn a_batch_with_a_record_that_does_not_apply_is_refused() {
        let alice = address_of(&key(1));
        let deposits = [entry(0, InboxKind::Deposit, alice, 10_000)];
        let c = Chain::new(config());
        let a0 = transfer(&c, 1, 1_000, 0);
        let contents = ledger(&deposits, &[vec![a0]], 1);
        let stale = transfer(&c, 1, 1_000, 0); // nonce 0 again: a no-op on L1
        let p = plan(
            config(),
            &contents,
            1,
            u64::MAX,
            &[foreign(1, (1, 1), vec![stale], B256::ZERO)],
            &[],
            800,
        )
        .expect("plan");
        assert!(matches!(p.refused, Some(AdoptError::NotApplied { index: 1, position: 0, .. })));
    }

    /// Displaced transactions go into batches of at most the batch size.
    #[test]
    fn displaced_transactions_are_sequenced_again_in_batches_of_the_batch_size() {
        let alice = address_of(&key(1));
        let deposits = [entry(0, InboxKind::Deposit, alice, 10_000)];
        let c = Chain::new(config());
        let txs: Vec<_> = (0..5).map(|n| transfer(&c, 1, 10, n)).collect();
        let contents = ledger(&deposits, &[txs], 0);
        let theirs = ledger(&deposits, &[vec![]], 0);
        let root = theirs.batches[0].post_root.expect("closed");
        let p = plan(config(), &contents, 0, u64::MAX, &[foreign(0, (0, 1), vec![], root)], &[], 2)
            .expect("plan");
        let batches: Vec<_> =
            p.realignment.resequenced.transactions.iter().map(|t| t.batch).collect();
        assert_eq!(batches, vec![1, 1, 2, 2, 3]);
    }

    /// A ledger whose transactions are signed for another chain is not re-sequenced.
    #[test]
    fn a_ledger_of_another_chain_is_refused() {
        let alice = address_of(&key(1));
        let deposits = [entry(0, InboxKind::Deposit, alice, 10_000)];
        let c = Chain::new(config());
        let contents = ledger(&deposits, &[vec![transfer(&c, 1, 10, 0)]], 0);
        let other = ChainConfig { l2_chain_id: 7, ..config() };
        let theirs = ledger(&deposits, &[vec![]], 0);
        let root = theirs.batches[0].post_root.expect("closed");
        let e = plan(other, &contents, 0, u64::MAX, &[foreign(0, (0, 1), vec![], root)], &[], 800)
            .expect_err("another chain");
        assert!(e.to_string().contains("another chain"), "{e}");
    }
}
