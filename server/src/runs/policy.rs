//! Who may do what to a run. Pure functions of the caller, the run and its environment, used by
//! the API (to refuse) and by the run page (to show only the buttons a user may press).
//!
//! - Starting runs: operators and above.
//! - Approving, where `approvals_required` > 0: approvers and above, never the requester, once each.
//! - Confirming, where `approvals_required` = 0: operators and above, the requester included.
//! - Rejecting (discarding) a plan: its requester, or anyone who may approve it.
//! - Canceling: the requester, approvers and above, or operators where no approval is required.
//! - Force-canceling: admins.

use app::model::run::{Run, RunActions, RunStatus};
use app::model::{Environment, Identity, Role};

pub fn may_start(who: &Identity) -> Result<(), String> {
    if who.can(Role::Operator) {
        Ok(())
    } else {
        Err(format!("starting runs needs the operator role; you have {}", who.role))
    }
}

/// Why `who` may not approve `run` (status aside), or `Ok`.
pub fn may_approve(who: &Identity, run: &Run, env: &Environment) -> Result<(), String> {
    if env.approvals_required == 0 {
        return if who.can(Role::Operator) {
            Ok(())
        } else {
            Err(format!("confirming a run needs the operator role; you have {}", who.role))
        };
    }
    if !who.can(Role::Approver) {
        return Err(format!("approving {} runs needs the approver role; you have {}", env.display_name, who.role));
    }
    if who.name == run.requested_by {
        return Err(format!(
            "{} runs need approval by someone other than the requester ({})",
            env.display_name, run.requested_by
        ));
    }
    if run.approvals.iter().any(|a| a.user == who.name && a.decision == "approve") {
        return Err("you have already approved this run".to_string());
    }
    Ok(())
}

pub fn may_reject(who: &Identity, run: &Run, env: &Environment) -> Result<(), String> {
    if (who.name == run.requested_by && who.can(Role::Operator)) || may_approve(who, run, env).is_ok() {
        Ok(())
    } else {
        Err("only the requester or someone who may approve can discard this plan".to_string())
    }
}

pub fn may_cancel(who: &Identity, run: &Run, env: &Environment) -> Result<(), String> {
    let allowed = who.can(Role::Approver)
        || (who.can(Role::Operator) && (who.name == run.requested_by || env.approvals_required == 0));
    if allowed {
        Ok(())
    } else {
        Err("only the requester or an approver can cancel this run".to_string())
    }
}

pub fn may_force_cancel(who: &Identity) -> Result<(), String> {
    if who.can(Role::Admin) {
        Ok(())
    } else {
        Err("force-cancel needs the admin role".to_string())
    }
}

/// The environment's name must be typed to approve a destroying plan on a protected environment.
pub fn confirmation_needed(run: &Run, env: &Environment) -> Option<String> {
    let destroys = run.plan.as_ref().is_some_and(|p| p.has_deletes());
    (destroys && env.deletion_protection).then(|| env.name.clone())
}

/// The buttons `who` sees on the run page now.
pub fn actions(who: &Identity, run: &Run, env: &Environment) -> RunActions {
    let planned = run.status == RunStatus::Planned;
    let running = !run.status.is_terminal();
    let approve = planned.then(|| may_approve(who, run, env));
    RunActions {
        approve: matches!(approve, Some(Ok(()))),
        approve_blocked: match approve {
            Some(Err(why)) => Some(why),
            _ => None,
        },
        reject: planned && may_reject(who, run, env).is_ok(),
        cancel: running && !run.canceling && may_cancel(who, run, env).is_ok(),
        force_cancel: running && may_force_cancel(who).is_ok(),
        confirm_name: if planned { confirmation_needed(run, env) } else { None },
    }
}
