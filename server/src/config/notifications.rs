//! `[notifications]`: where events are sent (Slack incoming webhooks and signed generic
//! webhooks), which events and environments each destination hears, and how hard delivery tries.

use super::Redacted;
use serde::{Deserialize, Serialize};

/// Every event a destination can hear, as its `events` list and the payload's `event` name it.
pub const EVENTS: [&str; 12] = [
    "run.needs_approval",
    "run.applied",
    "run.planned",
    "run.errored",
    "run.canceled",
    "run.discarded",
    "run.expired",
    "drift.detected",
    "secret.changed",
    "state.force_unlocked",
    "promotion.overridden",
    "test",
];

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationsConfig {
    /// How often an idle sender looks for work another process queued (its own is sent at once).
    pub poll_seconds: f64,
    /// The first retry waits about this long; each further one twice as long (with jitter), up to
    /// an hour apart.
    pub retry_first_seconds: f64,
    /// A delivery still failing this long after its event is given up.
    pub retry_hours: f64,
    /// Deliveries older than this are removed.
    pub keep_days: u32,
    /// A change made in AWS after its audit row holds its event until its process confirms it;
    /// after this long without word (the process died), the sender looks in AWS itself.
    pub settle_after_seconds: u64,
    /// The environment whose Secrets Manager `url_secret` and `signing_key_secret` are read from
    /// (default: the first environment).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub secrets_environment: String,
    #[serde(default)]
    pub destinations: Vec<Destination>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Destination {
    pub name: String,
    pub kind: DestinationKind,
    /// The URL to POST to; it may carry a token (Slack's do), so it never prints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<Redacted>,
    /// Or a secret holding it: `"zelly/ops/slack#WEBHOOK_URL"`, read when sending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_secret: Option<String>,
    /// Webhooks: the HMAC-SHA256 key of `X-Zelly-Signature`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_key: Option<Redacted>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_key_secret: Option<String>,
    /// Empty: every event.
    #[serde(default)]
    pub events: Vec<String>,
    /// Empty: every environment (and events of none, such as `test`).
    #[serde(default)]
    pub environments: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DestinationKind {
    Webhook,
    Slack,
}

impl DestinationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Slack => "slack",
        }
    }
}

/// Where a value is kept in Secrets Manager: a secret's name and one key of its JSON object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretRef {
    pub name: String,
    pub key: String,
}

impl SecretRef {
    pub fn parse(text: &str) -> Result<SecretRef, String> {
        match text.split_once('#') {
            Some((name, key)) if !name.is_empty() && !key.is_empty() && !key.contains('#') => {
                Ok(SecretRef { name: name.to_string(), key: key.to_string() })
            }
            _ => Err(format!("{text:?} must name a secret and one of its keys: \"zelly/ops/slack#WEBHOOK_URL\"")),
        }
    }
}

/// A value given in the file or kept in a secret.
#[derive(Clone, Debug)]
pub enum Value {
    Inline(Redacted),
    Secret(SecretRef),
}

impl Destination {
    /// Whether this destination hears `event` of `environment`. A test is sent only where it
    /// was asked for, whatever the filters.
    pub fn hears(&self, event: &str, environment: Option<&str>) -> bool {
        let event_ok = self.events.is_empty() || self.events.iter().any(|e| e == event);
        let env_ok = match environment {
            None => true,
            Some(env) => self.environments.is_empty() || self.environments.iter().any(|e| e == env),
        };
        event_ok && env_ok
    }

    pub fn url(&self) -> Option<Value> {
        value(&self.url, &self.url_secret)
    }

    pub fn signing_key(&self) -> Option<Value> {
        value(&self.signing_key, &self.signing_key_secret)
    }
}

fn value(inline: &Option<Redacted>, secret: &Option<String>) -> Option<Value> {
    match (inline, secret) {
        (Some(v), _) => Some(Value::Inline(v.clone())),
        (None, Some(s)) => SecretRef::parse(s).ok().map(Value::Secret),
        (None, None) => None,
    }
}

/// Checks serde cannot express; each message names its key.
pub fn check(config: &super::Config, problems: &mut Vec<String>) {
    let n = &config.notifications;
    for (key, value, min) in [("poll_seconds", n.poll_seconds, 0.05), ("retry_first_seconds", n.retry_first_seconds, 0.05), ("retry_hours", n.retry_hours, 0.0)] {
        if !(value.is_finite() && value >= min) {
            problems.push(format!("notifications.{key}: {value} must be a number of at least {min}"));
        }
    }
    if n.settle_after_seconds == 0 {
        problems.push("notifications.settle_after_seconds: must be at least 1".into());
    }
    if n.keep_days == 0 {
        problems.push("notifications.keep_days: must be at least 1".into());
    }
    if !n.secrets_environment.is_empty() && !config.environments.contains_key(&n.secrets_environment) {
        problems.push(format!("notifications.secrets_environment: there is no environment {:?}", n.secrets_environment));
    }
    let mut names = std::collections::HashSet::new();
    for (i, d) in n.destinations.iter().enumerate() {
        let key = format!("notifications.destinations[{i}]");
        if d.name.is_empty() || d.name.len() > 64 || !d.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            problems.push(format!("{key}.name: {:?} must be 1–64 letters, digits, - or _", d.name));
        } else if !names.insert(d.name.as_str()) {
            problems.push(format!("{key}.name: {:?} is used twice", d.name));
        }
        match (&d.url, &d.url_secret) {
            (Some(_), Some(_)) => problems.push(format!("{key}: give url or url_secret, not both")),
            (None, None) => problems.push(format!("{key}.url: a destination needs url (or url_secret)")),
            (Some(url), None) => match url::Url::parse(url.expose()) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
                _ => problems.push(format!("{key}.url: must be an http:// or https:// URL")),
            },
            (None, Some(s)) => check_secret_ref(config, &format!("{key}.url_secret"), s, problems),
        }
        match (d.kind, &d.signing_key, &d.signing_key_secret) {
            (_, Some(_), Some(_)) => problems.push(format!("{key}: give signing_key or signing_key_secret, not both")),
            (DestinationKind::Slack, Some(_), _) | (DestinationKind::Slack, _, Some(_)) => {
                problems.push(format!("{key}.signing_key: Slack does not check signatures; signing keys are for webhooks"))
            }
            (DestinationKind::Webhook, None, None) => problems.push(format!(
                "{key}.signing_key: every webhook is signed: set signing_key (or signing_key_secret), and check X-Zelly-Signature in the receiver"
            )),
            (DestinationKind::Webhook, Some(k), None) if k.expose().len() < 16 => {
                problems.push(format!("{key}.signing_key: use at least 16 characters"))
            }
            (_, _, Some(s)) => check_secret_ref(config, &format!("{key}.signing_key_secret"), s, problems),
            _ => {}
        }
        for e in d.events.iter().filter(|e| !EVENTS.contains(&e.as_str())) {
            problems.push(format!("{key}.events: {e:?} is not an event (one of {})", EVENTS.join(", ")));
        }
        for e in d.environments.iter().filter(|e| !config.environments.contains_key(e.as_str())) {
            problems.push(format!("{key}.environments: there is no environment {e:?}"));
        }
    }
}

fn check_secret_ref(config: &super::Config, key: &str, text: &str, problems: &mut Vec<String>) {
    match SecretRef::parse(text) {
        Err(e) => problems.push(format!("{key}: {e}")),
        Ok(r) if crate::secrets::name::check(&config.secrets.prefix, &r.name).is_err() => problems.push(format!(
            "{key}: {:?} must be a secret under secrets.prefix ({:?})",
            r.name, config.secrets.prefix
        )),
        Ok(_) => {}
    }
}
