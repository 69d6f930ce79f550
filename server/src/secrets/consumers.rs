//! Which ECS services read a secret: the `secrets[].valueFrom` of their running task
//! definitions. A task definition revision never changes, so each is read from ECS once.

use app::model::secret::Consumer;
use app::model::status::ServiceStatus;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// `valueFrom` of every container secret of a task definition.
type References = Arc<Vec<String>>;

#[derive(Clone, Default)]
pub struct Consumers {
    /// Keyed by region and `family:revision`.
    task_definitions: Arc<Mutex<HashMap<(String, String), References>>>,
}

impl Consumers {
    /// The services of `services` whose task definitions read the secret `name` (ARN `arn`).
    pub async fn of(
        &self,
        ecs: &aws_sdk_ecs::Client,
        region: &str,
        services: &[ServiceStatus],
        name: &str,
        arn: &str,
    ) -> Result<Vec<Consumer>, String> {
        let lookups = services
            .iter()
            .filter(|s| !s.task_definition.is_empty())
            .map(|s| async move { (s, self.references(ecs, region, &s.task_definition).await) });
        let mut consumers = Vec::new();
        for (service, refs) in futures_util::future::join_all(lookups).await {
            let refs = refs?;
            let reads: Vec<Option<String>> = refs.iter().filter_map(|r| reads(r, name, arn)).collect();
            if reads.is_empty() {
                continue;
            }
            let mut keys: Vec<String> = reads.iter().flatten().cloned().collect();
            keys.sort();
            keys.dedup();
            // One reference to the whole secret means it reads every key.
            if reads.iter().any(Option::is_none) {
                keys.clear();
            }
            consumers.push(Consumer { service: service.name.clone(), task_definition: service.task_definition.clone(), keys });
        }
        Ok(consumers)
    }

    async fn references(&self, ecs: &aws_sdk_ecs::Client, region: &str, task_definition: &str) -> Result<References, String> {
        let key = (region.to_string(), task_definition.to_string());
        if let Some(found) = self.task_definitions.lock().expect("consumers lock").get(&key) {
            return Ok(found.clone());
        }
        let out = ecs
            .describe_task_definition()
            .task_definition(task_definition)
            .send()
            .await
            .map_err(|e| format!("ECS DescribeTaskDefinition failed: {}", aws_sdk_ecs::error::DisplayErrorContext(&e)))?;
        let refs: Vec<String> = out
            .task_definition()
            .map(|td| {
                td.container_definitions()
                    .iter()
                    .flat_map(|c| c.secrets())
                    .map(|s| s.value_from().to_string())
                    .collect()
            })
            .unwrap_or_default();
        let refs = Arc::new(refs);
        self.task_definitions.lock().expect("consumers lock").insert(key, refs.clone());
        Ok(refs)
    }
}

/// Whether `value_from` reads the secret `name` (full ARN `arn`): `Some(Some(key))` for one JSON
/// key, `Some(None)` for the whole secret, `None` for another secret (or an SSM parameter).
///
/// ECS accepts the secret's name (same region and account), its full ARN
/// (`…:secret:zelly/redis/auth-AbCdEf`), or the full ARN followed by
/// `:json-key:version-stage:version-id`.
fn reads(value_from: &str, name: &str, arn: &str) -> Option<Option<String>> {
    if !value_from.starts_with("arn:") {
        return (value_from == name).then_some(None);
    }
    // arn:partition:secretsmanager:region:account:secret:<id>[:key[:stage[:version]]]
    let parts: Vec<&str> = value_from.splitn(8, ':').collect();
    let ours: Vec<&str> = arn.splitn(7, ':').collect();
    if parts.len() < 7 || ours.len() < 7 || parts[..6] != ours[..6] {
        return None;
    }
    let id = parts[6];
    if id != ours[6] && id != name {
        return None;
    }
    let key = parts.get(7).and_then(|rest| rest.split(':').next()).filter(|k| !k.is_empty());
    Some(key.map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::reads;

    const ARN: &str = "arn:aws:secretsmanager:ap-south-1:123456789012:secret:zelly/redis/auth-AbCdEf";
    const NAME: &str = "zelly/redis/auth";

    #[test]
    fn every_form_ecs_accepts_is_recognised() {
        assert_eq!(reads(ARN, NAME, ARN), Some(None));
        assert_eq!(reads(&format!("{ARN}:REDIS_HOST::"), NAME, ARN), Some(Some("REDIS_HOST".into())));
        assert_eq!(reads(&format!("{ARN}:REDIS_HOST:AWSCURRENT:"), NAME, ARN), Some(Some("REDIS_HOST".into())));
        assert_eq!(reads(&format!("{ARN}::AWSPREVIOUS:"), NAME, ARN), Some(None));
        assert_eq!(reads(NAME, NAME, ARN), Some(None));
    }

    #[test]
    fn other_secrets_regions_and_services_are_not_this_secret() {
        let other = ARN.replace("redis/auth-AbCdEf", "redis/auth-extra-XyZ123");
        assert_eq!(reads(&other, NAME, ARN), None);
        assert_eq!(reads(&ARN.replace("ap-south-1", "ap-southeast-1"), NAME, ARN), None);
        assert_eq!(reads("arn:aws:ssm:ap-south-1:123456789012:parameter/zelly/redis/auth", NAME, ARN), None);
        assert_eq!(reads("zelly/redis/auth-old", NAME, ARN), None);
    }
}
