-- Which run of ours wrote which version of an environment's Terraform state: recorded when an
-- apply finishes and the state object's current version changed during it. Versions written
-- elsewhere (a laptop, another tool) have no row.
CREATE TABLE state_versions (
    environment TEXT NOT NULL,
    version_id  TEXT NOT NULL,
    run_id      BIGINT NOT NULL REFERENCES runs (id),
    recorded_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (environment, version_id)
);
