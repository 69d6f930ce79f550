-- Taking access away: a disabled user's sessions and tokens stop working and they cannot sign
-- in. And binding a single sign-on user to the provider's issuer and subject once seen, so that
-- another account at the provider that claims the same e-mail address is not them.
ALTER TABLE users ADD COLUMN disabled_at TIMESTAMPTZ;
ALTER TABLE users ADD COLUMN disabled_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN oidc_issuer TEXT;
ALTER TABLE users ADD COLUMN oidc_subject TEXT;
CREATE UNIQUE INDEX users_oidc_identity ON users (oidc_issuer, oidc_subject);
CREATE INDEX sessions_user ON sessions (user_id);
