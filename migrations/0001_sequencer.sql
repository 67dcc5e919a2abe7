-- Keel's durable log: the L1 inbox entries seen, the L2 batches and the ordered transactions.
-- Everything the hot in-memory state holds can be rebuilt from these three tables.

-- Inbox entries read from L1 (after `confirmations` blocks), by inbox index.
CREATE TABLE inbox_entries (
    idx           BIGINT   PRIMARY KEY CHECK (idx >= 0),
    kind          SMALLINT NOT NULL CHECK (kind IN (1, 2)),
    sender        BYTEA    NOT NULL CHECK (length(sender) = 20),
    recipient     BYTEA    NOT NULL CHECK (length(recipient) = 20),
    token         BYTEA    NOT NULL CHECK (length(token) = 20),
    amount        BYTEA    NOT NULL CHECK (length(amount) = 16), -- uint128, big-endian
    l1_block      BIGINT   NOT NULL,
    l1_timestamp  BIGINT   NOT NULL
);

-- L2 batches. A batch consumes inbox entries [inbox_start, inbox_end) and then holds the
-- transactions whose batch_idx is its idx, in seq order. post_root is set when it closes.
CREATE TABLE batches (
    idx           BIGINT      PRIMARY KEY CHECK (idx >= 0),
    inbox_start   BIGINT      NOT NULL,
    inbox_end     BIGINT      NOT NULL CHECK (inbox_end >= inbox_start),
    state         TEXT        NOT NULL CHECK (state IN ('open', 'closed', 'posted', 'final')),
    tx_count      INTEGER,
    post_root     BYTEA       CHECK (post_root IS NULL OR length(post_root) = 32),
    l1_tx         BYTEA       CHECK (l1_tx IS NULL OR length(l1_tx) = 32),
    l1_block      BIGINT,
    opened_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    closed_at     TIMESTAMPTZ,
    posted_at     TIMESTAMPTZ,
    finalized_at  TIMESTAMPTZ,
    CHECK ((state = 'open') = (post_root IS NULL))
);

-- Acknowledged transactions, in the order the sequencer executed them. Only transactions that
-- applied are here: the sequencer never includes one that would be a no-op.
CREATE TABLE transactions (
    seq           BIGINT      PRIMARY KEY CHECK (seq >= 0),
    hash          BYTEA       NOT NULL UNIQUE CHECK (length(hash) = 32),
    batch_idx     BIGINT      NOT NULL REFERENCES batches (idx),
    record        BYTEA       NOT NULL CHECK (length(record) = 146),
    sender        BYTEA       NOT NULL CHECK (length(sender) = 20),
    accepted_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX transactions_by_batch ON transactions (batch_idx, seq);
