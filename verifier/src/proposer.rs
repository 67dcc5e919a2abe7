//! The fallback proposer: the verifier's side of the escape hatch. When the sequencer has not
//! appended a batch for the Rollup's `sequencerInactivityPeriod`, any staked party may append, and
//! a verifier configured to do so posts batches that consume the L1 inbox (deposits and forced
//! withdrawals) and finalizes batches whose challenge period is over, so users can always leave.
//!
//! Its batches carry no L2 records, only inbox entries, and their post-state root is computed by
//! the core STF on the state the verifier agrees with — the root every honest verifier computes,
//! so its own follower then verifies the batch like any other. It posts only when the verifier
//! has caught up with L1 and agrees with every batch there (it never builds on a batch it
//! disputes), one batch at a time (the next one waits until the previous one is derived and
//! agreed), and re-checks the inactivity condition on L1 right before sending. A refusal by L1
//! (the sequencer came back, the inbox moved) is logged, and the next round re-reads L1.
//!
//! Its batches are defended by the [`Defender`](crate::defender) task, which the node starts with
//! the proposer: in every open game against them it dissects with the true roots and times out a
//! challenger that misses its deadline.

use std::{sync::Arc, time::Duration};

use alloy::providers::DynProvider;
use keel_core::{apply_step, smt::TreeError, state::RootedState, Address, Step, B256, U256};
use keel_l1::{
    bindings::rollup::Rollup::{self, RollupInstance},
    L1Client, L1Error,
};

use crate::{metrics::Metrics, shared::Shared};

/// Most batches finalized in one transaction (bounds its gas).
const MAX_FINALIZE: u64 = 256;

/// Why a round failed (it is retried).
#[derive(Debug, thiserror::Error)]
pub enum ProposeError {
    /// L1 failed.
    #[error(transparent)]
    L1(#[from] L1Error),
    /// The tree failed computing the post-state root (a node is missing: a bug).
    #[error(transparent)]
    Tree(#[from] TreeError),
    /// A blocking task panicked.
    #[error("a root computation failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The verifier's key is the sequencer's: the proposer would stand in for itself.
    #[error("the verifier key is the sequencer's account {0}; the fallback proposer is for other parties")]
    IsSequencer(Address),
}

/// What a round did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProposerRound {
    /// The sequencer appended within `sequencerInactivityPeriod`: only it may post.
    SequencerActive,
    /// The verifier has not derived or agreed with every batch on L1 yet.
    Behind,
    /// The hatch is open but no inbox entry waits (batches were finalized if due).
    NothingToPost,
    /// A batch was appended at this index.
    Proposed(u64),
    /// L1 refused the batch (logged); the next round re-reads L1.
    Refused,
}

/// The Rollup's fixed parameters the proposer needs, read from L1 (not from the deployment file,
/// which could be wrong).
#[derive(Clone, Copy, Debug)]
struct HatchParams {
    sequencer: Address,
    inactivity_period: u64,
    challenge_period: u64,
    required_stake: U256,
}

/// The last batch on L1, which the verifier agrees with: what the next batch builds on.
#[derive(Clone, Copy, Debug)]
struct Tip {
    /// Batches on L1 (the next batch's index).
    count: u64,
    /// Its post-state root (zero at genesis).
    root: B256,
    /// The first inbox entry no batch consumed.
    inbox_start: u64,
    /// Inbox entries the verifier knows (confirmed on L1).
    inbox_known: u64,
}

/// The fallback proposer task.
#[derive(Debug)]
pub struct Proposer {
    l1: L1Client,
    rollup: RollupInstance<DynProvider>,
    shared: Arc<Shared>,
    metrics: Metrics,
    params: Option<HatchParams>,
    /// The last round's result, so a state is logged when it changes and not every round.
    last: Option<ProposerRound>,
}

impl Proposer {
    /// A proposer sending from `l1`'s account (which must be able to pay the stake and gas).
    pub fn new(l1: L1Client, shared: Arc<Shared>, metrics: Metrics) -> Self {
        let rollup = Rollup::new(l1.deployment().rollup, l1.provider().clone());
        Self { l1, rollup, shared, metrics, params: None, last: None }
    }

    /// Propose until `shutdown` fires.
    pub async fn run(mut self, poll: Duration, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut backoff = poll;
        loop {
            match self.round().await {
                Ok(r) => {
                    backoff = poll;
                    self.log_change(r);
                }
                Err(ProposeError::IsSequencer(a)) => {
                    tracing::error!(account = %a, "fallback proposer disabled: the verifier key is the sequencer's");
                    return;
                }
                Err(e) => {
                    self.metrics.errors.with_label_values(&["proposer"]).inc();
                    tracing::warn!(error = %e, "fallback proposer round failed; retrying");
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    fn log_change(&mut self, r: ProposerRound) {
        if self.last == Some(r) {
            return;
        }
        match r {
            ProposerRound::SequencerActive if self.last.is_some() => {
                tracing::info!("the sequencer is active: the fallback proposer stands by")
            }
            // Right after a proposal it waits for its own batch to be derived: not news.
            ProposerRound::Behind if matches!(self.last, Some(ProposerRound::Proposed(_))) => {}
            ProposerRound::Behind => tracing::info!(
                "escape hatch open, but the verifier has not agreed with every batch on L1: not proposing"
            ),
            ProposerRound::NothingToPost => {
                tracing::info!("escape hatch open; no inbox entry waits to be consumed")
            }
            _ => {}
        }
        self.last = Some(r);
    }

    async fn params(&mut self) -> Result<HatchParams, ProposeError> {
        if let Some(p) = self.params {
            return Ok(p);
        }
        let p = HatchParams {
            sequencer: self.rollup.sequencer().call().await.map_err(L1Error::from)?,
            inactivity_period: self
                .rollup
                .sequencerInactivityPeriod()
                .call()
                .await
                .map_err(L1Error::from)?,
            challenge_period: self.rollup.challengePeriod().call().await.map_err(L1Error::from)?,
            required_stake: self.rollup.requiredStake().call().await.map_err(L1Error::from)?,
        };
        if p.sequencer == self.l1.account() {
            return Err(ProposeError::IsSequencer(p.sequencer));
        }
        self.params = Some(p);
        Ok(p)
    }

    /// Whether L1 lets a party other than the sequencer append now: the latest block's time is
    /// at least `lastSequencerAppend + sequencerInactivityPeriod` (the next block's time is not
    /// earlier). Returns the latest block's time too.
    async fn hatch_open(&self, p: &HatchParams) -> Result<(bool, u64), ProposeError> {
        let last = self.rollup.lastSequencerAppend().call().await.map_err(L1Error::from)?;
        let now = self.l1.head_timestamp().await?;
        Ok((last.saturating_add(p.inactivity_period) <= now, now))
    }

    /// One round: if the hatch is open and the verifier agrees with all of L1, finalize what is
    /// due and post a batch consuming every inbox entry it knows that no batch consumed.
    pub async fn round(&mut self) -> Result<ProposerRound, ProposeError> {
        let p = self.params().await?;
        let (open, now) = self.hatch_open(&p).await?;
        let was_open = self.metrics.escape_hatch_open.get() == 1;
        self.metrics.escape_hatch_open.set(i64::from(open));
        if !open {
            return Ok(ProposerRound::SequencerActive);
        }
        if !was_open {
            tracing::warn!(
                inactivity_period_secs = p.inactivity_period,
                "the sequencer has not appended for its inactivity period: escape hatch open, \
                 the fallback proposer takes over"
            );
        }
        let Some(tip) = self.caught_up().await? else { return Ok(ProposerRound::Behind) };
        self.finalize(&p, &tip, now).await?;
        if tip.inbox_known <= tip.inbox_start {
            return Ok(ProposerRound::NothingToPost);
        }
        self.propose(&p, tip).await
    }

    /// The tip, if the verifier has derived every batch L1 holds, agrees with all of them, and
    /// its state is the one after the last.
    async fn caught_up(&self) -> Result<Option<Tip>, ProposeError> {
        let count = self.l1.batch_count().await?;
        let inbox_start = self.l1.next_inbox_start().await?;
        let (tip, last_id) = {
            let chain = self.shared.chain.read();
            if chain.needs_reload()
                || chain.dispute().is_some()
                || chain.batches().len() as u64 != count
                || chain.agreed_count() != count
            {
                return Ok(None);
            }
            let last = chain.batches().last();
            let root = last.map_or(B256::ZERO, |b| b.claimed_root);
            if last.map_or(0, |b| b.inbox_end) != inbox_start
                || chain.state().committed_root() != root
            {
                return Ok(None);
            }
            let tip = Tip { count, root, inbox_start, inbox_known: chain.inbox_len() };
            (tip, last.map(|b| b.id))
        };
        // The same count is not the same batches: L1's last one must be the one re-executed.
        if let Some(index) = count.checked_sub(1) {
            let header = self.l1.batch(index).await?;
            if Some(header.id) != last_id || header.postStateRoot != tip.root {
                return Ok(None);
            }
        }
        Ok(Some(tip))
    }

    /// Finalize the agreed batches whose challenge period is over, so their withdrawals can be
    /// paid. L1 refuses while a game on one of them is open; that is retried next round.
    async fn finalize(&self, p: &HatchParams, tip: &Tip, now: u64) -> Result<(), ProposeError> {
        let finalized = self.l1.finalized_count().await?;
        let up_to = {
            let chain = self.shared.chain.read();
            let end = tip.count.min(finalized + MAX_FINALIZE).min(chain.agreed_count());
            chain
                .batches()
                .get(finalized as usize..end as usize)
                .unwrap_or_default()
                .iter()
                .take_while(|b| b.l1_timestamp.saturating_add(p.challenge_period) <= now)
                .last()
                .map(|b| b.index)
        };
        let Some(up_to) = up_to else { return Ok(()) };
        match self.l1.finalize_batches(up_to).await {
            Ok(_) => tracing::info!(from = finalized, up_to, "fallback proposer finalized batches"),
            Err(e) => match refusal(&e) {
                Some(reason) => {
                    tracing::info!(up_to, %reason, "batches not finalized yet (an open game?)")
                }
                None => return Err(e.into()),
            },
        }
        Ok(())
    }

    async fn propose(&self, p: &HatchParams, tip: Tip) -> Result<ProposerRound, ProposeError> {
        let us = self.l1.account();
        let staked = self.l1.stake_of(us).await?;
        if staked < p.required_stake {
            let amount = p.required_stake - staked;
            self.l1.stake(amount).await?;
            tracing::info!(wei = %amount, "fallback proposer staked on the Rollup");
        }
        let (start, end) = (tip.inbox_start, tip.inbox_known);
        let Some(root) = self.post_root(tip).await? else { return Ok(ProposerRound::Behind) };

        // The sequencer may have come back, or anything moved, while the root was computed.
        if !self.hatch_open(p).await?.0 {
            tracing::info!("the sequencer appended again: not proposing");
            return Ok(ProposerRound::SequencerActive);
        }
        if self.l1.batch_count().await? != tip.count || self.l1.next_inbox_start().await? != start {
            return Ok(ProposerRound::Behind);
        }
        // L1 appends it only at index `tip.count` on top of `tip.root`: if another staked
        // party's batch lands first, this one reverts instead of claiming a root built on a
        // stale tip (which anyone could then challenge to take the stake).
        match self.l1.append_batch(&[], end, root, tip.count, tip.root).await {
            Ok((index, receipt)) => {
                self.metrics.batches_proposed.inc();
                tracing::info!(
                    batch = index,
                    inbox_start = start,
                    inbox_end = end,
                    root = %root,
                    gas = receipt.gas_used,
                    l1_tx = %receipt.transaction_hash,
                    "fallback proposer appended a batch consuming the inbox"
                );
                Ok(ProposerRound::Proposed(index))
            }
            Err(e) => match refusal(&e) {
                Some(reason) => {
                    self.metrics.errors.with_label_values(&["proposer"]).inc();
                    tracing::warn!(
                        inbox_start = start,
                        inbox_end = end,
                        %reason,
                        "L1 refused the fallback batch; re-reading L1 next round"
                    );
                    Ok(ProposerRound::Refused)
                }
                None => Err(e.into()),
            },
        }
    }

    /// The root after consuming inbox `[tip.inbox_start, tip.inbox_known)` from the agreed
    /// state, on an overlay (the hot state only ever takes batches from L1). `None` if the chain
    /// moved since `tip` was read.
    async fn post_root(&self, tip: Tip) -> Result<Option<B256>, ProposeError> {
        let shared = self.shared.clone();
        let root = tokio::task::spawn_blocking(move || -> Result<Option<B256>, TreeError> {
            let chain = shared.chain.read();
            if chain.needs_reload()
                || chain.agreed_count() != tip.count
                || chain.batches().len() as u64 != tip.count
                || chain.state().committed_root() != tip.root
            {
                return Ok(None);
            }
            let Some(entries) = chain.inbox_range(tip.inbox_start, tip.inbox_known) else {
                return Ok(None);
            };
            let config = *chain.config();
            let mut state = RootedState::new(chain.state().tree().store(), tip.root);
            for e in entries {
                apply_step(&config, Step::Inbox(&e.entry), &mut state)?;
            }
            state.commit().map(Some)
        })
        .await??;
        Ok(root)
    }
}

/// Why L1 refused a transaction, if it did (as opposed to failing to answer): the Rollup's
/// decoded error when the call reverts before sending, or a mined transaction that reverted
/// (another party's transaction landed first).
fn refusal(e: &L1Error) -> Option<String> {
    match e {
        L1Error::Contract(c) => c
            .as_decoded_interface_error::<Rollup::RollupErrors>()
            .map(|r| format!("{r:?}"))
            .or_else(|| c.as_revert_data().map(|d| format!("revert data {d}"))),
        L1Error::Reverted(hash) => Some(format!("transaction {hash} reverted")),
        L1Error::NonceTaken { .. } => Some(e.to_string()),
        _ => None,
    }
}
