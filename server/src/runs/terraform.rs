//! Runs the terraform binary per the contract: in the environment's root directory of the infra
//! checkout, with `TF_IN_AUTOMATION=1`, the environment's region and profile, no stdin, and
//! output streamed line by line into the run log as it is produced. A stop request sends SIGINT
//! (terraform then finishes what it is doing and releases the state lock) and SIGKILL after the
//! grace period; a forced stop kills at once.

use app::model::Environment;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    No,
    Graceful,
    Force,
}

#[derive(Debug, PartialEq, Eq)]
pub enum StepEnd {
    Exited(i32),
    /// Ended by a signal (our SIGKILL, or something else's).
    Killed,
}

#[derive(Clone, Debug)]
pub struct Terraform {
    pub bin: String,
    pub infra_dir: PathBuf,
    pub grace: Duration,
}

impl Terraform {
    pub fn workdir(&self, env: &Environment) -> PathBuf {
        self.infra_dir.join(&env.terraform.root_dir)
    }

    fn command(&self, env: &Environment, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args)
            .current_dir(self.workdir(env))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_INPUT", "0")
            .env("AWS_REGION", &env.region)
            .env("AWS_DEFAULT_REGION", &env.region)
            .kill_on_drop(true);
        if let Some(profile) = &env.aws_profile {
            cmd.env("AWS_PROFILE", profile);
        }
        cmd
    }

    /// Runs one step with stdout and stderr going to `log`, line by line.
    pub async fn run_logged(
        &self,
        env: &Environment,
        args: &[&str],
        log: &mpsc::Sender<Vec<u8>>,
        stop: &mut watch::Receiver<Stop>,
    ) -> std::io::Result<StepEnd> {
        let mut child = self.command(env, args).spawn()?;
        let pumps = [
            tokio::spawn(pump_lines(child.stdout.take(), log.clone())),
            tokio::spawn(pump_lines(child.stderr.take(), log.clone())),
        ];
        let status = supervise(&mut child, stop, self.grace).await?;
        for pump in pumps {
            let _ = pump.await;
        }
        Ok(end_of(status))
    }

    /// Runs one step capturing stdout (e.g. `show -json`); stderr goes to `log`.
    pub async fn run_captured(
        &self,
        env: &Environment,
        args: &[&str],
        log: &mpsc::Sender<Vec<u8>>,
        stop: &mut watch::Receiver<Stop>,
    ) -> std::io::Result<(StepEnd, Vec<u8>)> {
        let mut child = self.command(env, args).spawn()?;
        let mut stdout = child.stdout.take();
        let reader = tokio::spawn(async move {
            let mut out = Vec::new();
            if let Some(s) = stdout.as_mut() {
                let _ = tokio::io::AsyncReadExt::read_to_end(s, &mut out).await;
            }
            out
        });
        let pump = tokio::spawn(pump_lines(child.stderr.take(), log.clone()));
        let status = supervise(&mut child, stop, self.grace).await?;
        let out = reader.await.unwrap_or_default();
        let _ = pump.await;
        Ok((end_of(status), out))
    }

    /// The infra checkout's commit, when it is a git repository.
    pub async fn infra_commit(&self) -> Option<String> {
        if !Path::new(&self.infra_dir).join(".git").exists() {
            return None;
        }
        let out = Command::new("git").arg("-C").arg(&self.infra_dir).args(["rev-parse", "HEAD"]).output().await.ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// True when the configured binary is the test fixture, not terraform: the UI says so.
    pub async fn is_simulated(&self) -> bool {
        match Command::new(&self.bin).arg("version").stdin(Stdio::null()).output().await {
            Ok(out) => String::from_utf8_lossy(&out.stdout).contains("(simulated)"),
            Err(_) => false,
        }
    }
}

/// Waits for the child, acting on stop requests: SIGINT then SIGKILL after `grace`, or SIGKILL.
async fn supervise(
    child: &mut tokio::process::Child,
    stop: &mut watch::Receiver<Stop>,
    grace: Duration,
) -> std::io::Result<ExitStatus> {
    let mut kill_at: Option<Instant> = None;
    let mut interrupted = false;
    // A stop requested before this step started applies to it too.
    let mut pending = *stop.borrow();
    loop {
        match pending {
            Stop::Graceful if !interrupted => {
                interrupted = true;
                if let Some(pid) = child.id() {
                    // SAFETY: kill(2) with a pid we own and a valid signal number.
                    unsafe { libc::kill(pid as libc::pid_t, libc::SIGINT) };
                }
                kill_at = Some(Instant::now() + grace);
            }
            Stop::Force => {
                let _ = child.start_kill();
            }
            _ => {}
        }
        tokio::select! {
            status = child.wait() => return status,
            changed = stop.changed() => {
                pending = if changed.is_ok() { *stop.borrow() } else { Stop::No };
                if changed.is_err() {
                    // Nobody can ask to stop any more: just wait.
                    return child.wait().await;
                }
            }
            _ = tokio::time::sleep_until(kill_at.unwrap_or_else(Instant::now)), if kill_at.is_some() => {
                let _ = child.start_kill();
                kill_at = None;
            }
        }
    }
}

fn end_of(status: ExitStatus) -> StepEnd {
    match status.code() {
        Some(code) => StepEnd::Exited(code),
        None => StepEnd::Killed,
    }
}

/// Forwards whole lines (bytes, newline included) as they arrive.
async fn pump_lines(stream: Option<impl AsyncRead + Unpin>, log: mpsc::Sender<Vec<u8>>) {
    let Some(stream) = stream else { return };
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = Vec::new();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                if !line.ends_with(b"\n") {
                    line.push(b'\n');
                }
                if log.send(line).await.is_err() {
                    return;
                }
            }
        }
    }
}
