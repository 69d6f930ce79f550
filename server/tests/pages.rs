//! The server-rendered UI: the environments page, the sign-in flow, sessions and their cookies.

use crate::common;

use app::model::Role;

/// The comparison section `id` (`overview`, `services`, …) of the page, as HTML.
fn section<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html.find(&format!(r#"id="{id}""#)).unwrap_or_else(|| panic!("section {id:?} not found"));
    let end = start + html[start..].find("</section>").unwrap();
    &html[start..end]
}

/// The `<tr>` whose label is `label` in comparison section `id`, as HTML.
fn row_of<'a>(html: &'a str, id: &str, label: &str) -> &'a str {
    let html = section(html, id);
    let at = html.find(&format!(">{label}<")).unwrap_or_else(|| panic!("row {label:?} not found"));
    let start = html[..at].rfind("<tr").unwrap();
    let end = at + html[at..].find("</tr>").unwrap();
    &html[start..end]
}

async fn page(app: &common::TestApp, path: &str, token: &str) -> String {
    let res = app.get(path, Some(token)).await;
    assert_eq!(res.status(), 200, "GET {path}");
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    res.text().await.unwrap()
}

on_both_backends! {
    async fn the_environments_page_shows_both_side_by_side_without_javascript(app) {
        let token = app.token("vikram", Role::Viewer).await;
        let html = page(&app, "/", &token).await;
        for text in ["Production", "Staging", "ap-south-1", "ap-southeast-1", "10.0.0.0/16", "10.1.0.0/16",
                     "s3://zelly-terraform-state/production/terraform.tfstate", "cache.t4g.small", "t3.medium, 50 GB gp3",
                     "fastify-nova 4", "created by this root", "read as data sources", "about $460", "about $320",
                     "alb-orion", "nlb-storefront", "zelly/aurora/master", "internal_tools"] {
            assert!(html.contains(text), "page shows {text:?}");
        }
        assert!(row_of(&html, "overview", "VPC CIDR").contains(r#"data-differs="true""#));
        assert!(row_of(&html, "overview", "Deletion protection").contains(r#"data-differs="true""#));
        assert!(row_of(&html, "overview", "State lock table").contains(r#"data-differs="false""#));
        assert!(row_of(&html, "services", "events-consumer").contains(r#"data-differs="false""#));
        // The hydration bundle is referenced, so the page comes alive when the wasm loads.
        assert!(html.contains("/pkg/zelly.js") && html.contains("/pkg/zelly.wasm"));
    }

    async fn only_differences_keeps_just_the_differing_rows(app) {
        let token = app.token("vikram", Role::Viewer).await;
        let html = page(&app, "/?view=differences", &token).await;
        assert!(section(&html, "overview").contains(">VPC CIDR<"));
        assert!(section(&html, "overview").contains(">ElastiCache Redis node<"));
        assert!(!section(&html, "overview").contains(">State lock table<"));
        assert!(!section(&html, "services").contains(">events-consumer<"));
        assert!(!html.contains(r#"data-differs="false""#));
    }

    async fn anonymous_visitors_are_sent_to_sign_in_and_back(app) {
        let res = app.get("/?view=differences", None).await;
        assert_eq!(res.status(), 303);
        assert_eq!(res.headers()["location"], "/login?next=%2F%3Fview%3Ddifferences");

        let login = app.get("/login?next=%2F%3Fview%3Ddifferences", None).await.text().await.unwrap();
        for user in ["Asha Rao", "Ravi Menon", "Meera Iyer", "Vikram Shah"] {
            assert!(login.contains(user), "sign-in page lists {user}");
        }
        assert!(login.contains(r#"value="/?view=differences""#));

        // The UI's server functions answer 401 rather than redirecting.
        assert_eq!(app.client.post(app.url("/app/list_environments")).send().await.unwrap().status(), 401);
    }

    async fn dev_sign_in_starts_a_session_and_sign_out_ends_it(app) {
        let res = app.client.post(app.url("/auth/dev/login"))
            .form(&[("user", "ravi"), ("next", "/?view=differences")]).send().await.unwrap();
        assert_eq!(res.status(), 303);
        assert_eq!(res.headers()["location"], "/?view=differences");
        let set_cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
        assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax") && set_cookie.contains("Path=/"));
        assert!(!set_cookie.contains("Secure"), "plain HTTP: no Secure flag");
        let cookie = set_cookie.split(';').next().unwrap().to_string();

        let html = app.client.get(app.url("/")).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("Ravi Menon") && html.contains("approver"));
        let user = app.db.find_user("ravi").await.unwrap().expect("user created at first sign-in");
        assert_eq!(user.role, Role::Approver);

        let res = app.post_form("/auth/logout", &cookie, &[]).await;
        assert_eq!(res.status(), 303);
        assert!(res.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
        let last = &app.db.list_audit(1, None).await.unwrap()[0];
        assert_eq!((last.action.as_str(), last.actor.as_str()), ("auth.signed_out", "ravi"));
        let res = app.client.get(app.url("/")).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(res.status(), 303, "the ended session no longer works");
        assert!(res.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"), "the stale cookie is cleared");
    }

    async fn sign_in_refuses_unknown_users_and_foreign_redirects(app) {
        let res = app.client.post(app.url("/auth/dev/login")).form(&[("user", "mallory")]).send().await.unwrap();
        assert_eq!(res.status(), 400);
        assert!(res.headers().get("set-cookie").is_none());
        assert!(res.text().await.unwrap().contains("There is no user called"));
        assert!(app.db.find_user("mallory").await.unwrap().is_none());

        let res = app.client.post(app.url("/auth/dev/login"))
            .form(&[("user", "asha"), ("next", "//evil.example/")]).send().await.unwrap();
        assert_eq!(res.headers()["location"], "/");
    }

    async fn a_cross_site_write_with_a_session_is_refused(app) {
        let cookie = app.dev_sign_in("asha").await;
        let res = app.client.post(app.url("/auth/logout"))
            .header("cookie", &cookie).header("origin", "https://evil.example").send().await.unwrap();
        assert_eq!(res.status(), 403);
        let still = app.client.get(app.url("/")).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(still.status(), 200, "the session survived the forged request");
    }

    async fn a_bearer_token_opens_pages_too_and_unknown_pages_are_404(app) {
        let token = app.token("meera", Role::Operator).await;
        let res = app.get("/no/such/page", Some(&token)).await;
        assert_eq!(res.status(), 404);
        assert!(res.text().await.unwrap().contains("Page not found"));
    }
}

#[tokio::test]
async fn without_aws_the_page_still_renders_and_says_so() {
    let app = common::TestApp::start(common::Backend::Sqlite).await;
    let token = app.token("vikram", Role::Viewer).await;
    let res = app.get("/", Some(&token)).await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("Live status unavailable") && html.contains("aws.enabled = false"));
    assert!(html.contains("Metrics are turned off"));
    app.stop().await;
}

#[tokio::test]
async fn expired_sessions_are_refused() {
    let app = common::TestApp::start_with(common::Backend::Sqlite, |_| {}).await;
    let (user, _) = app.db.ensure_user("asha", "", Role::Admin, "test").await.unwrap();
    let id = "expired-session-id";
    let past = chrono::Utc::now() - chrono::Duration::minutes(1);
    app.db.create_session(&zelly_control::auth::hash_secret(id), user.id, past).await.unwrap();
    let res = app.client.get(app.url("/")).header("cookie", format!("zelly_session={id}")).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(app.db.purge_expired_sessions(zelly_control::auth::sessions::idle_since(&app.config.auth)).await.unwrap(), 1);
}

#[tokio::test]
async fn secure_cookies_behind_https() {
    let app = common::TestApp::start_with(common::Backend::Sqlite, |c| {
        c.server.public_url = Some("https://zelly.example.com".parse().unwrap());
    })
    .await;
    let res = app.client.post(app.url("/auth/dev/login")).form(&[("user", "asha")]).send().await.unwrap();
    assert!(res.headers()["set-cookie"].to_str().unwrap().contains("Secure"));
}

#[tokio::test]
async fn the_cost_page_renders_in_full_on_the_server() {
    let app = common::TestApp::start(common::Backend::Sqlite).await;
    let token = app.token("vikram", Role::Viewer).await;
    let html = page(&app, "/costs", &token).await;
    let costs: serde_json::Value = app.get("/api/v1/costs", Some(&token)).await.json().await.unwrap();
    for env in costs["environments"].as_array().unwrap() {
        let total = app::model::cost::usd(env["monthly_total"].as_f64().unwrap());
        assert!(html.contains(&total), "the page shows {total} like the API");
    }
    for text in ["Containers (ECS Fargate)", "Serverless v2 capacity", "Fargate task-hours on Spot", "Download CSV",
                 "Actual spend: Cost Explorer is not read", "Monthly cost by category and environment"] {
        assert!(html.contains(text), "page shows {text:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn pages_allow_only_their_own_scripts_and_cannot_be_framed() {
    let app = common::TestApp::start(common::Backend::Sqlite).await;
    let token = app.token("vikram", Role::Viewer).await;
    let res = app.get("/", Some(&token)).await;
    let csp = res.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert_eq!(res.headers()["x-frame-options"], "DENY");
    assert_eq!(res.headers()["referrer-policy"], "same-origin");
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("object-src 'none'"), "{csp}");
    let nonce = csp.split("'nonce-").nth(1).and_then(|rest| rest.split('\'').next()).expect("a script nonce").to_string();
    assert!(nonce.len() >= 32, "a fresh random nonce");

    // Every script of the page carries this response's nonce: nothing else inline may run.
    let html = res.text().await.unwrap();
    let scripts: Vec<&str> = html.match_indices("<script").map(|(at, _)| &html[at..at + html[at..].find('>').unwrap()]).collect();
    assert!(!scripts.is_empty());
    for tag in scripts {
        assert!(tag.contains(&format!(r#"nonce="{nonce}""#)), "{tag}");
    }
    // A new response, a new nonce; the API and the sign-in page have the headers too.
    let again = app.get("/", Some(&token)).await.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert_ne!(again, csp);
    for path in ["/api/v1/environments", "/login"] {
        let res = app.get(path, Some(&token)).await;
        assert_eq!(res.headers()["x-content-type-options"], "nosniff", "{path}");
        assert!(res.headers().contains_key("content-security-policy"), "{path}");
    }
    app.stop().await;
}

#[tokio::test]
async fn sign_in_attempts_are_rate_limited_per_address() {
    let app = common::TestApp::start_with(common::Backend::Sqlite, |c| c.auth.login_attempts_per_minute = 3).await;
    let attempt = || app.client.post(app.url("/auth/dev/login")).form(&[("user", "nobody"), ("next", "/")]).send();
    for _ in 0..3 {
        assert_eq!(attempt().await.unwrap().status(), 400, "an unknown user, answered");
    }
    let res = attempt().await.unwrap();
    assert_eq!(res.status(), 429);
    assert!(res.text().await.unwrap().contains("Too many sign-in attempts from this address"));
    // Even a right user is refused until the bucket refills: the limit is on attempts.
    let res = app.client.post(app.url("/auth/dev/login")).form(&[("user", "asha"), ("next", "/")]).send().await.unwrap();
    assert_eq!(res.status(), 429);
    assert!(res.headers().get("set-cookie").is_none());
    app.stop().await;
}
