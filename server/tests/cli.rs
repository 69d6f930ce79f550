//! The `zelly-control` binary as an operator uses it: tokens, users, migrations, configuration
//! errors, and `serve` answering with a token made by `token create`.

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_zelly-control");

/// The binary, run from an unrelated directory with a clean environment of its own.
fn zelly(db: &common::TestDatabase) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(db.dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &db.url)
        .env("USER", "ops");
    cmd
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().expect("binary runs");
    (out.status.code().unwrap_or(-1), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

struct Serving(Child, String);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(db: &common::TestDatabase) -> Serving {
    let mut child = zelly(db).args(["serve", "--listen", "127.0.0.1:0"]).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "serve prints its address: {line:?}");
    Serving(child, url)
}

async fn token_then_serve(backend: common::Backend) {
    let db = common::TestDatabase::new(backend).await;
    let (code, _, err) = run(zelly(&db).arg("migrate"));
    assert_eq!(code, 0, "{err}");

    let (code, token, err) = run(zelly(&db).args(["token", "create", "--user", "ci-bot", "--role", "viewer", "--label", "ci"]));
    assert_eq!(code, 0, "{err}");
    let token = token.trim().to_string();
    assert!(token.starts_with("zc_") && err.contains("not shown again"));

    let (code, list, _) = run(zelly(&db).args(["token", "list"]));
    assert_eq!(code, 0);
    assert!(list.contains("ci-bot") && list.contains(&token[..10]) && !list.contains(&token), "{list}");

    let server = serve(&db);
    let client = reqwest::Client::new();
    let res = client.get(format!("{}/api/v1/environments", server.1)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    let regions: Vec<&str> = body["environments"].as_array().unwrap().iter().map(|e| e["region"].as_str().unwrap()).collect();
    assert_eq!(regions, ["ap-south-1", "ap-southeast-1"]);

    let (code, _, err) = run(zelly(&db).args(["token", "revoke", &token[..10]]));
    assert_eq!(code, 0, "{err}");
    // The server trusts a token it verified for auth.token_cache_seconds (5): a revocation by
    // another process applies within that time.
    until_refused(&server, &token).await;
}

/// Until the server refuses `token` (another process's change applies within the server's token
/// cache time; asked for up to a minute, a bound, not a figure).
async fn until_refused(server: &Serving, token: &str) {
    let client = reqwest::Client::new();
    common::until("the token to be refused", async || {
        let res = client.get(format!("{}/api/v1/environments", server.1)).bearer_auth(token).send().await.unwrap();
        res.status() == 401
    })
    .await;
}

#[tokio::test]
async fn user_disable_from_the_servers_machine_takes_access_away() {
    let db = common::TestDatabase::new(common::Backend::Sqlite).await;
    let (_, token, _) = run(zelly(&db).args(["token", "create", "--user", "ravi", "--role", "operator"]));
    let token = token.trim().to_string();
    let server = serve(&db);

    let (code, _, err) = run(zelly(&db).args(["user", "disable", "ravi"]));
    assert_eq!(code, 2, "the reason is required: {err}");
    let (code, _, err) = run(zelly(&db).args(["user", "disable", "nobody", "--reason", "x"]));
    assert_ne!(code, 0);
    assert!(err.contains("there is no user called \"nobody\""), "{err}");
    let (code, _, err) = run(zelly(&db).args(["user", "disable", "ravi", "--reason", "laptop stolen"]));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("Disabled ravi"), "{err}");
    until_refused(&server, &token).await;
    let (_, list, _) = run(zelly(&db).args(["user", "list"]));
    assert!(list.lines().any(|l| l.starts_with("ravi") && l.contains("disabled") && l.contains("laptop stolen")), "{list}");
    let (code, _, err) = run(zelly(&db).args(["token", "create", "--user", "ravi", "--role", "viewer"]));
    assert_ne!(code, 0, "no new token for a disabled user");
    assert!(err.contains("ravi is disabled"), "{err}");

    let (code, _, err) = run(zelly(&db).args(["user", "enable", "ravi"]));
    assert_eq!(code, 0, "{err}");
    let res = reqwest::Client::new().get(format!("{}/api/v1/environments", server.1)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(res.status(), 200, "enabled, the token works again");
    let audit = db_audit(&db).await;
    assert!(audit.iter().any(|(actor, action)| actor == "cli:ops" && action == "user.disabled"), "{audit:?}");
}

async fn db_audit(db: &common::TestDatabase) -> Vec<(String, String)> {
    let db = zelly_control::db::Db::connect(&db.url, 1).await.unwrap();
    db.list_audit(100, None).await.unwrap().into_iter().map(|e| (e.actor, e.action)).collect()
}

#[tokio::test]
async fn token_create_then_serve_on_sqlite() {
    token_then_serve(common::Backend::Sqlite).await;
}

#[tokio::test]
async fn token_create_then_serve_on_postgres() {
    token_then_serve(common::Backend::Postgres).await;
}

#[tokio::test]
async fn the_default_database_is_sqlite_in_the_data_dir() {
    let db = common::TestDatabase::new(common::Backend::Sqlite).await;
    let (code, _, err) = run(zelly(&db).env_remove("DATABASE_URL").env("ZELLY_DATA_DIR", "state").arg("migrate"));
    assert_eq!(code, 0, "{err}");
    assert!(db.dir.path().join("state/zelly.db").exists());
}

#[tokio::test]
async fn configuration_errors_name_the_key_and_change_nothing() {
    let db = common::TestDatabase::new(common::Backend::Sqlite).await;
    let (code, _, err) = run(zelly(&db).env("ZELLY_SERVER__LISTEN", "nowhere").arg("migrate"));
    assert_eq!(code, 2);
    assert!(err.contains("server.listen"), "{err}");

    std::fs::write(db.dir.path().join("zelly.toml"), "[auth]\nmode = \"dev\"\nsesion_hours = 3\n").unwrap();
    let (code, _, err) = run(zelly(&db).args(["--config", "zelly.toml", "migrate"]));
    assert_eq!(code, 2);
    assert!(err.contains("sesion_hours"), "{err}");

    let (code, _, err) = run(zelly(&db).args(["token", "create", "--user", "x", "--role", "root"]));
    assert_ne!(code, 0);
    assert!(err.contains("root"), "{err}");
    assert!(!db.dir.path().join("zelly.db").exists(), "nothing was created");
}

#[tokio::test]
async fn dev_sign_in_is_refused_off_loopback() {
    let db = common::TestDatabase::new(common::Backend::Sqlite).await;
    let (code, _, err) = run(zelly(&db).args(["serve", "--listen", "0.0.0.0:0"]));
    assert_eq!(code, 2);
    assert!(err.contains("auth.mode") && err.contains("loopback"), "{err}");
}

#[tokio::test]
async fn config_prints_the_effective_configuration() {
    let db = common::TestDatabase::new(common::Backend::Sqlite).await;
    let (code, out, err) = run(zelly(&db).env("ZELLY_ENVIRONMENTS__STAGING__ECS_CLUSTER", "stg").arg("config"));
    assert_eq!(code, 0, "{err}");
    let parsed: toml::Table = toml::from_str(&out).expect("valid TOML");
    assert_eq!(parsed["environments"]["staging"]["ecs_cluster"].as_str(), Some("stg"));
    assert_eq!(parsed["environments"]["production"]["region"].as_str(), Some("ap-south-1"));
}

#[tokio::test]
async fn prices_refresh_says_where_to_write_and_leaves_the_file_alone_when_it_cannot_read_prices() {
    let db = common::TestDatabase::new(common::Backend::Sqlite).await;
    let (code, _, err) = run(zelly(&db).args(["prices", "refresh"]));
    assert_eq!(code, 2);
    assert!(err.contains("say where to write the catalog: --output FILE"), "{err}");

    let target = db.dir.path().join("prices.toml");
    std::fs::write(&target, "kept").unwrap();
    // Nothing listens on port 9: the API cannot be reached.
    let (code, _, err) = run(zelly(&db)
        .args(["prices", "refresh", "--output", "prices.toml", "--region", "ap-south-1"])
        .env("ZELLY_AWS__ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_ACCESS_KEY_ID", "x")
        .env("AWS_SECRET_ACCESS_KEY", "x")
        .env("AWS_EC2_METADATA_DISABLED", "true"));
    assert_eq!(code, 2);
    assert!(err.contains("the Price List API cannot be read (fargate.vcpu, ap-south-1)"), "{err}");
    assert!(err.contains("prices.toml is unchanged"), "{err}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "kept");
    assert!(!db.dir.path().join("prices.toml.partial").exists());
}
