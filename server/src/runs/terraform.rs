//! Runs the terraform binary per the contract: in the environment's root directory of the run's
//! working copy, with `TF_IN_AUTOMATION=1`, the environment's region and profile, the shared
//! provider cache, no stdin, and output streamed line by line into the run log as it is produced
//! (and read for terraform's own diagnostics). A stop request sends SIGINT (terraform then stops
//! its provisioners, writes the state and releases the lock) and SIGKILL after the grace period;
//! a forced stop kills at once.
//!
//! Terraform runs in a process group of its own and dies with the worker: if the server is
//! killed, the kernel kills terraform too (`PR_SET_PDEATHSIG`), so nothing runs unsupervised.

use super::diagnostics::Diagnostics;
use app::model::Environment;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
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
    pub grace: Duration,
    /// Shared by every working copy (`TF_PLUGIN_CACHE_DIR`): a provider is downloaded once, not
    /// for every plan and apply.
    pub plugin_cache: PathBuf,
    /// `aws.endpoint_url`: terraform's AWS calls (its S3 backend, the AWS provider) go there too.
    pub endpoint_url: Option<String>,
}

impl Terraform {
    fn command(&self, env: &Environment, dir: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_INPUT", "0")
            .env("TF_PLUGIN_CACHE_DIR", &self.plugin_cache)
            // Without it, terraform ≥ 1.4 ignores the cache when the lock file lacks the cached
            // package's checksum (a repository that commits no lock file), and downloads every
            // provider again for each fresh copy. The lock file it then writes is the run's own.
            .env("TF_PLUGIN_CACHE_MAY_BREAK_DEPENDENCY_LOCK_FILE", "true")
            .env("AWS_REGION", &env.region)
            .env("AWS_DEFAULT_REGION", &env.region)
            .process_group(0)
            .kill_on_drop(true);
        if let Some(profile) = &env.aws_profile {
            cmd.env("AWS_PROFILE", profile);
        }
        if let Some(url) = &self.endpoint_url {
            cmd.env("AWS_ENDPOINT_URL", url);
        }
        let parent = std::process::id();
        // SAFETY: between fork and exec only async-signal-safe calls (prctl, getppid, _exit).
        unsafe {
            cmd.pre_exec(move || {
                // The signal comes when the thread that spawned terraform ends: a runtime worker,
                // which lives as long as the process.
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The server died before the line above took effect: do not run orphaned.
                if libc::getppid() as u32 != parent {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
        cmd
    }

    /// Runs one step in `dir` with stdout and stderr going to `log`, line by line.
    pub async fn run_logged(
        &self,
        env: &Environment,
        dir: &Path,
        args: &[&str],
        log: &mpsc::Sender<Vec<u8>>,
        stop: &mut watch::Receiver<Stop>,
    ) -> std::io::Result<(StepEnd, Diagnostics)> {
        let mut child = self.command(env, dir, args).spawn()?;
        let diagnostics = Arc::new(Mutex::new(Diagnostics::default()));
        let pumps = [
            tokio::spawn(pump_lines(child.stdout.take(), log.clone(), diagnostics.clone())),
            tokio::spawn(pump_lines(child.stderr.take(), log.clone(), diagnostics.clone())),
        ];
        let status = supervise(&mut child, stop, self.grace).await?;
        for pump in pumps {
            let _ = pump.await;
        }
        let diagnostics = std::mem::take(&mut *diagnostics.lock().unwrap_or_else(|e| e.into_inner()));
        Ok((end_of(status), diagnostics))
    }

    /// Runs one step in `dir` capturing stdout (e.g. `show -json`); stderr goes to `log`.
    pub async fn run_captured(
        &self,
        env: &Environment,
        dir: &Path,
        args: &[&str],
        log: &mpsc::Sender<Vec<u8>>,
        stop: &mut watch::Receiver<Stop>,
    ) -> std::io::Result<(StepEnd, Vec<u8>)> {
        let mut child = self.command(env, dir, args).spawn()?;
        let mut stdout = child.stdout.take();
        let reader = tokio::spawn(async move {
            let mut out = Vec::new();
            if let Some(s) = stdout.as_mut() {
                let _ = tokio::io::AsyncReadExt::read_to_end(s, &mut out).await;
            }
            out
        });
        let pump = tokio::spawn(pump_lines(child.stderr.take(), log.clone(), Default::default()));
        let status = supervise(&mut child, stop, self.grace).await?;
        let out = reader.await.unwrap_or_default();
        let _ = pump.await;
        Ok((end_of(status), out))
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
    let group = child.id();
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
            Stop::Force => kill_group(child),
            _ => {}
        }
        tokio::select! {
            status = child.wait() => {
                if interrupted || pending == Stop::Force {
                    if let Some(group) = group {
                        kill_stragglers(group);
                    }
                }
                return status;
            }
            changed = stop.changed() => {
                pending = if changed.is_ok() { *stop.borrow() } else { Stop::No };
                if changed.is_err() {
                    // Nobody can ask to stop any more: just wait.
                    return child.wait().await;
                }
            }
            _ = tokio::time::sleep_until(kill_at.unwrap_or_else(Instant::now)), if kill_at.is_some() => {
                kill_group(child);
                kill_at = None;
            }
        }
    }
}

/// After an interrupted terraform exits, what it started may live on (terraform kills a
/// provisioner's shell, not the shell's children). Whatever still belongs to its process group
/// is killed. While any process is in the group, the group's id cannot be given to another
/// process, so a member found in /proc is ours.
fn kill_stragglers(group: u32) {
    let Ok(entries) = std::fs::read_dir("/proc") else { return };
    let in_group = entries.flatten().any(|e| {
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        // pid (comm) state ppid pgrp …: comm may contain spaces, so count from its closing ')'.
        stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(2)?.parse::<u32>().ok()) == Some(group)
    });
    if in_group {
        // SAFETY: kill(2) on a process group that still has members of ours.
        unsafe { libc::kill(-(group as libc::pid_t), libc::SIGKILL) };
    }
}

/// SIGKILL to terraform and everything it started (provisioners, providers). Only while the
/// child has not been waited for: until then its pid, and so its group's id, cannot be reused.
fn kill_group(child: &mut tokio::process::Child) {
    if let Some(pid) = child.id() {
        // SAFETY: kill(2) on the process group our child leads.
        unsafe { libc::kill(-(pid as libc::pid_t), libc::SIGKILL) };
    }
    let _ = child.start_kill();
}

fn end_of(status: ExitStatus) -> StepEnd {
    match status.code() {
        Some(code) => StepEnd::Exited(code),
        None => StepEnd::Killed,
    }
}

/// Forwards whole lines (bytes, newline included) as they arrive, showing each to `diagnostics`.
async fn pump_lines(stream: Option<impl AsyncRead + Unpin>, log: mpsc::Sender<Vec<u8>>, diagnostics: Arc<Mutex<Diagnostics>>) {
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
                diagnostics.lock().unwrap_or_else(|e| e.into_inner()).observe(&line);
                if log.send(line).await.is_err() {
                    return;
                }
            }
        }
    }
}
