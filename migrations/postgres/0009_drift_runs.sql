-- Drift checks are runs of their own kind ('drift': a plan of the branch head that never applies).
ALTER TABLE runs DROP CONSTRAINT runs_kind_check;
ALTER TABLE runs ADD CONSTRAINT runs_kind_check CHECK (kind IN ('plan', 'apply', 'drift'));
-- The newest drift check of each environment, for its card and the schedule.
CREATE INDEX runs_kind ON runs (environment, kind, id);
