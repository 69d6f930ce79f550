//! The monthly estimate of an environment: its configuration (services, sizes, node types,
//! disks, load balancers, NAT, secrets…) priced with the catalog, plus the usage its assumptions
//! state. Each line item says what it multiplies.

use super::catalog::{Catalog, CatalogError};
use app::model::cost::{CostAssumptions, CostCategory, LineItem};
use app::model::{Environment, LoadBalancerKind, Service};

/// Line items and the ones the catalog could not price (a region or type it does not list).
#[derive(Debug, Default)]
pub struct Estimate {
    pub items: Vec<LineItem>,
    pub unpriced: Vec<Unpriced>,
}

/// A quantity the catalog has no price for: what it was for, and which price is missing.
#[derive(Debug, PartialEq)]
pub struct Unpriced {
    pub what: String,
    pub error: CatalogError,
}

impl std::fmt::Display for Unpriced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.what, self.error)
    }
}

impl Estimate {
    pub fn total(&self) -> f64 {
        self.items.iter().map(|i| i.monthly).sum()
    }
}

/// Adds priced quantities in one region.
pub struct Lines<'a> {
    catalog: &'a Catalog,
    region: &'a str,
    estimate: Estimate,
}

impl<'a> Lines<'a> {
    pub fn new(catalog: &'a Catalog, region: &'a str) -> Self {
        Lines { catalog, region, estimate: Estimate::default() }
    }

    /// `quantity` of the catalog's unit for `key`, in this region.
    pub fn add(&mut self, category: CostCategory, resource: &str, description: &str, key: &str, quantity: f64) {
        self.add_in(self.region, category, resource, description, key, quantity)
    }

    /// As `add`, for a resource that lives in another region (the Terraform state backend).
    pub fn add_in(&mut self, region: &str, category: CostCategory, resource: &str, description: &str, key: &str, quantity: f64) {
        match self.catalog.price(key, region) {
            Ok(price) => self.estimate.items.push(LineItem {
                category,
                resource: resource.to_string(),
                description: description.to_string(),
                quantity,
                unit: price.unit.clone(),
                unit_price: price.usd,
                monthly: quantity * price.usd,
                price_key: key.to_string(),
            }),
            Err(error) => self.estimate.unpriced.push(Unpriced { what: format!("{resource} ({description})"), error }),
        }
    }

    pub fn finish(self) -> Estimate {
        self.estimate
    }
}

/// Average tasks of a service: its minimum, plus the assumed share of its autoscaling range.
pub fn average_tasks(service: &Service, assumptions: &CostAssumptions) -> f64 {
    let min = service.min_tasks as f64;
    match service.scaling_cpu_target {
        Some(_) => min + assumptions.ecs_scale_out * (service.max_tasks.saturating_sub(service.min_tasks)) as f64,
        None => min,
    }
}

/// Average Aurora capacity: the minimum plus the assumed share of the range above it.
pub fn average_acu(min: f64, max: f64, assumptions: &CostAssumptions) -> f64 {
    min + assumptions.aurora_utilisation * (max - min).max(0.0)
}

/// Fargate task-hours split between on-demand and Spot as assumed.
pub fn add_fargate(lines: &mut Lines, resource: &str, vcpu_hours: f64, gb_hours: f64, spot_share: f64) {
    let parts = [("", "fargate", 1.0 - spot_share), (" (Spot)", "fargate_spot", spot_share)];
    for (label, prefix, share) in parts {
        if share > 0.0 {
            lines.add(CostCategory::Containers, resource, &format!("Fargate vCPU{label}"), &format!("{prefix}.vcpu"), vcpu_hours * share);
            lines.add(CostCategory::Containers, resource, &format!("Fargate memory{label}"), &format!("{prefix}.memory"), gb_hours * share);
        }
    }
}

pub fn estimate(catalog: &Catalog, env: &Environment, hours: f64) -> Estimate {
    let a = &env.cost_assumptions;
    let mut lines = Lines::new(catalog, &env.region);

    for service in &env.services {
        let tasks = average_tasks(service, a);
        let gb = service.memory_mb as f64 / 1024.0;
        add_fargate(&mut lines, &service.name, tasks * service.vcpu * hours, tasks * gb * hours, a.fargate_spot_share);
    }

    if let Some(aurora) = &env.aurora {
        let acu = average_acu(aurora.min_acu, aurora.max_acu, a);
        lines.add(CostCategory::Database, "Aurora", &format!("Serverless v2 capacity ({acu:.3} ACU average)"), "aurora.serverless_v2", acu * hours);
        lines.add(CostCategory::Database, "Aurora", "Storage", "aurora.storage", a.aurora_storage_gb);
        lines.add(CostCategory::Database, "Aurora", "I/O requests", "aurora.io", a.aurora_io_millions);
    }

    if let Some(redis) = &env.redis {
        lines.add(CostCategory::Cache, "Redis", &format!("{} node", redis.node_type), &format!("elasticache.{}", redis.node_type), hours);
    }

    if let Some(ch) = &env.clickhouse {
        let name = format!("ClickHouse ({})", ch.instance_type);
        lines.add(CostCategory::Instances, &name, "EC2 instance", &format!("ec2.{}", ch.instance_type), hours);
        lines.add(CostCategory::Instances, &name, &format!("Data volume ({})", ch.volume_type), &format!("ebs.{}", ch.volume_type), ch.disk_gb as f64);
        lines.add(CostCategory::Instances, &name, "Root volume (gp3)", "ebs.gp3", a.ec2_root_volume_gb);
    }
    if let Some(bastion) = &env.bastion {
        let name = format!("Bastion ({})", bastion.instance_type);
        lines.add(CostCategory::Instances, &name, "EC2 instance", &format!("ec2.{}", bastion.instance_type), hours);
        lines.add(CostCategory::Instances, &name, "Root volume (gp3)", "ebs.gp3", a.ec2_root_volume_gb);
    }

    let nat = env.network.nat_gateways as f64;
    if nat > 0.0 {
        lines.add(CostCategory::Network, "NAT gateway", "Gateway hours", "nat.hour", nat * hours);
        lines.add(CostCategory::Network, "NAT gateway", "Data processed", "nat.data", a.nat_processed_gb);
    }

    for lb in &env.load_balancers {
        let (hour, lcu, per_lb) = match lb.kind {
            LoadBalancerKind::Alb => ("alb.hour", "alb.lcu", a.alb_lcu),
            LoadBalancerKind::Nlb => ("nlb.hour", "nlb.lcu", a.nlb_lcu),
        };
        lines.add(CostCategory::LoadBalancers, &lb.name, &format!("{} hours", lb.kind), hour, hours);
        lines.add(CostCategory::LoadBalancers, &lb.name, "Capacity units", lcu, per_lb * hours);
    }

    let count = |kind| env.load_balancers.iter().filter(|lb| lb.kind == kind).count() as f64;
    let addresses = [
        ("NAT gateways", nat),
        ("ALBs", count(LoadBalancerKind::Alb) * a.alb_public_ips),
        ("NLBs", count(LoadBalancerKind::Nlb) * a.nlb_public_ips),
        ("Bastion", if env.bastion.is_some() { 1.0 } else { 0.0 }),
        ("Aurora (publicly accessible)", if env.aurora.as_ref().is_some_and(|x| x.publicly_accessible) { 1.0 } else { 0.0 }),
    ];
    for (holder, n) in addresses {
        if n > 0.0 {
            let what = if n == 1.0 { "1 address".to_string() } else { format!("{n} addresses") };
            lines.add(CostCategory::Network, &format!("Public IPv4: {holder}"), &what, "ipv4.public", n * hours);
        }
    }

    if env.efs.is_some() {
        lines.add(CostCategory::Storage, "EFS", "Standard storage", "efs.standard", a.efs_storage_gb);
    }

    if !env.services.is_empty() {
        lines.add(CostCategory::Observability, "CloudWatch Logs", "Ingestion", "logs.ingestion", a.log_ingestion_gb);
        lines.add(CostCategory::Observability, "CloudWatch Logs", "Storage", "logs.storage", a.log_storage_gb);
    }

    if !env.secrets.is_empty() {
        lines.add(CostCategory::Secrets, "Secrets Manager", &format!("{} secrets", env.secrets.len()), "secretsmanager.secret", env.secrets.len() as f64);
        lines.add(CostCategory::Secrets, "Secrets Manager", "API calls", "secretsmanager.api", a.secrets_api_calls / 10_000.0);
    }

    let backend = &env.terraform.backend_region;
    lines.add_in(backend, CostCategory::TerraformState, "State bucket", "S3 Standard storage", "s3.standard", a.state_storage_gb);
    lines.add_in(backend, CostCategory::TerraformState, "Lock table", "On-demand writes", "dynamodb.write", a.lock_table_requests / 1_000_000.0);

    lines.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn env(name: &str) -> Environment {
        Config::defaults().environments[name].clone()
    }

    fn total(env: &Environment) -> f64 {
        let e = estimate(&Catalog::built_in(), env, 730.0);
        assert_eq!(e.unpriced, Vec::<Unpriced>::new());
        e.total()
    }

    #[test]
    fn the_built_in_estate_lands_within_15_percent_of_its_rough_figures() {
        for (name, figure) in [("production", 460.0), ("staging", 320.0)] {
            let t = total(&env(name));
            assert!((t - figure).abs() <= 0.15 * figure, "{name}: ${t:.2} is not within 15% of ${figure}");
        }
    }

    #[test]
    fn doubling_production_max_acu_adds_the_assumed_share_of_the_new_range() {
        let before = env("production");
        let mut after = before.clone();
        after.aurora.as_mut().unwrap().max_acu = 16.0;
        // 5% of the extra 8 ACU = 0.4 ACU more on average, for every hour, at Mumbai's price.
        let expected = 0.05 * 8.0 * 730.0 * 0.14;
        assert!((total(&after) - total(&before) - expected).abs() < 1e-6);
    }

    #[test]
    fn autoscaled_services_average_above_their_minimum_fixed_ones_do_not() {
        let mut a = CostAssumptions { ecs_scale_out: 0.5, ..Default::default() };
        let prod = env("production");
        let nova = prod.services.iter().find(|s| s.name == "fastify-nova").unwrap();
        let consumer = prod.services.iter().find(|s| s.name == "events-consumer").unwrap();
        assert_eq!(average_tasks(nova, &a), 2.5);
        assert_eq!(average_tasks(consumer, &a), 1.0);
        a.ecs_scale_out = 0.0;
        assert_eq!(average_tasks(nova, &a), 1.0);
    }

    #[test]
    fn line_items_multiply_quantity_by_unit_price() {
        let e = estimate(&Catalog::built_in(), &env("production"), 730.0);
        let nat = e.items.iter().find(|i| i.price_key == "nat.hour").unwrap();
        assert_eq!((nat.quantity, nat.unit_price, nat.unit.as_str()), (730.0, 0.056, "hour"));
        assert!((nat.monthly - 40.88).abs() < 1e-9);
        let redis = e.items.iter().find(|i| i.category == CostCategory::Cache).unwrap();
        assert_eq!(redis.price_key, "elasticache.cache.t4g.small");
        for item in &e.items {
            assert!((item.monthly - item.quantity * item.unit_price).abs() < 1e-9, "{item:?}");
        }
    }

    #[test]
    fn spot_share_splits_fargate_hours() {
        let mut staging = env("staging");
        staging.cost_assumptions.fargate_spot_share = 0.25;
        let e = estimate(&Catalog::built_in(), &staging, 730.0);
        let nova: Vec<_> = e.items.iter().filter(|i| i.resource == "fastify-nova").collect();
        let hours = |key: &str| nova.iter().find(|i| i.price_key == key).unwrap().quantity;
        assert_eq!(hours("fargate.vcpu"), 0.75 * 730.0);
        assert_eq!(hours("fargate_spot.vcpu"), 0.25 * 730.0);
    }

    #[test]
    fn a_region_the_catalog_does_not_list_is_reported_not_priced_at_zero() {
        let mut e = env("staging");
        e.region = "eu-north-1".into();
        let estimate = estimate(&Catalog::built_in(), &e, 730.0);
        assert!(estimate.unpriced.iter().map(Unpriced::to_string).any(|u| u.contains("fastify-nova") && u.contains("eu-north-1")));
        // The state backend stays in ap-south-1, which the catalog lists.
        assert!(estimate.items.iter().all(|i| i.category == CostCategory::TerraformState));
    }
}
