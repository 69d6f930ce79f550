//! Test harness: every test gets the real server on port 0, with its own fresh database —
//! an SQLite file in a temporary directory, or a new schema in the Postgres at
//! `ZELLY_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`).
#![allow(dead_code)]

mod emulator;
pub mod estate;
mod processes;
pub mod receiver;
pub mod repo;
mod terraform;

// Each test binary uses a part of the harness.
#[allow(unused_imports)]
pub use emulator::{test_python, use_emulator, Emulator};
#[allow(unused_imports)]
pub use processes::{Api, LoggedServer};
#[allow(unused_imports)]
pub use terraform::*;

pub use app::model::run::{Run, RunList, RunStatus};
use app::model::Role;
use rand::distr::{Alphanumeric, SampleString};
use sqlx::Connection;
use serde_json::Value;
use std::time::{Duration, Instant};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use zelly_control::{auth, db::Db, AppState, Config};
pub use zelly_control::clock::Clock;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub fn postgres_base_url() -> String {
    std::env::var("ZELLY_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A fresh, empty database of the given kind, removed again when dropped.
pub struct TestDatabase {
    pub url: String,
    pub dir: TempDir,
    schema: Option<String>,
}

impl TestDatabase {
    pub async fn new(backend: Backend) -> TestDatabase {
        process_environment();
        let dir = tempfile::tempdir().expect("temporary directory");
        match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("zelly.db").display());
                TestDatabase { url, dir, schema: None }
            }
            Backend::Postgres => {
                let base = postgres_base_url();
                let schema = format!("t_{}", Alphanumeric.sample_string(&mut rand::rng(), 12).to_lowercase());
                let mut conn = sqlx::PgConnection::connect(&base)
                    .await
                    .unwrap_or_else(|e| panic!("Postgres at {base} is needed for the tests: {e}"));
                sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(&mut conn).await.expect("create schema");
                conn.close().await.ok();
                let sep = if base.contains('?') { '&' } else { '?' };
                let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
                TestDatabase { url, dir, schema: Some(schema) }
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(schema) = self.schema.take() else { return };
        // Drop runs outside any async context we could borrow: use a small runtime of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&postgres_base_url()).await {
                    let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).execute(&mut conn).await;
                }
            });
        })
        .join();
    }
}

pub struct TestApp {
    pub url: String,
    pub db: Db,
    pub config: Config,
    pub client: reqwest::Client,
    pub backend: Backend,
    admin: tokio::sync::OnceCell<String>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    database: TestDatabase,
}

impl TestApp {
    pub async fn start(backend: Backend) -> TestApp {
        Self::start_with(backend, |_| {}).await
    }

    /// Starts the server with the built-in configuration, changed by `adjust`.
    pub async fn start_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> TestApp {
        Self::start_on(backend, Clock::System, adjust).await
    }

    /// The same, on the days `clock` says (`Clock::Fixed`: always that day).
    pub async fn start_on(backend: Backend, clock: Clock, adjust: impl FnOnce(&mut Config)) -> TestApp {
        if let Ok(filter) = std::env::var("ZELLY_TEST_LOG") {
            let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
        }
        let database = TestDatabase::new(backend).await;
        let mut config = Config::defaults();
        config.database.url = Some(database.url.clone());
        config.database.max_connections = 5;
        config.server.data_dir = database.dir.path().to_path_buf();
        config.server.listen = "127.0.0.1:0".parse().unwrap();
        // Terraform runs use the fake binary on a private copy of the fixture infra repo.
        let infra = database.dir.path().join("infra");
        copy_dir(&fixtures().join("infra"), &infra);
        config.terraform.bin = fixtures().join("fake-terraform").display().to_string();
        config.terraform.infra_dir = infra;
        config.runs.lease_seconds = 2;
        // Live AWS status only where a test brings the emulator (see `Emulator`).
        config.aws.enabled = false;
        // Every read fresh, as the tests change AWS behind the server's back (the sharing:
        // `pages_polling_aws_share_one_fresh_read` in secrets.rs).
        config.aws.repeat_read_seconds = 0;
        config.runs.cancel_grace_seconds = 1;
        for env in ["production", "staging"] {
            write_scenario(&config, env, &serde_json::json!({ "plan_seconds": 0.05, "apply_seconds": 0.05, "changes": [update_change("aws_ecs_service.api")] }));
        }
        adjust(&mut config);

        let state = AppState::with_clock(config.clone(), clock).await.expect("app state");
        let db = state.db.clone();
        let listener = TcpListener::bind(config.server.listen).await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            zelly_control::launch_with_listener(state, listener, async {
                let _ = rx.await;
            })
            .await
            .expect("server runs");
        });
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        TestApp {
            url,
            db,
            config,
            client,
            backend,
            admin: tokio::sync::OnceCell::new(),
            shutdown: Some(tx),
            server: Some(server),
            database,
        }
    }

    /// A new API token for `user` (created with `role` if missing).
    pub async fn token(&self, user: &str, role: Role) -> String {
        auth::tokens::create(&self.db, user, role, "test", "test").await.expect("token").0
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("request")
    }

    /// Signs in through the development sign-in form and returns the session cookie.
    pub async fn dev_sign_in(&self, user: &str) -> String {
        let res = self
            .client
            .post(self.url("/auth/dev/login"))
            .form(&[("user", user), ("next", "/")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303, "sign-in redirects");
        let set_cookie = res.headers().get("set-cookie").expect("session cookie").to_str().unwrap();
        set_cookie.split(';').next().unwrap().to_string()
    }

    /// The CSRF token a page signed in with `cookie` carries, read from it as a script would.
    pub async fn csrf_token(&self, cookie: &str) -> String {
        let html = self.client.get(self.url("/")).header("cookie", cookie).send().await.unwrap().text().await.unwrap();
        let (_, rest) = html.split_once(r#"<meta name="csrf-token" content=""#).expect("the page names its CSRF token");
        rest.split('"').next().unwrap().to_string()
    }

    /// Posts a form as a signed-in browser does: with the session cookie and the page's token.
    pub async fn post_form(&self, path: &str, cookie: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let token = self.csrf_token(cookie).await;
        let mut fields = fields.to_vec();
        fields.push(("_csrf", &token));
        self.client.post(self.url(path)).header("cookie", cookie).form(&fields).send().await.expect("request")
    }

    pub async fn post_json(&self, path: &str, token: &str, body: serde_json::Value) -> reqwest::Response {
        self.client.post(self.url(path)).bearer_auth(token).json(&body).send().await.expect("request")
    }

    /// What the fake terraform does next in `env` (see tests/fixtures/fake-terraform).
    pub fn scenario(&self, env: &str, scenario: serde_json::Value) {
        write_scenario(&self.config, env, &scenario);
    }

    /// Every terraform invocation in `env`'s root so far.
    pub fn invocations(&self, env: &str) -> Vec<serde_json::Value> {
        invocations(&self.config, env)
    }

    /// Starts a run through the API and returns its id.
    pub async fn start_run(&self, env: &str, token: &str, kind: &str) -> i64 {
        self.create_run(env, token, serde_json::json!({ "kind": kind, "message": "test" })).await
    }

    /// Starts a run of `git_ref` (a branch, tag or commit) and returns its id.
    pub async fn start_run_at(&self, env: &str, token: &str, kind: &str, git_ref: &str) -> i64 {
        self.create_run(env, token, serde_json::json!({ "kind": kind, "message": "test", "ref": git_ref })).await
    }

    async fn create_run(&self, env: &str, token: &str, body: serde_json::Value) -> i64 {
        let res = self.post_json(&format!("/api/v1/environments/{env}/runs"), token, body).await;
        let status = res.status();
        let body = res.text().await.unwrap();
        assert_eq!(status, 201, "run created: {body}");
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["id"].as_i64().unwrap()
    }

    pub async fn run(&self, id: i64) -> Run {
        let admin = self.admin_token().await;
        self.get_as(&format!("/api/v1/runs/{id}"), &admin).await
    }

    /// `GET path` as `token`, which must answer 200 with a `T`: the shared model type the
    /// server answers with, so a test reads fields rather than JSON paths.
    pub async fn get_as<T: serde::de::DeserializeOwned>(&self, path: &str, token: &str) -> T {
        self.get_with_body(path, token).await.0
    }

    /// `get_as`, and the body as it came: for searching the whole answer for what it must not
    /// hold, fields the type does not know included.
    pub async fn get_with_body<T: serde::de::DeserializeOwned>(&self, path: &str, token: &str) -> (T, String) {
        let res = self.get(path, Some(token)).await;
        let status = res.status();
        let body = res.text().await.unwrap();
        assert_eq!(status, 200, "GET {path}: {body}");
        let value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path} is a {}: {e}: {body}", std::any::type_name::<T>()));
        (value, body)
    }

    /// An admin token for looking at runs, made on first use (so tests that count audit rows
    /// or users see only their own).
    async fn admin_token(&self) -> String {
        self.admin.get_or_init(|| self.token("test-admin", Role::Admin)).await.clone()
    }

    /// `env`'s runs, newest first (the first page).
    pub async fn runs(&self, env: &str, token: &str) -> Vec<Run> {
        self.get_as::<RunList>(&format!("/api/v1/environments/{env}/runs"), token).await.runs
    }

    /// Waits (up to a minute: a bound, not a performance assertion) for run `id` to reach `status`.
    pub async fn wait_for(&self, id: i64, status: RunStatus) -> Run {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let run = self.run(id).await;
            if run.status == status {
                return run;
            }
            assert!(std::time::Instant::now() < deadline, "run {id} never reached {status:?}: {run:#?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for plan run `id` to finish, with changes or without; an error fails the test with
    /// the run's log.
    pub async fn wait_for_plan(&self, id: i64) -> Run {
        let mut last = None;
        until(&format!("run {id} to finish its plan"), async || {
            let run = self.run(id).await;
            assert_ne!(run.status, RunStatus::Errored, "{}", self.log(id).await);
            let done = matches!(run.status, RunStatus::NoChanges | RunStatus::PlannedAndFinished);
            last = Some(run);
            done
        })
        .await;
        last.unwrap()
    }

    pub async fn log(&self, id: i64) -> String {
        let res = self.client.get(self.url(&format!("/api/v1/runs/{id}/log"))).bearer_auth(self.admin_token().await).send().await.unwrap();
        assert_eq!(res.status(), 200);
        res.text().await.unwrap()
    }

    /// A sealed artifact of a run, opened with the server's data key (which the test can read:
    /// it is in the test's data directory).
    pub fn open_artifact(&self, run: i64, name: &str, sealed: &[u8]) -> Vec<u8> {
        let configured = self.config.server.data_key.as_ref().map(|k| k.expose().to_string());
        let key = zelly_control::encryption::DataKey::load(configured.as_deref(), &self.config.server.data_dir).unwrap();
        key.open(&zelly_control::runs::engine::sealing_context(run, name), sealed).expect("the artifact opens with the data key")
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        self.db.close().await;
    }
}

/// Writes each test twice: once against SQLite, once against Postgres.
#[macro_export]
macro_rules! on_both_backends {
    ($(async fn $name:ident($app:ident) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let $app = common::TestApp::start(common::Backend::Sqlite).await;
                    $body
                    $app.stop().await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let $app = common::TestApp::start(common::Backend::Postgres).await;
                    $body
                    $app.stop().await;
                }
            }
        )*
    };
}

/// Writes each test twice, once per database: `$backend` says which, and the test makes what
/// it needs itself (for tests whose server needs more than `TestApp::start`).
#[macro_export]
macro_rules! for_each_backend {
    ($(async fn $name:ident($backend:ident) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                async fn body($backend: common::Backend) $body

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    body(common::Backend::Sqlite).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    body(common::Backend::Postgres).await;
                }
            }
        )*
    };
}

/// What every test process needs in its environment (and passes on to the servers and
/// terraform it starts): credentials the emulator accepts, since the SDK's default chain must
/// find some, and an empty terraform CLI configuration (the machine's points at a missing file).
fn process_environment() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // Each test calls this first, before any other work, so no thread reads the environment
    // while it is being set.
    ONCE.call_once(|| {
        std::env::set_var("AWS_ACCESS_KEY_ID", "emulator");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "emulator");
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
        let cli_config = std::env::temp_dir().join(format!("zelly-tests-{}.tfrc", std::process::id()));
        std::fs::write(&cli_config, "").expect("an empty terraform CLI configuration");
        std::env::set_var("TF_CLI_CONFIG_FILE", cli_config);
    });
}

/// Every value stored in every column of every table, as bytes, labelled `table.column`: for
/// searching the whole database for what must never be stored.
pub async fn every_stored_value(db: &Db) -> Vec<(String, Vec<u8>)> {
    db.every_stored_value().await.expect("the database reads")
}

/// Whether `needle` is in `haystack`, looking inside it too when it is a zip archive (a plan
/// file: terraform compresses what it holds).
pub fn contains(haystack: &[u8], needle: &str) -> bool {
    let needle = needle.as_bytes();
    if haystack.windows(needle.len()).any(|w| w == needle) {
        return true;
    }
    if !haystack.starts_with(b"PK\x03\x04") {
        return false;
    }
    let Ok(mut zip) = zip::ZipArchive::new(std::io::Cursor::new(haystack)) else { return false };
    (0..zip.len()).any(|i| {
        let mut member = Vec::new();
        let read = zip.by_index(i).map(|mut f| std::io::Read::read_to_end(&mut f, &mut member));
        read.is_ok() && contains(&member, std::str::from_utf8(needle).unwrap())
    })
}

/// Waits (bounded, not timed) until `check` holds.
pub async fn until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Processes running `sleep <seconds>` (a provisioner's) in a working copy under `data_dir`.
pub fn sleepers(data_dir: &std::path::Path, seconds: &str) -> Vec<i32> {
    let ours = data_dir.display().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let cwd = std::fs::read_link(e.path().join("cwd")).unwrap_or_default();
            cmdline == format!("sleep\0{seconds}\0").into_bytes() && cwd.display().to_string().starts_with(&ours)
        })
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect()
}
