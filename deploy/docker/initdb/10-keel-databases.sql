-- Run once by the postgres image on an empty volume (/docker-entrypoint-initdb.d).
-- POSTGRES_DB creates keel_sequencer; the verifier needs a database of its own because it fills
-- the same ledger tables from L1.
CREATE DATABASE keel_verifier OWNER keel;
