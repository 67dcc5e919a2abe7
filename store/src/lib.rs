//! Keel's Postgres store, shared by the sequencer and the verifier, and the embedded private
//! Postgres cluster that is the default when no `DATABASE_URL` is given.

pub mod cluster;
pub mod ledger;

pub use cluster::PgCluster;
pub use ledger::{
    BatchChange, BatchState, CommitGroup, Ledger, LedgerContents, StoreError, StoredBatch,
    StoredInboxEntry, StoredTransaction,
};
