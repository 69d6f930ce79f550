//! The AWS emulator (tests/aws), one per test.

use super::*;

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

/// Points the app at the emulator, with live status on.
pub fn use_emulator(config: &mut Config, emulator: &Emulator) {
    config.aws.enabled = true;
    config.aws.endpoint_url = Some(emulator.url.parse().unwrap());
}
