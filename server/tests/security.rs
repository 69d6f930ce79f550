//! The attacks a security review found, each tried against the real server and refused: DNS
//! rebinding, an open redirect after sign-in, one client locking everyone out from behind a
//! proxy, unbounded live log streams, sessions and tokens of people whose access was taken
//! away, and provider text forging log lines. (An identity provider's unverified or
//! look-alike accounts: tests/browser/sso.test.js, with a real provider.)

mod common;

use app::model::users::UserAccess;
use app::model::run::RunStatus;
use app::model::Role;
use common::{Backend, TestApp};
use serde_json::json;
use zelly_control::db::MAX_SESSIONS_PER_USER;

/// A page served as `rebind.attacker.example` whose name now resolves to 127.0.0.1.
const REBOUND: &str = "rebind.attacker.example";

fn port(app: &TestApp) -> u16 {
    app.url.rsplit(':').next().unwrap().parse().unwrap()
}

async fn sign_in_with(app: &TestApp, host: Option<&str>, origin: Option<&str>, next: &str) -> reqwest::Response {
    let mut req = app.client.post(app.url("/auth/dev/login")).form(&[("user", "asha"), ("next", next)]);
    if let Some(host) = host {
        req = req.header("host", host);
    }
    if let Some(origin) = origin {
        req = req.header("origin", origin);
    }
    req.send().await.unwrap()
}

on_both_backends! {
    async fn a_page_on_another_name_cannot_sign_in_or_read_anything(app) {
        let rebound = format!("{REBOUND}:{}", port(&app));
        let res = sign_in_with(&app, Some(&rebound), Some(&format!("http://{rebound}")), "/").await;
        assert_eq!(res.status(), 400, "a host this server is not");
        assert!(res.headers().get("set-cookie").is_none());
        assert!(res.text().await.unwrap().contains("server.allowed_hosts"));
        assert!(app.db.list_users().await.unwrap().is_empty(), "nobody was signed in or created");

        let token = app.token("meera", Role::Viewer).await;
        let read = app.client.get(app.url("/api/v1/environments")).bearer_auth(&token).header("host", &rebound).send().await.unwrap();
        assert_eq!(read.status(), 400, "reads too: the page would see the answer");
        let health = app.client.get(app.url("/healthz")).header("host", "10.0.0.5:8080").send().await.unwrap();
        assert_eq!(health.status(), 200, "load balancers check health by address");

        // The same names with the server's own port are fine, whichever loopback name is used.
        for name in ["127.0.0.1", "localhost", "[::1]"] {
            let res = app.client.get(app.url("/login")).header("host", format!("{name}:{}", port(&app))).send().await.unwrap();
            assert_eq!(res.status(), 200, "{name}");
        }
    }

    async fn a_form_on_another_site_cannot_sign_anyone_in(app) {
        // Anonymous posts are checked too: a forced sign-in is how a rebinding page started.
        let res = sign_in_with(&app, None, Some("http://evil.example"), "/").await;
        assert_eq!(res.status(), 403);
        assert!(res.headers().get("set-cookie").is_none());
        let res = sign_in_with(&app, None, Some("null"), "/").await;
        assert_eq!(res.status(), 403, "an opaque origin is another site too");
        assert!(app.db.list_users().await.unwrap().is_empty());
        let own = app.url.clone();
        assert_eq!(sign_in_with(&app, None, Some(&own), "/").await.status(), 303, "this site's own form works");
    }

    async fn after_sign_in_the_browser_stays_on_this_site(app) {
        for next in ["/\t/evil.example", "/\n/evil.example", "//evil.example", "/\\evil.example", "https://evil.example/"] {
            let res = sign_in_with(&app, None, None, next).await;
            assert_eq!(res.status(), 303);
            assert_eq!(res.headers()["location"], "/", "{next:?}");
        }
        let page = app.get("/login?next=/%09/evil.example", None).await.text().await.unwrap();
        assert!(!page.contains("evil.example"), "the sign-in page does not carry it on");
        let res = sign_in_with(&app, None, None, "/runs/3?tab=log").await;
        assert_eq!(res.headers()["location"], "/runs/3?tab=log", "a path of this site is kept");
    }
}

#[tokio::test]
async fn names_in_allowed_hosts_and_the_public_url_are_answered() {
    let app = TestApp::start_with(Backend::Sqlite, |c| {
        c.server.allowed_hosts = vec!["zelly.internal".into()];
        c.server.public_url = Some("http://zelly.example.com".parse().unwrap());
    })
    .await;
    for host in ["zelly.internal", "zelly.internal:8443", "zelly.example.com", "zelly.example.com:80"] {
        let res = app.client.get(app.url("/login")).header("host", host).send().await.unwrap();
        assert_eq!(res.status(), 200, "{host}");
    }
    for host in ["zelly.example.com:8080", "evil.internal", REBOUND] {
        let res = app.client.get(app.url("/login")).header("host", host).send().await.unwrap();
        assert_eq!(res.status(), 400, "{host}");
    }
    app.stop().await;
}

/// Behind a load balancer every connection comes from it: the limit must key on the client.
#[tokio::test]
async fn behind_a_trusted_proxy_one_client_cannot_lock_out_the_others() {
    let app = TestApp::start_with(Backend::Sqlite, |c| {
        c.auth.login_attempts_per_minute = 2;
        c.server.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    let attempt = |client: &'static str| {
        app.client.post(app.url("/auth/dev/login")).header("x-forwarded-for", client).form(&[("user", "nobody-configured")]).send()
    };
    // Failed attempts count.
    for _ in 0..2 {
        assert_eq!(attempt("198.51.100.7").await.unwrap().status(), 400);
    }
    assert_eq!(attempt("198.51.100.7").await.unwrap().status(), 429, "the guesser is stopped");
    let forged = app.client.post(app.url("/auth/dev/login")).header("x-forwarded-for", "203.0.113.1, 198.51.100.7")
        .form(&[("user", "asha")]).send().await.unwrap();
    assert_eq!(forged.status(), 429, "what the client wrote left of the proxy's entry is not believed");
    let other = app.client.post(app.url("/auth/dev/login")).header("x-forwarded-for", "203.0.113.9").form(&[("user", "asha")]).send().await.unwrap();
    assert_eq!(other.status(), 303, "everyone else still signs in");
    let events = app.db.list_audit(100, None).await.unwrap();
    let signed_in = events.iter().find(|e| e.action == "auth.signed_in").expect("the sign-in row");
    let details: serde_json::Value = serde_json::from_str(&signed_in.details).unwrap();
    assert_eq!(details["address"], "203.0.113.9", "the audit row names the client, not the proxy");
    app.stop().await;

    // From a peer that is not a trusted proxy the header is ignored: it cannot buy fresh attempts.
    let app = TestApp::start_with(Backend::Sqlite, |c| c.auth.login_attempts_per_minute = 2).await;
    for (i, client) in ["198.51.100.1", "198.51.100.2", "198.51.100.3"].into_iter().enumerate() {
        let res = app.client.post(app.url("/auth/dev/login")).header("x-forwarded-for", client).form(&[("user", "nobody")]).send().await.unwrap();
        assert_eq!(res.status(), if i < 2 { 400 } else { 429 }, "{client}");
    }
    app.stop().await;
}

/// Opens a run's live log and keeps it open (the response is the open stream).
async fn open_stream(app: &TestApp, token: &str, run: i64) -> reqwest::Response {
    app.client.get(app.url(&format!("/api/v1/runs/{run}/log/stream"))).bearer_auth(token).send().await.unwrap()
}

/// The log text a stream's `log` events carry, in order.
fn log_text(raw: &str) -> String {
    raw.split("\n\n")
        .filter(|event| event.lines().any(|l| l == "event: log"))
        .map(|event| event.lines().filter_map(|l| l.strip_prefix("data: ").or(l.strip_prefix("data:"))).collect::<Vec<_>>().join("\n"))
        .collect()
}

async fn gauge(app: &TestApp, token: &str, name: &str) -> f64 {
    let text = app.get("/metrics", Some(token)).await.text().await.unwrap();
    text.lines().find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok())).unwrap_or(0.0)
}

#[tokio::test]
async fn live_log_streams_are_capped_and_share_one_reader_per_run() {
    let app = TestApp::start_with(Backend::Sqlite, |c| {
        c.runs.live_streams_per_user = 3;
        c.runs.live_streams_total = 4;
    })
    .await;
    let (ravi, meera) = (app.token("ravi", Role::Viewer).await, app.token("meera", Role::Operator).await);
    // An apply waits for its approval: its stream stays open.
    let waiting = app.start_run("staging", &meera, "apply").await;
    app.wait_for(waiting, RunStatus::Planned).await;

    let mut held = Vec::new();
    for _ in 0..3 {
        let res = open_stream(&app, &ravi, waiting).await;
        assert_eq!(res.status(), 200);
        held.push(res);
    }
    let refused = open_stream(&app, &ravi, waiting).await;
    assert_eq!(refused.status(), 429, "a fourth stream for one user");
    assert!(refused.headers().contains_key("retry-after"));
    assert!(refused.text().await.unwrap().contains("live log streams open"));
    let fourth = open_stream(&app, &meera, waiting).await;
    assert_eq!(fourth.status(), 200, "another user has their own allowance");
    held.push(fourth);
    assert_eq!(open_stream(&app, &meera, waiting).await.status(), 429, "but the server's total is reached");

    common::until("four streams counted", async || gauge(&app, &meera, "zelly_log_streams_open").await == 4.0).await;
    assert_eq!(gauge(&app, &meera, "zelly_log_stream_readers").await, 1.0, "four streams of one run, one reader");

    // The run goes on: every stream sees the apply to its end, then lets go of its place.
    let approver = app.token("vikram", Role::Approver).await;
    let res = app.post_json(&format!("/api/v1/runs/{waiting}/approve"), &approver, json!({})).await;
    assert_eq!(res.status(), 200);
    let mut logs = Vec::new();
    for mut stream in held {
        let mut raw = String::new();
        while let Some(chunk) = stream.chunk().await.unwrap() {
            raw.push_str(&String::from_utf8_lossy(&chunk));
        }
        assert!(raw.contains("event: end\ndata: applied"), "{raw}");
        logs.push(log_text(&raw));
    }
    let stored = app.log(waiting).await;
    assert!(stored.contains("Apply complete"), "{stored}");
    assert!(logs.iter().all(|text| *text == stored), "every stream has the whole log, once: {logs:#?}");
    common::until("the streams to be let go", async || gauge(&app, &meera, "zelly_log_streams_open").await == 0.0).await;
    common::until("the reader to stop", async || gauge(&app, &meera, "zelly_log_stream_readers").await == 0.0).await;
    assert_eq!(open_stream(&app, &ravi, waiting).await.status(), 200, "places are given back");
    app.stop().await;
}

on_both_backends! {
    async fn a_disabled_user_is_out_at_once_and_cannot_come_back(app) {
        let admin = app.token("asha", Role::Admin).await;
        let ravi_token = app.token("ravi", Role::Operator).await;
        let ravi_browser = app.dev_sign_in("ravi").await;
        assert_eq!(app.get("/api/v1/environments", Some(&ravi_token)).await.status(), 200, "the token is cached now");

        let res = app.post_json("/api/v1/users/ravi/disable", &admin, json!({ "reason": "left the company" })).await;
        assert_eq!(res.status(), 200);
        let access: UserAccess = res.json().await.unwrap();
        assert!(access.disabled_at.is_some());
        assert_eq!(access.disabled_reason, "left the company");

        assert_eq!(app.get("/api/v1/environments", Some(&ravi_token)).await.status(), 401, "the token is refused at once");
        let page = app.client.get(app.url("/")).header("cookie", &ravi_browser).send().await.unwrap();
        assert_eq!(page.status(), 303, "the session is over");
        let again = app.client.post(app.url("/auth/dev/login")).form(&[("user", "ravi"), ("next", "/")]).send().await.unwrap();
        assert_eq!(again.status(), 403);
        assert!(again.headers().get("set-cookie").is_none());
        assert!(again.text().await.unwrap().contains("ravi is disabled"));

        let res = app.post_json("/api/v1/users/ravi/enable", &admin, json!({})).await;
        assert_eq!(res.status(), 200);
        assert_eq!(app.get("/api/v1/environments", Some(&ravi_token)).await.status(), 200, "enabled: the same token works again");
        app.dev_sign_in("ravi").await;

        let actions: Vec<String> = app.db.list_audit(100, None).await.unwrap().into_iter().map(|e| e.action).collect();
        for action in ["user.disabled", "auth.sign_in_refused", "user.enabled"] {
            assert!(actions.iter().any(|a| a == action), "{action} in {actions:?}");
        }
    }

    async fn only_admins_change_access_and_never_their_own(app) {
        let admin = app.token("asha", Role::Admin).await;
        let operator = app.token("meera", Role::Operator).await;
        let res = app.post_json("/api/v1/users/asha/disable", &operator, json!({ "reason": "coup" })).await;
        assert_eq!(res.status(), 403);
        let res = app.client.put(app.url("/api/v1/users/meera")).bearer_auth(&operator).body("not even json").send().await.unwrap();
        assert_eq!(res.status(), 403, "the role is checked before the body is read");
        let res = app.post_json("/api/v1/users/asha/disable", &admin, json!({ "reason": "oops" })).await;
        assert_eq!(res.status(), 422, "not yourself");
        let res = app.post_json("/api/v1/users/meera/disable", &admin, json!({})).await;
        assert_eq!(res.status(), 422, "a reason is required");
        let res = app.post_json("/api/v1/users/nobody/disable", &admin, json!({ "reason": "x" })).await;
        assert_eq!(res.status(), 404);
        let res = app.client.put(app.url("/api/v1/users/meera")).bearer_auth(&admin).json(&json!({ "role": "overlord" })).send().await.unwrap();
        assert_eq!(res.status(), 422);
        assert_eq!(app.db.find_user("meera").await.unwrap().unwrap().role, Role::Operator, "nothing changed");

        let res = app.client.put(app.url("/api/v1/users/meera")).bearer_auth(&admin).json(&json!({ "role": "viewer" })).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.json::<UserAccess>().await.unwrap().role, Role::Viewer);
        let res = app.post_json("/api/v1/environments/staging/runs", &operator, json!({ "kind": "plan" })).await;
        assert_eq!(res.status(), 403, "her token is a viewer's now, at once");
    }

    async fn the_users_page_disables_and_enables_with_plain_forms(app) {
        app.token("ravi", Role::Operator).await;
        let asha = app.dev_sign_in("asha").await;
        let page = app.client.get(app.url("/users")).header("cookie", &asha).send().await.unwrap().text().await.unwrap();
        assert!(page.contains(r#"action="/users/ravi/disable""#) && page.contains(r#"action="/users/ravi/role""#));
        assert!(!page.contains(r#"action="/users/asha/disable""#), "no button to lock yourself out");

        let res = app.post_form("/users/ravi/disable", &asha, &[("reason", "laptop stolen")]).await;
        assert_eq!(res.status(), 303);
        let back = res.headers()["location"].to_str().unwrap().to_string();
        assert!(back.starts_with("/users?done="), "{back}");
        let page = app.client.get(app.url(&back)).header("cookie", &asha).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("Disabled ravi") && page.contains("laptop stolen") && page.contains(r#"action="/users/ravi/enable""#));
        let res = app.post_form("/users/ravi/role", &asha, &[("role", "approver")]).await;
        assert_eq!(res.status(), 303);
        assert_eq!(app.db.find_user("ravi").await.unwrap().unwrap().role, Role::Approver);
        let res = app.post_form("/users/ravi/enable", &asha, &[]).await;
        assert_eq!(res.status(), 303);
        assert!(app.db.find_user("ravi").await.unwrap().unwrap().disabled_at.is_none());
    }
}

#[tokio::test]
async fn over_https_the_session_cookie_is_host_prefixed() {
    let app = TestApp::start_with(Backend::Sqlite, |c| {
        c.server.public_url = Some("https://zelly.example.com".parse().unwrap());
        c.server.allowed_hosts = vec!["127.0.0.1".into()];
    })
    .await;
    let res = app.client.post(app.url("/auth/dev/login")).form(&[("user", "asha"), ("next", "/")]).send().await.unwrap();
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("__Host-zelly_session="), "{cookie}");
    assert!(cookie.contains("Secure") && cookie.contains("Path=/") && !cookie.contains("Domain"), "{cookie}");
    let id = cookie.split(';').next().unwrap().split_once('=').unwrap().1.to_string();
    let planted = app.client.get(app.url("/")).header("cookie", format!("zelly_session={id}")).send().await.unwrap();
    assert_eq!(planted.status(), 303, "the unprefixed name, which a sibling domain could set, is not read");
    let own = app.client.get(app.url("/")).header("cookie", format!("__Host-zelly_session={id}")).send().await.unwrap();
    assert_eq!(own.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn signing_in_again_and_again_keeps_a_bounded_number_of_sessions() {
    let app = TestApp::start_with(Backend::Sqlite, |c| c.auth.login_attempts_per_minute = 0).await;
    let first = app.dev_sign_in("asha").await;
    for _ in 0..(MAX_SESSIONS_PER_USER + 4) {
        app.dev_sign_in("asha").await;
    }
    let latest = app.dev_sign_in("asha").await;
    let kept = app.db.query_count("SELECT COUNT(*) FROM sessions").await.unwrap();
    assert_eq!(kept, MAX_SESSIONS_PER_USER, "the oldest ones ended");
    assert_eq!(app.client.get(app.url("/")).header("cookie", &first).send().await.unwrap().status(), 303, "the first is over");
    assert_eq!(app.client.get(app.url("/")).header("cookie", &latest).send().await.unwrap().status(), 200);
    app.stop().await;
}
