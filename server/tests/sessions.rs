//! Browser sessions: CSRF tokens on every form, rotation at sign-in, idle expiry, and the single
//! sign-on routes' refusals. (Signing in through a real identity provider is a browser test:
//! tests/browser/sso.test.js; ID token checks are unit tests in `auth::oidc::id_token`.)

use crate::common;

use app::model::Role;
use zelly_control::config::{AuthMode, OidcConfig, RoleRule};
use zelly_control::db::testing::Bind;
use zelly_control::db::{Db, SignInAttempt};

async fn runs_in(app: &common::TestApp, env: &str) -> usize {
    app.db.list_runs(env, 100, None).await.unwrap().len()
}

on_both_backends! {
    async fn a_form_post_without_its_csrf_token_is_refused_and_changes_nothing(app) {
        let cookie = app.dev_sign_in("asha").await;
        let path = "/environments/staging/runs/new";
        let fields = [("kind", "plan"), ("message", "forged")];

        let res = app.client.post(app.url(path)).header("cookie", &cookie).form(&fields).send().await.unwrap();
        assert_eq!(res.status(), 403);
        assert!(res.text().await.unwrap().contains("security token"));
        let other = app.dev_sign_in("meera").await;
        let stolen = app.csrf_token(&other).await;
        let res = app.client.post(app.url(path)).header("cookie", &cookie)
            .form(&[("kind", "plan"), ("message", "forged"), ("_csrf", &stolen)]).send().await.unwrap();
        assert_eq!(res.status(), 403, "another session's token does not do");
        assert_eq!(runs_in(&app, "staging").await, 0, "nothing was started");

        let res = app.post_form(path, &cookie, &fields).await;
        assert_eq!(res.status(), 303, "with the page's token the same form works");
        assert_eq!(runs_in(&app, "staging").await, 1);
        // A script with an API token carries no cookie, so needs no CSRF token.
        let token = app.token("ci", Role::Operator).await;
        let res = app.client.post(app.url(path)).bearer_auth(&token).form(&fields).send().await.unwrap();
        assert_eq!(res.status(), 303);
    }

    async fn signing_in_replaces_the_browsers_session(app) {
        let first = app.dev_sign_in("ravi").await;
        let res = app.client.post(app.url("/auth/dev/login")).header("cookie", &first)
            .form(&[("user", "ravi"), ("next", "/")]).send().await.unwrap();
        assert_eq!(res.status(), 303);
        let second = res.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
        assert_ne!(first, second, "a new session id at sign-in");
        let old = app.client.get(app.url("/")).header("cookie", &first).send().await.unwrap();
        assert_eq!(old.status(), 303, "the session from before sign-in is over");
        let new = app.client.get(app.url("/")).header("cookie", &second).send().await.unwrap();
        assert_eq!(new.status(), 200);
    }

    async fn an_idle_session_ends_and_an_active_one_does_not(app) {
        let cookie = app.dev_sign_in("vikram").await;
        assert_eq!(app.client.get(app.url("/")).header("cookie", &cookie).send().await.unwrap().status(), 200);
        let idle = chrono::Utc::now() - chrono::Duration::minutes(i64::from(app.config.auth.session_idle_minutes) + 1);
        set_last_seen(&app.db, idle).await;
        let res = app.client.get(app.url("/")).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(res.status(), 303, "idle too long: back to the sign-in page");
        assert!(res.headers()["location"].to_str().unwrap().starts_with("/login"));
    }
}

async fn set_last_seen(db: &Db, at: chrono::DateTime<chrono::Utc>) {
    db.execute_sql("UPDATE sessions SET last_seen_at = $1", &[Bind::Time(at)]).await.unwrap();
}

on_both_backends! {
    async fn a_sign_in_attempt_is_taken_once(app) {
        let attempt = SignInAttempt { pkce_verifier: "v".into(), nonce: "n".into(), next: "/costs".into() };
        let soon = chrono::Utc::now() + chrono::Duration::minutes(10);
        app.db.insert_sign_in_attempt("state-hash", &attempt, soon).await.unwrap();
        let taken = app.db.take_sign_in_attempt("state-hash").await.unwrap().expect("the attempt");
        assert_eq!((taken.nonce.as_str(), taken.next.as_str()), ("n", "/costs"));
        assert!(app.db.take_sign_in_attempt("state-hash").await.unwrap().is_none(), "a replayed state finds nothing");

        let past = chrono::Utc::now() - chrono::Duration::seconds(1);
        app.db.insert_sign_in_attempt("old", &attempt, past).await.unwrap();
        assert!(app.db.take_sign_in_attempt("old").await.unwrap().is_none(), "an expired attempt is not honoured");
    }
}

/// Single sign-on against a provider that is not there: only what happens before it is needed.
async fn sso_app() -> common::TestApp {
    common::TestApp::start_with(common::Backend::Sqlite, |c| {
        c.auth.mode = AuthMode::Oidc;
        c.server.public_url = Some("http://127.0.0.1:1".parse().unwrap());
        c.auth.oidc = Some(OidcConfig {
            issuer_url: "http://127.0.0.1:9/realms/zelly".into(),
            client_id: "zelly".into(),
            client_secret: "not-a-real-secret".into(),
            provider_name: "Example SSO".into(),
            scopes: vec!["openid".into(), "email".into()],
            groups_claim: "groups".into(),
            roles: vec![RoleRule { role: Role::Admin, emails: vec!["asha@zelly.example".into()], domains: vec![], groups: vec![] }],
            default_role: None,
            trust_unverified_email: false,
        });
    })
    .await
}

#[tokio::test]
async fn single_sign_on_refuses_what_it_cannot_trust() {
    let app = sso_app().await;
    let page = app.get("/login?next=%2Fcosts", None).await.text().await.unwrap();
    assert!(page.contains("Sign in with Example SSO") && page.contains(r#"href="/auth/login?next=%2Fcosts""#));
    assert!(!page.contains("Asha Rao"), "no development sign-in");
    let res = app.client.post(app.url("/auth/dev/login")).form(&[("user", "asha")]).send().await.unwrap();
    assert_eq!(res.status(), 403, "the development sign-in is off");

    let res = app.get("/auth/login", None).await;
    assert_eq!(res.status(), 502);
    assert!(res.text().await.unwrap().contains("The identity provider could not be reached"));

    let res = app.get("/auth/callback?code=abc&state=never-issued", None).await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("already used or has expired"));
    // Anyone can send a browser here with any text: the page says what the code means, in ours.
    let res = app.get("/auth/callback?error=access_denied&error_description=Call+support+at+evil.example%0A2026-12-01+INFO+forged&state=x", None).await;
    assert_eq!(res.status(), 400);
    let page = res.text().await.unwrap();
    assert!(page.contains("you cancelled, or it did not allow you to sign in here"), "{page}");
    assert!(!page.contains("evil.example") && !page.contains("forged"));
    let res = app.get("/auth/callback", None).await;
    assert_eq!(res.status(), 400);
    assert!(app.db.list_users().await.unwrap().is_empty(), "nobody was signed in or created");
    app.stop().await;
}

#[tokio::test]
async fn a_callback_from_another_browser_is_refused() {
    let app = sso_app().await;
    let attempt = SignInAttempt { pkce_verifier: "v".into(), nonce: "n".into(), next: "/".into() };
    let state = "state-started-in-the-victims-browser";
    let hash = zelly_control::auth::hash_secret(state);
    app.db.insert_sign_in_attempt(&hash, &attempt, chrono::Utc::now() + chrono::Duration::minutes(5)).await.unwrap();
    let res = app.get(&format!("/auth/callback?code=attackers-code&state={state}"), None).await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("started in another browser"));
    assert!(app.db.take_sign_in_attempt(&hash).await.unwrap().is_none(), "and the attempt is spent");
    app.stop().await;
}
