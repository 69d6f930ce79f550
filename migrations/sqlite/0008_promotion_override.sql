-- An apply that skipped the promotion rule (environments.<name>.promote_from): the admin's
-- reason, shown on the run. NULL for every run that followed the rule.
ALTER TABLE runs ADD COLUMN promotion_override TEXT;
