//! Reads `terraform show -json <plan>` into a `PlanSummary`: the counts Terraform prints
//! (`Plan: X to add, Y to change, Z to destroy`; a replacement counts as one add and one destroy)
//! and, per resource, the attributes that change. Values Terraform marks sensitive never leave
//! this module: they become `sensitive: true` with no value.

use app::model::run::{AttributeChange, ChangeAction, PlanSummary, ResourceChange};
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

/// Leaf attributes (dotted paths) whose value differs between before and after.
fn attribute_changes(change: &RawChange) -> Vec<AttributeChange> {
    let mut before = Vec::new();
    let mut after = Vec::new();
    flatten("", &change.before, &mut before);
    flatten("", &change.after, &mut after);
    let mut paths: Vec<&String> = before.iter().map(|(p, _)| p).chain(after.iter().map(|(p, _)| p)).collect();
    let mut unknown = Vec::new();
    flatten("", &change.after_unknown, &mut unknown);
    let unknown: Vec<String> = unknown.into_iter().filter(|(_, v)| *v == Value::Bool(true)).map(|(p, _)| p).collect();
    paths.extend(unknown.iter());
    paths.sort();
    paths.dedup();

    let get = |list: &[(String, Value)], path: &str| list.iter().find(|(p, _)| p == path).map(|(_, v)| v.clone());
    paths
        .into_iter()
        .filter_map(|path| {
            let (b, a) = (get(&before, path), get(&after, path));
            let known_after_apply = unknown.iter().any(|u| u == path);
            if b == a && !known_after_apply {
                return None;
            }
            let sensitive = is_marked(&change.before_sensitive, path) || is_marked(&change.after_sensitive, path);
            let show = |v: Option<Value>| if sensitive { None } else { v.filter(|v| !v.is_null()).map(|v| v.to_string()) };
            Some(AttributeChange {
                path: path.clone(),
                before: show(b),
                after: if known_after_apply { None } else { show(a) },
                sensitive,
                known_after_apply,
            })
        })
        .collect()
}

/// Objects and arrays become `a.b`, `list[0]`; everything else is a leaf.
fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, Value)>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&path, v, out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (i, v) in items.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), v, out);
            }
        }
        Value::Null if prefix.is_empty() => {}
        other => out.push((prefix.to_string(), other.clone())),
    }
}

/// Whether `path` (or any object above it) is marked `true` in a sensitivity tree.
fn is_marked(tree: &Value, path: &str) -> bool {
    let mut node = tree;
    if node == &Value::Bool(true) {
        return true;
    }
    for part in split_path(path) {
        node = match (node, part) {
            (Value::Object(map), Segment::Key(k)) => match map.get(k) {
                Some(v) => v,
                None => return false,
            },
            (Value::Array(items), Segment::Index(i)) => match items.get(i) {
                Some(v) => v,
                None => return false,
            },
            _ => return false,
        };
        if node == &Value::Bool(true) {
            return true;
        }
    }
    false
}

enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

fn split_path(path: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (key, rest) = part.split_once('[').map(|(k, r)| (k, Some(r))).unwrap_or((part, None));
        if !key.is_empty() {
            out.push(Segment::Key(key));
        }
        if let Some(rest) = rest {
            for idx in rest.split('[') {
                if let Ok(i) = idx.trim_end_matches(']').parse() {
                    out.push(Segment::Index(i));
                }
            }
        }
    }
    out
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
    fn malformed_output_is_an_error_not_a_panic() {
        assert!(summarize(b"not json").is_err());
        assert!(summarize(br#"{"resource_changes": [{"address": 1}]}"#).is_err());
        assert!(summarize(&plan(json!([{ "address": "x", "type": "t", "change": { "actions": ["explode"] } }]))).is_err());
        assert_eq!(summarize(br#"{"format_version": "1.2"}"#).unwrap(), PlanSummary::default());
    }
}
