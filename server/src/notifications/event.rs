//! Which audited changes are notification events. The outbox row is written by the same
//! statement batch as the audit row (`db::notifications`), so deciding here, from the audit
//! event, keeps the two from ever disagreeing.

use crate::db::audit::NewAuditEvent;
use app::model::audit::AuditAction;

/// An event as the outbox records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    pub event: &'static str,
    /// The change is made in AWS after its audit row: the event waits until it is confirmed.
    pub held: bool,
    pub run_id: Option<i64>,
}

pub fn of_audit(audit: &NewAuditEvent) -> Option<Outgoing> {
    let status = audit.details.get("status").and_then(|s| s.as_str());
    let (event, held) = match audit.action {
        AuditAction::RunPlanned if status == Some("planned") => ("run.needs_approval", false),
        AuditAction::RunPlanned => ("run.planned", false),
        AuditAction::RunApplied => ("run.applied", false),
        AuditAction::RunErrored => ("run.errored", false),
        AuditAction::RunCanceled | AuditAction::RunForceCanceled => ("run.canceled", false),
        AuditAction::RunRejected => ("run.discarded", false),
        AuditAction::RunExpired => ("run.expired", false),
        AuditAction::RunPromotionOverridden => ("promotion.overridden", false),
        AuditAction::EnvironmentDrifted => ("drift.detected", false),
        AuditAction::SecretUpdate | AuditAction::SecretRotate | AuditAction::SecretRollback => ("secret.changed", true),
        AuditAction::StateForceUnlocked => ("state.force_unlocked", true),
        // An admin's "Send test": its event goes only to the destination named.
        AuditAction::NotificationTest => ("test", false),
        _ => return None,
    };
    let run_id = audit.target.as_deref().and_then(|t| t.strip_prefix("run ")).and_then(|id| id.parse().ok());
    Some(Outgoing { event, held, run_id })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn audit(action: &'static str, target: &str, details: serde_json::Value) -> NewAuditEvent {
        NewAuditEvent { actor: "a".into(), action: action.parse().expect("an audit action"), environment: Some("production".into()), target: Some(target.into()), details }
    }

    #[test]
    fn a_plan_waiting_for_a_decision_is_an_approval_request_and_a_finished_plan_is_not() {
        let waiting = of_audit(&audit("run.planned", "run 7", json!({ "status": "planned" }))).unwrap();
        assert_eq!(waiting, Outgoing { event: "run.needs_approval", held: false, run_id: Some(7) });
        let finished = of_audit(&audit("run.planned", "run 8", json!({ "status": "planned_and_finished" }))).unwrap();
        assert_eq!(finished.event, "run.planned");
        assert_eq!(of_audit(&audit("run.no_changes", "run 9", json!({}))), None);
    }

    #[test]
    fn changes_made_in_aws_after_their_audit_row_are_held() {
        assert!(of_audit(&audit("secret.rotate", "zelly/production/api", json!({}))).unwrap().held);
        assert!(of_audit(&audit("state.force_unlocked", "state lock x", json!({}))).unwrap().held);
        assert!(!of_audit(&audit("run.applied", "run 1", json!({}))).unwrap().held);
        assert_eq!(of_audit(&audit("secret.view", "zelly/production/api", json!({}))), None, "reading is not a change");
    }
}
