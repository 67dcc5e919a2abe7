//! Keel's protocol core: everything the sequencer, the verifier and the Solidity one-step prover
//! must agree on bit for bit, with no I/O and no async.
//!
//! - [`config`]: the chain configuration and the EIP-712 domain.
//! - [`tx`]: transactions, the 146-byte record encoding and signature recovery.
//! - [`keys`]: where each piece of state lives in the tree.
//! - [`smt`]: the compact sparse Merkle tree that commits to the state, with proofs.
//! - [`stf`]: the state transition function, one step at a time, over a small state seam.
//! - [`state`]: an in-memory state (flat leaves + tree) and batch execution.
//! - [`witness`]: one-step witnesses, and the Rust mirror of the on-chain one-step prover.
//! - [`txroot`]: the batch tx root and record inclusion proofs.
//! - [`dissection`]: the arithmetic both players of a dispute game share.
//!
//! The byte-level rules are specified in `docs/protocol.md`; `tests/vectors/` pins them.

pub mod config;
pub mod dissection;
pub mod keys;
pub mod smt;
pub mod state;
pub mod stf;
pub mod tx;
pub mod txroot;
pub mod witness;

pub use alloy_primitives::{Address, B256, U256};
pub use config::ChainConfig;
pub use stf::{apply_step, InboxEntry, InboxKind, NoOpReason, Outcome, StateAccess, Step};
pub use tx::{PreparedRecord, Record, RecordError, Transaction, TxKind, RECORD_LEN};

/// Keccak-256 of `data` (the Ethereum variant).
#[inline]
pub fn keccak256(data: impl AsRef<[u8]>) -> B256 {
    alloy_primitives::keccak256(data)
}
