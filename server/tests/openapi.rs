//! The API's OpenAPI document: it describes exactly the operations the router serves and the
//! README lists, each with its errors and the bearer scheme. (schemathesis checks the answers
//! against it: tests/fuzzing.rs.)

use crate::common;

use app::model::Role;
use common::{Backend, TestApp};
use serde_json::Value;
use std::collections::BTreeSet;

/// `METHOD /path` with every path parameter written `{}`: the README and the document name
/// some parameters differently (`{version_id}`, `{version}`).
fn operation(method: &str, path: &str) -> String {
    let mut shape = String::new();
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_param = true;
                shape.push_str("{}");
            }
            '}' => in_param = false,
            _ if !in_param => shape.push(c),
            _ => {}
        }
    }
    format!("{} {shape}", method.to_uppercase())
}

fn documented(document: &Value) -> BTreeSet<String> {
    let mut ops = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            ops.insert(operation(method, path));
        }
    }
    ops
}

/// The README's API table: rows that start with `` `METHOD /api/v1/… ``.
fn in_readme() -> BTreeSet<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    readme
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .filter_map(|l| l.split_once(' '))
        .filter(|(method, path)| method.chars().all(|c| c.is_ascii_uppercase()) && path.starts_with("/api/v1/"))
        .map(|(method, path)| operation(method, path.split('?').next().unwrap()))
        .collect()
}

async fn document(app: &TestApp) -> Value {
    let viewer = app.token("vikram", Role::Viewer).await;
    let res = app.get("/api/v1/openapi.json", Some(&viewer)).await;
    assert_eq!(res.status(), 200, "any signed-in caller reads it");
    res.json().await.unwrap()
}

#[tokio::test]
async fn the_document_describes_every_operation_the_readme_lists_and_no_other() {
    let app = TestApp::start(Backend::Sqlite).await;
    assert_eq!(app.get("/api/v1/openapi.json", None).await.status(), 401);
    let document = document(&app).await;
    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
    let mut readme = in_readme();
    assert!(readme.remove("GET /api/v1/openapi.json"), "the README lists the document itself");
    assert_eq!(documented(&document), readme, "the document and the README's API table list the same operations");
    app.stop().await;

    // Valid by the specification's own schema, as a separate validator reads it.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("openapi.json");
    std::fs::write(&path, document.to_string()).unwrap();
    let out = tokio::process::Command::new(common::test_python()).args(["-m", "openapi_spec_validator"]).arg(&path).output().await.unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

#[tokio::test]
async fn every_operation_names_its_errors_and_needs_the_bearer_token() {
    let app = TestApp::start(Backend::Sqlite).await;
    let document = document(&app).await;
    assert_eq!(document["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    assert_eq!(document["security"][0]["bearer"], serde_json::json!([]));
    let mut ids = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            let what = format!("{method} {path}");
            assert!(responses.keys().any(|s| s.starts_with('2')), "{what} has a success answer");
            for status in ["400", "401", "403", "404"] {
                let error = &responses[status];
                assert!(error["content"]["application/json"]["schema"]["properties"]["error"].is_object(), "{what} {status}: {error}");
            }
            if method == "post" || method == "put" {
                assert!(responses.contains_key("409") && responses.contains_key("422"), "{what} documents its refusals");
            }
            assert!(responses.values().all(|r| r["description"].as_str().is_some_and(|d| !d.is_empty())), "{what}");
            assert!(ids.insert(op["operationId"].as_str().unwrap().to_string()), "{what}: operation ids are unique");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn the_router_serves_every_documented_operation() {
    let app = TestApp::start(Backend::Sqlite).await;
    let document = document(&app).await;
    let admin = app.token("asha", Role::Admin).await;
    for (path, item) in document["paths"].as_object().unwrap() {
        // Identifiers of nothing: every answer is the handler's own, with no side effect.
        let concrete = path.replace("{env}", "nowhere").replace("{id}", "999999").replace("{name}", "nothing").replace("{service}", "nothing").replace("{version}", "nothing");
        for method in item.as_object().unwrap().keys() {
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let res = app.client.request(method.clone(), app.url(&concrete)).bearer_auth(&admin).send().await.unwrap();
            let status = res.status().as_u16();
            let body = res.text().await.unwrap();
            assert_ne!(status, 405, "{method} {path}: {body}");
            assert!(!body.contains("no such API endpoint"), "{method} {path} is routed: {status} {body}");
        }
    }
    let res = app.client.get(app.url("/api/v1/not-an-operation")).bearer_auth(&admin).send().await.unwrap();
    assert!(res.text().await.unwrap().contains("no such API endpoint"), "what the check above tells apart");
    app.stop().await;
}

#[tokio::test]
async fn the_api_page_renders_every_operation_from_the_document_without_javascript() {
    let app = TestApp::start(Backend::Sqlite).await;
    let document = document(&app).await;
    let viewer = app.token("vikram", Role::Viewer).await;
    let res = app.get("/api", Some(&viewer)).await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let marker = format!(r#"data-operation="{} {path}""#, method.to_uppercase());
            assert!(html.contains(&marker), "the page shows {marker}");
            // Up to the first character HTML escapes (or the page shows as code).
            let summary = op["summary"].as_str().unwrap_or_default();
            let plain: String = summary.chars().take_while(|c| !"<>&\"'`".contains(*c)).collect();
            assert!(!plain.is_empty() && html.contains(&plain), "with its summary {summary:?}");
        }
    }
    assert!(html.contains(r#"href="/api/v1/openapi.json""#), "and links the document");
    // Bodies and answers link to their types, each described field by field.
    assert!(html.contains(r##"href="#type-Run""##) && html.contains(r#"id="type-Run""#));
    let run = &html[html.find(r#"id="type-Run""#).unwrap()..];
    let run = &run[..run.find("</article>").unwrap()];
    for field in document["components"]["schemas"]["Run"]["properties"].as_object().unwrap().keys() {
        assert!(run.contains(&format!("<code>{field}</code>")), "Run's field {field} is described");
    }
    // Everything it loads comes from this server.
    for tag in ["<script", "<link"] {
        for at in html.match_indices(tag).map(|(i, _)| i) {
            let element = &html[at..at + html[at..].find('>').unwrap()];
            assert!(!element.contains("http://") && !element.contains("https://") && !element.contains("//cdn"), "{element}");
        }
    }
    app.stop().await;
}
