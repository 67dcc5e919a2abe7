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
    /// Another transaction of this account took the nonce an attempt was sent with (a
    /// crashed process's posting, mined meanwhile): read L1 again before sending anything.
    #[error("nonce {nonce} was taken by another transaction of this account")]
    NonceTaken {
        /// The nonce.
        nonce: u64,
    },
    /// The account's mined transaction count fell below the nonce a posting was sent with: L1
    /// forgot earlier transactions of this account (a reorg or a restart). Read L1 again and
    /// post with a fresh nonce.
    #[error("L1 forgot earlier transactions of this account: nonce {nonce} sent, but only {count} are mined")]
    NonceAhead {
        /// The nonce sent with.
        nonce: u64,
        /// The account's mined transaction count.
        count: u64,
    },
    /// Sending would take this hour's gas spend over the fee policy's budget.
    #[error(
        "L1 gas budget exhausted: {spent_wei} wei spent in the last hour, the next transaction \
         may cost {next_wei} wei, the budget is {budget_wei} wei per hour"
    )]
    BudgetExhausted {
        /// Spent in the last hour.
        spent_wei: u128,
        /// The most the next transaction may cost (gas limit × max fee).
        next_wei: u128,
        /// The budget per hour.
        budget_wei: u128,
    },
    /// The deployment file says one thing, the contracts on L1 another.
    #[error(
        "the deployment file disagrees with L1 on `{field}`: the file says {file}, L1 says {l1} \
         (wrong file for this L1, or the contracts were redeployed: fix the file)"
    )]
    DeploymentMismatch {
        /// The field, as named in the deployment file.
        field: &'static str,
        /// The file's value.
        file: String,
        /// L1's value.
        l1: String,
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
