//! The verifier's view of the rollup, with no I/O: the inbox and the current batch list as L1
//! has them, the state after the last batch it agrees with, a verdict per batch, and the first
//! batch it disputes with everything a challenger needs to play against it.
//!
//! Execution is optimistic: a batch runs on the hot [`MemoryState`] (one tree update per batch),
//! because a wrong root is rare and the hot path must replay far faster than the sequencer can
//! post. When a batch's root turns out wrong, its true roots are computed from the tree (which
//! still holds the pre-batch state) and the chain is marked [`Chain::needs_reload`]: the caller
//! rebuilds it from the store with that batch as a *suspect*, which is evaluated on an overlay
//! and never applied. So at rest the state is always the one after the last agreed batch.

use std::{collections::BTreeMap, collections::HashSet, sync::Arc};

use keel_core::{
    keys::withdrawal_key,
    smt::{SmtProof, TreeError},
    state::{execute_batch, step_roots, BatchSteps, MemoryState},
    stf::Step,
    tx::{Domain, PreparedRecord, TxKind},
    txroot::TxTree,
    Address, ChainConfig, InboxKind, Outcome, B256, U256,
};
use keel_store::StoredInboxEntry;

/// A batch as derived from L1, with its records' senders recovered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DerivedBatch {
    /// The batch index (reused after a removal).
    pub index: u64,
    /// The Rollup's unique id of the batch.
    pub id: u64,
    /// Who posted it (the asserter of any game against it).
    pub poster: Address,
    /// The tx root L1 computed from the records.
    pub tx_root: B256,
    /// First inbox entry consumed.
    pub inbox_start: u64,
    /// One past the last inbox entry consumed.
    pub inbox_end: u64,
    /// The post-state root the poster claims.
    pub claimed_root: B256,
    /// The posting transaction.
    pub l1_tx: B256,
    /// The L1 block of the posting transaction.
    pub l1_block: u64,
    /// The timestamp of that block (starts the challenge period), seconds.
    pub l1_timestamp: u64,
    /// Whether L1 has made it final.
    pub is_final: bool,
    /// The records as posted, with senders recovered.
    pub records: Vec<PreparedRecord>,
}

/// A change of the L1 batch list, in L1 order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChainEvent {
    /// A batch was appended.
    Appended(DerivedBatch),
    /// Batches from `from_index` on were removed after a lost game.
    Removed {
        /// The first removed index.
        from_index: u64,
    },
    /// Batch `index` (with id `id`) and every earlier one are final.
    Finalized {
        /// Its index.
        index: u64,
        /// Its id.
        id: u64,
    },
}

/// What the verifier concluded about a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Not executed yet (or built on a disputed batch, so it cannot be).
    Pending,
    /// Re-execution gives the claimed root.
    Agreed,
    /// Re-execution gives `computed_root`, not the claimed root.
    Mismatch {
        /// The true post-state root.
        computed_root: B256,
    },
}

/// A batch in the current L1 list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchView {
    /// The batch index.
    pub index: u64,
    /// Its unique id.
    pub id: u64,
    /// Who posted it.
    pub poster: Address,
    /// Its tx root.
    pub tx_root: B256,
    /// First inbox entry consumed.
    pub inbox_start: u64,
    /// One past the last inbox entry consumed.
    pub inbox_end: u64,
    /// How many records it carries.
    pub tx_count: u64,
    /// The ledger sequence number of its first record (records are numbered in L2 order).
    pub first_seq: u64,
    /// The claimed post-state root.
    pub claimed_root: B256,
    /// The posting transaction.
    pub l1_tx: B256,
    /// Its L1 block.
    pub l1_block: u64,
    /// Its L1 timestamp, seconds.
    pub l1_timestamp: u64,
    /// Whether it is final on L1.
    pub is_final: bool,
    /// The verdict.
    pub verdict: Verdict,
    /// The withdrawal count in the state after it (agreed batches only).
    pub withdrawals_after: Option<u64>,
}

/// The first batch the verifier disputes: what a challenger needs to play against it.
#[derive(Clone, Debug)]
pub struct Dispute {
    /// The batch index.
    pub index: u64,
    /// The batch id (games name it).
    pub id: u64,
    /// The root before the batch (the last agreed root).
    pub pre_root: B256,
    /// The root the poster claims.
    pub claimed_root: B256,
    /// The true root.
    pub computed_root: B256,
    /// When L1 took the batch, seconds (the challenge period runs from it).
    pub l1_timestamp: u64,
    /// Whether L1 made it final anyway (too late to challenge).
    pub is_final: bool,
    /// The batch's steps.
    pub steps: Arc<BatchSteps>,
    /// The tree of its records, for record inclusion proofs.
    pub tx_tree: Arc<TxTree>,
    /// The true `R_0 … R_n`.
    pub roots: Arc<Vec<B256>>,
}

/// The outcome of executing one batch, to log, count and store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerdictReport {
    /// The batch index.
    pub index: u64,
    /// The batch id.
    pub id: u64,
    /// The claimed root.
    pub claimed_root: B256,
    /// The root re-execution gave.
    pub computed_root: B256,
    /// Steps executed.
    pub steps: u64,
}

impl VerdictReport {
    /// Whether the roots agree.
    pub fn agrees(&self) -> bool {
        self.claimed_root == self.computed_root
    }
}

/// Why the chain cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// L1 data contradicts itself or what was derived before.
    #[error("inconsistent L1 data: {0}")]
    Inconsistent(String),
    /// The tree failed (a node is missing: a bug).
    #[error(transparent)]
    Tree(#[from] TreeError),
}

/// The verifier's chain.
#[derive(Debug)]
pub struct Chain {
    domain: Domain,
    state: MemoryState,
    inbox: Vec<StoredInboxEntry>,
    batches: Vec<BatchView>,
    /// Records of batches not executed yet, by index.
    pending: BTreeMap<u64, Vec<PreparedRecord>>,
    /// Batches `[0, agreed)` are agreed and applied to `state`.
    agreed: u64,
    dispute: Option<Dispute>,
    /// `state` no longer is the state after the last agreed batch: rebuild from the store.
    reload: bool,
    /// Batch ids known to be wrong (from stored verdicts or an earlier run): evaluated on an
    /// overlay instead of the hot state.
    suspects: HashSet<u64>,
    /// Every withdrawal in the agreed state, by index: (recipient, token, amount).
    withdrawals: Vec<(Address, Address, u128)>,
}

impl Chain {
    /// An empty chain at genesis.
    pub fn new(config: ChainConfig, suspects: HashSet<u64>) -> Self {
        Self {
            domain: Domain::new(config),
            state: MemoryState::new(),
            inbox: Vec::new(),
            batches: Vec::new(),
            pending: BTreeMap::new(),
            agreed: 0,
            dispute: None,
            reload: false,
            suspects,
            withdrawals: Vec::new(),
        }
    }

    /// The chain configuration.
    pub fn config(&self) -> &ChainConfig {
        self.domain.config()
    }

    /// The EIP-712 domain (for sender recovery).
    pub fn domain(&self) -> &Domain {
        &self.domain
    }

    /// The current L1 batch list.
    pub fn batches(&self) -> &[BatchView] {
        &self.batches
    }

    /// How many batches, from index 0, are agreed.
    pub fn agreed_count(&self) -> u64 {
        self.agreed
    }

    /// How many inbox entries are known.
    pub fn inbox_len(&self) -> u64 {
        self.inbox.len() as u64
    }

    /// The known inbox entries `[start, end)`, or `None` if some are not known yet.
    pub fn inbox_range(&self, start: u64, end: u64) -> Option<&[StoredInboxEntry]> {
        self.inbox.get(usize::try_from(start).ok()?..usize::try_from(end).ok()?)
    }

    /// The first batch the verifier disputes, if any.
    pub fn dispute(&self) -> Option<&Dispute> {
        self.dispute.as_ref()
    }

    /// Whether the hot state must be rebuilt from the store before going on.
    pub fn needs_reload(&self) -> bool {
        self.reload
    }

    /// The batch ids this chain knows to be wrong, for a rebuild.
    pub fn suspects(&self) -> &HashSet<u64> {
        &self.suspects
    }

    /// The state (after the last agreed batch; its tree holds every earlier root too).
    pub fn state(&self) -> &MemoryState {
        &self.state
    }

    /// The sequence number a batch appended at `index` starts at.
    pub fn first_seq_of(&self, index: u64) -> u64 {
        match index.checked_sub(1).and_then(|i| self.batches.get(i as usize)) {
            Some(prev) => prev.first_seq + prev.tx_count,
            None => 0,
        }
    }

    /// Add inbox entries read from L1, in index order; known ones are skipped.
    pub fn add_inbox(&mut self, entries: &[StoredInboxEntry]) -> Result<(), ChainError> {
        for e in entries {
            let next = self.inbox.len() as u64;
            if e.index < next {
                continue;
            }
            if e.index > next {
                return Err(ChainError::Inconsistent(format!(
                    "inbox entry {} arrived before {next}",
                    e.index
                )));
            }
            self.inbox.push(*e);
        }
        Ok(())
    }

    /// Apply one change of the L1 batch list. Applying events again that the chain already
    /// reflects (a range read twice) leaves it as it is.
    pub fn apply(&mut self, event: ChainEvent) -> Result<(), ChainError> {
        match event {
            ChainEvent::Appended(b) => {
                let len = self.batches.len() as u64;
                if b.index < len && self.batches[b.index as usize].id == b.id {
                    return Ok(()); // already here: ids are never reused
                }
                if b.index > len {
                    return Err(ChainError::Inconsistent(format!(
                        "batch {} appended after only {len} batches",
                        b.index
                    )));
                }
                self.truncate(b.index);
                let first_seq = self.first_seq_of(b.index);
                self.batches.push(BatchView {
                    index: b.index,
                    id: b.id,
                    poster: b.poster,
                    tx_root: b.tx_root,
                    inbox_start: b.inbox_start,
                    inbox_end: b.inbox_end,
                    tx_count: b.records.len() as u64,
                    first_seq,
                    claimed_root: b.claimed_root,
                    l1_tx: b.l1_tx,
                    l1_block: b.l1_block,
                    l1_timestamp: b.l1_timestamp,
                    is_final: b.is_final,
                    verdict: Verdict::Pending,
                    withdrawals_after: None,
                });
                self.pending.insert(b.index, b.records);
            }
            ChainEvent::Removed { from_index } => self.truncate(from_index),
            ChainEvent::Finalized { index, id } => {
                if self.batches.get(index as usize).is_some_and(|b| b.id == id) {
                    for b in &mut self.batches[..=index as usize] {
                        b.is_final = true;
                    }
                    if let Some(d) = self.dispute.as_mut().filter(|d| d.index <= index) {
                        d.is_final = true;
                    }
                }
            }
        }
        Ok(())
    }

    /// Drop batches from `index` on. Dropping an agreed batch leaves the state ahead of the
    /// list, so the chain asks to be rebuilt; dropping the disputed batch (the usual end of a
    /// won game) leaves the state exactly at the last agreed batch.
    fn truncate(&mut self, index: u64) {
        if index >= self.batches.len() as u64 {
            return;
        }
        self.batches.truncate(index as usize);
        self.pending.retain(|&i, _| i < index);
        if self.dispute.as_ref().is_some_and(|d| d.index >= index) {
            self.dispute = None;
        }
        if index < self.agreed {
            self.agreed = index;
            self.reload = true;
        }
    }

    /// Execute every batch that can be: in order, while none is disputed and their inbox
    /// entries are known. Returns the verdicts reached.
    pub fn execute_pending(&mut self) -> Result<Vec<VerdictReport>, ChainError> {
        let mut reports = Vec::new();
        while !self.reload && self.dispute.is_none() {
            let index = self.agreed;
            let Some(batch) = self.batches.get(index as usize) else { break };
            if batch.inbox_end > self.inbox.len() as u64 || batch.inbox_start > batch.inbox_end {
                break; // the entries arrive with a later range
            }
            let Some(records) = self.pending.remove(&index) else {
                return Err(ChainError::Inconsistent(format!("batch {index} has no records")));
            };
            let steps = BatchSteps {
                entries: self.inbox[batch.inbox_start as usize..batch.inbox_end as usize]
                    .iter()
                    .map(|e| e.entry)
                    .collect(),
                records,
            };
            reports.push(self.execute(index, steps)?);
        }
        Ok(reports)
    }

    fn execute(&mut self, index: u64, steps: BatchSteps) -> Result<VerdictReport, ChainError> {
        let batch = &self.batches[index as usize];
        let (id, claimed, l1_timestamp, is_final) =
            (batch.id, batch.claimed_root, batch.l1_timestamp, batch.is_final);
        let pre_root = self.state.committed_root();
        let config = *self.config();
        let n = steps.len() as u64;
        let report = |computed_root| VerdictReport {
            index,
            id,
            claimed_root: claimed,
            computed_root,
            steps: n,
        };
        if self.suspects.contains(&id) {
            // Known to be wrong: evaluate on an overlay, leave the hot state untouched.
            let roots = step_roots(&config, self.state.tree().store(), pre_root, &steps)?;
            let computed = roots.last().copied().unwrap_or(pre_root);
            if computed != claimed {
                self.set_dispute(index, pre_root, computed, l1_timestamp, is_final, steps, roots);
                return Ok(report(computed));
            }
        }
        let exec = execute_batch(&config, &mut self.state, &steps)?;
        if exec.post_root != claimed {
            // The hot state now holds a batch it disagrees with. The tree still has every node
            // under `pre_root`, so the true roots come from it; the state itself is rebuilt.
            let roots = step_roots(&config, self.state.tree().store(), pre_root, &steps)?;
            self.suspects.insert(id);
            self.reload = true;
            self.set_dispute(index, pre_root, exec.post_root, l1_timestamp, is_final, steps, roots);
            return Ok(report(exec.post_root));
        }
        for (step, outcome) in steps.steps().zip(&exec.outcomes) {
            if *outcome != Outcome::Applied {
                continue;
            }
            match step {
                Step::Inbox(e) if e.kind == InboxKind::ForcedWithdrawal => {
                    self.withdrawals.push((e.sender, e.token, e.amount));
                }
                Step::Record(PreparedRecord { sender: Ok((tx, _)), .. })
                    if tx.kind == TxKind::Withdraw =>
                {
                    self.withdrawals.push((tx.to, tx.token, tx.amount));
                }
                _ => {}
            }
        }
        let withdrawals = self.withdrawals.len() as u64;
        let b = &mut self.batches[index as usize];
        b.verdict = Verdict::Agreed;
        b.withdrawals_after = Some(withdrawals);
        self.agreed = index + 1;
        Ok(report(exec.post_root))
    }

    #[allow(clippy::too_many_arguments)]
    fn set_dispute(
        &mut self,
        index: u64,
        pre_root: B256,
        computed_root: B256,
        l1_timestamp: u64,
        is_final: bool,
        steps: BatchSteps,
        roots: Vec<B256>,
    ) {
        let batch = &mut self.batches[index as usize];
        batch.verdict = Verdict::Mismatch { computed_root };
        let records: Vec<_> = steps.records.iter().map(|r| r.record).collect();
        self.dispute = Some(Dispute {
            index,
            id: batch.id,
            pre_root,
            claimed_root: batch.claimed_root,
            computed_root,
            l1_timestamp,
            is_final,
            steps: Arc::new(steps),
            tx_tree: Arc::new(TxTree::new(&records)),
            roots: Arc::new(roots),
        });
    }

    /// A proof of `key` under the post root of agreed batch `batch` (the latest agreed one if
    /// `None`).
    pub fn prove(
        &self,
        key: &B256,
        batch: Option<u64>,
    ) -> Result<Result<(u64, B256, SmtProof), ProofRefusal>, TreeError> {
        let index = match batch {
            Some(i) => i,
            None if self.agreed == 0 => return Ok(Err(ProofRefusal::NotVerified)),
            None => self.agreed - 1,
        };
        let Some(b) = self.batches.get(index as usize) else {
            return Ok(Err(ProofRefusal::NotVerified));
        };
        match b.verdict {
            Verdict::Agreed => {}
            Verdict::Mismatch { .. } => return Ok(Err(ProofRefusal::Disputed)),
            Verdict::Pending if self.dispute.is_some() => {
                return Ok(Err(ProofRefusal::Disputed));
            }
            Verdict::Pending => return Ok(Err(ProofRefusal::NotVerified)),
        }
        let proof = self.state.tree().prove(&b.claimed_root, key)?;
        Ok(Ok((index, b.claimed_root, proof)))
    }

    /// Withdrawal `index` in the agreed state: (recipient, token, amount).
    pub fn withdrawal(&self, index: u64) -> Option<(Address, Address, u128)> {
        self.withdrawals.get(index as usize).copied()
    }

    /// The first agreed batch whose state holds withdrawal `index`.
    pub fn batch_of_withdrawal(&self, index: u64) -> Option<&BatchView> {
        let i = self.batches[..self.agreed as usize]
            .partition_point(|b| b.withdrawals_after.is_none_or(|c| c <= index));
        self.batches.get(i).filter(|b| b.verdict == Verdict::Agreed)
    }

    /// The key of withdrawal `index` in the state tree.
    pub fn withdrawal_key(index: u64) -> B256 {
        withdrawal_key(U256::from(index))
    }
}

/// Build the chain from what was stored (at start, or when the hot state must be rebuilt):
/// the inbox and the current batches in order. Batches whose ids are in `suspects` are evaluated
/// without touching the hot state; if another batch turns out wrong, the build runs once more
/// with it as a suspect, so the result always holds the state after the last agreed batch.
pub fn rebuild(
    config: ChainConfig,
    inbox: &[StoredInboxEntry],
    batches: &[DerivedBatch],
    mut suspects: HashSet<u64>,
) -> Result<(Chain, Vec<VerdictReport>), ChainError> {
    // Each pass either ends clean or adds one suspect, and only the first wrong batch is
    // executed, so the second pass ends clean.
    for _ in 0..2 {
        let mut chain = Chain::new(config, suspects);
        chain.add_inbox(inbox)?;
        for b in batches {
            chain.apply(ChainEvent::Appended(b.clone()))?;
        }
        let reports = chain.execute_pending()?;
        if !chain.needs_reload() {
            return Ok((chain, reports));
        }
        suspects = std::mem::take(&mut chain.suspects);
    }
    Err(ChainError::Inconsistent("the rebuild found a new wrong batch twice".into()))
}

/// Why no proof is served for a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProofRefusal {
    /// The batch is not on L1 or not re-executed yet.
    NotVerified,
    /// The verifier disputes the batch, or it is built on one it disputes.
    Disputed,
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_core::{
        tx::{SecretKey, Transaction},
        InboxEntry,
    };

    const ETH: Address = Address::ZERO;

    fn config() -> ChainConfig {
        ChainConfig {
            l2_chain_id: 7,
            rollup_address: Address::repeat_byte(0xAB),
            fee_recipient: Address::repeat_byte(0xFE),
        }
    }

    fn key() -> SecretKey {
        SecretKey::from_byte_array([7u8; 32]).expect("key")
    }

    fn user() -> Address {
        keel_core::tx::address_of(&key())
    }

    fn deposit(index: u64, amount: u128) -> StoredInboxEntry {
        StoredInboxEntry {
            index,
            entry: InboxEntry {
                kind: InboxKind::Deposit,
                sender: user(),
                recipient: user(),
                token: ETH,
                amount,
            },
            l1_block: 1,
            l1_timestamp: 1,
        }
    }

    fn tx(kind: TxKind, nonce: u64) -> Transaction {
        Transaction { kind, to: Address::repeat_byte(0xB0), token: ETH, amount: 10, fee: 1, nonce }
    }

    /// Batch `index` consuming inbox `[start, end)` with `txs`; the root is whatever `honest`
    /// computes unless `claimed` is given.
    fn batch(
        index: u64,
        id: u64,
        (start, end): (u64, u64),
        txs: &[Transaction],
        claimed: B256,
    ) -> DerivedBatch {
        let domain = Domain::new(config());
        let records = txs.iter().map(|t| domain.prepare(domain.sign(t, &key()))).collect();
        DerivedBatch {
            index,
            id,
            poster: Address::repeat_byte(0x5E),
            tx_root: B256::ZERO,
            inbox_start: start,
            inbox_end: end,
            claimed_root: claimed,
            l1_tx: B256::ZERO,
            l1_block: 1,
            l1_timestamp: 1,
            is_final: false,
            records,
        }
    }

    fn honest_root(
        state: &mut MemoryState,
        entries: &[StoredInboxEntry],
        b: &DerivedBatch,
    ) -> B256 {
        let steps = BatchSteps {
            entries: entries.iter().map(|e| e.entry).collect(),
            records: b.records.clone(),
        };
        execute_batch(&config(), state, &steps).expect("mem").post_root
    }

    #[test]
    fn agrees_disputes_and_resumes_after_removal() {
        let inbox = vec![deposit(0, 1_000)];
        let mut model = MemoryState::new();
        let mut b0 = batch(0, 0, (0, 1), &[tx(TxKind::Transfer, 0)], B256::ZERO);
        b0.claimed_root = honest_root(&mut model, &inbox, &b0);
        let mut b1 = batch(1, 1, (1, 1), &[tx(TxKind::Withdraw, 1)], B256::ZERO);
        let true_b1 = honest_root(&mut model, &[], &b1);
        b1.claimed_root = B256::repeat_byte(0xBD);

        let mut chain = Chain::new(config(), HashSet::new());
        chain.add_inbox(&inbox).expect("inbox");
        chain.apply(ChainEvent::Appended(b0.clone())).expect("append");
        chain.apply(ChainEvent::Appended(b1.clone())).expect("append");
        let reports = chain.execute_pending().expect("execute");
        assert_eq!(reports.len(), 2);
        assert!(reports[0].agrees());
        assert!(!reports[1].agrees());
        assert_eq!(reports[1].computed_root, true_b1);
        let d = chain.dispute().expect("dispute");
        assert_eq!(
            (d.index, d.pre_root, *d.roots.last().expect("roots")),
            (1, b0.claimed_root, true_b1)
        );
        assert!(chain.needs_reload(), "the hot state ran the wrong batch");

        // The rebuild (as from the store) evaluates the suspect on an overlay.
        let mut rebuilt = Chain::new(config(), chain.suspects().clone());
        rebuilt.add_inbox(&inbox).expect("inbox");
        rebuilt.apply(ChainEvent::Appended(b0.clone())).expect("append");
        rebuilt.apply(ChainEvent::Appended(b1.clone())).expect("append");
        rebuilt.execute_pending().expect("execute");
        assert!(!rebuilt.needs_reload());
        assert_eq!(rebuilt.state().committed_root(), b0.claimed_root);
        assert_eq!(rebuilt.agreed_count(), 1);
        // A batch on top of the disputed one waits.
        let b2 = batch(2, 2, (1, 1), &[tx(TxKind::Transfer, 2)], B256::repeat_byte(1));
        rebuilt.apply(ChainEvent::Appended(b2)).expect("append");
        assert!(rebuilt.execute_pending().expect("execute").is_empty());
        assert_eq!(rebuilt.prove(&B256::ZERO, Some(1)).expect("tree"), Err(ProofRefusal::Disputed));
        assert_eq!(rebuilt.first_seq_of(2), 2);

        // The game is won: batches 1.. are removed, the honest batch 1 is re-posted.
        rebuilt.apply(ChainEvent::Removed { from_index: 1 }).expect("remove");
        assert!(rebuilt.dispute().is_none());
        assert!(!rebuilt.needs_reload(), "the state is at the last agreed batch already");
        let mut again = b1.clone();
        again.id = 3;
        again.claimed_root = true_b1;
        rebuilt.apply(ChainEvent::Appended(again)).expect("append");
        let reports = rebuilt.execute_pending().expect("execute");
        assert!(reports.len() == 1 && reports[0].agrees());
        assert_eq!(rebuilt.withdrawal(0), Some((Address::repeat_byte(0xB0), ETH, 10)));
        assert_eq!(rebuilt.batch_of_withdrawal(0).map(|b| b.index), Some(1));
        assert!(rebuilt.batch_of_withdrawal(1).is_none());
        let (i, root, proof) =
            rebuilt.prove(&Chain::withdrawal_key(0), None).expect("tree").expect("agreed");
        assert_eq!((i, root), (1, true_b1));
        assert!(proof.verify(&root, &Chain::withdrawal_key(0)).is_ok());
    }

    #[test]
    fn events_read_twice_change_nothing_and_removing_agreed_batches_asks_for_a_reload() {
        let inbox = vec![deposit(0, 1_000)];
        let mut model = MemoryState::new();
        let mut b0 = batch(0, 0, (0, 1), &[tx(TxKind::Transfer, 0)], B256::ZERO);
        b0.claimed_root = honest_root(&mut model, &inbox, &b0);
        let mut chain = Chain::new(config(), HashSet::new());
        chain.add_inbox(&inbox).expect("inbox");
        chain.add_inbox(&inbox).expect("inbox again");
        chain.apply(ChainEvent::Appended(b0.clone())).expect("append");
        chain.execute_pending().expect("execute");
        chain.apply(ChainEvent::Appended(b0.clone())).expect("append again");
        assert_eq!(chain.batches().len(), 1);
        assert!(chain.execute_pending().expect("execute").is_empty());
        chain.apply(ChainEvent::Finalized { index: 0, id: 0 }).expect("final");
        assert!(chain.batches()[0].is_final);
        let gap = batch(5, 9, (1, 1), &[], B256::ZERO);
        assert!(chain.apply(ChainEvent::Appended(gap)).is_err());
        chain.apply(ChainEvent::Removed { from_index: 0 }).expect("remove");
        assert!(chain.needs_reload());
    }
}
