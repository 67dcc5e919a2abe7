-- The L1 blocks a verifier has read up to, with their hashes, so that a reorg deeper than its
-- `confirmations` is found while it runs: when L1's block at a recorded height has another hash,
-- everything derived from later blocks is deleted and read again. One row per range read (its
-- last block), pruned to the newest ones. `irreversible` marks a range that removed or finalized
-- batches: a rewind cannot undo those in place, so a rewind past one re-derives from the
-- deployment block. Written in the same transaction as verifier_progress.
CREATE TABLE verifier_read_blocks (
    number        BIGINT  PRIMARY KEY CHECK (number >= 0),
    hash          BYTEA   NOT NULL CHECK (length(hash) = 32),
    irreversible  BOOLEAN NOT NULL DEFAULT false
);
