//! Configuration and assembly of the verifier service: the database (a given URL or the embedded
//! private cluster), the chain rebuilt from it, the L1 follower, the challenger, the optional
//! fallback proposer and the HTTP API, with a graceful shutdown.

use std::{net::SocketAddr, path::PathBuf, sync::Arc};

use alloy::{
    providers::{Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};
use anyhow::Context;
use keel_core::{tx::Domain, Address};
use keel_l1::{Deployment, L1Client};
use keel_store::{Ledger, PgCluster};
use tokio::sync::watch;

use crate::{
    api::{self, ApiState},
    chain,
    challenger::Challenger,
    defender::Defender,
    follower::{Follower, FollowerConfig},
    metrics::Metrics,
    proposer::Proposer,
    shared::Shared,
    store::{Loaded, VerifierStore},
};

/// Everything the verifier needs to run.
#[derive(Clone, Debug)]
pub struct VerifierConfig {
    /// Address the HTTP API listens on.
    pub listen: SocketAddr,
    /// Postgres URL; `None` starts the embedded private cluster in `data_dir/postgres`.
    pub database_url: Option<String>,
    /// Folder for the embedded cluster's data.
    pub data_dir: PathBuf,
    /// L1 JSON-RPC endpoint.
    pub l1_rpc: String,
    /// The deployment file written when the contracts were deployed.
    pub deployment: PathBuf,
    /// The L1 key that bonds and plays games; `None` watches only (never challenges).
    pub key: Option<PrivateKeySigner>,
    /// How L1 is followed.
    pub follower: FollowerConfig,
    /// Run the fallback proposer (escape hatch): post inbox-consuming batches and finalize once
    /// the sequencer has been inactive for its period. Needs `key`, which it stakes from.
    pub fallback_proposer: bool,
    /// Bond to defend every challenged batch this verifier agrees with, and answer the games
    /// against it (docs/protocol.md §13). Needs `key`, which bonds.
    pub defend_agreed: bool,
}

/// A running verifier.
#[derive(Debug)]
pub struct RunningVerifier {
    /// The address the API listens on.
    pub addr: SocketAddr,
    /// The shared state (chain, L1 view, games), for embedding and tests.
    pub shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Holds the database's advisory lock until the verifier stops.
    lock: sqlx::PgConnection,
    _cluster: Option<PgCluster>,
}

impl RunningVerifier {
    /// Stop the API and the L1 tasks; each finishes the round (and any L1 transaction) it is in.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.server.await;
        for t in self.tasks {
            let _ = t.await;
        }
        // Closing the session releases the lock; a new verifier may take the database.
        if let Err(e) = sqlx::Connection::close(self.lock).await {
            tracing::debug!(error = %e, "closing the lock connection failed");
        }
        tracing::info!("verifier stopped");
    }

    /// Wait until a shutdown signal (SIGINT or SIGTERM), then shut down gracefully.
    pub async fn run_until_signal(self) -> anyhow::Result<()> {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r?,
            _ = term.recv() => {}
        }
        tracing::info!("shutdown signal received");
        self.shutdown().await;
        Ok(())
    }
}

/// Refuse a store derived from another deployment, or from an L1 that no longer has what it
/// read (an L1 reset or another chain): following on from it would verify against history that
/// does not exist. A batch the store has but L1 removed since is fine: its posting is still on L1.
async fn check_against_l1(l1: &L1Client, loaded: &Loaded) -> anyhow::Result<()> {
    let rollup = l1.deployment().rollup;
    if let Some(stored) = loaded.rollup.filter(|r| *r != rollup) {
        anyhow::bail!(
            "this database holds what was derived from the Rollup at {stored}, not {rollup}: \
             use an empty database for another deployment"
        );
    }
    if let Some(last) = loaded.batches.last() {
        let receipt = l1
            .provider()
            .get_transaction_receipt(last.l1_tx)
            .await
            .context("checking the stored batches against L1")?;
        if receipt.and_then(|r| r.block_number) != Some(last.l1_block) {
            anyhow::bail!(
                "batch {} was read from L1 transaction {} in block {}, which L1 does not have: \
                 L1 was reset or this is another chain; use an empty database",
                last.index,
                last.l1_tx,
                last.l1_block
            );
        }
    }
    Ok(())
}

/// Start the verifier: connect (or start) Postgres, rebuild the chain from what it stored, then
/// start following L1, the challenger (with a key) and the API.
pub async fn start(cfg: VerifierConfig) -> anyhow::Result<RunningVerifier> {
    anyhow::ensure!(
        !(cfg.fallback_proposer || cfg.defend_agreed) || cfg.key.is_some(),
        "the fallback proposer and the defence of agreed batches need a verifier key (they stake, bond and post from it)"
    );
    let deployment = Deployment::load(&cfg.deployment).context("reading the deployment file")?;
    let (url, cluster) =
        keel_store::open_database(cfg.database_url.as_deref(), &cfg.data_dir, "keel_verifier")
            .await
            .context("starting the embedded Postgres cluster (or pass a database URL)")?;
    let ledger = Ledger::connect(&url).await.context("connecting to Postgres")?;
    ledger.claim_role("verifier").await?;
    let store = VerifierStore::new(ledger);
    let lock = store.lock_exclusive().await?.context(
        "another verifier is running on this database; give each verifier its own database",
    )?;
    let l1 = match &cfg.key {
        Some(key) => L1Client::connect(&cfg.l1_rpc, key.clone(), deployment.clone())?,
        None => {
            let url = cfg.l1_rpc.parse().with_context(|| format!("L1 RPC URL {}", cfg.l1_rpc))?;
            let provider = ProviderBuilder::new().connect_http(url).erased();
            L1Client::new(provider, Address::ZERO, deployment.clone())
        }
    };
    let config = deployment.chain_config();
    let started = std::time::Instant::now();
    let loaded = store.load(&Domain::new(config)).await.context("loading the store")?;
    // The store's own identity first (its error names the database as the thing to change),
    // then the file against the contracts.
    check_against_l1(&l1, &loaded).await?;
    l1.check_deployment().await.context("checking the deployment file against L1")?;
    let next_block = loaded.progress.map_or(deployment.start_block, |b| b + 1);
    let (chain, _) = tokio::task::spawn_blocking(move || {
        chain::rebuild(config, &loaded.inbox, &loaded.batches, loaded.suspects)
    })
    .await?
    .context("re-executing the stored batches")?;
    tracing::info!(
        batches = chain.batches().len(),
        agreed = chain.agreed_count(),
        disputed = chain.dispute().map(|d| d.index),
        next_block,
        ms = started.elapsed().as_millis() as u64,
        "state rebuilt from the store"
    );

    let account = cfg.key.as_ref().map(|k| k.address());
    let shared = Arc::new(Shared::new(chain, account));
    let metrics = Metrics::new();
    metrics.mismatches.inc_by(store.mismatch_count().await.unwrap_or(0));

    let (shutdown, shutdown_rx) = watch::channel(false);
    let follower = Follower::new(
        l1.clone(),
        store.clone(),
        shared.clone(),
        metrics.clone(),
        cfg.follower,
        next_block,
    );
    let mut tasks = vec![tokio::spawn(follower.run(shutdown_rx.clone()))];
    match account {
        Some(a) => {
            tracing::info!(account = %a, "challenger enabled");
            if cfg.fallback_proposer {
                tracing::info!(account = %a, "fallback proposer enabled");
                let proposer = Proposer::new(l1.clone(), shared.clone(), metrics.clone());
                tasks.push(tokio::spawn(proposer.run(cfg.follower.poll, shutdown_rx.clone())));
            }
            if cfg.fallback_proposer || cfg.defend_agreed {
                // The proposer's own batches are defended whether or not `defend_agreed` is set.
                if cfg.defend_agreed {
                    tracing::info!(account = %a, "defending challenged batches this verifier agrees with");
                }
                let defender =
                    Defender::new(l1.clone(), shared.clone(), metrics.clone(), cfg.defend_agreed);
                tasks.push(tokio::spawn(defender.run(cfg.follower.poll, shutdown_rx.clone())));
            }
            let fault = crate::fault::ChallengerFault::from_env(deployment.l1_chain_id)?;
            let challenger = Challenger::new(l1, shared.clone(), metrics.clone()).with_fault(fault);
            tasks.push(tokio::spawn(challenger.run(cfg.follower.poll, shutdown_rx.clone())));
        }
        None => tracing::warn!(
            "no verifier key: watching only, wrong roots are reported but not challenged"
        ),
    }

    let state = ApiState {
        shared: shared.clone(),
        store,
        metrics,
        deployment: Arc::new(deployment),
        confirmations: cfg.follower.confirmations,
    };
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("binding {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    let app = api::router(state);
    let mut server_shutdown = shutdown_rx;
    let server = tokio::spawn(async move {
        let graceful = async move {
            let _ = server_shutdown.changed().await;
        };
        if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(graceful).await {
            tracing::error!(error = %e, "HTTP server failed");
        }
    });
    tracing::info!(%addr, "verifier API listening");
    Ok(RunningVerifier { addr, shared, shutdown, server, tasks, lock, _cluster: cluster })
}
