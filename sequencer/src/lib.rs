//! Keel's sequencer: orders and executes signed L2 transactions, makes them durable in Postgres
//! before acknowledging, posts batches to L1 and defends them.
//!
//! - [`chain`]: the hot in-memory chain (state, batches, inbox) and its rebuild from the ledger.
//! - [`pipeline`]: apply in order and group-commit before acknowledging.
//! - [`api`]: the HTTP API.
//! - [`poster`], [`inbox`], [`defender`]: the L1 tasks.
//! - [`status`]: the status page at `/` and the snapshot it reads, `/v1/status`.
//! - [`realign`]: the ledger follows L1 when L1 holds batches the sequencer did not post.
//! - [`node`]: configuration and assembly of the whole service.
//! - [`fault`]: fault injection for adversarial tests (refused outside a local anvil).

pub mod api;
pub mod chain;
pub mod defender;
pub mod fault;
pub mod inbox;
pub mod metrics;
pub mod node;
pub mod pipeline;
pub mod poster;
pub mod realign;
pub mod status;
