//! Keel's Postgres store, shared by the sequencer and the verifier, and the embedded private
//! Postgres cluster that is the default when no `DATABASE_URL` is given.

pub mod cluster;
pub mod ledger;

pub use cluster::PgCluster;
pub use ledger::{
    BatchChange, BatchState, CommitGroup, Ledger, LedgerContents, Realignment, RemovedTransaction,
    StoreError, StoredBatch, StoredInboxEntry, StoredTransaction,
};

/// The Postgres URL a service uses: `database_url` when given, else a database named `database`
/// in the embedded private cluster kept in `data_dir/postgres` (started, or initialized on first
/// use). The returned cluster, if any, must live as long as the service; dropping it stops it.
pub async fn open_database(
    database_url: Option<&str>,
    data_dir: &std::path::Path,
    database: &str,
) -> Result<(String, Option<PgCluster>), cluster::ClusterError> {
    if let Some(url) = database_url {
        return Ok((url.to_string(), None));
    }
    let dir = data_dir.join("postgres");
    let cluster = PgCluster::start_in(&dir, 0).await?;
    let url = cluster.create_database(database).await?;
    tracing::info!(dir = %dir.display(), port = cluster.port(), "embedded Postgres cluster running");
    Ok((url, Some(cluster)))
}
