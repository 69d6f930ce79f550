-- Where a run's code comes from: the ref its requester asked for, resolved once to a commit
-- (infra_commit), and that commit's subject and author for the run page.
ALTER TABLE runs ADD COLUMN source_ref TEXT;
ALTER TABLE runs ADD COLUMN commit_subject TEXT;
ALTER TABLE runs ADD COLUMN commit_author TEXT;
