//! The one error type of the L1 crate.

use alloy::primitives::TxHash;

/// What can go wrong talking to L1.
#[derive(Debug, thiserror::Error)]
pub enum L1Error {
    /// The RPC endpoint failed or is unreachable.
    #[error("L1 RPC failed: {0}")]
    Rpc(#[from] alloy::transports::TransportError),
    /// A contract call reverted or could not be made (the revert reason is in the message).
    #[error("L1 contract call failed: {0}")]
    Contract(#[from] alloy::contract::Error),
    /// A sent transaction could not be followed to its receipt.
    #[error("L1 transaction not confirmed: {0}")]
    Pending(#[from] alloy::providers::PendingTransactionError),
    /// A transaction was mined but reverted.
    #[error("L1 transaction {0} reverted")]
    Reverted(TxHash),
    /// A sent transaction vanished from L1 (a reorg or an L1 restart dropped it) or had no
    /// receipt within the time limit.
    #[error("L1 transaction {hash} was not mined: {why}")]
    NotMined {
        /// The transaction.
        hash: TxHash,
        /// Dropped, or timed out.
        why: &'static str,
    },
    /// L1 returned data this crate cannot interpret.
    #[error("unexpected L1 data: {0}")]
    Decode(String),
    /// The RPC URL is not a URL.
    #[error("invalid L1 RPC URL {url:?}: {reason}")]
    BadUrl {
        /// The URL given.
        url: String,
        /// Why it does not parse.
        reason: String,
    },
    /// A deployment file could not be read or written.
    #[error("deployment file {path}: {reason}")]
    DeploymentFile {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
}
