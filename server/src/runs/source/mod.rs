//! Where a run's Terraform code comes from, and a copy of it at one commit.
//!
//! - `terraform.repo_url`: a bare mirror in `<data_dir>/repository.git`, fetched before each run
//!   is created (and again when a worker lacks a commit another replica resolved);
//! - otherwise `terraform.infra_dir`, when it is the top of a git repository: read with git at
//!   the branch's last commit. Its working tree, index and uncommitted edits are never read, and
//!   nothing in it is written;
//! - otherwise `infra_dir` is a plain directory, copied as it is for each run: no commit is
//!   recorded, and the run page says so.
//!
//! Git never prompts (no terminal, `GIT_TERMINAL_PROMPT=0`, ssh in batch mode): a credential it
//! lacks is an error naming the repository, with any password in its URL redacted.

use crate::config::validate::check_ref;
use crate::config::{Config, RepoUrl};
use crate::db::runs::{CommitInfo, Pinned};
use app::model::run::CodeSource;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// The longest one git command may take (a first clone of a big repository included).
const GIT_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The ref is malformed or not in the repository: the requester can fix it.
    #[error("{0}")]
    Ref(String),
    /// Git could not do its part (a fetch failed, the repository is missing).
    #[error("{0}")]
    Unavailable(String),
}

pub struct Source {
    kind: Kind,
    branch: String,
}

enum Kind {
    Mirror { dir: PathBuf, url: RepoUrl, fetched: Mutex<Fetched> },
    Checkout { dir: PathBuf },
    Directory { dir: PathBuf },
}

/// The mirror's fetches: one at a time, and a request is served by any fetch that started
/// after it arrived (that fetch saw everything the request could want).
#[derive(Default)]
struct Fetched {
    initialised: bool,
    last_started: Option<Instant>,
}

impl Source {
    pub fn from_config(config: &Config) -> Source {
        let tf = &config.terraform;
        let kind = match &tf.repo_url {
            Some(url) => Kind::Mirror {
                dir: config.server.data_dir.join("repository.git"),
                url: url.clone(),
                fetched: Mutex::new(Fetched::default()),
            },
            None if tf.infra_dir.join(".git").exists() => Kind::Checkout { dir: tf.infra_dir.clone() },
            None => Kind::Directory { dir: tf.infra_dir.clone() },
        };
        Source { kind, branch: tf.branch.clone() }
    }

    pub fn describe(&self) -> CodeSource {
        let (git, location) = match &self.kind {
            Kind::Mirror { url, .. } => (true, url.redacted()),
            Kind::Checkout { dir } => (true, dir.display().to_string()),
            Kind::Directory { dir } => (false, dir.display().to_string()),
        };
        CodeSource { git, location, branch: git.then(|| self.branch.clone()) }
    }

    pub fn is_git(&self) -> bool {
        !matches!(self.kind, Kind::Directory { .. })
    }

    /// Resolves `requested` (a branch, tag or commit; default the branch) to one commit, after
    /// fetching the mirror.
    pub async fn pin(&self, requested: Option<&str>) -> Result<Pinned, SourceError> {
        let requested = requested.map(str::trim).filter(|r| !r.is_empty());
        let dir = match &self.kind {
            Kind::Directory { dir } => {
                if let Some(r) = requested {
                    return Err(SourceError::Ref(format!(
                        "runs come from the plain directory {} (not a git repository), so they cannot choose a ref ({r:?})",
                        dir.display()
                    )));
                }
                return Ok(Pinned { git_ref: None, commit: None });
            }
            Kind::Mirror { dir, .. } => {
                self.fetch(Instant::now()).await?;
                dir
            }
            Kind::Checkout { dir } => dir,
        };
        let wanted = requested.unwrap_or(&self.branch);
        check_ref(wanted).map_err(|why| SourceError::Ref(format!("ref {wanted:?}: {why}")))?;
        let sha = match self.find(dir, wanted).await? {
            Some(sha) => sha,
            None if is_full_sha(wanted) && matches!(self.kind, Kind::Mirror { .. }) => {
                // A commit on no branch or tag (a pull request's, say): ask the remote for it.
                self.fetch_commit(wanted).await?;
                self.find(dir, wanted).await?.ok_or_else(|| not_found(wanted, &self.describe().location))?
            }
            None => return Err(not_found(wanted, &self.describe().location)),
        };
        let commit = self.commit_info(dir, &sha).await?;
        Ok(Pinned { git_ref: Some(wanted.to_string()), commit: Some(commit) })
    }

    /// Whether `commit` is `descendant` or one of its ancestors; `None` for a plain directory,
    /// which has no history. Reads the mirror as last fetched (run creation fetches it).
    pub async fn is_ancestor(&self, commit: &str, descendant: &str) -> Result<Option<bool>, SourceError> {
        let Some(dir) = self.repository() else { return Ok(None) };
        if commit == descendant {
            return Ok(Some(true));
        }
        let out = self.git_command(dir, &["merge-base", "--is-ancestor", commit, descendant]).stdout(Stdio::null()).output();
        let out = tokio::time::timeout(GIT_TIMEOUT, out)
            .await
            .map_err(|_| SourceError::Unavailable(format!("git merge-base took longer than {GIT_TIMEOUT:?}")))?
            .map_err(|e| SourceError::Unavailable(format!("cannot run git (is it installed?): {e}")))?;
        match out.status.code() {
            Some(0) => Ok(Some(true)),
            Some(1) => Ok(Some(false)),
            _ => Err(self.failed("merge-base", &out.stderr)),
        }
    }

    /// How many commits `to` has that `from` lacks (`git rev-list --count from..to`); `None` for
    /// a plain directory.
    pub async fn commits_between(&self, from: &str, to: &str) -> Result<Option<u64>, SourceError> {
        let Some(dir) = self.repository() else { return Ok(None) };
        let range = format!("{from}..{to}");
        let count = self.git(dir, &["rev-list", "--count", &range]).await?;
        count.trim().parse().map(Some).map_err(|_| SourceError::Unavailable(format!("git rev-list printed {count:?}")))
    }

    fn repository(&self) -> Option<&Path> {
        match &self.kind {
            Kind::Mirror { dir, .. } | Kind::Checkout { dir } => Some(dir),
            Kind::Directory { .. } => None,
        }
    }

    /// Writes the tree of `commit` (or, for a plain directory, its current contents) into `dest`.
    pub async fn export(&self, commit: Option<&str>, dest: &Path) -> Result<(), SourceError> {
        std::fs::create_dir_all(dest).map_err(|e| SourceError::Unavailable(format!("cannot create {}: {e}", dest.display())))?;
        let (dir, commit) = match (&self.kind, commit) {
            (Kind::Directory { dir }, _) => {
                let (from, to) = (dir.clone(), dest.to_path_buf());
                return tokio::task::spawn_blocking(move || copy_tree(&from, &to))
                    .await
                    .map_err(|e| SourceError::Unavailable(e.to_string()))?
                    .map_err(|e| SourceError::Unavailable(format!("cannot copy {}: {e}", dir.display())));
            }
            (Kind::Mirror { dir, .. } | Kind::Checkout { dir }, Some(commit)) => (dir, commit),
            (_, None) => {
                return Err(SourceError::Unavailable(
                    "this run has no commit recorded, but runs now come from a git repository: start a new run".into(),
                ))
            }
        };
        if self.find(dir, commit).await?.is_none() {
            if !matches!(self.kind, Kind::Mirror { .. }) {
                return Err(not_found(commit, &self.describe().location));
            }
            // Resolved by another replica after this one last fetched.
            self.fetch(Instant::now()).await?;
            if self.find(dir, commit).await?.is_none() {
                self.fetch_commit(commit).await?;
            }
        }
        self.archive(dir, commit, dest).await
    }

    async fn fetch(&self, asked: Instant) -> Result<(), SourceError> {
        let Kind::Mirror { dir, url, fetched } = &self.kind else { return Ok(()) };
        let mut state = fetched.lock().await;
        if state.last_started.is_some_and(|started| started >= asked) {
            return Ok(());
        }
        if !state.initialised {
            self.init_mirror(dir, url).await?;
            state.initialised = true;
        }
        let started = Instant::now();
        self.git(dir, &["fetch", "--prune", "--quiet", "origin"]).await?;
        state.last_started = Some(started);
        Ok(())
    }

    async fn fetch_commit(&self, sha: &str) -> Result<(), SourceError> {
        let Kind::Mirror { dir, .. } = &self.kind else { return Ok(()) };
        // Kept under a ref of ours, so the commit survives git's garbage collection.
        let refspec = format!("{sha}:refs/zelly/commits/{sha}");
        match self.git(dir, &["fetch", "--quiet", "origin", &refspec]).await {
            Ok(_) => Ok(()),
            Err(SourceError::Unavailable(_)) => Err(not_found(sha, &self.describe().location)),
            Err(e) => Err(e),
        }
    }

    /// A bare repository fetching the remote's branches and tags (not its other refs, such as
    /// pull requests, which can be many). The URL is set on every start: configuration wins.
    async fn init_mirror(&self, dir: &Path, url: &RepoUrl) -> Result<(), SourceError> {
        if !dir.join("HEAD").exists() {
            let parent = dir.parent().unwrap_or(Path::new("."));
            std::fs::create_dir_all(parent).map_err(|e| SourceError::Unavailable(format!("cannot create {}: {e}", parent.display())))?;
            self.git(parent, &["init", "--bare", "--quiet", &dir.display().to_string()]).await?;
        }
        self.git(dir, &["config", "remote.origin.url", url.expose()]).await?;
        self.git(dir, &["config", "--replace-all", "remote.origin.fetch", "+refs/heads/*:refs/heads/*"]).await?;
        self.git(dir, &["config", "--add", "remote.origin.fetch", "+refs/tags/*:refs/tags/*"]).await?;
        Ok(())
    }

    /// The commit `name` means: a commit id, then a branch, a tag, a remote-tracking branch (of
    /// a checkout), then an abbreviated commit id.
    async fn find(&self, dir: &Path, name: &str) -> Result<Option<String>, SourceError> {
        let mut candidates = Vec::new();
        if is_full_sha(name) {
            candidates.push(name.to_string());
        } else {
            candidates.extend([format!("refs/heads/{name}"), format!("refs/tags/{name}"), format!("refs/remotes/{name}")]);
            if name.len() >= 7 && name.chars().all(|c| c.is_ascii_hexdigit()) {
                candidates.push(name.to_string());
            }
        }
        for candidate in candidates {
            let spec = format!("{candidate}^{{commit}}");
            if let Ok(out) = self.git(dir, &["rev-parse", "--verify", "--quiet", &spec]).await {
                let sha = out.trim();
                if is_full_sha(sha) {
                    return Ok(Some(sha.to_string()));
                }
            }
        }
        Ok(None)
    }

    async fn commit_info(&self, dir: &Path, sha: &str) -> Result<CommitInfo, SourceError> {
        let out = self.git(dir, &["log", "-1", "--no-show-signature", "--format=%H%x1f%s%x1f%an", sha, "--"]).await?;
        let mut parts = out.trim_end_matches('\n').splitn(3, '\x1f');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(full), Some(subject), Some(author)) => {
                Ok(CommitInfo { sha: full.to_string(), subject: subject.to_string(), author: author.to_string() })
            }
            _ => Err(SourceError::Unavailable(format!("git log could not describe commit {sha}"))),
        }
    }

    /// `git archive <commit> | tar -x`: the commit's files, with their modes and symlinks.
    async fn archive(&self, dir: &Path, commit: &str, dest: &Path) -> Result<(), SourceError> {
        let mut archive = self
            .git_command(dir, &["archive", "--format=tar", commit])
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| SourceError::Unavailable(format!("cannot run git: {e}")))?;
        let stdout: Stdio = archive
            .stdout
            .take()
            .expect("stdout is piped")
            .try_into()
            .map_err(|e: std::io::Error| SourceError::Unavailable(e.to_string()))?;
        let tar = Command::new("tar")
            .arg("-x")
            .arg("-f")
            .arg("-")
            .arg("-C")
            .arg(dest)
            .stdin(stdout)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| SourceError::Unavailable(format!("cannot run tar: {e}")))?;
        let (archived, extracted) = tokio::join!(
            tokio::time::timeout(GIT_TIMEOUT, archive.wait_with_output()),
            tokio::time::timeout(GIT_TIMEOUT, tar.wait_with_output())
        );
        let timed_out = || SourceError::Unavailable(format!("writing commit {commit} took longer than {GIT_TIMEOUT:?}"));
        let (archived, extracted) = (archived.map_err(|_| timed_out())?, extracted.map_err(|_| timed_out())?);
        let archived = archived.map_err(|e| SourceError::Unavailable(e.to_string()))?;
        let extracted = extracted.map_err(|e| SourceError::Unavailable(e.to_string()))?;
        if !archived.status.success() {
            return Err(self.failed("archive", &archived.stderr));
        }
        if !extracted.status.success() {
            return Err(SourceError::Unavailable(format!("tar could not unpack commit {commit}: {}", String::from_utf8_lossy(&extracted.stderr).trim())));
        }
        Ok(())
    }

    fn git_command(&self, dir: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new("git");
        let safe = format!("safe.directory={}", dir.display());
        cmd.arg("-c")
            .arg(safe)
            .args(["-c", "core.fsmonitor=false"])
            .arg("-C")
            .arg(dir)
            .args(args)
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .env("GIT_TERMINAL_PROMPT", "0")
            .kill_on_drop(true);
        if std::env::var_os("GIT_SSH_COMMAND").is_none() {
            // Never wait for a password or a host key question nobody can answer.
            cmd.env("GIT_SSH_COMMAND", "ssh -o BatchMode=yes");
        }
        cmd
    }

    /// Runs git and returns its output; a failure carries git's own message.
    async fn git(&self, dir: &Path, args: &[&str]) -> Result<String, SourceError> {
        let out = self.git_command(dir, args).stdout(Stdio::piped()).output();
        let out = tokio::time::timeout(GIT_TIMEOUT, out)
            .await
            .map_err(|_| SourceError::Unavailable(format!("git {} took longer than {GIT_TIMEOUT:?}", args[0])))?
            .map_err(|e| SourceError::Unavailable(format!("cannot run git (is it installed?): {e}")))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(self.failed(args[0], &out.stderr))
        }
    }

    fn failed(&self, what: &str, stderr: &[u8]) -> SourceError {
        let mut message = String::from_utf8_lossy(stderr).trim().to_string();
        if let Kind::Mirror { url, .. } = &self.kind {
            message = redact_url(&message, url);
        }
        let location = self.describe().location;
        SourceError::Unavailable(format!("git {what} failed for the infra repository {location}: {message}"))
    }
}

/// `message` with the repository's password (as written, and percent-decoded) taken out.
fn redact_url(message: &str, url: &RepoUrl) -> String {
    let mut out = message.replace(url.expose(), &url.redacted());
    if let Some(password) = url::Url::parse(url.expose()).ok().and_then(|u| u.password().map(str::to_string)) {
        let decoded = url::form_urlencoded::parse(format!("p={password}").as_bytes()).next().map(|(_, v)| v.into_owned());
        for secret in [Some(password), decoded].into_iter().flatten().filter(|s| !s.is_empty()) {
            out = out.replace(&secret, "redacted");
        }
    }
    out
}

fn not_found(name: &str, location: &str) -> SourceError {
    SourceError::Ref(format!("{name:?} is not a branch, tag or commit of the infra repository {location}"))
}

fn is_full_sha(s: &str) -> bool {
    s.len() == 40 && s.chars().all(|c| c.is_ascii_hexdigit())
}

/// Copies a plain directory for a run: files with their modes, symlinks as symlinks, without
/// terraform's own `.terraform` cache or a `.git` directory.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        if name == ".terraform" || name == ".git" {
            continue;
        }
        let (source, target) = (entry.path(), to.join(&name));
        let kind = entry.file_type()?;
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&source)?, &target)?;
        } else if kind.is_dir() {
            copy_tree(&source, &target)?;
        } else {
            std::fs::copy(&source, &target)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
