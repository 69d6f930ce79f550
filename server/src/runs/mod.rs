//! Terraform runs: starting them, the approval gates, canceling, and (in `engine`) running them.
//! HTTP handlers and server functions call `Runs`; it checks the caller (`policy`), moves the run
//! through its state machine in the database, and wakes whoever needs to know.

pub mod diagnostics;
pub mod drift;
pub mod engine;
pub mod live_log;
pub mod logs;
pub mod plan;
pub mod policy;
pub mod promotion;
pub mod scrub;
pub mod source;
pub mod terraform;
pub mod variables;
pub mod wakeup;
pub mod workspace;

use app::model::audit::AuditAction;
use crate::config::Config;
use crate::db::audit::NewAuditEvent;
use crate::db::runs::{Decision, NewApproval, NewRun, RunRow, Transition};
use crate::encryption::DataKey;
use crate::db::{Db, DbError};
use crate::environments::Environments;
use app::model::run::{EnvironmentActivity, Run, RunKind, RunStatus, RunView};
use app::model::{Environment, Identity};
use chrono::{DateTime, Utc};
use source::{Source, SourceError};
use std::sync::Arc;
use std::time::Duration;
use terraform::Terraform;
use wakeup::Wakeup;

/// A run's message is a short note ("bump fastify-nova to 2 tasks"), not a document.
pub const MAX_MESSAGE_CHARS: usize = 500;
pub const MAX_COMMENT_CHARS: usize = 2000;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("no environment called {0:?}")]
    UnknownEnvironment(String),
    #[error("no run {0}")]
    NotFound(i64),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    /// The plan is stale: the run is now `expired`.
    #[error("{0}")]
    Expired(String),
    /// The infra repository could not be read (a fetch failed): nothing was created.
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<SourceError> for RunError {
    fn from(e: SourceError) -> Self {
        match e {
            SourceError::Ref(m) => RunError::Invalid(m),
            SourceError::Unavailable(m) => RunError::Unavailable(m),
        }
    }
}

/// A run as its requester asks for it.
#[derive(Clone, Copy, Debug)]
pub struct RunRequest<'a> {
    pub kind: RunKind,
    pub message: &'a str,
    /// A branch, tag or commit; `None`: the branch.
    pub git_ref: Option<&'a str>,
    /// An admin's reason for applying what the promotion source has not applied.
    pub override_promotion: Option<&'a str>,
}

/// The run page shows at most this much of a log when it loads; the rest is a download away.
const LOG_TAIL_BYTES: i64 = 256 * 1024;
/// Runs on an environment's run list page.
const RUNS_PAGE_LENGTH: i64 = 100;

#[derive(Clone)]
pub struct Runs {
    pub db: Db,
    pub config: Arc<Config>,
    pub environments: Environments,
    pub wakeup: Wakeup,
    /// Everyone watching a run's log live, one reader per run.
    pub live_logs: Arc<live_log::LiveLogs>,
    pub terraform: Terraform,
    /// Prices each plan.
    pub costs: crate::costs::Costs,
    /// The configured binary is the test fixture, not terraform (the UI says so).
    pub simulated: bool,
    /// Where the code comes from (a git mirror, a checkout, a plain directory).
    pub source: Arc<Source>,
    /// The variables secret of each environment is read through it.
    pub secrets: crate::secrets::Secrets,
    /// Which state version each apply wrote is recorded through it.
    pub states: crate::state::States,
    /// Seals saved plans (and anything else a run keeps that holds secrets).
    pub data_key: DataKey,
    /// Set once when the process shuts down: workers stop taking work and interrupt terraform.
    shutdown: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Runs {
    pub async fn new(
        db: Db,
        config: Arc<Config>,
        environments: Environments,
        costs: crate::costs::Costs,
        secrets: crate::secrets::Secrets,
        states: crate::state::States,
    ) -> anyhow::Result<Runs> {
        let data_dir = &config.server.data_dir;
        let data_key = DataKey::load(config.server.data_key.as_ref().map(|k| k.expose()), data_dir)?;
        let plugin_cache = data_dir.join("plugin-cache");
        std::fs::create_dir_all(&plugin_cache)
            .map_err(|e| anyhow::anyhow!("cannot create the provider cache {}: {e}", plugin_cache.display()))?;
        let terraform = Terraform {
            bin: config.terraform.bin.clone(),
            grace: Duration::from_secs(config.runs.cancel_grace_seconds),
            plugin_cache,
            endpoint_url: config.aws.endpoint_url.as_ref().map(|u| u.as_str().trim_end_matches('/').to_string()),
        };
        let simulated = terraform.is_simulated().await;
        let source = Arc::new(Source::from_config(&config));
        let shutdown = Arc::new(tokio::sync::watch::channel(false).0);
        let wakeup = Wakeup::new(db.clone());
        let live_logs = live_log::LiveLogs::new(db.clone(), wakeup.clone(), config.runs.live_streams_per_user, config.runs.live_streams_total);
        Ok(Runs {
            wakeup,
            live_logs,
            db,
            config,
            environments,
            terraform,
            costs,
            simulated,
            source,
            secrets,
            states,
            data_key,
            shutdown,
        })
    }

    /// Stops the workers: no new work, and running terraform gets SIGINT (its clean way out).
    pub fn shut_down(&self) {
        self.shutdown.send_replace(true);
    }

    pub fn shutting_down(&self) -> tokio::sync::watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    fn lease_until(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::seconds(self.config.runs.lease_seconds as i64)
    }

    fn environment(&self, name: &str) -> Result<&Environment, RunError> {
        self.environments.get(name).ok_or_else(|| RunError::UnknownEnvironment(name.to_string()))
    }

    /// Queues a run of `git_ref` (default: the branch), resolved to a commit now: the run plans
    /// and applies that commit whatever the branch does meanwhile.
    pub async fn create(&self, who: &Identity, env: &str, request: RunRequest<'_>) -> Result<Run, RunError> {
        let environment = self.environment(env)?;
        policy::may_start(who).map_err(RunError::Forbidden)?;
        if request.kind == RunKind::Drift {
            return Err(RunError::Invalid(format!("drift checks are started with POST /api/v1/environments/{env}/drift-check")));
        }
        let message = request.message.trim();
        if message.chars().count() > MAX_MESSAGE_CHARS {
            return Err(RunError::Invalid(format!("the message is longer than {MAX_MESSAGE_CHARS} characters")));
        }
        let override_reason = match request.override_promotion.map(str::trim) {
            None => None,
            Some(reason) => {
                policy::may_override_promotion(who).map_err(RunError::Forbidden)?;
                if reason.is_empty() || reason.chars().count() > MAX_COMMENT_CHARS {
                    return Err(RunError::Invalid(format!("override_promotion needs a reason (up to {MAX_COMMENT_CHARS} characters)")));
                }
                Some(reason)
            }
        };
        let pinned = self.source.pin(request.git_ref).await?;
        let commit = pinned.commit.as_ref().map(|c| c.sha.as_str());
        // Refused before anything runs; an override is recorded only where it was needed.
        let promotion_override = match promotion::check(self, environment, request.kind, commit).await? {
            promotion::Verdict::Refused(why) if override_reason.is_none() => return Err(RunError::Conflict(why)),
            promotion::Verdict::Refused(_) => override_reason,
            promotion::Verdict::Allowed | promotion::Verdict::NotEnforced => None,
        };
        let new = NewRun { environment: env, kind: request.kind, requested_by: &who.name, message, pinned: &pinned, promotion_override };
        let row = self.db.insert_run(&new).await?;
        self.wakeup.work_available().await;
        self.wakeup.run_changed(row.id).await;
        Ok(row.into_run(vec![]))
    }

    /// The environment's Terraform variables, as its page lists them (values of sensitive ones
    /// never leave the server).
    pub async fn variables(&self, env: &str) -> Result<app::model::variables::Variables, RunError> {
        let env = self.environment(env)?;
        Ok(variables::describe(env, &self.secrets).await)
    }

    /// A link to `commit`, from `terraform.commit_url`.
    pub fn commit_url(&self, commit: Option<&str>) -> Option<String> {
        self.config.terraform.commit_link(commit)
    }

    async fn load(&self, id: i64) -> Result<Run, RunError> {
        let row = self.db.get_run(id).await?.ok_or(RunError::NotFound(id))?;
        let approvals = self.db.approvals(id).await?;
        Ok(row.into_run(approvals))
    }

    pub async fn get(&self, id: i64) -> Result<Run, RunError> {
        self.load(id).await
    }

    /// The end of run `id`'s log, as its page shows it when it loads.
    pub async fn log_tail(&self, id: i64) -> Result<app::server_fns::LogTail, RunError> {
        let run = self.load(id).await?;
        Ok(logs::tail(&self.db, &run, LOG_TAIL_BYTES).await?)
    }

    /// An environment's run list as `who` sees it: the newest runs, what `who` may start, where
    /// the code comes from and the environment's variables.
    pub async fn page(&self, who: &Identity, env: &str) -> Result<app::server_fns::RunsPage, RunError> {
        let environment = self.environment(env)?.clone();
        // The list and the variables (a Secrets Manager read) at once.
        let (runs, variables) = tokio::join!(self.list(env, RUNS_PAGE_LENGTH, None), self.variables(env));
        Ok(app::server_fns::RunsPage {
            environment,
            runs: runs?,
            can_start: policy::may_start(who).is_ok(),
            can_override_promotion: policy::may_override_promotion(who).is_ok(),
            simulated_terraform: self.simulated,
            source: self.source.describe(),
            variables: variables?,
        })
    }

    pub async fn view(&self, who: &Identity, id: i64) -> Result<RunView, RunError> {
        let run = self.load(id).await?;
        let env = self.environment(&run.environment)?;
        Ok(RunView {
            commit_url: self.commit_url(run.commit.as_deref()),
            actions: policy::actions(who, &run, env),
            environment_display_name: env.display_name.clone(),
            approvals_required: env.approvals_required,
            simulated_terraform: self.simulated,
            state_page: run.error.as_deref().filter(|e| diagnostics::points_to_state_page(e)).map(|_| format!("/environments/{}/state", run.environment)),
            run,
        })
    }

    pub async fn list(&self, env: &str, limit: i64, before: Option<i64>) -> Result<Vec<Run>, RunError> {
        self.environment(env)?;
        let rows = self.db.list_runs(env, limit, before).await?;
        Ok(rows.into_iter().map(|r| r.into_run(vec![])).collect())
    }

    pub async fn activity(&self) -> Result<Vec<EnvironmentActivity>, RunError> {
        let mut all = Vec::new();
        for env in self.environments.all() {
            let activity = self.db.environment_activity(&env.name).await?;
            let applied = activity.applied.as_ref().and_then(|r| r.infra_commit.as_deref());
            let promotion = promotion::describe(self, env, applied).await;
            let drift = drift::status(self, &env.name).await?;
            all.push(EnvironmentActivity {
                promotion,
                drift: Some(drift),
                environment: env.name.clone(),
                active: activity.active.map(|r| r.into_run(vec![])),
                last: activity.last.map(|r| r.into_run(vec![])),
                applied: activity.applied.map(|r| r.into_run(vec![])),
                queued: activity.queued,
                ..Default::default()
            });
        }
        Ok(all)
    }

    fn event(who: &str, action: AuditAction, run: &Run, details: serde_json::Value) -> NewAuditEvent {
        NewAuditEvent::of_run(who, action, &run.environment, run.id, details)
    }

    /// Approves (or, where no approval is required, confirms) a planned run. When enough
    /// approvals are in, the run moves to `applying` — by one conditional UPDATE, so however many
    /// approvals race, exactly one apply is queued.
    pub async fn approve(&self, who: &Identity, id: i64, comment: &str, confirm: Option<&str>) -> Result<Run, RunError> {
        let run = self.load(id).await?;
        let env = self.environment(&run.environment)?.clone();
        check_comment(comment)?;
        policy::may_approve(who, &run, &env).map_err(RunError::Forbidden)?;
        if run.status != RunStatus::Planned {
            return Err(RunError::Conflict(format!("run {id} is {}, not waiting for approval", run.status)));
        }
        if let Some(why) = self.staleness(&run).await? {
            let row = self.db.get_run(id).await?.ok_or(RunError::NotFound(id))?;
            self.expire(&row, &why).await?;
            return Err(RunError::Expired(format!("the plan is stale ({why}) and can no longer be approved; start a new run")));
        }
        if let Some(name) = policy::confirmation_needed(&run, &env) {
            if confirm.map(str::trim) != Some(name.as_str()) {
                return Err(RunError::Invalid(format!(
                    "this plan destroys resources in {}, which has deletion protection: type the environment's name ({name}) to approve",
                    env.display_name
                )));
            }
        }
        let approvals_so_far = run.approvals.iter().filter(|a| a.decision == "approve").count() as u32;
        let enough = approvals_so_far + 1 >= env.approvals_required.max(1);
        let details = serde_json::json!({ "comment": comment, "approval": approvals_so_far + 1, "required": env.approvals_required });
        let outcome = if enough {
            let event = Self::event(&who.name, AuditAction::RunApproved, &run, details);
            self.db
                .transition(id, RunStatus::Planned, RunStatus::Applying, None, Some(NewApproval { user: &who.name, decision: Decision::Approve, comment }), &event)
                .await
        } else {
            self.db.add_approval(id, NewApproval { user: &who.name, decision: Decision::Approve, comment }, &Self::event(&who.name, AuditAction::RunApprovalAdded, &run, details)).await
        };
        match outcome {
            Ok(Transition::Done) => {}
            Ok(Transition::NotFound) => return Err(RunError::NotFound(id)),
            Ok(Transition::WrongState(now)) => {
                return Err(RunError::Conflict(format!("run {id} is {now}, not waiting for approval")))
            }
            Ok(Transition::AlreadyDecided) => return Err(RunError::Conflict("you have already approved this run".into())),
            Err(e) => return Err(e.into()),
        }
        self.wakeup.run_changed(id).await;
        if enough {
            self.wakeup.work_available().await;
        }
        self.load(id).await
    }

    /// Why the plan of `run` can no longer be applied, if it cannot.
    async fn staleness(&self, run: &Run) -> Result<Option<String>, RunError> {
        let Some(planned_at) = run.planned_at else { return Ok(None) };
        let age = Utc::now() - planned_at;
        if age > chrono::Duration::seconds(self.config.runs.plan_ttl_seconds as i64) {
            return Ok(Some("it is older than runs.plan_ttl_seconds".into()));
        }
        if self.db.applied_since(&run.environment, planned_at).await? {
            return Ok(Some("the environment was applied after this plan was made".into()));
        }
        Ok(None)
    }

    pub async fn expire(&self, row: &RunRow, why: &str) -> Result<(), RunError> {
        let run = row.clone().into_run(vec![]);
        let event = Self::event("system", AuditAction::RunExpired, &run, serde_json::json!({ "reason": why }));
        let error = format!("Expired: {why}.");
        if self.db.transition(row.id, RunStatus::Planned, RunStatus::Expired, Some(&error), None, &event).await?
            == Transition::Done
        {
            self.wakeup.run_changed(row.id).await;
            self.wakeup.work_available().await;
        }
        Ok(())
    }

    pub async fn reject(&self, who: &Identity, id: i64, comment: &str) -> Result<Run, RunError> {
        let run = self.load(id).await?;
        let env = self.environment(&run.environment)?.clone();
        check_comment(comment)?;
        policy::may_reject(who, &run, &env).map_err(RunError::Forbidden)?;
        let event = Self::event(&who.name, AuditAction::RunRejected, &run, serde_json::json!({ "comment": comment }));
        let error = format!("Discarded by {}.", who.name);
        match self
            .db
            .transition(id, RunStatus::Planned, RunStatus::Discarded, Some(&error), Some(NewApproval { user: &who.name, decision: Decision::Reject, comment }), &event)
            .await
        {
            Ok(Transition::Done) => {}
            Ok(Transition::NotFound) => return Err(RunError::NotFound(id)),
            Ok(Transition::WrongState(now)) => {
                return Err(RunError::Conflict(format!("run {id} is {now}, not waiting for approval")))
            }
            Ok(Transition::AlreadyDecided) => return Err(RunError::Conflict("you have already decided on this run".into())),
            Err(e) => return Err(e.into()),
        }
        self.wakeup.run_changed(id).await;
        self.wakeup.work_available().await;
        self.load(id).await
    }

    /// Cancels a run. Queued or waiting runs end at once; a running terraform gets SIGINT (then
    /// SIGKILL after the grace period). `force` (admins) ends the run at once in any case.
    pub async fn cancel(&self, who: &Identity, id: i64, force: bool) -> Result<Run, RunError> {
        let run = self.load(id).await?;
        let env = self.environment(&run.environment)?.clone();
        if force {
            policy::may_force_cancel(who).map_err(RunError::Forbidden)?;
        } else {
            policy::may_cancel(who, &run, &env).map_err(RunError::Forbidden)?;
        }
        if run.status.is_terminal() {
            return Err(RunError::Conflict(format!("run {id} is already {}", run.status)));
        }
        let action = if force { AuditAction::RunForceCanceled } else { AuditAction::RunCanceled };
        let event = Self::event(&who.name, action, &run, serde_json::json!({ "from": run.status }));
        let done = match run.status {
            RunStatus::Planning | RunStatus::Applying if !force => {
                let requested = Self::event(&who.name, AuditAction::RunCancelRequested, &run, serde_json::json!({ "from": run.status }));
                self.db.request_cancel(id, run.status, &who.name, &requested).await?
            }
            RunStatus::Planning | RunStatus::Applying => self.db.force_cancel(id, run.status, &who.name, &event).await?,
            status => {
                let error = format!("Canceled by {}.", who.name);
                self.db.transition(id, status, RunStatus::Canceled, Some(&error), None, &event).await? == Transition::Done
            }
        };
        if !done {
            return Err(RunError::Conflict(format!("run {id} changed while canceling; look again")));
        }
        self.wakeup.run_changed(id).await;
        self.wakeup.work_available().await;
        self.load(id).await
    }
}

fn check_comment(comment: &str) -> Result<(), RunError> {
    if comment.chars().count() > MAX_COMMENT_CHARS {
        return Err(RunError::Invalid(format!("the comment is longer than {MAX_COMMENT_CHARS} characters")));
    }
    Ok(())
}

