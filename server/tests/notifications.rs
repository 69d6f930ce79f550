//! Notifications against a local receiver (no network): signed webhook events, Slack messages,
//! retries (5xx, 429 with Retry-After), giving up on 4xx, filters, nothing lost across a
//! receiver outage and a killed server, two processes on PostgreSQL sending each delivery once,
//! no secret value in any payload, and the deliveries API and page by role.

use crate::common;

use app::model::notifications::{Delivery, DeliveryPage};
use app::model::run::RunStatus;
use app::model::Role;
use common::receiver::{Receiver, Reply};
use common::{Api, Backend, TestApp, TestDatabase};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use std::time::Duration;
use zelly_control::config::notifications::{Destination, DestinationKind};
use app::model::audit::AuditAction;
use zelly_control::db::audit::NewAuditEvent;
use zelly_control::Config;

const KEY: &str = "a-signing-key-of-some-length";
const PUBLIC_URL: &str = "https://zelly.example.com";

fn webhook(name: &str, url: &str) -> Destination {
    common::receiver::webhook(name, url, KEY)
}

fn slack(name: &str, url: &str) -> Destination {
    Destination { kind: DestinationKind::Slack, signing_key: None, ..webhook(name, url) }
}

/// Short waits, so retries happen within a test; links to the public address.
fn quick(config: &mut Config, destinations: Vec<Destination>) {
    config.notifications.poll_seconds = 0.2;
    config.notifications.retry_first_seconds = 0.1;
    config.server.public_url = Some(PUBLIC_URL.parse().unwrap());
    config.notifications.destinations = destinations;
}

/// What a receiver computes to check `X-Zelly-Signature`.
fn expected_signature(key: &str, body: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    format!("sha256={}", mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect::<String>())
}

async fn deliveries(app: &TestApp, token: &str, query: &str) -> Vec<Delivery> {
    app.get_as::<DeliveryPage>(&format!("/api/v1/notifications/deliveries?{query}"), token).await.deliveries
}

/// Waits until the deliveries matching `query` satisfy `check`, and returns them.
async fn deliveries_until(app: &TestApp, token: &str, query: &str, what: &str, check: impl Fn(&[Delivery]) -> bool) -> Vec<Delivery> {
    common::until(what, async || check(&deliveries(app, token, query).await)).await;
    deliveries(app, token, query).await
}

async fn send_test(app: &TestApp, token: &str, destination: &str) {
    let res = app.post_json(&format!("/api/v1/notifications/destinations/{destination}/test"), token, json!({})).await;
    assert_eq!(res.status(), 202, "{}", res.text().await.unwrap());
}

for_each_backend! {
async fn a_production_plan_waiting_for_approval_reaches_the_webhook_signed_with_a_link(backend) {
    let hook = Receiver::start().await;
    let app = TestApp::start_with(backend, |c| quick(c, vec![webhook("ops", &hook.url())])).await;
    let (meera, asha) = (app.token("meera", Role::Operator).await, app.token("asha", Role::Approver).await);
    let res = app.post_json("/api/v1/environments/production/runs", &meera, json!({ "kind": "apply", "message": "Scale the API" })).await;
    let id = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let run = app.wait_for(id, RunStatus::Planned).await;

    let request = hook.wait_for("run.needs_approval", 1).await.remove(0);
    assert_eq!(request.header("x-zelly-signature"), expected_signature(KEY, &request.body), "the signature verifies");
    assert_eq!(request.header("content-type"), "application/json");
    let body = request.json();
    assert!(body["id"].as_str().unwrap().starts_with("evt_"));
    assert_eq!((body["event"].as_str(), body["environment"].as_str()), (Some("run.needs_approval"), Some("production")));
    assert!(chrono::DateTime::parse_from_rfc3339(body["at"].as_str().unwrap()).is_ok());
    let r = &body["run"];
    assert_eq!(r["id"], id);
    assert_eq!((r["kind"].as_str(), r["status"].as_str()), (Some("apply"), Some("planned")));
    assert_eq!(r["url"], format!("{PUBLIC_URL}/runs/{id}"), "the link opens the run");
    assert_eq!((r["message"].as_str(), r["requested_by"].as_str()), (Some("Scale the API"), Some("meera")));
    assert_eq!(r["plan"], json!({ "add": 0, "change": 1, "destroy": 0 }));
    assert_eq!(r["cost_delta_monthly"].as_f64(), run.cost_diff.as_ref().map(|d| d.monthly_delta));
    assert_eq!(r["approvals"], json!([]));
    assert_eq!(r["commit"].as_str(), run.commit.as_deref());

    let admin = app.token("root", Role::Admin).await;
    let delivered = deliveries_until(&app, &admin, "", "the delivery recorded", |d| d.iter().any(|d| d.status == "delivered")).await;
    let d = &delivered[0];
    assert_eq!((d.destination.as_str(), d.event.as_str(), d.attempts), ("ops", "run.needs_approval", 1));
    assert_eq!(d.delivery_id, request.header("x-zelly-delivery"));
    assert_eq!((d.last_status, d.next_attempt_at), (Some(200), None));

    assert_eq!(app.post_json(&format!("/api/v1/runs/{id}/approve"), &asha, json!({})).await.status(), 200);
    app.wait_for(id, RunStatus::Applied).await;
    let applied = hook.wait_for("run.applied", 1).await.remove(0).json();
    assert_eq!(applied["run"]["status"], "applied");
    assert_eq!(applied["run"]["approvals"][0]["user"], "asha", "the approvals as they were when it applied");
    assert_ne!(applied["id"], body["id"]);
    app.stop().await;
}

async fn a_receiver_failing_with_500s_gets_the_same_delivery_until_it_answers(backend) {
    let hook = Receiver::start().await;
    hook.reply_with(vec![Reply::status(500), Reply::status(503)]);
    let app = TestApp::start_with(backend, |c| quick(c, vec![webhook("ops", &hook.url())])).await;
    let admin = app.token("root", Role::Admin).await;
    send_test(&app, &admin, "ops").await;
    let attempts = hook.wait_for("test", 3).await;
    let ids: Vec<&str> = attempts.iter().map(|a| a.header("x-zelly-delivery")).collect();
    assert!(ids[0].starts_with("dlv_") && ids.iter().all(|id| *id == ids[0]), "one idempotency id across retries: {ids:?}");
    assert!(attempts.iter().all(|a| a.body == attempts[0].body), "every attempt sends the same bytes");
    let d = deliveries_until(&app, &admin, "status=delivered", "delivered", |d| !d.is_empty()).await.remove(0);
    assert_eq!((d.attempts, d.last_status), (3, Some(200)));
    app.stop().await;
}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_is_retried_no_sooner_than_its_retry_after_and_a_404_is_given_up_at_once() {
    let hook = Receiver::start().await;
    hook.reply_with(vec![Reply { retry_after: Some("2"), ..Reply::status(429) }]);
    let app = TestApp::start_with(Backend::Sqlite, |c| quick(c, vec![webhook("ops", &hook.url())])).await;
    let admin = app.token("root", Role::Admin).await;
    send_test(&app, &admin, "ops").await;
    let attempts = hook.wait_for("test", 2).await;
    let waited = attempts[1].at - attempts[0].at;
    assert!(waited >= Duration::from_millis(1900), "Retry-After: 2 honoured (retries start at 0.1 s): waited {waited:?}");
    deliveries_until(&app, &admin, "status=delivered", "the 429'd delivery delivered", |d| d.len() == 1).await;

    hook.reply_with(vec![Reply::status(404)]);
    send_test(&app, &admin, "ops").await;
    let failed = deliveries_until(&app, &admin, "status=failed", "the 404'd delivery failed", |d| d.len() == 1).await.remove(0);
    assert_eq!((failed.attempts, failed.last_status), (1, Some(404)));
    assert_eq!(failed.last_error.as_deref(), Some("HTTP 404: receiver says 404"), "the receiver's answer is kept");
    // A later delivery goes through while the failed one stays at one attempt.
    send_test(&app, &admin, "ops").await;
    hook.wait_for("test", 4).await;
    deliveries_until(&app, &admin, "status=delivered", "the third delivered", |d| d.len() == 2).await;
    let ids: Vec<String> = hook.of("test").iter().map(|r| r.header("x-zelly-delivery").to_string()).collect();
    assert_eq!(ids.iter().filter(|id| **id == failed.delivery_id).count(), 1, "a 404 is not retried: {ids:?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destinations_hear_only_the_events_and_environments_they_ask_for() {
    let (all, picky) = (Receiver::start().await, Receiver::start().await);
    let app = TestApp::start_with(Backend::Sqlite, |c| {
        let narrow = Destination { events: vec!["run.applied".into()], environments: vec!["staging".into()], ..webhook("staging-applies", &picky.url()) };
        quick(c, vec![webhook("everything", &all.url()), narrow]);
    })
    .await;
    let (meera, admin) = (app.token("meera", Role::Operator).await, app.token("root", Role::Admin).await);
    let staging = app.start_run("staging", &meera, "apply").await;
    app.wait_for(staging, RunStatus::Planned).await;
    assert_eq!(app.post_json(&format!("/api/v1/runs/{staging}/approve"), &meera, json!({})).await.status(), 200, "staging: a confirmation");
    app.wait_for(staging, RunStatus::Applied).await;
    let rejected = app.start_run("staging", &meera, "apply").await;
    app.wait_for(rejected, RunStatus::Planned).await;
    assert_eq!(app.post_json(&format!("/api/v1/runs/{rejected}/reject"), &meera, json!({})).await.status(), 200);
    let plan = app.start_run("production", &meera, "plan").await;
    app.wait_for(plan, RunStatus::PlannedAndFinished).await;

    all.wait_for("run.planned", 1).await;
    let heard: Vec<(String, String, i64)> =
        all.received().iter().map(|r| r.json()).map(|b| (b["event"].as_str().unwrap().into(), b["environment"].as_str().unwrap().into(), b["run"]["id"].as_i64().unwrap())).collect();
    assert_eq!(
        heard,
        [
            ("run.needs_approval".into(), "staging".into(), staging),
            ("run.applied".into(), "staging".into(), staging),
            ("run.needs_approval".into(), "staging".into(), rejected),
            ("run.discarded".into(), "staging".into(), rejected),
            ("run.planned".into(), "production".into(), plan),
        ]
    );
    // Every event was routed by the time the last arrived: the narrow destination got its one.
    let narrow = deliveries_until(&app, &admin, "destination=staging-applies", "the narrow delivery", |d| d.iter().all(|d| d.status == "delivered")).await;
    assert_eq!(narrow.iter().map(|d| d.event.as_str()).collect::<Vec<_>>(), ["run.applied"]);
    assert_eq!(picky.received().len(), 1);
    let filtered = deliveries(&app, &admin, "destination=everything&event=run.needs_approval").await;
    assert_eq!(filtered.len(), 2, "the API filters by destination and event");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_gets_a_short_message_with_a_button_to_review_and_approve() {
    let chat = Receiver::start().await;
    let url = format!("http://{}/services/T000/B000/tok3nPart", chat.addr);
    let app = TestApp::start_with(Backend::Sqlite, |c| quick(c, vec![slack("chat", &url)])).await;
    let meera = app.token("meera", Role::Operator).await;
    let id = app.start_run("production", &meera, "apply").await;
    app.wait_for(id, RunStatus::Planned).await;
    let message = chat.wait_for("run.needs_approval", 1).await.remove(0);
    assert_eq!(message.header("x-zelly-signature"), "", "Slack messages are not signed");
    let body = message.json();
    assert_eq!(body["text"], format!("production: run #{id} by meera is waiting for approval"));
    let text = body.to_string();
    for part in ["*Environment*\\nproduction", "*Requested by*\\nmeera", "0 to add, 1 to change, 0 to destroy", "*Monthly cost*"] {
        assert!(text.contains(part), "{part} in {text}");
    }
    let button = &body["blocks"][2]["elements"][0];
    assert_eq!((button["text"]["text"].as_str(), button["url"].as_str()), (Some("Review and approve"), Some(format!("{PUBLIC_URL}/runs/{id}").as_str())));
    assert!(text.len() < 3000, "short: {} bytes", text.len());

    let admin = app.token("root", Role::Admin).await;
    let listing = app.get("/api/v1/notifications/destinations", Some(&admin)).await.text().await.unwrap();
    assert!(listing.contains(&format!("\"target\":\"http://{}\"", chat.addr)), "{listing}");
    assert!(!listing.contains("tok3nPart"), "the URL's token is never shown: {listing}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_changes_name_their_keys_only_and_a_write_that_failed_sends_nothing() {
    let aws = common::Emulator::start();
    let (hook, chat) = (Receiver::start().await, Receiver::start().await);
    // The Slack URL and the signing key live in Secrets Manager (the first environment's).
    aws.put_secret("ap-south-1", "zelly/ops/notify", &json!({ "SLACK_URL": chat.url(), "SIGNING_KEY": KEY }).to_string()).await;
    let app = TestApp::start_with(Backend::Sqlite, |c| {
        common::use_emulator(c, &aws);
        let signed = Destination { signing_key: None, signing_key_secret: Some("zelly/ops/notify#SIGNING_KEY".into()), ..webhook("hook", &hook.url()) };
        let chat = Destination { url: None, url_secret: Some("zelly/ops/notify#SLACK_URL".into()), ..slack("chat", "") };
        quick(c, vec![signed, chat]);
        c.notifications.settle_after_seconds = 1;
    })
    .await;
    let olga = app.token("olga", Role::Operator).await;
    let path = format!("/api/v1/environments/staging/secrets/{}", "zelly%2Fredis%2Fauth");
    let version = app.get(&path, Some(&olga)).await.json::<Value>().await.unwrap()["version_id"].as_str().unwrap().to_string();

    aws.fault(json!({ "operation": "PutSecretValue", "region": "ap-southeast-1", "error": "500", "times": 100 })).await;
    let edit = json!({ "version_id": version, "set": { "REDIS_PASSWORD": "failed-new-value" } });
    let res = app.client.put(app.url(&path)).bearer_auth(&olga).json(&edit).send().await.unwrap();
    assert!(res.status().is_server_error(), "the write fails in AWS: {}", res.status());
    aws.reset().await;
    let edit = json!({ "version_id": version, "set": { "REDIS_PASSWORD": "the-new-password" } });
    let res = app.client.put(app.url(&path)).bearer_auth(&olga).json(&edit).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let written = res.json::<Value>().await.unwrap()["version_id"].as_str().unwrap().to_string();

    let request = hook.wait_for("secret.changed", 1).await.remove(0);
    assert_eq!(request.header("x-zelly-signature"), expected_signature(KEY, &request.body), "signed with the key from the secret");
    let body = request.json();
    assert_eq!(body["secret"]["name"], "zelly/redis/auth");
    assert_eq!((body["secret"]["change"].as_str(), body["secret"]["changed_keys"].clone()), (Some("edit"), json!(["REDIS_PASSWORD"])));
    assert_eq!((body["actor"].as_str(), body["environment"].as_str()), (Some("olga"), Some("staging")));
    let message = chat.wait_for("secret.changed", 1).await.remove(0).json();
    assert!(message.to_string().contains("REDIS_PASSWORD"), "{message}");

    // Two writes whose process died between the audit row and its word from AWS: the sender
    // looks in AWS and announces the one that was made.
    for version in [written.as_str(), "a-version-never-written"] {
        let details = json!({ "version_id": version, "previous_version_id": version, "changed_keys": ["REDIS_HOST"] });
        let event = NewAuditEvent { actor: "olga".into(), action: AuditAction::SecretUpdate, environment: Some("staging".into()), target: Some("zelly/redis/auth".into()), details };
        assert!(app.db.append_audit(&event).await.unwrap().is_some(), "held");
    }
    common::until("the held events settled", async || app.db.held_events(chrono::Utc::now(), 10).await.unwrap().is_empty()).await;
    let admin = app.token("root", Role::Admin).await;
    hook.wait_for("secret.changed", 2).await;
    send_test(&app, &admin, "hook").await;
    hook.wait_for("test", 1).await;
    let announced: Vec<Value> = hook.of("secret.changed").iter().map(|r| r.json()["secret"]["changed_keys"].clone()).collect();
    assert_eq!(announced, [json!(["REDIS_PASSWORD"]), json!(["REDIS_HOST"])], "the failed write and the unmade change were never announced");
    let everything: Vec<String> = hook.received().into_iter().chain(chat.received()).map(|r| format!("{:?} {}", r.headers, r.body)).collect();
    for payload in &everything {
        for value in ["seeded-", "the-new-password", "failed-new-value", KEY] {
            assert!(!payload.contains(value), "{value} in a payload: {payload}");
        }
    }
    let (_, body) = app.get_with_body::<DeliveryPage>("/api/v1/notifications/deliveries", &admin).await;
    assert!(!body.contains(&chat.url()), "the Slack URL is not in the deliveries");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admins_see_deliveries_and_send_tests_and_bad_filters_are_refused() {
    let hook = Receiver::start().await;
    let app = TestApp::start_with(Backend::Sqlite, |c| quick(c, vec![webhook("ops", &hook.url())])).await;
    let admin = app.token("root", Role::Admin).await;
    for role in [Role::Viewer, Role::Operator, Role::Approver] {
        let token = app.token(&format!("someone-{role}"), role).await;
        assert_eq!(app.get("/api/v1/notifications/deliveries", Some(&token)).await.status(), 403, "{role}");
        assert_eq!(app.get("/api/v1/notifications/destinations", Some(&token)).await.status(), 403, "{role}");
        let res = app.post_json("/api/v1/notifications/destinations/ops/test", &token, json!({})).await;
        assert_eq!(res.status(), 403, "{role}");
    }
    for (query, why) in [("status=lost", "status"), ("event=run.exploded", "event"), ("limit=0", "limit"), ("limit=many", "limit")] {
        let res = app.get(&format!("/api/v1/notifications/deliveries?{query}"), Some(&admin)).await;
        assert_eq!(res.status(), 400, "{query}");
        assert!(res.text().await.unwrap().contains(why), "{query}");
    }
    assert_eq!(app.post_json("/api/v1/notifications/destinations/nope/test", &admin, json!({})).await.status(), 404);
    assert!(deliveries(&app, &admin, "").await.is_empty(), "refused tests queue nothing");
    let audit = app.db.list_audit(100, None).await.unwrap();
    assert!(audit.iter().all(|e| e.action != "notification.test"), "refusals change nothing");

    // The page: the destinations for admins, with a plain-form test button; a refusal for others.
    let cookie = app.dev_sign_in("asha").await;
    let res = app.post_form("/notifications/destinations/ops/test", &cookie, &[]).await;
    assert_eq!((res.status().as_u16(), res.headers()["location"].to_str().unwrap()), (303, "/notifications?sent=ops"));
    hook.wait_for("test", 1).await;
    let html = app.client.get(app.url("/notifications")).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("data-destination=\"ops\"") && html.contains("data-send-test=\"ops\""), "{html}");
    assert!(html.contains("data-status=\"delivered\"") || html.contains("data-status=\"pending\""), "the test's delivery is listed");
    let viewer = app.dev_sign_in("vikram").await;
    let html = app.client.get(app.url("/notifications")).header("cookie", &viewer).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("needs the admin role") && !html.contains("data-destination"), "{html}");
    let audit = app.db.list_audit(100, None).await.unwrap();
    assert_eq!(audit.iter().filter(|e| e.action == "notification.test").count(), 1, "a test is audited");
    app.stop().await;
}

/// The server as its own process, configured by a file.
fn config_file(dir: &std::path::Path, url: &str) -> Vec<(String, String)> {
    let path = dir.join("zelly.toml");
    let text = format!(
        "[notifications]\npoll_seconds = 0.2\nretry_first_seconds = 0.2\n\n[[notifications.destinations]]\nname = \"ops\"\nkind = \"webhook\"\nurl = \"{url}\"\nsigning_key = \"{KEY}\"\n"
    );
    std::fs::write(&path, text).unwrap();
    vec![("ZELLY_CONFIG".into(), path.display().to_string()), ("ZELLY_AWS__ENABLED".into(), "false".into())]
}

fn api(url: &str) -> Api {
    Api { client: reqwest::Client::new(), url: url.to_string() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_when_the_receiver_is_down_and_the_server_is_killed() {
    let db = TestDatabase::new(Backend::Sqlite).await;
    let addr = Receiver::free_address();
    // A Slack-like URL: its path is what lets anyone post.
    let vars = config_file(db.dir.path(), &format!("http://{addr}/services/T0/B0/s3cr3tPath"));
    let (server, admin) = common::LoggedServer::start(&db, &vars);
    let first = api(&server.url);
    let (status, _) = first.post("/api/v1/notifications/destinations/ops/test", &admin, json!({})).await;
    assert_eq!(status, 202);
    let mut pending = None;
    common::until("a failed attempt", async || {
        let page: DeliveryPage = first.get_as("/api/v1/notifications/deliveries", &admin).await;
        pending = page.deliveries.into_iter().next().filter(|d| d.status == "pending" && d.last_error.is_some());
        pending.is_some()
    })
    .await;
    let pending = pending.unwrap();
    assert!(pending.last_error.as_deref().unwrap().contains("onnection refused"), "{pending:?}");
    server.kill();

    let hook = Receiver::start_on(addr).await;
    let (server, admin) = common::LoggedServer::start(&db, &vars);
    let got = hook.wait_for("test", 1).await;
    assert_eq!(got[0].header("x-zelly-delivery"), pending.delivery_id, "the same delivery, after the restart");
    let again = api(&server.url);
    common::until("the delivery recorded", async || {
        let page: DeliveryPage = again.get_as("/api/v1/notifications/deliveries", &admin).await;
        page.deliveries.first().is_some_and(|d| d.status == "delivered")
    })
    .await;
    let output = server.finish();
    for line in output.lines().filter(|l| l.contains("s3cr3tPath") || l.contains(KEY)) {
        panic!("neither the URL's path nor the key is logged: {line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_postgres_send_each_delivery_once() {
    let db = TestDatabase::new(Backend::Postgres).await;
    let hook = Receiver::start().await;
    hook.always(Reply { delay: Duration::from_millis(50), ..Reply::status(200) });
    let vars = config_file(db.dir.path(), &hook.url());
    let (a, admin) = common::LoggedServer::start(&db, &vars);
    let (b, _) = common::LoggedServer::start(&db, &vars);
    let (one, two) = (api(&a.url), api(&b.url));
    for i in 0..30 {
        let server = if i % 2 == 0 { &one } else { &two };
        assert_eq!(server.post("/api/v1/notifications/destinations/ops/test", &admin, json!({})).await.0, 202);
    }
    common::until("30 deliveries delivered", async || {
        let page: DeliveryPage = one.get_as("/api/v1/notifications/deliveries?status=delivered&limit=100", &admin).await;
        page.deliveries.len() == 30
    })
    .await;
    let mut ids: Vec<String> = hook.received().iter().map(|r| r.header("x-zelly-delivery").to_string()).collect();
    assert_eq!(ids.len(), 30, "one request per delivery");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 30, "thirty different deliveries");
    a.finish();
    b.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_deliveries_and_their_events_are_pruned_and_newer_ones_kept() {
    let hook = Receiver::start().await;
    let app = TestApp::start_with(Backend::Sqlite, |c| quick(c, vec![webhook("ops", &hook.url())])).await;
    let admin = app.token("root", Role::Admin).await;
    send_test(&app, &admin, "ops").await;
    deliveries_until(&app, &admin, "status=delivered", "the first delivered", |d| d.len() == 1).await;
    let cutoff = chrono::Utc::now();
    send_test(&app, &admin, "ops").await;
    deliveries_until(&app, &admin, "status=delivered", "the second delivered", |d| d.len() == 2).await;
    assert_eq!(app.db.prune_notifications(cutoff).await.unwrap(), 1, "the one created before the cutoff");
    let kept = deliveries(&app, &admin, "").await;
    assert_eq!(kept.len(), 1);
    assert!(kept[0].created_at >= cutoff);
    app.stop().await;
}
