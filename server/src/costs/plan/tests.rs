use super::*;
use crate::config::Config;

const MIXED: &str = include_str!("../../../../tests/fixtures/plans/mixed.json");

fn production() -> Environment {
    Config::defaults().environments["production"].clone()
}

fn diff(json: &str) -> CostDiff {
    price_plan(&Catalog::built_in(), &production(), 730.0, json.as_bytes()).unwrap()
}

fn item<'a>(diff: &'a CostDiff, address: &str) -> &'a CostDiffItem {
    diff.items.iter().find(|i| i.address == address).unwrap_or_else(|| panic!("{address} not priced"))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

#[test]
fn a_bigger_task_definition_costs_its_service_the_difference() {
    let d = diff(MIXED);
    let nova = item(&d, "aws_ecs_service.fastify_nova");
    // 2 tasks × (1 vCPU, 2 GB) → 2 tasks × (2 vCPU, 4 GB), on-demand in Mumbai.
    let per_task = 730.0 * (0.04256 + 2.0 * 0.00467);
    assert!(close(nova.monthly_before, 2.0 * per_task), "{nova:?}");
    assert!(close(nova.monthly_after, 4.0 * per_task), "{nova:?}");
    assert_eq!(nova.detail, "2 tasks × (1 vCPU, 2 GB) on Fargate → 2 tasks × (2 vCPU, 4 GB) on Fargate");
    // The task definition itself is not billed: it is neither an item nor "not priced".
    assert!(d.items.iter().all(|i| i.resource_type != "aws_ecs_task_definition"));
    assert!(d.unpriced.iter().all(|u| u.resource_type != "aws_ecs_task_definition"));
}

#[test]
fn raising_max_acu_costs_the_assumed_share_of_the_new_range() {
    let d = diff(MIXED);
    let aurora = item(&d, "aws_rds_cluster.aurora");
    assert!(close(aurora.monthly_delta, 0.05 * 8.0 * 730.0 * 0.14), "{aurora:?}");
    assert_eq!(aurora.action, ChangeAction::Update);
}

#[test]
fn creates_cost_their_after_deletes_save_their_before() {
    let d = diff(MIXED);
    let volume = item(&d, "aws_ebs_volume.clickhouse_data");
    assert!(close(volume.monthly_before, 0.0) && close(volume.monthly_after, 100.0 * 0.0912));
    let redis = item(&d, "aws_elasticache_cluster.redis");
    assert!(close(redis.monthly_after, 0.0) && close(redis.monthly_delta, -730.0 * 0.034));
    let alb = item(&d, "aws_lb.alb_orion");
    // Hours, 0.5 LCU and three public addresses, as production assumes.
    assert!(close(alb.monthly_after, 730.0 * (0.0239 + 0.5 * 0.008 + 3.0 * 0.005)), "{alb:?}");
    assert!(close(item(&d, "aws_eip.nlb").monthly_after, 730.0 * 0.005));
    assert!(close(item(&d, "aws_secretsmanager_secret.orion_env").monthly_after, 0.40));
    let ch = item(&d, "aws_instance.clickhouse");
    assert!(close(ch.monthly_delta, 730.0 * (0.0896 - 0.0448)));
}

#[test]
fn unknown_types_are_listed_as_not_priced_and_free_ones_are_left_out() {
    let d = diff(MIXED);
    let unpriced: Vec<&str> = d.unpriced.iter().map(|u| u.address.as_str()).collect();
    assert_eq!(unpriced, ["aws_cloudfront_distribution.cdn", "cloudflare_record.storefront"]);
    assert!(d.unpriced[0].reason.contains("not in the price catalog"));
    let addresses: Vec<&str> = d.items.iter().map(|i| i.address.as_str()).collect();
    assert!(!addresses.contains(&"aws_security_group.orion"));
    // No-ops and data sources change nothing.
    assert!(!addresses.contains(&"aws_nat_gateway.main"));
    assert!(!addresses.iter().any(|a| a.starts_with("data.")));
}

#[test]
fn totals_add_up_and_the_largest_change_comes_first() {
    let d = diff(MIXED);
    assert!(close(d.monthly_before, d.items.iter().map(|i| i.monthly_before).sum()));
    assert!(close(d.monthly_after, d.items.iter().map(|i| i.monthly_after).sum()));
    assert!(close(d.monthly_delta, d.monthly_after - d.monthly_before));
    assert_eq!(d.currency, "USD");
    assert_eq!(d.items[0].address, "aws_ecs_service.fastify_nova");
    let deltas: Vec<f64> = d.items.iter().map(|i| i.monthly_delta.abs()).collect();
    assert!(deltas.windows(2).all(|w| w[0] >= w[1]), "{deltas:?}");
}

#[test]
fn values_known_only_after_apply_are_not_priced_rather_than_guessed() {
    let plan = r#"{"resource_changes": [{"address": "aws_instance.x", "type": "aws_instance", "change": {
        "actions": ["create"], "before": null, "after": {"instance_type": null}}}]}"#;
    let d = diff(plan);
    assert_eq!(d.unpriced.len(), 1);
    assert!(d.unpriced[0].reason.contains("not known until apply"));
    assert_eq!(d.items, vec![]);
}

#[test]
fn a_type_the_catalog_lacks_a_price_for_is_not_priced() {
    let plan = r#"{"resource_changes": [{"address": "aws_instance.big", "type": "aws_instance", "change": {
        "actions": ["create"], "before": null, "after": {"instance_type": "x2iedn.32xlarge"}}}]}"#;
    let d = diff(plan);
    assert!(d.unpriced[0].reason.contains("ec2.x2iedn.32xlarge"), "{:?}", d.unpriced);
}

#[test]
fn malformed_plan_json_is_a_clear_error() {
    for (json, expected) in [
        ("{not json", "cannot price the plan"),
        (r#"{"resource_changes": [{"address": "a"}]}"#, "missing field"),
        (r#"{"resource_changes": [{"address": "a", "type": "aws_eip", "change": {"actions": ["explode"]}}]}"#, "unknown actions"),
    ] {
        let error = price_plan(&Catalog::built_in(), &production(), 730.0, json.as_bytes()).unwrap_err().to_string();
        assert!(error.contains(expected), "{error}");
    }
}
