//! The server as a process of its own: started with debug logging (its output kept, to be
//! searched for what must never be printed) and called over HTTP.

use super::*;

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

    /// `GET path`, answered with a `T` (the shared model type).
    pub async fn get_as<T: serde::de::DeserializeOwned>(&self, path: &str, token: &str) -> T {
        let body = self.get(path, token).await;
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path} is a {}: {e}: {body}", std::any::type_name::<T>()))
    }

    pub async fn run(&self, id: i64, token: &str) -> Run {
        self.get_as(&format!("/api/v1/runs/{id}"), token).await
    }

    pub async fn wait_for(&self, id: i64, token: &str, status: RunStatus) -> Run {
        until(&format!("run {id} to be {status:?}"), async || {
            let run = self.run(id, token).await;
            assert!(run.status != RunStatus::Errored || status == RunStatus::Errored, "run {id} errored: {run:#?}");
            run.status == status
        })
        .await;
        self.run(id, token).await
    }
}
