-- Terraform runs, their approvals, logs and artifacts.
CREATE TABLE runs (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    environment      TEXT NOT NULL,
    kind             TEXT NOT NULL CHECK (kind IN ('plan', 'apply')),
    status           TEXT NOT NULL,
    requested_by     TEXT NOT NULL,
    message          TEXT NOT NULL DEFAULT '',
    infra_commit     TEXT,
    plan_add         BIGINT,
    plan_change      BIGINT,
    plan_destroy     BIGINT,
    plan_summary     TEXT,               -- JSON: resource changes with masked attribute diffs
    error            TEXT,
    attempts         BIGINT NOT NULL DEFAULT 0,
    worker_id        TEXT,               -- who holds the run while terraform runs
    lease_expires_at TIMESTAMPTZ,        -- a dead worker's run is found when this passes
    cancel_requested TEXT,               -- 'graceful' or 'force' while a cancel is pending
    created_at       TIMESTAMPTZ NOT NULL,
    started_at       TIMESTAMPTZ,
    planned_at       TIMESTAMPTZ,
    apply_started_at TIMESTAMPTZ,
    finished_at      TIMESTAMPTZ,
    log_bytes        BIGINT NOT NULL DEFAULT 0,
    canceled_by      TEXT
);
CREATE INDEX runs_environment ON runs (environment, id);
CREATE INDEX runs_status ON runs (status, id);
-- One active run per environment, enforced by the database itself.
CREATE UNIQUE INDEX runs_one_active_per_environment ON runs (environment)
    WHERE status IN ('planning', 'planned', 'applying');

CREATE TABLE run_approvals (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id    BIGINT NOT NULL REFERENCES runs (id),
    user_name TEXT NOT NULL,
    decision  TEXT NOT NULL CHECK (decision IN ('approve', 'reject')),
    comment   TEXT NOT NULL DEFAULT '',
    at        TIMESTAMPTZ NOT NULL,
    UNIQUE (run_id, user_name)
);

-- The log, in chunks of whole lines; byte_offset is where the chunk starts in the whole log.
CREATE TABLE run_log_chunks (
    run_id      BIGINT NOT NULL REFERENCES runs (id),
    byte_offset BIGINT NOT NULL,
    data        BYTEA NOT NULL,
    PRIMARY KEY (run_id, byte_offset)
);

CREATE TABLE run_artifacts (
    run_id  BIGINT NOT NULL REFERENCES runs (id),
    name    TEXT NOT NULL,
    content BYTEA NOT NULL,
    PRIMARY KEY (run_id, name)
);
