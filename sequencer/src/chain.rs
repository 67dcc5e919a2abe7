//! The sequencer's hot chain: the in-memory state, the batch being filled, the inbox entries
//! waiting to be consumed, and the bookkeeping that answers reads. No I/O: the pipeline persists
//! what this module decides, and a restart rebuilds it from the ledger ([`Chain::rebuild`]).

use std::time::Instant;

use keel_core::{
    keys::{balance_key, nonce_key, withdrawal_count_key},
    smt::{SmtProof, TreeError},
    state::MemoryState,
    stf::{apply_step, NoOpReason, Outcome, Step},
    tx::{Domain, PreparedRecord, Record, RecordError, TxKind},
    Address, ChainConfig, InboxEntry, InboxKind, B256, U256,
};
use keel_store::{BatchChange, BatchState, LedgerContents, StoredInboxEntry, StoredTransaction};

/// Why a transaction is not accepted. Nothing changes when one is rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The record's bytes or signature are invalid.
    #[error("{0}")]
    InvalidRecord(RecordError),
    /// The nonce is not the sender's next one.
    #[error("nonce {got} given, the sender's next nonce is {expected}")]
    BadNonce {
        /// The sender's next nonce.
        expected: U256,
        /// The nonce in the transaction.
        got: u64,
    },
    /// The balance does not cover amount plus fee.
    #[error("balance {available} does not cover amount plus fee {required}")]
    InsufficientBalance {
        /// The sender's balance of the token.
        available: U256,
        /// Amount plus fee.
        required: U256,
    },
    /// This exact transaction was already accepted.
    #[error("transaction already accepted as number {seq}")]
    Duplicate {
        /// Its sequence number.
        seq: u64,
    },
}

impl Rejection {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRecord(RecordError::RecoveryFailed) => "invalid_signature",
            Self::InvalidRecord(RecordError::HighS) => "high_s_signature",
            Self::InvalidRecord(RecordError::InvalidV(_)) => "invalid_signature_v",
            Self::InvalidRecord(RecordError::InvalidR | RecordError::ZeroS) => "invalid_signature",
            Self::InvalidRecord(RecordError::UnknownKind(_)) => "unknown_kind",
            Self::InvalidRecord(RecordError::WrongLength(_)) => "invalid_record_length",
            Self::BadNonce { .. } => "wrong_nonce",
            Self::InsufficientBalance { .. } => "insufficient_balance",
            Self::Duplicate { .. } => "duplicate_transaction",
        }
    }
}

/// A batch as the chain knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchInfo {
    /// Its index.
    pub index: u64,
    /// Inbox entries consumed: `[inbox_start, inbox_end)`.
    pub inbox_start: u64,
    /// One past the last consumed inbox entry.
    pub inbox_end: u64,
    /// Sequence number of its first transaction.
    pub first_seq: u64,
    /// Its transaction count so far.
    pub tx_count: u64,
    /// The root before it.
    pub pre_root: B256,
    /// The root after it; `None` while open.
    pub post_root: Option<B256>,
    /// The withdrawal count after it (set when closed), to find which batch holds a withdrawal.
    pub withdrawals_after: Option<U256>,
}

/// An accepted transaction, before it is durable.
pub type Accepted = StoredTransaction;

/// The hot chain.
#[derive(Debug)]
pub struct Chain {
    domain: Domain,
    state: MemoryState,
    batches: Vec<BatchInfo>,
    /// Inbox entries known (confirmed on L1), by index.
    inbox: Vec<StoredInboxEntry>,
    /// Transaction hash → sequence number, for duplicates and lookups.
    tx_seq: alloy::primitives::map::B256Map<u64>,
    next_seq: u64,
    /// When the open batch was opened.
    opened_at: Option<Instant>,
    /// Batch opens and closes not yet handed to the ledger.
    pending_changes: Vec<BatchChange>,
    /// Every withdrawal appended so far, by index: (recipient, token, amount).
    withdrawals: Vec<(Address, Address, u128)>,
}

fn uint(w: B256) -> U256 {
    U256::from_be_bytes(w.0)
}

impl Chain {
    /// A chain at genesis.
    pub fn new(config: ChainConfig) -> Self {
        Self {
            domain: Domain::new(config),
            state: MemoryState::new(),
            batches: Vec::new(),
            inbox: Vec::new(),
            tx_seq: Default::default(),
            next_seq: 0,
            opened_at: None,
            pending_changes: Vec::new(),
            withdrawals: Vec::new(),
        }
    }

    /// Rebuild from the ledger, checking every closed batch's root against the stored one.
    pub fn rebuild(config: ChainConfig, ledger: &LedgerContents) -> Result<Self, RebuildError> {
        let mut chain = Self::new(config);
        chain.inbox = ledger.inbox.clone();
        let mut txs = ledger.transactions.iter().peekable();
        for b in &ledger.batches {
            if b.index != chain.batches.len() as u64 || b.inbox_start != chain.consumed_inbox() {
                return Err(RebuildError::Inconsistent(format!(
                    "batch {} does not follow its predecessor",
                    b.index
                )));
            }
            if b.inbox_end > chain.inbox.len() as u64 {
                return Err(RebuildError::Inconsistent(format!(
                    "batch {} consumes unknown inbox entries",
                    b.index
                )));
            }
            chain.open_batch_to(b.inbox_end);
            while let Some(t) = txs.next_if(|t| t.batch == b.index) {
                let (tx, _) = t.record.decode().map_err(|e| {
                    RebuildError::Inconsistent(format!(
                        "stored transaction {} does not decode: {e}",
                        t.seq
                    ))
                })?;
                // The sender was recovered before the transaction was stored; do not redo it.
                let prepared = PreparedRecord { record: t.record, sender: Ok((tx, t.sender)) };
                // Exactly the stored inbox range: entries stored after the batch took its first
                // transaction belong to a later batch, and absorbing them here would change
                // the root.
                match chain.apply_record(&prepared, false) {
                    Ok(applied) if applied.seq == t.seq => {}
                    Ok(applied) => {
                        return Err(RebuildError::Inconsistent(format!(
                            "transaction {} replayed as number {}",
                            t.seq, applied.seq
                        )))
                    }
                    Err(r) => {
                        return Err(RebuildError::Inconsistent(format!(
                            "stored transaction {} is rejected: {r}",
                            t.seq
                        )))
                    }
                }
            }
            if b.state != BatchState::Open {
                let root = chain.close_batch()?;
                if root != b.post_root {
                    return Err(RebuildError::RootMismatch {
                        batch: b.index,
                        stored: b.post_root,
                        replayed: root,
                    });
                }
            }
        }
        if let Some(t) = txs.next() {
            return Err(RebuildError::Inconsistent(format!(
                "transaction {} belongs to no batch",
                t.seq
            )));
        }
        chain.pending_changes.clear();
        Ok(chain)
    }

    /// The chain configuration.
    pub fn config(&self) -> &ChainConfig {
        self.domain.config()
    }

    /// The EIP-712 domain.
    pub fn domain(&self) -> &Domain {
        &self.domain
    }

    /// The next sequence number.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The batches.
    pub fn batches(&self) -> &[BatchInfo] {
        &self.batches
    }

    /// The open batch, if any.
    pub fn open_batch(&self) -> Option<&BatchInfo> {
        self.batches.last().filter(|b| b.post_root.is_none())
    }

    /// How long the open batch has been open.
    pub fn open_batch_age(&self) -> Option<std::time::Duration> {
        self.open_batch().and(self.opened_at).map(|t| t.elapsed())
    }

    /// How many inbox entries batches have consumed.
    pub fn consumed_inbox(&self) -> u64 {
        self.batches.last().map_or(0, |b| b.inbox_end)
    }

    /// How many inbox entries are known.
    pub fn known_inbox(&self) -> u64 {
        self.inbox.len() as u64
    }

    /// The L1 timestamp of the oldest inbox entry no batch has consumed yet.
    pub fn oldest_unconsumed_inbox_timestamp(&self) -> Option<u64> {
        self.inbox.get(self.consumed_inbox() as usize).map(|e| e.l1_timestamp)
    }

    /// Add inbox entries read from L1. Entries must come in index order; known ones are skipped.
    pub fn add_inbox_entries(&mut self, entries: &[StoredInboxEntry]) -> Result<(), RebuildError> {
        for e in entries {
            let next = self.inbox.len() as u64;
            if e.index < next {
                continue;
            }
            if e.index > next {
                return Err(RebuildError::Inconsistent(format!(
                    "inbox entry {} arrived before {next}",
                    e.index
                )));
            }
            self.inbox.push(*e);
        }
        Ok(())
    }

    /// Whether known inbox entries wait for a batch to consume them.
    pub fn inbox_waiting(&self) -> bool {
        self.known_inbox() > self.consumed_inbox()
    }

    /// Put every known, unconsumed inbox entry into a batch: a new one when none is open, or the
    /// open one while it holds no transaction yet (its inbox steps come first, so it can still
    /// take more). An open batch that already holds transactions cannot take them; the caller
    /// closes it ([`Chain::must_close_for_inbox`]) so the next batch does.
    ///
    /// This is the only way a batch opens without a transaction, so no batch ever stays open
    /// without a step while entries wait (a stall: the entries would go overdue).
    pub fn absorb_inbox(&mut self) {
        if !self.inbox_waiting() {
            return;
        }
        match self.open_batch() {
            None => self.open_batch_to(self.known_inbox()),
            Some(b) if b.tx_count == 0 => self.extend_open_batch_to(self.known_inbox()),
            Some(_) => {}
        }
    }

    /// Whether the open batch must close now so that waiting inbox entries go into the next
    /// one: it holds transactions (so it cannot take them) and entries wait. Closing at once,
    /// instead of when the batch's age is up, keeps every entry far from its force-inclusion
    /// deadline: a closed batch that leaves out an overdue entry could never be appended.
    pub fn must_close_for_inbox(&self) -> bool {
        self.inbox_waiting() && self.open_batch().is_some_and(|b| b.tx_count > 0)
    }

    fn consume_inbox(&mut self, start: u64, end: u64) {
        let config = *self.config();
        for e in &self.inbox[start as usize..end as usize] {
            let Ok(outcome) = apply_step(&config, Step::Inbox(&e.entry), &mut self.state);
            if outcome.is_applied() && e.entry.kind == InboxKind::ForcedWithdrawal {
                self.withdrawals.push((e.entry.sender, e.entry.token, e.entry.amount));
            }
        }
    }

    fn extend_open_batch_to(&mut self, inbox_end: u64) {
        let Some(b) = self.batches.last() else { return };
        let (index, inbox_start, from) = (b.index, b.inbox_start, b.inbox_end);
        if b.post_root.is_some() || b.tx_count != 0 || inbox_end <= from {
            return;
        }
        self.consume_inbox(from, inbox_end);
        if let Some(b) = self.batches.last_mut() {
            b.inbox_end = inbox_end;
        }
        // The ledger stores the open batch again with its new range (see `Ledger::commit`).
        self.pending_changes.push(BatchChange::Open { index, inbox_start, inbox_end });
    }

    fn open_batch_to(&mut self, inbox_end: u64) {
        let index = self.batches.len() as u64;
        let inbox_start = self.consumed_inbox();
        let pre_root = self.batches.last().and_then(|b| b.post_root).unwrap_or_default();
        self.consume_inbox(inbox_start, inbox_end);
        self.batches.push(BatchInfo {
            index,
            inbox_start,
            inbox_end,
            first_seq: self.next_seq,
            tx_count: 0,
            pre_root,
            post_root: None,
            withdrawals_after: None,
        });
        self.opened_at = Some(Instant::now());
        self.pending_changes.push(BatchChange::Open { index, inbox_start, inbox_end });
    }

    /// The batch opens and closes since the last call, in order, for the ledger.
    pub fn take_batch_changes(&mut self) -> Vec<BatchChange> {
        std::mem::take(&mut self.pending_changes)
    }

    /// Apply one transaction to the open batch, opening one if none is. A rejected transaction
    /// changes nothing: not the state, not which batch is open, not its inbox range. (Waiting
    /// inbox entries may be put into a batch first, as they would be at the next tick anyway:
    /// they come before any later transaction, and a deposit among them may be what makes this
    /// one valid.)
    pub fn apply(&mut self, prepared: &PreparedRecord) -> Result<Accepted, Rejection> {
        self.apply_record(prepared, true)
    }

    /// [`Chain::apply`]; waiting inbox entries are put into a batch first only if `absorb`.
    fn apply_record(
        &mut self,
        prepared: &PreparedRecord,
        absorb: bool,
    ) -> Result<Accepted, Rejection> {
        let hash = prepared.record.hash();
        if let Some(&seq) = self.tx_seq.get(&hash) {
            return Err(Rejection::Duplicate { seq });
        }
        let (_, sender) = prepared.sender.map_err(Rejection::InvalidRecord)?;
        if absorb && self.open_batch().is_none_or(|b| b.tx_count == 0) {
            self.absorb_inbox();
        }
        let config = *self.config();
        let Ok(outcome) = apply_step(&config, Step::Record(prepared), &mut self.state);
        match outcome {
            Outcome::Applied => {}
            Outcome::NoOp(NoOpReason::InvalidRecord(e)) => return Err(Rejection::InvalidRecord(e)),
            Outcome::NoOp(NoOpReason::BadNonce { expected, got }) => {
                return Err(Rejection::BadNonce { expected, got })
            }
            Outcome::NoOp(NoOpReason::InsufficientBalance { available, required }) => {
                return Err(Rejection::InsufficientBalance { available, required })
            }
        }
        let (tx, _) = prepared.sender.map_err(Rejection::InvalidRecord)?;
        if tx.kind == TxKind::Withdraw {
            self.withdrawals.push((tx.to, tx.token, tx.amount));
        }
        // Only a transaction that applied opens a batch. Its inbox range is empty (waiting
        // entries were absorbed above), so opening touches no state and the step just applied
        // is the batch's first.
        if self.open_batch().is_none() {
            self.open_batch_to(self.consumed_inbox());
        }
        let seq = self.next_seq;
        let batch = match self.batches.last_mut() {
            Some(b) => {
                b.tx_count += 1;
                b.index
            }
            None => 0, // opened just above
        };
        self.next_seq += 1;
        self.tx_seq.insert(hash, seq);
        Ok(StoredTransaction { seq, batch, record: prepared.record, sender })
    }

    /// Take batch `batch` as another party posted it on L1 (the escape hatch's fallback
    /// proposer, or a batch found at one of our indexes): its inbox range and records exactly,
    /// closed with its root, which must be the root L1 holds. Returns its records as
    /// transactions. On an error the chain is left part-way and must be rebuilt.
    ///
    /// Only batches the ledger can hold are taken: every record must apply (the ledger keeps
    /// only transactions that applied; a batch with a no-op or a repeated record is refused).
    pub fn adopt(&mut self, batch: &AdoptedBatch) -> Result<Vec<Accepted>, AdoptError> {
        let index = batch.index;
        if self.open_batch().is_some()
            || index != self.batches.len() as u64
            || batch.inbox_start != self.consumed_inbox()
            || batch.inbox_end < batch.inbox_start
        {
            return Err(AdoptError::DoesNotFollow { index });
        }
        if batch.inbox_end > self.known_inbox() {
            return Err(AdoptError::UnknownInbox { index, inbox_end: batch.inbox_end });
        }
        self.open_batch_to(batch.inbox_end);
        let mut accepted = Vec::with_capacity(batch.records.len());
        for (position, record) in batch.records.iter().enumerate() {
            let prepared = self.domain.prepare(*record);
            let t = self
                .apply_record(&prepared, false)
                .map_err(|rejection| AdoptError::NotApplied { index, position, rejection })?;
            accepted.push(t);
        }
        let root = self.close_batch()?.unwrap_or_default();
        if root != batch.post_root {
            return Err(AdoptError::WrongRoot { index, on_l1: batch.post_root, computed: root });
        }
        Ok(accepted)
    }

    /// Close the open batch, computing its root once; returns the root (`None` if no batch is
    /// open).
    pub fn close_batch(&mut self) -> Result<Option<B256>, TreeError> {
        if self.open_batch().is_none() {
            return Ok(None);
        }
        let root = self.state.commit()?;
        let withdrawals = uint(self.state.value(&withdrawal_count_key()));
        let Some(b) = self.batches.last_mut() else { return Ok(None) };
        b.post_root = Some(root);
        b.withdrawals_after = Some(withdrawals);
        self.opened_at = None;
        self.pending_changes.push(BatchChange::Close {
            index: b.index,
            tx_count: b.tx_count as u32,
            post_root: root,
        });
        Ok(Some(root))
    }

    /// Whether the open batch has at least one step (so it may be closed and posted).
    pub fn open_batch_has_steps(&self) -> bool {
        self.open_batch().is_some_and(|b| b.tx_count > 0 || b.inbox_end > b.inbox_start)
    }

    /// A balance, including every accepted transaction.
    pub fn balance(&self, owner: &Address, token: &Address) -> U256 {
        uint(self.state.value(&balance_key(owner, token)))
    }

    /// The next nonce of `owner`.
    pub fn nonce(&self, owner: &Address) -> U256 {
        uint(self.state.value(&nonce_key(owner)))
    }

    /// The sequence number of an accepted transaction.
    pub fn seq_of(&self, hash: &B256) -> Option<u64> {
        self.tx_seq.get(hash).copied()
    }

    /// The batch holding sequence number `seq`.
    pub fn batch_of_seq(&self, seq: u64) -> Option<&BatchInfo> {
        let i = self.batches.partition_point(|b| b.first_seq + b.tx_count <= seq);
        self.batches.get(i).filter(|b| b.first_seq <= seq && seq < b.first_seq + b.tx_count)
    }

    /// A proof of `key` under the post root of closed batch `batch` (the latest closed if `None`).
    pub fn prove(
        &self,
        key: &B256,
        batch: Option<u64>,
    ) -> Result<Option<(u64, B256, SmtProof)>, TreeError> {
        let closed = match batch {
            Some(i) => self.batches.get(i as usize).filter(|b| b.post_root.is_some()),
            None => self.batches.iter().rev().find(|b| b.post_root.is_some()),
        };
        let Some(b) = closed else { return Ok(None) };
        let root = b.post_root.unwrap_or_default();
        Ok(Some((b.index, root, self.state.tree().prove(&root, key)?)))
    }

    /// The first closed batch whose state holds withdrawal `index`.
    pub fn batch_of_withdrawal(&self, index: u64) -> Option<&BatchInfo> {
        let i = U256::from(index);
        self.batches.iter().find(|b| b.withdrawals_after.is_some_and(|c| c > i))
    }

    /// Withdrawal `index`: (recipient, token, amount), if it exists.
    pub fn withdrawal(&self, index: u64) -> Option<(Address, Address, u128)> {
        self.withdrawals.get(index as usize).copied()
    }

    /// The state, for replays (the defender).
    pub fn state(&self) -> &MemoryState {
        &self.state
    }

    /// The L1 block of the newest inbox entry known (where the inbox watcher resumes).
    pub fn last_inbox_block(&self) -> Option<u64> {
        self.inbox.last().map(|e| e.l1_block)
    }

    /// Inbox entries `[start, end)`.
    pub fn inbox_entries(&self, start: u64, end: u64) -> Vec<InboxEntry> {
        self.inbox[start as usize..(end as usize).min(self.inbox.len())]
            .iter()
            .map(|e| e.entry)
            .collect()
    }

    /// How many leaves the state has.
    pub fn leaf_count(&self) -> usize {
        self.state.leaf_count()
    }
}

/// A batch another party posted on L1, to be taken as it is ([`Chain::adopt`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdoptedBatch {
    /// Its index.
    pub index: u64,
    /// Inbox entries consumed: `[inbox_start, inbox_end)`.
    pub inbox_start: u64,
    /// One past the last consumed inbox entry.
    pub inbox_end: u64,
    /// Its records, from the posting's calldata.
    pub records: Vec<Record>,
    /// The post-state root L1 holds.
    pub post_root: B256,
}

/// Why a batch on L1 cannot be taken into the chain.
#[derive(Debug, thiserror::Error)]
pub enum AdoptError {
    /// It does not start where the chain ends (index or inbox range).
    #[error("L1 batch {index} does not follow the chain's last batch")]
    DoesNotFollow {
        /// The batch.
        index: u64,
    },
    /// It consumes inbox entries the chain does not know.
    #[error("L1 batch {index} consumes inbox entries up to {inbox_end}, which are not known")]
    UnknownInbox {
        /// The batch.
        index: u64,
        /// Its inbox end.
        inbox_end: u64,
    },
    /// One of its records does not apply (a no-op step on L1), which the ledger cannot hold.
    #[error("record {position} of L1 batch {index} does not apply ({rejection}): the ledger only holds transactions that applied")]
    NotApplied {
        /// The batch.
        index: u64,
        /// The record's position in the batch.
        position: usize,
        /// Why it does not apply.
        rejection: Rejection,
    },
    /// Executing it does not give the root L1 holds: it is wrong, and will be challenged.
    #[error("L1 batch {index} claims root {on_l1}, executing it gives {computed}")]
    WrongRoot {
        /// The batch.
        index: u64,
        /// The root on L1.
        on_l1: B256,
        /// The root execution gives.
        computed: B256,
    },
    /// The tree failed.
    #[error(transparent)]
    Tree(#[from] TreeError),
}

/// Why the ledger cannot be replayed.
#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    /// The ledger contradicts itself.
    #[error("the ledger is inconsistent: {0}")]
    Inconsistent(String),
    /// Replaying a closed batch gives a different root than the one stored.
    #[error("replaying batch {batch} gives root {replayed:?}, the ledger says {stored:?}")]
    RootMismatch {
        /// The batch.
        batch: u64,
        /// Stored root.
        stored: Option<B256>,
        /// Replayed root.
        replayed: Option<B256>,
    },
    /// The tree failed.
    #[error(transparent)]
    Tree(#[from] TreeError),
}

#[cfg(test)]
mod tests {
    use keel_core::{
        tx::{address_of, SecretKey, Transaction},
        TxKind,
    };

    use super::*;

    const ETH: Address = Address::ZERO;

    fn chain() -> Chain {
        Chain::new(ChainConfig {
            l2_chain_id: 1_000_001,
            rollup_address: Address::repeat_byte(0x11),
            fee_recipient: Address::repeat_byte(0xFE),
        })
    }

    fn key(i: u8) -> SecretKey {
        SecretKey::from_byte_array([i; 32]).expect("valid key")
    }

    fn transfer(chain: &Chain, from: u8, amount: u128, nonce: u64) -> PreparedRecord {
        let tx = Transaction {
            kind: TxKind::Transfer,
            to: Address::repeat_byte(0xB0),
            token: ETH,
            amount,
            fee: 0,
            nonce,
        };
        chain.domain().prepare(chain.domain().sign(&tx, &key(from)))
    }

    fn deposit(index: u64, to: Address, amount: u128) -> StoredInboxEntry {
        StoredInboxEntry {
            index,
            entry: InboxEntry {
                kind: InboxKind::Deposit,
                sender: to,
                recipient: to,
                token: ETH,
                amount,
            },
            l1_block: index,
            l1_timestamp: index,
        }
    }

    /// The stall of a quiet chain: a rejected transaction must not open a batch (which would fix
    /// an empty inbox range and keep later deposits out until they are overdue).
    #[test]
    fn a_rejected_transaction_on_an_idle_chain_opens_no_batch() {
        let mut c = chain();
        let t = transfer(&c, 1, 1_000, 0);
        assert!(matches!(c.apply(&t), Err(Rejection::InsufficientBalance { .. })));
        assert!(c.batches().is_empty());
        assert!(c.take_batch_changes().is_empty());

        // The deposit that arrives next is taken by a new batch, and the same transfer is then
        // valid in it, after the deposit.
        c.add_inbox_entries(&[deposit(0, address_of(&key(1)), 5_000)]).expect("in order");
        c.absorb_inbox();
        assert_eq!(c.open_batch().map(|b| (b.inbox_start, b.inbox_end)), Some((0, 1)));
        assert!(c.apply(&t).is_ok());
        assert_eq!(c.open_batch().map(|b| b.tx_count), Some(1));
    }

    /// A rejected transaction while entries wait may put them into a batch (they come first in
    /// any case), and the batch then has steps, so it closes by age.
    #[test]
    fn a_rejected_transaction_with_entries_waiting_leaves_a_batch_with_steps() {
        let mut c = chain();
        c.add_inbox_entries(&[deposit(0, Address::repeat_byte(5), 1)]).expect("in order");
        let t = transfer(&c, 1, 1_000, 0);
        assert!(c.apply(&t).is_err());
        assert!(c.open_batch_has_steps());
        assert_eq!(c.open_batch().map(|b| (b.inbox_end, b.tx_count)), Some((1, 0)));
    }

    /// A restart with inbox entries stored after the open batch took its first transaction:
    /// the rebuild replays the batch with its stored range, and the entries wait for the next.
    #[test]
    fn a_rebuild_keeps_entries_that_arrived_after_a_batch_began_out_of_it() {
        let mut c = chain();
        let alice = address_of(&key(1));
        c.add_inbox_entries(&[deposit(0, alice, 5_000)]).expect("in order");
        let first = c.apply(&transfer(&c, 1, 1_000, 0)).expect("applies");
        let second = c.apply(&transfer(&c, 1, 1_000, 1)).expect("applies");
        c.close_batch().expect("tree");
        let late = deposit(1, alice, 7_000);
        let b = &c.batches()[0];
        let contents = LedgerContents {
            inbox: vec![deposit(0, alice, 5_000), late],
            batches: vec![keel_store::StoredBatch {
                index: 0,
                inbox_start: b.inbox_start,
                inbox_end: b.inbox_end,
                state: BatchState::Closed,
                tx_count: Some(2),
                post_root: b.post_root,
                l1_tx: None,
                l1_block: None,
            }],
            transactions: vec![first, second],
        };
        let rebuilt = Chain::rebuild(*c.config(), &contents).expect("the stored root");
        assert_eq!(rebuilt.batches()[0].inbox_end, 1);
        assert!(rebuilt.inbox_waiting(), "the late deposit waits for the next batch");
    }

    /// An open batch without transactions takes entries that arrive later (a ledger written
    /// before this rule may hold an empty open batch); one with transactions must close first.
    #[test]
    fn an_open_batch_takes_new_entries_only_before_its_first_transaction() {
        let mut c = chain();
        let alice = address_of(&key(1));
        c.add_inbox_entries(&[deposit(0, alice, 5_000)]).expect("in order");
        c.absorb_inbox();
        c.add_inbox_entries(&[deposit(1, alice, 5_000)]).expect("in order");
        assert!(!c.must_close_for_inbox());
        c.absorb_inbox();
        assert_eq!(c.open_batch().map(|b| b.inbox_end), Some(2));
        assert_eq!(c.balance(&alice, &ETH), U256::from(10_000));

        assert!(c.apply(&transfer(&c, 1, 1_000, 0)).is_ok());
        c.add_inbox_entries(&[deposit(2, alice, 5_000)]).expect("in order");
        c.absorb_inbox();
        assert_eq!(c.open_batch().map(|b| b.inbox_end), Some(2), "a batch with txs takes none");
        assert!(c.must_close_for_inbox());
        c.close_batch().expect("tree");
        c.absorb_inbox();
        assert_eq!(c.open_batch().map(|b| (b.index, b.inbox_start, b.inbox_end)), Some((1, 2, 3)));
        let opens: Vec<_> = c
            .take_batch_changes()
            .into_iter()
            .filter_map(|ch| match ch {
                BatchChange::Open { index, inbox_end, .. } => Some((index, inbox_end)),
                BatchChange::Close { .. } => None,
            })
            .collect();
        assert_eq!(opens, vec![(0, 1), (0, 2), (1, 3)]);
    }
}
