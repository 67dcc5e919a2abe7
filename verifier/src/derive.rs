//! The rollup rebuilt from L1 data alone, in one pass and in memory, for a user who trusts
//! neither the sequencer nor any verifier: the `keel` CLI takes its withdrawal proofs from here
//! with `--from-l1`.
//!
//! [`derive_from_l1`] reads what the [`follower`](crate::follower) reads — every inbox entry and
//! every batch event, with the records taken from the posting transactions' calldata — in bounded
//! block ranges, keeps the current batch list as L1 has it, then executes it through
//! [`chain::rebuild`], the path a verifier takes after a restart. [`withdrawal_proof`] proves a
//! withdrawal under the root of the batch that wrote it, and refuses when re-execution does not
//! reach the root L1 holds: a proof under a root the sequencer made up must not be used.

use std::collections::HashSet;

use alloy::{eips::BlockNumberOrTag, providers::Provider};
use keel_core::{smt::TreeError, tx::Domain, Address, B256};
use keel_l1::{client::RollupEvent, L1Client, L1Error};
use keel_store::StoredInboxEntry;

use crate::chain::{self, Chain, ChainError, ChainEvent, DerivedBatch, ProofRefusal};

/// Most L1 blocks one `eth_getLogs` asks for by default (public RPC providers cap ranges).
pub const DEFAULT_MAX_RANGE: u64 = 2_000;

/// Why the chain could not be derived.
#[derive(Debug, thiserror::Error)]
pub enum DeriveError {
    /// L1 failed or returned data that cannot be decoded.
    #[error(transparent)]
    L1(#[from] L1Error),
    /// L1's data contradicts itself.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// A sender-recovery task panicked.
    #[error("a replay task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// The number and timestamp of an L1 block.
pub(crate) async fn block_timestamp(
    l1: &L1Client,
    number: BlockNumberOrTag,
) -> Result<(u64, u64), L1Error> {
    let block = l1
        .provider()
        .get_block_by_number(number)
        .await?
        .ok_or_else(|| L1Error::Decode(format!("L1 has no block {number}")))?;
    Ok((block.header.number, block.header.timestamp))
}

/// Turn Rollup events into chain events: recover the records' senders (off the async threads)
/// and stamp each batch with its L1 block's time. Shared with the follower.
pub(crate) async fn chain_events(
    l1: &L1Client,
    domain: Domain,
    events: Vec<RollupEvent>,
) -> Result<Vec<ChainEvent>, DeriveError> {
    let mut out = Vec::with_capacity(events.len());
    let mut last_block: Option<(u64, u64)> = None;
    for event in events {
        out.push(match event {
            RollupEvent::Appended(p) => {
                let ts = match last_block {
                    Some((n, ts)) if n == p.l1_block => ts,
                    _ => block_timestamp(l1, p.l1_block.into()).await?.1,
                };
                last_block = Some((p.l1_block, ts));
                let records = p.records;
                let prepared =
                    tokio::task::spawn_blocking(move || domain.prepare_all(&records)).await?;
                ChainEvent::Appended(DerivedBatch {
                    index: p.index,
                    id: p.id,
                    poster: p.poster,
                    tx_root: p.tx_root,
                    inbox_start: p.inbox_start,
                    inbox_end: p.inbox_end,
                    claimed_root: p.post_state_root,
                    l1_tx: p.l1_tx,
                    l1_block: p.l1_block,
                    l1_timestamp: ts,
                    is_final: false,
                    records: prepared,
                })
            }
            RollupEvent::Removed { from_index, .. } => ChainEvent::Removed { from_index },
            RollupEvent::Finalized { index, id } => ChainEvent::Finalized { index, id },
        });
    }
    Ok(out)
}

/// Keep `batches` equal to the Rollup's current list, as the verifier's store does: what
/// [`chain::rebuild`] takes. Events already reflected change nothing.
fn track(batches: &mut Vec<DerivedBatch>, event: ChainEvent) -> Result<(), ChainError> {
    match event {
        ChainEvent::Appended(b) => {
            let len = batches.len() as u64;
            if batches.get(b.index as usize).is_some_and(|known| known.id == b.id) {
                return Ok(()); // ids are never reused
            }
            if b.index > len {
                return Err(ChainError::Inconsistent(format!(
                    "batch {} appended after only {len} batches",
                    b.index
                )));
            }
            batches.truncate(b.index as usize);
            batches.push(b);
        }
        ChainEvent::Removed { from_index } => batches.truncate(from_index as usize),
        ChainEvent::Finalized { index, id } => {
            if batches.get(index as usize).is_some_and(|b| b.id == id) {
                for b in &mut batches[..=index as usize] {
                    b.is_final = true;
                }
            }
        }
    }
    Ok(())
}

/// Rebuild the rollup from L1 alone: every inbox entry and batch event from the deployment's
/// start block through the current head, read `max_range` blocks at a time, then executed.
///
/// The result holds the state after the last batch whose root re-execution reproduces; the
/// first batch whose root it does not is [`Chain::dispute`], and nothing after it is executed.
pub async fn derive_from_l1(l1: &L1Client, max_range: u64) -> Result<Chain, DeriveError> {
    let config = l1.deployment().chain_config();
    let domain = Domain::new(config);
    let head = l1.head().await?;
    let mut inbox: Vec<StoredInboxEntry> = Vec::new();
    let mut batches: Vec<DerivedBatch> = Vec::new();
    let mut from = l1.deployment().start_block;
    while from <= head {
        let to = head.min(from.saturating_add(max_range.max(1) - 1));
        inbox.extend(l1.inbox_entries(from, to).await?.into_iter().map(|e| StoredInboxEntry {
            index: e.index,
            entry: e.entry,
            l1_block: e.l1_block,
            l1_timestamp: e.timestamp,
        }));
        for event in chain_events(l1, domain, l1.rollup_events(from, to).await?).await? {
            track(&mut batches, event)?;
        }
        tracing::debug!(from, to, inbox = inbox.len(), batches = batches.len(), "L1 range read");
        from = to + 1;
    }
    let (chain, reports) = tokio::task::spawn_blocking(move || {
        chain::rebuild(config, &inbox, &batches, HashSet::new())
    })
    .await??;
    for r in reports.iter().filter(|r| !r.agrees()) {
        tracing::warn!(batch = r.index, claimed = %r.claimed_root, computed = %r.computed_root, "a batch's root on L1 is not what its data gives");
    }
    tracing::info!(
        head,
        batches = chain.batches().len(),
        agreed = chain.agreed_count(),
        "rollup derived from L1"
    );
    Ok(chain)
}

/// A withdrawal with its proof under the root of the batch that wrote it, which re-execution
/// from L1 data reproduced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WithdrawalProof {
    /// The withdrawal index.
    pub index: u64,
    /// Who is paid on L1.
    pub recipient: Address,
    /// The token's L1 address (ETH is zero).
    pub token: Address,
    /// The amount, in the token's smallest unit.
    pub amount: u128,
    /// The first batch whose state holds the withdrawal.
    pub batch: u64,
    /// That batch's post-state root, as on L1 and as re-executed.
    pub state_root: B256,
    /// The sparse Merkle siblings `finalizeWithdrawal` takes.
    pub siblings: Vec<B256>,
    /// Whether L1 had made the batch final when it was read.
    pub is_final: bool,
    /// When L1 took the batch (its challenge period starts then), seconds.
    pub batch_timestamp: u64,
}

/// Why no proof is given for a withdrawal.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    /// No batch on L1 holds the withdrawal.
    #[error(
        "no withdrawal {index} in the batches on L1 (they hold {count}); if it was just made, \
         its batch is not posted yet: retry in a moment"
    )]
    Unknown {
        /// The index asked for.
        index: u64,
        /// How many withdrawals the batches on L1 hold.
        count: u64,
    },
    /// Re-executing a batch from L1 data does not give the root L1 holds, and the withdrawal
    /// is not in an earlier batch.
    #[error(
        "batch {batch}'s post-state root on L1 is {claimed}, but re-executing its L1 data gives \
         {computed}: the sequencer posted a wrong state{}. Do not finalize withdrawal {index} \
         against it: it is not in any batch before {batch}, so it has to wait until a \
         verifier's challenge removes the wrong batch and an honest one replaces it",
        if *is_final { " and L1 made it final anyway" } else { "" }
    )]
    WrongRoot {
        /// The withdrawal asked for.
        index: u64,
        /// The first batch whose root re-execution does not reproduce.
        batch: u64,
        /// The root on L1.
        claimed: B256,
        /// The root its data gives.
        computed: B256,
        /// Whether L1 made it final.
        is_final: bool,
    },
    /// The batch holding the withdrawal is still in its challenge period.
    #[error(
        "withdrawal {index} is in batch {batch}, which is not final yet: its challenge period \
         ends at L1 time {deadline} (in {left} s)"
    )]
    NotFinal {
        /// The withdrawal.
        index: u64,
        /// Its batch.
        batch: u64,
        /// The batch's challenge deadline, L1 timestamp in seconds.
        deadline: u64,
        /// Seconds of L1 time until then.
        left: u64,
    },
    /// The state tree failed (a missing node: a bug).
    #[error(transparent)]
    Tree(#[from] TreeError),
}

/// How a proven withdrawal stands against L1's finality.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finality {
    /// The batch is final: the withdrawal can be paid.
    Final,
    /// The challenge period is over but nobody has called `finalizeBatches` yet (the
    /// sequencer is gone, or has not got to it): anyone can, then pay.
    PeriodOver,
}

impl WithdrawalProof {
    /// Whether the withdrawal can be paid now: `deadline` is its batch's challenge deadline and
    /// `now` the L1 time, both in seconds. Refuses while the challenge period runs.
    pub fn finality(&self, deadline: u64, now: u64) -> Result<Finality, ProofError> {
        if self.is_final {
            Ok(Finality::Final)
        } else if now >= deadline {
            Ok(Finality::PeriodOver)
        } else {
            Err(ProofError::NotFinal {
                index: self.index,
                batch: self.batch,
                deadline,
                left: deadline - now,
            })
        }
    }
}

/// How many withdrawals the batches `chain` agrees with hold.
pub fn withdrawal_count(chain: &Chain) -> u64 {
    // Withdrawals are numbered from 0 without gaps, so the first missing index is the count:
    // found by doubling then bisecting, without reaching into the chain's internals.
    let mut hi = 1u64;
    while chain.withdrawal(hi - 1).is_some() {
        hi = hi.saturating_mul(2);
    }
    let (mut lo, mut hi) = (0u64, hi - 1); // every index below `lo` exists, `hi` does not
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if chain.withdrawal(mid).is_some() {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// The proof of withdrawal `index` under the root of the first batch that holds it, taken from
/// a chain derived from L1. Refuses when the withdrawal lies beyond a batch whose root
/// re-execution does not reproduce.
pub fn withdrawal_proof(chain: &Chain, index: u64) -> Result<WithdrawalProof, ProofError> {
    let found = chain.withdrawal(index).zip(chain.batch_of_withdrawal(index));
    let Some(((recipient, token, amount), batch)) = found else {
        if let Some(d) = chain.dispute() {
            return Err(ProofError::WrongRoot {
                index,
                batch: d.index,
                claimed: d.claimed_root,
                computed: d.computed_root,
                is_final: d.is_final,
            });
        }
        return Err(ProofError::Unknown { index, count: withdrawal_count(chain) });
    };
    let (batch_index, is_final, batch_timestamp) =
        (batch.index, batch.is_final, batch.l1_timestamp);
    match chain.prove(&Chain::withdrawal_key(index), Some(batch_index))? {
        Ok((_, root, proof)) => Ok(WithdrawalProof {
            index,
            recipient,
            token,
            amount,
            batch: batch_index,
            state_root: root,
            siblings: proof.siblings,
            is_final,
            batch_timestamp,
        }),
        // `batch_of_withdrawal` only returns agreed batches, which `prove` serves.
        Err(ProofRefusal::NotVerified | ProofRefusal::Disputed) => {
            Err(ProofError::Unknown { index, count: withdrawal_count(chain) })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(index: u64, id: u64) -> DerivedBatch {
        DerivedBatch {
            index,
            id,
            poster: Address::ZERO,
            tx_root: B256::ZERO,
            inbox_start: 0,
            inbox_end: 0,
            claimed_root: B256::ZERO,
            l1_tx: B256::ZERO,
            l1_block: 1,
            l1_timestamp: 1,
            is_final: false,
            records: Vec::new(),
        }
    }

    fn ids(batches: &[DerivedBatch]) -> Vec<(u64, bool)> {
        batches.iter().map(|b| (b.id, b.is_final)).collect()
    }

    #[test]
    fn tracks_appends_removals_reposts_and_finality_like_l1() {
        let mut list = Vec::new();
        for (i, id) in [(0, 0), (1, 1), (2, 2)] {
            track(&mut list, ChainEvent::Appended(batch(i, id))).expect("append");
        }
        // Read twice (a range overlap): no change.
        track(&mut list, ChainEvent::Appended(batch(1, 1))).expect("again");
        assert_eq!(ids(&list), [(0, false), (1, false), (2, false)]);
        track(&mut list, ChainEvent::Finalized { index: 0, id: 0 }).expect("final");
        // A lost game removes 1.., the sequencer re-posts index 1 under a new id.
        track(&mut list, ChainEvent::Removed { from_index: 1 }).expect("remove");
        track(&mut list, ChainEvent::Appended(batch(1, 3))).expect("repost");
        // A finality event for a removed id changes nothing.
        track(&mut list, ChainEvent::Finalized { index: 1, id: 1 }).expect("stale");
        assert_eq!(ids(&list), [(0, true), (3, false)]);
        track(&mut list, ChainEvent::Finalized { index: 1, id: 3 }).expect("final");
        assert_eq!(ids(&list), [(0, true), (3, true)]);
        assert!(track(&mut list, ChainEvent::Appended(batch(5, 9))).is_err(), "a gap");
    }

    #[test]
    fn finality_refuses_during_the_challenge_period_and_says_when_it_ends() {
        let proof = WithdrawalProof {
            index: 4,
            recipient: Address::ZERO,
            token: Address::ZERO,
            amount: 1,
            batch: 2,
            state_root: B256::ZERO,
            siblings: Vec::new(),
            is_final: false,
            batch_timestamp: 100,
        };
        let err = proof.finality(160, 130).expect_err("too early");
        assert!(matches!(err, ProofError::NotFinal { batch: 2, deadline: 160, left: 30, .. }));
        assert!(err.to_string().contains("not final yet") && err.to_string().contains("in 30 s"));
        assert_eq!(proof.finality(160, 160).expect("over"), Finality::PeriodOver);
        let final_proof = WithdrawalProof { is_final: true, ..proof };
        assert_eq!(final_proof.finality(160, 0).expect("final"), Finality::Final);
    }
}
