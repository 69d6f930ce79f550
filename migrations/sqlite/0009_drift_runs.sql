-- Drift checks are runs of their own kind ('drift': a plan of the branch head that never
-- applies). SQLite cannot change a CHECK constraint in place, so the table is rebuilt as
-- SQLite's documentation describes; the foreign keys of approvals, logs and artifacts are
-- checked when the migration commits, by which time the rebuilt table holds every id again.
PRAGMA defer_foreign_keys = ON;

CREATE TABLE runs_rebuilt (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    environment        TEXT NOT NULL,
    kind               TEXT NOT NULL CHECK (kind IN ('plan', 'apply', 'drift')),
    status             TEXT NOT NULL,
    requested_by       TEXT NOT NULL,
    message            TEXT NOT NULL DEFAULT '',
    infra_commit       TEXT,
    plan_add           INTEGER,
    plan_change        INTEGER,
    plan_destroy       INTEGER,
    plan_summary       TEXT,
    error              TEXT,
    attempts           INTEGER NOT NULL DEFAULT 0,
    worker_id          TEXT,
    lease_expires_at   TEXT,
    cancel_requested   TEXT,
    created_at         TEXT NOT NULL,
    started_at         TEXT,
    planned_at         TEXT,
    apply_started_at   TEXT,
    finished_at        TEXT,
    log_bytes          INTEGER NOT NULL DEFAULT 0,
    canceled_by        TEXT,
    cost_diff          TEXT,
    source_ref         TEXT,
    commit_subject     TEXT,
    commit_author      TEXT,
    promotion_override TEXT
);
INSERT INTO runs_rebuilt (id, environment, kind, status, requested_by, message, infra_commit, plan_add, plan_change,
    plan_destroy, plan_summary, error, attempts, worker_id, lease_expires_at, cancel_requested, created_at, started_at,
    planned_at, apply_started_at, finished_at, log_bytes, canceled_by, cost_diff, source_ref, commit_subject,
    commit_author, promotion_override)
SELECT id, environment, kind, status, requested_by, message, infra_commit, plan_add, plan_change,
    plan_destroy, plan_summary, error, attempts, worker_id, lease_expires_at, cancel_requested, created_at, started_at,
    planned_at, apply_started_at, finished_at, log_bytes, canceled_by, cost_diff, source_ref, commit_subject,
    commit_author, promotion_override
FROM runs;
DROP TABLE runs;
ALTER TABLE runs_rebuilt RENAME TO runs;

CREATE INDEX runs_environment ON runs (environment, id);
CREATE INDEX runs_status ON runs (status, id);
CREATE UNIQUE INDEX runs_one_active_per_environment ON runs (environment)
    WHERE status IN ('planning', 'planned', 'applying');
-- The newest drift check of each environment, for its card and the schedule.
CREATE INDEX runs_kind ON runs (environment, kind, id);
