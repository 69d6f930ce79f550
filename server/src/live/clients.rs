//! AWS SDK configuration, one per environment: its region, its profile or role to assume, the
//! optional emulator endpoint, timeouts on every call, and retries with backoff (throttling).

use crate::config::{AwsConfig, Config};
use app::model::Environment;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use std::time::Duration;

/// A client of an SDK crate (`aws_sdk_ecs`, …) from an `SdkConfig`, with optional builder
/// settings (`force_path_style(true)`); its calls are counted and timed for `/metrics`.
#[macro_export]
macro_rules! aws_client {
    ($sdk:ident, $config:expr $(, $setting:ident($($arg:expr),*))*) => {
        $sdk::Client::from_conf(
            $sdk::config::Builder::from($config)$(.$setting($($arg),*))*.interceptor($crate::telemetry::aws::AwsCalls).build(),
        )
    };
}

/// The settings every AWS client shares, for one region: timeouts, retries, the emulator.
pub fn loader(aws: &AwsConfig, region: &str) -> aws_config::ConfigLoader {
    let timeout = Duration::from_secs(aws.timeout_seconds);
    let loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2).min(timeout))
                .operation_timeout(timeout)
                .build(),
        )
        // Standard mode retries throttling and transient errors with exponential backoff.
        .retry_config(RetryConfig::standard().with_max_attempts(3));
    match &aws.endpoint_url {
        Some(url) => loader.endpoint_url(url.as_str().trim_end_matches('/')),
        None => loader,
    }
}

pub async fn sdk_config(aws: &AwsConfig, env: &Environment) -> SdkConfig {
    sdk_config_in(aws, env, &env.region).await
}

/// The environment's credentials for another region (its state backend's, say).
pub async fn sdk_config_in(aws: &AwsConfig, env: &Environment, region: &str) -> SdkConfig {
    let mut loader = loader(aws, region);
    if let Some(profile) = &env.aws_profile {
        loader = loader.profile_name(profile);
    }
    let base = loader.load().await;
    match &env.aws_role_arn {
        None => base,
        Some(role) => {
            let provider = aws_config::sts::AssumeRoleProvider::builder(role)
                .session_name(format!("zelly-control-{}", env.name))
                .configure(&base)
                .build()
                .await;
            base.into_builder().credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(provider)).build()
        }
    }
}

/// One SDK client per environment, in display order; none when AWS is turned off.
pub async fn per_environment<C>(config: &Config, make: impl Fn(&SdkConfig) -> C) -> Vec<(Environment, Option<C>)> {
    let mut clients = Vec::new();
    for env in config.environments() {
        let client = match config.aws.enabled {
            true => Some(make(&sdk_config(&config.aws, &env).await)),
            false => None,
        };
        clients.push((env, client));
    }
    clients
}
