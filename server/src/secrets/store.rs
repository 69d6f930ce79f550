//! The Secrets Manager calls of one environment. Reads always ask for a version explicitly
//! (`AWSCURRENT` or an id): after a stage moves, a plain read may still see the old value.

use super::document::{Document, Sensitive};
use super::SecretError;
use app::model::secret::SecretVersion;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType};
use aws_sdk_secretsmanager::Client;
use chrono::{DateTime, Utc};

#[derive(Clone)]
pub struct Store {
    client: Client,
}

/// A secret as a listing shows it.
pub struct Listed {
    pub name: String,
    pub last_changed: Option<DateTime<Utc>>,
    pub current_version: Option<String>,
}

/// One version's value, as a document of keys or the reason it is not one.
pub struct Value {
    pub version_id: String,
    pub document: Result<Document, String>,
}

pub struct Described {
    pub arn: String,
    pub description: Option<String>,
    pub last_changed: Option<DateTime<Utc>>,
}

fn time(t: Option<&aws_sdk_secretsmanager::primitives::DateTime>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
}

/// AWS errors, sorted into what the caller can act on. The messages are AWS's own (they name
/// secrets and versions, never values).
fn aws_error<E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static, R: std::fmt::Debug>(
    operation: &str,
    name: &str,
    e: SdkError<E, R>,
) -> SecretError {
    match e.code() {
        Some("ResourceNotFoundException") => SecretError::NotFound(format!("no secret {name:?}")),
        Some("InvalidRequestException" | "InvalidParameterException") => {
            SecretError::Invalid(e.message().unwrap_or("Secrets Manager refused the request").to_string())
        }
        _ => SecretError::Aws(format!(
            "Secrets Manager {operation} failed: {}",
            aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
        )),
    }
}

impl Store {
    pub fn new(client: Client) -> Store {
        Store { client }
    }

    /// Every secret whose name starts with `prefix` (AWS filters by prefix; the caller still
    /// checks each name).
    pub async fn list(&self, prefix: &str) -> Result<Vec<Listed>, SecretError> {
        let filter = Filter::builder().key(FilterNameStringType::Name).values(prefix).build();
        let mut pages = self.client.list_secrets().filters(filter).max_results(100).into_paginator().send();
        let mut secrets = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("ListSecrets", prefix, e))?;
            for entry in page.secret_list() {
                let current = entry
                    .secret_versions_to_stages()
                    .and_then(|m| m.iter().find(|(_, stages)| stages.iter().any(|s| s == "AWSCURRENT")))
                    .map(|(id, _)| id.clone());
                secrets.push(Listed {
                    name: entry.name().unwrap_or_default().to_string(),
                    last_changed: time(entry.last_changed_date()).or_else(|| time(entry.created_date())),
                    current_version: current,
                });
            }
        }
        Ok(secrets)
    }

    pub async fn current(&self, name: &str) -> Result<Value, SecretError> {
        self.read(name, None).await
    }

    pub async fn version(&self, name: &str, version_id: &str) -> Result<Value, SecretError> {
        self.read(name, Some(version_id)).await
    }

    async fn read(&self, name: &str, version_id: Option<&str>) -> Result<Value, SecretError> {
        let (version_id, text) = self.read_text(name, version_id).await?;
        Ok(Value { version_id, document: Document::parse(text.as_ref().map(Sensitive::expose)) })
    }

    /// The current version's id and its `SecretString` (none for a binary secret).
    pub async fn current_text(&self, name: &str) -> Result<(String, Option<Sensitive>), SecretError> {
        self.read_text(name, None).await
    }

    async fn read_text(&self, name: &str, version_id: Option<&str>) -> Result<(String, Option<Sensitive>), SecretError> {
        let call = self.client.get_secret_value().secret_id(name);
        let call = match version_id {
            Some(id) => call.version_id(id),
            None => call.version_stage("AWSCURRENT"),
        };
        let out = call.send().await.map_err(|e| aws_error("GetSecretValue", name, e))?;
        Ok((out.version_id().unwrap_or_default().to_string(), out.secret_string().map(|s| Sensitive::new(s.to_string()))))
    }

    pub async fn describe(&self, name: &str) -> Result<Described, SecretError> {
        let out = self.client.describe_secret().secret_id(name).send().await.map_err(|e| aws_error("DescribeSecret", name, e))?;
        Ok(Described {
            arn: out.arn().unwrap_or_default().to_string(),
            description: out.description().filter(|d| !d.is_empty()).map(str::to_string),
            last_changed: time(out.last_changed_date()).or_else(|| time(out.created_date())),
        })
    }

    /// Every version, newest first, including those without a stage.
    pub async fn versions(&self, name: &str) -> Result<Vec<SecretVersion>, SecretError> {
        let mut pages = self
            .client
            .list_secret_version_ids()
            .secret_id(name)
            .include_deprecated(true)
            .max_results(100)
            .into_paginator()
            .send();
        let mut versions = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("ListSecretVersionIds", name, e))?;
            versions.extend(page.versions().iter().map(|v| SecretVersion {
                version_id: v.version_id().unwrap_or_default().to_string(),
                stages: v.version_stages().to_vec(),
                created_at: time(v.created_date()),
            }));
        }
        versions.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| b.is_current().cmp(&a.is_current())));
        Ok(versions)
    }

    /// Writes `document` as version `version_id` (our own id, so the audit row written before
    /// the call names the version the call creates); it becomes AWSCURRENT and the version it
    /// replaces AWSPREVIOUS.
    pub async fn put(&self, name: &str, version_id: &str, document: &Document) -> Result<(), SecretError> {
        self.client
            .put_secret_value()
            .secret_id(name)
            .client_request_token(version_id)
            .secret_string(document.to_json())
            .send()
            .await
            .map_err(|e| aws_error("PutSecretValue", name, e))?;
        Ok(())
    }

    /// Moves AWSCURRENT from `from` to `to` (Secrets Manager moves AWSPREVIOUS to `from`).
    pub async fn make_current(&self, name: &str, to: &str, from: &str) -> Result<(), SecretError> {
        self.client
            .update_secret_version_stage()
            .secret_id(name)
            .version_stage("AWSCURRENT")
            .move_to_version_id(to)
            .remove_from_version_id(from)
            .send()
            .await
            .map_err(|e| aws_error("UpdateSecretVersionStage", name, e))?;
        Ok(())
    }
}
