//! The event document: what every destination is told about an event, built once when it is
//! routed. Webhooks get it as JSON; Slack messages are rendered from it. It carries names,
//! counts and links, never a value, a log line or an error text.

use crate::config::Config;
use crate::db::notifications::EventRow;
use crate::db::{Db, DbResult};
use serde::Serialize;
use serde_json::{json, Value};

#[derive(Clone, Debug, Serialize)]
pub struct Document {
    pub id: String,
    pub event: String,
    pub at: chrono::DateTime<chrono::Utc>,
    pub environment: Option<String>,
    /// Who made the change (`system` for the control plane itself).
    pub actor: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<RunPart>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drift: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promotion: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test: Option<Value>,
    /// The page to open: the run, the secret, the state page.
    pub url: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct RunPart {
    pub id: i64,
    pub kind: String,
    /// The run's status the event reports (`planned` for an approval request).
    pub status: String,
    pub url: String,
    pub message: String,
    pub requested_by: String,
    pub commit: Option<String>,
    pub commit_url: Option<String>,
    pub plan: Option<Plan>,
    /// What the plan does to the monthly cost, in `cost_currency`.
    pub cost_delta_monthly: Option<f64>,
    pub cost_currency: Option<String>,
    /// Approvals recorded when the event happened.
    pub approvals: Vec<Value>,
    pub approvals_required: u32,
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct Plan {
    pub add: i64,
    pub change: i64,
    pub destroy: i64,
}

/// The status a run event reports, whatever the run went on to do.
fn status_of(event: &str, now: &str) -> String {
    match event {
        "run.needs_approval" => "planned",
        "run.planned" | "drift.detected" => "planned_and_finished",
        "run.applied" => "applied",
        "run.errored" => "errored",
        "run.canceled" => "canceled",
        "run.discarded" => "discarded",
        "run.expired" => "expired",
        "promotion.overridden" => "queued",
        _ => now,
    }
    .to_string()
}

/// The address people reach the server at.
pub fn base_url(config: &Config) -> String {
    match &config.server.public_url {
        Some(url) => url.as_str().trim_end_matches('/').to_string(),
        None => format!("http://{}", config.server.listen),
    }
}

pub async fn build(db: &Db, config: &Config, event: &EventRow) -> DbResult<Document> {
    let stored: Value = serde_json::from_str(&event.details).unwrap_or(Value::Null);
    let details = &stored["details"];
    let base = base_url(config);
    let env = event.environment.clone();
    let run = match event.run_id {
        Some(id) => run_part(db, config, event, id, &base).await?,
        None => None,
    };
    let pick = |keys: &[&str]| -> Value { keys.iter().map(|k| (k.to_string(), details[*k].clone())).collect::<serde_json::Map<_, _>>().into() };
    let mut doc = Document {
        id: event.uid.clone(),
        event: event.event.clone(),
        at: event.created_at,
        environment: env.clone(),
        actor: event.actor.clone(),
        url: run.as_ref().map(|r| r.url.clone()).unwrap_or_else(|| base.clone()),
        run,
        secret: None,
        lock: None,
        drift: None,
        promotion: None,
        test: None,
    };
    let env = env.unwrap_or_default();
    match event.event.as_str() {
        "secret.changed" => {
            let name = stored["target"].as_str().unwrap_or_default().to_string();
            let change = stored["action"].as_str().unwrap_or_default().trim_start_matches("secret.").replace("update", "edit");
            doc.url = format!("{base}/environments/{env}/secrets/{name}");
            doc.secret = Some(json!({
                "name": name, "change": change, "changed_keys": details["changed_keys"], "version_id": details["version_id"],
            }));
        }
        "state.force_unlocked" => {
            doc.url = format!("{base}/environments/{env}/state");
            doc.lock = Some(pick(&["lock_id", "who", "operation", "created"]));
        }
        "drift.detected" => doc.drift = Some(pick(&["add", "change", "destroy", "commit"])),
        "promotion.overridden" => doc.promotion = Some(pick(&["reason", "commit"])),
        "test" => {
            doc.url = format!("{base}/notifications");
            doc.test = Some(pick(&["destination"]));
        }
        _ => {}
    }
    Ok(doc)
}

async fn run_part(db: &Db, config: &Config, event: &EventRow, id: i64, base: &str) -> DbResult<Option<RunPart>> {
    let Some(row) = db.get_run(id).await? else { return Ok(None) };
    let approvals = db
        .approvals_until(id, event.created_at)
        .await?
        .into_iter()
        .map(|a| json!({ "user": a.user, "decision": a.decision, "at": a.at }))
        .collect();
    let cost: Option<app::model::cost::CostDiff> = row.cost_diff.as_deref().and_then(|c| serde_json::from_str(c).ok());
    let plan = row.plan().map(|p| Plan { add: p.add, change: p.change, destroy: p.destroy });
    let approvals_required = config.environments.get(&row.environment).map_or(0, |e| e.approvals_required);
    Ok(Some(RunPart {
        id,
        kind: row.kind.as_str().to_string(),
        status: status_of(&event.event, row.status.as_str()),
        url: format!("{base}/runs/{id}"),
        message: row.message.clone(),
        requested_by: row.requested_by.clone(),
        commit_url: config.terraform.commit_link(row.infra_commit.as_deref()),
        commit: row.infra_commit,
        plan,
        cost_delta_monthly: cost.as_ref().map(|c| (c.monthly_delta * 100.0).round() / 100.0),
        cost_currency: cost.map(|c| c.currency),
        approvals,
        approvals_required,
    }))
}
