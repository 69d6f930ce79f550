//! The secret pages without JavaScript: plain form posts that edit, confirm, roll back and
//! reveal, answered by redirects (or, for a reveal, a page nobody caches), and the 404 of a
//! secret or environment that does not exist.

use crate::common;
use super::secrets::{audit, detail, reveal, seeded, start, NOVA, REDIS};
use app::model::Role;
use common::{Backend, TestApp};

#[tokio::test]
async fn the_page_of_a_secret_or_environment_that_does_not_exist_is_a_404_that_says_so() {
    let (_aws, app) = start(Backend::Sqlite).await;
    let token = app.token("vikram", Role::Viewer).await;
    for (path, says) in [
        ("/environments/staging/secrets/zelly/nope", "no secret \"zelly/nope\""),
        ("/environments/qa/secrets/zelly/nova", "There is no environment called \"qa\""),
    ] {
        let res = app.get(path, Some(&token)).await;
        assert_eq!(res.status(), 404, "{path}");
        let html = res.text().await.unwrap();
        assert!(html.contains("Secret not found"), "{path}");
        assert!(html.contains(&says.replace('"', "&quot;")) || html.contains(says), "{path}: {html}");
    }
    let nobody_viewed = audit(&app).await.iter().all(|e| e.action != "secret.view");
    assert!(nobody_viewed, "nothing was shown, so nothing is audited as viewed");
    app.stop().await;
}

pub(super) async fn form(app: &TestApp, token: &str, path: &str, fields: &[(&str, &str)]) -> String {
    let res = app.client.post(app.url(path)).bearer_auth(token).form(fields).send().await.unwrap();
    assert_eq!(res.status(), 303, "{path} redirects back to the page");
    res.headers()["location"].to_str().unwrap().to_string()
}

pub(super) async fn page(app: &TestApp, token: &str, path: &str) -> String {
    let res = app.get(path, Some(token)).await;
    assert_eq!(res.status(), 200, "{path}");
    res.text().await.unwrap()
}

#[tokio::test]
async fn without_javascript_a_staging_edit_saves_and_offers_to_redeploy_the_consumers() {
    let (_aws, app) = start(Backend::Sqlite).await;
    let token = app.token("olga", Role::Operator).await;
    let html = page(&app, &token, "/environments/staging/secrets/zelly/redis/auth").await;
    assert!(html.contains("REDIS_PASSWORD") && html.contains("••••••••") && html.contains("Save as new version"));
    assert!(!html.contains("seeded-"), "masked values only");
    let version = detail(&app, &token, "staging", REDIS).await.version_id;
    let to = form(&app, &token, "/environments/staging/secret-actions/edit", &[
        ("name", REDIS), ("version_id", &version), ("set.REDIS_HOST", ""), ("set.REDIS_PORT", "6400"),
        ("new_key.0", "REDIS_TLS"), ("new_value.0", "required"), ("new_key.1", ""), ("new_value.1", ""),
    ]).await;
    assert!(to.starts_with("/environments/staging/secrets/zelly/redis/auth?saved="), "{to}");
    let html = page(&app, &token, &to).await;
    assert!(html.contains("Saved as version") && html.contains("Changed: REDIS_PORT, REDIS_TLS."));
    assert!(html.contains("Redeploy all consumers") && html.contains(r#"data-redeploy="fastify-nova,events-consumer,internal_tools""#));
    assert!(!html.contains("6400") && !html.contains("required<"), "new values are not echoed");
    assert_eq!(reveal(&app, &token, "staging", REDIS, "REDIS_HOST").await, seeded("staging", REDIS, "REDIS_HOST"), "an empty field keeps the key");

    let to = form(&app, &token, "/environments/staging/redeploy", &[("return_to", REDIS), ("service", "events-consumer"), ("reason", "rotation")]).await;
    assert_eq!(to, "/environments/staging/secrets/zelly/redis/auth?redeployed=events-consumer");
    let html = page(&app, &token, &to).await;
    assert!(html.contains("Rollout") && html.contains(r#"data-rollout="events-consumer""#), "the rollout is shown");

    let stale = form(&app, &token, "/environments/staging/secret-actions/edit", &[("name", REDIS), ("version_id", &version), ("set.REDIS_PORT", "1")]).await;
    assert!(stale.contains("?error=") && stale.contains("REDIS_PORT"), "a stale form names the changed keys: {stale}");
    let bad = form(&app, &token, "/environments/staging/secret-actions/edit", &[("name", REDIS), ("version_id", "x"), ("new_key.0", "bad key"), ("new_value.0", "v")]).await;
    assert!(bad.contains("?error=") && bad.contains("not+valid"), "{bad}");
    app.stop().await;
}

#[tokio::test]
async fn a_production_write_from_the_browser_waits_for_a_confirmation_that_lists_key_names() {
    let (_aws, app) = start(Backend::Sqlite).await;
    let anita = app.token("anita", Role::Approver).await;
    let bruno = app.token("bruno", Role::Approver).await;
    let version = detail(&app, &anita, "production", NOVA).await.version_id;
    let to = form(&app, &anita, "/environments/production/secret-actions/edit", &[
        ("name", NOVA), ("version_id", &version), ("set.JWT_SECRET", "prod-jwt-typed-in"), ("remove", "SLACK_WEBHOOK_URL"),
    ]).await;
    let (path, id) = to.split_once("?confirm=").expect("a confirmation step");
    assert_eq!(path, "/environments/production/secrets/zelly/fastify-nova/env");
    let html = page(&app, &anita, &to).await;
    assert!(html.contains("Confirm: write to Production") && html.contains("JWT_SECRET") && html.contains("SLACK_WEBHOOK_URL"));
    assert!(!html.contains("prod-jwt-typed-in"), "the confirmation names keys, never values");
    assert_eq!(detail(&app, &anita, "production", NOVA).await.version_id, version, "nothing written before the confirmation");

    let other = form(&app, &bruno, "/environments/production/secret-actions/confirm", &[("name", NOVA), ("pending", id)]).await;
    assert!(other.contains("?error="), "only its author confirms a change: {other}");
    let done = form(&app, &anita, "/environments/production/secret-actions/confirm", &[("name", NOVA), ("pending", id)]).await;
    assert!(done.contains("?saved="), "{done}");
    assert_eq!(reveal(&app, &anita, "production", NOVA, "JWT_SECRET").await, "prod-jwt-typed-in");
    let again = form(&app, &anita, "/environments/production/secret-actions/confirm", &[("name", NOVA), ("pending", id)]).await;
    assert!(again.contains("?error=") && again.contains("already+used"), "a confirmation is used once: {again}");

    let rollback = form(&app, &anita, "/environments/production/secret-actions/rollback", &[("name", NOVA), ("version_id", "stale"), ("to", &version)]).await;
    assert!(rollback.contains("?error="), "a confirmation is only offered for the current version: {rollback}");
    app.stop().await;
}

#[tokio::test]
async fn the_reveal_form_answers_with_the_value_on_a_page_nobody_caches() {
    let (_aws, app) = start(Backend::Sqlite).await;
    let operator = app.token("olga", Role::Operator).await;
    let res = app.client.post(app.url("/environments/staging/secret-actions/reveal")).bearer_auth(&operator)
        .form(&[("name", REDIS), ("key", "REDIS_PASSWORD")]).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let html = res.text().await.unwrap();
    assert!(html.contains(&seeded("staging", REDIS, "REDIS_PASSWORD")) && html.contains("recorded in the audit log"));
    let viewer = app.token("vikram", Role::Viewer).await;
    let to = form(&app, &viewer, "/environments/staging/secret-actions/reveal", &[("name", REDIS), ("key", "REDIS_PASSWORD")]).await;
    assert!(to.contains("?error=") && to.contains("operator"), "{to}");
    let html = page(&app, &viewer, "/environments/staging/secrets/zelly/redis/auth").await;
    assert!(!html.contains("data-reveal=") && html.contains("needs the operator role"), "no reveal buttons for a viewer");
    app.stop().await;
}
