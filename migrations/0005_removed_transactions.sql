-- Transactions the sequencer acknowledged that L1's history left out (another party's batches
-- took their place: the escape hatch's fallback proposer, or a batch found at one of the
-- sequencer's indexes) and that no longer apply on top of that history. When the sequencer
-- realigns its ledger with L1, every displaced transaction that still applies is sequenced
-- again (a new seq, a later batch); the others are kept here, with why, so the API can tell
-- their senders instead of forgetting them. A hash leaves this table when the same transaction
-- is accepted again.
CREATE TABLE removed_transactions (
    hash          BYTEA       PRIMARY KEY CHECK (length(hash) = 32),
    record        BYTEA       NOT NULL CHECK (length(record) = 146),
    sender        BYTEA       NOT NULL CHECK (length(sender) = 20),
    previous_seq  BIGINT      NOT NULL CHECK (previous_seq >= 0),
    code          TEXT        NOT NULL,
    reason        TEXT        NOT NULL,
    removed_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
