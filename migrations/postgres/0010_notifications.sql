-- Notifications. An event is written in the same transaction as the change it reports (with
-- its audit row); a change made in AWS after its audit row (a secret write, a forced unlock)
-- holds its event until the change is confirmed. The sender routes each ready event to the
-- destinations that hear it, one delivery each, and sends deliveries under a lease, so several
-- processes share the work without sending one delivery twice at the same time.
CREATE TABLE notification_events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uid         TEXT NOT NULL UNIQUE,
    event       TEXT NOT NULL,
    environment TEXT,
    run_id      BIGINT,
    actor       TEXT NOT NULL,
    details     TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('held', 'ready', 'routed', 'void'))
);
CREATE INDEX notification_events_waiting ON notification_events (state, id) WHERE state IN ('held', 'ready');
CREATE INDEX notification_events_created ON notification_events (created_at);

CREATE TABLE notification_deliveries (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uid              TEXT NOT NULL UNIQUE,
    event_id         BIGINT NOT NULL REFERENCES notification_events (id) ON DELETE CASCADE,
    destination      TEXT NOT NULL,
    event            TEXT NOT NULL,
    environment      TEXT,
    body             TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         BIGINT NOT NULL DEFAULT 0,
    last_error       TEXT,
    last_status      BIGINT,
    created_at       TIMESTAMPTZ NOT NULL,
    delivered_at     TIMESTAMPTZ,
    next_attempt_at  TIMESTAMPTZ NOT NULL,
    worker_id        TEXT,
    lease_expires_at TIMESTAMPTZ,
    UNIQUE (event_id, destination)
);
CREATE INDEX notification_deliveries_due ON notification_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX notification_deliveries_destination ON notification_deliveries (destination, id);
CREATE INDEX notification_deliveries_created ON notification_deliveries (created_at);
