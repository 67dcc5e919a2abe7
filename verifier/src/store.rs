//! What the verifier keeps in Postgres: the shared ledger tables (`keel_store::Ledger`) filled
//! with what it derived from L1, plus its own tables (`migrations/0002_verifier.sql`): how far it
//! has read L1, each batch's records exactly as posted with their recovered senders, and its
//! verdicts. A restart loads this and replays in memory, without reading L1 from genesis again.
//!
//! Every write is idempotent and the progress block is written last, so a crash between writes
//! only makes the next start read a range again (`Chain::apply` ignores what it already has).

use std::collections::HashSet;

use keel_core::{
    tx::{Domain, PreparedRecord, Record, RECORD_LEN},
    Address, B256,
};
use keel_store::{
    BatchState, Ledger, StoreError, StoredBatch, StoredInboxEntry, StoredTransaction,
};
use sqlx::Row;

use crate::chain::{DerivedBatch, VerdictReport};

/// The advisory lock key a verifier holds on its database (`"keelveri"` in ASCII).
const VERIFIER_LOCK: i64 = 0x6b65_656c_7665_7269;

/// Everything stored, to rebuild the chain from.
#[derive(Clone, Debug, Default)]
pub struct Loaded {
    /// The last L1 block fully read, if any.
    pub progress: Option<u64>,
    /// The Rollup the store was derived from (`None` while empty).
    pub rollup: Option<Address>,
    /// Every inbox entry, in order.
    pub inbox: Vec<StoredInboxEntry>,
    /// The current batches, in order, with their records.
    pub batches: Vec<DerivedBatch>,
    /// Ids of batches found wrong before.
    pub suspects: HashSet<u64>,
}

/// How many recorded read blocks are kept: a reorg deeper than the oldest one re-derives
/// everything (each follower round that reads blocks records one, so this covers at least as
/// many L1 blocks).
pub const READ_BLOCKS_KEPT: i64 = 1_024;

/// An L1 block the follower read up to, with its hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadBlock {
    /// Its number.
    pub number: u64,
    /// Its hash when it was read.
    pub hash: B256,
    /// Whether the range it ends removed or finalized batches.
    pub irreversible: bool,
}

/// What a rewind deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rewound {
    /// The first batch index deleted.
    pub first_index: Option<u64>,
    /// The first batch id deleted (ids grow with every append).
    pub first_id: Option<u64>,
}

/// The verifier's store.
#[derive(Clone, Debug)]
pub struct VerifierStore {
    ledger: Ledger,
}

fn i64_of(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v)
        .map_err(|_| StoreError::Corrupt { table: "verifier", reason: format!("{v} exceeds i64") })
}

fn u64_of(v: i64, table: &'static str) -> Result<u64, StoreError> {
    u64::try_from(v)
        .map_err(|_| StoreError::Corrupt { table, reason: format!("negative value {v}") })
}

fn corrupt(table: &'static str, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt { table, reason: reason.into() }
}

impl VerifierStore {
    /// Over a connected ledger (whose migrations include the verifier's tables).
    pub fn new(ledger: Ledger) -> Self {
        Self { ledger }
    }

    /// The ledger.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Record inbox entries read from L1.
    pub async fn put_inbox(&self, entries: &[StoredInboxEntry]) -> Result<(), StoreError> {
        self.ledger.insert_inbox_entries(entries).await
    }

    /// Store an appended batch (replacing it and any later one): the ledger rows, then its
    /// records and senders. `first_seq` is the sequence number of its first record.
    pub async fn put_batch(&self, b: &DerivedBatch, first_seq: u64) -> Result<(), StoreError> {
        let stored = StoredBatch {
            index: b.index,
            inbox_start: b.inbox_start,
            inbox_end: b.inbox_end,
            state: if b.is_final { BatchState::Final } else { BatchState::Posted },
            tx_count: Some(u32::try_from(b.records.len()).unwrap_or(u32::MAX)),
            post_root: Some(b.claimed_root),
            l1_tx: Some(b.l1_tx),
            l1_block: Some(b.l1_block),
        };
        let sender_of = |p: &PreparedRecord| p.sender.map_or(Address::ZERO, |(_, s)| s);
        let txs: Vec<StoredTransaction> = b
            .records
            .iter()
            .enumerate()
            .map(|(i, p)| StoredTransaction {
                seq: first_seq + i as u64,
                batch: b.index,
                record: p.record,
                sender: sender_of(p),
            })
            .collect();
        self.ledger.put_posted_batch(&stored, &txs).await?;
        let records: Vec<u8> = b.records.iter().flat_map(|p| p.record.0).collect();
        let senders: Vec<u8> = b.records.iter().flat_map(|p| sender_of(p).0 .0).collect();
        sqlx::query(
            "INSERT INTO verifier_batches (idx, batch_id, poster, tx_root, l1_timestamp, records, senders)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (idx) DO UPDATE SET batch_id = $2, poster = $3, tx_root = $4,
                 l1_timestamp = $5, records = $6, senders = $7",
        )
        .bind(i64_of(b.index)?)
        .bind(i64_of(b.id)?)
        .bind(b.poster.as_slice())
        .bind(b.tx_root.as_slice())
        .bind(i64_of(b.l1_timestamp)?)
        .bind(records)
        .bind(senders)
        .execute(self.ledger.pool())
        .await?;
        Ok(())
    }

    /// Delete batches from `index` on (removed on L1).
    pub async fn remove_batches_from(&self, index: u64) -> Result<u64, StoreError> {
        self.ledger.remove_batches_from(index).await
    }

    /// Mark batches up to and including `index` final.
    pub async fn mark_final_through(&self, index: u64) -> Result<(), StoreError> {
        self.ledger.mark_final_below(index.saturating_add(1)).await
    }

    /// Every L1 block up to and including `read.number` of the deployment of `rollup` has been
    /// read and stored; `read` also records that block's hash (in the same transaction, so a
    /// reorg of anything read is always found from the newest recorded block). Keeps the newest
    /// [`READ_BLOCKS_KEPT`] records.
    pub async fn set_progress(&self, read: ReadBlock, rollup: Address) -> Result<(), StoreError> {
        let number = i64_of(read.number)?;
        let mut db = self.ledger.pool().begin().await?;
        sqlx::query(
            "INSERT INTO verifier_progress (id, l1_block, rollup) VALUES (1, $1, $2)
             ON CONFLICT (id) DO UPDATE SET l1_block = $1, rollup = $2",
        )
        .bind(number)
        .bind(rollup.as_slice())
        .execute(&mut *db)
        .await?;
        sqlx::query(
            "INSERT INTO verifier_read_blocks (number, hash, irreversible) VALUES ($1, $2, $3)
             ON CONFLICT (number) DO UPDATE SET hash = $2,
                 irreversible = verifier_read_blocks.irreversible OR $3",
        )
        .bind(number)
        .bind(read.hash.as_slice())
        .bind(read.irreversible)
        .execute(&mut *db)
        .await?;
        sqlx::query(
            "DELETE FROM verifier_read_blocks WHERE number < (
                 SELECT min(number) FROM (
                     SELECT number FROM verifier_read_blocks ORDER BY number DESC LIMIT $1) newest)",
        )
        .bind(READ_BLOCKS_KEPT)
        .execute(&mut *db)
        .await?;
        db.commit().await?;
        Ok(())
    }

    /// The newest `limit` recorded blocks read up to, newest first.
    pub async fn read_blocks(&self, limit: i64) -> Result<Vec<ReadBlock>, StoreError> {
        const T: &str = "verifier_read_blocks";
        sqlx::query(
            "SELECT number, hash, irreversible FROM verifier_read_blocks
             ORDER BY number DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.ledger.pool())
        .await?
        .iter()
        .map(|r| {
            let hash: &[u8] = r.try_get("hash")?;
            Ok(ReadBlock {
                number: u64_of(r.try_get("number")?, T)?,
                hash: B256::try_from(hash).map_err(|_| corrupt(T, "hash is not 32 bytes"))?,
                irreversible: r.try_get("irreversible")?,
            })
        })
        .collect()
    }

    /// Forget everything derived from L1 blocks after `block` (`None`: everything), in one
    /// transaction: inbox entries, the batches appended there and every later one with their
    /// transactions and verdicts, the recorded blocks, and the progress (back to `block`). L1
    /// reorganized those blocks away; the follower reads from `block + 1` again. Returns the
    /// first batch index deleted and the first batch id deleted, if any.
    pub async fn rewind_after(&self, block: Option<u64>) -> Result<Rewound, StoreError> {
        // -1: every stored block is after it.
        let after = block.map_or(Ok(-1), i64_of)?;
        let mut db = self.ledger.pool().begin().await?;
        let first_index: Option<i64> = sqlx::query_scalar(
            "SELECT min(idx) FROM batches WHERE l1_block IS NULL OR l1_block > $1",
        )
        .bind(after)
        .fetch_one(&mut *db)
        .await?;
        let mut first_id = None;
        if let Some(first) = first_index {
            first_id = sqlx::query_scalar::<_, Option<i64>>(
                "SELECT min(batch_id) FROM verifier_batches WHERE idx >= $1",
            )
            .bind(first)
            .fetch_one(&mut *db)
            .await?;
            sqlx::query("DELETE FROM transactions WHERE batch_idx >= $1")
                .bind(first)
                .execute(&mut *db)
                .await?;
            sqlx::query("DELETE FROM batches WHERE idx >= $1")
                .bind(first)
                .execute(&mut *db)
                .await?;
        }
        if let Some(id) = first_id {
            sqlx::query("DELETE FROM verifier_verdicts WHERE batch_id >= $1")
                .bind(id)
                .execute(&mut *db)
                .await?;
        }
        sqlx::query("DELETE FROM inbox_entries WHERE l1_block > $1")
            .bind(after)
            .execute(&mut *db)
            .await?;
        sqlx::query("DELETE FROM verifier_read_blocks WHERE number > $1")
            .bind(after)
            .execute(&mut *db)
            .await?;
        if block.is_some() {
            sqlx::query("UPDATE verifier_progress SET l1_block = $1 WHERE l1_block > $1")
                .bind(after)
                .execute(&mut *db)
                .await?;
        } else {
            sqlx::query("DELETE FROM verifier_progress").execute(&mut *db).await?;
        }
        db.commit().await?;
        Ok(Rewound {
            first_index: first_index.map(|i| u64_of(i, "batches")).transpose()?,
            first_id: first_id.map(|i| u64_of(i, "verifier_batches")).transpose()?,
        })
    }

    /// Store verdicts (a batch re-executed again after a restart keeps one row).
    pub async fn put_verdicts(&self, reports: &[VerdictReport]) -> Result<(), StoreError> {
        for r in reports {
            sqlx::query(
                "INSERT INTO verifier_verdicts (batch_id, batch_idx, claimed_root, computed_root, agrees)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (batch_id) DO UPDATE SET computed_root = $4, agrees = $5",
            )
            .bind(i64_of(r.id)?)
            .bind(i64_of(r.index)?)
            .bind(r.claimed_root.as_slice())
            .bind(r.computed_root.as_slice())
            .bind(r.agrees())
            .execute(self.ledger.pool())
            .await?;
        }
        Ok(())
    }

    /// Everything needed to rebuild the chain. Records are prepared from their stored senders;
    /// only records stored without one (invalid, a no-op step) are decoded again.
    pub async fn load(&self, domain: &Domain) -> Result<Loaded, StoreError> {
        let pool = self.ledger.pool();
        let progress = sqlx::query("SELECT l1_block, rollup FROM verifier_progress WHERE id = 1")
            .fetch_optional(pool)
            .await?;
        let (progress, rollup) = match progress {
            Some(r) => {
                let rollup: &[u8] = r.try_get("rollup")?;
                let rollup = Address::try_from(rollup)
                    .map_err(|_| corrupt("verifier_progress", "rollup is not 20 bytes"))?;
                (Some(u64_of(r.try_get("l1_block")?, "verifier_progress")?), Some(rollup))
            }
            None => (None, None),
        };
        let inbox = self.ledger.inbox_entries_from(0).await?;
        let headers = self.ledger.batches(0, u32::MAX).await?;
        let rows = sqlx::query(
            "SELECT idx, batch_id, poster, tx_root, l1_timestamp, records, senders
             FROM verifier_batches ORDER BY idx",
        )
        .fetch_all(pool)
        .await?;
        let mut batches = Vec::with_capacity(rows.len());
        for (h, r) in headers.iter().zip(&rows) {
            const T: &str = "verifier_batches";
            let idx = u64_of(r.try_get("idx")?, T)?;
            // A ledger batch without its row here was cut short by a crash; the range is read
            // again from the progress block, which is before it.
            if idx != h.index || h.index != batches.len() as u64 {
                break;
            }
            let records: &[u8] = r.try_get("records")?;
            let senders: &[u8] = r.try_get("senders")?;
            if records.len() % RECORD_LEN != 0 || senders.len() / 20 != records.len() / RECORD_LEN {
                return Err(corrupt(T, format!("batch {idx}: records and senders disagree")));
            }
            let prepared = records
                .chunks_exact(RECORD_LEN)
                .zip(senders.chunks_exact(20))
                .map(|(rec, sender)| {
                    let record = Record::from_slice(rec).map_err(|e| corrupt(T, e.to_string()))?;
                    let sender = Address::from_slice(sender);
                    Ok(match record.decode() {
                        Ok((tx, _)) if sender != Address::ZERO => {
                            PreparedRecord { record, sender: Ok((tx, sender)) }
                        }
                        _ => domain.prepare(record),
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            let b32 = |name: &str| -> Result<B256, StoreError> {
                let v: &[u8] = r.try_get(name)?;
                B256::try_from(v).map_err(|_| corrupt(T, format!("{name} is not 32 bytes")))
            };
            let poster: &[u8] = r.try_get("poster")?;
            batches.push(DerivedBatch {
                index: idx,
                id: u64_of(r.try_get("batch_id")?, T)?,
                poster: Address::try_from(poster)
                    .map_err(|_| corrupt(T, "poster is not 20 bytes"))?,
                tx_root: b32("tx_root")?,
                inbox_start: h.inbox_start,
                inbox_end: h.inbox_end,
                claimed_root: h.post_root.ok_or_else(|| corrupt("batches", "no post root"))?,
                l1_tx: h.l1_tx.unwrap_or_default(),
                l1_block: h.l1_block.unwrap_or_default(),
                l1_timestamp: u64_of(r.try_get("l1_timestamp")?, T)?,
                is_final: h.state == BatchState::Final,
                records: prepared,
            });
        }
        let suspects: Vec<i64> =
            sqlx::query_scalar("SELECT batch_id FROM verifier_verdicts WHERE NOT agrees")
                .fetch_all(pool)
                .await?;
        Ok(Loaded {
            progress,
            rollup,
            inbox,
            batches,
            suspects: suspects
                .into_iter()
                .map(|s| u64_of(s, "verifier_verdicts"))
                .collect::<Result<_, _>>()?,
        })
    }

    /// Take this database for this process: a session-level advisory lock held on a connection
    /// of its own for as long as the returned connection lives. `None` if another verifier holds
    /// it — two verifiers on one database would write the same rows and, with one key, bond
    /// twice and race for nonces.
    pub async fn lock_exclusive(&self) -> Result<Option<sqlx::PgConnection>, StoreError> {
        let mut conn = self.ledger.pool().acquire().await?.detach();
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(VERIFIER_LOCK)
            .fetch_one(&mut conn)
            .await?;
        Ok(locked.then_some(conn))
    }

    /// The number of batch ids found wrong so far (ever).
    pub async fn mismatch_count(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM verifier_verdicts WHERE NOT agrees")
            .fetch_one(self.ledger.pool())
            .await?;
        u64_of(n, "verifier_verdicts")
    }
}
