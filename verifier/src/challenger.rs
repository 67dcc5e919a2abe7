//! The challenger: bonds against every defender of the first batch whose root the verifier
//! disputes — its poster and each party that bonded to defend it — and plays each game to the
//! end: selects the first segment whose end root differs from its own `R_k`, proves the last
//! disputed step with a one-step witness, times out a defender that misses its deadline. Once
//! every defender is out it removes the batch when the defence window has passed
//! (`removeDefeated`), settles the slashing reward escrowed for it once the batches before are
//! final, and withdraws what the ChallengeManager credited it.
//!
//! It never challenges a batch it agrees with: the only batch it bonds against is the chain's
//! [`Dispute`](crate::chain::Dispute). Its games are found by scanning the ChallengeManager
//! (`gameCount`, `getGame`) for games where it is the challenger, so after a restart it picks up
//! every open game where it left it, and never opens a second game against the same defender.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use keel_core::{dissection::first_disputed_segment, witness::prove_batch_step, Address, U256};
use keel_l1::{DefenderStatus, GameInfo, GameStatus, L1Client, L1Error};

use crate::{
    fault::ChallengerFault,
    metrics::Metrics,
    shared::{GameSummary, GamesView, Shared},
};

/// Why a round failed (it is retried).
#[derive(Debug, thiserror::Error)]
pub enum ChallengeError {
    /// L1 failed.
    #[error(transparent)]
    L1(#[from] L1Error),
    /// The dissection arithmetic refused the game's range (L1 and this code disagree).
    #[error(transparent)]
    Dissection(#[from] keel_core::dissection::DissectionError),
    /// The tree failed producing a witness.
    #[error(transparent)]
    Tree(#[from] keel_core::smt::TreeError),
    /// A blocking task panicked.
    #[error("a witness task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The game asks for something this verifier cannot produce.
    #[error("game {game}: {reason}")]
    Game {
        /// The game.
        game: u64,
        /// What is missing.
        reason: String,
    },
}

/// The challenger task.
#[derive(Debug)]
pub struct Challenger {
    l1: L1Client,
    shared: Arc<Shared>,
    metrics: Metrics,
    /// Games below this id have been looked at.
    next_game: u64,
    /// Open games where this verifier is the challenger: id → (batch id, defender).
    watched: BTreeMap<u64, (u64, Address)>,
    /// Ended games of this verifier: id → (batch id, defender, result).
    ended: HashMap<u64, (u64, Address, GameStatus)>,
    /// Batch ids it has said it will not challenge (said once, not every round).
    given_up: HashSet<u64>,
    /// Fault injection (tests only): how this challenger cheats.
    fault: ChallengerFault,
    /// Whether the dishonest challenge of an agreed batch was made.
    cheated: bool,
}

impl Challenger {
    /// A challenger sending from `l1`'s account.
    pub fn new(l1: L1Client, shared: Arc<Shared>, metrics: Metrics) -> Self {
        Self {
            l1,
            shared,
            metrics,
            next_game: 0,
            watched: BTreeMap::new(),
            ended: HashMap::new(),
            given_up: HashSet::new(),
            fault: ChallengerFault::None,
            cheated: false,
        }
    }

    /// Make this challenger dishonest (fault injection for tests; see [`crate::fault`]).
    pub fn with_fault(mut self, fault: ChallengerFault) -> Self {
        self.fault = fault;
        self
    }

    /// Play until `shutdown` fires.
    pub async fn run(mut self, poll: Duration, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut backoff = poll;
        loop {
            match self.round().await {
                Ok(()) => backoff = poll,
                Err(e) => {
                    self.metrics.errors.with_label_values(&["challenger"]).inc();
                    tracing::warn!(error = %e, "challenger round failed; retrying");
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    /// One round: find this verifier's games, move in each, challenge the disputed batch if no
    /// game of ours is open on it, withdraw credits.
    pub async fn round(&mut self) -> Result<(), ChallengeError> {
        let us = self.l1.account();
        let count = self.l1.game_count().await?;
        while self.next_game < count {
            let g = self.l1.game(self.next_game).await?;
            if g.challenger == us {
                if g.is_over() {
                    self.ended.insert(g.id, (g.batch_id, g.asserter, g.status));
                } else {
                    tracing::info!(
                        game = g.id,
                        batch = g.batch_index,
                        "playing an open game of ours"
                    );
                    self.watched.insert(g.id, (g.batch_id, g.asserter));
                }
            }
            self.next_game += 1;
        }
        let now = self.l1.head_timestamp().await?;
        let mut open = Vec::new();
        for id in self.watched.keys().copied().collect::<Vec<_>>() {
            let g = self.l1.game(id).await?;
            if g.is_over() {
                self.finished(&g);
                continue;
            }
            // A failed move is retried next round at the normal pace: backing off here would
            // slow every other game and eat into the move deadline.
            if let Err(e) = self.play(&g, now).await {
                self.metrics.errors.with_label_values(&["game"]).inc();
                tracing::warn!(game = id, error = %e, "move failed; retrying next round");
            }
            open.push(GameSummary {
                id,
                batch_index: g.batch_index,
                batch_id: g.batch_id,
                turn: if g.status == GameStatus::AsserterTurn {
                    "asserterTurn"
                } else {
                    "challengerTurn"
                },
                lo: g.lo,
                hi: g.hi,
                deadline: g.deadline,
            });
        }
        for game in self.maybe_challenge(now).await? {
            let g = self.l1.game(game).await?;
            open.push(GameSummary {
                id: game,
                batch_index: g.batch_index,
                batch_id: g.batch_id,
                turn: "asserterTurn",
                lo: g.lo,
                hi: g.hi,
                deadline: g.deadline,
            });
        }
        self.remove_defeated(now).await?;
        self.settle_rewards(us).await;
        if !self.l1.credits(us).await?.is_zero() {
            self.l1.withdraw_credits().await?;
            tracing::info!("withdrew bonds and rewards credited by the ChallengeManager");
        }
        self.publish(open);
        Ok(())
    }

    fn finished(&mut self, g: &GameInfo) {
        self.watched.remove(&g.id);
        self.ended.insert(g.id, (g.batch_id, g.asserter, g.status));
        match g.status {
            GameStatus::ChallengerWon => tracing::info!(
                game = g.id,
                batch = g.batch_index,
                defender = %g.asserter,
                "game WON: that defender is out (the batch goes once every defender is)"
            ),
            GameStatus::AsserterWon => tracing::error!(
                game = g.id,
                batch = g.batch_index,
                "game LOST: the asserter won (this verifier timed out or its witness was refused)"
            ),
            _ => {
                tracing::info!(game = g.id, "game cancelled: its batch was removed by another game")
            }
        }
    }

    fn publish(&self, open: Vec<GameSummary>) {
        let count =
            |s: GameStatus| self.ended.values().filter(|(_, _, st)| *st == s).count() as u64;
        let view = GamesView {
            won: count(GameStatus::ChallengerWon),
            lost: count(GameStatus::AsserterWon),
            cancelled: count(GameStatus::Cancelled),
            open,
        };
        let bond = self.l1.deployment().params.challenge_bond_wei;
        let at_stake = bond.saturating_mul(U256::from(view.open.len()));
        self.metrics.games_open.set(view.open.len() as i64);
        self.metrics.games_won.set(view.won as i64);
        self.metrics.games_lost.set(view.lost as i64);
        self.metrics.bond_at_stake_wei.set(f64::from(at_stake));
        *self.shared.games.lock() = view;
    }

    /// Make this verifier's move in `g`, if it is its turn (or the asserter's deadline passed).
    async fn play(&mut self, g: &GameInfo, now: u64) -> Result<(), ChallengeError> {
        let (current, dispute) = {
            let chain = self.shared.chain.read();
            let current =
                chain.batches().get(g.batch_index as usize).is_some_and(|b| b.id == g.batch_id);
            (current, chain.dispute().filter(|d| d.id == g.batch_id).cloned())
        };
        if !current
            || self.l1.defender_status(g.batch_id, g.asserter).await? == DefenderStatus::Eliminated
        {
            // Another game removed the batch or eliminated this game's defender: the bond comes
            // back. (If this view lags L1, the call fails its gas estimate and nothing is sent.)
            if let Err(e) = self.l1.cancel_stale(g.id).await {
                tracing::debug!(game = g.id, error = %e, "cancelStale not possible yet");
            }
            return Ok(());
        }
        if self.fault == ChallengerFault::Silent {
            tracing::warn!(game = g.id, "FAULT: the challenger stays silent");
            return Ok(());
        }
        match g.status {
            GameStatus::AsserterTurn => {
                // L1 checks block.timestamp > deadline; the next block is later than the head.
                if now > g.deadline {
                    self.l1.timeout(g.id).await?;
                    tracing::info!(game = g.id, "the asserter missed its deadline: timed out");
                }
                Ok(())
            }
            GameStatus::ChallengerTurn => {
                if now >= g.deadline {
                    tracing::error!(game = g.id, "this verifier's move deadline has passed");
                    return Ok(());
                }
                let Some(d) = dispute else {
                    if matches!(self.fault, ChallengerFault::ChallengeAgreed { .. }) {
                        // Nothing here is false: pick a segment at random-ish, never prove.
                        if g.hi - g.lo > 1 {
                            self.l1.select(g.id, 0).await?;
                            tracing::warn!(game = g.id, "FAULT: selected a segment it agrees with");
                        }
                        return Ok(());
                    }
                    return Err(ChallengeError::Game {
                        game: g.id,
                        reason: format!(
                            "no replay of batch {} (id {}) to move with; the verifier agrees with it or has not re-executed it yet",
                            g.batch_index, g.batch_id
                        ),
                    });
                };
                let degree = self.l1.deployment().params.degree;
                if g.hi - g.lo > 1 {
                    let own = |k: u64| d.roots.get(k as usize).copied().unwrap_or_default();
                    let segment = first_disputed_segment(
                        g.lo,
                        g.hi,
                        degree,
                        &g.dissection_roots,
                        g.root_hi,
                        own,
                    )?
                    .ok_or_else(|| ChallengeError::Game {
                        game: g.id,
                        reason: format!("every root in [{}, {}] agrees with ours", g.lo, g.hi),
                    })?;
                    self.l1.select(g.id, segment).await?;
                    tracing::info!(game = g.id, lo = g.lo, hi = g.hi, segment, "selected");
                } else {
                    let shared = self.shared.clone();
                    let step = g.lo as usize;
                    let proven = tokio::task::spawn_blocking(move || {
                        let chain = shared.chain.read();
                        prove_batch_step(
                            chain.config(),
                            chain.state().tree().store(),
                            d.pre_root,
                            &d.steps,
                            &d.tx_tree,
                            step,
                        )
                    })
                    .await??
                    .ok_or_else(|| ChallengeError::Game {
                        game: g.id,
                        reason: format!("step {step} is past the batch's end"),
                    })?;
                    self.l1.prove_step(g.id, proven.1.witness.abi_encode()).await?;
                    tracing::info!(game = g.id, step, "proved the disputed step");
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Bond against every standing defender of the disputed batch that no game of ours is open
    /// against, while it can be challenged and the batch is not final. Returns the new games.
    async fn maybe_challenge(&mut self, now: u64) -> Result<Vec<u64>, ChallengeError> {
        if let ChallengerFault::ChallengeAgreed { batch } = self.fault {
            if !self.cheated && batch < self.l1.batch_count().await? {
                let header = self.l1.batch(batch).await?;
                let game = self.l1.challenge(batch, header.poster).await?;
                self.cheated = true;
                self.watched.insert(game, (header.id, header.poster));
                self.next_game = self.next_game.max(game + 1);
                tracing::warn!(game, batch, "FAULT: challenged a batch this verifier agrees with");
                return Ok(vec![game]);
            }
        }
        let Some(d) = self.shared.chain.read().dispute().cloned() else { return Ok(Vec::new()) };
        let give_up = |why: &str, this: &mut Self| {
            if this.given_up.insert(d.id) {
                tracing::error!(
                    batch = d.index,
                    id = d.id,
                    "not challenging the disputed batch: {why}"
                );
            }
        };
        if self.ended.values().any(|(b, _, s)| *b == d.id && *s == GameStatus::AsserterWon) {
            // Losing a game over a root it disputes means this verifier was down past its
            // deadline or disagrees with the on-chain prover; another bond would not help.
            give_up("a game on it was lost already", self);
            return Ok(Vec::new());
        }
        if d.is_final {
            give_up("it is final on L1", self);
            return Ok(Vec::new());
        }
        // This view may lag L1: bond only if L1's batch at that index is still the one we
        // re-executed, so the bond never lands on a re-posted honest batch.
        let header = self.l1.batch(d.index).await?;
        if header.id != d.id || header.postStateRoot != d.claimed_root {
            return Ok(Vec::new());
        }
        let from_block = self
            .shared
            .chain
            .read()
            .batches()
            .get(d.index as usize)
            .filter(|b| b.id == d.id)
            .map_or(0, |b| b.l1_block);
        let defence = self.l1.defence(d.id).await?;
        let mut targets = Vec::new();
        let period_end = d.l1_timestamp + self.l1.deployment().params.challenge_period_secs;
        if !defence.poster_eliminated {
            if now + 1 >= period_end {
                give_up("its challenge period is over", self);
            } else {
                targets.push(header.poster);
            }
        }
        for defender in self.l1.bonded_defenders(d.id, from_block).await? {
            if self.l1.defender_status(d.id, defender).await? == DefenderStatus::Active {
                targets.push(defender);
            }
        }
        let mut started = Vec::new();
        for defender in targets {
            let ours = |(b, a): &(u64, Address)| *b == d.id && *a == defender;
            if self.watched.values().any(ours)
                || self.ended.values().any(|(b, a, _)| ours(&(*b, *a)))
            {
                continue;
            }
            // A refusal (the defender's window closed, it was just eliminated) is logged and
            // the next round looks again.
            match self.l1.challenge(d.index, defender).await {
                Ok(game) => {
                    self.metrics.challenges.inc();
                    self.watched.insert(game, (d.id, defender));
                    self.next_game = self.next_game.max(game + 1);
                    tracing::warn!(
                        game,
                        batch = d.index,
                        %defender,
                        claimed = %d.claimed_root,
                        computed = %d.computed_root,
                        "challenged a defender of the disputed batch"
                    );
                    started.push(game);
                }
                Err(e) => {
                    tracing::warn!(batch = d.index, %defender, error = %e, "could not challenge this defender")
                }
            }
        }
        Ok(started)
    }

    /// Remove the disputed batch once every defender of it is out and its defence window has
    /// passed (a last win inside the window leaves it for this call).
    async fn remove_defeated(&mut self, now: u64) -> Result<(), ChallengeError> {
        let Some(d) = self.shared.chain.read().dispute().cloned() else { return Ok(()) };
        if d.is_final || !self.l1.is_current(d.index, d.id).await? {
            return Ok(());
        }
        let defence = self.l1.defence(d.id).await?;
        let window_end = defence.last_challenge + self.l1.deployment().params.move_timeout_secs;
        // L1 checks block.timestamp >= window end; the next block is later than the head.
        if defence.standing() == 0 && now + 1 >= window_end {
            self.l1.remove_defeated(d.index).await?;
            tracing::info!(batch = d.index, "every defender is out: removed the batch");
        }
        Ok(())
    }

    /// Settle the slashing rewards escrowed for this account whose earlier batches are final
    /// (L1 refuses the others; they are tried again next round).
    async fn settle_rewards(&mut self, us: Address) {
        let open = match self.l1.open_slashes().await {
            Ok(open) => open,
            Err(e) => {
                tracing::debug!(error = %e, "could not read the escrowed rewards");
                return;
            }
        };
        for slash in open.into_iter().filter(|s| s.beneficiary == us) {
            let needed =
                self.shared.chain.read().batches().iter().filter(|b| b.id < slash.batch_id).count()
                    as u64;
            if self.l1.finalized_count().await.unwrap_or(0) < needed {
                continue;
            }
            match self.l1.settle_slash(slash.id).await {
                Ok(_) => {
                    tracing::info!(slash = slash.id, wei = %slash.amount, "settled a slashing reward")
                }
                Err(e) => {
                    tracing::debug!(slash = slash.id, error = %e, "slashing reward not settleable yet")
                }
            }
        }
    }
}
