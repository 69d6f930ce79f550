//! The environments this control plane manages, as configured (in display order). Their live
//! state in AWS is `live`.

use crate::config::Config;
use app::model::shared::Shared;
use app::model::status::EnvironmentStatus;
use app::model::Environment;
use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct Environments(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    list: Vec<Environment>,
    /// Each environment's configuration as a JSON object, made once: it changes only at restart.
    json: Vec<String>,
}

impl Environments {
    pub fn from_config(config: &Config) -> Self {
        let list = config.environments();
        let json = list.iter().map(|e| serde_json::to_string(e).expect("configuration serializes")).collect();
        Self(Arc::new(Inner { list, json }))
    }

    pub fn all(&self) -> &[Environment] {
        &self.0.list
    }

    pub fn get(&self, name: &str) -> Option<&Environment> {
        self.0.list.iter().find(|e| e.name == name)
    }

    /// Appends `name`'s configuration with its live status, as the API answers it: the
    /// configuration's fields and `"status"`. Spliced from the configuration's JSON and the JSON
    /// the status was given at its refresh, so the most requested answer of the API serializes
    /// nothing. False if there is no such environment.
    pub fn write_view(&self, name: &str, status: Option<&Shared<EnvironmentStatus>>, out: &mut Vec<u8>) -> bool {
        let Some(i) = self.0.list.iter().position(|e| e.name == name) else { return false };
        // A serialized struct is an object: `{…}`. Its closing brace makes room for one more field.
        let config = &self.0.json[i];
        out.extend_from_slice(&config.as_bytes()[..config.len() - 1]);
        out.extend_from_slice(b",\"status\":");
        match status {
            Some(status) => out.extend_from_slice(status.json().get().as_bytes()),
            None => out.extend_from_slice(b"null"),
        }
        out.push(b'}');
        true
    }

    /// Adds `"key": value` to the object `write_view` just wrote at the end of `out`.
    pub fn append_field(out: &mut Vec<u8>, key: &str, value: &impl serde::Serialize) {
        if out.last() == Some(&b'}') {
            out.pop();
            out.extend_from_slice(format!(",\"{key}\":").as_bytes());
            serde_json::to_writer(&mut *out, value).expect("a view serializes");
            out.push(b'}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::model::status::Health;
    use serde_json::Value;

    #[test]
    fn a_view_is_the_configuration_with_its_status_as_one_object() {
        let environments = Environments::from_config(&Config::defaults());
        let status = Shared::new(EnvironmentStatus {
            environment: "staging".into(),
            health: Health::Degraded,
            services: Vec::new(),
            fetched_at: None,
            error: Some("throttled".into()),
        });
        for status in [Some(&status), None] {
            let mut out = Vec::new();
            assert!(environments.write_view("staging", status, &mut out));
            let mut expected = serde_json::to_value(environments.get("staging").unwrap()).unwrap();
            expected["status"] = serde_json::to_value(status).unwrap();
            assert_eq!(serde_json::from_slice::<Value>(&out).unwrap(), expected);
        }
        assert!(!environments.write_view("qa", None, &mut Vec::new()));
    }
}
