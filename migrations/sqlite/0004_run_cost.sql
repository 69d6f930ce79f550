-- What a plan does to the monthly cost (JSON: before, after, delta, items, unpriced), priced when
-- the plan is made so that the approval view shows the figures the plan was reviewed with.
ALTER TABLE runs ADD COLUMN cost_diff TEXT;
