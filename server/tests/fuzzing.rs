//! schemathesis against the real server, as an admin: requests generated from the OpenAPI
//! document for every operation, valid and not; no answer may be a server error, or differ from
//! what the document says (status, content type, body schema).

use crate::common;

use app::model::Role;
use common::{use_emulator, Backend, Emulator, TestApp};

/// Examples per operation and phase: enough to reach every parameter's edge cases, few enough
/// for the suite's time.
const EXAMPLES: &str = "40";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_generated_request_makes_the_api_fail_or_answer_other_than_documented() {
    let aws = Emulator::seeded_with_state_backend();
    let app = TestApp::start_with(Backend::Sqlite, |c| use_emulator(c, &aws)).await;
    // The document's example token id is 1: the fuzzer revokes that one, not its own.
    app.token("old-deploy-script", Role::Viewer).await;
    let admin = app.token("asha", Role::Admin).await;
    let document = app.get("/api/v1/openapi.json", Some(&admin)).await.text().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("openapi.json");
    std::fs::write(&path, &document).unwrap();

    let out = tokio::process::Command::new(schemathesis())
        .arg("run")
        .arg(&path)
        .args(["--url", &app.url])
        .args(["--header", &format!("Authorization: Bearer {admin}")])
        .args(["--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"])
        // One worker: hypothesis's source cache is not thread-safe (two workers once failed a run
        // with its "AST constructor recursion depth mismatch", schemathesis's own error).
        .args(["--max-examples", EXAMPLES, "--seed", "17", "--workers", "1"])
        .args(["--report", "junit", "--report-dir"])
        .arg(dir.path())
        .env("NO_COLOR", "1")
        .current_dir(dir.path())
        .output()
        .await
        .expect("schemathesis runs (scripts/setup --test installs it)");
    let report = String::from_utf8_lossy(&out.stdout);
    println!("{report}");
    assert!(out.status.success(), "schemathesis found problems:\n{report}\n{}", String::from_utf8_lossy(&out.stderr));
    app.stop().await;
}

/// Installed beside the tests' python.
fn schemathesis() -> std::path::PathBuf {
    std::path::Path::new(&common::test_python()).with_file_name("schemathesis")
}
