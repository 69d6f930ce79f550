//! The audit log as the API and the audit page show it, and the filters a reviewer uses.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AuditEvent {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub environment: Option<String>,
    pub target: Option<String>,
    /// JSON text: names and ids, never secret values.
    pub details: String,
}

/// Defines `AuditAction` from its variants, the names the log stores, and what each means.
macro_rules! audit_actions {
    ($($variant:ident = $name:literal, $doc:literal;)*) => {
        /// Every kind of row the audit log holds. The log stores the name (`as_str`); filters
        /// match names or their prefixes (`secret.`).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum AuditAction {
            $(#[doc = $doc] #[serde(rename = $name)] $variant,)*
        }

        impl AuditAction {
            pub const ALL: &'static [AuditAction] = &[$(AuditAction::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(AuditAction::$variant => $name,)*
                }
            }

            pub fn describe(self) -> &'static str {
                match self {
                    $(AuditAction::$variant => $doc,)*
                }
            }
        }
    };
}

audit_actions! {
    AuthSignedIn = "auth.signed_in", "A browser session started.";
    AuthSignInRefused = "auth.sign_in_refused", "A sign-in was refused (who tried, how, why).";
    AuthSignedOut = "auth.signed_out", "A browser session ended.";
    UserCreated = "user.created", "A user was seen for the first time.";
    UserRoleChanged = "user.role_changed", "A user's role changed.";
    UserDisabled = "user.disabled", "A user was disabled.";
    UserEnabled = "user.enabled", "A disabled user was let in again.";
    TokenCreated = "token.created", "An API token was created.";
    TokenRevoked = "token.revoked", "An API token was revoked.";
    RunCreated = "run.created", "A run was queued.";
    RunPromotionOverridden = "run.promotion_overridden", "A run applies a commit its promotion source has not applied.";
    RunPlanned = "run.planned", "A plan finished with changes.";
    RunNoChanges = "run.no_changes", "A plan found nothing to change.";
    RunApprovalAdded = "run.approval_added", "One approval of several was given.";
    RunApproved = "run.approved", "A plan was approved: the apply is queued.";
    RunRejected = "run.rejected", "A plan was discarded by a person.";
    RunExpired = "run.expired", "A plan waited too long or went stale.";
    RunApplyStarted = "run.apply_started", "A worker started applying.";
    RunApplied = "run.applied", "An apply finished.";
    RunErrored = "run.errored", "A run failed.";
    RunCancelRequested = "run.cancel_requested", "Someone asked a running run to stop.";
    RunCanceled = "run.canceled", "A run was canceled.";
    RunForceCanceled = "run.force_canceled", "A run was ended at once by an admin.";
    RunRequeued = "run.requeued", "A run a stopped worker held was queued again.";
    EnvironmentDrifted = "environment.drifted", "A drift check found changes made outside Terraform.";
    StateDownloaded = "state.downloaded", "A state version was downloaded.";
    StateForceUnlocked = "state.force_unlocked", "The state lock was released by force.";
    StateForceUnlockFailed = "state.force_unlock_failed", "Releasing the state lock by force failed.";
    SecretView = "secret.view", "A secret's page was opened.";
    SecretReveal = "secret.reveal", "A secret's value was revealed.";
    SecretUpdate = "secret.update", "Keys of a secret were set or removed.";
    SecretRotate = "secret.rotate", "Keys of a secret got generated values.";
    SecretRollback = "secret.rollback", "An earlier version of a secret was made current.";
    SecretWriteFailed = "secret.write_failed", "A write audited before it was made did not happen.";
    ServiceRedeploy = "service.redeploy", "An ECS service was redeployed.";
    ServiceRedeployFailed = "service.redeploy_failed", "A redeploy was refused by ECS.";
    NotificationTest = "notification.test", "An admin sent a test notification (it goes only to the destination named).";
}

impl std::str::FromStr for AuditAction {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        AuditAction::ALL.iter().copied().find(|a| a.as_str() == s).ok_or_else(|| format!("{s:?} is not an audit action"))
    }
}

impl std::fmt::Display for AuditAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Filters of the audit log, as query parameters (`?actor=&environment=&action=&since=&until=`).
/// Empty strings mean "any", so a plain GET form can send every field.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
pub struct AuditQuery {
    #[serde(default)]
    pub actor: Option<String>,
    #[serde(default)]
    pub environment: Option<String>,
    /// An action (`secret.reveal`), or every action under a prefix ending in `.` (`secret.`).
    #[serde(default)]
    pub action: Option<String>,
    /// From this time or day (UTC), inclusive: RFC 3339 or `YYYY-MM-DD`.
    #[serde(default)]
    pub since: Option<String>,
    /// Before this time, or to the end of this day (UTC).
    #[serde(default)]
    pub until: Option<String>,
    /// Events older than this id (paging).
    #[serde(default)]
    pub before: Option<i64>,
    /// 1 to 1000.
    #[serde(default)]
    #[cfg_attr(feature = "ssr", param(minimum = 1, maximum = 1000))]
    pub limit: Option<i64>,
}

impl AuditQuery {
    fn text(v: &Option<String>) -> Option<&str> {
        super::query::filled(v)
    }

    pub fn actor(&self) -> Option<&str> {
        Self::text(&self.actor)
    }

    pub fn environment(&self) -> Option<&str> {
        Self::text(&self.environment)
    }

    /// (exact action, action prefix): one of them at most.
    pub fn action(&self) -> (Option<&str>, Option<&str>) {
        match Self::text(&self.action) {
            Some(a) if a.ends_with('.') => (None, Some(a)),
            other => (other, None),
        }
    }

    /// The time range, checked: `since` ≤ times < `until`.
    pub fn range(&self) -> Result<(Option<DateTime<Utc>>, Option<DateTime<Utc>>), String> {
        let since = Self::text(&self.since).map(|s| parse_time(s, false).map_err(|e| format!("since: {e}"))).transpose()?;
        let until = Self::text(&self.until).map(|s| parse_time(s, true).map_err(|e| format!("until: {e}"))).transpose()?;
        if let (Some(a), Some(b)) = (since, until) {
            if a >= b {
                return Err("since must be before until".into());
            }
        }
        Ok((since, until))
    }

    /// The same filters as a query string (without `before`), for links to more pages and to CSV.
    pub fn to_query_string(&self) -> String {
        super::query::query_string(&[
            ("actor", Self::text(&self.actor)),
            ("environment", Self::text(&self.environment)),
            ("action", Self::text(&self.action)),
            ("since", Self::text(&self.since)),
            ("until", Self::text(&self.until)),
        ])
    }
}

/// RFC 3339, or a day: its start (or, for an end, the start of the next day).
fn parse_time(s: &str, end_of_day: bool) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| format!("{s:?} is not a date (YYYY-MM-DD) or an RFC 3339 time"))?;
    let day = if end_of_day { day.succ_opt().ok_or("date out of range")? } else { day };
    Ok(day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc())
}

/// One page of the audit log, newest first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    /// `before=` for the next (older) page, when there is one.
    pub next_before: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_times_make_a_half_open_range() {
        let q = AuditQuery { since: Some("2026-11-01".into()), until: Some("2026-11-24".into()), ..Default::default() };
        let (since, until) = q.range().unwrap();
        assert_eq!(since.unwrap().to_rfc3339(), "2026-11-01T00:00:00+00:00");
        assert_eq!(until.unwrap().to_rfc3339(), "2026-11-25T00:00:00+00:00", "the whole last day");
        let q = AuditQuery { since: Some("2026-11-24T10:00:00+05:30".into()), ..Default::default() };
        assert_eq!(q.range().unwrap().0.unwrap().to_rfc3339(), "2026-11-24T04:30:00+00:00");
        assert!(AuditQuery { since: Some("yesterday".into()), ..Default::default() }.range().unwrap_err().contains("since"));
        let backwards = AuditQuery { since: Some("2026-11-02".into()), until: Some("2026-11-01".into()), ..Default::default() };
        assert!(backwards.range().is_err());
    }

    #[test]
    fn an_action_ending_in_a_dot_is_a_prefix_and_blanks_mean_any() {
        let q = AuditQuery { action: Some("secret.".into()), actor: Some("  ".into()), ..Default::default() };
        assert_eq!(q.action(), (None, Some("secret.")));
        assert_eq!(q.actor(), None);
        let q = AuditQuery { action: Some("run.approved".into()), actor: Some("ravi & co".into()), ..Default::default() };
        assert_eq!(q.action(), (Some("run.approved"), None));
        assert_eq!(q.to_query_string(), "actor=ravi%20%26%20co&action=run.approved");
    }
}
