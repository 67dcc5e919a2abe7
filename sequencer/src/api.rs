//! The sequencer's HTTP API (axum, JSON). `docs/openapi.json` documents it and is served at
//! `/openapi.json`.
//!
//! Every error is `{"error": {"code": "...", "message": "..."}}` with a specific code and the
//! right status; database and internal failures are logged and answered with a generic 500 or
//! 503, never leaked. A rejected request changes nothing.

use std::{sync::Arc, time::Duration};

use axum::{
    body::Bytes,
    extract::{rejection::BytesRejection, DefaultBodyLimit, Path, Query, State},
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use keel_core::{
    keys::{balance_key, withdrawal_key},
    smt::{SmtProof, Terminal},
    tx::{
        check_signature_form, Domain, PreparedRecord, Record, Signature, Transaction, TxKind,
        RECORD_LEN,
    },
    Address, B256, U256,
};
use keel_l1::Deployment;
use keel_store::{BatchState, Ledger};
use parking_lot::RwLock;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

use crate::{
    chain::{Chain, Rejection},
    metrics::Metrics,
    pipeline::{Submission, SubmitError},
};

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 1 << 20;
/// Most transactions in one list submission.
pub const MAX_LIST_LEN: usize = 1_000;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// The hot chain.
    pub chain: Arc<RwLock<Chain>>,
    /// The signing domain (fixed for the chain's life): kept here so a submission never waits
    /// for the chain lock, which a batch close holds for tens of milliseconds.
    pub domain: Domain,
    /// The ledger, for batch and transaction history.
    pub ledger: Ledger,
    /// The submission queue.
    pub submissions: mpsc::Sender<Submission>,
    /// Metrics.
    pub metrics: Metrics,
    /// Where the contracts are.
    pub deployment: Arc<Deployment>,
    /// Every sequence number below this is durable (acknowledged).
    pub durable: Arc<std::sync::atomic::AtomicU64>,
    /// Acknowledged transactions as they become durable.
    pub feed: tokio::sync::broadcast::Sender<keel_store::StoredTransaction>,
    /// Turns true when the service shuts down (long-lived connections close then).
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// The status page's cached view of L1.
    pub status: crate::status::StatusView,
    /// How the batch poster is doing.
    pub posting: crate::poster::PostingHealth,
    /// How long posting may fail before `/readyz` turns not ready.
    pub posting_stall_after: Duration,
}

/// An API error: status, machine-readable code, human message, and optional details.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Option<Value>,
    retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), details: None, retry_after: None }
    }

    fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    fn busy(message: &str) -> Self {
        let mut e = Self::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", message);
        e.retry_after = Some(1);
        e
    }

    fn internal(context: &str, error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "{context}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; it has been logged",
        )
    }

    pub(crate) fn unavailable(context: &str, error: impl std::fmt::Display) -> Self {
        tracing::warn!(%error, "{context}");
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage_unavailable",
            "storage is unavailable; retry later",
        );
        e.retry_after = Some(1);
        e
    }

    fn body(&self) -> Value {
        let mut error = json!({ "code": self.code, "message": self.message });
        if let Some(d) = &self.details {
            error["details"] = d.clone();
        }
        json!({ "error": error })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, Json(self.body())).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

impl From<Rejection> for ApiError {
    fn from(r: Rejection) -> Self {
        let (status, details) = match r {
            Rejection::InvalidRecord(_) => (StatusCode::BAD_REQUEST, None),
            Rejection::BadNonce { expected, got } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(json!({ "expected": expected.to_string(), "given": got.to_string() })),
            ),
            Rejection::InsufficientBalance { available, required } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(
                    json!({ "available": available.to_string(), "required": required.to_string() }),
                ),
            ),
            Rejection::Duplicate { seq } => (StatusCode::CONFLICT, Some(json!({ "seq": seq }))),
        };
        let e = Self::new(status, r.code(), r.to_string());
        match details {
            Some(d) => e.with_details(d),
            None => e,
        }
    }
}

/// The router.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/", get(crate::status::page))
        .route("/v1/status", get(crate::status::status))
        .route("/v1/transactions", post(submit_one))
        .route("/v1/transactions/list", post(submit_list))
        .route("/v1/transactions/{hash}", get(transaction))
        .route("/v1/accounts/{address}", get(account))
        .route("/v1/accounts/{address}/proof", get(account_proof))
        .route("/v1/state/proof", get(state_proof))
        .route("/v1/withdrawals/{index}", get(withdrawal))
        .route("/v1/batches", get(batches))
        .route("/v1/batches/{index}", get(batch))
        .route("/v1/config", get(config))
        .route("/v1/feed", get(feed))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint; see /openapi.json")
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this endpoint does not take that method; see /openapi.json",
            )
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

// ---------------------------------------------------------------- parsing

/// `Path`, with a malformed path answered in the API's error format.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> axum::extract::FromRequestParts<S>
    for ApiPath<T>
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(v)) => Ok(Self(v)),
            Err(e) => Err(ApiError::bad_request("invalid_path", e.body_text())),
        }
    }
}

/// `Query`, with a malformed query answered in the API's error format.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> axum::extract::FromRequestParts<S>
    for ApiQuery<T>
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(v)) => Ok(Self(v)),
            Err(e) => Err(ApiError::bad_request("invalid_query", e.body_text())),
        }
    }
}

/// Indexes the database can hold (it stores them as signed 64-bit integers).
fn storable(index: u64, what: &'static str) -> Result<u64, ApiError> {
    if index > i64::MAX as u64 {
        return Err(ApiError::new(StatusCode::NOT_FOUND, what, format!("no such index {index}")));
    }
    Ok(index)
}

fn parse_json(body: Result<Bytes, BytesRejection>) -> Result<Value, ApiError> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("the body exceeds {MAX_BODY_BYTES} bytes"),
            )
        } else {
            ApiError::bad_request("invalid_body", e.body_text())
        }
    })?;
    serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request("invalid_json", format!("the body is not valid JSON: {e}"))
    })
}

fn field<'a>(v: &'a Value, name: &str) -> Result<&'a Value, ApiError> {
    v.get(name).ok_or_else(|| {
        ApiError::bad_request("missing_field", format!("field `{name}` is required"))
    })
}

fn hex_bytes(v: &Value, name: &str) -> Result<Vec<u8>, ApiError> {
    let s = v.as_str().ok_or_else(|| {
        ApiError::bad_request("invalid_hex", format!("`{name}` must be a 0x-prefixed hex string"))
    })?;
    let digits = s.strip_prefix("0x").ok_or_else(|| {
        ApiError::bad_request("invalid_hex", format!("`{name}` must start with 0x"))
    })?;
    alloy::hex::decode(digits)
        .map_err(|e| ApiError::bad_request("invalid_hex", format!("`{name}` is not hex: {e}")))
}

fn address(v: &Value, name: &str) -> Result<Address, ApiError> {
    let b = hex_bytes(v, name)?;
    Address::try_from(b.as_slice()).map_err(|_| {
        ApiError::bad_request(
            "invalid_address",
            format!("`{name}` must be 20 bytes, got {}", b.len()),
        )
    })
}

fn parse_address(s: &str, name: &str) -> Result<Address, ApiError> {
    address(&Value::String(s.to_string()), name)
}

/// A uint128 amount as a decimal string (or a JSON integer up to 2^53).
fn amount(v: &Value, name: &str) -> Result<u128, ApiError> {
    let overflow =
        || ApiError::bad_request("amount_overflow", format!("`{name}` does not fit in uint128"));
    match v {
        Value::String(s) => {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ApiError::bad_request(
                    "invalid_amount",
                    format!("`{name}` must be a decimal integer string"),
                ));
            }
            s.parse::<u128>().map_err(|_| overflow())
        }
        Value::Number(n) => {
            n.as_u64().filter(|&x| x <= (1u64 << 53)).map(u128::from).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_amount",
                    format!("`{name}` must be a non-negative integer; use a string above 2^53"),
                )
            })
        }
        _ => Err(ApiError::bad_request(
            "invalid_amount",
            format!("`{name}` must be a decimal integer string"),
        )),
    }
}

/// A transaction in one of the two accepted forms: `{"record": "0x…"}` (the 146-byte record), or
/// the signed fields `{"kind", "to", "token", "amount", "fee", "nonce", "signature"}` with
/// optional `chainId` and `verifyingContract` that must match this chain.
fn parse_record(v: &Value, chain_id: u64, rollup: Address) -> Result<Record, ApiError> {
    if !v.is_object() {
        return Err(ApiError::bad_request("invalid_transaction", "a transaction is a JSON object"));
    }
    if let Some(r) = v.get("record") {
        let bytes = hex_bytes(r, "record")?;
        if bytes.len() != RECORD_LEN {
            return Err(ApiError::bad_request(
                "invalid_record_length",
                format!("a record is {RECORD_LEN} bytes, got {}", bytes.len()),
            ));
        }
        return Record::from_slice(&bytes)
            .map_err(|e| ApiError::bad_request("invalid_record", e.to_string()));
    }
    if let Some(c) = v.get("chainId") {
        let given = c.as_u64().or_else(|| c.as_str().and_then(|s| s.parse().ok()));
        if given != Some(chain_id) {
            return Err(ApiError::bad_request(
                "wrong_chain",
                format!("this is chain {chain_id}; the transaction names {c}"),
            )
            .with_details(json!({ "expected": chain_id })));
        }
    }
    if let Some(c) = v.get("verifyingContract") {
        if address(c, "verifyingContract")? != rollup {
            return Err(ApiError::bad_request(
                "wrong_domain",
                format!("the verifying contract of this chain is {rollup}"),
            )
            .with_details(json!({ "expected": rollup })));
        }
    }
    let kind = match field(v, "kind")?.as_str() {
        Some("transfer") => TxKind::Transfer,
        Some("withdraw") => TxKind::Withdraw,
        _ => {
            return Err(ApiError::bad_request(
                "unknown_kind",
                "`kind` must be \"transfer\" or \"withdraw\"",
            ))
        }
    };
    let to_name = if kind == TxKind::Transfer { "to" } else { "recipient" };
    let to = address(
        v.get(to_name).or_else(|| v.get("to")).ok_or_else(|| {
            ApiError::bad_request("missing_field", format!("field `{to_name}` is required"))
        })?,
        to_name,
    )?;
    let nonce_v = field(v, "nonce")?;
    let nonce =
        nonce_v.as_u64().or_else(|| nonce_v.as_str().and_then(|s| s.parse().ok())).ok_or_else(
            || ApiError::bad_request("invalid_nonce", "`nonce` must be an integer below 2^64"),
        )?;
    let tx = Transaction {
        kind,
        to,
        token: address(field(v, "token")?, "token")?,
        amount: amount(field(v, "amount")?, "amount")?,
        fee: amount(field(v, "fee")?, "fee")?,
        nonce,
    };
    let sig = hex_bytes(field(v, "signature")?, "signature")?;
    if sig.len() != 65 {
        return Err(ApiError::bad_request(
            "invalid_signature_length",
            format!("a signature is 65 bytes (r ‖ s ‖ v), got {}", sig.len()),
        ));
    }
    let signature = Signature {
        r: B256::from_slice(&sig[..32]),
        s: B256::from_slice(&sig[32..64]),
        v: sig[64],
    };
    check_signature_form(&signature).map_err(|e| ApiError::from(Rejection::InvalidRecord(e)))?;
    Ok(Record::encode(&tx, &signature))
}

// ---------------------------------------------------------------- submission

async fn enqueue(
    state: &ApiState,
    prepared: PreparedRecord,
) -> Result<oneshot::Receiver<Result<crate::pipeline::Receipt, SubmitError>>, ApiError> {
    let tx = match &prepared.sender {
        Ok((tx, _)) => tx,
        Err(e) => {
            let r = Rejection::InvalidRecord(*e);
            state.metrics.rejected.with_label_values(&[r.code()]).inc();
            return Err(r.into());
        }
    };
    // Valid for the STF but certainly a mistake: refused before it can cost anything.
    if let Some(why) = tx.refusal() {
        state.metrics.rejected.with_label_values(&["zero_recipient"]).inc();
        return Err(ApiError::bad_request(
            "zero_recipient",
            format!("{why}; sign it again with the recipient you mean"),
        ));
    }
    let (reply, rx) = oneshot::channel();
    let sub = Submission { prepared, received: tokio::time::Instant::now(), reply };
    match state.submissions.try_send(sub) {
        Ok(()) => Ok(rx),
        Err(mpsc::error::TrySendError::Full(_)) => {
            state.metrics.rejected.with_label_values(&["overloaded"]).inc();
            Err(ApiError::busy("the sequencer is at capacity; retry after the given seconds"))
        }
        Err(mpsc::error::TrySendError::Closed(_)) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the sequencer is shutting down",
        )),
    }
}

/// How long a request waits for its acknowledgement before answering 503.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(10);

async fn await_receipt(
    rx: oneshot::Receiver<Result<crate::pipeline::Receipt, SubmitError>>,
) -> Result<Value, ApiError> {
    let Ok(answer) = tokio::time::timeout(ACK_TIMEOUT, rx).await else {
        let mut e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ack_timeout",
            "not acknowledged in time (storage is slow or down); the transaction may still be accepted: look it up by hash before resubmitting",
        );
        e.retry_after = Some(1);
        return Err(e);
    };
    match answer {
        Ok(Ok(r)) => {
            Ok(json!({ "hash": r.hash, "seq": r.seq, "batch": r.batch, "status": "sequenced" }))
        }
        Ok(Err(SubmitError::Rejected(r))) => Err(r.into()),
        Ok(Err(SubmitError::ShuttingDown)) | Err(_) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the sequencer stopped before acknowledging",
        )),
    }
}

async fn submit_one(
    State(state): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let v = parse_json(body)?;
    let (chain_id, rollup) = (state.deployment.params.l2_chain_id, state.deployment.rollup);
    let record = parse_record(&v, chain_id, rollup)?;
    // Recovery (~45 µs) runs on the request's worker: requests recover in parallel, without
    // the chain lock.
    let prepared = state.domain.prepare(record);
    let rx = enqueue(&state, prepared).await?;
    Ok(Json(await_receipt(rx).await?))
}

async fn submit_list(
    State(state): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let v = parse_json(body)?;
    let list = field(&v, "transactions")?.as_array().ok_or_else(|| {
        ApiError::bad_request("invalid_transaction", "`transactions` must be an array")
    })?;
    if list.len() > MAX_LIST_LEN {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_transactions",
            format!("at most {MAX_LIST_LEN} transactions per list, got {}", list.len()),
        ));
    }
    let (chain_id, rollup) = (state.deployment.params.l2_chain_id, state.deployment.rollup);
    let records: Vec<Result<Record, ApiError>> =
        list.iter().map(|t| parse_record(t, chain_id, rollup)).collect();
    let valid: Vec<Record> = records.iter().filter_map(|r| r.as_ref().ok().copied()).collect();
    let domain = state.domain;
    let prepared = tokio::task::spawn_blocking(move || domain.prepare_all(&valid))
        .await
        .map_err(|e| ApiError::internal("signature recovery task failed", e))?;
    let mut prepared = prepared.into_iter();
    let mut pending = Vec::with_capacity(records.len());
    for r in records {
        pending.push(match r {
            Err(e) => Err(e),
            Ok(_) => match prepared.next() {
                Some(p) => enqueue(&state, p).await,
                None => Err(ApiError::internal("recovery", "fewer results than records")),
            },
        });
    }
    let mut results = Vec::with_capacity(pending.len());
    for p in pending {
        results.push(match p {
            Ok(rx) => match await_receipt(rx).await {
                Ok(v) => v,
                Err(e) => e.body(),
            },
            Err(e) => e.body(),
        });
    }
    Ok(Json(json!({ "results": results })))
}

// ---------------------------------------------------------------- reads

fn parse_b256(s: &str, name: &str) -> Result<B256, ApiError> {
    let b = hex_bytes(&Value::String(s.to_string()), name)?;
    B256::try_from(b.as_slice())
        .map_err(|_| ApiError::bad_request("invalid_hash", format!("`{name}` must be 32 bytes")))
}

async fn transaction(
    State(state): State<ApiState>,
    Path(hash): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let hash = parse_b256(&hash, "hash")?;
    // A transaction applied but not yet durable is not acknowledged yet: unknown until it is.
    let seq = state
        .chain
        .read()
        .seq_of(&hash)
        .filter(|&s| s < state.durable.load(std::sync::atomic::Ordering::Acquire));
    let Some(seq) = seq else {
        // Acknowledged once, then left out by L1's history and no longer valid on it.
        let removed = state
            .ledger
            .removed_transaction(&hash)
            .await
            .map_err(|e| ApiError::unavailable("reading removed transactions", e))?;
        if let Some(r) = removed {
            return Ok(Json(json!({
                "hash": hash,
                "status": "removed",
                "previousSeq": r.previous_seq,
                "code": r.code,
                "message": format!(
                    "acknowledged as number {}, then left out by the batches L1 holds (another \
                     party posted in the sequencer's place) and no longer valid on them: {}",
                    r.previous_seq, r.reason
                ),
            })));
        }
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_transaction",
            format!("no acknowledged transaction {hash}"),
        ));
    };
    let batch = state.chain.read().batch_of_seq(seq).map(|b| b.index);
    let Some(batch) = batch else {
        return Err(ApiError::internal("lookup", "accepted transaction without a batch"));
    };
    let stored = state
        .ledger
        .batches(batch, 1)
        .await
        .map_err(|e| ApiError::unavailable("reading batch state", e))?;
    let (status, l1_tx) = match stored.first() {
        Some(b) => match b.state {
            BatchState::Open | BatchState::Closed => ("sequenced", None),
            BatchState::Posted => ("posted", b.l1_tx),
            BatchState::Final => ("final", b.l1_tx),
        },
        // Acknowledged before its group's batch row was read: still sequenced.
        None => ("sequenced", None),
    };
    Ok(Json(json!({ "hash": hash, "seq": seq, "batch": batch, "status": status, "l1Tx": l1_tx })))
}

#[derive(Deserialize)]
struct AccountQuery {
    /// Comma-separated token addresses; ETH (`0x000…0`) when absent.
    tokens: Option<String>,
}

async fn account(
    State(state): State<ApiState>,
    Path(addr): Path<String>,
    ApiQuery(q): ApiQuery<AccountQuery>,
) -> Result<Json<Value>, ApiError> {
    let owner = parse_address(&addr, "address")?;
    let tokens: Vec<Address> = match q.tokens.as_deref() {
        None | Some("") => vec![Address::ZERO],
        Some(list) => {
            list.split(',').map(|t| parse_address(t.trim(), "tokens")).collect::<Result<_, _>>()?
        }
    };
    let chain = state.chain.read();
    let balances: serde_json::Map<String, Value> = tokens
        .iter()
        .map(|t| (t.to_checksum(None), Value::String(chain.balance(&owner, t).to_string())))
        .collect();
    Ok(Json(
        json!({ "address": owner, "nonce": chain.nonce(&owner).to_string(), "balances": balances }),
    ))
}

#[derive(Deserialize)]
struct ProofQuery {
    token: Option<String>,
    key: Option<String>,
    batch: Option<u64>,
}

fn proof_json(batch: u64, root: B256, key: B256, proof: &SmtProof) -> Value {
    let terminal = match proof.terminal {
        Terminal::Empty => json!({ "kind": "empty" }),
        Terminal::Leaf { value } => json!({ "kind": "leaf", "value": value }),
        Terminal::Other { key, value } => json!({ "kind": "other", "key": key, "value": value }),
    };
    json!({ "batch": batch, "stateRoot": root, "key": key, "value": proof.value(), "siblings": proof.siblings, "terminal": terminal })
}

fn prove(state: &ApiState, key: B256, batch: Option<u64>) -> Result<Value, ApiError> {
    let chain = state.chain.read();
    match chain.prove(&key, batch).map_err(|e| ApiError::internal("proof", e))? {
        Some((b, root, proof)) => Ok(proof_json(b, root, key, &proof)),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no_closed_batch",
            match batch {
                Some(b) => format!("batch {b} does not exist or is still open"),
                None => "no batch has closed yet".into(),
            },
        )),
    }
}

async fn account_proof(
    State(state): State<ApiState>,
    Path(addr): Path<String>,
    ApiQuery(q): ApiQuery<ProofQuery>,
) -> Result<Json<Value>, ApiError> {
    let owner = parse_address(&addr, "address")?;
    let token = match q.token.as_deref() {
        None => Address::ZERO,
        Some(t) => parse_address(t, "token")?,
    };
    Ok(Json(prove(&state, balance_key(&owner, &token), q.batch)?))
}

async fn state_proof(
    State(state): State<ApiState>,
    ApiQuery(q): ApiQuery<ProofQuery>,
) -> Result<Json<Value>, ApiError> {
    let key = parse_b256(
        q.key
            .as_deref()
            .ok_or_else(|| ApiError::bad_request("missing_field", "query `key` is required"))?,
        "key",
    )?;
    Ok(Json(prove(&state, key, q.batch)?))
}

async fn withdrawal(
    State(state): State<ApiState>,
    ApiPath(index): ApiPath<u64>,
) -> Result<Json<Value>, ApiError> {
    let (fields, batch) = {
        let chain = state.chain.read();
        (chain.withdrawal(index), chain.batch_of_withdrawal(index).map(|b| b.index))
    };
    let Some((recipient, token, amount)) = fields else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_withdrawal",
            format!("no withdrawal {index}"),
        ));
    };
    let Some(batch) = batch else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "withdrawal_not_in_closed_batch",
            format!("withdrawal {index} is in the open batch; retry after it closes"),
        ));
    };
    let proof = prove(&state, withdrawal_key(U256::from(index)), Some(batch))?;
    let stored = state
        .ledger
        .batches(batch, 1)
        .await
        .map_err(|e| ApiError::unavailable("reading batch state", e))?;
    let status = stored.first().map_or("sequenced", |b| match b.state {
        BatchState::Open | BatchState::Closed => "sequenced",
        BatchState::Posted => "posted",
        BatchState::Final => "final",
    });
    Ok(Json(json!({
        "index": index,
        "recipient": recipient,
        "token": token,
        "amount": amount.to_string(),
        "batch": batch,
        "batchStatus": status,
        "siblings": proof["siblings"],
        "stateRoot": proof["stateRoot"],
    })))
}

#[derive(Deserialize)]
struct BatchesQuery {
    from: Option<u64>,
    limit: Option<u32>,
}

pub(crate) fn batch_json(b: &keel_store::StoredBatch) -> Value {
    json!({
        "index": b.index,
        "inboxStart": b.inbox_start,
        "inboxEnd": b.inbox_end,
        "state": b.state.as_str(),
        "txCount": b.tx_count,
        "postStateRoot": b.post_root,
        "l1Tx": b.l1_tx,
        "l1Block": b.l1_block,
    })
}

async fn batches(
    State(state): State<ApiState>,
    ApiQuery(q): ApiQuery<BatchesQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let from = match q.from {
        Some(f) => storable(f, "unknown_batch")?,
        None => (state.chain.read().batches().len() as u64).saturating_sub(u64::from(limit)),
    };
    let rows = state
        .ledger
        .batches(from, limit)
        .await
        .map_err(|e| ApiError::unavailable("reading batches", e))?;
    Ok(Json(json!({ "batches": rows.iter().map(batch_json).collect::<Vec<_>>() })))
}

async fn batch(
    State(state): State<ApiState>,
    ApiPath(index): ApiPath<u64>,
) -> Result<Json<Value>, ApiError> {
    let index = storable(index, "unknown_batch")?;
    let rows = state
        .ledger
        .batches(index, 1)
        .await
        .map_err(|e| ApiError::unavailable("reading batches", e))?;
    match rows.first().filter(|b| b.index == index) {
        Some(b) => Ok(Json(batch_json(b))),
        None => {
            Err(ApiError::new(StatusCode::NOT_FOUND, "unknown_batch", format!("no batch {index}")))
        }
    }
}

async fn config(State(state): State<ApiState>) -> Json<Value> {
    let d = &state.deployment;
    Json(json!({
        "l2ChainId": d.params.l2_chain_id,
        "l1ChainId": d.l1_chain_id,
        "rollup": d.rollup,
        "bridge": d.bridge,
        "challengeManager": d.challenge_manager,
        "feeRecipient": d.params.fee_recipient,
        "eip712Domain": { "name": "Keel", "version": "1", "chainId": d.params.l2_chain_id, "verifyingContract": d.rollup },
        "params": d.params,
    }))
}

async fn readyz(State(state): State<ApiState>) -> Response {
    // A sequencer whose batches do not reach L1 acknowledges transactions that may never be
    // posted: not ready, so a load balancer and an operator see the stall.
    if let Some(reason) = state.posting.not_ready_reason(state.posting_stall_after) {
        return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "posting_stalled", reason)
            .into_response();
    }
    match tokio::time::timeout(Duration::from_secs(2), state.ledger.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready").into_response(),
        Ok(Err(e)) => ApiError::unavailable("readiness check", e).into_response(),
        Err(_) => ApiError::unavailable("readiness check", "Postgres did not answer within 2 s")
            .into_response(),
    }
}

async fn metrics(State(state): State<ApiState>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render()).into_response()
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], include_str!("../../docs/openapi.json"))
        .into_response()
}

// ---------------------------------------------------------------- feed

#[derive(Deserialize)]
struct FeedQuery {
    /// The first sequence number to send (default: only new transactions).
    from: Option<u64>,
}

fn feed_item(t: &keel_store::StoredTransaction) -> String {
    json!({
        "seq": t.seq,
        "hash": t.record.hash(),
        "batch": t.batch,
        "sender": t.sender,
        "record": alloy::hex::encode_prefixed(t.record.0),
    })
    .to_string()
}

/// A websocket of acknowledged transactions in order, one JSON message each. `?from=N` replays
/// from sequence number N (from the ledger) and then follows live, with no gap and no repeat.
async fn feed(
    State(state): State<ApiState>,
    ApiQuery(q): ApiQuery<FeedQuery>,
    ws: axum::extract::ws::WebSocketUpgrade,
) -> Response {
    ws.on_upgrade(move |socket| async move {
        if let Err(e) = run_feed(socket, state, q.from).await {
            tracing::debug!(error = %e, "feed subscriber left");
        }
    })
}

async fn run_feed(
    mut socket: axum::extract::ws::WebSocket,
    state: ApiState,
    from: Option<u64>,
) -> anyhow::Result<()> {
    use axum::extract::ws::Message;
    use std::sync::atomic::Ordering;
    use tokio::sync::broadcast::error::RecvError;

    // Subscribe before reading the watermark, so nothing falls between backfill and live.
    let mut live = state.feed.subscribe();
    let mut shutdown = state.shutdown.clone();
    let mut next = from.unwrap_or_else(|| state.durable.load(Ordering::Acquire));
    loop {
        // Catch up from the ledger while behind what is durable.
        while next < state.durable.load(Ordering::Acquire) {
            let page = state.ledger.transactions_from(next, 1_000).await?;
            let Some(last) = page.last() else { break };
            next = last.seq + 1;
            for t in &page {
                socket.send(Message::Text(feed_item(t).into())).await?;
            }
        }
        let received = tokio::select! {
            r = live.recv() => r,
            _ = shutdown.changed() => {
                let _ = socket.send(Message::Close(None)).await;
                return Ok(());
            }
        };
        match received {
            Ok(t) if t.seq < next => {}
            Ok(t) if t.seq == next => {
                socket.send(Message::Text(feed_item(&t).into())).await?;
                next += 1;
            }
            // A gap: the ledger has it; the loop catches up.
            Ok(_) | Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => return Ok(()),
        }
    }
}
