//! Storage rules that hold on both databases: users, tokens, the audit log.

use crate::common;

use app::model::Role;
use zelly_control::auth::tokens::{self, TokenError};
use zelly_control::db::Db;

async fn run_sql(db: &Db, sql: &str) -> Result<u64, zelly_control::db::DbError> {
    db.execute_sql(sql, &[]).await
}

on_both_backends! {
    async fn tokens_are_stored_only_as_hashes(app) {
        let (token, record) = tokens::create(&app.db, "meera", Role::Operator, "deploy script", "test").await.unwrap();
        assert!(token.starts_with(&record.prefix));
        assert_eq!(record.label, "deploy script");
        let stored = app.db.query_texts("SELECT token_hash FROM api_tokens").await.unwrap();
        assert_eq!(stored, [zelly_control::auth::hash_secret(&token)]);
        let events = app.db.list_audit(10, None).await.unwrap();
        assert!(events.iter().all(|e| !e.details.contains(&token)), "the token is never audited");
    }

    async fn a_token_cannot_outrank_its_user_and_nothing_is_written(app) {
        app.db.ensure_user("vikram", "", Role::Viewer, "test").await.unwrap();
        let err = tokens::create(&app.db, "vikram", Role::Admin, "", "test").await.unwrap_err();
        assert!(matches!(err, TokenError::RoleAboveUser { .. }), "{err}");
        assert!(app.db.list_tokens(Some("vikram")).await.unwrap().is_empty());
        let err = tokens::create(&app.db, "Not A Name", Role::Viewer, "", "test").await.unwrap_err();
        assert!(matches!(err, TokenError::BadUserName(_)));
        assert!(app.db.find_user("Not A Name").await.unwrap().is_none());
    }

    async fn demoting_a_user_demotes_their_tokens(app) {
        let (token, _) = tokens::create(&app.db, "ravi", Role::Approver, "", "test").await.unwrap();
        let hash = zelly_control::auth::hash_secret(&token);
        assert_eq!(app.db.token_identity(&hash).await.unwrap().unwrap().1.role, Role::Approver);
        run_sql(&app.db, "UPDATE users SET role = 'viewer' WHERE name = 'ravi'").await.unwrap();
        assert_eq!(app.db.token_identity(&hash).await.unwrap().unwrap().1.role, Role::Viewer);
    }

    async fn ensure_user_creates_once_and_keeps_the_role(app) {
        let (first, created) = app.db.ensure_user("asha", "Asha Rao", Role::Admin, "test").await.unwrap();
        assert!(created);
        let (again, created) = app.db.ensure_user("asha", "Someone", Role::Viewer, "test").await.unwrap();
        assert!(!created);
        assert_eq!((again.id, again.role, again.display_name), (first.id, Role::Admin, "Asha Rao".to_string()));
        let created_events = app.db.list_audit(10, None).await.unwrap().into_iter().filter(|e| e.action == "user.created").count();
        assert_eq!(created_events, 1);
    }

    async fn revoking_by_prefix_is_audited_and_unknown_prefixes_revoke_nothing(app) {
        let (token, record) = tokens::create(&app.db, "meera", Role::Operator, "", "test").await.unwrap();
        assert!(app.db.revoke_token("zc_unknown", "test").await.unwrap().is_none(), "an unknown prefix revokes nothing");
        let revoked = app.db.revoke_token(&record.prefix, "cli:ops").await.unwrap().expect("revoked");
        assert_eq!(revoked.id, record.id);
        assert!(app.db.token_identity(&zelly_control::auth::hash_secret(&token)).await.unwrap().is_none());
        assert!(app.db.revoke_token(&record.prefix, "cli:ops").await.unwrap().is_none(), "already revoked");
        let newest = &app.db.list_audit(1, None).await.unwrap()[0];
        assert_eq!((newest.action.as_str(), newest.actor.as_str()), ("token.revoked", "cli:ops"));
    }

    async fn the_audit_log_is_append_only_in_the_database(app) {
        tokens::create(&app.db, "meera", Role::Operator, "", "test").await.unwrap();
        assert!(run_sql(&app.db, "UPDATE audit_events SET actor = 'someone else'").await.is_err());
        assert!(run_sql(&app.db, "DELETE FROM audit_events").await.is_err());
        assert_eq!(app.db.list_audit(100, None).await.unwrap().len(), 2);
    }

    async fn audit_pages_newest_first(app) {
        for name in ["a1", "a2", "a3"] {
            app.db.ensure_user(name, "", Role::Viewer, "test").await.unwrap();
        }
        let first = app.db.list_audit(2, None).await.unwrap();
        assert_eq!(first.iter().map(|e| e.target.clone().unwrap()).collect::<Vec<_>>(), ["a3", "a2"]);
        let rest = app.db.list_audit(2, Some(first[1].id)).await.unwrap();
        assert_eq!(rest.iter().map(|e| e.target.clone().unwrap()).collect::<Vec<_>>(), ["a1"]);
    }
}

#[tokio::test]
async fn an_unsupported_database_url_is_a_clear_error() {
    let err = Db::connect("mysql://localhost/zelly", 1).await.unwrap_err();
    assert!(err.to_string().contains("use sqlite://… or postgres://…"), "{err}");
}
