//! The defender: answers every game against this sequencer's batches by dissecting with the
//! true intermediate roots, replayed from the state before the batch; times out a challenger
//! that misses its deadline (so a bond against an honest batch is lost to the sequencer); and
//! withdraws what the ChallengeManager credits it. Games are found by scanning the
//! ChallengeManager, so a restart mid-game simply picks them up again.

use std::{
    collections::{BTreeSet, HashMap},
    sync::Arc,
    time::Duration,
};

use keel_core::{
    dissection::dissection_points,
    state::{step_roots, BatchSteps},
    B256,
};
use keel_l1::{GameInfo, GameStatus, L1Client};
use keel_store::Ledger;
use parking_lot::RwLock;

use crate::{chain::Chain, fault::Faults, metrics::Metrics};

/// Defend until `shutdown` fires.
pub async fn run(
    l1: L1Client,
    ledger: Ledger,
    chain: Arc<RwLock<Chain>>,
    faults: Arc<Faults>,
    metrics: Metrics,
    poll: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut defender = Defender {
        l1,
        ledger,
        chain,
        faults,
        metrics: metrics.clone(),
        watched: BTreeSet::new(),
        next_game: 0,
        roots: HashMap::new(),
    };
    loop {
        match defender.round().await {
            Ok(open) => metrics.open_games.set(open as i64),
            Err(e) => tracing::warn!(error = %e, "defender round failed; retrying"),
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = shutdown.changed() => return,
        }
    }
}

struct Defender {
    l1: L1Client,
    ledger: Ledger,
    chain: Arc<RwLock<Chain>>,
    faults: Arc<Faults>,
    metrics: Metrics,
    watched: BTreeSet<u64>,
    next_game: u64,
    /// `R_0 … R_n` per batch id, computed once per batch.
    roots: HashMap<u64, Vec<B256>>,
}

impl Defender {
    async fn round(&mut self) -> anyhow::Result<usize> {
        let count = self.l1.game_count().await?;
        self.watched.extend(self.next_game..count);
        self.next_game = count;
        let us = self.l1.account();
        let now = self.l1.head_timestamp().await?;
        // Each game on its own: one that cannot be answered now (a failed move, a batch that
        // is gone) must not keep the others from their answers before their deadlines. A
        // failed game is tried again next round.
        let mut failed = 0usize;
        for id in self.watched.clone() {
            match self.play(id, us, now).await {
                Ok(true) => {}
                Ok(false) => {
                    self.watched.remove(&id);
                }
                Err(e) => {
                    failed += 1;
                    tracing::warn!(game = id, error = %e, "defending this game failed; retrying next round");
                }
            }
        }
        if failed > 0 {
            self.metrics.defender_failures.inc_by(failed as u64);
        }
        if !self.l1.credits(us).await?.is_zero() {
            self.l1.withdraw_credits().await?;
            tracing::info!("withdrew what the ChallengeManager credited (forfeited bonds)");
        }
        Ok(self.watched.len())
    }

    /// Make this round's move in game `id`, if it is ours to make. Returns whether the game
    /// still needs watching.
    async fn play(
        &mut self,
        id: u64,
        us: alloy::primitives::Address,
        now: u64,
    ) -> anyhow::Result<bool> {
        let game = self.l1.game(id).await?;
        if game.is_over() || game.asserter != us {
            return Ok(false);
        }
        // A game on a batch that was removed, or in which we lost our place as a defender
        // elsewhere, can no longer be played (its moves revert); closing it returns the
        // challenger's bond.
        if self.l1.is_stale(id).await? {
            self.l1.cancel_stale(id).await?;
            tracing::info!(game = id, batch = game.batch_index, "closed a game that is stale");
            return Ok(false);
        }
        match game.status {
            GameStatus::AsserterTurn if self.faults.silent_defender() => {
                tracing::warn!(game = id, "FAULT: the defender stays silent");
            }
            GameStatus::AsserterTurn => self.answer(&game).await?,
            // L1 checks block.timestamp > deadline; the next block is later than the head.
            GameStatus::ChallengerTurn if now > game.deadline => {
                self.l1.timeout(id).await?;
                tracing::info!(game = id, "the challenger missed its deadline: timed out");
            }
            _ => {}
        }
        Ok(true)
    }

    async fn answer(&mut self, game: &GameInfo) -> anyhow::Result<()> {
        if !self.roots.contains_key(&game.batch_id) {
            let roots = self.replay(game.batch_index).await?;
            self.roots.insert(game.batch_id, roots);
        }
        let roots = &self.roots[&game.batch_id];
        let degree = self.l1.deployment().params.degree;
        let points = dissection_points(game.lo, game.hi, degree)?;
        // A root we do not have is a bug (the replay is shorter than the game's range), never
        // a zero to post: that would be a wrong root the challenger wins on.
        let posted = points
            .iter()
            .map(|&p| {
                roots.get(p as usize).copied().ok_or_else(|| {
                    anyhow::anyhow!(
                        "no root for step {p} of batch {} ({} replayed)",
                        game.batch_index,
                        roots.len()
                    )
                })
            })
            .collect::<anyhow::Result<Vec<B256>>>()?;
        self.l1.dissect(game.id, posted).await?;
        tracing::info!(
            game = game.id,
            batch = game.batch_index,
            lo = game.lo,
            hi = game.hi,
            "dissected"
        );
        Ok(())
    }

    /// Replay batch `index` step by step from the state before it (or, with fault injection,
    /// the dishonest roots that were posted for it).
    async fn replay(&self, index: u64) -> anyhow::Result<Vec<B256>> {
        let records = self.ledger.batch_records(index).await?;
        let chain = self.chain.clone();
        let claimed_on_l1 = self.l1.batch(index).await?.postStateRoot;
        let faults = self.faults.clone();
        tokio::task::spawn_blocking(move || {
            let claim = faults.claim(&chain.read(), index, &records)?;
            if let Some(claim) = claim.filter(|c| c.roots.last() == Some(&claimed_on_l1)) {
                tracing::warn!(batch = index, "FAULT: defending the dishonest roots");
                return Ok(claim.roots);
            }
            let chain = chain.read();
            let batch = chain
                .batches()
                .get(index as usize)
                .ok_or_else(|| anyhow::anyhow!("batch {index} is not in this sequencer's chain"))?;
            let steps = BatchSteps {
                entries: chain.inbox_entries(batch.inbox_start, batch.inbox_end),
                records: chain.domain().prepare_all(&records),
            };
            Ok(step_roots(chain.config(), chain.state().tree().store(), batch.pre_root, &steps)?)
        })
        .await?
    }
}
