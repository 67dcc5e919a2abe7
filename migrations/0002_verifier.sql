-- A verifier's own bookkeeping. It fills the ledger tables of 0001 with what it derives from L1
-- alone (inbox entries, the current batches with the roots L1 claims, their transactions in
-- order); these tables hold the rest. Unused in a sequencer's database.

-- How far the verifier has read L1: every inbox entry and Rollup event up to and including
-- l1_block is stored. One row. rollup names the deployment it was read from, so the database is
-- never reused for another one.
CREATE TABLE verifier_progress (
    id        SMALLINT PRIMARY KEY CHECK (id = 1),
    l1_block  BIGINT   NOT NULL CHECK (l1_block >= 0),
    rollup    BYTEA    NOT NULL CHECK (length(rollup) = 20)
);

-- What L1 says about each current batch beyond the ledger's columns, and its records exactly as
-- posted: the transactions table stores a record repeated on L1 only once, while replay needs
-- every step. senders holds 20 bytes per record, the recovered sender, or zeros for a record that
-- does not decode or recover (a no-op step), so a restart replays without recovering signatures.
-- Deleted with its batch.
CREATE TABLE verifier_batches (
    idx           BIGINT PRIMARY KEY REFERENCES batches (idx) ON DELETE CASCADE,
    batch_id      BIGINT NOT NULL CHECK (batch_id >= 0),
    poster        BYTEA  NOT NULL CHECK (length(poster) = 20),
    tx_root       BYTEA  NOT NULL CHECK (length(tx_root) = 32),
    l1_timestamp  BIGINT NOT NULL CHECK (l1_timestamp >= 0),
    records       BYTEA  NOT NULL CHECK (length(records) % 146 = 0),
    senders       BYTEA  NOT NULL CHECK (length(senders) * 146 = length(records) * 20)
);

-- The verdict on each batch the verifier re-executed, by the batch's unique id (indexes are
-- reused after a removal, ids never are), so a mismatch stays on record after its batch is gone.
CREATE TABLE verifier_verdicts (
    batch_id       BIGINT      PRIMARY KEY CHECK (batch_id >= 0),
    batch_idx      BIGINT      NOT NULL CHECK (batch_idx >= 0),
    claimed_root   BYTEA       NOT NULL CHECK (length(claimed_root) = 32),
    computed_root  BYTEA       NOT NULL CHECK (length(computed_root) = 32),
    agrees         BOOLEAN     NOT NULL,
    decided_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
