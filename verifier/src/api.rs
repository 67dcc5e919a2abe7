//! The verifier's read-only HTTP API (axum, JSON): state and withdrawal proofs under roots it has
//! re-executed and agrees with — in exactly the shapes the sequencer serves, so a wallet can ask
//! either — plus its status, health and metrics.
//!
//! Every error is `{"error": {"code": "...", "message": "..."}}` with a specific code and the
//! right status; internal failures are logged and answered with a generic 500, never leaked.

use std::{sync::Arc, time::Duration};

use axum::{
    extract::{
        rejection::{PathRejection, QueryRejection},
        Path, Query, State,
    },
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use keel_core::{
    keys::balance_key,
    smt::{SmtProof, Terminal},
    Address, B256,
};
use keel_l1::Deployment;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{
    chain::{Chain, ProofRefusal, Verdict},
    metrics::Metrics,
    shared::Shared,
    store::VerifierStore,
};

/// What the handlers share.
#[derive(Clone, Debug)]
pub struct ApiState {
    /// The chain, L1 view and games.
    pub shared: Arc<Shared>,
    /// The store (readiness).
    pub store: VerifierStore,
    /// Metrics.
    pub metrics: Metrics,
    /// Where the contracts are.
    pub deployment: Arc<Deployment>,
    /// Blocks the follower stays behind the L1 head.
    pub confirmations: u64,
}

/// An API error: status, machine-readable code, human message.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), retry_after: None }
    }

    fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    fn internal(context: &str, error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "{context}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; it has been logged",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "code": self.code, "message": self.message } });
        let mut resp = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> Self {
        Self::bad_request("invalid_query", e.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(e: PathRejection) -> Self {
        Self::bad_request("invalid_path", e.body_text())
    }
}

/// The router.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/v1/status", get(status))
        .route("/v1/accounts/{address}/proof", get(account_proof))
        .route("/v1/withdrawals/{index}", get(withdrawal))
        .route("/v1/batches/{index}", get(batch))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

fn parse_address(s: &str, name: &str) -> Result<Address, ApiError> {
    let digits = s.strip_prefix("0x").ok_or_else(|| {
        ApiError::bad_request("invalid_hex", format!("`{name}` must start with 0x"))
    })?;
    let b = alloy::hex::decode(digits)
        .map_err(|e| ApiError::bad_request("invalid_hex", format!("`{name}` is not hex: {e}")))?;
    Address::try_from(b.as_slice()).map_err(|_| {
        ApiError::bad_request(
            "invalid_address",
            format!("`{name}` must be 20 bytes, got {}", b.len()),
        )
    })
}

/// The sequencer's proof shape (`sequencer/src/api.rs`, `proof_json`).
fn proof_json(batch: u64, root: B256, key: B256, proof: &SmtProof) -> Value {
    let terminal = match proof.terminal {
        Terminal::Empty => json!({ "kind": "empty" }),
        Terminal::Leaf { value } => json!({ "kind": "leaf", "value": value }),
        Terminal::Other { key, value } => json!({ "kind": "other", "key": key, "value": value }),
    };
    json!({ "batch": batch, "stateRoot": root, "key": key, "value": proof.value(), "siblings": proof.siblings, "terminal": terminal })
}

fn prove(chain: &Chain, key: B256, batch: Option<u64>) -> Result<(u64, B256, SmtProof), ApiError> {
    match chain.prove(&key, batch).map_err(|e| ApiError::internal("proof", e))? {
        Ok(found) => Ok(found),
        Err(ProofRefusal::NotVerified) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no_verified_batch",
            match batch {
                Some(b) => format!("batch {b} is not on L1 or not re-executed yet"),
                None => "no batch has been verified yet".into(),
            },
        )),
        Err(ProofRefusal::Disputed) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "batch_disputed",
            "this verifier disputes that batch's root (or one it builds on) and serves no proof under it",
        )),
    }
}

#[derive(Deserialize)]
struct ProofQuery {
    token: Option<String>,
    batch: Option<u64>,
}

async fn account_proof(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<ProofQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path(addr) = path?;
    let Query(q) = query?;
    let owner = parse_address(&addr, "address")?;
    let token = match q.token.as_deref() {
        None => Address::ZERO,
        Some(t) => parse_address(t, "token")?,
    };
    let key = balance_key(&owner, &token);
    let (batch, root, proof) = prove(&state.shared.chain.read(), key, q.batch)?;
    Ok(Json(proof_json(batch, root, key, &proof)))
}

async fn withdrawal(
    State(state): State<ApiState>,
    path: Result<Path<u64>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path(index) = path?;
    let chain = state.shared.chain.read();
    let found = chain.withdrawal(index).zip(chain.batch_of_withdrawal(index));
    let Some(((recipient, token, amount), b)) = found else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_withdrawal",
            format!("no withdrawal {index} in the batches this verifier agrees with"),
        ));
    };
    let (batch, is_final) = (b.index, b.is_final);
    let (_, root, proof) = prove(&chain, Chain::withdrawal_key(index), Some(batch))?;
    Ok(Json(json!({
        "index": index,
        "recipient": recipient,
        "token": token,
        "amount": amount.to_string(),
        "batch": batch,
        "batchStatus": if is_final { "final" } else { "posted" },
        "siblings": proof.siblings,
        "stateRoot": root,
    })))
}

async fn batch(
    State(state): State<ApiState>,
    path: Result<Path<u64>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path(index) = path?;
    let chain = state.shared.chain.read();
    let Some(b) = chain.batches().get(index as usize) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_batch",
            format!("no batch {index} on L1 (as far as this verifier has read)"),
        ));
    };
    let (verdict, computed) = match b.verdict {
        Verdict::Agreed => ("agreed", Some(b.claimed_root)),
        Verdict::Mismatch { computed_root } => ("mismatch", Some(computed_root)),
        Verdict::Pending => ("pending", None),
    };
    Ok(Json(json!({
        "index": b.index,
        "id": b.id,
        "poster": b.poster,
        "inboxStart": b.inbox_start,
        "inboxEnd": b.inbox_end,
        "txCount": b.tx_count,
        "postStateRoot": b.claimed_root,
        "computedRoot": computed,
        "verdict": verdict,
        "state": if b.is_final { "final" } else { "posted" },
        "l1Tx": b.l1_tx,
        "l1Block": b.l1_block,
        "l1Timestamp": b.l1_timestamp,
    })))
}

async fn status(State(state): State<ApiState>) -> Json<Value> {
    let l1 = *state.shared.l1.lock();
    let games = state.shared.games.lock().clone();
    let chain = state.shared.chain.read();
    let batches = chain.batches();
    let verified = batches.iter().filter(|b| b.verdict != Verdict::Pending).count();
    let finals = batches.iter().take_while(|b| b.is_final).count();
    let period = state.deployment.params.challenge_period_secs;
    let mismatch = chain.dispute().map(|d| {
        json!({
            "batch": d.index,
            "batchId": d.id,
            "claimedRoot": d.claimed_root,
            "computedRoot": d.computed_root,
            "final": d.is_final,
            "challengeDeadline": d.l1_timestamp + period,
        })
    });
    let open: Vec<Value> = games
        .open
        .iter()
        .map(|g| {
            json!({
                "id": g.id,
                "batch": g.batch_index,
                "batchId": g.batch_id,
                "turn": g.turn,
                "lo": g.lo,
                "hi": g.hi,
                "deadline": g.deadline,
            })
        })
        .collect();
    Json(json!({
        "account": state.shared.account,
        "l1": {
            "headBlock": l1.head_block,
            "headTimestamp": l1.head_timestamp,
            "scannedBlock": l1.scanned_block,
            "confirmations": state.confirmations,
        },
        "batches": {
            "onL1": batches.len(),
            "final": finals,
            "verified": verified,
            "agreedUpTo": chain.agreed_count().checked_sub(1),
            "lag": batches.len() - verified,
        },
        "lagSeconds": l1.head_timestamp.saturating_sub(l1.scanned_timestamp),
        "firstMismatch": mismatch,
        "games": {
            "open": open,
            "won": games.won,
            "lost": games.lost,
            "cancelled": games.cancelled,
            "bondAtStakeWei": (state.deployment.params.challenge_bond_wei
                * keel_core::U256::from(games.open.len())).to_string(),
        },
    }))
}

async fn readyz(State(state): State<ApiState>) -> Response {
    // A wrong root L1 made final is beyond what a challenge can fix: not ready, so that an
    // orchestrator and a load balancer page someone instead of serving on as if all were well.
    let final_dispute = state.shared.chain.read().dispute().filter(|d| d.is_final).map(|d| {
        format!(
            "batch {} is final on L1 with post-state root {}, but re-execution gives {}",
            d.index, d.claimed_root, d.computed_root
        )
    });
    if let Some(message) = final_dispute {
        return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "final_batch_wrong", message)
            .into_response();
    }
    let unavailable = |why: String| {
        tracing::warn!(error = %why, "readiness check failed");
        let mut e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage_unavailable",
            "storage is unavailable; retry later",
        );
        e.retry_after = Some(1);
        e.into_response()
    };
    match tokio::time::timeout(Duration::from_secs(2), state.store.ledger().ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready").into_response(),
        Ok(Err(e)) => unavailable(e.to_string()),
        Err(_) => unavailable("Postgres did not answer within 2 s".into()),
    }
}

async fn metrics(State(state): State<ApiState>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render()).into_response()
}
