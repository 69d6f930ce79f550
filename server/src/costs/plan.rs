//! The cost of a plan: every resource change in `terraform show -json` priced before and after,
//! with the catalog and the environment's assumptions. A resource whose cost is not known is
//! listed as not priced, never counted as free; types that AWS does not bill are skipped.

use super::catalog::Catalog;
use super::estimate::{add_fargate, average_acu, Lines};
use app::model::cost::{CostCategory, CostDiff, CostDiffItem, UnpricedResource};
use app::model::plan::ChangeAction;
use app::model::Environment;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;

#[derive(Deserialize)]
struct ShowJson {
    #[serde(default)]
    resource_changes: Vec<RawChange>,
}

#[derive(Deserialize)]
struct RawChange {
    address: String,
    #[serde(rename = "type")]
    resource_type: String,
    #[serde(default)]
    mode: Option<String>,
    change: RawValues,
}

#[derive(Deserialize)]
struct RawValues {
    actions: Vec<String>,
    #[serde(default)]
    before: Value,
    #[serde(default)]
    after: Value,
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("cannot price the plan: {0}")]
pub struct PlanCostError(String);

/// Resource types AWS does not bill for themselves (their cost, if any, is on what uses them).
const NO_CHARGE: &[&str] = &[
    "aws_vpc", "aws_subnet", "aws_route", "aws_route_table", "aws_route_table_association", "aws_internet_gateway",
    "aws_security_group", "aws_security_group_rule", "aws_vpc_security_group_ingress_rule",
    "aws_vpc_security_group_egress_rule", "aws_lb_listener", "aws_lb_listener_rule", "aws_lb_target_group",
    "aws_lb_target_group_attachment", "aws_ecs_cluster", "aws_ecs_task_definition", "aws_appautoscaling_target",
    "aws_appautoscaling_policy", "aws_db_subnet_group", "aws_rds_cluster_parameter_group", "aws_db_parameter_group",
    "aws_elasticache_subnet_group", "aws_elasticache_parameter_group", "aws_secretsmanager_secret_version",
    "aws_secretsmanager_secret_policy", "aws_efs_mount_target", "aws_efs_access_point", "aws_acm_certificate",
    "aws_acm_certificate_validation", "aws_key_pair", "aws_ecr_lifecycle_policy", "aws_ecr_repository_policy",
    "aws_eip_association", "aws_volume_attachment", "aws_s3_bucket_versioning",
    "aws_s3_bucket_server_side_encryption_configuration", "aws_s3_bucket_public_access_block",
];
const NO_CHARGE_PREFIXES: &[&str] = &["aws_iam_", "random_", "tls_", "null_", "local_", "terraform_"];

enum Priced {
    Cost { monthly: f64, detail: String },
    NoCharge,
    Unpriced(String),
}

struct Context<'a> {
    catalog: &'a Catalog,
    env: &'a Environment,
    hours: f64,
    /// Task definition sizes in this plan by family, before and after: (vCPU, GB).
    task_sizes: HashMap<String, (Option<(f64, f64)>, Option<(f64, f64)>)>,
}

pub fn price_plan(catalog: &Catalog, env: &Environment, hours: f64, show_json: &[u8]) -> Result<CostDiff, PlanCostError> {
    let show: ShowJson = serde_json::from_slice(show_json).map_err(|e| PlanCostError(e.to_string()))?;
    let changes: Vec<RawChange> = show.resource_changes.into_iter().filter(|c| c.mode.as_deref() != Some("data")).collect();

    let mut task_sizes = HashMap::new();
    for c in changes.iter().filter(|c| c.resource_type == "aws_ecs_task_definition") {
        let size = |v: &Value| Some((text_number(&v["cpu"])? / 1024.0, text_number(&v["memory"])? / 1024.0));
        let family = c.change.after["family"].as_str().or(c.change.before["family"].as_str()).unwrap_or_default();
        task_sizes.insert(family.to_string(), (size(&c.change.before), size(&c.change.after)));
    }
    let ctx = Context { catalog, env, hours, task_sizes };

    let mut diff = CostDiff {
        monthly_before: 0.0,
        monthly_after: 0.0,
        monthly_delta: 0.0,
        currency: "USD".into(),
        items: vec![],
        unpriced: vec![],
    };
    for c in &changes {
        let Some(action) = crate::runs::plan::action_of(&c.change.actions, &c.address).map_err(PlanCostError)? else {
            continue;
        };
        let side = |exists: bool, side: Side| match exists {
            true => price(&ctx, &c.resource_type, side.values(&c.change), side),
            false => Priced::Cost { monthly: 0.0, detail: String::new() },
        };
        let before = side(action != ChangeAction::Create, Side::Before);
        let after = side(action != ChangeAction::Delete, Side::After);
        let unpriced = |reason: String| UnpricedResource { address: c.address.clone(), resource_type: c.resource_type.clone(), reason };
        match (before, after) {
            (Priced::NoCharge, _) | (_, Priced::NoCharge) => {}
            (Priced::Unpriced(why), _) | (_, Priced::Unpriced(why)) => diff.unpriced.push(unpriced(why)),
            (Priced::Cost { monthly: b, detail: bd }, Priced::Cost { monthly: a, detail: ad }) => {
                let detail = match (bd.is_empty(), ad.is_empty(), bd == ad) {
                    (_, true, _) => bd,
                    (true, _, _) | (_, _, true) => ad,
                    _ => format!("{bd} → {ad}"),
                };
                diff.items.push(CostDiffItem {
                    address: c.address.clone(),
                    resource_type: c.resource_type.clone(),
                    action,
                    monthly_before: b,
                    monthly_after: a,
                    monthly_delta: a - b,
                    detail,
                });
            }
        }
    }
    diff.monthly_before = diff.items.iter().map(|i| i.monthly_before).sum();
    diff.monthly_after = diff.items.iter().map(|i| i.monthly_after).sum();
    diff.monthly_delta = diff.monthly_after - diff.monthly_before;
    diff.items.sort_by(|a, b| b.monthly_delta.abs().total_cmp(&a.monthly_delta.abs()).then_with(|| a.address.cmp(&b.address)));
    Ok(diff)
}

#[derive(Clone, Copy, PartialEq)]
enum Side {
    Before,
    After,
}

impl Side {
    fn values(self, change: &RawValues) -> &Value {
        match self {
            Side::Before => &change.before,
            Side::After => &change.after,
        }
    }
}

fn price(ctx: &Context, resource_type: &str, v: &Value, side: Side) -> Priced {
    if NO_CHARGE.contains(&resource_type) || NO_CHARGE_PREFIXES.iter().any(|p| resource_type.starts_with(p)) {
        return Priced::NoCharge;
    }
    let a = &ctx.env.cost_assumptions;
    let h = ctx.hours;
    let mut lines = Lines::new(ctx.catalog, &ctx.env.region);
    let c = CostCategory::Containers; // the category does not show in a plan's cost
    let detail = match resource_type {
        "aws_ecs_service" => {
            let Some(tasks) = v["desired_count"].as_f64() else {
                return Priced::Unpriced("desired_count is not known until apply".into());
            };
            let Some((vcpu, gb)) = task_size(ctx, v, side) else {
                return Priced::Unpriced("the size of its task definition is not in the plan or the configuration".into());
            };
            add_fargate(&mut lines, "", tasks * vcpu * h, tasks * gb * h, a.fargate_spot_share);
            format!("{} × ({} vCPU, {} GB) on Fargate", plural(tasks, "task"), num(vcpu), num(gb))
        }
        "aws_rds_cluster" => {
            let scaling = &v["serverlessv2_scaling_configuration"][0];
            let (Some(min), Some(max)) = (scaling["min_capacity"].as_f64(), scaling["max_capacity"].as_f64()) else {
                return Priced::Unpriced("only Aurora Serverless v2 clusters are in the catalog".into());
            };
            let acu = average_acu(min, max, a);
            lines.add(c, "", "", "aurora.serverless_v2", acu * h);
            lines.add(c, "", "", "aurora.storage", a.aurora_storage_gb);
            lines.add(c, "", "", "aurora.io", a.aurora_io_millions);
            format!("{}–{} ACU, {acu:.3} ACU average; {} GB, {} M I/O", num(min), num(max), num(a.aurora_storage_gb), num(a.aurora_io_millions))
        }
        "aws_rds_cluster_instance" => match v["instance_class"].as_str() {
            Some("db.serverless") => return Priced::Cost { monthly: 0.0, detail: "capacity is billed as ACUs, priced on its cluster".into() },
            Some(class) => return Priced::Unpriced(format!("provisioned instance class {class} is not in the catalog")),
            None => return Priced::Unpriced("instance_class is not known until apply".into()),
        },
        "aws_elasticache_cluster" | "aws_elasticache_replication_group" => {
            let Some(node) = v["node_type"].as_str() else {
                return Priced::Unpriced("node_type is not known until apply".into());
            };
            let nodes = if resource_type == "aws_elasticache_cluster" {
                v["num_cache_nodes"].as_f64().unwrap_or(1.0)
            } else {
                v["num_cache_clusters"].as_f64().unwrap_or_else(|| {
                    v["num_node_groups"].as_f64().unwrap_or(1.0) * (v["replicas_per_node_group"].as_f64().unwrap_or(0.0) + 1.0)
                })
            };
            lines.add(c, "", "", &format!("elasticache.{node}"), nodes * h);
            format!("{} × {node}", plural(nodes, "node"))
        }
        "aws_instance" => {
            let Some(itype) = v["instance_type"].as_str() else {
                return Priced::Unpriced("instance_type is not known until apply".into());
            };
            lines.add(c, "", "", &format!("ec2.{itype}"), h);
            let root = &v["root_block_device"][0];
            let root_gb = root["volume_size"].as_f64().unwrap_or(a.ec2_root_volume_gb);
            let root_type = root["volume_type"].as_str().unwrap_or("gp3");
            lines.add(c, "", "", &format!("ebs.{root_type}"), root_gb);
            let mut detail = format!("{itype}, {} GB {root_type} root", num(root_gb));
            for disk in v["ebs_block_device"].as_array().into_iter().flatten() {
                let (gb, kind) = (disk["volume_size"].as_f64().unwrap_or(0.0), disk["volume_type"].as_str().unwrap_or("gp3"));
                lines.add(c, "", "", &format!("ebs.{kind}"), gb);
                detail.push_str(&format!(", {} GB {kind}", num(gb)));
            }
            if v["associate_public_ip_address"].as_bool() == Some(true) {
                lines.add(c, "", "", "ipv4.public", h);
                detail.push_str(", public IPv4");
            }
            detail
        }
        "aws_ebs_volume" => {
            let Some(gb) = v["size"].as_f64() else {
                return Priced::Unpriced("size is not known until apply".into());
            };
            let kind = v["type"].as_str().unwrap_or("gp2");
            lines.add(c, "", "", &format!("ebs.{kind}"), gb);
            format!("{} GB {kind}", num(gb))
        }
        "aws_nat_gateway" => {
            let gb = a.nat_processed_gb / ctx.env.network.nat_gateways.max(1) as f64;
            lines.add(c, "", "", "nat.hour", h);
            lines.add(c, "", "", "nat.data", gb);
            format!("{} hours, {} GB processed", num(h), num(gb))
        }
        "aws_lb" => {
            let kind = v["load_balancer_type"].as_str().unwrap_or("application");
            let (prefix, lcu) = match kind {
                "application" => ("alb", a.alb_lcu),
                "network" => ("nlb", a.nlb_lcu),
                other => return Priced::Unpriced(format!("{other} load balancers are not in the catalog")),
            };
            lines.add(c, "", "", &format!("{prefix}.hour"), h);
            lines.add(c, "", "", &format!("{prefix}.lcu"), lcu * h);
            let mut detail = format!("{} load balancer, {} capacity units", kind, num(lcu));
            if prefix == "alb" && v["internal"].as_bool() != Some(true) {
                lines.add(c, "", "", "ipv4.public", a.alb_public_ips * h);
                detail.push_str(&format!(", {} public IPv4", num(a.alb_public_ips)));
            }
            detail
        }
        "aws_eip" => {
            lines.add(c, "", "", "ipv4.public", h);
            "1 public IPv4 address".into()
        }
        "aws_efs_file_system" => {
            lines.add(c, "", "", "efs.standard", a.efs_storage_gb);
            format!("{} GB Standard", num(a.efs_storage_gb))
        }
        "aws_secretsmanager_secret" => {
            lines.add(c, "", "", "secretsmanager.secret", 1.0);
            "1 secret".into()
        }
        "aws_cloudwatch_log_group" => {
            let groups = ctx.env.services.len().max(1) as f64;
            let (ingest, stored) = (a.log_ingestion_gb / groups, a.log_storage_gb / groups);
            lines.add(c, "", "", "logs.ingestion", ingest);
            lines.add(c, "", "", "logs.storage", stored);
            format!("{ingest:.2} GB ingested, {stored:.2} GB stored (the environment's logs over {groups} groups)")
        }
        "aws_dynamodb_table" => {
            if v["billing_mode"].as_str() != Some("PAY_PER_REQUEST") {
                return Priced::Unpriced("provisioned-capacity tables are not in the catalog".into());
            }
            lines.add(c, "", "", "dynamodb.write", a.lock_table_requests / 1_000_000.0);
            format!("on-demand, {} writes", num(a.lock_table_requests))
        }
        other if other.starts_with("aws_") => return Priced::Unpriced("this resource type is not in the price catalog".into()),
        _ => return Priced::Unpriced("not an AWS resource".into()),
    };
    let estimate = lines.finish();
    if let Some(missing) = estimate.unpriced.first() {
        return Priced::Unpriced(missing.error.to_string());
    }
    Priced::Cost { monthly: estimate.total(), detail }
}

/// The (vCPU, GB) of a service's tasks: the plan's task definition of that family, else the
/// configured service of the same name.
fn task_size(ctx: &Context, service: &Value, side: Side) -> Option<(f64, f64)> {
    let reference = service["task_definition"].as_str().unwrap_or_default();
    // `arn:aws:ecs:…:task-definition/family:12`, `family:12` or `family`.
    let family = reference.rsplit('/').next().unwrap_or_default().split(':').next().unwrap_or_default();
    let name = service["name"].as_str().unwrap_or_default();
    let planned = ctx.task_sizes.get(family).or_else(|| ctx.task_sizes.get(name));
    if let Some((before, after)) = planned {
        let size = match side {
            Side::Before => before.or(*after),
            Side::After => after.or(*before),
        };
        if let Some(size) = size {
            return Some(size);
        }
    }
    let configured = ctx.env.services.iter().find(|s| s.name == name || s.name == family)?;
    Some((configured.vcpu, configured.memory_mb as f64 / 1024.0))
}

fn text_number(v: &Value) -> Option<f64> {
    v.as_f64().or_else(|| v.as_str()?.parse().ok())
}

fn num(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{}", (v * 1000.0).round() / 1000.0)
    }
}

fn plural(n: f64, what: &str) -> String {
    format!("{} {what}{}", num(n), if n == 1.0 { "" } else { "s" })
}

#[cfg(test)]
mod tests;
