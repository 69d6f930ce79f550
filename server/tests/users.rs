//! The admins' view of users and tokens: list, revoke (API and form), and who may.

use crate::common;

use app::model::users::UserList;
use app::model::Role;
use serde_json::Value;

on_both_backends! {
    async fn admins_list_users_with_their_tokens_and_never_the_tokens_themselves(app) {
        let admin = app.token("asha", Role::Admin).await;
        let ci = app.token("ci-bot", Role::Viewer).await;
        assert_eq!(app.get("/api/v1/users", Some(&ci)).await.status(), 403);
        let res = app.get("/api/v1/users", Some(&admin)).await;
        assert_eq!(res.status(), 200);
        let text = res.text().await.unwrap();
        assert!(!text.contains(&ci) && !text.contains(&admin), "no token in the answer");
        let body: UserList = serde_json::from_str(&text).unwrap();
        let bot = body.users.iter().find(|u| u.name == "ci-bot").unwrap();
        assert_eq!(bot.role, Role::Viewer);
        assert_eq!(bot.tokens[0].prefix, &ci[..10]);
        assert_eq!(bot.tokens[0].revoked_at, None);
    }

    async fn an_admin_revokes_a_token_and_it_stops_working_at_once(app) {
        let admin = app.token("asha", Role::Admin).await;
        let ci = app.token("ci-bot", Role::Viewer).await;
        let operator = app.token("meera", Role::Operator).await;
        let id = {
            let body: UserList = app.get_as("/api/v1/users", &admin).await;
            body.users.iter().find(|u| u.name == "ci-bot").unwrap().tokens[0].id
        };
        let revoke = format!("/api/v1/tokens/{id}/revoke");
        assert_eq!(app.post_json(&revoke, &operator, serde_json::json!({})).await.status(), 403);
        assert_eq!(app.get("/api/v1/environments", Some(&ci)).await.status(), 200, "still works");
        let res = app.post_json(&revoke, &admin, serde_json::json!({})).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.json::<Value>().await.unwrap()["prefix"], &ci[..10]);
        assert_eq!(app.get("/api/v1/environments", Some(&ci)).await.status(), 401);
        assert_eq!(app.post_json(&revoke, &admin, serde_json::json!({})).await.status(), 404, "already revoked");
        assert_eq!(app.post_json("/api/v1/tokens/x/revoke", &admin, serde_json::json!({})).await.status(), 404);
        let audit = app.db.list_audit(1, None).await.unwrap();
        assert_eq!((audit[0].action.as_str(), audit[0].actor.as_str()), ("token.revoked", "asha"));
    }

    async fn the_users_page_revokes_with_a_plain_form(app) {
        let ci = app.token("ci-bot", Role::Viewer).await;
        let cookie = app.dev_sign_in("asha").await;
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let html = client.get(app.url("/users")).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
        assert!(html.contains(&format!(r#"data-token="{}""#, &ci[..10])));
        let action = {
            let at = html.find("/users/tokens/").unwrap();
            html[at..].split('"').next().unwrap().to_string()
        };
        assert!(html.contains(r#"name="_csrf""#), "the form carries its CSRF token");
        let res = app.post_form(&action, &cookie, &[]).await;
        assert_eq!(res.status(), 303);
        assert_eq!(res.headers()["location"], format!("/users?revoked={}", &ci[..10]));
        assert_eq!(app.get("/api/v1/environments", Some(&ci)).await.status(), 401);

        // A viewer's session may not.
        let viewer = app.dev_sign_in("vikram").await;
        let html = client.get(app.url("/users")).header("cookie", &viewer).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("this needs the admin role"));
        let res = app.post_form(&action, &viewer, &[]).await;
        assert_eq!(res.status(), 303);
        assert!(res.headers()["location"].to_str().unwrap().starts_with("/users?error="));
    }
}
