//! Secrets against the AWS emulator: list, detail, reveal, edit, rotate, roll back, parity,
//! redeploy, the role rules, concurrent edits, bad input, and audit rows (on
//! both databases where the database takes part).

use crate::common;

use app::model::secret::{Parity, SecretDetail, SecretList};
use app::model::Role;
use common::{use_emulator, Backend, Emulator, TestApp};
use super::secret_pages::page;
use serde_json::{json, Value};

pub(super) const REDIS: &str = "zelly/redis/auth";
pub(super) const NOVA: &str = "zelly/fastify-nova/env";

/// The value the seed gave `key` of `name` in `env` (see tests/aws/seed.py).
pub(super) fn seeded(env: &str, name: &str, key: &str) -> String {
    format!("seeded-{env}-{}-{}", name.replace('/', "-"), key.to_lowercase())
}

pub(super) fn api(env: &str, name: &str, tail: &str) -> String {
    format!("/api/v1/environments/{env}/secrets/{}{tail}", name.replace('/', "%2F"))
}

pub(super) async fn start(backend: Backend) -> (Emulator, TestApp) {
    let aws = Emulator::start();
    let app = TestApp::start_with(backend, |c| use_emulator(c, &aws)).await;
    (aws, app)
}

pub(super) async fn send(app: &TestApp, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = app.client.request(method.parse().unwrap(), app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

pub(super) async fn detail(app: &TestApp, token: &str, env: &str, name: &str) -> SecretDetail {
    app.get_as(&api(env, name, ""), token).await
}

pub(super) async fn reveal(app: &TestApp, token: &str, env: &str, name: &str, key: &str) -> String {
    let (status, body) = send(app, "POST", &api(env, name, "/reveal"), token, Some(json!({ "key": key }))).await;
    assert_eq!(status, 200, "{body:#}");
    body["value"].as_str().unwrap().to_string()
}

pub(super) fn keys(detail: &SecretDetail) -> Vec<&str> {
    detail.keys.iter().map(|k| k.name.as_str()).collect()
}

pub(super) fn stages_of<'a>(detail: &'a SecretDetail, version: &str) -> &'a [String] {
    &detail.versions.iter().find(|v| v.version_id == version).expect("version listed").stages
}

/// The audit rows about secrets and services (token creation is audited too).
pub(super) async fn audit(app: &TestApp) -> Vec<app::model::audit::AuditEvent> {
    let rows = app.db.list_audit(1000, None).await.unwrap();
    rows.into_iter().filter(|r| r.action.starts_with("secret.") || r.action.starts_with("service.")).collect()
}

/// A Secrets Manager client on the emulator, for arranging what the product cannot make.
pub(super) async fn secretsmanager(aws: &Emulator, region: &str) -> aws_sdk_secretsmanager::Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_string()))
        .endpoint_url(aws.url.clone())
        .load()
        .await;
    aws_sdk_secretsmanager::Client::new(&config)
}

async fn the_secrets_of_each_region_are_listed_masked_with_versions_consumers_and_a_view_audit(backend: Backend) {
    let (_aws, app) = start(backend).await;
    let token = app.token("vikram", Role::Viewer).await;
    for (env, other) in [("production", "staging"), ("staging", "production")] {
        let (list, text) = app.get_with_body::<SecretList>(&format!("/api/v1/environments/{env}/secrets"), &token).await;
        let names: Vec<&str> = list.secrets.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["zelly/aurora/master", "zelly/customer-panel/env", NOVA, "zelly/orion-backend/env", REDIS]);
        let redis = &list.secrets[4];
        assert_eq!(redis.keys, ["REDIS_HOST", "REDIS_PASSWORD", "REDIS_PORT"]);
        assert!(redis.version_id.as_deref().is_some_and(|v| !v.is_empty()));
        assert!(!redis.rotation_due);
        assert!(!text.contains("seeded-"), "no values in a listing: {text}");

        let (d, text) = app.get_with_body::<SecretDetail>(&api(env, REDIS, ""), &token).await;
        assert_eq!(d.environment, env);
        assert!(d.keys.iter().all(|k| k.masked == "••••••••"));
        assert_eq!(stages_of(&d, &d.version_id), ["AWSCURRENT"]);
        let consumers: Vec<&str> = d.consumers.iter().map(|c| c.service.as_str()).collect();
        assert_eq!(consumers, ["fastify-nova", "events-consumer", "internal_tools"], "{d:#?}");
        assert_eq!(d.consumers[0].keys, ["REDIS_HOST", "REDIS_PORT"], "the seed's task definitions read two keys");
        assert!(!text.contains("seeded-"));
        assert!(!text.contains(other), "nothing from {other} in {env}'s answer");
    }
    let rows = audit(&app).await;
    let views: Vec<_> = rows.iter().filter(|r| r.action == "secret.view").collect();
    assert_eq!(views.len(), 2);
    assert!(views.iter().all(|r| r.actor == "vikram" && r.target.as_deref() == Some(REDIS)));
    app.stop().await;
}

async fn twenty_concurrent_edits_of_one_version_let_exactly_one_through(backend: Backend) {
    let (_aws, app) = start(backend).await;
    let token = app.token("olga", Role::Operator).await;
    let version = detail(&app, &token, "staging", REDIS).await.version_id;
    let path = api("staging", REDIS, "");
    let edits = (0..20).map(|i| {
        let body = json!({ "version_id": version, "set": { "REDIS_PASSWORD": format!("concurrent-{i}") } });
        send(&app, "PUT", &path, &token, Some(body))
    });
    let results = futures_util::future::join_all(edits).await;
    let winners: Vec<usize> = results.iter().enumerate().filter(|(_, (s, _))| *s == 200).map(|(i, _)| i).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    for (status, body) in results.iter().filter(|(s, _)| *s != 200) {
        assert_eq!(*status, 409, "{body:#}");
        assert_eq!(body["changed_keys"], json!(["REDIS_PASSWORD"]), "the loser hears which key changed");
    }
    let value = reveal(&app, &token, "staging", REDIS, "REDIS_PASSWORD").await;
    assert_eq!(value, format!("concurrent-{}", winners[0]), "the stored value is the winner's");
    let updates = audit(&app).await.into_iter().filter(|r| r.action == "secret.update").count();
    assert_eq!(updates, 1, "one write, one audit row");
    app.stop().await;
}

/// Each of these runs on both databases: the audit rows (and the write lease) live there.
macro_rules! on_sqlite_and_postgres {
    ($($test:ident => $body:ident;)*) => {$(
        mod $test {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $body(Backend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $body(Backend::Postgres).await;
            }
        }
    )*};
}

on_sqlite_and_postgres! {
    list_detail_and_view_audit => the_secrets_of_each_region_are_listed_masked_with_versions_consumers_and_a_view_audit;
    concurrent_edits => twenty_concurrent_edits_of_one_version_let_exactly_one_through;
}

#[tokio::test]
async fn an_edit_sets_and_removes_keys_in_one_new_version_and_the_old_one_becomes_previous() {
    let (_aws, app) = start(Backend::Sqlite).await;
    let token = app.token("olga", Role::Operator).await;
    let before = detail(&app, &token, "staging", NOVA).await;
    let v1 = before.version_id.as_str();
    let body = json!({ "version_id": v1, "set": { "JWT_SECRET": "new-jwt-value", "FEATURE_FLAGS_KEY": "flags-value" }, "remove": ["SLACK_WEBHOOK_URL"] });
    let (status, done) = send(&app, "PUT", &api("staging", NOVA, ""), &token, Some(body)).await;
    assert_eq!(status, 200, "{done:#}");
    assert_eq!(done["changed_keys"], json!(["FEATURE_FLAGS_KEY", "JWT_SECRET", "SLACK_WEBHOOK_URL"]));
    let v2 = done["version_id"].as_str().unwrap();

    let after = detail(&app, &token, "staging", NOVA).await;
    assert_eq!(after.version_id, v2);
    assert_eq!(stages_of(&after, v2), ["AWSCURRENT"]);
    assert_eq!(stages_of(&after, v1), ["AWSPREVIOUS"]);
    let names = keys(&after);
    assert!(names.contains(&"FEATURE_FLAGS_KEY") && !names.contains(&"SLACK_WEBHOOK_URL"));
    assert_eq!(reveal(&app, &token, "staging", NOVA, "JWT_SECRET").await, "new-jwt-value");
    assert_eq!(reveal(&app, &token, "staging", NOVA, "RAZORPAY_KEY_ID").await, seeded("staging", NOVA, "RAZORPAY_KEY_ID"), "untouched keys keep their values");

    let row = audit(&app).await.into_iter().find(|r| r.action == "secret.update").unwrap();
    let details: Value = serde_json::from_str(&row.details).unwrap();
    assert_eq!((row.actor.as_str(), row.environment.as_deref(), row.target.as_deref()), ("olga", Some("staging"), Some(NOVA)));
    assert_eq!(details["version_id"], v2, "the row names the version it created");
    assert_eq!(details["removed"], json!(["SLACK_WEBHOOK_URL"]));
    assert!(!row.details.contains("new-jwt-value") && !row.details.contains("flags-value"));
    app.stop().await;
}

#[tokio::test]
async fn an_edit_read_at_an_old_version_is_a_conflict_naming_the_changed_keys_and_writes_nothing() {
    let (_aws, app) = start(Backend::Sqlite).await;
    let token = app.token("olga", Role::Operator).await;
    let v1 = detail(&app, &token, "staging", REDIS).await.version_id;
    let first = json!({ "version_id": v1, "set": { "REDIS_PORT": "6380" } });
    assert_eq!(send(&app, "PUT", &api("staging", REDIS, ""), &token, Some(first)).await.0, 200);
    let late = json!({ "version_id": v1, "set": { "REDIS_HOST": "late-host" } });
    let (status, body) = send(&app, "PUT", &api("staging", REDIS, ""), &token, Some(late)).await;
    assert_eq!(status, 409);
    assert_eq!(body["error"], "conflict");
    assert_eq!(body["changed_keys"], json!(["REDIS_PORT"]));
    assert!(!body.to_string().contains("6380"), "names only: {body}");
    assert_eq!(reveal(&app, &token, "staging", REDIS, "REDIS_HOST").await, seeded("staging", REDIS, "REDIS_HOST"));
    app.stop().await;
}

#[tokio::test]
async fn bad_edits_are_clear_4xx_and_write_nothing() {
    let (aws, app) = start(Backend::Sqlite).await;
    let token = app.token("olga", Role::Operator).await;
    let sm = secretsmanager(&aws, "ap-southeast-1").await;
    sm.create_secret().name("zelly/legacy/plain").secret_string("plain-text-credential").send().await.unwrap();
    let version = detail(&app, &token, "staging", REDIS).await.version_id;
    let cases = [
        (json!({ "version_id": version, "set": { "lower_case": "x" } }), 422, "not valid"),
        (json!({ "version_id": version, "set": { "9LIVES": "x" } }), 422, "not valid"),
        (json!({ "version_id": version, "set": { "REDIS_PASSWORD": "" } }), 422, "must not be empty"),
        (json!({ "version_id": version, "set": { "REDIS_PASSWORD": 4242 } }), 422, "must be strings"),
        (json!({ "version_id": version, "remove": ["NOT_THERE"] }), 422, "not in the secret"),
        (json!({ "version_id": version }), 422, "nothing to change"),
        (json!({ "set": { "REDIS_PASSWORD": "x" } }), 422, "version_id"),
        (json!({ "version_id": version, "set": { "BIG": "x".repeat(70_000) } }), 413, "Secrets Manager allows"),
    ];
    for (body, expected, says) in cases {
        let (status, answer) = send(&app, "PUT", &api("staging", REDIS, ""), &token, Some(body)).await;
        assert_eq!(status, expected, "{answer}");
        assert!(answer["message"].as_str().unwrap().contains(says), "{answer}");
        assert!(!answer.to_string().contains("4242"));
    }
    let res = app.client.put(app.url(&api("staging", REDIS, ""))).bearer_auth(&token).header("content-type", "application/json").body("{not json").send().await.unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(detail(&app, &token, "staging", REDIS).await.version_id, version, "nothing was written");

    let (plain, text) = app.get_with_body::<SecretDetail>(&api("staging", "zelly/legacy/plain", ""), &token).await;
    assert!(plain.read_only.as_deref().unwrap().contains("plain text"), "{plain:#?}");
    assert!(!text.contains("plain-text-credential"));
    let body = json!({ "version_id": plain.version_id, "set": { "A": "b" } });
    let (status, answer) = send(&app, "PUT", &api("staging", "zelly/legacy/plain", ""), &token, Some(body)).await;
    assert_eq!(status, 422, "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("cannot be changed here"));
    let html = page(&app, &token, "/environments/staging/secrets/zelly/legacy/plain").await;
    assert!(html.contains("shown read-only") && !html.contains("Save as new version") && !html.contains("Rotate selected keys"));
    assert!(!html.contains("plain-text-credential"));
    assert!(audit(&app).await.iter().all(|r| r.action == "secret.view"), "refused writes leave no write rows");
    app.stop().await;
}

#[tokio::test]
async fn reveal_edit_and_redeploy_follow_the_roles_of_each_environment() {
    let (_aws, app) = start(Backend::Sqlite).await;
    let viewer = app.token("vikram", Role::Viewer).await;
    let operator = app.token("olga", Role::Operator).await;
    let approver = app.token("anita", Role::Approver).await;
    let reveal_body = json!({ "key": "REDIS_PASSWORD" });
    let expect = [
        (&viewer, "staging", 403),
        (&operator, "staging", 200),
        (&operator, "production", 403),
        (&approver, "production", 200),
    ];
    for (token, env, status) in expect {
        let (got, body) = send(&app, "POST", &api(env, REDIS, "/reveal"), token, Some(reveal_body.clone())).await;
        assert_eq!(got, status, "reveal in {env}: {body}");
        let version = detail(&app, token, env, REDIS).await.version_id;
        let edit = json!({ "version_id": version, "set": { "REDIS_PORT": "6390" } });
        assert_eq!(send(&app, "PUT", &api(env, REDIS, ""), token, Some(edit)).await.0, status, "edit in {env}");
        if status == 403 {
            let rotate = json!({ "keys": ["REDIS_PASSWORD"] });
            assert_eq!(send(&app, "POST", &api(env, REDIS, "/rotate"), token, Some(rotate)).await.0, 403, "rotate in {env}");
            assert_eq!(send(&app, "POST", &api(env, REDIS, "/rollback"), token, None).await.0, 403, "rollback in {env}");
            // Without the role, what is sent does not matter: no hint about what would be accepted.
            for (method, tail, malformed) in [("PUT", "", json!([1])), ("POST", "/rotate", json!({ "length": "x" })), ("POST", "/rollback", json!({ "to": 1 }))] {
                assert_eq!(send(&app, method, &api(env, REDIS, tail), token, Some(malformed)).await.0, 403, "malformed {method} {tail} in {env}");
            }
        }
        let path = format!("/api/v1/environments/{env}/services/events-consumer/redeploy");
        let expected = if status == 200 { 202 } else { 403 };
        assert_eq!(send(&app, "POST", &path, token, None).await.0, expected, "redeploy in {env}");
    }
    let (got, body) = send(&app, "POST", &api("production", REDIS, "/reveal"), &approver, Some(reveal_body)).await;
    assert_eq!(got, 200);
    assert_eq!(body["value"], seeded("production", REDIS, "REDIS_PASSWORD"));
    let reveals: Vec<_> = audit(&app).await.into_iter().filter(|r| r.action == "secret.reveal").collect();
    assert_eq!(reveals.len(), 3, "every successful reveal, and only those");
    assert!(reveals.iter().all(|r| r.details.contains("REDIS_PASSWORD") && !r.details.contains("seeded-")));
    app.stop().await;
}

#[tokio::test]
async fn rotation_writes_fresh_random_values_for_the_chosen_keys_only() {
    let (_aws, app) = start(Backend::Sqlite).await;
    let token = app.token("olga", Role::Operator).await;
    let (status, done) = send(&app, "POST", &api("staging", NOVA, "/rotate"), &token, Some(json!({ "keys": ["JWT_SECRET", "CLICKHOUSE_PASSWORD"] }))).await;
    assert_eq!(status, 200, "{done:#}");
    assert_eq!(done["changed_keys"], json!(["CLICKHOUSE_PASSWORD", "JWT_SECRET"]));
    let jwt = reveal(&app, &token, "staging", NOVA, "JWT_SECRET").await;
    let password = reveal(&app, &token, "staging", NOVA, "CLICKHOUSE_PASSWORD").await;
    assert_eq!((jwt.len(), password.len()), (64, 32), "defaults per key");
    assert!(jwt.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_ne!(jwt, seeded("staging", NOVA, "JWT_SECRET"));
    assert_eq!(reveal(&app, &token, "staging", NOVA, "RAZORPAY_KEY_ID").await, seeded("staging", NOVA, "RAZORPAY_KEY_ID"));

    let body = json!({ "keys": ["JWT_SECRET"], "length": 40, "alphabet": "hex", "version_id": done["version_id"] });
    assert_eq!(send(&app, "POST", &api("staging", NOVA, "/rotate"), &token, Some(body)).await.0, 200);
    let hex = reveal(&app, &token, "staging", NOVA, "JWT_SECRET").await;
    assert!(hex.len() == 40 && hex.chars().all(|c| c.is_ascii_hexdigit()), "{}", hex.len());

    for (body, says) in [
        (json!({ "keys": [] }), "at least one key"),
        (json!({ "keys": ["NOT_A_KEY"] }), "not in the secret"),
        (json!({ "keys": ["JWT_SECRET"], "length": 8 }), "length must be between"),
        (json!({ "keys": ["JWT_SECRET"], "alphabet": "emoji" }), "alphabet must be one of"),
    ] {
        let (status, answer) = send(&app, "POST", &api("staging", NOVA, "/rotate"), &token, Some(body)).await;
        assert_eq!(status, 422, "{answer}");
        assert!(answer["message"].as_str().unwrap().contains(says), "{answer}");
    }
    let rows = audit(&app).await;
    let rotations: Vec<_> = rows.iter().filter(|r| r.action == "secret.rotate").collect();
    assert_eq!(rotations.len(), 2);
    assert!(rotations.iter().all(|r| !r.details.contains(&jwt) && !r.details.contains(&hex)));
    app.stop().await;
}

#[tokio::test]
async fn rollback_returns_to_the_previous_or_a_chosen_version() {
    let (_aws, app) = start(Backend::Sqlite).await;
    let token = app.token("olga", Role::Operator).await;
    let v1 = detail(&app, &token, "staging", REDIS).await.version_id;
    let mut versions = vec![v1.clone()];
    for port in ["7001", "7002"] {
        let current = versions.last().unwrap().clone();
        let (_, done) = send(&app, "PUT", &api("staging", REDIS, ""), &token, Some(json!({ "version_id": current, "set": { "REDIS_PORT": port } }))).await;
        versions.push(done["version_id"].as_str().unwrap().to_string());
    }
    let (status, done) = send(&app, "POST", &api("staging", REDIS, "/rollback"), &token, None).await;
    assert_eq!(status, 200, "{done:#}");
    assert_eq!(done["version_id"], versions[1], "AWSPREVIOUS by default");
    assert_eq!(done["changed_keys"], json!(["REDIS_PORT"]));
    assert_eq!(reveal(&app, &token, "staging", REDIS, "REDIS_PORT").await, "7001");

    let body = json!({ "version_id": v1, "expected_version_id": versions[1] });
    assert_eq!(send(&app, "POST", &api("staging", REDIS, "/rollback"), &token, Some(body)).await.0, 200);
    assert_eq!(reveal(&app, &token, "staging", REDIS, "REDIS_PORT").await, seeded("staging", REDIS, "REDIS_PORT"));
    let d = detail(&app, &token, "staging", REDIS).await;
    assert_eq!(d.version_id, v1);
    assert_eq!(stages_of(&d, &v1), ["AWSCURRENT"]);

    let stale = json!({ "version_id": versions[2], "expected_version_id": versions[1] });
    assert_eq!(send(&app, "POST", &api("staging", REDIS, "/rollback"), &token, Some(stale)).await.0, 409);
    let unknown = json!({ "version_id": "00000000-0000-4000-a000-000000000000" });
    assert_eq!(send(&app, "POST", &api("staging", REDIS, "/rollback"), &token, Some(unknown)).await.0, 404);
    assert_eq!(audit(&app).await.iter().filter(|r| r.action == "secret.rollback").count(), 2);
    app.stop().await;
}

#[tokio::test]
async fn parity_names_keys_present_in_one_environment_only() {
    let (_aws, app) = start(Backend::Sqlite).await;
    let token = app.token("olga", Role::Operator).await;
    let parity: Parity = app.get_as("/api/v1/secrets/parity", &token).await;
    assert_eq!(parity.secrets.len(), 5);
    assert!(parity.secrets.iter().all(|r| r.missing["production"].is_empty() && r.missing["staging"].is_empty()));

    let version = detail(&app, &token, "staging", NOVA).await.version_id;
    let edit = json!({ "version_id": version, "set": { "SENTRY_DSN": "https://example.invalid/1" }, "remove": ["FIREBASE_CONFIG"] });
    assert_eq!(send(&app, "PUT", &api("staging", NOVA, ""), &token, Some(edit)).await.0, 200);
    let (parity, text) = app.get_with_body::<Parity>("/api/v1/secrets/parity", &token).await;
    let row = parity.secrets.iter().find(|r| r.name == NOVA).unwrap();
    assert_eq!(row.missing["production"], ["SENTRY_DSN"]);
    assert_eq!(row.missing["staging"], ["FIREBASE_CONFIG"]);
    assert!(!text.contains("example.invalid"));
    app.stop().await;
}

#[tokio::test]
async fn a_redeploy_starts_a_new_deployment_that_can_be_followed_and_is_audited() {
    let (aws, app) = start(Backend::Sqlite).await;
    let token = app.token("olga", Role::Operator).await;
    aws.reset().await;
    let (status, svc) = send(&app, "POST", "/api/v1/environments/staging/services/events-consumer/redeploy", &token, Some(json!({ "reason": "new redis password" }))).await;
    assert_eq!(status, 202, "{svc:#}");
    assert_eq!(svc["name"], "events-consumer");
    let calls = aws.calls("UpdateService").await;
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["region"], "ap-southeast-1");
    let (status, now) = send(&app, "GET", "/api/v1/environments/staging/services/events-consumer", &token, None).await;
    assert_eq!(status, 200);
    assert_eq!(now["task_definition"], "events-consumer:1");
    assert_eq!(send(&app, "POST", "/api/v1/environments/staging/services/no-such-service/redeploy", &token, None).await.0, 404);
    let row = audit(&app).await.into_iter().find(|r| r.action == "service.redeploy").unwrap();
    assert_eq!((row.environment.as_deref(), row.target.as_deref()), (Some("staging"), Some("events-consumer")));
    assert!(row.details.contains("new redis password"));

    // When ECS refuses, the audit log says so too, not only that it was asked for.
    aws.fault(json!({ "operation": "UpdateService", "region": "ap-southeast-1", "error": "500", "times": 100 })).await;
    let (status, body) = send(&app, "POST", "/api/v1/environments/staging/services/events-consumer/redeploy", &token, Some(json!({ "reason": "again" }))).await;
    assert_eq!(status, 503, "{body}");
    let rows = audit(&app).await;
    let failed = rows.iter().find(|r| r.action == "service.redeploy_failed").expect("the failure is audited");
    assert_eq!((failed.environment.as_deref(), failed.target.as_deref()), (Some("staging"), Some("events-consumer")));
    assert!(failed.details.contains("UpdateService"), "{}", failed.details);
    app.stop().await;
}

#[tokio::test]
async fn pages_polling_aws_share_one_fresh_read() {
    let aws = Emulator::start();
    let app = TestApp::start_with(Backend::Sqlite, |c| {
        use_emulator(c, &aws);
        c.aws.repeat_read_seconds = 3600;
    })
    .await;
    let token = app.token("olga", Role::Operator).await;
    aws.reset().await;
    for _ in 0..5 {
        assert_eq!(send(&app, "GET", "/api/v1/environments/staging/secrets", &token, None).await.0, 200);
        assert_eq!(send(&app, "GET", "/api/v1/environments/staging/services/events-consumer", &token, None).await.0, 200);
    }
    assert_eq!(aws.calls("ListSecrets").await.len(), 1, "a script in a loop costs one listing");
    assert_eq!(aws.calls("DescribeServices").await.len(), 1);

    // A change made here is seen at once: the next read is fresh.
    assert_eq!(send(&app, "POST", "/api/v1/environments/staging/services/events-consumer/redeploy", &token, None).await.0, 202);
    send(&app, "GET", "/api/v1/environments/staging/services/events-consumer", &token, None).await;
    assert_eq!(aws.calls("DescribeServices").await.len(), 2, "after a redeploy");
    let version_of = async || -> Option<String> {
        let list: SecretList = app.get_as("/api/v1/environments/staging/secrets", &token).await;
        list.secrets.into_iter().find(|s| s.name == REDIS).unwrap().version_id
    };
    let version = version_of().await;
    let body = json!({ "version_id": version, "set": { "REDIS_PASSWORD": "changed-here" } });
    let (status, body) = send(&app, "PUT", &api("staging", REDIS, ""), &token, Some(body)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(version_of().await.as_deref(), body["version_id"].as_str(), "the list shows the new version");
    app.stop().await;
}

#[tokio::test]
async fn aws_trouble_is_a_503_for_the_api_and_a_note_on_the_page() {
    let (aws, app) = start(Backend::Sqlite).await;
    let token = app.token("olga", Role::Operator).await;
    aws.fault(json!({ "operation": "ListSecrets", "region": "ap-southeast-1", "error": "500", "times": 100 })).await;
    let (status, body) = send(&app, "GET", "/api/v1/environments/staging/secrets", &token, None).await;
    assert_eq!(status, 503, "{body}");
    let page = app.get("/secrets", Some(&token)).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Secrets unavailable"), "staging's column says so");
    assert!(html.contains(NOVA), "production's column still lists its secrets");
    app.stop().await;
}
