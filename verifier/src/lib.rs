//! Keel's verifier: derives every batch from L1 alone, re-executes it with the core STF,
//! compares the post-state root with the one L1 claims, and when a root is wrong bonds against it
//! and plays the dispute game to the end. It also serves state and withdrawal proofs under the
//! roots it agrees with, so users need not trust the sequencer.
//!
//! - [`chain`]: the verifier's chain and state, verdicts, and the disputed batch (no I/O).
//! - [`store`]: what it keeps in Postgres, so a restart resumes where it stopped.
//! - [`follower`]: derivation from L1 and re-execution.
//! - [`challenger`]: the dispute games.
//! - [`fault`]: fault injection for adversarial tests (refused outside a local anvil).
//! - [`proposer`]: the fallback proposer of the escape hatch (off unless configured).
//! - [`shared`]: what the tasks and the API share (chain, L1 view, games).
//! - [`api`], [`metrics`]: the HTTP API and Prometheus metrics.
//! - [`node`]: configuration and assembly of the whole service.

pub mod api;
pub mod chain;
pub mod challenger;
pub mod defender;
pub mod derive;
pub mod fault;
pub mod follower;
pub mod metrics;
pub mod node;
pub mod proposer;
pub mod shared;
pub mod store;
