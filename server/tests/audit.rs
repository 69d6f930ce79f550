//! The audit log for reviewers: filters by actor, environment, action and time, paging, the CSV
//! export, and the page. (That rows cannot be changed or deleted is in storage.rs.)

use crate::common;

use app::model::audit::AuditPage;
use app::model::Role;
use serde_json::{json, Value};
use zelly_control::db::audit::NewAuditEvent;

async fn events(app: &common::TestApp, token: &str, query: &str) -> AuditPage {
    app.get_as(&format!("/api/v1/audit?{query}"), token).await
}

fn actions(page: &AuditPage) -> Vec<&str> {
    page.events.iter().map(|e| e.action.as_str()).collect()
}

async fn record(app: &common::TestApp, actor: &str, action: &'static str, environment: Option<&str>) {
    let event = NewAuditEvent {
        actor: actor.into(),
        action: action.parse().expect("an audit action"),
        environment: environment.map(Into::into),
        target: Some("zelly/redis/auth".into()),
        details: json!({ "keys": ["REDIS_PASSWORD"] }),
    };
    app.db.append_audit(&event).await.unwrap();
}

on_both_backends! {
    async fn reviewers_filter_by_actor_environment_action_and_time_and_page_through(app) {
        let admin = app.token("asha", Role::Admin).await;
        record(&app, "ravi", "secret.reveal", Some("production")).await;
        record(&app, "meera", "secret.rotate", Some("staging")).await;
        record(&app, "meera", "run.created", Some("staging")).await;
        record(&app, "ravi", "run.approved", Some("production")).await;

        assert_eq!(actions(&events(&app, &admin, "actor=ravi").await), ["run.approved", "secret.reveal"]);
        assert_eq!(actions(&events(&app, &admin, "environment=staging").await), ["run.created", "secret.rotate"]);
        assert_eq!(actions(&events(&app, &admin, "action=secret.").await), ["secret.rotate", "secret.reveal"], "a prefix");
        assert_eq!(actions(&events(&app, &admin, "action=secret.reveal&actor=ravi").await), ["secret.reveal"]);
        assert_eq!(actions(&events(&app, &admin, "action=secret").await), Vec::<&str>::new(), "not a prefix without the dot");
        // Empty fields (a GET form sends them all) mean "any".
        assert_eq!(actions(&events(&app, &admin, "actor=&environment=&action=run.&since=&until=").await), ["run.approved", "run.created"]);

        let today = chrono::Utc::now().date_naive();
        let yesterday = today.pred_opt().unwrap();
        assert_eq!(actions(&events(&app, &admin, &format!("since={today}&action=run.")).await).len(), 2);
        assert_eq!(actions(&events(&app, &admin, &format!("until={yesterday}")).await).len(), 0, "until a day includes that day only");
        assert_eq!(actions(&events(&app, &admin, &format!("until={today}&action=secret.")).await).len(), 2);

        let first = events(&app, &admin, "actor=meera&limit=1").await;
        assert_eq!(actions(&first), ["run.created"]);
        let before = first.next_before.expect("an older page");
        let second = events(&app, &admin, &format!("actor=meera&limit=1&before={before}")).await;
        assert_eq!(actions(&second), ["secret.rotate"]);
        assert_eq!(second.next_before, None, "the last page says so");

        for bad in ["since=yesterday", "until=2026-13-01", "since=2026-11-02&until=2026-11-01", "limit=1001", "before=x"] {
            let res = app.get(&format!("/api/v1/audit?{bad}"), Some(&admin)).await;
            assert_eq!(res.status(), 400, "{bad}");
            assert_eq!(res.json::<Value>().await.unwrap()["error"], "bad_request");
        }
    }

    async fn the_csv_export_follows_the_filters_and_is_for_admins(app) {
        let admin = app.token("asha", Role::Admin).await;
        let approver = app.token("ravi", Role::Approver).await;
        record(&app, "ravi", "secret.reveal", Some("production")).await;
        record(&app, "=cmd|' /C calc'!A0", "run.created", Some("staging")).await;

        assert_eq!(app.get("/api/v1/audit.csv", Some(&approver)).await.status(), 403);
        let res = app.get("/api/v1/audit.csv?action=secret.", Some(&admin)).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
        let text = res.text().await.unwrap();
        let rows: Vec<&str> = text.split("\r\n").filter(|r| !r.is_empty()).collect();
        assert_eq!(rows[0], "id,at,actor,action,environment,target,details");
        assert_eq!(rows.len(), 2);
        assert!(rows[1].contains(",ravi,secret.reveal,production,zelly/redis/auth,\"{\"\"keys\"\":[\"\"REDIS_PASSWORD\"\"]}\""), "{}", rows[1]);
        let all = app.get("/api/v1/audit.csv?environment=staging", Some(&admin)).await.text().await.unwrap();
        assert!(all.contains(",'=cmd|' /C calc'!A0,run.created,"), "a formula is defused: {all}");
    }

    async fn the_audit_page_is_for_admins_and_works_without_javascript(app) {
        record(&app, "ravi", "secret.reveal", Some("production")).await;
        let admin = app.token("asha", Role::Admin).await;
        let res = app.get("/audit?actor=ravi", Some(&admin)).await;
        assert_eq!(res.status(), 200);
        let html = res.text().await.unwrap();
        assert!(html.contains(r#"data-action="secret.reveal""#), "the filtered event is listed");
        assert!(html.contains("/api/v1/audit.csv?actor=ravi"), "the CSV link keeps the filters");
        assert!(!html.contains(r#"data-action="token.created""#), "other actors' events are not");

        let viewer = app.token("vikram", Role::Viewer).await;
        let html = app.get("/audit", Some(&viewer)).await.text().await.unwrap();
        assert!(html.contains("this needs the admin role"));
        assert!(!html.contains(r#"data-action="secret.reveal""#));
    }
}
