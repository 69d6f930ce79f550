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

/// Applying a commit the promotion source has not applied is an admin's decision.
pub fn may_override_promotion(who: &Identity) -> Result<(), String> {
    if who.can(Role::Admin) {
        Ok(())
    } else {
        Err(format!("overriding the promotion rule needs the admin role; you have {}", who.role))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use app::model::run::{Approval, RunKind};
use app::model::plan::PlanSummary;

    fn who(name: &str, role: Role) -> Identity {
        Identity { user_id: 1, name: name.into(), display_name: name.into(), role }
    }

    fn run(env: &str, requested_by: &str, destroy: i64) -> Run {
        Run {
            id: 1,
            environment: env.into(),
            kind: RunKind::Apply,
            status: RunStatus::Planned,
            requested_by: requested_by.into(),
            message: String::new(),
            commit: None,
            git_ref: None,
            commit_subject: None,
            commit_author: None,
            created_at: chrono::Utc::now(),
            started_at: None,
            planned_at: None,
            apply_started_at: None,
            finished_at: None,
            plan: Some(PlanSummary { destroy, ..Default::default() }),
            cost_diff: None,
            approvals: vec![],
            error: None,
            log_bytes: 0,
            canceling: false,
            promotion_override: None,
        }
    }

    #[test]
    fn who_may_approve_reject_and_cancel() {
        let config = Config::defaults();
        let (prod, staging) = (&config.environments["production"], &config.environments["staging"]);
        let by_meera = |env| run(env, "meera", 0);
        // (user, role, environment, approve, reject, cancel)
        let table = [
            ("meera", Role::Operator, prod, false, true, true),
            ("omar", Role::Operator, prod, false, false, false),
            ("vikram", Role::Viewer, prod, false, false, false),
            ("ravi", Role::Approver, prod, true, true, true),
            ("asha", Role::Admin, prod, true, true, true),
            ("meera", Role::Operator, staging, true, true, true),
            ("omar", Role::Operator, staging, true, true, true),
            ("vikram", Role::Viewer, staging, false, false, false),
        ];
        for (name, role, env, approve, reject, cancel) in table {
            let (u, r) = (who(name, role), by_meera(env.name.as_str()));
            let row = format!("{name} ({role}) on {}", env.name);
            assert_eq!(may_approve(&u, &r, env).is_ok(), approve, "approve: {row}");
            assert_eq!(may_reject(&u, &r, env).is_ok(), reject, "reject: {row}");
            assert_eq!(may_cancel(&u, &r, env).is_ok(), cancel, "cancel: {row}");
            assert_eq!(may_force_cancel(&u).is_ok(), role == Role::Admin, "force: {row}");
        }
    }

    #[test]
    fn four_eyes_hold_for_admins_and_each_approver_counts_once() {
        let config = Config::defaults();
        let prod = &config.environments["production"];
        let mut r = run("production", "asha", 0);
        assert!(may_approve(&who("asha", Role::Admin), &r, prod).unwrap_err().contains("other than the requester"));
        r.approvals.push(Approval { user: "ravi".into(), decision: "approve".into(), comment: String::new(), at: chrono::Utc::now() });
        assert!(may_approve(&who("ravi", Role::Approver), &r, prod).unwrap_err().contains("already approved"));
    }

    #[test]
    fn only_destroying_plans_on_protected_environments_need_the_name() {
        let config = Config::defaults();
        let (prod, staging) = (&config.environments["production"], &config.environments["staging"]);
        assert_eq!(confirmation_needed(&run("production", "m", 1), prod).as_deref(), Some("production"));
        assert_eq!(confirmation_needed(&run("production", "m", 0), prod), None);
        assert_eq!(confirmation_needed(&run("staging", "m", 3), staging), None);
    }

    #[test]
    fn the_page_shows_only_what_the_user_may_press() {
        let config = Config::defaults();
        let prod = &config.environments["production"];
        let r = run("production", "meera", 1);
        let meera = actions(&who("meera", Role::Operator), &r, prod);
        assert!(!meera.approve && meera.reject && meera.cancel && !meera.force_cancel);
        assert!(meera.approve_blocked.unwrap().contains("approver role"));
        let asha = actions(&who("asha", Role::Admin), &r, prod);
        assert!(asha.approve && asha.force_cancel && asha.confirm_name.as_deref() == Some("production"));
        let mut done = r.clone();
        done.status = RunStatus::Applied;
        let after = actions(&who("asha", Role::Admin), &done, prod);
        assert_eq!(after, RunActions::default(), "a finished run has no buttons");
    }
}
