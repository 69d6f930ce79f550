//! The S3 and DynamoDB calls of one environment's state backend: the versions of the state
//! object, one version's bytes, and the lock (an item in the lock table, or a `.tflock` object).
//!
//! A lock is only ever deleted as it was read: the lock table's item on the condition that its
//! `Info` is unchanged, the `.tflock` object only while the version read is still the current
//! one. The `-md5` digest item beside the lock (terraform's check of the state's contents) is
//! never touched.

use super::StateError;
use app::model::state::{LockMode, LockSource, StateLock};
use app::model::TerraformRoot;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use chrono::{DateTime, Utc};

#[derive(Clone)]
pub struct StateBackend {
    s3: aws_sdk_s3::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    bucket: String,
    key: String,
    table: String,
    mode: LockMode,
}

/// A version of the state object as S3 lists it.
pub struct Listed {
    pub version_id: String,
    pub last_modified: DateTime<Utc>,
    pub size: i64,
    pub is_latest: bool,
}

/// The lock as it was read, with what deleting exactly it takes.
pub struct HeldLock {
    pub lock: StateLock,
    /// The lock table item's `Info`, or the `.tflock` object's version.
    witness: String,
}

/// Terraform's lock info, as it writes it (Go's field names).
#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LockInfo {
    #[serde(rename = "ID")]
    id: String,
    #[serde(default)]
    operation: String,
    #[serde(default)]
    who: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    created: String,
    #[serde(default)]
    path: String,
}

/// AWS's own code and message when it answered (the SDK's whole chain would carry the raw
/// response, request ids and all, onto the page); the chain when it did not (a timeout).
fn failed<E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static, R: std::fmt::Debug>(
    operation: &str,
    e: SdkError<E, R>,
) -> StateError {
    match e.code() {
        Some(code) => match e.message() {
            Some(message) => StateError::Aws(format!("{operation} failed: {code}: {message}")),
            None => StateError::Aws(format!("{operation} failed: {code}")),
        },
        None => StateError::Aws(format!("{operation} failed: {}", aws_sdk_s3::error::DisplayErrorContext(&e))),
    }
}

fn time(t: Option<&aws_sdk_s3::primitives::DateTime>) -> DateTime<Utc> {
    t.and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos())).unwrap_or_default()
}

fn parse_lock(info: &str, source: LockSource) -> Result<StateLock, StateError> {
    let parsed: LockInfo = serde_json::from_str(info).map_err(|e| StateError::Aws(format!("the state lock's info is not terraform's lock JSON: {e}")))?;
    let created_at = DateTime::parse_from_rfc3339(&parsed.created).ok().map(|t| t.with_timezone(&Utc));
    Ok(StateLock {
        age_seconds: created_at.map(|t| (Utc::now() - t).num_seconds()),
        created_at,
        id: parsed.id,
        operation: parsed.operation,
        who: parsed.who,
        version: parsed.version,
        created: parsed.created,
        path: parsed.path,
        source,
        run_id: None,
    })
}

impl StateBackend {
    pub fn new(backend: &aws_config::SdkConfig, root: &TerraformRoot) -> StateBackend {
        // Path-style addressing works with every endpoint (an emulator's included), and the
        // bucket names terraform accepts are all valid in it.
        StateBackend {
            s3: crate::aws_client!(aws_sdk_s3, backend, force_path_style(true)),
            dynamodb: crate::aws_client!(aws_sdk_dynamodb, backend),
            bucket: root.state_bucket.clone(),
            key: root.state_key.clone(),
            table: root.lock_table.clone(),
            mode: root.lock,
        }
    }

    /// The state object's versions, newest first, up to `limit`; true when there are more.
    pub async fn versions(&self, limit: usize) -> Result<(Vec<Listed>, bool), StateError> {
        let mut listed = Vec::new();
        let (mut key_marker, mut version_marker) = (None, None);
        loop {
            let page = self
                .s3
                .list_object_versions()
                .bucket(&self.bucket)
                .prefix(&self.key)
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .max_keys(limit.min(1000) as i32)
                .send()
                .await
                .map_err(|e| failed("S3 ListObjectVersions", e))?;
            // The prefix also matches `<key>.tflock` and longer keys; only the state itself counts.
            for v in page.versions().iter().filter(|v| v.key() == Some(self.key.as_str())) {
                if listed.len() == limit {
                    return Ok((listed, true));
                }
                listed.push(Listed {
                    version_id: v.version_id().unwrap_or("null").to_string(),
                    last_modified: time(v.last_modified()),
                    size: v.size().unwrap_or(0),
                    is_latest: v.is_latest().unwrap_or(false),
                });
            }
            // Versions of one key come newest first; past our key, nothing more is ours.
            let past = page.next_key_marker().is_some_and(|k| k > self.key.as_str());
            if page.is_truncated() != Some(true) || past {
                return Ok((listed, false));
            }
            key_marker = page.next_key_marker().map(str::to_string);
            version_marker = page.next_version_id_marker().map(str::to_string);
        }
    }

    /// One version's bytes; `None` when there is no such version of the state object.
    pub async fn read(&self, version_id: &str) -> Result<Option<Vec<u8>>, StateError> {
        let answer = self.s3.get_object().bucket(&self.bucket).key(&self.key).version_id(version_id).send().await;
        match answer {
            Ok(object) => {
                let body = object.body.collect().await.map_err(|e| StateError::Aws(format!("S3 GetObject failed: {e}")))?;
                Ok(Some(body.into_bytes().to_vec()))
            }
            Err(e) if matches!(e.code(), Some("NoSuchKey" | "NoSuchVersion" | "InvalidArgument")) => Ok(None),
            Err(e) => Err(failed("S3 GetObject", e)),
        }
    }

    /// One version's listing entry (`is_latest` unknown: false); `None` when there is no such version.
    pub async fn head(&self, version_id: &str) -> Result<Option<Listed>, StateError> {
        match self.s3.head_object().bucket(&self.bucket).key(&self.key).version_id(version_id).send().await {
            Ok(head) => Ok(Some(Listed {
                version_id: version_id.to_string(),
                last_modified: time(head.last_modified()),
                size: head.content_length().unwrap_or(0),
                is_latest: false,
            })),
            Err(e) if e.raw_response().is_some_and(|r| matches!(r.status().as_u16(), 400 | 404)) => Ok(None),
            Err(e) => Err(failed("S3 HeadObject", e)),
        }
    }

    /// The version terraform reads next; `None` while there is no state.
    pub async fn current_version(&self) -> Result<Option<String>, StateError> {
        match self.s3.head_object().bucket(&self.bucket).key(&self.key).send().await {
            Ok(head) => Ok(head.version_id().map(str::to_string)),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(None),
            Err(e) => Err(failed("S3 HeadObject", e)),
        }
    }

    /// The lock, if anyone holds it: the `.tflock` object first (S3 locking), then the lock
    /// table's item (both name the same lock while terraform writes both).
    pub async fn lock(&self) -> Result<Option<HeldLock>, StateError> {
        if self.mode == LockMode::S3 {
            if let Some(held) = self.lockfile().await? {
                return Ok(Some(held));
            }
        }
        if self.table.is_empty() {
            return Ok(None);
        }
        let item = self
            .dynamodb
            .get_item()
            .table_name(&self.table)
            .key("LockID", AttributeValue::S(self.lock_id()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| failed("DynamoDB GetItem", e))?;
        let Some(info) = item.item().and_then(|i| i.get("Info")).and_then(|v| v.as_s().ok()) else {
            return Ok(None);
        };
        Ok(Some(HeldLock { lock: parse_lock(info, LockSource::Dynamodb)?, witness: info.clone() }))
    }

    async fn lockfile(&self) -> Result<Option<HeldLock>, StateError> {
        match self.s3.get_object().bucket(&self.bucket).key(self.lockfile_key()).send().await {
            Ok(object) => {
                let version = object.version_id().unwrap_or("null").to_string();
                let body = object.body.collect().await.map_err(|e| StateError::Aws(format!("S3 GetObject failed: {e}")))?;
                let info = String::from_utf8_lossy(&body.into_bytes()).into_owned();
                Ok(Some(HeldLock { lock: parse_lock(&info, LockSource::S3)?, witness: version }))
            }
            Err(e) if e.code() == Some("NoSuchKey") => Ok(None),
            Err(e) => Err(failed("S3 GetObject", e)),
        }
    }

    /// Deletes exactly the lock that was read. `Ok(false)`: it changed or went meanwhile.
    pub async fn delete_lock(&self, held: &HeldLock) -> Result<bool, StateError> {
        match held.lock.source {
            LockSource::Dynamodb => {
                let deleted = self
                    .dynamodb
                    .delete_item()
                    .table_name(&self.table)
                    .key("LockID", AttributeValue::S(self.lock_id()))
                    .condition_expression("#info = :info")
                    .expression_attribute_names("#info", "Info")
                    .expression_attribute_values(":info", AttributeValue::S(held.witness.clone()))
                    .send()
                    .await;
                match deleted {
                    Ok(_) => Ok(true),
                    Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(false),
                    Err(e) => Err(failed("DynamoDB DeleteItem", e)),
                }
            }
            LockSource::S3 => {
                let head = self.s3.head_object().bucket(&self.bucket).key(self.lockfile_key()).send().await;
                match head {
                    Ok(head) if head.version_id().unwrap_or("null") == held.witness => {}
                    Ok(_) => return Ok(false),
                    Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => return Ok(false),
                    Err(e) => return Err(failed("S3 HeadObject", e)),
                }
                // Removed as terraform's unlock removes it: a delete marker, the lock's version
                // kept in the bucket's history.
                self.s3.delete_object().bucket(&self.bucket).key(self.lockfile_key()).send().await.map_err(|e| failed("S3 DeleteObject", e))?;
                Ok(true)
            }
        }
    }

    fn lock_id(&self) -> String {
        format!("{}/{}", self.bucket, self.key)
    }

    fn lockfile_key(&self) -> String {
        format!("{}.tflock", self.key)
    }
}
