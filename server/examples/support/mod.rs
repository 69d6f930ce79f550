//! What the benchmark binaries share: the seeded AWS emulator, a release server, timing helpers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A child process stopped with SIGTERM when dropped (the emulator stops its moto with it).
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        unsafe { libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

/// The last word of the first line the child prints: the URL it serves on.
pub fn first_line(child: &mut Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    line.trim().rsplit(' ').next().unwrap().to_string()
}

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    values[values.len() / 2]
}

/// tests/aws/emulator.py seeded with the estate (and with `flags`, e.g. `--state-backend`), and its URL.
pub fn emulator_with(flags: &[&str]) -> (Killed, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = std::env::var("ZELLY_TEST_PYTHON")
        .unwrap_or_else(|_| format!("{}/.cache/zelly-venv/bin/python", std::env::var("HOME").unwrap()));
    let mut child = Command::new(python).arg(root.join("tests/aws/emulator.py")).arg("--seed").args(flags).stdout(Stdio::piped()).spawn().unwrap();
    let url = first_line(&mut child);
    (Killed(child), url)
}

/// tests/aws/emulator.py --seed, and its URL.
pub fn emulator() -> (Killed, String) {
    emulator_with(&[])
}

/// `zelly-control` from this build (next to the example), run in `dir` against the emulator.
pub fn zelly(dir: &Path, aws: &str) -> Command {
    let bin: PathBuf = std::env::current_exe().unwrap().parent().unwrap().parent().unwrap().join("zelly-control");
    let mut cmd = Command::new(bin);
    cmd.current_dir(dir)
        .env("ZELLY_DATA_DIR", dir)
        .env("ZELLY_AWS__ENDPOINT_URL", aws)
        .env("AWS_ACCESS_KEY_ID", "emulator")
        .env("AWS_SECRET_ACCESS_KEY", "emulator")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("RUST_LOG", "error");
    cmd
}

pub fn token(dir: &Path, aws: &str, role: &str) -> String {
    let out = zelly(dir, aws).args(["token", "create", "--user", "bench", "--role", role]).output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// `zelly-control serve` on a free port, and its URL.
pub fn serve(dir: &Path, aws: &str) -> (Killed, String) {
    serve_with(dir, aws, &[])
}

/// The same with more environment (configuration) for the server.
pub fn serve_with(dir: &Path, aws: &str, vars: &[(&str, &str)]) -> (Killed, String) {
    let mut child = zelly(dir, aws).envs(vars.iter().copied()).args(["serve", "--listen", "127.0.0.1:0"]).stdout(Stdio::piped()).spawn().unwrap();
    let url = first_line(&mut child);
    (Killed(child), url)
}
