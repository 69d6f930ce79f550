//! Test harness: every test gets the real server on port 0, with its own fresh database —
//! an SQLite file in a temporary directory, or a new schema in the Postgres at
//! `ZELLY_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`).
#![allow(dead_code)]

use app::model::Role;
use rand::distr::{Alphanumeric, SampleString};
use sqlx::Connection;
use std::time::Duration;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use zelly_control::{auth, db::Db, AppState, Config};

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
        let database = TestDatabase::new(backend).await;
        let mut config = Config::defaults();
        config.database.url = Some(database.url.clone());
        config.database.max_connections = 5;
        config.server.data_dir = database.dir.path().to_path_buf();
        config.server.listen = "127.0.0.1:0".parse().unwrap();
        adjust(&mut config);

        let state = AppState::new(config.clone()).await.expect("app state");
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
        TestApp { url, db, config, client, backend, shutdown: Some(tx), server: Some(server), database }
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
