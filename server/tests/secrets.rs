//! Secrets against the AWS emulator: list, detail, reveal, edit, rotate, roll back, parity,
//! redeploy, the role rules, the prefix rule, concurrent edits, bad input, and audit rows (on
//! both databases where the database takes part).

use crate::common;

use app::model::Role;
use common::{use_emulator, Backend, Emulator, TestApp};
use serde_json::{json, Value};

const REDIS: &str = "zelly/redis/auth";
const NOVA: &str = "zelly/fastify-nova/env";

/// The value the seed gave `key` of `name` in `env` (see tests/aws/seed.py).
fn seeded(env: &str, name: &str, key: &str) -> String {
    format!("seeded-{env}-{}-{}", name.replace('/', "-"), key.to_lowercase())
}

fn api(env: &str, name: &str, tail: &str) -> String {
    format!("/api/v1/environments/{env}/secrets/{}{tail}", name.replace('/', "%2F"))
}

async fn start(backend: Backend) -> (Emulator, TestApp) {
    let aws = Emulator::start();
    let app = TestApp::start_with(backend, |c| use_emulator(c, &aws)).await;
    (aws, app)
}

async fn send(app: &TestApp, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = app.client.request(method.parse().unwrap(), app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn detail(app: &TestApp, token: &str, env: &str, name: &str) -> Value {
    let (status, body) = send(app, "GET", &api(env, name, ""), token, None).await;
    assert_eq!(status, 200, "{body:#}");
    body
}

async fn reveal(app: &TestApp, token: &str, env: &str, name: &str, key: &str) -> String {
    let (status, body) = send(app, "POST", &api(env, name, "/reveal"), token, Some(json!({ "key": key }))).await;
    assert_eq!(status, 200, "{body:#}");
    body["value"].as_str().unwrap().to_string()
}

fn keys(detail: &Value) -> Vec<String> {
    detail["keys"].as_array().unwrap().iter().map(|k| k["name"].as_str().unwrap().to_string()).collect()
}

fn stages_of<'a>(detail: &'a Value, version: &str) -> Vec<&'a str> {
    let v = detail["versions"].as_array().unwrap().iter().find(|v| v["version_id"] == version).expect("version listed");
    v["stages"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect()
}

/// The audit rows about secrets and services (token creation is audited too).
async fn audit(app: &TestApp) -> Vec<app::model::audit::AuditEvent> {
    let rows = app.db.list_audit(1000, None).await.unwrap();
    rows.into_iter().filter(|r| r.action.starts_with("secret.") || r.action.starts_with("service.")).collect()
}

/// A Secrets Manager client on the emulator, for arranging what the product cannot make.
async fn secretsmanager(aws: &Emulator, region: &str) -> aws_sdk_secretsmanager::Client {
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
        let (status, list) = send(&app, "GET", &format!("/api/v1/environments/{env}/secrets"), &token, None).await;
        assert_eq!(status, 200, "{list:#}");
        let names: Vec<&str> = list["secrets"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["zelly/aurora/master", "zelly/customer-panel/env", NOVA, "zelly/orion-backend/env", REDIS]);
        let redis = &list["secrets"][4];
        assert_eq!(redis["keys"], json!(["REDIS_HOST", "REDIS_PASSWORD", "REDIS_PORT"]));
        assert!(redis["version_id"].as_str().is_some_and(|v| !v.is_empty()));
        assert_eq!(redis["rotation_due"], false);
        let text = list.to_string();
        assert!(!text.contains("seeded-"), "no values in a listing: {text}");

        let d = detail(&app, &token, env, REDIS).await;
        assert_eq!(d["environment"], env);
        assert!(d["keys"].as_array().unwrap().iter().all(|k| k["masked"] == "••••••••"));
        assert_eq!(stages_of(&d, d["version_id"].as_str().unwrap()), ["AWSCURRENT"]);
        let consumers: Vec<&str> = d["consumers"].as_array().unwrap().iter().map(|c| c["service"].as_str().unwrap()).collect();
        assert_eq!(consumers, ["fastify-nova", "events-consumer", "internal_tools"], "{d:#}");
        assert_eq!(d["consumers"][0]["keys"], json!(["REDIS_HOST", "REDIS_PORT"]), "the seed's task definitions read two keys");
        assert!(!d.to_string().contains("seeded-"));
        assert!(!d.to_string().contains(other), "nothing from {other} in {env}'s answer");
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
    let version = detail(&app, &token, "staging", REDIS).await["version_id"].as_str().unwrap().to_string();
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
    let v1 = before["version_id"].as_str().unwrap();
    let body = json!({ "version_id": v1, "set": { "JWT_SECRET": "new-jwt-value", "FEATURE_FLAGS_KEY": "flags-value" }, "remove": ["SLACK_WEBHOOK_URL"] });
    let (status, done) = send(&app, "PUT", &api("staging", NOVA, ""), &token, Some(body)).await;
    assert_eq!(status, 200, "{done:#}");
    assert_eq!(done["changed_keys"], json!(["FEATURE_FLAGS_KEY", "JWT_SECRET", "SLACK_WEBHOOK_URL"]));
    let v2 = done["version_id"].as_str().unwrap();

    let after = detail(&app, &token, "staging", NOVA).await;
    assert_eq!(after["version_id"], v2);
    assert_eq!(stages_of(&after, v2), ["AWSCURRENT"]);
    assert_eq!(stages_of(&after, v1), ["AWSPREVIOUS"]);
    let names = keys(&after);
    assert!(names.contains(&"FEATURE_FLAGS_KEY".into()) && !names.contains(&"SLACK_WEBHOOK_URL".into()));
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
    let v1 = detail(&app, &token, "staging", REDIS).await["version_id"].as_str().unwrap().to_string();
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
    let version = detail(&app, &token, "staging", REDIS).await["version_id"].as_str().unwrap().to_string();
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
    assert_eq!(detail(&app, &token, "staging", REDIS).await["version_id"], version, "nothing was written");

    let plain = detail(&app, &token, "staging", "zelly/legacy/plain").await;
    assert!(plain["read_only"].as_str().unwrap().contains("plain text"), "{plain:#}");
    assert!(!plain.to_string().contains("plain-text-credential"));
    let body = json!({ "version_id": plain["version_id"], "set": { "A": "b" } });
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
        let version = detail(&app, token, env, REDIS).await["version_id"].clone();
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
    let v1 = detail(&app, &token, "staging", REDIS).await["version_id"].as_str().unwrap().to_string();
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
    assert_eq!(d["version_id"], v1);
    assert_eq!(stages_of(&d, &v1), ["AWSCURRENT"]);

    let stale = json!({ "version_id": versions[2], "expected_version_id": versions[1] });
    assert_eq!(send(&app, "POST", &api("staging", REDIS, "/rollback"), &token, Some(stale)).await.0, 409);
    let unknown = json!({ "version_id": "00000000-0000-4000-a000-000000000000" });
    assert_eq!(send(&app, "POST", &api("staging", REDIS, "/rollback"), &token, Some(unknown)).await.0, 404);
    assert_eq!(audit(&app).await.iter().filter(|r| r.action == "secret.rollback").count(), 2);
    app.stop().await;
}

#[tokio::test]
async fn names_outside_the_prefix_are_unreachable_however_they_are_spelled() {
    let (aws, app) = start(Backend::Sqlite).await;
    let token = app.token("anita", Role::Admin).await;
    let sm = secretsmanager(&aws, "ap-southeast-1").await;
    sm.create_secret().name("other/payroll").secret_string(r#"{"PAYROLL_KEY":"outside-value"}"#).send().await.unwrap();
    let arn = sm.describe_secret().secret_id("other/payroll").send().await.unwrap().arn().unwrap().to_string();
    let spellings = [
        "other%2Fpayroll".to_string(),
        "zelly%2F..%2Fother%2Fpayroll".to_string(),
        "zelly%2F%2E%2E%2Fother%2Fpayroll".to_string(),
        "zelly%252F..%252Fother%252Fpayroll".to_string(),
        "zelly%2F%2e%2e%5Cother%2Fpayroll".to_string(),
        "zelly%E2%88%95..%E2%88%95other%E2%88%95payroll".to_string(),
        "zelly%2F%EF%BC%8E%EF%BC%8E%2Fother%2Fpayroll".to_string(),
        "zelly%2F..%00%2Fother%2Fpayroll".to_string(),
        arn.replace('/', "%2F").replace(':', "%3A"),
        "%2E%2E%2Fother%2Fpayroll".to_string(),
    ];
    for name in &spellings {
        let base = format!("/api/v1/environments/staging/secrets/{name}");
        for (method, tail, body) in [
            ("GET", "", None),
            ("POST", "/reveal", Some(json!({ "key": "PAYROLL_KEY" }))),
            ("PUT", "", Some(json!({ "version_id": "x", "set": { "PAYROLL_KEY": "y" } }))),
            ("POST", "/rotate", Some(json!({ "keys": ["PAYROLL_KEY"] }))),
            ("POST", "/rollback", None),
        ] {
            let (status, answer) = send(&app, method, &format!("{base}{tail}"), &token, body).await;
            assert_eq!(status, 404, "{method} {base}{tail}: {answer}");
            assert!(!answer.to_string().contains("outside-value"));
        }
    }
    let (status, answer) = send(&app, "GET", "/api/v1/environments/staging/secrets/zelly%2F%FF", &token, None).await;
    assert_eq!((status, answer["error"].as_str()), (400, Some("bad_request")), "a name that does not decode: {answer}");
    let (_, list) = send(&app, "GET", "/api/v1/environments/staging/secrets", &token, None).await;
    assert!(!list.to_string().contains("other/payroll"));
    let form = app.client.post(app.url("/environments/staging/secret-actions/reveal")).bearer_auth(&token)
        .form(&[("name", "zelly/../other/payroll"), ("key", "PAYROLL_KEY")]).send().await.unwrap();
    assert_eq!(form.status(), 303, "the form is turned away too");
    assert!(!form.headers()["location"].to_str().unwrap().contains("saved"));
    let value = sm.get_secret_value().secret_id("other/payroll").send().await.unwrap();
    assert_eq!(value.secret_string(), Some(r#"{"PAYROLL_KEY":"outside-value"}"#), "untouched");
    assert!(audit(&app).await.is_empty(), "nothing happened, so nothing is audited");
    app.stop().await;
}

#[tokio::test]
async fn parity_names_keys_present_in_one_environment_only() {
    let (_aws, app) = start(Backend::Sqlite).await;
    let token = app.token("olga", Role::Operator).await;
    let (_, parity) = send(&app, "GET", "/api/v1/secrets/parity", &token, None).await;
    assert_eq!(parity["secrets"].as_array().unwrap().len(), 5);
    assert!(parity["secrets"].as_array().unwrap().iter().all(|r| r["missing"]["production"] == json!([]) && r["missing"]["staging"] == json!([])));

    let version = detail(&app, &token, "staging", NOVA).await["version_id"].clone();
    let edit = json!({ "version_id": version, "set": { "SENTRY_DSN": "https://example.invalid/1" }, "remove": ["FIREBASE_CONFIG"] });
    assert_eq!(send(&app, "PUT", &api("staging", NOVA, ""), &token, Some(edit)).await.0, 200);
    let (_, parity) = send(&app, "GET", "/api/v1/secrets/parity", &token, None).await;
    let row = parity["secrets"].as_array().unwrap().iter().find(|r| r["name"] == NOVA).unwrap();
    assert_eq!(row["missing"]["production"], json!(["SENTRY_DSN"]));
    assert_eq!(row["missing"]["staging"], json!(["FIREBASE_CONFIG"]));
    assert!(!parity.to_string().contains("example.invalid"));
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
    let version_of = |list: &Value| list["secrets"].as_array().unwrap().iter().find(|s| s["name"] == REDIS).unwrap()["version_id"].clone();
    let (_, list) = send(&app, "GET", "/api/v1/environments/staging/secrets", &token, None).await;
    let version = version_of(&list);
    let body = json!({ "version_id": version, "set": { "REDIS_PASSWORD": "changed-here" } });
    let (status, body) = send(&app, "PUT", &api("staging", REDIS, ""), &token, Some(body)).await;
    assert_eq!(status, 200, "{body}");
    let (_, list) = send(&app, "GET", "/api/v1/environments/staging/secrets", &token, None).await;
    assert_eq!(version_of(&list), body["version_id"], "the list shows the new version");
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

async fn form(app: &TestApp, token: &str, path: &str, fields: &[(&str, &str)]) -> String {
    let res = app.client.post(app.url(path)).bearer_auth(token).form(fields).send().await.unwrap();
    assert_eq!(res.status(), 303, "{path} redirects back to the page");
    res.headers()["location"].to_str().unwrap().to_string()
}

async fn page(app: &TestApp, token: &str, path: &str) -> String {
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
    let version = detail(&app, &token, "staging", REDIS).await["version_id"].as_str().unwrap().to_string();
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
    let version = detail(&app, &anita, "production", NOVA).await["version_id"].as_str().unwrap().to_string();
    let to = form(&app, &anita, "/environments/production/secret-actions/edit", &[
        ("name", NOVA), ("version_id", &version), ("set.JWT_SECRET", "prod-jwt-typed-in"), ("remove", "SLACK_WEBHOOK_URL"),
    ]).await;
    let (path, id) = to.split_once("?confirm=").expect("a confirmation step");
    assert_eq!(path, "/environments/production/secrets/zelly/fastify-nova/env");
    let html = page(&app, &anita, &to).await;
    assert!(html.contains("Confirm: write to Production") && html.contains("JWT_SECRET") && html.contains("SLACK_WEBHOOK_URL"));
    assert!(!html.contains("prod-jwt-typed-in"), "the confirmation names keys, never values");
    assert_eq!(detail(&app, &anita, "production", NOVA).await["version_id"], version, "nothing written before the confirmation");

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

#[tokio::test]
async fn seeded_values_reach_no_log_line_audit_row_or_page_except_an_explicit_reveal() {
    let aws = Emulator::start();
    let db = common::TestDatabase::new(Backend::Sqlite).await;
    let (server, token) = common::LoggedServer::start(&db, &[("ZELLY_AWS__ENDPOINT_URL".into(), aws.url.clone())]);
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let call = |method: &str, path: &str, body: Option<Value>| {
        let mut req = client.request(method.parse().unwrap(), format!("{}{path}", server.url)).bearer_auth(&token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send()
    };
    let mut seen = String::new();
    let secrets = ["zelly/aurora/master", "zelly/customer-panel/env", NOVA, "zelly/orion-backend/env", REDIS];
    for env in ["production", "staging"] {
        seen += &call("GET", &format!("/api/v1/environments/{env}/secrets"), None).await.unwrap().text().await.unwrap();
        for name in secrets {
            seen += &call("GET", &api(env, name, ""), None).await.unwrap().text().await.unwrap();
            seen += &call("GET", &format!("/environments/{env}/secrets/{name}"), None).await.unwrap().text().await.unwrap();
        }
    }
    seen += &call("GET", "/secrets", None).await.unwrap().text().await.unwrap();
    seen += &call("GET", "/", None).await.unwrap().text().await.unwrap();
    let d: Value = call("GET", &api("staging", NOVA, ""), None).await.unwrap().json().await.unwrap();
    let edit = json!({ "version_id": d["version_id"], "set": { "JWT_SECRET": "typed-in-new-value" } });
    let edited: Value = call("PUT", &api("staging", NOVA, ""), Some(edit)).await.unwrap().json().await.unwrap();
    seen += &edited.to_string();
    let rotate = json!({ "keys": ["RAZORPAY_KEY_SECRET"] });
    seen += &call("POST", &api("staging", NOVA, "/rotate"), Some(rotate)).await.unwrap().text().await.unwrap();
    seen += &call("POST", &api("staging", NOVA, "/rollback"), None).await.unwrap().text().await.unwrap();
    seen += &call("POST", "/api/v1/environments/staging/services/fastify-nova/redeploy", None).await.unwrap().text().await.unwrap();
    let stale = json!({ "version_id": d["version_id"], "set": { "JWT_SECRET": "typed-in-stale-value" } });
    seen += &call("PUT", &api("staging", NOVA, ""), Some(stale)).await.unwrap().text().await.unwrap();
    seen += &call("GET", &format!("/environments/staging/secrets/{NOVA}?saved=x"), None).await.unwrap().text().await.unwrap();
    let revealed: Value = call("POST", &api("production", REDIS, "/reveal"), Some(json!({ "key": "REDIS_PASSWORD" }))).await.unwrap().json().await.unwrap();
    assert_eq!(revealed["value"], seeded("production", REDIS, "REDIS_PASSWORD"), "the reveal itself answers");
    let audit = call("GET", "/api/v1/audit?limit=500", None).await.unwrap().text().await.unwrap();
    assert!(audit.contains("secret.reveal") && audit.contains("secret.rotate") && audit.contains("service.redeploy"));
    let logs = server.finish();
    assert!(logs.contains("DescribeSecret") || logs.contains("secretsmanager"), "debug logging was on: {} bytes", logs.len());

    let mut values: Vec<String> = vec!["typed-in-new-value".into(), "typed-in-stale-value".into()];
    for env in ["production", "staging"] {
        for (name, keys) in [
            ("zelly/aurora/master", &["DB_HOST", "DB_USER", "DB_PASSWORD"][..]),
            (REDIS, &["REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD"][..]),
            (NOVA, &["JWT_SECRET", "RAZORPAY_KEY_ID", "RAZORPAY_KEY_SECRET", "SLACK_WEBHOOK_URL", "FIREBASE_CONFIG", "CLICKHOUSE_USER", "CLICKHOUSE_PASSWORD"][..]),
            ("zelly/customer-panel/env", &["JWT_SECRET", "COOKIE_SECRET", "SSO_CLIENT_ID", "SSO_CLIENT_SECRET"][..]),
            ("zelly/orion-backend/env", &["JWT_SECRET_KEY", "CORS_ORIGINS"][..]),
        ] {
            values.extend(keys.iter().map(|k| seeded(env, name, k)));
        }
    }
    for value in &values {
        assert!(!logs.contains(value.as_str()), "{value} leaked into the server log");
        assert!(!audit.contains(value.as_str()), "{value} leaked into the audit log");
        assert!(!seen.contains(value.as_str()), "{value} leaked into a page or an answer");
    }
}

#[tokio::test]
async fn reveals_are_rate_limited_per_user_and_a_refused_one_reads_and_audits_nothing() {
    let aws = Emulator::start();
    let app = TestApp::start_with(Backend::Sqlite, |c| {
        use_emulator(c, &aws);
        c.secrets.reveals_per_minute = 2;
    })
    .await;
    let meera = app.token("meera", Role::Operator).await;
    let other = app.token("priya", Role::Operator).await;
    let body = json!({ "key": "REDIS_PASSWORD" });
    for _ in 0..2 {
        assert_eq!(send(&app, "POST", &api("staging", REDIS, "/reveal"), &meera, Some(body.clone())).await.0, 200);
    }
    let reads = aws.calls("GetSecretValue").await.len();
    let audited = app.db.list_audit(1000, None).await.unwrap().len();
    let res = app
        .client
        .post(app.url(&api("staging", REDIS, "/reveal")))
        .bearer_auth(&meera)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    let wait: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&wait), "{wait}");
    let error: Value = res.json().await.unwrap();
    assert_eq!(error["error"], "too_many_requests");
    assert!(!error.to_string().contains("seeded-"), "no value in the refusal");
    assert_eq!(aws.calls("GetSecretValue").await.len(), reads, "nothing read");
    assert_eq!(app.db.list_audit(1000, None).await.unwrap().len(), audited, "nothing audited");
    // Another user has their own allowance.
    assert_eq!(send(&app, "POST", &api("staging", REDIS, "/reveal"), &other, Some(body)).await.0, 200);
    app.stop().await;
}
