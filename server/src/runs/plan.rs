//! Reads `terraform show -json <plan>` into a `PlanSummary`: the counts Terraform prints
//! (`Plan: X to add, Y to change, Z to destroy`; a replacement counts as one add and one destroy)
//! and, per resource, the attributes that change. Values Terraform marks sensitive never leave
//! this module: they become `sensitive: true` with no value.

use app::model::plan::{AttributeChange, ChangeAction, PlanSummary, ResourceChange};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct ShowJson {
    #[serde(default)]
    resource_changes: Vec<RawResourceChange>,
}

#[derive(Deserialize)]
struct RawResourceChange {
    address: String,
    #[serde(rename = "type")]
    resource_type: String,
    #[serde(default)]
    mode: Option<String>,
    change: RawChange,
}

#[derive(Deserialize)]
struct RawChange {
    actions: Vec<String>,
    #[serde(default)]
    before: Value,
    #[serde(default)]
    after: Value,
    #[serde(default)]
    after_unknown: Value,
    #[serde(default)]
    before_sensitive: Value,
    #[serde(default)]
    after_sensitive: Value,
}

#[derive(Debug, thiserror::Error)]
#[error("terraform show -json output is not a plan: {0}")]
pub struct PlanParseError(String);

/// A resource change's `actions` as one action; `None` for those that change nothing (`no-op`,
/// `read`).
pub fn action_of(actions: &[String], address: &str) -> Result<Option<ChangeAction>, String> {
    let actions: Vec<&str> = actions.iter().map(String::as_str).collect();
    Ok(Some(match actions.as_slice() {
        ["create"] => ChangeAction::Create,
        ["update"] => ChangeAction::Update,
        ["delete"] => ChangeAction::Delete,
        ["delete", "create"] | ["create", "delete"] => ChangeAction::Replace,
        ["no-op"] | ["read"] | [] => return Ok(None),
        other => return Err(format!("unknown actions {other:?} for {address}")),
    }))
}

pub fn summarize(show_json: &[u8]) -> Result<PlanSummary, PlanParseError> {
    let show: ShowJson = serde_json::from_slice(show_json).map_err(|e| PlanParseError(e.to_string()))?;
    let mut summary = PlanSummary::default();
    for rc in show.resource_changes {
        if rc.mode.as_deref() == Some("data") {
            continue;
        }
        let Some(action) = action_of(&rc.change.actions, &rc.address).map_err(PlanParseError)? else {
            continue;
        };
        match action {
            ChangeAction::Create => summary.add += 1,
            ChangeAction::Update => summary.change += 1,
            ChangeAction::Delete => summary.destroy += 1,
            ChangeAction::Replace => {
                summary.add += 1;
                summary.destroy += 1;
            }
        }
        summary.resources.push(ResourceChange {
            attributes: attribute_changes(&rc.change),
            address: rc.address,
            resource_type: rc.resource_type,
            action,
        });
    }
    summary.resources.sort_by(|a, b| a.action.cmp(&b.action).then_with(|| a.address.cmp(&b.address)));
    Ok(summary)
}

/// One leaf attribute as it was and will be.
#[derive(Default)]
struct Leaf {
    before: Option<Value>,
    after: Option<Value>,
    sensitive: bool,
    unknown: bool,
}

/// Leaf attributes whose value differs between before and after. The value and sensitivity
/// trees are walked together, segment by segment, so a map key with a `.` in it
/// (`"application.properties"`) is looked up as one key, never split.
fn attribute_changes(change: &RawChange) -> Vec<AttributeChange> {
    let mut leaves: std::collections::BTreeMap<String, Leaf> = Default::default();
    walk(&mut leaves, "", &change.before, &change.before_sensitive, false, &mut |leaf, v| leaf.before = Some(v.clone()));
    walk(&mut leaves, "", &change.after, &change.after_sensitive, false, &mut |leaf, v| leaf.after = Some(v.clone()));
    walk(&mut leaves, "", &change.after_unknown, &Value::Null, false, &mut |leaf, v| leaf.unknown = *v == Value::Bool(true));
    leaves
        .into_iter()
        .filter(|(_, l)| l.unknown || l.before != l.after)
        .map(|(path, l)| {
            let show = |v: Option<Value>| if l.sensitive { None } else { v.filter(|v| !v.is_null()).map(|v| v.to_string()) };
            AttributeChange {
                path,
                before: show(l.before),
                after: if l.unknown { None } else { show(l.after) },
                sensitive: l.sensitive,
                known_after_apply: l.unknown,
            }
        })
        .collect()
}

/// Visits the leaves of `value` (objects and non-empty arrays are descended into) with the
/// sensitivity found at the same place in `marks`: `true` there marks everything below it.
fn walk(
    leaves: &mut std::collections::BTreeMap<String, Leaf>,
    path: &str,
    value: &Value,
    marks: &Value,
    inherited: bool,
    visit: &mut impl FnMut(&mut Leaf, &Value),
) {
    let sensitive = inherited || *marks == Value::Bool(true);
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, child) in map {
                let marks = match marks {
                    Value::Object(m) => m.get(key).unwrap_or(&Value::Null),
                    other => other,
                };
                walk(leaves, &join_key(path, key), child, marks, sensitive || unreadable(marks, child), visit);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (i, child) in items.iter().enumerate() {
                let marks = match marks {
                    Value::Array(m) => m.get(i).unwrap_or(&Value::Null),
                    other => other,
                };
                walk(leaves, &format!("{path}[{i}]"), child, marks, sensitive || unreadable(marks, child), visit);
            }
        }
        Value::Null if path.is_empty() => {}
        leaf => {
            let entry = leaves.entry(path.to_string()).or_default();
            entry.sensitive |= sensitive;
            visit(entry, leaf);
        }
    }
}

/// Terraform marks a sensitive value `true` and leaves non-sensitive ones out (or `false`, or
/// an empty container). Marks of any other shape cannot be read, so what is below them is
/// treated as sensitive rather than shown.
fn unreadable(marks: &Value, value: &Value) -> bool {
    match (marks, value) {
        (Value::Null | Value::Bool(_), _) => false,
        (Value::Object(_), Value::Object(_)) | (Value::Array(_), Value::Array(_)) => false,
        (Value::Object(m), _) if m.is_empty() => false,
        (Value::Array(m), _) if m.is_empty() => false,
        _ => true,
    }
}

/// `a.b` for plain keys; `a["application.properties"]` for keys a dot would misrepresent.
fn join_key(path: &str, key: &str) -> String {
    let plain = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match (path.is_empty(), plain) {
        (true, true) => key.to_string(),
        (false, true) => format!("{path}.{key}"),
        (_, false) => format!("{path}[{}]", Value::String(key.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plan(changes: Value) -> Vec<u8> {
        json!({ "format_version": "1.2", "resource_changes": changes }).to_string().into_bytes()
    }

    #[test]
    fn counts_like_terraform_with_replacements_as_add_and_destroy() {
        let summary = summarize(&plan(json!([
            { "address": "aws_instance.a", "type": "aws_instance", "change": { "actions": ["create"], "after": { "x": 1 } } },
            { "address": "aws_instance.b", "type": "aws_instance", "change": { "actions": ["update"], "before": { "x": 1 }, "after": { "x": 2 } } },
            { "address": "aws_instance.c", "type": "aws_instance", "change": { "actions": ["delete", "create"], "before": { "x": 1 }, "after": { "x": 2 } } },
            { "address": "aws_instance.d", "type": "aws_instance", "change": { "actions": ["delete"], "before": { "x": 1 } } },
            { "address": "aws_instance.e", "type": "aws_instance", "change": { "actions": ["no-op"] } },
            { "address": "data.aws_ami.f", "type": "aws_ami", "mode": "data", "change": { "actions": ["read"] } }
        ])))
        .unwrap();
        assert_eq!((summary.add, summary.change, summary.destroy), (2, 1, 2));
        let order: Vec<_> = summary.resources.iter().map(|r| (r.address.as_str(), r.action)).collect();
        assert_eq!(
            order,
            [
                ("aws_instance.a", ChangeAction::Create),
                ("aws_instance.b", ChangeAction::Update),
                ("aws_instance.c", ChangeAction::Replace),
                ("aws_instance.d", ChangeAction::Delete)
            ]
        );
        assert!(summary.has_deletes());
    }

    #[test]
    fn attribute_diffs_mask_sensitive_values_and_mark_unknowns() {
        let summary = summarize(&plan(json!([{
            "address": "aws_db_instance.main", "type": "aws_db_instance",
            "change": {
                "actions": ["update"],
                "before": { "instance_class": "db.t3.small", "password": "hunter2", "tags": { "env": "prod" }, "arn": "a" },
                "after": { "instance_class": "db.t3.medium", "password": "s3cret!", "tags": { "env": "prod" }, "arn": null },
                "after_unknown": { "arn": true },
                "before_sensitive": { "password": true },
                "after_sensitive": { "password": true }
            }
        }])))
        .unwrap();
        let attrs = &summary.resources[0].attributes;
        let paths: Vec<&str> = attrs.iter().map(|a| a.path.as_str()).collect();
        assert_eq!(paths, ["arn", "instance_class", "password"], "unchanged tags are left out");
        let class = &attrs[1];
        assert_eq!((class.before.as_deref(), class.after.as_deref()), (Some("\"db.t3.small\""), Some("\"db.t3.medium\"")));
        let arn = &attrs[0];
        assert!(arn.known_after_apply && arn.after.is_none());
        let password = &attrs[2];
        assert!(password.sensitive && password.before.is_none() && password.after.is_none());
        let text = serde_json::to_string(&summary).unwrap();
        assert!(!text.contains("hunter2") && !text.contains("s3cret!"));
    }

    #[test]
    fn a_wholly_sensitive_block_hides_every_leaf_below_it() {
        let summary = summarize(&plan(json!([{
            "address": "aws_secretsmanager_secret_version.v", "type": "aws_secretsmanager_secret_version",
            "change": {
                "actions": ["create"],
                "after": { "secret_string": { "JWT": "abc", "nested": ["x"] } },
                "after_sensitive": { "secret_string": true }
            }
        }])))
        .unwrap();
        assert!(summary.resources[0].attributes.iter().all(|a| a.sensitive && a.after.is_none()));
    }

    #[test]
    fn keys_with_dots_are_looked_up_whole_and_stay_hidden() {
        // As terraform 1.11 prints a map with a sensitive "application.properties" entry.
        let summary = summarize(&plan(json!([{
            "address": "terraform_data.api", "type": "terraform_data",
            "change": {
                "actions": ["update"],
                "before": { "input": { "application.properties": "token=old-secret", "n": 1 } },
                "after": { "input": { "application.properties": "token=new-secret", "n": 2 } },
                "before_sensitive": { "input": { "application.properties": true } },
                "after_sensitive": { "input": { "application.properties": true } }
            }
        }])))
        .unwrap();
        let attrs = &summary.resources[0].attributes;
        let paths: Vec<&str> = attrs.iter().map(|a| a.path.as_str()).collect();
        assert_eq!(paths, ["input.n", r#"input["application.properties"]"#]);
        assert_eq!(attrs[0].after.as_deref(), Some("2"), "what is not marked is shown");
        assert!(attrs[1].sensitive && attrs[1].before.is_none() && attrs[1].after.is_none());
        let text = serde_json::to_string(&summary).unwrap();
        assert!(!text.contains("old-secret") && !text.contains("new-secret"), "{text}");
    }

    #[test]
    fn marks_that_cannot_be_read_hide_the_value() {
        let summary = summarize(&plan(json!([{
            "address": "x.y", "type": "x",
            "change": { "actions": ["create"], "after": { "conf": { "k": "v1" } }, "after_sensitive": { "conf": "?" } }
        }])))
        .unwrap();
        assert!(summary.resources[0].attributes.iter().all(|a| a.sensitive && a.after.is_none()));
    }

    #[test]
    fn malformed_output_is_an_error_not_a_panic() {
        assert!(summarize(b"not json").is_err());
        assert!(summarize(br#"{"resource_changes": [{"address": 1}]}"#).is_err());
        assert!(summarize(&plan(json!([{ "address": "x", "type": "t", "change": { "actions": ["explode"] } }]))).is_err());
        assert_eq!(summarize(br#"{"format_version": "1.2"}"#).unwrap(), PlanSummary::default());
    }
}
