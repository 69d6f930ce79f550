//! The promotion rule: an environment with `promote_from` (production, promoting from staging)
//! applies only a commit its source environment has applied — an apply run there at that commit
//! ended `applied` or `no_changes` — or an ancestor of one. Plans are always allowed. With a
//! plain infra directory there are no commits to compare, so the rule cannot be enforced.

use super::{RunError, Runs};
use app::model::run::{Promotion, RunKind};
use app::model::Environment;

/// The source environment's applied commits looked at, newest first.
const APPLIED_COMMITS: i64 = 50;

#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// The code has no commits (a plain directory).
    NotEnforced,
    Refused(String),
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(7)]
}

/// Whether `kind` at `commit` may run in `env`.
pub async fn check(runs: &Runs, env: &Environment, kind: RunKind, commit: Option<&str>) -> Result<Verdict, RunError> {
    let Some(from) = env.promote_from.as_deref() else { return Ok(Verdict::Allowed) };
    if kind != RunKind::Apply {
        return Ok(Verdict::Allowed);
    }
    let Some(commit) = commit else { return Ok(Verdict::NotEnforced) };
    let applied = runs.db.applied_commits(from, APPLIED_COMMITS).await?;
    for candidate in &applied {
        match runs.source.is_ancestor(commit, candidate).await {
            Ok(Some(true)) => return Ok(Verdict::Allowed),
            Ok(_) => {}
            // A commit applied long ago may be gone from the repository (a force-push).
            Err(e) => tracing::warn!(environment = from, commit = %candidate, "could not compare with an applied commit: {e}"),
        }
    }
    let source = runs.environments.get(from).map(|e| e.display_name.clone()).unwrap_or_else(|| from.to_string());
    let last = match applied.first() {
        Some(sha) => format!("its last applied commit is {}", short(sha)),
        None => "it has applied nothing from here yet".to_string(),
    };
    Ok(Verdict::Refused(format!(
        "{} applies only what {source} has applied: commit {} is neither applied there nor an ancestor of an applied commit \
         ({last}). Apply it to {source} first, or an admin may override with a reason.",
        env.display_name,
        short(commit)
    )))
}

/// Where `env` stands against its promotion source, for the environments page.
pub async fn describe(runs: &Runs, env: &Environment, applied: Option<&str>) -> Option<Promotion> {
    let from = env.promote_from.clone()?;
    if !runs.source.is_git() {
        return Some(Promotion { from, enforced: false, source_ahead: None });
    }
    let source_applied = runs.db.applied_commits(&from, 1).await.ok().and_then(|c| c.into_iter().next());
    let source_ahead = match (applied, source_applied.as_deref()) {
        (Some(ours), Some(theirs)) => runs.source.commits_between(ours, theirs).await.ok().flatten(),
        _ => None,
    };
    Some(Promotion { from, enforced: true, source_ahead })
}
