//! The role matrix: every state-changing endpoint (and the admin reads) × {anonymous, viewer,
//! operator, approver, admin}, from one table. Anonymous callers get 401; a role below the
//! endpoint's gets 403 and changes nothing; a role at or above it is never refused for its role
//! (the answer may still be 404 or 409 once another role has changed the state) and never 500.

use crate::common;

use app::model::run::RunStatus;
use app::model::Role;
use common::{use_emulator, Emulator, TestApp};
use serde_json::{json, Value};

const SECRET: &str = "zelly%2Fredis%2Fauth";

/// (method, path, body, the lowest role allowed). `{prod}`/`{staging}` are planned runs in each.
fn table() -> Vec<(&'static str, String, Value, Role)> {
    let secret = |env: &str, tail: &str| format!("/api/v1/environments/{env}/secrets/{SECRET}{tail}");
    let mut rows = vec![
        ("POST", "/api/v1/environments/production/runs".to_string(), json!({ "kind": "plan" }), Role::Operator),
        ("POST", "/api/v1/environments/staging/runs".to_string(), json!({ "kind": "plan" }), Role::Operator),
        // Production needs an approver who did not ask; staging is confirmed by operators. (Approve
        // comes last: an approver who approved may no longer reject, which is a rule of the run,
        // not of the role.)
        ("POST", "/api/v1/runs/{prod}/reject".to_string(), json!({}), Role::Approver),
        ("POST", "/api/v1/runs/{prod}/cancel".to_string(), json!({}), Role::Approver),
        ("POST", "/api/v1/runs/{prod}/approve".to_string(), json!({ "confirm": "production" }), Role::Approver),
        ("POST", "/api/v1/runs/{staging}/reject".to_string(), json!({}), Role::Operator),
        ("POST", "/api/v1/runs/{staging}/cancel".to_string(), json!({}), Role::Operator),
        ("POST", "/api/v1/runs/{staging}/cancel".to_string(), json!({ "force": true }), Role::Admin),
        ("POST", "/api/v1/runs/{staging}/approve".to_string(), json!({}), Role::Operator),
        ("POST", "/api/v1/tokens/1/revoke".to_string(), json!({}), Role::Admin),
        ("GET", "/api/v1/audit".to_string(), Value::Null, Role::Admin),
        ("GET", "/api/v1/users".to_string(), Value::Null, Role::Admin),
        // On the runs' requester, who is outside the matrix.
        ("PUT", "/api/v1/users/req-bot".to_string(), json!({ "role": "operator" }), Role::Admin),
        ("POST", "/api/v1/users/req-bot/disable".to_string(), json!({ "reason": "matrix" }), Role::Admin),
        ("POST", "/api/v1/users/req-bot/enable".to_string(), json!({}), Role::Admin),
    ];
    for (env, role) in [("staging", Role::Operator), ("production", Role::Approver)] {
        rows.extend([
            ("POST", secret(env, "/reveal"), json!({ "key": "REDIS_PASSWORD" }), role),
            ("PUT", secret(env, ""), json!({ "version_id": "matrix", "set": { "REDIS_PORT": "6380" } }), role),
            ("POST", secret(env, "/rotate"), json!({ "keys": ["REDIS_PASSWORD"] }), role),
            ("POST", secret(env, "/rollback"), json!({}), role),
            ("POST", format!("/api/v1/environments/{env}/services/fastify-nova/redeploy"), json!({ "reason": "matrix" }), role),
        ]);
    }
    rows
}

/// How a call is signed in: an API token, or a browser session (its cookie, and the CSRF token
/// its pages carry, or none to forge a request).
enum Caller<'a> {
    Anonymous,
    Token(&'a str),
    Session { cookie: &'a str, csrf: Option<&'a str> },
}

async fn call(app: &TestApp, method: &str, path: &str, body: &Value, caller: Caller<'_>) -> u16 {
    let mut req = app.client.request(method.parse().unwrap(), app.url(path));
    match caller {
        Caller::Anonymous => {}
        Caller::Token(t) => req = req.bearer_auth(t),
        Caller::Session { cookie, csrf } => {
            req = req.header("cookie", cookie);
            if let Some(csrf) = csrf {
                req = req.header("x-csrf-token", csrf);
            }
        }
    }
    if !body.is_null() {
        req = req.json(body);
    }
    req.send().await.unwrap().status().as_u16()
}

/// The table with its runs filled in: two runs waiting for approval in each environment,
/// requested by someone outside the matrix.
async fn rows(app: &TestApp) -> (Vec<(&'static str, String, Value, Role)>, i64, i64) {
    let requester = app.token("req-bot", Role::Operator).await;
    let prod = app.start_run("production", &requester, "apply").await;
    let staging = app.start_run("staging", &requester, "apply").await;
    app.wait_for(prod, RunStatus::Planned).await;
    app.wait_for(staging, RunStatus::Planned).await;
    let rows = table()
        .into_iter()
        .map(|(m, p, b, r)| (m, p.replace("{prod}", &prod.to_string()).replace("{staging}", &staging.to_string()), b, r))
        .collect();
    (rows, prod, staging)
}

#[tokio::test]
async fn every_endpoint_by_every_role() {
    let aws = Emulator::start();
    let app = TestApp::start_with(common::Backend::Sqlite, |c| use_emulator(c, &aws)).await;
    let (rows, prod, staging) = rows(&app).await;
    let mut tokens = Vec::new();
    for role in Role::ALL {
        tokens.push((role, app.token(&format!("matrix-{role}"), role).await));
    }

    // Refusals first, while every run still waits: a refused call must change nothing.
    let audit_rows = app.db.list_audit(10_000, None).await.unwrap().len();
    for (method, path, body, lowest) in &rows {
        assert_eq!(call(&app, method, path, body, Caller::Anonymous).await, 401, "anonymous {method} {path}");
        for (role, token) in tokens.iter().filter(|(role, _)| role < lowest) {
            assert_eq!(call(&app, method, path, body, Caller::Token(token)).await, 403, "{role} {method} {path}");
        }
    }
    assert_eq!(app.db.list_audit(10_000, None).await.unwrap().len(), audit_rows, "a refusal changes nothing");
    assert_eq!(app.run(prod).await.status, RunStatus::Planned);
    assert_eq!(app.run(staging).await.status, RunStatus::Planned);

    for (method, path, body, lowest) in &rows {
        for (role, token) in tokens.iter().filter(|(role, _)| role >= lowest) {
            let status = call(&app, method, path, body, Caller::Token(token)).await;
            assert!(![401, 403, 500].contains(&status), "{role} {method} {path}: {status}");
        }
    }
    app.stop().await;
}

/// The same table for browsers signed in with a session (the development users: Vikram a viewer,
/// Meera an operator, Ravi an approver, Asha an admin): roles decide alike, and a state change
/// without the session's CSRF token is refused for everyone.
#[tokio::test]
async fn every_endpoint_by_every_role_signed_in_by_browser() {
    let aws = Emulator::start();
    let app = TestApp::start_with(common::Backend::Sqlite, |c| use_emulator(c, &aws)).await;
    let (rows, prod, staging) = rows(&app).await;
    let mut sessions = Vec::new();
    for (role, user) in [(Role::Viewer, "vikram"), (Role::Operator, "meera"), (Role::Approver, "ravi"), (Role::Admin, "asha")] {
        let cookie = app.dev_sign_in(user).await;
        let csrf = app.csrf_token(&cookie).await;
        sessions.push((role, cookie, csrf));
    }

    let audit_rows = app.db.list_audit(10_000, None).await.unwrap().len();
    for (method, path, body, lowest) in &rows {
        for (role, cookie, csrf) in &sessions {
            let forged = call(&app, method, path, body, Caller::Session { cookie, csrf: None }).await;
            let expected = if *method == "GET" && role < lowest { 403 } else if *method == "GET" { 200 } else { 403 };
            assert_eq!(forged, expected, "{role} {method} {path} without the CSRF token");
            if role < lowest {
                let status = call(&app, method, path, body, Caller::Session { cookie, csrf: Some(csrf) }).await;
                assert_eq!(status, 403, "{role} {method} {path}");
            }
        }
    }
    assert_eq!(app.db.list_audit(10_000, None).await.unwrap().len(), audit_rows, "a refusal changes nothing");
    assert_eq!(app.run(prod).await.status, RunStatus::Planned);
    assert_eq!(app.run(staging).await.status, RunStatus::Planned);

    for (method, path, body, lowest) in &rows {
        for (role, cookie, csrf) in sessions.iter().filter(|(role, ..)| role >= lowest) {
            let status = call(&app, method, path, body, Caller::Session { cookie, csrf: Some(csrf) }).await;
            assert!(![401, 403, 500].contains(&status), "{role} {method} {path}: {status}");
        }
    }
    app.stop().await;
}
