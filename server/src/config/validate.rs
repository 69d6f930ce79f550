//! Checks that serde cannot express. Every message starts with the key it is about.

use super::{AuthMode, Config};
use app::model::Environment;
use std::collections::HashSet;
use std::net::Ipv4Addr;

/// Fargate's valid task sizes (vCPU).
const FARGATE_VCPU: [f64; 7] = [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0];

pub fn check(config: &Config) -> Result<(), String> {
    let mut problems = Vec::new();
    if config.database.max_connections == 0 {
        problems.push("database.max_connections: must be at least 1".to_string());
    }
    if config.auth.session_hours == 0 {
        problems.push("auth.session_hours: must be at least 1".to_string());
    }
    if config.auth.session_idle_minutes == 0 {
        problems.push("auth.session_idle_minutes: must be at least 1".to_string());
    }
    check_oidc(config, &mut problems);
    if config.auth.mode == AuthMode::Dev && config.auth.dev_users.is_empty() {
        problems.push("auth.dev_users: the dev sign-in needs at least one user".to_string());
    }
    let mut seen = HashSet::new();
    for (i, user) in config.auth.dev_users.iter().enumerate() {
        if !is_user_name(&user.name) {
            problems.push(format!(
                "auth.dev_users[{i}].name: {:?} is not a user name ({USER_NAME_RULE})",
                user.name
            ));
        }
        if !seen.insert(&user.name) {
            problems.push(format!("auth.dev_users[{i}].name: {:?} is listed twice", user.name));
        }
    }
    check_terraform(config, &mut problems);
    let header = &config.log.request_id_header;
    if !header.is_empty() && http::HeaderName::from_bytes(header.as_bytes()).is_err() {
        problems.push(format!("log.request_id_header: {header:?} is not a header name"));
    }
    for (i, entry) in config.server.allowed_hosts.iter().enumerate() {
        if !super::hosts::is_host_entry(entry) {
            problems.push(format!("server.allowed_hosts[{i}]: {entry:?} is not a host name, or a host name and port such as \"zelly.internal:8080\""));
        }
    }
    if config.runs.live_streams_per_user == 0 || config.runs.live_streams_total < config.runs.live_streams_per_user {
        problems.push("runs.live_streams_per_user: must be at least 1, and runs.live_streams_total at least as many".to_string());
    }
    if config.runs.plan_ttl_seconds == 0 {
        problems.push("runs.plan_ttl_seconds: must be at least 1".to_string());
    }
    let prefix = &config.secrets.prefix;
    if prefix.is_empty() || !prefix.chars().all(|c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c)) || prefix.contains("..") {
        problems.push(format!(
            "secrets.prefix: {prefix:?} must be a non-empty Secrets Manager name prefix such as \"zelly/\" \
             (letters, digits and /_+=.@-)"
        ));
    }
    if config.secrets.lock_wait_seconds == 0 {
        problems.push("secrets.lock_wait_seconds: must be at least 1".to_string());
    }
    if config.aws.timeout_seconds == 0 {
        problems.push("aws.timeout_seconds: must be at least 1".to_string());
    }
    if config.runs.poll_seconds == 0 {
        problems.push("runs.poll_seconds: must be at least 1".to_string());
    }
    if config.runs.lease_seconds < 2 {
        problems.push("runs.lease_seconds: must be at least 2".to_string());
    }
    check_panels(&config.metrics.panels, &mut problems);
    super::notifications::check(config, &mut problems);
    let hours = config.costs.hours_per_month;
    if !(hours.is_finite() && hours > 0.0 && hours <= 744.0) {
        problems.push(format!("costs.hours_per_month: {hours} is not a month's hours (0 < hours ≤ 744; AWS uses 730)"));
    }
    if let Err(e) = config.costs.catalog() {
        problems.push(format!("costs.catalog_file: {e}"));
    }
    if config.environments.is_empty() {
        problems.push("environments: at least one environment must be configured".to_string());
    }
    for (name, env) in &config.environments {
        check_environment(name, env, &mut problems);
        check_variables(config, name, env, &mut problems);
        let drift = env.drift_check_minutes.unwrap_or(config.runs.drift_check_minutes);
        if !(drift.is_finite() && drift >= 0.0) {
            let key = if env.drift_check_minutes.is_some() { format!("environments.{name}.drift_check_minutes") } else { "runs.drift_check_minutes".into() };
            problems.push(format!("{key}: {drift} is not a number of minutes (0 turns drift checks off)"));
        }
        if let Some(from) = &env.promote_from {
            let source = config.environments.get(from);
            if from == name || source.is_none() {
                problems.push(format!("environments.{name}.promote_from: {from:?} must name another configured environment"));
            } else if source.and_then(|s| s.promote_from.as_deref()) == Some(name.as_str()) {
                problems.push(format!("environments.{name}.promote_from: {from:?} promotes from {name} in turn: neither could ever apply"));
            }
        }
        if let Err(e) = env.cost_assumptions.check() {
            problems.push(format!("environments.{name}.cost_assumptions.{e}"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

fn check_terraform(config: &Config, problems: &mut Vec<String>) {
    let tf = &config.terraform;
    if tf.bin.trim().is_empty() {
        problems.push("terraform.bin: must name the terraform executable".to_string());
    }
    if let Err(why) = check_ref(&tf.branch) {
        problems.push(format!("terraform.branch: {why}"));
    }
    if tf.repo_url.as_ref().is_some_and(|url| url.expose().trim().is_empty()) {
        problems.push("terraform.repo_url: must not be empty (leave it out to use terraform.infra_dir)".to_string());
    }
    if let Some(template) = &tf.commit_url {
        let example = template.replace("{sha}", "0123456789abcdef0123456789abcdef01234567");
        if !template.contains("{sha}") {
            problems.push(format!("terraform.commit_url: {template:?} must contain {{sha}} where the commit goes"));
        } else if !url::Url::parse(&example).is_ok_and(|u| matches!(u.scheme(), "http" | "https")) {
            problems.push(format!("terraform.commit_url: {template:?} is not an http(s) URL"));
        }
    }
    if let Some(key) = &config.server.data_key {
        if let Err(why) = crate::encryption::DataKey::from_base64(key.expose()) {
            problems.push(format!("server.data_key: {why}"));
        }
    }
}

fn check_variables(config: &Config, name: &str, env: &Environment, problems: &mut Vec<String>) {
    let key = format!("environments.{name}.terraform");
    for variable in env.terraform.variables.keys() {
        if !is_variable_name(variable) {
            problems.push(format!(
                "{key}.variables.{variable}: not a Terraform variable name (letters, digits, _ and -, starting with a letter or _)"
            ));
        }
    }
    if let Some(secret) = &env.terraform.variables_secret {
        if crate::secrets::name::check(&config.secrets.prefix, secret).is_err() {
            problems.push(format!(
                "{key}.variables_secret: {secret:?} must be a secret name under secrets.prefix ({:?}), so that it can be edited \
                 on the secrets pages",
                config.secrets.prefix
            ));
        }
    }
}

fn check_oidc(config: &Config, problems: &mut Vec<String>) {
    let Some(oidc) = &config.auth.oidc else {
        if config.auth.mode == AuthMode::Oidc {
            problems.push("auth.oidc: auth.mode = \"oidc\" needs an [auth.oidc] section with issuer_url, client_id and client_secret".into());
        }
        return;
    };
    match url::Url::parse(&oidc.issuer_url) {
        Err(e) => problems.push(format!("auth.oidc.issuer_url: {:?} is not a URL ({e})", oidc.issuer_url)),
        Ok(issuer) if issuer.scheme() != "https" && !is_loopback_url(&issuer) => problems.push(format!(
            "auth.oidc.issuer_url: {issuer} must be https:// (plain http only on a loopback address, for testing)"
        )),
        Ok(_) => {}
    }
    if oidc.client_id.trim().is_empty() {
        problems.push("auth.oidc.client_id: must be set to the client id registered with the provider".into());
    }
    if oidc.client_secret.expose().is_empty() {
        problems.push("auth.oidc.client_secret: must be set (best as ZELLY_AUTH__OIDC__CLIENT_SECRET)".into());
    }
    if !oidc.scopes.iter().any(|s| s == "openid") {
        problems.push("auth.oidc.scopes: must include \"openid\"".into());
    }
    for (i, rule) in oidc.roles.iter().enumerate() {
        if rule.emails.is_empty() && rule.domains.is_empty() && rule.groups.is_empty() {
            problems.push(format!("auth.oidc.roles[{i}]: names no emails, domains or groups, so it matches nobody"));
        }
        for email in rule.emails.iter().filter(|e| e.split('@').count() != 2) {
            problems.push(format!("auth.oidc.roles[{i}].emails: {email:?} is not an e-mail address"));
        }
        for domain in rule.domains.iter().filter(|d| d.is_empty() || d.contains('@')) {
            problems.push(format!("auth.oidc.roles[{i}].domains: {domain:?} is not a domain (write example.com, not @example.com)"));
        }
    }
    if config.auth.mode == AuthMode::Oidc {
        match &config.server.public_url {
            None => problems.push(
                "server.public_url: single sign-on needs the address users reach the server at, \
                 for the provider's redirect (https://zelly.example.com)"
                    .into(),
            ),
            Some(url) if url.scheme() != "https" && !is_loopback_url(url) => problems.push(format!(
                "server.public_url: {url} must be https:// when signing in with a provider (plain http only on loopback)"
            )),
            Some(_) => {}
        }
    }
}

fn is_loopback_url(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// The dev sign-in lets anyone be anyone: it must never be reachable from another machine.
pub fn check_serve(config: &Config) -> Result<(), String> {
    if config.auth.mode == AuthMode::Dev && !config.server.listen.ip().is_loopback() {
        return Err(format!(
            "auth.mode: \"dev\" lets anyone sign in as anyone, so it is only allowed on a loopback \
             address, but server.listen is {}. Listen on 127.0.0.1, or set auth.mode = \"tokens\".",
            config.server.listen
        ));
    }
    Ok(())
}

/// Terraform's rule for names: letters, digits, `_` and `-`, not starting with a digit or `-`.
pub fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 128
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A ref as a requester may write it: a branch, tag or commit id. Stricter than git (no spaces,
/// no `~^:?*[\`, nothing that reads as an option) so that it can never be more than a name.
pub fn check_ref(name: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "._/-+@".contains(c);
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if name.len() > 255 {
        return Err("is longer than 255 characters".into());
    }
    if !name.chars().all(allowed) {
        return Err("may use only letters, digits and . _ / - + @".into());
    }
    let bad_start = name.starts_with(['-', '/', '.']);
    let bad_end = name.ends_with(['/', '.']) || name.ends_with(".lock");
    if bad_start || bad_end || name.contains("..") || name.contains("//") || name.contains("@{") || name == "@" {
        return Err("is not a valid git ref name".into());
    }
    Ok(())
}

/// Short names (`asha`, `ci-bot`) and, for single sign-on users, lowercased e-mail addresses.
pub fn is_user_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= USER_NAME_MAX
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-+@".contains(c))
}

/// The longest e-mail address SMTP allows.
pub const USER_NAME_MAX: usize = 254;
pub const USER_NAME_RULE: &str = "lowercase letters, digits, . _ - + @; at most 254";

fn is_environment_name(s: &str) -> bool {
    let mut chars = s.chars();
    s.len() <= 32
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// `ap-south-1`, `us-gov-west-1`, `eu-central-2`.
fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[..parts.len() - 1].iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].parse::<u8>().is_ok()
}

fn is_ipv4_cidr(s: &str) -> bool {
    match s.split_once('/') {
        Some((ip, bits)) => ip.parse::<Ipv4Addr>().is_ok() && bits.parse::<u8>().is_ok_and(|b| b <= 32),
        None => false,
    }
}

fn check_environment(name: &str, env: &Environment, problems: &mut Vec<String>) {
    let key = format!("environments.{name}");
    let mut bad = |field: &str, why: String| problems.push(format!("{key}.{field}: {why}"));

    if !is_environment_name(name) {
        bad("", "an environment name is lowercase letters, digits and -, starting with a letter (it is used in URLs)".into());
    }
    if env.display_name.trim().is_empty() {
        bad("display_name", "must not be empty".into());
    }
    if !is_region(&env.region) {
        bad("region", format!("{:?} is not an AWS region such as ap-south-1", env.region));
    }
    if !is_region(&env.terraform.backend_region) {
        bad("terraform.backend_region", format!("{:?} is not an AWS region", env.terraform.backend_region));
    }
    if env.terraform.state_bucket.trim().is_empty() || env.terraform.state_key.trim().is_empty() {
        bad("terraform.state_bucket", "the S3 backend's bucket and key (state_key) must both be set".into());
    }
    if env.terraform.lock == app::model::state::LockMode::Dynamodb && env.terraform.lock_table.trim().is_empty() {
        bad("terraform.lock_table", "must name the DynamoDB lock table (or set terraform.lock = \"s3\" for S3 lock files)".into());
    }
    if env.terraform.root_dir.trim().is_empty() || env.terraform.root_dir.split('/').any(|p| p == "..") {
        bad("terraform.root_dir", "must be a directory inside the infra repository".into());
    }
    if env.approvals_required > 5 {
        bad("approvals_required", "must be between 0 and 5".into());
    }
    if env.ecs_cluster.trim().is_empty() {
        bad("ecs_cluster", "must not be empty".into());
    }
    if !is_ipv4_cidr(&env.network.vpc_cidr) {
        bad("network.vpc_cidr", format!("{:?} is not an IPv4 CIDR block such as 10.0.0.0/16", env.network.vpc_cidr));
    }
    if !(env.estimated_monthly_cost_usd.is_finite() && env.estimated_monthly_cost_usd >= 0.0) {
        bad("estimated_monthly_cost_usd", "must be a non-negative amount".into());
    }
    if let Some(a) = &env.aurora {
        if !(0.0..=256.0).contains(&a.min_acu) || !(0.5..=256.0).contains(&a.max_acu) || a.min_acu > a.max_acu {
            bad("aurora", format!("ACU range {}–{} is not valid (0 ≤ min ≤ max ≤ 256)", a.min_acu, a.max_acu));
        }
    }
    let mut services = HashSet::new();
    for (i, s) in env.services.iter().enumerate() {
        if !services.insert(s.name.as_str()) {
            bad(&format!("services[{i}].name"), format!("{:?} is listed twice", s.name));
        }
        if !FARGATE_VCPU.contains(&s.vcpu) {
            bad(&format!("services[{i}].vcpu"), format!("{} is not a Fargate size (0.25, 0.5, 1, 2, 4, 8, 16)", s.vcpu));
        }
        if s.memory_mb < 512 {
            bad(&format!("services[{i}].memory_mb"), "must be at least 512".into());
        }
        if s.min_tasks > s.max_tasks {
            bad(&format!("services[{i}]"), format!("min_tasks {} is above max_tasks {}", s.min_tasks, s.max_tasks));
        }
        if s.scaling_cpu_target.is_some_and(|t| t == 0 || t > 100) {
            bad(&format!("services[{i}].scaling_cpu_target"), "must be a percentage from 1 to 100".into());
        }
    }
    let mut lbs = HashSet::new();
    for (i, lb) in env.load_balancers.iter().enumerate() {
        if !lbs.insert(lb.name.as_str()) {
            bad(&format!("load_balancers[{i}].name"), format!("{:?} is listed twice", lb.name));
        }
    }
    let mut secrets = HashSet::new();
    for (i, s) in env.secrets.iter().enumerate() {
        if !secrets.insert(s.name.as_str()) {
            bad(&format!("secrets[{i}].name"), format!("{:?} is listed twice", s.name));
        }
    }
}

fn check_panels(panels: &[super::MetricPanel], problems: &mut Vec<String>) {
    let mut ids = HashSet::new();
    for (i, p) in panels.iter().enumerate() {
        let key = format!("metrics.panels[{i}]");
        if !ids.insert(p.id.as_str()) {
            problems.push(format!("{key}.id: {:?} is used twice", p.id));
        }
        match &p.ratio_of {
            Some(parts) => {
                let valid = parts.len() == 2
                    && parts.iter().all(|id| panels.iter().any(|q| &q.id == id && q.ratio_of.is_none() && q.per == p.per));
                if !valid {
                    problems.push(format!("{key}.ratio_of: must name two metric panels of the same `per` ({:?})", parts));
                }
            }
            None if p.namespace.is_empty() || p.metric.is_empty() || p.stat.is_empty() => {
                problems.push(format!("{key}: a metric panel needs namespace, metric and stat (or ratio_of)"));
            }
            None => {}
        }
        if !(p.scale.is_finite() && p.scale > 0.0) {
            problems.push(format!("{key}.scale: must be a positive number"));
        }
    }
}
