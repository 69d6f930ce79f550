//! The JSON API: environments, authentication and roles, errors.

use crate::common;

use app::model::Role;
use serde_json::Value;

async fn json(res: reqwest::Response) -> Value {
    res.json().await.expect("JSON body")
}

on_both_backends! {
    async fn environments_lists_both_with_their_regions(app) {
        let token = app.token("vikram", Role::Viewer).await;
        let res = app.get("/api/v1/environments", Some(&token)).await;
        assert_eq!(res.status(), 200);
        let body = json(res).await;
        let envs = body["environments"].as_array().unwrap();
        let pairs: Vec<(&str, &str)> =
            envs.iter().map(|e| (e["name"].as_str().unwrap(), e["region"].as_str().unwrap())).collect();
        assert_eq!(pairs, [("production", "ap-south-1"), ("staging", "ap-southeast-1")]);
        assert_eq!(envs[0]["network"]["vpc_cidr"], "10.0.0.0/16");
        assert_eq!(envs[1]["services"].as_array().unwrap().len(), 6);
    }

    async fn one_environment_by_name(app) {
        let token = app.token("vikram", Role::Viewer).await;
        let body = json(app.get("/api/v1/environments/staging", Some(&token)).await).await;
        assert_eq!(body["name"], "staging");
        assert_eq!(body["terraform"]["root_dir"], "terraform/environments/staging");
        assert_eq!(body["deletion_protection"], false);
    }

    async fn an_unknown_environment_is_a_json_404(app) {
        let token = app.token("vikram", Role::Viewer).await;
        let res = app.get("/api/v1/environments/qa", Some(&token)).await;
        assert_eq!(res.status(), 404);
        let body = json(res).await;
        assert_eq!(body["error"], "not_found");
        assert!(body["message"].as_str().unwrap().contains("qa"));
    }

    async fn unknown_endpoints_and_methods_answer_in_json(app) {
        let token = app.token("vikram", Role::Viewer).await;
        let res = app.get("/api/v1/nothing-here", Some(&token)).await;
        assert_eq!(res.status(), 404);
        assert_eq!(json(res).await["error"], "not_found");
        let res = app.client.delete(app.url("/api/v1/environments")).bearer_auth(&token).send().await.unwrap();
        assert_eq!(res.status(), 405);
        assert_eq!(json(res).await["error"], "method_not_allowed");
    }

    async fn missing_malformed_unknown_and_revoked_tokens_get_401(app) {
        let res = app.get("/api/v1/environments", None).await;
        assert_eq!(res.status(), 401);
        assert_eq!(json(res).await["error"], "unauthorized");

        let res = app.client.get(app.url("/api/v1/environments")).header("authorization", "Basic dTpw").send().await.unwrap();
        assert_eq!(res.status(), 401);

        let res = app.get("/api/v1/environments", Some("zc_not-a-real-token")).await;
        assert_eq!(res.status(), 401);
        assert!(json(res).await["message"].as_str().unwrap().contains("unknown or revoked"));

        // (Revoked before its first use: the server has not verified and remembered it yet; see
        // users.rs and cli.rs for revoking a token in use.)
        let token = app.token("vikram", Role::Viewer).await;
        app.db.revoke_token(&token[..10], "test").await.unwrap().expect("revoked");
        assert_eq!(app.get("/api/v1/environments", Some(&token)).await.status(), 401);
    }

    async fn the_wrong_role_gets_403(app) {
        let viewer = app.token("vikram", Role::Viewer).await;
        let res = app.get("/api/v1/audit", Some(&viewer)).await;
        assert_eq!(res.status(), 403);
        let body = json(res).await;
        assert_eq!(body["error"], "forbidden");
        assert!(body["message"].as_str().unwrap().contains("admin"));

        let admin = app.token("asha", Role::Admin).await;
        let res = app.get("/api/v1/audit?limit=10", Some(&admin)).await;
        assert_eq!(res.status(), 200);
        let events = json(res).await["events"].as_array().unwrap().clone();
        // Newest first: asha's token was created after vikram's.
        assert_eq!(events[0]["action"], "token.created");
        assert_eq!(events[0]["target"], "asha");
        assert_eq!(app.get("/api/v1/audit?limit=0", Some(&admin)).await.status(), 400);
        let res = app.get("/api/v1/audit?limit=ten", Some(&admin)).await;
        assert_eq!(res.status(), 400);
        assert_eq!(res.json::<serde_json::Value>().await.unwrap()["error"], "bad_request", "a query that does not parse is the API's JSON error");
    }

    async fn health_needs_no_credentials_and_readiness_asks_the_database(app) {
        let res = app.get("/healthz", None).await;
        assert_eq!(res.status(), 200);
        let res = app.get("/readyz", Some("zc_garbage")).await;
        assert_eq!(res.status(), 200);
        let expected = match app.backend { common::Backend::Sqlite => "sqlite", common::Backend::Postgres => "postgres" };
        assert_eq!(json(res).await["database"], expected);
    }
}

#[tokio::test]
async fn readiness_fails_when_the_database_is_gone() {
    let app = common::TestApp::start(common::Backend::Sqlite).await;
    app.db.close().await;
    assert_eq!(app.get("/readyz", None).await.status(), 503);
    assert_eq!(app.get("/healthz", None).await.status(), 200);
}
