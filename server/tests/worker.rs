//! `zelly-control worker` as its own process beside an API-only `serve`, sharing PostgreSQL:
//! runs started through the API are picked up by the worker, woken by LISTEN/NOTIFY (its
//! fallback poll is set to an hour, so nothing else could wake it).

use crate::common;

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn a_separate_worker_process_runs_what_an_api_only_replica_accepts() {
    let db = common::TestDatabase::new(common::Backend::Postgres).await;
    let infra = db.dir.path().join("infra");
    common::copy_dir(&common::fixtures().join("infra"), &infra);
    common::scenario_file(
        &infra.join("terraform/environments/staging"),
        &json!({ "plan_seconds": 0.1, "apply_seconds": 0.1, "changes": [common::update_change("aws_instance.a")] }),
    );
    let zelly = |workers: &str| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_zelly-control"));
        cmd.current_dir(db.dir.path())
            .env("DATABASE_URL", &db.url)
            .env("ZELLY_SERVER__DATA_DIR", db.dir.path())
            .env("ZELLY_TERRAFORM__BIN", common::fixtures().join("fake-terraform"))
            .env("ZELLY_TERRAFORM__INFRA_DIR", &infra)
            .env("ZELLY_RUNS__WORKERS", workers)
            .env("ZELLY_RUNS__POLL_SECONDS", "3600")
            .env("ZELLY_AWS__ENABLED", "false")
            .env("RUST_LOG", "warn");
        cmd
    };
    let token = zelly("0").args(["token", "create", "--user", "meera", "--role", "operator"]).output().unwrap().stdout;
    let token = String::from_utf8(token).unwrap().trim().to_string();

    let mut api = zelly("0").args(["serve", "--listen", "127.0.0.1:0"]).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(api.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let _api = Killed(api);
    let url = line.trim().rsplit(' ').next().unwrap().to_string();
    let client = reqwest::Client::new();
    let status = |id: i64| {
        let (client, url, token) = (client.clone(), url.clone(), token.clone());
        async move {
            let run: Value = client.get(format!("{url}/api/v1/runs/{id}")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
            run["status"].as_str().unwrap().to_string()
        }
    };
    let start = || {
        client.post(format!("{url}/api/v1/environments/staging/runs")).bearer_auth(&token).json(&json!({ "kind": "apply" })).send()
    };

    // Without a worker, the API-only replica accepts the run and it waits.
    let run: Value = start().await.unwrap().json().await.unwrap();
    let id = run["id"].as_i64().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(status(id).await, "queued");

    let _worker = Killed(zelly("1").arg("worker").stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap());
    let deadline = Instant::now() + Duration::from_secs(60);
    while status(id).await != "planned" {
        assert!(Instant::now() < deadline, "the worker never planned run {id}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The worker now sleeps (its poll is an hour away): only the API process's NOTIFY about the
    // approval can wake it to apply.
    client.post(format!("{url}/api/v1/runs/{id}/approve")).bearer_auth(&token).send().await.unwrap();
    while status(id).await != "applied" {
        assert!(Instant::now() < deadline, "the worker never applied run {id}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
