-- One writer at a time per secret, across every replica: Secrets Manager has no conditional
-- write, so "the version you read is still current" is checked and written under this lease.
CREATE TABLE secret_write_locks (
    environment TEXT NOT NULL,
    name        TEXT NOT NULL,
    holder      TEXT NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (environment, name)
);
