//! The durable ledger: the inbox entries seen on L1, the L2 batches, and the acknowledged
//! transactions in execution order (`migrations/`). The sequencer writes it in group commits
//! before acknowledging; on start, the in-memory state is rebuilt from it alone.

use keel_core::{
    tx::{Record, RECORD_LEN},
    Address, InboxEntry, InboxKind, B256,
};
use sqlx::{postgres::PgPoolOptions, PgPool, Row};

/// The migrations of the whole store, embedded in the binary and applied on connect.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Postgres is unreachable or a statement failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying migrations failed.
    #[error("database migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// The database belongs to the other service.
    #[error("this database is a {owner}'s ledger; a {wanted} needs its own database (set a different DATABASE_URL)")]
    WrongRole {
        /// The role that owns it.
        owner: String,
        /// The role that asked.
        wanted: String,
    },
    /// A row holds data that cannot be what this code wrote.
    #[error("corrupt row in {table}: {reason}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// Where a batch is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BatchState {
    /// Taking transactions.
    Open,
    /// Closed with its post-state root; not yet on L1.
    Closed,
    /// Posted on L1.
    Posted,
    /// Final on L1.
    Final,
}

impl BatchState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Closed => "closed",
            Self::Posted => "posted",
            Self::Final => "final",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "open" => Self::Open,
            "closed" => Self::Closed,
            "posted" => Self::Posted,
            "final" => Self::Final,
            other => {
                return Err(StoreError::Corrupt {
                    table: "batches",
                    reason: format!("state {other:?}"),
                })
            }
        })
    }
}

/// A stored inbox entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredInboxEntry {
    /// Its inbox index.
    pub index: u64,
    /// The entry.
    pub entry: InboxEntry,
    /// The L1 block it was appended in.
    pub l1_block: u64,
    /// The L1 timestamp it was appended at.
    pub l1_timestamp: u64,
}

/// A stored batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredBatch {
    /// The batch index.
    pub index: u64,
    /// First inbox entry consumed.
    pub inbox_start: u64,
    /// One past the last inbox entry consumed.
    pub inbox_end: u64,
    /// Open, closed, posted or final.
    pub state: BatchState,
    /// Transactions in the batch (set when closed).
    pub tx_count: Option<u32>,
    /// The post-state root (set when closed).
    pub post_root: Option<B256>,
    /// The posting transaction on L1.
    pub l1_tx: Option<B256>,
    /// The L1 block of the posting transaction.
    pub l1_block: Option<u64>,
}

/// A stored, acknowledged transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredTransaction {
    /// Its position in the sequencer's total order.
    pub seq: u64,
    /// The batch it is in.
    pub batch: u64,
    /// The record.
    pub record: Record,
    /// Its recovered sender.
    pub sender: Address,
}

/// A change to the batch list, written in order with the transactions around it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BatchChange {
    /// Open batch `index`, consuming inbox entries `[inbox_start, inbox_end)`. Opening a batch
    /// that is still open again with a longer range extends it (done only before its first
    /// transaction, whose steps come after its inbox entries).
    Open {
        /// The batch index.
        index: u64,
        /// First inbox entry consumed.
        inbox_start: u64,
        /// One past the last.
        inbox_end: u64,
    },
    /// Close batch `index` with its root.
    Close {
        /// The batch index.
        index: u64,
        /// Its transaction count.
        tx_count: u32,
        /// Its post-state root.
        post_root: B256,
    },
}

/// One group commit: transactions and batch changes, written in one database transaction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommitGroup {
    /// Batch opens and closes, in execution order.
    pub batch_changes: Vec<BatchChange>,
    /// Transactions to acknowledge, in order.
    pub transactions: Vec<StoredTransaction>,
}

impl CommitGroup {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.batch_changes.is_empty() && self.transactions.is_empty()
    }
}

/// An acknowledged transaction that L1's history left out and that no longer applies on top of
/// it: what the API tells its sender.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemovedTransaction {
    /// The record.
    pub record: Record,
    /// Its recovered sender.
    pub sender: Address,
    /// The sequence number it was acknowledged with.
    pub previous_seq: u64,
    /// Why it no longer applies: the sequencer's rejection code (e.g. `insufficient_balance`).
    pub code: String,
    /// The same, for a human.
    pub reason: String,
}

/// How the ledger changes to follow L1's history after another party's batches took the place
/// of some of its own (written by [`Ledger::realign`], in one database transaction).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Realignment {
    /// The first batch index replaced: every stored batch from here on is deleted.
    pub from_index: u64,
    /// The first stored inbox entry that is replaced: L1 no longer has it (a reorg deeper
    /// than the confirmations). Stored entries from here on are deleted before `inbox` is
    /// stored; the stored count when none is replaced.
    pub inbox_from: u64,
    /// Inbox entries the adopted batches consume that are not stored (or were replaced).
    pub inbox: Vec<StoredInboxEntry>,
    /// The batches L1 holds from `from_index` on, as they are there (posted or final), with
    /// their transactions.
    pub adopted: Vec<(StoredBatch, Vec<StoredTransaction>)>,
    /// The displaced transactions that still apply, sequenced again after the adopted batches.
    pub resequenced: CommitGroup,
    /// The displaced transactions that no longer apply.
    pub removed: Vec<RemovedTransaction>,
}

/// Everything needed to rebuild the state, in order.
#[derive(Clone, Debug, Default)]
pub struct LedgerContents {
    /// Inbox entries by index (contiguous from 0).
    pub inbox: Vec<StoredInboxEntry>,
    /// Batches by index (contiguous from 0).
    pub batches: Vec<StoredBatch>,
    /// Transactions by seq (contiguous from 0).
    pub transactions: Vec<StoredTransaction>,
}

fn i64_of(v: u64, what: &'static str) -> Result<i64, StoreError> {
    i64::try_from(v)
        .map_err(|_| StoreError::Corrupt { table: what, reason: format!("{v} exceeds i64") })
}

fn u64_of(v: i64, table: &'static str) -> Result<u64, StoreError> {
    u64::try_from(v)
        .map_err(|_| StoreError::Corrupt { table, reason: format!("negative value {v}") })
}

fn b256_of(bytes: &[u8], table: &'static str) -> Result<B256, StoreError> {
    B256::try_from(bytes).map_err(|_| StoreError::Corrupt {
        table,
        reason: format!("{} bytes, not 32", bytes.len()),
    })
}

fn address_of(bytes: &[u8], table: &'static str) -> Result<Address, StoreError> {
    Address::try_from(bytes).map_err(|_| StoreError::Corrupt {
        table,
        reason: format!("{} bytes, not 20", bytes.len()),
    })
}

/// The ledger in Postgres.
#[derive(Clone, Debug)]
pub struct Ledger {
    pool: PgPool,
}

impl Ledger {
    /// Connect to `url` and apply the migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(std::time::Duration::from_secs(3))
            .connect(url)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    /// The same ledger over new connections with the same options, made on the calling
    /// runtime: a task running on a runtime of its own uses this so that its sockets are polled
    /// by that runtime, not by a busy one. The migrations are not run again.
    pub async fn reconnect(&self) -> Result<Self, StoreError> {
        let options = (*self.pool.connect_options()).clone();
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(std::time::Duration::from_secs(3))
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }

    /// The connection pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Claim this database for `role` (`"sequencer"` or `"verifier"`), or fail if another role
    /// owns it.
    pub async fn claim_role(&self, role: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO ledger_role (role) VALUES ($1) ON CONFLICT (singleton) DO NOTHING",
        )
        .bind(role)
        .execute(&self.pool)
        .await?;
        let owner: String =
            sqlx::query_scalar("SELECT role FROM ledger_role").fetch_one(&self.pool).await?;
        if owner != role {
            return Err(StoreError::WrongRole { owner, wanted: role.to_string() });
        }
        Ok(())
    }

    /// Whether Postgres answers a trivial query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Write one group commit atomically.
    ///
    /// One statement in autocommit: the batch opens, the transactions and the batch closes are
    /// three data-modifying parts of a single `WITH` query, so a group costs one round trip
    /// and one WAL flush instead of `BEGIN`, two to four statements and `COMMIT` (each a round
    /// trip that the acknowledgements of the whole group wait for). The parts of one statement
    /// see the same snapshot, so a batch opened and closed within the group is inserted closed
    /// rather than updated; the foreign-key checks of the transactions run at the end of the
    /// statement and see the batches it inserted.
    ///
    /// Idempotent: if a previous attempt of the same group committed but its answer was lost,
    /// writing it again succeeds without duplicating anything.
    pub async fn commit(&self, group: &CommitGroup) -> Result<(), StoreError> {
        if group.is_empty() {
            return Ok(());
        }
        let mut db = self.pool.acquire().await?;
        write_group(&mut db, group).await
    }

    /// Record inbox entries read from L1; entries already stored are left as they are.
    pub async fn insert_inbox_entries(
        &self,
        entries: &[StoredInboxEntry],
    ) -> Result<(), StoreError> {
        let mut db = self.pool.acquire().await?;
        write_inbox_entries(&mut db, entries).await
    }

    /// Seconds since the oldest batch at or after `from` that is closed but not posted closed.
    pub async fn oldest_closed_age_from(&self, from: u64) -> Result<Option<f64>, StoreError> {
        let age: Option<f64> = sqlx::query_scalar(
            "SELECT EXTRACT(EPOCH FROM now() - closed_at)::float8 FROM batches
             WHERE idx >= $1 AND state = 'closed' ORDER BY idx LIMIT 1",
        )
        .bind(i64_of(from, "batches")?)
        .fetch_optional(&self.pool)
        .await?
        .flatten();
        Ok(age)
    }

    /// Mark a closed batch as posted on L1.
    pub async fn mark_posted(
        &self,
        index: u64,
        l1_tx: B256,
        l1_block: u64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE batches SET state = 'posted', l1_tx = $2, l1_block = $3, posted_at = now()
             WHERE idx = $1 AND state IN ('closed', 'posted')",
        )
        .bind(i64_of(index, "batches")?)
        .bind(l1_tx.as_slice())
        .bind(i64_of(l1_block, "batches")?)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Mark posted batches from `from_index` on as not posted again (their posting was dropped
    /// by an L1 reorg or restart), so they are posted again.
    pub async fn mark_unposted_from(&self, from_index: u64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE batches SET state = 'closed', l1_tx = NULL, l1_block = NULL, posted_at = NULL
             WHERE idx >= $1 AND state = 'posted'",
        )
        .bind(i64_of(from_index, "batches")?)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// How many closed (not yet posted) batches have an index of at least `from`.
    pub async fn count_closed_from(&self, from: u64) -> Result<u64, StoreError> {
        let n: i64 =
            sqlx::query_scalar("SELECT count(*) FROM batches WHERE idx >= $1 AND state = 'closed'")
                .bind(i64_of(from, "batches")?)
                .fetch_one(&self.pool)
                .await?;
        Ok(n.max(0) as u64)
    }

    /// Mark every posted batch below `count` as final.
    pub async fn mark_final_below(&self, count: u64) -> Result<(), StoreError> {
        sqlx::query("UPDATE batches SET state = 'final', finalized_at = now() WHERE idx < $1 AND state = 'posted'")
            .bind(i64_of(count, "batches")?)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Batches `[from, from + limit)`.
    pub async fn batches(&self, from: u64, limit: u32) -> Result<Vec<StoredBatch>, StoreError> {
        let rows = sqlx::query(
            "SELECT idx, inbox_start, inbox_end, state, tx_count, post_root, l1_tx, l1_block
             FROM batches WHERE idx >= $1 ORDER BY idx LIMIT $2",
        )
        .bind(i64_of(from, "batches")?)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(batch_of_row).collect()
    }

    /// The batch and seq of a transaction, by hash.
    pub async fn transaction_by_hash(&self, hash: &B256) -> Result<Option<(u64, u64)>, StoreError> {
        let row = sqlx::query("SELECT seq, batch_idx FROM transactions WHERE hash = $1")
            .bind(hash.as_slice())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok((
                u64_of(r.try_get("seq")?, "transactions")?,
                u64_of(r.try_get("batch_idx")?, "transactions")?,
            ))
        })
        .transpose()
    }

    /// Up to `limit` transactions from sequence number `from` on, in order.
    pub async fn transactions_from(
        &self,
        from: u64,
        limit: u32,
    ) -> Result<Vec<StoredTransaction>, StoreError> {
        let rows = sqlx::query("SELECT seq, batch_idx, record, sender FROM transactions WHERE seq >= $1 ORDER BY seq LIMIT $2")
            .bind(i64_of(from, "transactions")?)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(StoredTransaction {
                    seq: u64_of(r.try_get("seq")?, "transactions")?,
                    batch: u64_of(r.try_get("batch_idx")?, "transactions")?,
                    record: record_of(r.try_get::<&[u8], _>("record")?)?,
                    sender: address_of(r.try_get::<&[u8], _>("sender")?, "transactions")?,
                })
            })
            .collect()
    }

    /// The records of batch `index`, in order.
    pub async fn batch_records(&self, index: u64) -> Result<Vec<Record>, StoreError> {
        let rows = sqlx::query("SELECT record FROM transactions WHERE batch_idx = $1 ORDER BY seq")
            .bind(i64_of(index, "transactions")?)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| record_of(r.try_get::<&[u8], _>("record")?)).collect()
    }

    /// Everything, for a rebuild of the state.
    pub async fn load(&self) -> Result<LedgerContents, StoreError> {
        let inbox = sqlx::query(
            "SELECT idx, kind, sender, recipient, token, amount, l1_block, l1_timestamp FROM inbox_entries ORDER BY idx",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(inbox_of_row)
        .collect::<Result<Vec<_>, _>>()?;
        let batches = sqlx::query(
            "SELECT idx, inbox_start, inbox_end, state, tx_count, post_root, l1_tx, l1_block FROM batches ORDER BY idx",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(batch_of_row)
        .collect::<Result<Vec<_>, _>>()?;
        let transactions =
            sqlx::query("SELECT seq, batch_idx, record, sender FROM transactions ORDER BY seq")
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|r| {
                    Ok(StoredTransaction {
                        seq: u64_of(r.try_get("seq")?, "transactions")?,
                        batch: u64_of(r.try_get("batch_idx")?, "transactions")?,
                        record: record_of(r.try_get::<&[u8], _>("record")?)?,
                        sender: address_of(r.try_get::<&[u8], _>("sender")?, "transactions")?,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
        check_contiguous(inbox.iter().map(|e| e.index), "inbox_entries")?;
        check_contiguous(batches.iter().map(|b| b.index), "batches")?;
        check_contiguous(transactions.iter().map(|t| t.seq), "transactions")?;
        Ok(LedgerContents { inbox, batches, transactions })
    }

    /// Store batch `batch.index` as a verifier reads it from L1 (state `posted` or `final`, the
    /// root L1 claims, its transactions in order), replacing that batch and every later one if
    /// they are stored: a range read again after a crash, or an index reused after a removal.
    ///
    /// A record that is already stored (L1 may carry a record twice; the repeat is a no-op step)
    /// is not stored again, so its sequence number stays unused.
    pub async fn put_posted_batch(
        &self,
        batch: &StoredBatch,
        transactions: &[StoredTransaction],
    ) -> Result<(), StoreError> {
        let mut db = self.pool.begin().await?;
        delete_batches_from(&mut db, batch.index).await?;
        write_posted_batch(&mut db, batch, transactions).await?;
        db.commit().await?;
        Ok(())
    }

    /// Delete batch `index` and every later one, with their transactions (L1 removed them after
    /// a lost game); returns how many batches were deleted.
    pub async fn remove_batches_from(&self, index: u64) -> Result<u64, StoreError> {
        let mut db = self.pool.begin().await?;
        let deleted = delete_batches_from(&mut db, index).await?;
        db.commit().await?;
        Ok(deleted)
    }

    /// Follow L1's history: delete every batch from `r.from_index` on, store the batches L1
    /// holds there and the displaced transactions sequenced again after them, and keep the
    /// displaced transactions that no longer apply as removed. One database transaction, so a
    /// crash leaves either the old ledger or the realigned one.
    pub async fn realign(&self, r: &Realignment) -> Result<(), StoreError> {
        let mut db = self.pool.begin().await?;
        // Batches first: they reference the entries they consume by range only, but a batch
        // must never be left consuming an entry that is gone.
        delete_batches_from(&mut db, r.from_index).await?;
        sqlx::query("DELETE FROM inbox_entries WHERE idx >= $1")
            .bind(i64_of(r.inbox_from, "inbox_entries")?)
            .execute(&mut *db)
            .await?;
        write_inbox_entries(&mut db, &r.inbox).await?;
        for (batch, transactions) in &r.adopted {
            write_posted_batch(&mut db, batch, transactions).await?;
        }
        write_group(&mut db, &r.resequenced).await?;
        // Accepted again (on L1, or sequenced again): no longer removed.
        let kept: Vec<Vec<u8>> = r
            .adopted
            .iter()
            .flat_map(|(_, txs)| txs)
            .chain(&r.resequenced.transactions)
            .map(|t| t.record.hash().to_vec())
            .collect();
        sqlx::query("DELETE FROM removed_transactions WHERE hash = ANY($1::bytea[])")
            .bind(&kept)
            .execute(&mut *db)
            .await?;
        for t in &r.removed {
            sqlx::query(
                "INSERT INTO removed_transactions (hash, record, sender, previous_seq, code, reason)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (hash) DO UPDATE SET previous_seq = EXCLUDED.previous_seq,
                     code = EXCLUDED.code, reason = EXCLUDED.reason, removed_at = now()",
            )
            .bind(t.record.hash().as_slice())
            .bind(t.record.0.as_slice())
            .bind(t.sender.as_slice())
            .bind(i64_of(t.previous_seq, "removed_transactions")?)
            .bind(&t.code)
            .bind(&t.reason)
            .execute(&mut *db)
            .await?;
        }
        db.commit().await?;
        Ok(())
    }

    /// A transaction removed by a realignment with L1, by hash.
    pub async fn removed_transaction(
        &self,
        hash: &B256,
    ) -> Result<Option<RemovedTransaction>, StoreError> {
        let row = sqlx::query(
            "SELECT record, sender, previous_seq, code, reason FROM removed_transactions WHERE hash = $1",
        )
        .bind(hash.as_slice())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(RemovedTransaction {
                record: record_of(r.try_get::<&[u8], _>("record")?)?,
                sender: address_of(r.try_get::<&[u8], _>("sender")?, "removed_transactions")?,
                previous_seq: u64_of(r.try_get("previous_seq")?, "removed_transactions")?,
                code: r.try_get("code")?,
                reason: r.try_get("reason")?,
            })
        })
        .transpose()
    }

    /// Every stored inbox entry from index `from` on, in order.
    pub async fn inbox_entries_from(&self, from: u64) -> Result<Vec<StoredInboxEntry>, StoreError> {
        sqlx::query(
            "SELECT idx, kind, sender, recipient, token, amount, l1_block, l1_timestamp
             FROM inbox_entries WHERE idx >= $1 ORDER BY idx",
        )
        .bind(i64_of(from, "inbox_entries")?)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(inbox_of_row)
        .collect()
    }
}

/// Insert inbox entries on `db`; entries already stored are left as they are.
async fn write_inbox_entries(
    db: &mut sqlx::PgConnection,
    entries: &[StoredInboxEntry],
) -> Result<(), StoreError> {
    if entries.is_empty() {
        return Ok(());
    }
    let n = entries.len();
    let mut idx = Vec::with_capacity(n);
    let mut kind = Vec::with_capacity(n);
    let mut sender = Vec::with_capacity(n);
    let mut recipient = Vec::with_capacity(n);
    let mut token = Vec::with_capacity(n);
    let mut amount = Vec::with_capacity(n);
    let mut block = Vec::with_capacity(n);
    let mut time = Vec::with_capacity(n);
    for e in entries {
        idx.push(i64_of(e.index, "inbox_entries")?);
        kind.push(e.entry.kind as i16);
        sender.push(e.entry.sender.to_vec());
        recipient.push(e.entry.recipient.to_vec());
        token.push(e.entry.token.to_vec());
        amount.push(e.entry.amount.to_be_bytes().to_vec());
        block.push(i64_of(e.l1_block, "inbox_entries")?);
        time.push(i64_of(e.l1_timestamp, "inbox_entries")?);
    }
    sqlx::query(
        "INSERT INTO inbox_entries (idx, kind, sender, recipient, token, amount, l1_block, l1_timestamp)
         SELECT * FROM UNNEST($1::bigint[], $2::smallint[], $3::bytea[], $4::bytea[], $5::bytea[], $6::bytea[], $7::bigint[], $8::bigint[])
         ON CONFLICT (idx) DO NOTHING",
    )
    .bind(&idx)
    .bind(&kind)
    .bind(&sender)
    .bind(&recipient)
    .bind(&token)
    .bind(&amount)
    .bind(&block)
    .bind(&time)
    .execute(&mut *db)
    .await?;
    Ok(())
}

/// Delete batch `index` and every later one with their transactions, on `db`; returns how many
/// batches were deleted.
async fn delete_batches_from(db: &mut sqlx::PgConnection, index: u64) -> Result<u64, StoreError> {
    let index = i64_of(index, "batches")?;
    sqlx::query("DELETE FROM transactions WHERE batch_idx >= $1")
        .bind(index)
        .execute(&mut *db)
        .await?;
    let done =
        sqlx::query("DELETE FROM batches WHERE idx >= $1").bind(index).execute(&mut *db).await?;
    Ok(done.rows_affected())
}

/// Insert batch `batch` as read from L1 (posted or final) with its transactions, on `db`; later
/// batches must be deleted first. A repeated record (same hash) is skipped.
async fn write_posted_batch(
    db: &mut sqlx::PgConnection,
    batch: &StoredBatch,
    transactions: &[StoredTransaction],
) -> Result<(), StoreError> {
    let index = i64_of(batch.index, "batches")?;
    sqlx::query(
        "INSERT INTO batches (idx, inbox_start, inbox_end, state, tx_count, post_root, l1_tx, l1_block, closed_at, posted_at, finalized_at)
         VALUES ($1, $2, $3, $4::text, $5, $6, $7, $8, now(), now(), CASE WHEN $4::text = 'final' THEN now() END)",
    )
    .bind(index)
    .bind(i64_of(batch.inbox_start, "batches")?)
    .bind(i64_of(batch.inbox_end, "batches")?)
    .bind(batch.state.as_str())
    .bind(batch.tx_count.map(|c| i32::try_from(c).unwrap_or(i32::MAX)))
    .bind(batch.post_root.map(|r| r.to_vec()))
    .bind(batch.l1_tx.map(|t| t.to_vec()))
    .bind(batch.l1_block.map(|b| i64_of(b, "batches")).transpose()?)
    .execute(&mut *db)
    .await?;
    if !transactions.is_empty() {
        let n = transactions.len();
        let (mut seqs, mut hashes, mut batches, mut records, mut senders) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for t in transactions {
            seqs.push(i64_of(t.seq, "transactions")?);
            hashes.push(t.record.hash().to_vec());
            batches.push(i64_of(t.batch, "transactions")?);
            records.push(t.record.0.to_vec());
            senders.push(t.sender.to_vec());
        }
        // No conflict target: a repeated record (same hash) is skipped, not an error.
        sqlx::query(
            "INSERT INTO transactions (seq, hash, batch_idx, record, sender)
             SELECT * FROM UNNEST($1::bigint[], $2::bytea[], $3::bigint[], $4::bytea[], $5::bytea[])
             ON CONFLICT DO NOTHING",
        )
        .bind(&seqs)
        .bind(&hashes)
        .bind(&batches)
        .bind(&records)
        .bind(&senders)
        .execute(&mut *db)
        .await?;
    }
    Ok(())
}

/// Write one group commit's batch changes and transactions on `db` (see [`Ledger::commit`]).
async fn write_group(db: &mut sqlx::PgConnection, group: &CommitGroup) -> Result<(), StoreError> {
    // Batches opened in this group: (index, inbox start, inbox end, and the close if the
    // group closes them too).
    type Opened = (u64, u64, u64, Option<(u32, B256)>);
    let mut opened: Vec<Opened> = Vec::new();
    let mut closes: Vec<(u64, u32, B256)> = Vec::new();
    for change in &group.batch_changes {
        match *change {
            // An open batch that took more inbox entries before its first transaction is
            // opened again with the longer range: one row, the last range.
            BatchChange::Open { index, inbox_start, inbox_end } => {
                match opened.iter_mut().find(|o| o.0 == index) {
                    Some(o) => o.2 = inbox_end,
                    None => opened.push((index, inbox_start, inbox_end, None)),
                }
            }
            BatchChange::Close { index, tx_count, post_root } => {
                match opened.iter_mut().find(|o| o.0 == index) {
                    Some(o) => o.3 = Some((tx_count, post_root)),
                    None => closes.push((index, tx_count, post_root)),
                }
            }
        }
    }
    let count = |c: u32| i32::try_from(c).unwrap_or(i32::MAX);
    let (mut o_idx, mut o_start, mut o_end, mut o_count, mut o_root) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (index, start, end, close) in &opened {
        o_idx.push(i64_of(*index, "batches")?);
        o_start.push(i64_of(*start, "batches")?);
        o_end.push(i64_of(*end, "batches")?);
        o_count.push(close.map(|(c, _)| count(c)));
        o_root.push(close.map(|(_, r)| r.to_vec()));
    }
    let (mut c_idx, mut c_count, mut c_root) = (Vec::new(), Vec::new(), Vec::new());
    for (index, tx_count, root) in &closes {
        c_idx.push(i64_of(*index, "batches")?);
        c_count.push(count(*tx_count));
        c_root.push(root.to_vec());
    }
    let n = group.transactions.len();
    let (mut seqs, mut hashes, mut batches, mut records, mut senders) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for t in &group.transactions {
        seqs.push(i64_of(t.seq, "transactions")?);
        hashes.push(t.record.hash().to_vec());
        batches.push(i64_of(t.batch, "transactions")?);
        records.push(t.record.0.to_vec());
        senders.push(t.sender.to_vec());
    }
    sqlx::query(
        "WITH opened AS (
             INSERT INTO batches (idx, inbox_start, inbox_end, state, tx_count, post_root, closed_at)
             SELECT o.idx, o.inbox_start, o.inbox_end,
                    CASE WHEN o.post_root IS NULL THEN 'open' ELSE 'closed' END,
                    o.tx_count, o.post_root,
                    CASE WHEN o.post_root IS NULL THEN NULL ELSE now() END
             FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::integer[], $5::bytea[])
                  AS o (idx, inbox_start, inbox_end, tx_count, post_root)
             ON CONFLICT (idx) DO UPDATE
                 SET inbox_end = EXCLUDED.inbox_end, state = EXCLUDED.state,
                     tx_count = EXCLUDED.tx_count, post_root = EXCLUDED.post_root,
                     closed_at = EXCLUDED.closed_at
                 WHERE batches.state = 'open' AND batches.inbox_start = EXCLUDED.inbox_start
                   AND batches.inbox_end <= EXCLUDED.inbox_end
         ),
         txs AS (
             INSERT INTO transactions (seq, hash, batch_idx, record, sender)
             SELECT * FROM UNNEST($6::bigint[], $7::bytea[], $8::bigint[], $9::bytea[], $10::bytea[])
             ON CONFLICT (seq) DO NOTHING
         ),
         closed AS (
             UPDATE batches b SET state = 'closed', tx_count = c.tx_count, post_root = c.post_root, closed_at = now()
             FROM UNNEST($11::bigint[], $12::integer[], $13::bytea[]) AS c (idx, tx_count, post_root)
             WHERE b.idx = c.idx AND b.state = 'open'
         )
         SELECT 1",
    )
    .bind(&o_idx)
    .bind(&o_start)
    .bind(&o_end)
    .bind(&o_count)
    .bind(&o_root)
    .bind(&seqs)
    .bind(&hashes)
    .bind(&batches)
    .bind(&records)
    .bind(&senders)
    .bind(&c_idx)
    .bind(&c_count)
    .bind(&c_root)
    .execute(&mut *db)
    .await?;
    Ok(())
}

fn check_contiguous(
    indexes: impl Iterator<Item = u64>,
    table: &'static str,
) -> Result<(), StoreError> {
    for (expected, got) in indexes.enumerate() {
        if got != expected as u64 {
            return Err(StoreError::Corrupt {
                table,
                reason: format!("index {got} where {expected} was expected"),
            });
        }
    }
    Ok(())
}

fn record_of(bytes: &[u8]) -> Result<Record, StoreError> {
    let arr: [u8; RECORD_LEN] = bytes.try_into().map_err(|_| StoreError::Corrupt {
        table: "transactions",
        reason: format!("record of {} bytes", bytes.len()),
    })?;
    Ok(Record(arr))
}

fn inbox_of_row(r: &sqlx::postgres::PgRow) -> Result<StoredInboxEntry, StoreError> {
    const T: &str = "inbox_entries";
    let kind = match r.try_get::<i16, _>("kind")? {
        1 => InboxKind::Deposit,
        2 => InboxKind::ForcedWithdrawal,
        k => return Err(StoreError::Corrupt { table: T, reason: format!("kind {k}") }),
    };
    let amount: [u8; 16] = r
        .try_get::<&[u8], _>("amount")?
        .try_into()
        .map_err(|_| StoreError::Corrupt { table: T, reason: "amount is not 16 bytes".into() })?;
    Ok(StoredInboxEntry {
        index: u64_of(r.try_get("idx")?, T)?,
        entry: InboxEntry {
            kind,
            sender: address_of(r.try_get::<&[u8], _>("sender")?, T)?,
            recipient: address_of(r.try_get::<&[u8], _>("recipient")?, T)?,
            token: address_of(r.try_get::<&[u8], _>("token")?, T)?,
            amount: u128::from_be_bytes(amount),
        },
        l1_block: u64_of(r.try_get("l1_block")?, T)?,
        l1_timestamp: u64_of(r.try_get("l1_timestamp")?, T)?,
    })
}

fn batch_of_row(r: &sqlx::postgres::PgRow) -> Result<StoredBatch, StoreError> {
    const T: &str = "batches";
    Ok(StoredBatch {
        index: u64_of(r.try_get("idx")?, T)?,
        inbox_start: u64_of(r.try_get("inbox_start")?, T)?,
        inbox_end: u64_of(r.try_get("inbox_end")?, T)?,
        state: BatchState::parse(r.try_get("state")?)?,
        tx_count: r.try_get::<Option<i32>, _>("tx_count")?.map(|c| c.max(0) as u32),
        post_root: r
            .try_get::<Option<&[u8]>, _>("post_root")?
            .map(|b| b256_of(b, T))
            .transpose()?,
        l1_tx: r.try_get::<Option<&[u8]>, _>("l1_tx")?.map(|b| b256_of(b, T)).transpose()?,
        l1_block: r.try_get::<Option<i64>, _>("l1_block")?.map(|b| u64_of(b, T)).transpose()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PgCluster;

    fn tx(seq: u64, batch: u64) -> StoredTransaction {
        let mut r = [0u8; RECORD_LEN];
        r[..8].copy_from_slice(&seq.to_be_bytes());
        StoredTransaction { seq, batch, record: Record(r), sender: Address::repeat_byte(7) }
    }

    /// The one-statement group commit: a batch opened and closed in one group, a batch closed
    /// in a later group, and a group written twice, end as the ordered writes would.
    #[tokio::test(flavor = "multi_thread")]
    async fn group_commits_open_fill_close_and_are_idempotent() {
        let pg = PgCluster::start_temp().await.expect("cluster");
        let ledger = Ledger::connect(&pg.create_database("ledger_test").await.expect("db"))
            .await
            .expect("connect");
        let root = |b: u8| B256::repeat_byte(b);
        let first = CommitGroup {
            batch_changes: vec![
                BatchChange::Open { index: 0, inbox_start: 0, inbox_end: 2 },
                BatchChange::Close { index: 0, tx_count: 2, post_root: root(1) },
                BatchChange::Open { index: 1, inbox_start: 2, inbox_end: 2 },
            ],
            transactions: vec![tx(0, 0), tx(1, 0), tx(2, 1)],
        };
        ledger.commit(&first).await.expect("first group");
        ledger.commit(&first).await.expect("the same group again");
        let second = CommitGroup {
            batch_changes: vec![BatchChange::Close { index: 1, tx_count: 2, post_root: root(2) }],
            transactions: vec![tx(3, 1)],
        };
        ledger.commit(&second).await.expect("second group");
        ledger.commit(&second).await.expect("the second group again");
        let third = CommitGroup {
            batch_changes: vec![BatchChange::Open { index: 2, inbox_start: 2, inbox_end: 2 }],
            transactions: vec![],
        };
        ledger.commit(&third).await.expect("an open alone");

        let c = ledger.load().await.expect("load");
        let states: Vec<_> =
            c.batches.iter().map(|b| (b.index, b.state, b.tx_count, b.post_root)).collect();
        assert_eq!(
            states,
            vec![
                (0, BatchState::Closed, Some(2), Some(root(1))),
                (1, BatchState::Closed, Some(2), Some(root(2))),
                (2, BatchState::Open, None, None),
            ]
        );
        let txs: Vec<_> = c.transactions.iter().map(|t| (t.seq, t.batch)).collect();
        assert_eq!(txs, vec![(0, 0), (1, 0), (2, 1), (3, 1)]);

        // A transaction of a batch that does not exist is refused, and nothing of its group
        // is written.
        let bad = CommitGroup {
            batch_changes: vec![BatchChange::Open { index: 3, inbox_start: 2, inbox_end: 2 }],
            transactions: vec![tx(4, 9)],
        };
        assert!(ledger.commit(&bad).await.is_err());
        assert_eq!(ledger.load().await.expect("load").batches.len(), 3);
    }

    /// An open batch without transactions that takes more inbox entries is stored once with the
    /// longer range, whether the extension comes in a later group or in the same one as its
    /// close; a stale extension (a retried older group) never shortens or reopens it.
    #[tokio::test(flavor = "multi_thread")]
    async fn an_open_batch_extended_before_its_first_transaction_keeps_the_longer_range() {
        let pg = PgCluster::start_temp().await.expect("cluster");
        let ledger = Ledger::connect(&pg.create_database("ledger_extend").await.expect("db"))
            .await
            .expect("connect");
        let open =
            |index, start, end| BatchChange::Open { index, inbox_start: start, inbox_end: end };
        let group = |changes: Vec<BatchChange>, transactions| CommitGroup {
            batch_changes: changes,
            transactions,
        };
        ledger.commit(&group(vec![open(0, 0, 1)], vec![])).await.expect("open");
        ledger.commit(&group(vec![open(0, 0, 3)], vec![])).await.expect("extend");
        ledger.commit(&group(vec![open(0, 0, 1)], vec![])).await.expect("a stale retry");
        let b = &ledger.load().await.expect("load").batches[0];
        assert_eq!((b.inbox_start, b.inbox_end, b.state), (0, 3, BatchState::Open));

        let close = BatchChange::Close { index: 0, tx_count: 1, post_root: B256::repeat_byte(1) };
        ledger
            .commit(&group(vec![open(0, 0, 4), open(0, 0, 5), close], vec![tx(0, 0)]))
            .await
            .expect("extend twice and close in one group");
        ledger.commit(&group(vec![open(0, 0, 6)], vec![])).await.expect("too late: closed");
        let c = ledger.load().await.expect("load");
        let b = &c.batches[0];
        assert_eq!(
            (b.inbox_start, b.inbox_end, b.state, b.tx_count),
            (0, 5, BatchState::Closed, Some(1))
        );
        assert_eq!(c.transactions.len(), 1);
    }
}
