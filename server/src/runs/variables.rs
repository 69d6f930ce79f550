//! An environment's Terraform input variables: plain values from configuration
//! (`environments.<name>.terraform.variables`) and sensitive ones from its variables secret in
//! Secrets Manager (a JSON object keyed by variable name; every value counts as sensitive).
//!
//! For a plan they are written into the run's working copy as `zelly.auto.tfvars.json`, mode
//! 0600, and go with it; never into the database or the log. A value set in both places takes
//! the secret's. The default secret may be missing (no sensitive variables, and the log says so);
//! a configured one that cannot be read fails the run, naming the secret and never its content.

use crate::config::validate::is_variable_name;
use crate::secrets::Secrets;
use app::model::variables::{Variable, VariableSource, Variables};
use app::model::Environment;
use serde_json::{Map, Value};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Terraform loads `*.auto.tfvars.json` after `terraform.tfvars`, so these values win over a
/// tfvars file that happens to be in the tree.
pub const TFVARS_FILE: &str = "zelly.auto.tfvars.json";

/// The values one run gives terraform. `Debug` names the variables, never their values.
pub struct RunVariables {
    plain: Map<String, Value>,
    sensitive: Map<String, Value>,
    secret: String,
    /// The version of the secret read, or why there was none.
    read: Result<String, &'static str>,
}

impl std::fmt::Debug for RunVariables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunVariables")
            .field("plain", &self.plain.keys().collect::<Vec<_>>())
            .field("sensitive", &self.sensitive.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// What reading the variables secret found.
enum SecretRead {
    Found { version: String, variables: Map<String, Value> },
    /// The default secret does not exist: no sensitive variables.
    Missing,
    /// AWS is turned off (`aws.enabled = false`) and no secret was asked for by name.
    NotRead,
}

/// The variables secret's content: a JSON object, or why it is not one (never quoting it).
async fn read_secret(env: &Environment, secrets: &Secrets) -> Result<(String, SecretRead), String> {
    let (name, required) = env.variables_secret(secrets.prefix());
    if !secrets.reads_aws(&env.name) {
        return if required {
            Err(format!("the variables secret {name} cannot be read: AWS is turned off (aws.enabled = false)"))
        } else {
            Ok((name, SecretRead::NotRead))
        };
    }
    let found = match secrets.read_for_terraform(&env.name, &name).await {
        Ok(found) => found,
        Err(e) => return Err(format!("the variables secret {name} could not be read: {e}")),
    };
    let Some((version, text)) = found else {
        return if required {
            Err(format!("the variables secret {name} (environments.{}.terraform.variables_secret) does not exist", env.name))
        } else {
            Ok((name, SecretRead::Missing))
        };
    };
    match serde_json::from_str::<Value>(text.expose()) {
        Ok(Value::Object(variables)) => {
            if let Some(bad) = variables.keys().find(|k| !is_variable_name(k)) {
                let shown: String = bad.chars().take(40).collect();
                return Err(format!("the variables secret {name} has a key {shown:?} that is not a Terraform variable name"));
            }
            Ok((name, SecretRead::Found { version, variables }))
        }
        _ => Err(format!("the variables secret {name} is not a JSON object of variables (version {version})")),
    }
}

impl RunVariables {
    pub async fn gather(env: &Environment, secrets: &Secrets) -> Result<RunVariables, String> {
        let plain: Map<String, Value> = env.terraform.variables.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let (secret, read) = read_secret(env, secrets).await?;
        let (read, sensitive) = match read {
            SecretRead::Found { version, variables } => (Ok(version), variables),
            SecretRead::Missing => (Err("does not exist"), Map::new()),
            SecretRead::NotRead => (Err("was not read: AWS is turned off"), Map::new()),
        };
        Ok(RunVariables { plain, sensitive, secret, read })
    }

    pub fn is_empty(&self) -> bool {
        self.plain.is_empty() && self.sensitive.is_empty()
    }

    /// One line for the run log: names and sources, never values.
    pub fn summary(&self) -> String {
        let names = |m: &Map<String, Value>| m.keys().cloned().collect::<Vec<_>>().join(", ");
        let plain = match self.plain.len() {
            0 => "no plain variables in the configuration".to_string(),
            n => format!("{n} plain from the configuration ({})", names(&self.plain)),
        };
        let sensitive = match (&self.read, self.sensitive.len()) {
            (Err(why), _) => format!("no sensitive variables ({} {why})", self.secret),
            (Ok(version), 0) => format!("no sensitive variables ({} version {version} is empty)", self.secret),
            (Ok(version), n) => format!("{n} sensitive from {} version {version} ({})", self.secret, names(&self.sensitive)),
        };
        format!("Variables: {plain}; {sensitive}.")
    }

    /// Writes the variables file into `root` (mode 0600), unless there are none.
    pub fn write(&self, root: &Path) -> std::io::Result<()> {
        if self.is_empty() {
            return Ok(());
        }
        let mut all = self.plain.clone();
        all.extend(self.sensitive.clone());
        let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(root.join(TFVARS_FILE))?;
        file.write_all(serde_json::to_string_pretty(&Value::Object(all)).expect("JSON values serialize").as_bytes())?;
        file.sync_all()
    }

    pub fn sensitive_names(&self) -> impl Iterator<Item = &String> {
        self.sensitive.keys()
    }

    /// Every value the scrubber must mask: the secret's strings and numbers, nested ones too.
    pub fn sensitive_values(&self) -> Vec<String> {
        fn leaves(value: &Value, out: &mut Vec<String>) {
            match value {
                Value::String(s) => out.push(s.clone()),
                Value::Number(n) => out.push(n.to_string()),
                Value::Array(items) => items.iter().for_each(|v| leaves(v, out)),
                Value::Object(map) => map.values().for_each(|v| leaves(v, out)),
                Value::Bool(_) | Value::Null => {}
            }
        }
        let mut out = Vec::new();
        self.sensitive.values().for_each(|v| leaves(v, &mut out));
        out
    }
}

/// The environment page's list: each variable's name and source, plain values shown.
pub async fn describe(env: &Environment, secrets: &Secrets) -> Variables {
    let (secret, required) = env.variables_secret(secrets.prefix());
    let (secret_version, sensitive, note) = match read_secret(env, secrets).await {
        Ok((_, SecretRead::Found { version, variables })) => (Some(version), variables, None),
        Ok((_, SecretRead::Missing)) => (None, Map::new(), Some("It does not exist: runs have no sensitive variables.".to_string())),
        Ok((_, SecretRead::NotRead)) => (None, Map::new(), Some("Not read: AWS is turned off (aws.enabled = false).".to_string())),
        Err(why) => (None, Map::new(), Some(format!("{}{}.", why[..1].to_uppercase(), &why[1..]))),
    };
    let mut variables: Vec<Variable> = env
        .terraform
        .variables
        .iter()
        .map(|(name, value)| Variable {
            name: name.clone(),
            source: VariableSource::Configuration,
            value: Some(value.to_string()),
            sensitive: false,
            overridden: sensitive.contains_key(name),
        })
        .collect();
    variables.extend(sensitive.keys().map(|name| Variable {
        name: name.clone(),
        source: VariableSource::Secret,
        value: None,
        sensitive: true,
        overridden: false,
    }));
    variables.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.overridden.cmp(&b.overridden)));
    Variables { environment: env.name.clone(), secret, secret_version, secret_required: required, secret_note: note, variables }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_names_follow_terraform() {
        for good in ["cloudflare_api_token", "_x", "a-b", "A1"] {
            assert!(is_variable_name(good), "{good}");
        }
        for bad in ["", "1a", "-a", "a b", "a.b", "ä"] {
            assert!(!is_variable_name(bad), "{bad}");
        }
    }

    fn vars(plain: Value, sensitive: Value) -> RunVariables {
        let map = |v: Value| v.as_object().unwrap().clone();
        RunVariables { plain: map(plain), sensitive: map(sensitive), secret: "zelly/terraform/production".into(), read: Ok("v1".into()) }
    }

    #[test]
    fn the_file_is_private_and_the_secret_wins() {
        let dir = tempfile::tempdir().unwrap();
        let v = vars(serde_json::json!({ "desired_count": 2, "token": "plain" }), serde_json::json!({ "token": "tok-9f8e7d" }));
        v.write(dir.path()).unwrap();
        let path = dir.path().join(TFVARS_FILE);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let written: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(written, serde_json::json!({ "desired_count": 2, "token": "tok-9f8e7d" }));
        let text = format!("{} {v:?}", v.summary());
        assert!(!text.contains("tok-9f8e7d") && text.contains("token"), "{text}");
    }

    #[test]
    fn every_sensitive_leaf_is_masked() {
        let v = vars(serde_json::json!({}), serde_json::json!({ "a": "s1", "b": { "c": ["s2", 4242] }, "d": true }));
        assert_eq!(v.sensitive_values(), ["s1", "s2", "4242"]);
    }
}
