//! A run's own working copy: the infra repository at the run's commit, in
//! `<data_dir>/work/<run>-<phase>/tree`, with the plan file beside the tree. A plan and its apply
//! each get a fresh copy (the apply may run on another worker), and the copy goes when the phase
//! ends: it holds the sensitive variables file and the decrypted plan. Copies a crash left behind
//! are removed when the workers start.

use super::source::{Source, SourceError};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Plan,
    Apply,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Plan => "plan",
            Phase::Apply => "apply",
        }
    }
}

pub struct WorkingCopy {
    dir: PathBuf,
}

/// `<data_dir>/work`: only this user may look inside (variables files, decrypted plans).
pub fn work_root(data_dir: &Path) -> PathBuf {
    data_dir.join("work")
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

impl WorkingCopy {
    /// Exports `commit` (or the plain directory) into a fresh copy for `run_id`'s `phase`.
    pub async fn create(data_dir: &Path, run_id: i64, phase: Phase, source: &Source, commit: Option<&str>) -> Result<WorkingCopy, SourceError> {
        let root = work_root(data_dir);
        create_private_dir(&root).map_err(|e| SourceError::Unavailable(format!("cannot create {}: {e}", root.display())))?;
        let dir = root.join(format!("{run_id}-{}", phase.as_str()));
        // A copy of the same name is what an earlier attempt at this phase left: start afresh.
        if dir.exists() {
            let _ = tokio::fs::remove_dir_all(&dir).await;
        }
        create_private_dir(&dir).map_err(|e| SourceError::Unavailable(format!("cannot create {}: {e}", dir.display())))?;
        let copy = WorkingCopy { dir };
        source.export(commit, &copy.tree()).await?;
        Ok(copy)
    }

    /// The repository's files; environments run in `tree/<root_dir>`.
    pub fn tree(&self) -> PathBuf {
        self.dir.join("tree")
    }

    /// Where terraform writes the plan (outside the tree, so no module can read or ship it).
    pub fn plan_file(&self) -> PathBuf {
        self.dir.join("plan.tfplan")
    }

    pub async fn remove(self) {
        let dir = self.dir.clone();
        // Dropping does the removal; doing it here keeps a big tree's unlinking off the runtime.
        let _ = tokio::task::spawn_blocking(move || drop(self)).await;
        if dir.exists() {
            tracing::warn!("could not remove the working copy {}", dir.display());
        }
    }
}

impl Drop for WorkingCopy {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!("could not remove the working copy {}: {e}", self.dir.display());
            }
        }
    }
}

/// Removes working copies no live worker is using: `in_use(run_id)` tells the ones to keep.
pub async fn remove_leftovers(data_dir: &Path, in_use: impl Fn(i64) -> bool) -> usize {
    let root = work_root(data_dir);
    let Ok(entries) = std::fs::read_dir(&root) else { return 0 };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let run = name.split('-').next().and_then(|id| id.parse::<i64>().ok());
        if run.is_some_and(&in_use) {
            continue;
        }
        if tokio::fs::remove_dir_all(entry.path()).await.is_ok() {
            removed += 1;
        }
    }
    removed
}
