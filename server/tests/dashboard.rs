//! The dashboard (`/`) is rendered once for each change of what it shows (`http/page_cache.rs`),
//! and still every answer carries its own nonce, its own session's CSRF token, its own user and
//! what is true at that moment.

use crate::common;

use app::model::run::RunStatus;
use app::model::Role;

/// A page with its Content-Security-Policy header.
async fn dashboard(app: &common::TestApp, sign_in: Credentials<'_>) -> (String, String) {
    let req = app.client.get(app.url("/"));
    let req = match sign_in {
        Credentials::Cookie(cookie) => req.header("cookie", cookie),
        Credentials::Token(token) => req.bearer_auth(token),
    };
    let res = req.send().await.unwrap();
    assert_eq!(res.status(), 200);
    let csp = res.headers()["content-security-policy"].to_str().unwrap().to_string();
    (res.text().await.unwrap(), csp)
}

#[derive(Clone, Copy)]
enum Credentials<'a> {
    Cookie(&'a str),
    Token(&'a str),
}

/// Every `nonce="…"` of the page, which must all be the one its policy allows.
fn nonce_of(html: &str, csp: &str) -> String {
    let allowed = csp.split("'nonce-").nth(1).and_then(|rest| rest.split('\'').next()).expect("the policy names a nonce");
    let used: Vec<&str> = html.split(r#"nonce=""#).skip(1).map(|rest| rest.split('"').next().unwrap()).collect();
    assert!(!used.is_empty(), "the page has scripts with a nonce");
    assert!(used.iter().all(|n| *n == allowed), "every script carries the nonce of this answer's policy ({allowed}): {used:?}");
    allowed.to_string()
}

fn csrf_of(html: &str) -> String {
    let (_, rest) = html.split_once(r#"<meta name="csrf-token" content=""#).expect("the page names its CSRF token");
    rest.split('"').next().unwrap().to_string()
}

#[tokio::test]
async fn every_view_of_a_remembered_page_carries_its_own_nonce_and_its_own_sessions_token() {
    let app = common::TestApp::start(common::Backend::Sqlite).await;
    let (first, second) = (app.dev_sign_in("meera").await, app.dev_sign_in("meera").await);
    let token = app.token("meera", Role::Operator).await;

    let mut nonces = Vec::new();
    let mut pages = Vec::new();
    for sign_in in [Credentials::Cookie(&first), Credentials::Cookie(&first), Credentials::Cookie(&second), Credentials::Token(&token)] {
        let (html, csp) = dashboard(&app, sign_in).await;
        nonces.push(nonce_of(&html, &csp));
        pages.push(html);
    }
    nonces.sort();
    nonces.dedup();
    assert_eq!(nonces.len(), 4, "a new nonce for every answer");

    let tokens: Vec<String> = pages.iter().map(|p| csrf_of(p)).collect();
    assert_eq!(tokens[0], tokens[1], "one session, one token");
    assert!(!tokens[0].is_empty() && !tokens[2].is_empty());
    assert_ne!(tokens[0], tokens[2], "each session has its own token");
    assert!(!pages[2].contains(&tokens[0]) && !pages[3].contains(&tokens[0]), "no page shows another session's token");
    assert_eq!(tokens[3], "", "an API token's page has no session token");

    // The token each page shows is the one its session's forms are checked against.
    for (cookie, token) in [(&first, &tokens[0]), (&second, &tokens[2])] {
        let res = app.client.post(app.url("/auth/logout")).header("cookie", cookie.as_str()).form(&[("_csrf", token.as_str())]).send().await.unwrap();
        assert_eq!(res.status(), 303, "signed out with the token its page showed");
    }
    app.stop().await;
}

#[tokio::test]
async fn each_user_sees_their_own_page_and_a_run_shows_at_once() {
    let app = common::TestApp::start(common::Backend::Sqlite).await;
    let (viewer, operator) = (app.dev_sign_in("vikram").await, app.dev_sign_in("meera").await);
    let (before, _) = dashboard(&app, Credentials::Cookie(&viewer)).await;
    assert!(before.contains("Vikram Shah") && !before.contains("Meera Iyer"), "the viewer's own name");
    let (theirs, _) = dashboard(&app, Credentials::Cookie(&operator)).await;
    assert!(theirs.contains("Meera Iyer") && !theirs.contains("Vikram Shah"), "the operator's own name, not the page before");

    let token = app.token("meera", Role::Operator).await;
    app.scenario("staging", serde_json::json!({ "changes": [] }));
    let id = app.start_run("staging", &token, "plan").await;
    app.wait_for(id, RunStatus::NoChanges).await;
    let (after, _) = dashboard(&app, Credentials::Cookie(&viewer)).await;
    assert!(!before.contains(&format!(r#"href="/runs/{id}""#)));
    assert!(after.contains(&format!(r#"href="/runs/{id}""#)), "the finished run is the environment's last one");
    app.stop().await;
}
