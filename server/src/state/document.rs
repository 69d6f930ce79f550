//! A Terraform state file (format version 4) read for what it says about itself and which
//! resource instances it holds. Attribute values are never kept: each instance is remembered as
//! its address and a fingerprint of its JSON, enough to tell whether two versions differ.

use app::model::state::{StateDiff, StateResource};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

/// What the state page needs of one state version.
#[derive(Debug)]
pub struct StateDocument {
    pub serial: i64,
    pub lineage: String,
    pub terraform_version: String,
    /// By address, sorted.
    pub instances: BTreeMap<String, Instance>,
    pub outputs: Vec<String>,
}

#[derive(Debug)]
pub struct Instance {
    pub resource_type: String,
    pub mode: String,
    /// A hash of the instance's JSON (attributes, dependencies, status): equal JSON, equal hash.
    fingerprint: u64,
}

#[derive(Deserialize)]
struct Raw<'a> {
    version: u32,
    #[serde(default)]
    terraform_version: String,
    #[serde(default)]
    serial: i64,
    #[serde(default)]
    lineage: String,
    /// Only the names: output values are often secrets.
    #[serde(default)]
    outputs: BTreeMap<String, serde::de::IgnoredAny>,
    #[serde(default, borrow)]
    resources: Vec<RawResource<'a>>,
}

#[derive(Deserialize)]
struct RawResource<'a> {
    #[serde(default)]
    module: Option<String>,
    mode: String,
    #[serde(rename = "type")]
    resource_type: String,
    name: String,
    /// Kept raw: hashed as written, never decoded into values.
    #[serde(default, borrow)]
    instances: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct IndexKey {
    #[serde(default)]
    index_key: Option<serde_json::Value>,
}

impl StateDocument {
    pub fn parse(bytes: &[u8]) -> Result<StateDocument, String> {
        let raw: Raw = serde_json::from_slice(bytes).map_err(|e| format!("not a Terraform state file: {e}"))?;
        if raw.version != 4 {
            return Err(format!("state format version {} (this reads version 4, terraform 0.12 and later)", raw.version));
        }
        let mut instances = BTreeMap::new();
        for resource in &raw.resources {
            let mut base = String::new();
            if let Some(module) = resource.module.as_deref().filter(|m| !m.is_empty()) {
                base.push_str(module);
                base.push('.');
            }
            if resource.mode == "data" {
                base.push_str("data.");
            }
            base.push_str(&resource.resource_type);
            base.push('.');
            base.push_str(&resource.name);
            for instance in &resource.instances {
                let key: IndexKey = serde_json::from_str(instance.get()).map_err(|e| format!("a resource instance of {base}: {e}"))?;
                let address = match key.index_key {
                    None | Some(serde_json::Value::Null) => base.clone(),
                    // Terraform's own spelling: `[0]`, `["name"]`.
                    Some(key) => format!("{base}[{key}]"),
                };
                let mut hasher = std::hash::DefaultHasher::new();
                instance.get().hash(&mut hasher);
                let instance = Instance { resource_type: resource.resource_type.clone(), mode: resource.mode.clone(), fingerprint: hasher.finish() };
                instances.insert(address, instance);
            }
        }
        Ok(StateDocument {
            serial: raw.serial,
            lineage: raw.lineage,
            terraform_version: raw.terraform_version,
            instances,
            outputs: raw.outputs.into_keys().collect(),
        })
    }

    pub fn resources(&self) -> Vec<StateResource> {
        self.instances
            .iter()
            .map(|(address, i)| StateResource { address: address.clone(), resource_type: i.resource_type.clone(), mode: i.mode.clone() })
            .collect()
    }

    /// What changed from `self` to `to`, by address.
    pub fn diff(&self, to: &StateDocument) -> StateDiff {
        let mut diff = StateDiff::default();
        for (address, before) in &self.instances {
            match to.instances.get(address) {
                None => diff.removed.push(address.clone()),
                Some(after) if after.fingerprint != before.fingerprint => diff.changed.push(address.clone()),
                Some(_) => {}
            }
        }
        diff.added = to.instances.keys().filter(|a| !self.instances.contains_key(*a)).cloned().collect();
        diff
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(serial: i64, resources: &str) -> Vec<u8> {
        format!(
            r#"{{"version":4,"terraform_version":"1.11.4","serial":{serial},"lineage":"5c7e","outputs":{{"db_password":{{"value":"hunter2-very-secret","type":"string","sensitive":true}}}},"resources":[{resources}],"check_results":null}}"#
        )
        .into_bytes()
    }

    const SERVICE: &str = r#"{"module":"module.ecs","mode":"managed","type":"aws_ecs_service","name":"app","provider":"p","instances":[{"index_key":"fastify-nova","attributes":{"desired_count":2}},{"index_key":"worker","attributes":{"desired_count":1}}]}"#;
    const DATA: &str = r#"{"mode":"data","type":"aws_ecr_repository","name":"nova","provider":"p","instances":[{"schema_version":0,"attributes":{"name":"nova"}}]}"#;

    #[test]
    fn addresses_are_spelled_as_terraform_does_and_values_are_not_kept() {
        let doc = StateDocument::parse(&state(7, &format!("{SERVICE},{DATA}"))).unwrap();
        assert_eq!((doc.serial, doc.lineage.as_str(), doc.terraform_version.as_str()), (7, "5c7e", "1.11.4"));
        let addresses: Vec<_> = doc.resources().into_iter().map(|r| (r.address, r.mode)).collect();
        assert_eq!(
            addresses,
            [
                ("data.aws_ecr_repository.nova".to_string(), "data".to_string()),
                ("module.ecs.aws_ecs_service.app[\"fastify-nova\"]".to_string(), "managed".to_string()),
                ("module.ecs.aws_ecs_service.app[\"worker\"]".to_string(), "managed".to_string()),
            ]
        );
        assert_eq!(doc.outputs, ["db_password"]);
        assert!(!format!("{doc:?}").contains("hunter2"), "no value is kept");
    }

    #[test]
    fn the_diff_names_added_removed_and_changed_instances() {
        let before = StateDocument::parse(&state(1, SERVICE)).unwrap();
        let changed = SERVICE.replace(r#""desired_count":1"#, r#""desired_count":3"#);
        let after = StateDocument::parse(&state(2, &format!("{changed},{DATA}"))).unwrap();
        let diff = before.diff(&after);
        assert_eq!(diff.added, ["data.aws_ecr_repository.nova"]);
        assert_eq!(diff.changed, ["module.ecs.aws_ecs_service.app[\"worker\"]"]);
        assert!(diff.removed.is_empty());
        assert_eq!(after.diff(&before).removed, ["data.aws_ecr_repository.nova"]);
        assert_eq!(before.diff(&before), StateDiff::default());
    }

    #[test]
    fn what_is_not_a_version_4_state_is_refused_with_a_reason() {
        assert!(StateDocument::parse(b"{\"version\":3}").unwrap_err().contains("version 3"));
        assert!(StateDocument::parse(b"<html>").unwrap_err().starts_with("not a Terraform state file"));
    }
}
