-- Which service owns this database. A sequencer and a verifier keep different ledgers; pointing
-- one at the other's database would corrupt both, so each claims its role on start.
CREATE TABLE ledger_role (
    singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    role      TEXT    NOT NULL CHECK (role IN ('sequencer', 'verifier'))
);
