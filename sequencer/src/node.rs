//! Configuration and assembly of the sequencer service: database (a given URL or the embedded
//! private cluster), the rebuilt chain, the pipeline, the L1 tasks and the HTTP server, with a
//! graceful shutdown that finishes every in-flight commit.

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use alloy::signers::local::PrivateKeySigner;
use anyhow::Context;
use keel_l1::{Deployment, L1Client};
use keel_store::{Ledger, PgCluster};
use parking_lot::RwLock;
use tokio::sync::watch;

use crate::{
    api::{self, ApiState},
    chain::Chain,
    defender,
    fault::Faults,
    inbox,
    metrics::Metrics,
    pipeline::{self, BatchPolicy},
    poster, realign,
};

/// Everything the sequencer needs to run.
#[derive(Clone, Debug)]
pub struct SequencerConfig {
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
    /// The sequencer's L1 key (posts batches, defends them).
    pub key: PrivateKeySigner,
    /// When batches close.
    pub batch: BatchPolicy,
    /// Submissions that may wait for the executor before the API answers 503.
    pub queue_capacity: usize,
    /// L1 blocks an inbox entry must be under before it is consumed.
    pub confirmations: u64,
    /// How often the L1 tasks poll.
    pub l1_poll: Duration,
    /// What the poster and the defender bid for L1 gas, and the most they may spend.
    pub fees: keel_l1::client::FeePolicy,
    /// How long posting may fail before `/readyz` turns not ready.
    pub posting_stall_after: Duration,
}

/// A running sequencer.
pub struct RunningSequencer {
    /// The address the API listens on.
    pub addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
    apply: tokio::task::JoinHandle<()>,
    commit: tokio::task::JoinHandle<()>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    realign_requested: watch::Receiver<bool>,
    _cluster: Option<PgCluster>,
}

/// Why a running sequencer stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stopped {
    /// A shutdown signal: the process ends.
    Signal,
    /// L1 holds batches the ledger does not: start again, which realigns the ledger first.
    Realign,
}

impl RunningSequencer {
    /// Stop accepting requests, finish every in-flight commit, stop the L1 tasks.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        // The server stops taking requests and drops its queue sender; the pipeline drains.
        let _ = self.server.await;
        let _ = self.apply.await;
        let _ = self.commit.await;
        for t in self.tasks {
            let _ = t.await;
        }
        tracing::info!("sequencer stopped");
    }

    /// Resolves when the poster asks for a realignment with L1 (see [`Stopped::Realign`]).
    pub async fn realign_requested(&self) {
        let mut r = self.realign_requested.clone();
        let _ = r.wait_for(|&asked| asked).await;
    }

    /// Wait until a shutdown signal (SIGINT or SIGTERM) or a realignment request, then shut
    /// down gracefully.
    pub async fn run_until_signal(self) -> anyhow::Result<Stopped> {
        let stopped = tokio::select! {
            r = wait_for_signal() => {
                r?;
                tracing::info!("shutdown signal received; finishing in-flight commits");
                Stopped::Signal
            }
            _ = self.realign_requested() => {
                tracing::warn!("restarting to realign the ledger with L1; finishing in-flight commits");
                Stopped::Realign
            }
        };
        self.shutdown().await;
        Ok(stopped)
    }
}

/// Wait for SIGINT (Ctrl-C) or SIGTERM.
pub async fn wait_for_signal() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    Ok(())
}

/// Warn when the sequencer cannot post: its stake is below the Rollup's requirement.
async fn check_stake(l1: &L1Client) -> anyhow::Result<()> {
    if l1.stake_of(l1.account()).await? < l1.deployment().params.required_stake_wei {
        tracing::warn!(account = %l1.account(), "the sequencer's stake is below the required stake: batches cannot be posted");
    }
    Ok(())
}

/// Start the sequencer: connect (or start) Postgres, rebuild the chain from the ledger and
/// check its roots, then start the pipeline, the L1 tasks and the API.
pub async fn start(cfg: SequencerConfig) -> anyhow::Result<RunningSequencer> {
    let deployment = Deployment::load(&cfg.deployment).context("reading the deployment file")?;
    let (url, cluster) =
        keel_store::open_database(cfg.database_url.as_deref(), &cfg.data_dir, "keel_sequencer")
            .await
            .context("starting the embedded Postgres cluster (or pass a database URL)")?;
    let ledger = Ledger::connect(&url).await.context("connecting to Postgres")?;
    ledger.claim_role("sequencer").await?;
    let contents = ledger.load().await.context("loading the ledger")?;
    let l1 = L1Client::connect(&cfg.l1_rpc, cfg.key.clone(), deployment.clone())?
        .with_fee_policy(cfg.fees);
    l1.check_deployment().await.context("checking the deployment file against L1")?;
    // L1 is the truth: a ledger that L1's history left behind (the escape hatch's batches, a
    // restored backup) follows it before anything is served.
    let realigned = realign::with_l1(&l1, &ledger, contents, cfg.batch.max_txs)
        .await
        .context("comparing the ledger with L1")?;
    let started = std::time::Instant::now();
    let chain = Chain::rebuild(deployment.chain_config(), &realigned.contents)
        .context("rebuilding the state from the ledger")?;
    tracing::info!(
        batches = chain.batches().len(),
        transactions = chain.next_seq(),
        ms = started.elapsed().as_millis() as u64,
        "state rebuilt from the ledger; every closed batch's root checked"
    );
    check_stake(&l1).await?;
    let chain = Arc::new(RwLock::new(chain));
    let metrics = Metrics::new();
    let status = crate::status::StatusView::spawn(l1.clone(), cfg.l1_poll);
    let pipeline::Pipeline { submissions, durable, feed, apply, commit } = pipeline::spawn(
        chain.clone(),
        ledger.clone(),
        metrics.clone(),
        cfg.batch,
        cfg.queue_capacity,
    );

    let faults = Arc::new(Faults::from_env(deployment.l1_chain_id, l1.account())?);
    let (shutdown, shutdown_rx) = watch::channel(false);
    let posting = poster::PostingHealth::default();
    let (realign_request, realign_requested) = watch::channel(false);
    let realignment = poster::Realignment {
        request: Arc::new(realign_request),
        waiting_for_removal: realigned.waiting_for_removal,
    };
    let tasks = vec![
        tokio::spawn(poster::run(
            l1.clone(),
            ledger.clone(),
            metrics.clone(),
            faults.clone(),
            chain.clone(),
            posting.clone(),
            realignment.clone(),
            shutdown_rx.clone(),
        )),
        tokio::spawn(inbox::run(
            l1.clone(),
            ledger.clone(),
            chain.clone(),
            metrics.clone(),
            cfg.confirmations,
            cfg.l1_poll,
            realignment,
            shutdown_rx.clone(),
        )),
        tokio::spawn(defender::run(
            l1,
            ledger.clone(),
            chain.clone(),
            faults,
            metrics.clone(),
            cfg.l1_poll,
            shutdown_rx.clone(),
        )),
    ];

    let state = ApiState {
        domain: keel_core::tx::Domain::new(deployment.chain_config()),
        chain,
        ledger,
        submissions,
        metrics,
        deployment: Arc::new(deployment),
        durable,
        feed,
        shutdown: shutdown_rx.clone(),
        status,
        posting,
        posting_stall_after: cfg.posting_stall_after,
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
    tracing::info!(%addr, "sequencer API listening");
    Ok(RunningSequencer {
        addr,
        shutdown,
        server,
        apply,
        commit,
        tasks,
        realign_requested,
        _cluster: cluster,
    })
}
