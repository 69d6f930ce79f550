//! Test harness: every test gets the real server on port 0, with its own fresh database —
//! an SQLite file in a temporary directory, or a new schema in the Postgres at
//! `ZELLY_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`).
#![allow(dead_code)]

pub mod estate;
pub mod receiver;
pub mod repo;

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

    pub async fn run(&self, id: i64) -> serde_json::Value {
        let res = self.client.get(self.url(&format!("/api/v1/runs/{id}"))).bearer_auth(self.admin_token().await).send().await.unwrap();
        assert_eq!(res.status(), 200);
        res.json().await.unwrap()
    }

    /// An admin token for looking at runs, made on first use (so tests that count audit rows
    /// or users see only their own).
    async fn admin_token(&self) -> String {
        self.admin.get_or_init(|| self.token("test-admin", Role::Admin)).await.clone()
    }

    /// Waits (up to a minute: a bound, not a performance assertion) for run `id` to reach `status`.
    pub async fn wait_for(&self, id: i64, status: &str) -> serde_json::Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let run = self.run(id).await;
            if run["status"] == status {
                return run;
            }
            assert!(std::time::Instant::now() < deadline, "run {id} never reached {status}: {run:#}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
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

pub fn fixtures() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures").canonicalize().unwrap()
}

pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_name() == ".terraform-fake" {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

pub fn root_dir(config: &Config, env: &str) -> std::path::PathBuf {
    config.terraform.infra_dir.join(&config.environments[env].terraform.root_dir)
}

pub fn write_scenario(config: &Config, env: &str, scenario: &serde_json::Value) {
    scenario_file(&root_dir(config, env), scenario);
}

/// Writes the fake terraform's scenario into a root directory of the infra repository. Runs
/// work in copies of it, so the fake keeps its records in the original's `.terraform-fake`.
pub fn scenario_file(root: &std::path::Path, scenario: &serde_json::Value) {
    let mut scenario = scenario.clone();
    scenario["state_dir"] = serde_json::Value::String(root.join(".terraform-fake").display().to_string());
    std::fs::write(root.join("fake-terraform.json"), scenario.to_string()).unwrap();
}

pub fn invocations(config: &Config, env: &str) -> Vec<serde_json::Value> {
    let path = root_dir(config, env).join(".terraform-fake/invocations.jsonl");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A resource change as `terraform show -json` prints it.
pub fn change(address: &str, actions: &[&str]) -> serde_json::Value {
    let ty = address.split('.').next().unwrap();
    serde_json::json!({ "address": address, "type": ty, "change": {
        "actions": actions, "before": { "size": 1 }, "after": { "size": 2 } } })
}

pub fn update_change(address: &str) -> serde_json::Value {
    change(address, &["update"])
}

/// The AWS emulator of tests/aws (moto behind a call-counting, fault-injecting proxy), seeded
/// with the Zelly estate, for one test. Stopped when dropped.
pub struct Emulator {
    child: std::process::Child,
    pub url: String,
    /// The emulator exits when this closes, should the test process die without dropping it.
    _stdin: Option<std::process::ChildStdin>,
}

impl Emulator {
    /// The emulator seeded with the Zelly estate (ECS, secrets, metrics; not the state backend).
    pub fn start() -> Emulator {
        Self::start_with(&["--seed"])
    }

    /// Only terraform's state backend: the versioned bucket and the lock table.
    pub fn with_state_backend() -> Emulator {
        Self::start_with(&["--state-backend"])
    }

    /// The estate and terraform's state backend both.
    pub fn seeded_with_state_backend() -> Emulator {
        Self::start_with(&["--seed", "--state-backend"])
    }

    fn start_with(args: &[&str]) -> Emulator {
        process_environment();
        let python = test_python();
        let script = fixtures().join("../aws/emulator.py");
        let mut child = std::process::Command::new(&python)
            .arg(&script)
            .args(args)
            .arg("--exit-with-stdin")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("the AWS emulator needs {python} (run scripts/setup --test): {e}"));
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
        let url = line.trim().strip_prefix("AWS emulator at ").unwrap_or_else(|| panic!("emulator said {line:?}")).to_string();
        let stdin = child.stdin.take();
        Emulator { child, url, _stdin: stdin }
    }

    /// Runs tests/aws/backend.py against this emulator and returns what it printed, as JSON.
    pub fn backend(&self, args: &[&str]) -> serde_json::Value {
        let out = std::process::Command::new(test_python())
            .arg(fixtures().join("../aws/backend.py"))
            .arg(&self.url)
            .args(args)
            .output()
            .expect("the AWS emulator's python");
        assert!(out.status.success(), "backend.py {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("backend.py prints JSON")
    }

    pub async fn calls(&self, operation: &str) -> Vec<serde_json::Value> {
        let all: Vec<serde_json::Value> = reqwest::get(format!("{}/_proxy/calls", self.url)).await.unwrap().json().await.unwrap();
        all.into_iter().filter(|c| c["operation"] == operation).collect()
    }

    pub async fn reset(&self) {
        reqwest::Client::new().post(format!("{}/_proxy/reset", self.url)).send().await.unwrap();
    }

    /// Creates (or replaces the value of) a secret.
    pub async fn put_secret(&self, region: &str, name: &str, value: &str) {
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_string()))
            .endpoint_url(&self.url)
            .load()
            .await;
        let client = aws_sdk_secretsmanager::Client::new(&sdk);
        let created = client.create_secret().name(name).secret_string(value).send().await;
        if created.is_err() {
            client.put_secret_value().secret_id(name).secret_string(value).send().await.expect("put the secret value");
        }
    }

    /// See tests/aws/emulator.py for the fields.
    pub async fn fault(&self, fault: serde_json::Value) {
        reqwest::Client::new().post(format!("{}/_proxy/faults", self.url)).json(&fault).send().await.unwrap();
    }
}

/// The tests' python: a virtualenv made by scripts/setup (the AWS emulator, the API's checks).
pub fn test_python() -> String {
    std::env::var("ZELLY_TEST_PYTHON")
        .unwrap_or_else(|_| format!("{}/.cache/zelly-venv/bin/python", std::env::var("HOME").unwrap_or_default()))
}

impl Drop for Emulator {
    fn drop(&mut self) {
        // SIGTERM, so the emulator stops the moto server it started.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let _ = self.child.wait();
    }
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

/// Points the app at the emulator, with live status on.
pub fn use_emulator(config: &mut Config, emulator: &Emulator) {
    config.aws.enabled = true;
    config.aws.endpoint_url = Some(emulator.url.parse().unwrap());
}

/// The binary, with debug logging on, serving with `vars` and an admin token; everything it
/// prints is kept, to be searched for what must never be printed.
pub struct LoggedServer {
    child: std::process::Child,
    pub url: String,
    output: std::sync::Arc<std::sync::Mutex<String>>,
    dir: std::path::PathBuf,
    vars: Vec<(String, String)>,
}

impl LoggedServer {
    pub fn start(db: &TestDatabase, vars: &[(String, String)]) -> (LoggedServer, String) {
        use std::io::{BufRead, BufReader, Read};
        use std::process::Stdio;
        process_environment();
        let mut vars = vars.to_vec();
        vars.push(("DATABASE_URL".into(), db.url.clone()));
        vars.push(("ZELLY_DATA_DIR".into(), db.dir.path().display().to_string()));
        let (dir, output) = (db.dir.path().to_path_buf(), std::sync::Arc::new(std::sync::Mutex::new(String::new())));
        let mut child = Self::command(&dir, &vars, &["serve", "--listen", "127.0.0.1:0"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let url = line.trim().rsplit(' ').next().unwrap().to_string();
        for mut stream in [Box::new(stdout) as Box<dyn Read + Send>, Box::new(child.stderr.take().unwrap())] {
            let output = output.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    output.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            });
        }
        let server = LoggedServer { child, url, output, dir, vars };
        let token = server.token("leak-check", "admin");
        (server, token)
    }

    fn command(dir: &std::path::Path, vars: &[(String, String)], args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_zelly-control"));
        cmd.args(args).current_dir(dir).env_clear();
        for key in ["PATH", "HOME", "TF_CLI_CONFIG_FILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_EC2_METADATA_DISABLED"] {
            if let Some(value) = std::env::var_os(key) {
                cmd.env(key, value);
            }
        }
        cmd.env("RUST_LOG", "debug").envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        cmd
    }

    /// A new API token, made with the binary's own command.
    pub fn token(&self, user: &str, role: &str) -> String {
        let out = Self::command(&self.dir, &self.vars, &["token", "create", "--user", user, "--role", role]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// Stops the server and returns everything it printed.
    pub fn finish(self) -> String {
        self.end(libc::SIGTERM)
    }

    /// Kills the server (SIGKILL: no cleanup of any kind) and returns everything it printed.
    pub fn kill(self) -> String {
        self.end(libc::SIGKILL)
    }

    fn end(mut self, signal: libc::c_int) -> String {
        unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
        let _ = self.child.wait();
        std::thread::sleep(std::time::Duration::from_millis(200));
        let text = self.output.lock().unwrap().clone();
        text
    }
}

/// Every value stored in every column of every table, as bytes, labelled `table.column`: for
/// searching the whole database for what must never be stored.
pub async fn every_stored_value(db: &Db) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    match db {
        Db::Sqlite(pool) => {
            let tables: Vec<String> = sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
                .fetch_all(pool)
                .await
                .unwrap();
            for table in tables {
                let columns: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info($1)").bind(&table).fetch_all(pool).await.unwrap();
                for column in columns {
                    let sql = format!("SELECT CAST(\"{column}\" AS BLOB) FROM \"{table}\"");
                    let values: Vec<Option<Vec<u8>>> = sqlx::query_scalar(&sql).fetch_all(pool).await.unwrap();
                    out.extend(values.into_iter().flatten().map(|v| (format!("{table}.{column}"), v)));
                }
            }
        }
        Db::Postgres(pool) => {
            let columns: Vec<(String, String, String)> = sqlx::query_as(
                "SELECT table_name::text, column_name::text, data_type::text FROM information_schema.columns \
                 WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position",
            )
            .fetch_all(pool)
            .await
            .unwrap();
            for (table, column, kind) in columns {
                let values: Vec<Option<Vec<u8>>> = if kind == "bytea" {
                    sqlx::query_scalar(&format!("SELECT \"{column}\" FROM \"{table}\"")).fetch_all(pool).await.unwrap()
                } else {
                    let texts: Vec<Option<String>> =
                        sqlx::query_scalar(&format!("SELECT \"{column}\"::text FROM \"{table}\"")).fetch_all(pool).await.unwrap();
                    texts.into_iter().map(|t| t.map(String::into_bytes)).collect()
                };
                out.extend(values.into_iter().flatten().map(|v| (format!("{table}.{column}"), v)));
            }
        }
    }
    out
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

/// An HTTP client for a server started as its own process.
pub struct Api {
    pub client: reqwest::Client,
    pub url: String,
}

impl Api {
    pub async fn get(&self, path: &str, token: &str) -> String {
        let res = self.client.get(format!("{}{path}", self.url)).bearer_auth(token).send().await.unwrap();
        assert!(res.status().is_success(), "GET {path}: {}", res.status());
        res.text().await.unwrap()
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        let res = self.client.post(format!("{}{path}", self.url)).bearer_auth(token).json(&body).send().await.unwrap();
        (res.status().as_u16(), res.json().await.unwrap())
    }

    pub async fn run(&self, id: i64, token: &str) -> Value {
        serde_json::from_str(&self.get(&format!("/api/v1/runs/{id}"), token).await).unwrap()
    }

    pub async fn wait_for(&self, id: i64, token: &str, status: &str) -> Value {
        until(&format!("run {id} to be {status}"), async || {
            let run = self.run(id, token).await;
            assert!(run["status"] != "errored" || status == "errored", "run {id} errored: {run:#}");
            run["status"] == status
        })
        .await;
        self.run(id, token).await
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
