//! What secrets never do: leave `secrets.prefix` however a name is spelled, reach a log line,
//! an audit row or a page unless explicitly revealed, or get revealed past a user's rate limit.

use crate::common;
use super::secrets::{api, audit, secretsmanager, seeded, send, start, NOVA, REDIS};
use app::model::secret::SecretDetail;
use app::model::Role;
use common::{use_emulator, Backend, Emulator, TestApp};
use serde_json::{json, Value};

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
    let d: SecretDetail = call("GET", &api("staging", NOVA, ""), None).await.unwrap().json().await.unwrap();
    let edit = json!({ "version_id": d.version_id, "set": { "JWT_SECRET": "typed-in-new-value" } });
    let edited: Value = call("PUT", &api("staging", NOVA, ""), Some(edit)).await.unwrap().json().await.unwrap();
    seen += &edited.to_string();
    let rotate = json!({ "keys": ["RAZORPAY_KEY_SECRET"] });
    seen += &call("POST", &api("staging", NOVA, "/rotate"), Some(rotate)).await.unwrap().text().await.unwrap();
    seen += &call("POST", &api("staging", NOVA, "/rollback"), None).await.unwrap().text().await.unwrap();
    seen += &call("POST", "/api/v1/environments/staging/services/fastify-nova/redeploy", None).await.unwrap().text().await.unwrap();
    let stale = json!({ "version_id": d.version_id, "set": { "JWT_SECRET": "typed-in-stale-value" } });
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
