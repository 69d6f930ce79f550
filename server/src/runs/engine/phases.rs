//! The two phases of a run, each in its own working copy: the plan (init, plan, show; the plan
//! file, its JSON and the values to mask sealed and stored, the cost priced) and the apply
//! (init with the plan's lock file, then exactly the saved plan file).

use super::*;

/// Runs `terraform <args>` in `dir` into the log. `Ok` when it exited (with what terraform
/// said about itself), `Err(outcome)` to stop.
async fn step(
    runs: &Runs,
    env: &Environment,
    dir: &Path,
    log: &LogWriter,
    stop: &mut watch::Receiver<Stop>,
    args: &[&str],
) -> Result<(i32, Diagnostics), Outcome> {
    log.note(&format!("$ terraform {}", args.join(" "))).await;
    match runs.terraform.run_logged(env, dir, args, log.sender(), stop).await {
        Ok(_) if stopped(stop) => Err(Outcome::Canceled),
        Ok((StepEnd::Exited(code), diagnostics)) => Ok((code, diagnostics)),
        Ok((StepEnd::Killed, _)) => Err(Outcome::Failed(format!("terraform {} was killed.", args[0]))),
        Err(e) => Err(Outcome::Failed(format!("could not start {:?}: {e}", runs.terraform.bin))),
    }
}

/// `terraform init`; an apply's init keeps the lock file it was given (the plan's providers).
async fn init(
    runs: &Runs,
    env: &Environment,
    dir: &Path,
    log: &LogWriter,
    stop: &mut watch::Receiver<Stop>,
    locked: bool,
) -> Result<(), Outcome> {
    let args: &[&str] = if locked { &["init", "-input=false", "-lockfile=readonly"] } else { &["init", "-input=false"] };
    match step(runs, env, dir, log, stop, args).await? {
        (0, _) => Ok(()),
        (code, diagnostics) => Err(Outcome::Failed(diagnostics.explain("init", code))),
    }
}

/// The copy's root directory of `env`, which the commit must have.
fn root_of(copy: &WorkingCopy, run: &RunRow, env: &Environment) -> Result<PathBuf, Outcome> {
    let root = copy.tree().join(&env.terraform.root_dir);
    if root.is_dir() {
        return Ok(root);
    }
    let at = match &run.infra_commit {
        Some(commit) => format!("commit {}", &commit[..commit.len().min(12)]),
        None => "the infra directory".to_string(),
    };
    Err(Outcome::Failed(format!(
        "The root directory {} (the environment's terraform.root_dir) does not exist at {at}.",
        env.terraform.root_dir
    )))
}

/// Says in the log what code the run works on.
async fn note_source(runs: &Runs, run: &RunRow, log: &LogWriter) {
    let source = runs.source.describe();
    let line = match (&run.infra_commit, &run.source_ref) {
        (Some(commit), git_ref) => format!(
            "Infra repository {} at commit {}{}{}",
            source.location,
            &commit[..commit.len().min(12)],
            git_ref.as_ref().filter(|r| *r != commit).map(|r| format!(" ({r})")).unwrap_or_default(),
            run.commit_subject.as_ref().map(|s| format!(": {s}")).unwrap_or_default(),
        ),
        (None, _) => format!("Infra directory {} (not a git repository: no commit is recorded)", source.location),
    };
    log.note(&line).await;
}

/// Runs `work` in a fresh working copy of the run's code for `phase`, then removes the copy
/// whatever the outcome.
async fn in_working_copy(
    runs: &Runs,
    run: &RunRow,
    phase: Phase,
    log: &LogWriter,
    work: impl AsyncFnOnce(&WorkingCopy) -> Result<Outcome, Outcome>,
) -> Outcome {
    note_source(runs, run, log).await;
    let copy = match WorkingCopy::create(&runs.config.server.data_dir, run.id, phase, &runs.source, run.infra_commit.as_deref()).await {
        Ok(copy) => copy,
        Err(e) => return Outcome::Failed(format!("The working copy could not be made: {e}")),
    };
    let outcome = work(&copy).await.unwrap_or_else(|stopped| stopped);
    copy.remove().await;
    outcome
}

pub(super) async fn plan_phase(runs: &Runs, run: &RunRow, env: &Environment, log: &LogWriter, mut stop: watch::Receiver<Stop>) -> Outcome {
    in_working_copy(runs, run, Phase::Plan, log, async |copy| plan_in(runs, run, env, log, &mut stop, copy).await).await
}

async fn plan_in(
    runs: &Runs,
    run: &RunRow,
    env: &Environment,
    log: &LogWriter,
    stop: &mut watch::Receiver<Stop>,
    copy: &WorkingCopy,
) -> Result<Outcome, Outcome> {
    let root = root_of(copy, run, env)?;
    let variables = RunVariables::gather(env, &runs.secrets).await.map_err(|why| Outcome::Failed(format!("{why}.")))?;
    let scrubber = Scrubber::new(variables.sensitive_values());
    log.scrub_with(scrubber.clone());
    log.note(&variables.summary()).await;
    variables
        .write(&root)
        .map_err(|e| Outcome::Failed(format!("could not write the variables file into the working copy: {e}")))?;
    init(runs, env, &root, log, stop, false).await?;

    let plan_file = copy.plan_file();
    let out = format!("-out={}", plan_file.display());
    let mut args = vec!["plan", "-input=false", &out, "-detailed-exitcode"];
    if run.kind == RunKind::Drift {
        // Said explicitly: a drift check compares the code with the real infrastructure, read afresh.
        args.push("-refresh=true");
    }
    match step(runs, env, &root, log, stop, &args).await? {
        (0, _) => return Ok(Outcome::NoChanges),
        (2, _) => {}
        (code, diagnostics) => return Err(Outcome::Failed(diagnostics.explain("plan", code))),
    }
    let path_arg = plan_file.display().to_string();
    let show = runs.terraform.run_captured(env, &root, &["show", "-json", &path_arg], log.sender(), stop).await;
    let show_json = match show {
        Ok(_) if stopped(stop) => return Err(Outcome::Canceled),
        Ok((StepEnd::Exited(0), out)) => out,
        Ok((end, _)) => return Err(Outcome::Failed(format!("terraform show -json failed ({end:?})."))),
        Err(e) => return Err(Outcome::Failed(format!("could not run terraform show: {e}"))),
    };
    // Everything kept of the plan is made from the scrubbed JSON: the summary, the cost, the copy.
    let show_json = scrub_plan_json(&show_json, &scrubber, variables.sensitive_names())
        .map_err(|e| Outcome::Failed(format!("terraform show -json output is not a plan: {e}")))?;
    let summary = plan::summarize(&show_json).map_err(|e| Outcome::Failed(e.to_string()))?;
    let saved = std::fs::read(&plan_file)
        .map_err(|e| Outcome::Failed(format!("terraform plan wrote no plan file at {}: {e}", plan_file.display())))?;
    log.note(&format!("Plan: {} to add, {} to change, {} to destroy.", summary.add, summary.change, summary.destroy)).await;
    let cost_diff = price(runs, env, &show_json, log).await;

    let seal = |name: &'static str, bytes: &[u8]| (name, runs.data_key.seal(&sealing_context(run.id, name), bytes));
    let values = serde_json::to_vec(&variables.sensitive_values()).expect("strings serialize");
    let mut artifacts = vec![seal(artifacts::PLAN_FILE, &saved), seal(artifacts::PLAN_JSON, &show_json), seal(artifacts::SENSITIVE_VALUES, &values)];
    if let Ok(lock) = std::fs::read(root.join(artifacts::LOCK_FILE)) {
        artifacts.push((artifacts::LOCK_FILE, lock));
    }
    Ok(Outcome::Planned(Box::new(Planned { summary, cost_diff, artifacts })))
}

/// `terraform show -json` with every sensitive value masked, and the sensitive variables'
/// values taken out of `variables` entirely (that is where terraform lists them in clear).
fn scrub_plan_json<'a>(show_json: &[u8], scrubber: &Scrubber, sensitive: impl Iterator<Item = &'a String>) -> Result<Vec<u8>, serde_json::Error> {
    let mut plan: serde_json::Value = serde_json::from_slice(show_json)?;
    if let Some(variables) = plan.get_mut("variables").and_then(|v| v.as_object_mut()) {
        for name in sensitive {
            if let Some(variable) = variables.get_mut(name) {
                *variable = serde_json::json!({ "value": MASK });
            }
        }
    }
    scrubber.json(&mut plan);
    serde_json::to_vec(&plan)
}

/// A plan that cannot be priced is still a plan: the run goes on and says why there is no cost.
async fn price(runs: &Runs, env: &Environment, show_json: &[u8], log: &LogWriter) -> Option<app::model::cost::CostDiff> {
    match runs.costs.price_plan(env, show_json) {
        Ok(diff) => {
            let unpriced = match diff.unpriced.len() {
                0 => String::new(),
                1 => " (1 changed resource not priced)".to_string(),
                n => format!(" ({n} changed resources not priced)"),
            };
            log.note(&format!("Cost: {}/month{unpriced}.", app::model::cost::signed_usd(diff.monthly_delta))).await;
            Some(diff)
        }
        Err(e) => {
            log.note(&format!("No cost estimate: {e}")).await;
            None
        }
    }
}

/// A sealed artifact of the run, opened; a clear failure when it is missing or will not open.
async fn open_artifact(runs: &Runs, run_id: i64, name: &str, what: &str) -> Result<Vec<u8>, Outcome> {
    let sealed = match runs.db.artifact(run_id, name).await {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Err(Outcome::Failed(format!("The {what} is missing."))),
        Err(e) => return Err(Outcome::Failed(format!("could not read the {what}: {e}"))),
    };
    runs.data_key
        .open(&sealing_context(run_id, name), &sealed)
        .map_err(|e| Outcome::Failed(format!("The {what} could not be decrypted: {e}. Nothing was applied; start a new run.")))
}

pub(super) async fn apply_phase(runs: &Runs, run: &RunRow, env: &Environment, log: &LogWriter, mut stop: watch::Receiver<Stop>) -> Outcome {
    // The saved plan comes from the database: the apply may run on another machine than the plan.
    let opened = async {
        let plan_file = open_artifact(runs, run.id, artifacts::PLAN_FILE, "saved plan").await?;
        let values = open_artifact(runs, run.id, artifacts::SENSITIVE_VALUES, "list of values to mask").await?;
        let values: Vec<String> = serde_json::from_slice(&values).map_err(|e| Outcome::Failed(format!("the list of values to mask is damaged: {e}")))?;
        let lock = runs.db.artifact(run.id, artifacts::LOCK_FILE).await.ok().flatten();
        Ok::<_, Outcome>((plan_file, values, lock))
    };
    let (plan_file, values, lock) = match opened.await {
        Ok(opened) => opened,
        Err(outcome) => return outcome,
    };
    // The values the plan was made with, whatever the secret holds now.
    log.scrub_with(Scrubber::new(values));
    let saved = Saved { plan_file, lock };
    // Whatever the outcome, a state version written meanwhile is this apply's (terraform holds
    // the lock throughout): the state page names the run that wrote it.
    let before = runs.states.current_version(&env.name).await;
    let outcome = in_working_copy(runs, run, Phase::Apply, log, async |copy| apply_in(runs, run, env, log, &mut stop, copy, &saved).await).await;
    runs.states.record_apply(&env.name, run.id, before.as_deref()).await;
    outcome
}

/// What the plan left for its apply.
struct Saved {
    plan_file: Vec<u8>,
    /// The dependency lock file after the plan's `init`, when there was one.
    lock: Option<Vec<u8>>,
}

async fn apply_in(
    runs: &Runs,
    run: &RunRow,
    env: &Environment,
    log: &LogWriter,
    stop: &mut watch::Receiver<Stop>,
    copy: &WorkingCopy,
    saved: &Saved,
) -> Result<Outcome, Outcome> {
    let root = root_of(copy, run, env)?;
    let plan_file = copy.plan_file();
    let written = std::fs::write(&plan_file, &saved.plan_file).and_then(|_| match &saved.lock {
        Some(lock) => std::fs::write(root.join(artifacts::LOCK_FILE), lock),
        None => Ok(()),
    });
    written.map_err(|e| Outcome::Failed(format!("could not write the saved plan into the working copy: {e}")))?;
    log.note("Applying the saved plan.").await;
    init(runs, env, &root, log, stop, saved.lock.is_some()).await?;
    let path_arg = plan_file.display().to_string();
    match step(runs, env, &root, log, stop, &["apply", "-input=false", &path_arg]).await? {
        (0, _) => Ok(Outcome::Applied),
        (code, diagnostics) => Err(Outcome::Failed(diagnostics.explain("apply", code))),
    }
}
