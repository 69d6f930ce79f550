//! Slack messages, rendered with one askama template per event
//! (`templates/notifications/slack/<event>.json`, sharing `base.json`): a headline, a few
//! fields (environment, who, plan counts, monthly cost change, commit), and a button to the
//! page that needs a look. Short, and never a log line or a value.

use super::payload::Document;
use askama::Template;

/// What the templates show, worked out from the event document.
pub struct Message {
    pub env: String,
    /// Who asked for the run (or made the change).
    pub who: String,
    /// Who made this event happen (the canceler, the editor).
    pub actor: String,
    pub run_id: i64,
    pub url: String,
    pub button: String,
    pub primary: bool,
    pub fields: Vec<(String, String)>,
}

mod filters {
    /// Text for a JSON string inside a Slack message: Slack's three escapes, then JSON's.
    pub fn slack(value: impl std::fmt::Display, _: &dyn askama::Values) -> askama::Result<String> {
        let text = value.to_string().replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
        let quoted = serde_json::to_string(&text).map_err(|e| askama::Error::Custom(Box::new(e)))?;
        Ok(quoted[1..quoted.len() - 1].to_string())
    }
}

macro_rules! templates {
    ($($event:literal => $name:ident : $path:literal),* $(,)?) => {
        $(
            #[derive(Template)]
            #[template(path = $path, escape = "none")]
            struct $name<'a> {
                m: &'a Message,
            }
        )*

        /// The message's JSON body, or `None` for an event without a template.
        fn render_event(event: &str, m: &Message) -> Option<askama::Result<String>> {
            match event {
                $($event => Some($name { m }.render()),)*
                _ => None,
            }
        }
    };
}

templates! {
    "run.needs_approval" => RunNeedsApproval: "notifications/slack/run_needs_approval.json",
    "run.applied" => RunApplied: "notifications/slack/run_applied.json",
    "run.planned" => RunPlanned: "notifications/slack/run_planned.json",
    "run.errored" => RunErrored: "notifications/slack/run_errored.json",
    "run.canceled" => RunCanceled: "notifications/slack/run_canceled.json",
    "run.discarded" => RunDiscarded: "notifications/slack/run_discarded.json",
    "run.expired" => RunExpired: "notifications/slack/run_expired.json",
    "drift.detected" => DriftDetected: "notifications/slack/drift_detected.json",
    "secret.changed" => SecretChanged: "notifications/slack/secret_changed.json",
    "state.force_unlocked" => StateForceUnlocked: "notifications/slack/state_force_unlocked.json",
    "promotion.overridden" => PromotionOverridden: "notifications/slack/promotion_overridden.json",
    "test" => Test: "notifications/slack/test.json",
}

/// The Slack body of `doc`.
pub fn render(doc: &Document) -> Result<String, String> {
    let m = message(doc);
    match render_event(&doc.event, &m) {
        Some(Ok(body)) => Ok(body),
        Some(Err(e)) => Err(format!("the Slack message of {} could not be rendered: {e}", doc.event)),
        None => Err(format!("no Slack message for {}", doc.event)),
    }
}

fn message(doc: &Document) -> Message {
    let env = doc.environment.clone().unwrap_or_default();
    let mut fields = Vec::new();
    if !env.is_empty() {
        fields.push(("Environment".into(), env.clone()));
    }
    let (mut button, mut primary) = ("Open".to_string(), false);
    let mut who = doc.actor.clone();
    if let Some(run) = &doc.run {
        who = run.requested_by.clone();
        fields.push(("Requested by".into(), run.requested_by.clone()));
        if let Some(p) = run.plan {
            fields.push(("Plan".into(), format!("{} to add, {} to change, {} to destroy", p.add, p.change, p.destroy)));
        }
        if let (Some(delta), Some(currency)) = (run.cost_delta_monthly, &run.cost_currency) {
            fields.push(("Monthly cost".into(), money(delta, currency)));
        }
        if let Some(commit) = &run.commit {
            let short = &commit[..commit.len().min(10)];
            fields.push(("Commit".into(), short.to_string()));
        }
        if !run.message.is_empty() {
            fields.push(("Message".into(), shorten(&run.message, 200)));
        }
        if doc.event == "run.needs_approval" {
            let given = run.approvals.iter().filter(|a| a["decision"] == "approve").count();
            if run.approvals_required > 1 {
                fields.push(("Approvals".into(), format!("{given} of {}", run.approvals_required)));
            }
            (button, primary) = ("Review and approve".into(), true);
        } else {
            button = "Open the run".into();
        }
    }
    if let Some(secret) = &doc.secret {
        fields.push(("Secret".into(), secret["name"].as_str().unwrap_or_default().to_string()));
        let keys: Vec<&str> = secret["changed_keys"].as_array().into_iter().flatten().filter_map(|k| k.as_str()).collect();
        fields.push((format!("Keys ({})", secret["change"].as_str().unwrap_or("changed")), shorten(&keys.join(", "), 300)));
        button = "Open the secret".into();
    }
    if let Some(lock) = &doc.lock {
        fields.push(("Lock held by".into(), lock["who"].as_str().unwrap_or_default().to_string()));
        fields.push(("Lock ID".into(), lock["lock_id"].as_str().unwrap_or_default().to_string()));
        button = "Open the state page".into();
    }
    if let Some(reason) = doc.promotion.as_ref().and_then(|p| p["reason"].as_str()) {
        fields.push(("Reason".into(), shorten(reason, 200)));
    }
    if doc.test.is_some() {
        fields.push(("Sent by".into(), doc.actor.clone()));
        button = "Open notifications".into();
    }
    Message { env, who, actor: doc.actor.clone(), run_id: doc.run.as_ref().map_or(0, |r| r.id), url: doc.url.clone(), button, primary, fields }
}

fn money(delta: f64, currency: &str) -> String {
    let symbol = if currency == "USD" { "$".to_string() } else { format!("{currency} ") };
    let sign = if delta > 0.0 { "+" } else if delta < 0.0 { "−" } else { "±" };
    format!("{sign}{symbol}{:.2} per month", delta.abs())
}

fn shorten(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or_default();
    match line.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None if line.len() < text.len() => format!("{line}…"),
        None => line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notifications::payload::{Plan, RunPart};

    fn approval_request(message: &str) -> Document {
        Document {
            id: "evt_1".into(),
            event: "run.needs_approval".into(),
            at: chrono::Utc::now(),
            environment: Some("production".into()),
            actor: "system".into(),
            run: Some(RunPart {
                id: 42,
                kind: "apply".into(),
                status: "planned".into(),
                url: "https://zelly.example.com/runs/42".into(),
                message: message.into(),
                requested_by: "alice".into(),
                commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
                commit_url: None,
                plan: Some(Plan { add: 1, change: 2, destroy: 0 }),
                cost_delta_monthly: Some(12.5),
                cost_currency: Some("USD".into()),
                approvals: vec![],
                approvals_required: 1,
            }),
            secret: None,
            lock: None,
            drift: None,
            promotion: None,
            test: None,
            url: "https://zelly.example.com/runs/42".into(),
        }
    }

    #[test]
    fn an_approval_request_names_the_environment_the_requester_the_plan_the_cost_and_links_to_the_run() {
        let body: serde_json::Value = serde_json::from_str(&render(&approval_request("Scale the API")).unwrap()).unwrap();
        assert_eq!(body["text"], "production: run #42 by alice is waiting for approval");
        let text = body.to_string();
        for part in ["Requested by", "alice", "1 to add, 2 to change, 0 to destroy", "+$12.50 per month", "0123456789", "Scale the API"] {
            assert!(text.contains(part), "{part} in {text}");
        }
        let button = &body["blocks"][2]["elements"][0];
        assert_eq!(button["text"]["text"], "Review and approve");
        assert_eq!(button["url"], "https://zelly.example.com/runs/42");
    }

    #[test]
    fn quotes_markup_and_newlines_in_what_people_typed_stay_inside_their_strings() {
        let body = render(&approval_request("say \"hi\" <!channel> & {}\nsecond line")).unwrap();
        let body: serde_json::Value = serde_json::from_str(&body).expect("valid JSON");
        let text = body.to_string();
        assert!(text.contains(r#"say \"hi\" &lt;!channel&gt; &amp; {}…"#), "{text}");
        assert!(!text.contains("second line"), "one line of the message only");
    }

    #[test]
    fn every_event_has_a_message() {
        for event in crate::config::notifications::EVENTS {
            let doc = Document { event: event.to_string(), ..approval_request("m") };
            let body = render(&doc).unwrap_or_else(|e| panic!("{event}: {e}"));
            serde_json::from_str::<serde_json::Value>(&body).unwrap_or_else(|e| panic!("{event}: {e}: {body}"));
        }
    }
}
