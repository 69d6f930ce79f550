-- A sign-in with the identity provider between the redirect and the callback: the PKCE verifier
-- and nonce it was started with, keyed by the hash of its `state`. Any replica may take the
-- callback, so this lives in the database; a row is taken once (deleted as it is read).
CREATE TABLE sign_in_attempts (
    state_hash    TEXT PRIMARY KEY,
    pkce_verifier TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    next          TEXT NOT NULL,
    expires_at    TEXT NOT NULL
);
CREATE INDEX sign_in_attempts_expiry ON sign_in_attempts (expires_at);
