//! The defender: plays every game in which this verifier's account is the defender (the asserter)
//! — games against the fallback proposer's own batches, and, with `defend_agreed`, games against
//! any batch it agrees with that it bonded to defend. On its turn it dissects with the true roots,
//! replayed from the agreed state's tree (which keeps every earlier version); it times out a
//! challenger that misses its deadline; it closes games that went stale; and it takes back its
//! defence bonds once their batches are final or gone. The bonds it wins are withdrawn by the
//! challenger task, which withdraws every credit of the account.
//!
//! Why it joins as soon as a batch it agrees with is challenged, not only once the poster has
//! missed a move: a poster can lose its own correct batch within one block (it dissects with a
//! wrong root, its accomplice proves that step at once), and the ChallengeManager keeps the batch
//! only for `moveTimeout` after the latest challenge when nobody stands. Joining at the first
//! challenge costs one bond, returned at finality; an honest defender never loses a game.

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use keel_core::{
    dissection::{dissection_points, DissectionError},
    smt::TreeError,
    state::{step_roots, BatchSteps},
    B256,
};
use keel_l1::{client::RollupEvent, DefenderStatus, GameInfo, GameStatus, L1Client, L1Error};

use crate::{metrics::Metrics, shared::Shared};

/// Why a round failed (it is retried).
#[derive(Debug, thiserror::Error)]
pub enum DefendError {
    /// L1 failed.
    #[error(transparent)]
    L1(#[from] L1Error),
    /// The tree failed replaying a batch (a node is missing: a bug).
    #[error(transparent)]
    Tree(#[from] TreeError),
    /// A blocking task panicked.
    #[error("a replay failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The dissection arithmetic refused a game's range (L1 and this code disagree).
    #[error(transparent)]
    Dissection(#[from] DissectionError),
    /// A game is against a batch this verifier cannot replay.
    #[error("game {game}: {reason}")]
    Game {
        /// The game.
        game: u64,
        /// Why.
        reason: String,
    },
}

/// The defender task.
#[derive(Debug)]
pub struct Defender {
    l1: L1Client,
    shared: Arc<Shared>,
    metrics: Metrics,
    /// Whether to bond in defence of any challenged batch this verifier agrees with.
    defend_agreed: bool,
    /// Games below this id have been looked at.
    next_game: u64,
    /// Open games in which this account is the defender.
    defending: BTreeSet<u64>,
    /// Open games against others' batches this verifier may have to join the defence of: kept
    /// until it has agreed with the batch (and joined), disputes it, or the game is over.
    candidates: BTreeSet<u64>,
    /// Batches (index, id) this account bonded to defend whose bond is not back yet.
    bonded: HashSet<(u64, u64)>,
    /// `R_0 … R_n` of the batches it defends, by batch id.
    roots: HashMap<u64, Arc<Vec<B256>>>,
}

impl Defender {
    /// A defender sending from `l1`'s account; with `defend_agreed` it also joins the defence of
    /// challenged batches it agrees with.
    pub fn new(l1: L1Client, shared: Arc<Shared>, metrics: Metrics, defend_agreed: bool) -> Self {
        Self {
            l1,
            shared,
            metrics,
            defend_agreed,
            next_game: 0,
            defending: BTreeSet::new(),
            candidates: BTreeSet::new(),
            bonded: HashSet::new(),
            roots: HashMap::new(),
        }
    }

    /// Defend until `shutdown` fires.
    pub async fn run(mut self, poll: Duration, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        loop {
            if let Err(e) = self.round().await {
                self.metrics.errors.with_label_values(&["defender"]).inc();
                tracing::warn!(error = %e, "defender round failed; retrying");
            }
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    /// One round: look at new games (joining the defence of agreed batches under attack), move
    /// in each game of ours, release bonds that are free.
    pub async fn round(&mut self) -> Result<(), DefendError> {
        let us = self.l1.account();
        let count = self.l1.game_count().await?;
        while self.next_game < count {
            let g = self.l1.game(self.next_game).await?;
            if !g.is_over() {
                if g.asserter == us {
                    tracing::warn!(game = g.id, batch = g.batch_index, challenger = %g.challenger, "a batch we defend is challenged: defending it");
                    self.defending.insert(g.id);
                } else if self.defend_agreed {
                    self.candidates.insert(g.id);
                }
            }
            self.next_game += 1;
        }
        for id in self.candidates.clone() {
            let g = self.l1.game(id).await?;
            if g.is_over() || self.join(&g).await? {
                self.candidates.remove(&id);
            }
        }
        let now = self.l1.head_timestamp().await?;
        // Each game on its own: one that cannot be played now must not keep the others from
        // their moves before their deadlines. A failed game is tried again next round.
        for id in self.defending.clone() {
            match self.play(id, now).await {
                Ok(true) => {}
                Ok(false) => {
                    self.defending.remove(&id);
                }
                Err(e) => {
                    self.metrics.errors.with_label_values(&["defender"]).inc();
                    tracing::warn!(game = id, error = %e, "defending this game failed; retrying next round");
                }
            }
        }
        self.release().await;
        Ok(())
    }

    /// Bond to defend the batch of game `g` if this verifier agrees with it and does not defend
    /// it yet. Returns whether `g` needs no more looking at (joined, or never will be).
    async fn join(&mut self, g: &GameInfo) -> Result<bool, DefendError> {
        let us = self.l1.account();
        let verdict = {
            let chain = self.shared.chain.read();
            match chain.batches().get(g.batch_index as usize) {
                // Not derived yet: look again next round.
                None => None,
                Some(b) if b.id != g.batch_id || b.poster == us => Some(false),
                Some(_) if chain.dispute().is_some_and(|d| d.id == g.batch_id) => Some(false),
                Some(b) if b.index < chain.agreed_count() => Some(true),
                // Derived, not executed yet: look again next round.
                Some(_) => None,
            }
        };
        match verdict {
            None => return Ok(false),
            Some(false) => return Ok(true),
            Some(true) => {}
        }
        if self.bonded.contains(&(g.batch_index, g.batch_id)) {
            return Ok(true);
        }
        if self.l1.defender_status(g.batch_id, us).await? != DefenderStatus::None {
            self.bonded.insert((g.batch_index, g.batch_id));
            return Ok(true);
        }
        // A refusal (the window closed, the batch was removed meanwhile) is logged, not retried:
        // the next challenge against it, if any, looks again.
        match self.l1.defend(g.batch_index).await {
            Ok(_) => {
                self.bonded.insert((g.batch_index, g.batch_id));
                tracing::warn!(game = g.id, batch = g.batch_index, poster = %g.asserter, "a batch this verifier agrees with is challenged: bonded to defend it");
            }
            Err(e) => {
                tracing::warn!(batch = g.batch_index, error = %e, "could not join the defence")
            }
        }
        Ok(true)
    }

    /// Take back the defence bonds of batches that are final or gone.
    async fn release(&mut self) {
        for (index, id) in self.bonded.clone() {
            let free = match (self.l1.is_current(index, id).await, self.l1.is_final(index).await) {
                (Ok(current), Ok(is_final)) => !current || is_final,
                _ => continue,
            };
            if !free {
                continue;
            }
            match self.l1.release_defence(id).await {
                Ok(_) => tracing::info!(batch = index, "took back the defence bond"),
                // Eliminated (lost a game) or released already: nothing to take back.
                Err(e) => {
                    tracing::debug!(batch = index, error = %e, "no defence bond to take back")
                }
            }
            self.bonded.remove(&(index, id));
        }
    }

    /// This round's move in game `id`, in which we defend. Returns whether the game still needs
    /// watching.
    async fn play(&mut self, id: u64, now: u64) -> Result<bool, DefendError> {
        let g = self.l1.game(id).await?;
        if !g.is_over() && self.l1.is_stale(id).await? {
            // Its batch was removed (or we lost our place as its defender elsewhere): its moves
            // revert; closing it returns the challenger's bond.
            self.l1.cancel_stale(id).await?;
            tracing::info!(game = id, batch = g.batch_index, "closed a game that is stale");
            return Ok(false);
        }
        if self.shared.chain.read().dispute().is_some_and(|d| d.id == g.batch_id) {
            // Only after a race (a fallback batch built on a stale view): its root is wrong,
            // so it must lose.
            tracing::error!(
                game = id,
                batch = g.batch_index,
                "not defending a batch this verifier disputes"
            );
            return Ok(false);
        }
        match g.status {
            GameStatus::AsserterTurn if now < g.deadline => self.dissect(&g).await?,
            GameStatus::AsserterTurn => {
                tracing::error!(game = id, "missed the deadline to dissect in a game we defend")
            }
            // L1 checks block.timestamp > deadline; the next block is later than the head.
            GameStatus::ChallengerTurn if now > g.deadline => {
                self.l1.timeout(id).await?;
                tracing::info!(game = id, "the challenger missed its deadline: timed out");
            }
            GameStatus::ChallengerTurn => {}
            GameStatus::AsserterWon => {
                tracing::info!(game = id, batch = g.batch_index, "game WON: the batch stands");
                return Ok(false);
            }
            GameStatus::ChallengerWon => {
                tracing::error!(
                    game = id,
                    batch = g.batch_index,
                    "game LOST: this account no longer defends the batch"
                );
                return Ok(false);
            }
            GameStatus::Cancelled => return Ok(false),
        }
        Ok(true)
    }

    async fn dissect(&mut self, g: &GameInfo) -> Result<(), DefendError> {
        let roots = match self.roots.get(&g.batch_id) {
            Some(r) => r.clone(),
            None => {
                let r = Arc::new(self.replay(g).await?);
                self.roots.insert(g.batch_id, r.clone());
                r
            }
        };
        let degree = self.l1.deployment().params.degree;
        let points = dissection_points(g.lo, g.hi, degree)?;
        let posted = points
            .iter()
            .map(|&p| roots.get(p as usize).copied())
            .collect::<Option<Vec<B256>>>()
            .ok_or_else(|| DefendError::Game {
                game: g.id,
                reason: format!("range [{}, {}] is past the batch's end", g.lo, g.hi),
            })?;
        self.l1.dissect(g.id, posted).await?;
        tracing::info!(game = g.id, batch = g.batch_index, lo = g.lo, hi = g.hi, "dissected");
        Ok(())
    }

    /// `R_0 … R_n` of the game's batch, which this verifier agreed with: its records read again
    /// from the posting transaction on L1 (the chain keeps no records of agreed batches), its
    /// inbox entries from the chain, replayed from the tree.
    async fn replay(&self, g: &GameInfo) -> Result<Vec<B256>, DefendError> {
        let (game, index, id) = (g.id, g.batch_index, g.batch_id);
        let refuse = move |reason: String| DefendError::Game { game, reason };
        let (l1_block, tx_count) = {
            let chain = self.shared.chain.read();
            let b = chain
                .batches()
                .get(index as usize)
                .filter(|b| b.id == id && index < chain.agreed_count())
                .ok_or_else(|| {
                    refuse(format!("batch {index} (id {id}) is not an agreed batch here (yet)"))
                })?;
            (b.l1_block, b.tx_count)
        };
        let records = if tx_count == 0 {
            Vec::new()
        } else {
            self.l1
                .rollup_events(l1_block, l1_block)
                .await?
                .into_iter()
                .find_map(|e| match e {
                    RollupEvent::Appended(p) if p.id == id => Some(p.records),
                    _ => None,
                })
                .ok_or_else(|| {
                    refuse(format!("no append of batch {index} in L1 block {l1_block}"))
                })?
        };
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || {
            let chain = shared.chain.read();
            let b = chain
                .batches()
                .get(index as usize)
                .filter(|b| b.id == id)
                .ok_or_else(|| refuse(format!("batch {index} (id {id}) is gone")))?;
            let pre = match index.checked_sub(1) {
                Some(i) => chain.batches()[i as usize].claimed_root,
                None => B256::ZERO,
            };
            let entries = chain
                .inbox_range(b.inbox_start, b.inbox_end)
                .ok_or_else(|| refuse(format!("inbox of batch {index} not known")))?;
            let steps = BatchSteps {
                entries: entries.iter().map(|e| e.entry).collect(),
                records: chain.domain().prepare_all(&records),
            };
            Ok(step_roots(chain.config(), chain.state().tree().store(), pre, &steps)?)
        })
        .await?
    }
}
