//! Side-by-side comparison of environments: one row per fact, one cell per environment, and a
//! flag on every row whose cells are not all the same. Pure functions, so the tests check them
//! without a browser.

use crate::model::{Environment, Service};

#[derive(Clone, Debug, PartialEq)]
pub struct Section {
    pub id: &'static str,
    pub title: &'static str,
    pub rows: Vec<Row>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub label: String,
    /// One cell per environment, in the order the environments were given; `None` where the
    /// environment does not have this thing at all.
    pub cells: Vec<Option<String>>,
}

impl Row {
    fn new(label: impl Into<String>, cells: Vec<Option<String>>) -> Self {
        Self { label: label.into(), cells }
    }

    /// True when the environments disagree (a missing cell disagrees with a present one).
    pub fn differs(&self) -> bool {
        self.cells.windows(2).any(|w| w[0] != w[1])
    }
}

/// All comparison sections, in the order the page shows them.
pub fn sections(envs: &[Environment]) -> Vec<Section> {
    vec![
        Section { id: "overview", title: "Overview", rows: overview(envs) },
        Section { id: "services", title: "ECS services", rows: services(envs) },
        Section { id: "load-balancers", title: "Load balancers", rows: load_balancers(envs) },
        Section { id: "data-stores", title: "Data stores", rows: data_stores(envs) },
        Section { id: "secrets", title: "Secrets", rows: secrets(envs) },
    ]
}

/// Keeps only the rows that differ (the "differences only" view), dropping emptied sections.
pub fn only_differences(sections: Vec<Section>) -> Vec<Section> {
    sections
        .into_iter()
        .map(|s| Section { rows: s.rows.into_iter().filter(Row::differs).collect(), ..s })
        .filter(|s| !s.rows.is_empty())
        .collect()
}

fn row(envs: &[Environment], label: &str, cell: impl Fn(&Environment) -> Option<String>) -> Row {
    Row::new(label, envs.iter().map(cell).collect())
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

/// Formats a number without a trailing `.0` (8 ACU, 0.5 ACU, 0.25 vCPU).
pub fn num(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

/// Whole dollars: `$1,234` (the cost page shows cents with `model::cost::usd`).
pub fn usd(x: f64) -> String {
    let whole = x.round() as i64;
    format!("{}${}", if whole < 0 { "-" } else { "" }, crate::model::cost::thousands(whole.unsigned_abs()))
}

fn overview(envs: &[Environment]) -> Vec<Row> {
    vec![
        row(envs, "AWS region", |e| Some(e.region.clone())),
        row(envs, "Terraform root", |e| Some(e.terraform.root_dir.clone())),
        row(envs, "State", |e| Some(e.terraform.state_url())),
        row(envs, "State lock table", |e| {
            Some(format!("{} ({})", e.terraform.lock_table, e.terraform.backend_region))
        }),
        row(envs, "VPC CIDR", |e| Some(e.network.vpc_cidr.clone())),
        row(envs, "Subnets", |e| {
            let n = e.network.availability_zones.len();
            Some(format!("{n} public + {n} private ({})", e.network.availability_zones.join(", ")))
        }),
        row(envs, "NAT gateways", |e| Some(e.network.nat_gateways.to_string())),
        row(envs, "Aurora reachability", |e| {
            e.aurora.as_ref().map(|a| {
                if a.publicly_accessible {
                    "publicly accessible".to_string()
                } else {
                    "private subnets only, VPN required".to_string()
                }
            })
        }),
        row(envs, "Aurora Serverless v2 max ACU", |e| e.aurora.as_ref().map(|a| num(a.max_acu))),
        row(envs, "ElastiCache Redis node", |e| e.redis.as_ref().map(|r| r.node_type.clone())),
        row(envs, "ClickHouse EC2", |e| {
            e.clickhouse
                .as_ref()
                .map(|c| format!("{}, {} GB {}", c.instance_type, c.disk_gb, c.volume_type))
        }),
        row(envs, "ECS cluster", |e| Some(e.ecs_cluster.clone())),
        row(envs, "ECS max tasks", |e| Some(max_tasks(&e.services))),
        row(envs, "Deletion protection", |e| Some(yes_no(e.deletion_protection))),
        row(envs, "ECR repositories", |e| {
            Some(
                match e.ecr {
                    crate::model::EcrMode::Managed => "created by this root",
                    crate::model::EcrMode::DataSource => "read as data sources",
                }
                .to_string(),
            )
        }),
        row(envs, "Estimated monthly cost", |e| Some(format!("about {}", usd(e.estimated_monthly_cost_usd)))),
    ]
}

/// The autoscaled services' ceilings, e.g. "fastify-nova 4, storefront 4"; fixed-size services
/// are left out because their ceiling is their size.
fn max_tasks(services: &[Service]) -> String {
    let scaled: Vec<String> = services
        .iter()
        .filter(|s| s.scaling_cpu_target.is_some())
        .map(|s| format!("{} {}", s.name, s.max_tasks))
        .collect();
    if scaled.is_empty() {
        "no autoscaled services".to_string()
    } else {
        scaled.join(", ")
    }
}

/// One row per item name (every name any environment has, in first-seen order), with each
/// environment's item described by `describe`, or an empty cell where it has none.
fn rows_by_name<T>(
    envs: &[Environment],
    items: impl Fn(&Environment) -> &[T],
    name: impl Fn(&T) -> &str,
    describe: impl Fn(&T) -> String,
) -> Vec<Row> {
    let mut names: Vec<&str> = Vec::new();
    for env in envs {
        for item in items(env) {
            if !names.contains(&name(item)) {
                names.push(name(item));
            }
        }
    }
    names
        .into_iter()
        .map(|n| row(envs, n, |e| items(e).iter().find(|item| name(item) == n).map(&describe)))
        .collect()
}

fn services(envs: &[Environment]) -> Vec<Row> {
    rows_by_name(envs, |e| &e.services, |s| &s.name, |s| {
        let scaling = match s.scaling_cpu_target {
            Some(t) => format!("CPU {t}%"),
            None => "fixed".to_string(),
        };
        format!(
            "{} vCPU · {} MB · {}→{} tasks · {} · {}",
            num(s.vcpu),
            s.memory_mb,
            s.min_tasks,
            s.max_tasks,
            scaling,
            s.ingress
        )
    })
}

fn load_balancers(envs: &[Environment]) -> Vec<Row> {
    rows_by_name(envs, |e| &e.load_balancers, |l| &l.name, |l| {
        if l.notes.is_empty() {
            format!("{} → {}", l.kind, l.routes_to)
        } else {
            format!("{} → {} · {}", l.kind, l.routes_to, l.notes)
        }
    })
}

fn data_stores(envs: &[Environment]) -> Vec<Row> {
    vec![
        row(envs, "Aurora", |e| {
            e.aurora.as_ref().map(|a| {
                format!(
                    "{} · {}–{} ACU · deletion protection {} · credentials in {}",
                    a.engine,
                    num(a.min_acu),
                    num(a.max_acu),
                    if a.deletion_protection { "on" } else { "off" },
                    a.master_secret
                )
            })
        }),
        row(envs, "Redis", |e| {
            e.redis.as_ref().map(|r| {
                format!("ElastiCache Redis {} · {} · auth in {}", r.engine_version, r.node_type, r.auth_secret)
            })
        }),
        row(envs, "ClickHouse", |e| {
            e.clickhouse.as_ref().map(|c| {
                format!("ClickHouse {} on {} · {} GB {}", c.version, c.instance_type, c.disk_gb, c.volume_type)
            })
        }),
        row(envs, "EFS", |e| e.efs.as_ref().map(|f| format!("mounted at {} in {}", f.mount_path, f.service))),
        row(envs, "Bastion", |e| e.bastion.as_ref().map(|b| format!("{} · WireGuard VPN", b.instance_type))),
    ]
}

fn secrets(envs: &[Environment]) -> Vec<Row> {
    rows_by_name(envs, |e| &e.secrets, |s| &s.name, |s| {
        if s.keys.is_empty() {
            "(keys not listed)".to_string()
        } else {
            s.keys.join(", ")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_differs_when_any_cell_differs_or_is_missing() {
        let same = Row::new("x", vec![Some("a".into()), Some("a".into())]);
        let other = Row::new("x", vec![Some("a".into()), Some("b".into())]);
        let missing = Row::new("x", vec![Some("a".into()), None]);
        assert!(!same.differs());
        assert!(other.differs());
        assert!(missing.differs());
    }

    #[test]
    fn only_differences_drops_equal_rows_and_empty_sections() {
        let sections = vec![
            Section { id: "a", title: "A", rows: vec![Row::new("same", vec![Some("1".into()), Some("1".into())])] },
            Section {
                id: "b",
                title: "B",
                rows: vec![
                    Row::new("same", vec![Some("1".into()), Some("1".into())]),
                    Row::new("diff", vec![Some("1".into()), Some("2".into())]),
                ],
            },
        ];
        let kept = only_differences(sections);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].id, "b");
        assert_eq!(kept[0].rows.iter().map(|r| r.label.as_str()).collect::<Vec<_>>(), ["diff"]);
    }

    fn env(name: &str, extra_service: Option<&str>) -> Environment {
        let mut text = format!(
            r#"
            name = "{name}"
            display_name = "{name}"
            region = "eu-west-1"
            ecs_cluster = "c"
            deletion_protection = false
            ecr = "managed"
            estimated_monthly_cost_usd = 1
            terraform = {{ root_dir = "t", state_bucket = "b", state_key = "k", lock_table = "l", backend_region = "eu-west-1" }}
            network = {{ vpc_cidr = "10.0.0.0/16", availability_zones = ["a"], nat_gateways = 1 }}
            [[services]]
            name = "api"
            vcpu = 1
            memory_mb = 2048
            min_tasks = 1
            max_tasks = 2
            ingress = "ALB HTTPS"
            log_group = "/api"
            "#
        );
        if let Some(extra) = extra_service {
            text.push_str(&format!(
                "[[services]]\nname = \"{extra}\"\nvcpu = 0.25\nmemory_mb = 512\nmin_tasks = 1\nmax_tasks = 1\ningress = \"none\"\nlog_group = \"/w\"\n"
            ));
        }
        toml::from_str(&text).expect("test environment")
    }

    #[test]
    fn an_item_only_one_environment_has_is_a_differing_row_with_an_empty_cell() {
        let rows = services(&[env("a", None), env("b", Some("worker"))]);
        assert_eq!(rows.iter().map(|r| r.label.as_str()).collect::<Vec<_>>(), ["api", "worker"]);
        assert!(!rows[0].differs());
        assert_eq!(rows[1].cells[0], None);
        assert!(rows[1].cells[1].as_deref().unwrap().starts_with("0.25 vCPU · 512 MB"));
        assert!(rows[1].differs());
    }

    #[test]
    fn numbers_and_money_read_naturally() {
        assert_eq!(num(8.0), "8");
        assert_eq!(num(0.25), "0.25");
        assert_eq!(usd(460.0), "$460");
        assert_eq!(usd(12345.4), "$12,345");
        assert_eq!(usd(-1000.0), "-$1,000");
    }
}
