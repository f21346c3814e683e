//! The handlers' requests carried out in-process: the engine's table and object requests
//! (`ddbrep_engine::io::{TableOp, ObjectOp}`) on the emulator's own DynamoDB and S3, through the same
//! operation code an HTTP request reaches (DynamoDB: the JSON request given to [`Service::handle`]; S3: the
//! s3s operation of [`S3Backend`]), so the pipeline's writes are checked, stored, streamed and versioned
//! exactly as a client's. Only the socket is skipped.
//!
//! Errors are classified as the drivers of `ddbrep` classify AWS's: throttling, 5xx → retryable;
//! `ValidationException` → [`StoreError::Rejected`]; anything else fatal.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bytes::Bytes;
use ddbrep_engine::io::{
    ObjectCondition, ObjectOp, ObjectResult, ObjectVersion, StoreError, TableOp, TableResult, Write,
};
use ddbrep_engine::model::{Item, KeySchema};
use ddbrep_engine::time::Millis;
use futures_util::StreamExt as _;
use s3s::dto::{DeleteObjectInput, ETagCondition, GetObjectInput, PutObjectInput, StreamingBlob};
use s3s::{S3ErrorCode, S3Request, S3};
use serde_json::{json, Value as Json};

use crate::dynamodb::Service;
use crate::s3::service::S3Backend;
use crate::storage::objects::{self, Entry, VersionsQuery};
use crate::storage::Storage;

/// The account the pipeline's requests are made as (the emulator's default one).
pub const ACCOUNT: &str = "000000000000";

/// Versions per ListObjectVersions page, as S3's default `max-keys`.
const VERSIONS_PAGE: usize = 1000;

/// One DynamoDB request in-process: the JSON answer, or the error body's `__type` (without its namespace)
/// and message with the status.
pub async fn call(svc: &Service, op: &str, request: &Json) -> Result<Json, (u16, String, String)> {
    let body = serde_json::to_vec(request).map_err(|e| (500, "InternalFailure".to_owned(), e.to_string()))?;
    let (status, out) = svc
        .handle(&format!("DynamoDB_20120810.{op}"), ACCOUNT.to_owned(), &body)
        .await;
    let json: Json = serde_json::from_slice(&out).unwrap_or(Json::Null);
    if status == 200 {
        return Ok(json);
    }
    let kind = json["__type"]
        .as_str()
        .and_then(|t| t.rsplit('#').next())
        .unwrap_or("InternalFailure")
        .to_owned();
    let message = json["message"].as_str().unwrap_or_default().to_owned();
    Err((status, kind, message))
}

/// A DynamoDB error as the jobs see it.
pub fn classify(context: &str, (status, kind, message): (u16, String, String)) -> StoreError {
    match kind.as_str() {
        "ProvisionedThroughputExceededException" | "ThrottlingException" | "RequestLimitExceeded" => {
            StoreError::Throttled
        }
        "ValidationException" => StoreError::Rejected(format!("{context}: {message}")),
        _ if status >= 500 => StoreError::Transient(format!("{context}: {kind}: {message}")),
        _ => StoreError::Fatal(format!("{context}: {kind}: {message}")),
    }
}

/// The replica table, for the replicate handler's writes.
#[derive(Clone)]
pub struct LocalTable {
    /// The DynamoDB side.
    pub service: Arc<Service>,
    /// The table.
    pub name: String,
    /// Its key, to read `UnprocessedItems` back.
    pub schema: KeySchema,
}

impl LocalTable {
    /// Runs one request. The handlers only write batches; other requests are refused as a bug would be.
    pub async fn call(&self, op: TableOp) -> Result<TableResult, StoreError> {
        let TableOp::BatchWrite { writes } = op else {
            return Err(StoreError::Fatal(format!(
                "{} is not a request the stream handlers make",
                ddbrep_engine::io::table_op_name(&op)
            )));
        };
        let requests: Vec<Json> = writes
            .iter()
            .map(|w| match w {
                Write::Put(item) => json!({ "PutRequest": { "Item": item } }),
                Write::Delete(key) => json!({ "DeleteRequest": { "Key": key.to_item() } }),
            })
            .collect();
        let request = json!({ "RequestItems": { self.name.clone(): requests } });
        let context = format!("BatchWriteItem {}", self.name);
        let out = call(&self.service, "BatchWriteItem", &request)
            .await
            .map_err(|e| classify(&context, e))?;
        let mut unprocessed = Vec::new();
        if let Some(left) = out["UnprocessedItems"][self.name.as_str()].as_array() {
            for entry in left {
                unprocessed.push(self.unprocessed(entry)?);
            }
        }
        Ok(TableResult::Written { unprocessed })
    }

    fn unprocessed(&self, entry: &Json) -> Result<Write, StoreError> {
        let bad =
            |e: String| StoreError::Fatal(format!("BatchWriteItem {}: UnprocessedItems: {e}", self.name));
        let item = |j: &Json| -> Result<Item, StoreError> {
            ddbrep_engine::codec::ddb_json::item_from_json(j).map_err(|e| bad(e.to_string()))
        };
        if let Some(put) = entry.get("PutRequest") {
            return Ok(Write::Put(item(&put["Item"])?));
        }
        let key = item(&entry["DeleteRequest"]["Key"])?;
        let key = self.schema.parse_key(&key).map_err(|e| bad(e.to_string()))?;
        Ok(Write::Delete(key))
    }
}

/// The backup bucket, for the backup handler.
#[derive(Clone)]
pub struct LocalBucket {
    /// The S3 operations.
    pub s3: Arc<S3Backend>,
    /// The metadata database (version listings).
    pub storage: Arc<Storage>,
    /// The bucket.
    pub bucket: String,
}

fn request<T>(input: T) -> S3Request<T> {
    S3Request {
        input,
        method: http::Method::GET,
        uri: http::Uri::from_static("/"),
        headers: http::HeaderMap::new(),
        extensions: http::Extensions::new(),
        credentials: None,
        region: None,
        service: None,
        trailing_headers: None,
    }
}

fn s3_error(context: &str, e: &s3s::S3Error) -> StoreError {
    let message = format!(
        "{context}: {}: {}",
        e.code().as_str(),
        e.message().unwrap_or_default()
    );
    let status = e.status_code().map_or(500, |s| s.as_u16());
    match e.code() {
        S3ErrorCode::SlowDown => StoreError::Throttled,
        _ if status == 503 => StoreError::Throttled,
        _ if status >= 500 => StoreError::Transient(message),
        _ => StoreError::Fatal(message),
    }
}

impl LocalBucket {
    /// Runs one request.
    pub async fn call(&self, op: ObjectOp) -> Result<ObjectResult, StoreError> {
        let bucket = self.bucket.clone();
        match op {
            ObjectOp::Put {
                key,
                body,
                metadata,
                condition,
            } => {
                let context = format!("PutObject s3://{bucket}/{key}");
                let len = i64::try_from(body.len()).unwrap_or(i64::MAX);
                let mut input = PutObjectInput {
                    bucket,
                    key,
                    content_length: Some(len),
                    body: Some(StreamingBlob::from(s3s::Body::from(Bytes::from(body)))),
                    metadata: Some(metadata.into_iter().collect::<HashMap<_, _>>()),
                    ..Default::default()
                };
                match condition {
                    ObjectCondition::None => {}
                    ObjectCondition::IfNoneMatch => input.if_none_match = Some(ETagCondition::Any),
                    ObjectCondition::IfMatch(etag) => {
                        input.if_match = Some(ETagCondition::ETag(s3s::dto::ETag::Strong(
                            etag.trim_matches('"').to_owned(),
                        )));
                    }
                }
                match self.s3.put_object(request(input)).await {
                    Ok(out) => Ok(ObjectResult::Put {
                        etag: out.output.e_tag.map(|e| e.value().to_owned()).unwrap_or_default(),
                        version_id: out.output.version_id,
                    }),
                    Err(e) if *e.code() == S3ErrorCode::PreconditionFailed => {
                        Ok(ObjectResult::PreconditionFailed)
                    }
                    Err(e) => Err(s3_error(&context, &e)),
                }
            }
            ObjectOp::Get { key, version_id } => {
                let context = format!("GetObject s3://{bucket}/{key}");
                let input = GetObjectInput {
                    bucket,
                    key,
                    version_id,
                    ..Default::default()
                };
                let out = match self.s3.get_object(request(input)).await {
                    Ok(out) => out.output,
                    Err(e)
                        if matches!(
                            e.code(),
                            S3ErrorCode::NoSuchKey
                                | S3ErrorCode::NoSuchVersion
                                | S3ErrorCode::MethodNotAllowed
                        ) =>
                    {
                        return Ok(ObjectResult::NotFound)
                    }
                    Err(e) => return Err(s3_error(&context, &e)),
                };
                let mut body = Vec::new();
                if let Some(mut stream) = out.body {
                    while let Some(chunk) = stream.next().await {
                        let chunk = chunk.map_err(|e| StoreError::Transient(format!("{context}: {e}")))?;
                        body.extend_from_slice(&chunk);
                    }
                }
                let last_modified = out.last_modified.as_ref().map_or(Millis(0), epoch_ms);
                Ok(ObjectResult::Got {
                    body,
                    etag: out.e_tag.map(|e| e.value().to_owned()).unwrap_or_default(),
                    version_id: out.version_id,
                    last_modified,
                    metadata: out
                        .metadata
                        .unwrap_or_default()
                        .into_iter()
                        .collect::<BTreeMap<_, _>>(),
                })
            }
            ObjectOp::GetRange { key, .. } => Err(StoreError::Fatal(format!(
                "ranged GetObject s3://{bucket}/{key} is not a request the stream handlers make"
            ))),
            ObjectOp::Delete { key } => {
                let context = format!("DeleteObject s3://{bucket}/{key}");
                let input = DeleteObjectInput {
                    bucket,
                    key,
                    ..Default::default()
                };
                self.s3
                    .delete_object(request(input))
                    .await
                    .map_err(|e| s3_error(&context, &e))?;
                Ok(ObjectResult::Deleted)
            }
            ObjectOp::List { prefix, continuation } => {
                let q = objects::ListQuery {
                    prefix,
                    delimiter: None,
                    after: continuation,
                    max: VERSIONS_PAGE,
                };
                let page = self
                    .storage
                    .read(move |c| objects::list_objects(c, &bucket, &q))
                    .map_err(|e| StoreError::Transient(format!("ListObjectsV2: {e}")))?;
                let mut objects = Vec::new();
                for entry in page.entries {
                    if let Entry::Item(v) = entry {
                        objects.push(ddbrep_engine::io::ObjectInfo {
                            key: v.key,
                            etag: v.etag,
                            size: v.size,
                        });
                    }
                }
                let next = page
                    .truncated
                    .then(|| objects.last().map(|o| o.key.clone()))
                    .flatten();
                Ok(ObjectResult::Listing { objects, next })
            }
            ObjectOp::ListVersions {
                prefix,
                key_marker,
                version_marker,
            } => {
                let q = VersionsQuery {
                    prefix,
                    delimiter: None,
                    key_marker,
                    version_marker,
                    max: VERSIONS_PAGE,
                };
                let page = self
                    .storage
                    .read(move |c| objects::list_versions(c, &bucket, &q))
                    .map_err(|e| StoreError::Transient(format!("ListObjectVersions: {e}")))?;
                let versions: Vec<ObjectVersion> = page
                    .entries
                    .into_iter()
                    .filter_map(|e| match e {
                        Entry::Item(v) => Some(ObjectVersion {
                            key: v.key,
                            version_id: v.version_id,
                            last_modified: Millis(u64::try_from(v.modified_ms).unwrap_or(0)),
                            delete_marker: v.delete_marker,
                            is_latest: v.is_latest,
                        }),
                        Entry::Prefix(_) => None,
                    })
                    .collect();
                let (next_key_marker, next_version_marker) = match (page.truncated, versions.last()) {
                    (true, Some(last)) => (Some(last.key.clone()), Some(last.version_id.clone())),
                    _ => (None, None),
                };
                Ok(ObjectResult::Versions {
                    versions,
                    next_key_marker,
                    next_version_marker,
                })
            }
        }
    }
}

/// An s3s timestamp as epoch milliseconds (through its epoch-seconds text, exactly).
fn epoch_ms(t: &s3s::dto::Timestamp) -> Millis {
    let mut text = Vec::new();
    if t.format(s3s::dto::TimestampFormat::EpochSeconds, &mut text)
        .is_err()
    {
        return Millis(0);
    }
    std::str::from_utf8(&text)
        .ok()
        .and_then(ddbrep_engine::codec::stream_event::EpochTime::parse_seconds)
        .map_or(Millis(0), |t| t.0)
}

/// Creates the replica table if it is missing, with the source's key schema (on demand, no stream).
/// Returns the replica's key schema once it is ACTIVE, `None` while it is not yet.
pub async fn ensure_replica(svc: &Service, source: &str, replica: &str) -> Result<Option<KeySchema>, String> {
    let describe = |name: &str| json!({ "TableName": name });
    let table = match call(svc, "DescribeTable", &describe(replica)).await {
        Ok(out) => out,
        Err((_, kind, _)) if kind == "ResourceNotFoundException" => {
            let src = call(svc, "DescribeTable", &describe(source))
                .await
                .map_err(|(_, k, m)| format!("cannot read the source table {source}: {k}: {m}"))?;
            let key_schema = src["Table"]["KeySchema"].clone();
            let key_names: Vec<&str> = key_schema
                .as_array()
                .map(|ks| ks.iter().filter_map(|k| k["AttributeName"].as_str()).collect())
                .unwrap_or_default();
            let definitions: Vec<Json> = src["Table"]["AttributeDefinitions"]
                .as_array()
                .map(|defs| {
                    defs.iter()
                        .filter(|d| {
                            d["AttributeName"]
                                .as_str()
                                .is_some_and(|n| key_names.contains(&n))
                        })
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            let create = json!({
                "TableName": replica,
                "KeySchema": key_schema,
                "AttributeDefinitions": definitions,
                "BillingMode": "PAY_PER_REQUEST",
            });
            match call(svc, "CreateTable", &create).await {
                Ok(_) => tracing::info!(replica, source, "created the replica table"),
                Err((_, kind, _)) if kind == "ResourceInUseException" => {}
                Err((_, k, m)) => return Err(format!("cannot create the replica table {replica}: {k}: {m}")),
            }
            call(svc, "DescribeTable", &describe(replica))
                .await
                .map_err(|(_, k, m)| format!("cannot read the replica table {replica}: {k}: {m}"))?
        }
        Err((_, k, m)) => return Err(format!("cannot read the replica table {replica}: {k}: {m}")),
    };
    if table["Table"]["TableStatus"].as_str() != Some("ACTIVE") {
        return Ok(None);
    }
    Ok(svc.storage.table(replica).map(|t| t.key.clone()))
}

impl LocalBucket {
    /// Creates the bucket, with versioning on, if it is missing (an existing bucket is left as it is).
    pub async fn ensure(&self) -> Result<(), String> {
        let name = self.bucket.clone();
        let exists = self
            .storage
            .read(move |c| objects::bucket(c, &name))
            .map_err(|e| e.to_string())?
            .is_some();
        if exists {
            return Ok(());
        }
        let create = s3s::dto::CreateBucketInput {
            bucket: self.bucket.clone(),
            ..Default::default()
        };
        match self.s3.create_bucket(request(create)).await {
            Ok(_) => {}
            Err(e) if *e.code() == S3ErrorCode::BucketAlreadyOwnedByYou => return Ok(()),
            Err(e) => {
                return Err(format!(
                    "cannot create the bucket {}: {}",
                    self.bucket,
                    s3_error("CreateBucket", &e)
                ))
            }
        }
        let versioning = s3s::dto::PutBucketVersioningInput {
            bucket: self.bucket.clone(),
            versioning_configuration: s3s::dto::VersioningConfiguration {
                status: Some(s3s::dto::BucketVersioningStatus::from_static(
                    s3s::dto::BucketVersioningStatus::ENABLED,
                )),
                ..Default::default()
            },
            checksum_algorithm: None,
            content_md5: None,
            expected_bucket_owner: None,
            mfa: None,
        };
        self.s3
            .put_bucket_versioning(request(versioning))
            .await
            .map_err(|e| {
                format!(
                    "cannot turn on versioning of {}: {}",
                    self.bucket,
                    s3_error("PutBucketVersioning", &e)
                )
            })?;
        tracing::info!(bucket = self.bucket, "created the backup bucket, versioned");
        Ok(())
    }
}
