use app::model::audit::AuditAction;
use super::audit::{insert_audit, NewAuditEvent};
use super::{on_backend, BeginWrite, Db, DbResult};
use app::model::{Identity, Role};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// An API token as listed: never the token itself, only the prefix that identifies it.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct TokenRecord {
    pub id: i64,
    pub user_name: String,
    pub prefix: String,
    pub label: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

pub struct NewToken<'a> {
    pub user_id: i64,
    pub user_name: &'a str,
    pub token_hash: &'a str,
    pub prefix: &'a str,
    pub label: &'a str,
    pub role: Role,
}

#[derive(sqlx::FromRow)]
struct TokenOwner {
    token_id: i64,
    user_id: i64,
    name: String,
    display_name: String,
    #[sqlx(try_from = "String")]
    token_role: Role,
    #[sqlx(try_from = "String")]
    user_role: Role,
}

const TOKEN_COLUMNS: &str = "t.id, u.name AS user_name, t.prefix, t.label, t.role, t.created_at, \
                             t.last_used_at, t.revoked_at";

impl Db {
    pub async fn insert_token(&self, token: &NewToken<'_>, actor: &str) -> DbResult<TokenRecord> {
        let select = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1");
        let event = NewAuditEvent {
            actor: actor.to_string(),
            action: AuditAction::TokenCreated,
            environment: None,
            target: Some(token.user_name.to_string()),
            details: serde_json::json!({ "prefix": token.prefix, "role": token.role, "label": token.label }),
        };
        let record = on_backend!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO api_tokens (user_id, token_hash, prefix, label, role, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(token.user_id)
            .bind(token.token_hash)
            .bind(token.prefix)
            .bind(token.label)
            .bind(token.role.as_str())
            .bind(Utc::now())
            .execute(&mut *tx)
            .await?;
            insert_audit!(&mut *tx, &event)?;
            let record = sqlx::query_as::<_, TokenRecord>(&select).bind(token.token_hash).fetch_one(&mut *tx).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(record)
        })?;
        Ok(record)
    }

    /// The identity behind a live (not revoked) token, with its id. The effective role is the
    /// lower of the token's and the user's, so demoting a user demotes their tokens.
    pub async fn token_identity(&self, token_hash: &str) -> DbResult<Option<(i64, Identity)>> {
        let owner = on_backend!(self, pool => {
            sqlx::query_as::<_, TokenOwner>(
                "SELECT t.id AS token_id, u.id AS user_id, u.name, u.display_name, \
                        t.role AS token_role, u.role AS user_role \
                 FROM api_tokens t JOIN users u ON u.id = t.user_id \
                 WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND u.disabled_at IS NULL",
            )
            .bind(token_hash)
            .fetch_optional(pool)
            .await
        })?;
        Ok(owner.map(|o| {
            let identity = Identity {
                user_id: o.user_id,
                display_name: if o.display_name.is_empty() { o.name.clone() } else { o.display_name },
                name: o.name,
                role: o.token_role.min(o.user_role),
            };
            (o.token_id, identity)
        }))
    }

    /// Notes that a token was used; writes at most once a minute per token.
    pub async fn touch_token(&self, token_id: i64) -> DbResult<()> {
        self.touch_throttled("api_tokens", "last_used_at", token_id).await
    }

    pub async fn list_tokens(&self, user: Option<&str>) -> DbResult<Vec<TokenRecord>> {
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens t JOIN users u ON u.id = t.user_id \
             WHERE ($1 IS NULL OR u.name = $1) ORDER BY t.id"
        );
        let tokens = on_backend!(self, pool => {
            sqlx::query_as::<_, TokenRecord>(&sql).bind(user).fetch_all(pool).await
        })?;
        Ok(tokens)
    }

    /// Revokes the token with this id or prefix. `None` when there is no such live token.
    pub async fn revoke_token(&self, id_or_prefix: &str, actor: &str) -> DbResult<Option<TokenRecord>> {
        let id: i64 = id_or_prefix.parse().unwrap_or(-1);
        let select = format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens t JOIN users u ON u.id = t.user_id \
             WHERE (t.id = $1 OR t.prefix = $2) AND t.revoked_at IS NULL"
        );
        let revoked = on_backend!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let found = sqlx::query_as::<_, TokenRecord>(&select)
                .bind(id)
                .bind(id_or_prefix)
                .fetch_all(&mut *tx)
                .await?;
            // A prefix shared by two live tokens is ambiguous: revoke nothing rather than guess.
            let [token] = found.as_slice() else {
                return Ok(None);
            };
            sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2")
                .bind(Utc::now())
                .bind(token.id)
                .execute(&mut *tx)
                .await?;
            let event = NewAuditEvent {
                actor: actor.to_string(),
                action: AuditAction::TokenRevoked,
                environment: None,
                target: Some(token.user_name.clone()),
                details: serde_json::json!({ "prefix": token.prefix, "id": token.id }),
            };
            insert_audit!(&mut *tx, &event)?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(Some(token.clone()))
        })?;
        Ok(revoked)
    }
}
