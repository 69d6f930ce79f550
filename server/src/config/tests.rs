use super::*;
use figment::Jail;

fn load_in(jail: &Jail, file: Option<&str>, overrides: Overrides) -> Result<Config, ConfigError> {
    let mut overrides = overrides;
    if let Some(text) = file {
        jail.create_file("zelly.toml", text).unwrap();
        overrides.config_file = Some(jail.directory().join("zelly.toml"));
    }
    Config::load(&overrides)
}

fn error_of(jail: &Jail, file: Option<&str>) -> String {
    load_in(jail, file, Overrides::default()).expect_err("config should be rejected").to_string()
}

#[test]
fn defaults_describe_the_zelly_estate() {
    let config = Config::defaults();
    let envs = config.environments();
    assert_eq!(envs.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(), ["production", "staging"]);
    let (prod, staging) = (&envs[0], &envs[1]);

    assert_eq!((prod.region.as_str(), staging.region.as_str()), ("ap-south-1", "ap-southeast-1"));
    assert_eq!(prod.terraform.root_dir, "terraform");
    assert_eq!(staging.terraform.root_dir, "terraform/environments/staging");
    assert_eq!(prod.terraform.state_url(), "s3://zelly-terraform-state/production/terraform.tfstate");
    assert_eq!(staging.terraform.state_url(), "s3://zelly-terraform-state/staging/terraform.tfstate");
    assert_eq!(prod.terraform.lock_table, "zelly-terraform-locks");
    assert_eq!((prod.promote_from.as_deref(), staging.promote_from.as_deref()), (Some("staging"), None), "production promotes from staging");
    assert_eq!(staging.terraform.backend_region, "ap-south-1");
    assert_eq!((prod.network.vpc_cidr.as_str(), staging.network.vpc_cidr.as_str()), ("10.0.0.0/16", "10.1.0.0/16"));
    let (pa, sa) = (prod.aurora.as_ref().unwrap(), staging.aurora.as_ref().unwrap());
    assert!(!pa.publicly_accessible && sa.publicly_accessible);
    assert_eq!((pa.max_acu, sa.max_acu), (8.0, 2.0));
    assert_eq!(prod.redis.as_ref().unwrap().node_type, "cache.t4g.small");
    assert_eq!(staging.redis.as_ref().unwrap().node_type, "cache.t4g.micro");
    let (pc, sc) = (prod.clickhouse.as_ref().unwrap(), staging.clickhouse.as_ref().unwrap());
    assert_eq!((pc.instance_type.as_str(), pc.disk_gb), ("t3.medium", 50));
    assert_eq!((sc.instance_type.as_str(), sc.disk_gb), ("t3.small", 20));
    let max = |e: &app::model::Environment, s: &str| e.services.iter().find(|x| x.name == s).unwrap().max_tasks;
    assert_eq!((max(prod, "fastify-nova"), max(prod, "storefront")), (4, 4));
    assert_eq!((max(staging, "fastify-nova"), max(staging, "storefront")), (2, 2));
    assert!(prod.deletion_protection && !staging.deletion_protection);
    assert_eq!((prod.ecr, staging.ecr), (app::model::EcrMode::Managed, app::model::EcrMode::DataSource));
    assert_eq!((prod.estimated_monthly_cost_usd, staging.estimated_monthly_cost_usd), (460.0, 320.0));
    assert_eq!((prod.ecs_cluster.as_str(), staging.ecs_cluster.as_str()), ("zelly-production", "zelly-staging"));

    for env in [prod, staging] {
        let services: Vec<&str> = env.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            services,
            ["fastify-nova", "customer-panel", "orion-backend", "events-consumer", "storefront", "internal_tools"]
        );
        let lbs: Vec<&str> = env.load_balancers.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(lbs, ["alb-nova", "alb-customer", "alb-orion", "nlb-storefront"]);
        let secrets: Vec<&str> = env.secrets.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            secrets,
            ["zelly/aurora/master", "zelly/redis/auth", "zelly/fastify-nova/env", "zelly/customer-panel/env", "zelly/orion-backend/env"]
        );
    }
    assert_eq!(config.server.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(config.database_url(), "sqlite://./data/zelly.db?mode=rwc");
}

#[test]
fn sectioned_environment_variables_override_any_key() {
    Jail::expect_with(|jail| {
        jail.set_env("ZELLY_SERVER__LISTEN", "127.0.0.1:9999");
        jail.set_env("ZELLY_ENVIRONMENTS__STAGING__ECS_CLUSTER", "stg-cluster");
        jail.set_env("ZELLY_ENVIRONMENTS__PRODUCTION__AURORA__MAX_ACU", "16");
        // Flags are not config keys: they must not trip the unknown-key check.
        jail.set_env("ZELLY_LISTEN", "127.0.0.1:1");
        jail.set_env("ZELLY_CONFIG", "/nonexistent");
        let config = load_in(jail, None, Overrides::default()).unwrap();
        assert_eq!(config.server.listen.port(), 9999);
        assert_eq!(config.environments["staging"].ecs_cluster, "stg-cluster");
        assert_eq!(config.environments["production"].aurora.as_ref().unwrap().max_acu, 16.0);
        Ok(())
    });
}

#[test]
fn flags_win_over_the_file_and_the_environment() {
    Jail::expect_with(|jail| {
        jail.set_env("ZELLY_SERVER__LISTEN", "127.0.0.1:9999");
        let overrides = Overrides {
            listen: Some("127.0.0.1:7000".parse().unwrap()),
            database_url: Some("postgres://db/zelly".into()),
            ..Default::default()
        };
        let config = load_in(jail, Some("[server]\nlisten = \"127.0.0.1:8000\"\n"), overrides).unwrap();
        assert_eq!(config.server.listen.port(), 7000);
        assert_eq!(config.database_url(), "postgres://db/zelly");
        Ok(())
    });
}

#[test]
fn a_file_with_environments_describes_all_of_them() {
    Jail::expect_with(|jail| {
        // Another team's estate: one environment, no Aurora, Redis or ClickHouse.
        let only_dev = r#"
            [environments.dev]
            display_name = "Dev"
            region = "eu-west-1"
            ecs_cluster = "acme-dev"
            deletion_protection = false
            ecr = "managed"
            estimated_monthly_cost_usd = 120

            [environments.dev.terraform]
            root_dir = "infra/dev"
            state_bucket = "acme-state"
            state_key = "dev.tfstate"
            lock_table = "acme-locks"
            backend_region = "eu-west-1"

            [environments.dev.network]
            vpc_cidr = "172.16.0.0/16"
            availability_zones = ["a", "b"]
            nat_gateways = 1

            [[environments.dev.services]]
            name = "api"
            vcpu = 0.5
            memory_mb = 1024
            min_tasks = 1
            max_tasks = 3
            scaling_cpu_target = 60
            ingress = "ALB HTTPS"
            log_group = "/acme/api"
        "#;
        let config = load_in(jail, Some(only_dev), Overrides::default()).unwrap();
        let names: Vec<String> = config.environments().into_iter().map(|e| e.name).collect();
        assert_eq!(names, ["dev"]);
        assert_eq!(config.environments["dev"].region, "eu-west-1");
        Ok(())
    });
}

#[test]
fn unknown_keys_are_rejected_by_name() {
    Jail::expect_with(|jail| {
        let message = error_of(jail, Some("[server]\nlisten = \"127.0.0.1:8080\"\nlisen = \"x\"\n"));
        assert!(message.contains("server") && message.contains("lisen"), "{message}");

        let message = error_of(jail, Some("[databse]\nurl = \"x\"\n"));
        assert!(message.contains("databse"), "{message}");

        jail.set_env("ZELLY_ENVIRONMENTS__STAGING__REGON", "x");
        let message = error_of(jail, None);
        assert!(message.contains("environments.staging") && message.contains("regon"), "{message}");
        Ok(())
    });
}

#[test]
fn invalid_values_are_rejected_by_key() {
    Jail::expect_with(|jail| {
        jail.set_env("ZELLY_SERVER__LISTEN", "not-an-address");
        let message = error_of(jail, None);
        assert!(message.contains("server.listen"), "{message}");
        jail.clear_env();

        jail.set_env("ZELLY_ENVIRONMENTS__STAGING__REGION", "Singapore");
        assert!(error_of(jail, None).contains("environments.staging.region"));
        jail.clear_env();

        jail.set_env("ZELLY_ENVIRONMENTS__PRODUCTION__NETWORK__VPC_CIDR", "10.0.0.0/33");
        assert!(error_of(jail, None).contains("environments.production.network.vpc_cidr"));
        jail.clear_env();

        jail.set_env("ZELLY_AUTH__MODE", "magic");
        assert!(error_of(jail, None).contains("auth.mode"));
        jail.clear_env();

        jail.set_env("ZELLY_ENVIRONMENTS__PRODUCTION__PROMOTE_FROM", "qa");
        assert!(error_of(jail, None).contains("environments.production.promote_from: \"qa\" must name another configured environment"));
        jail.set_env("ZELLY_ENVIRONMENTS__STAGING__PROMOTE_FROM", "production");
        jail.set_env("ZELLY_ENVIRONMENTS__PRODUCTION__PROMOTE_FROM", "staging");
        assert!(error_of(jail, None).contains("neither could ever apply"));
        jail.set_env("ZELLY_ENVIRONMENTS__STAGING__PROMOTE_FROM", "");
        jail.set_env("ZELLY_ENVIRONMENTS__PRODUCTION__PROMOTE_FROM", "");
        let config = load_in(jail, None, Overrides::default()).expect("\"\" turns promotion off");
        assert_eq!(config.environments["production"].promote_from, None);
        jail.clear_env();

        jail.set_env("ZELLY_ENVIRONMENTS__STAGING__TERRAFORM__LOCK", "redis");
        assert!(error_of(jail, None).contains("environments.staging.terraform.lock"));
        jail.set_env("ZELLY_ENVIRONMENTS__STAGING__TERRAFORM__LOCK_TABLE", "");
        jail.set_env("ZELLY_ENVIRONMENTS__STAGING__TERRAFORM__LOCK", "dynamodb");
        assert!(error_of(jail, None).contains("environments.staging.terraform.lock_table: must name the DynamoDB lock table"));
        jail.set_env("ZELLY_ENVIRONMENTS__STAGING__TERRAFORM__LOCK", "s3");
        let config = load_in(jail, None, Overrides::default()).expect("S3 lock files need no lock table");
        assert_eq!(config.environments["staging"].terraform.lock, app::model::state::LockMode::S3);
        jail.clear_env();

        for prefix in ["", "../", "zelly/../other/"] {
            jail.set_env("ZELLY_SECRETS__PREFIX", prefix);
            assert!(error_of(jail, None).contains("secrets.prefix"), "{prefix:?}");
            jail.clear_env();
        }
        jail.set_env("ZELLY_ENVIRONMENTS__STAGING__SECRET_REVEAL_ROLE", "root");
        assert!(error_of(jail, None).contains("environments.staging.secret_reveal_role"));
        jail.clear_env();

        jail.set_env("ZELLY_ENVIRONMENTS__PRODUCTION__COST_ASSUMPTIONS__AURORA_UTILISATION", "1.5");
        let message = error_of(jail, None);
        assert!(message.contains("environments.production.cost_assumptions.aurora_utilisation is a share between 0 and 1"), "{message}");
        jail.clear_env();

        jail.set_env("ZELLY_COSTS__HOURS_PER_MONTH", "0");
        assert!(error_of(jail, None).contains("costs.hours_per_month"));
        jail.clear_env();

        jail.create_file("broken-prices.toml", "currency = \"USD\"\n[[price]]\nkey = \"x\"\n")?;
        jail.set_env("ZELLY_COSTS__CATALOG_FILE", "broken-prices.toml");
        let message = error_of(jail, None);
        assert!(message.contains("costs.catalog_file: broken-prices.toml: price catalog") && message.contains("missing field `unit`"), "{message}");
        jail.set_env("ZELLY_COSTS__CATALOG_FILE", "no-such-prices.toml");
        assert!(error_of(jail, None).contains("costs.catalog_file: cannot read no-such-prices.toml"));
        jail.clear_env();

        let message = error_of(jail, Some("[[auth.dev_users]]\nname = \"Bad Name\"\nrole = \"admin\"\n"));
        assert!(message.contains("auth.dev_users[0].name"), "{message}");

        let message = error_of(jail, Some("[server]\nlisten = \"127.0.0.1:8080\"\ndata_dir = \"x\"\n[[auth.dev_users]]\nname = \"x\"\nrole = \"root\"\n"));
        assert!(message.contains("auth.dev_users") && message.contains("root"), "{message}");
        Ok(())
    });
}

#[test]
fn a_missing_or_broken_file_is_named() {
    Jail::expect_with(|jail| {
        let overrides = Overrides { config_file: Some("/nonexistent/zelly.toml".into()), ..Default::default() };
        let message = Config::load(&overrides).unwrap_err().to_string();
        assert!(message.contains("/nonexistent/zelly.toml"), "{message}");
        let message = error_of(jail, Some("[server\n"));
        assert!(message.contains("zelly.toml"), "{message}");
        Ok(())
    });
}

#[test]
fn dev_sign_in_is_refused_off_loopback() {
    let mut config = Config::defaults();
    assert!(validate::check_serve(&config).is_ok());
    config.server.listen = "0.0.0.0:8080".parse().unwrap();
    let message = validate::check_serve(&config).unwrap_err();
    assert!(message.starts_with("auth.mode"), "{message}");
    config.auth.mode = AuthMode::Tokens;
    assert!(validate::check_serve(&config).is_ok());
}

#[test]
fn single_sign_on_is_checked_at_start_and_its_secret_never_printed() {
    Jail::expect_with(|jail| {
        jail.set_env("ZELLY_AUTH__MODE", "oidc");
        let message = error_of(jail, None);
        assert!(message.contains("auth.oidc: auth.mode = \"oidc\" needs an [auth.oidc] section"), "{message}");

        let sso = |issuer: &str, public_url: &str, rules: &str| {
            format!(
                "[server]\npublic_url = \"{public_url}\"\n[auth.oidc]\nissuer_url = \"{issuer}\"\nclient_id = \"zelly\"\n\
                 client_secret = \"very-secret-value\"\n{rules}"
            )
        };
        let message = error_of(jail, Some(&sso("http://login.example.com", "https://zelly.example.com", "")));
        assert!(message.contains("auth.oidc.issuer_url: http://login.example.com/ must be https://"), "{message}");
        let message = error_of(jail, Some(&sso("https://login.example.com", "http://zelly.example.com", "")));
        assert!(message.contains("server.public_url: http://zelly.example.com/ must be https://"), "{message}");
        let message = error_of(jail, Some(&sso("https://login.example.com", "https://zelly.example.com", "[[auth.oidc.roles]]\nrole = \"admin\"\n")));
        assert!(message.contains("auth.oidc.roles[0]: names no emails, domains or groups"), "{message}");
        let message = error_of(jail, Some(&sso("https://login.example.com", "https://zelly.example.com", "[[auth.oidc.roles]]\nrole = \"admin\"\ndomains = [\"@example.com\"]\n")));
        assert!(message.contains("auth.oidc.roles[0].domains: \"@example.com\" is not a domain"), "{message}");

        let good = sso("https://login.example.com", "https://zelly.example.com", "[[auth.oidc.roles]]\nrole = \"admin\"\ngroups = [\"ops\"]\n");
        let config = load_in(jail, Some(&good), Overrides::default()).unwrap();
        let oidc = config.auth.oidc.as_ref().unwrap();
        assert_eq!(oidc.issuer_url, "https://login.example.com", "the issuer is kept exactly as written");
        assert_eq!(oidc.client_secret.expose(), "very-secret-value");
        let printed = toml::to_string_pretty(&config).unwrap();
        assert!(printed.contains("client_secret = \"<redacted>\"") && !printed.contains("very-secret-value"), "{printed}");
        assert!(!format!("{config:?}").contains("very-secret-value"));

        jail.set_env("ZELLY_AUTH__OIDC__CLIENT_SECRET", "from-the-environment");
        let config = load_in(jail, Some(&good), Overrides::default()).unwrap();
        assert_eq!(config.auth.oidc.unwrap().client_secret.expose(), "from-the-environment");
        Ok(())
    });
}

#[test]
fn terraform_sources_variables_and_the_data_key_are_checked_by_key_and_never_printed() {
    Jail::expect_with(|jail| {
        for (key, value, says) in [
            ("ZELLY_TERRAFORM__BRANCH", "main..x", "terraform.branch: is not a valid git ref name"),
            ("ZELLY_TERRAFORM__COMMIT_URL", "https://github.com/zelly/infra/commit/", "terraform.commit_url"),
            ("ZELLY_TERRAFORM__COMMIT_URL", "ftp://x/{sha}", "is not an http(s) URL"),
            ("ZELLY_SERVER__DATA_KEY", "c2hvcnQ=", "server.data_key: must be 32 bytes"),
            ("ZELLY_ENVIRONMENTS__STAGING__TERRAFORM__VARIABLES__2FAST", "1", "environments.staging.terraform.variables.2fast: not a Terraform variable name"),
            ("ZELLY_ENVIRONMENTS__PRODUCTION__TERRAFORM__VARIABLES_SECRET", "other/vars", "environments.production.terraform.variables_secret: \"other/vars\" must be a secret name under secrets.prefix"),
        ] {
            jail.set_env(key, value);
            let message = error_of(jail, None);
            assert!(message.contains(says), "{key}={value}: {message}");
            jail.clear_env();
        }

        let key = "k".repeat(32);
        let data_key = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, key.as_bytes());
        jail.set_env("ZELLY_SERVER__DATA_KEY", &data_key);
        jail.set_env("ZELLY_TERRAFORM__REPO_URL", "https://ci:glpat-s3cret@git.example.com/zelly/infra.git");
        jail.set_env("ZELLY_ENVIRONMENTS__PRODUCTION__TERRAFORM__VARIABLES__FASTIFY_NOVA_TASKS", "3");
        let config = load_in(jail, None, Overrides::default()).unwrap();
        assert_eq!(config.terraform.branch, "main");
        assert_eq!(config.terraform.repo_url.as_ref().unwrap().expose(), "https://ci:glpat-s3cret@git.example.com/zelly/infra.git");
        assert_eq!(config.environments["production"].terraform.variables["fastify_nova_tasks"], serde_json::json!(3));
        let (secret, required) = config.environments["production"].variables_secret(&config.secrets.prefix);
        assert_eq!((secret.as_str(), required), ("zelly/terraform/production", false));
        let printed = toml::to_string_pretty(&config).unwrap() + &format!("{config:?}");
        assert!(!printed.contains("glpat-s3cret") && !printed.contains(&data_key), "{printed}");
        assert!(printed.contains("https://ci:redacted@git.example.com/zelly/infra.git"));
        Ok(())
    });
}

#[test]
fn notification_destinations_are_read_from_the_file_and_bad_ones_are_named() {
    Jail::expect_with(|jail| {
        let good = r#"
[server]
public_url = "https://zelly.example.com"

[[notifications.destinations]]
name = "ops-slack"
kind = "slack"
url_secret = "zelly/ops/slack#WEBHOOK_URL"
events = ["run.needs_approval", "drift.detected"]
environments = ["production"]

[[notifications.destinations]]
name = "audit-sink"
kind = "webhook"
url = "https://hooks.example.com/zelly?token=abc"
signing_key = "0123456789abcdef0123"
"#;
        let config = load_in(jail, Some(good), Overrides::default()).expect("valid destinations");
        let [slack, hook] = &config.notifications.destinations[..] else { panic!("two destinations") };
        assert!(slack.hears("run.needs_approval", Some("production")));
        assert!(!slack.hears("run.needs_approval", Some("staging")) && !slack.hears("run.applied", Some("production")));
        assert!(hook.hears("secret.changed", Some("staging")) && hook.hears("test", None));
        let printed = format!("{config:?}");
        assert!(!printed.contains("token=abc") && !printed.contains("0123456789abcdef0123"), "URLs and keys never print");

        let bad = r#"
[[notifications.destinations]]
name = "no url"
kind = "webhook"

[[notifications.destinations]]
name = "unsigned"
kind = "webhook"
url = "ftp://example.com/x"
events = ["run.exploded"]
environments = ["qa"]

[[notifications.destinations]]
name = "unsigned"
kind = "slack"
url = "https://hooks.slack.com/services/x"
url_secret = "zelly/ops/slack#URL"
signing_key = "0123456789abcdef0123"

[[notifications.destinations]]
name = "outside"
kind = "webhook"
url_secret = "other/slack"
signing_key_secret = "other/keys#K"
"#;
        let message = error_of(jail, Some(bad));
        for expected in [
            "notifications.destinations[0].name: \"no url\" must be 1–64 letters, digits, - or _",
            "notifications.destinations[0].url: a destination needs url (or url_secret)",
            "notifications.destinations[0].signing_key: every webhook is signed",
            "notifications.destinations[1].url: must be an http:// or https:// URL",
            "notifications.destinations[1].events: \"run.exploded\" is not an event",
            "notifications.destinations[1].environments: there is no environment \"qa\"",
            "notifications.destinations[2].name: \"unsigned\" is used twice",
            "notifications.destinations[2]: give url or url_secret, not both",
            "notifications.destinations[2].signing_key: Slack does not check signatures",
            "notifications.destinations[3].url_secret: \"other/slack\" must name a secret and one of its keys",
            "notifications.destinations[3].signing_key_secret: \"other/keys\" must be a secret under secrets.prefix",
        ] {
            assert!(message.contains(expected), "{expected}\nin:\n{message}");
        }
        let message = error_of(jail, Some("[notifications]\npoll_seconds = 0\nsecrets_environment = \"qa\"\n"));
        assert!(message.contains("notifications.poll_seconds") && message.contains("notifications.secrets_environment"), "{message}");
        Ok(())
    });
}
