//! [`ObjectStore`] on aws-sdk-s3: each [`ObjectOp`] is one SDK call on one bucket.

use std::collections::BTreeMap;

use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::Client;
use ddbrep_engine::io::{ObjectCondition, ObjectInfo, ObjectOp, ObjectResult, ObjectVersion, StoreError};
use ddbrep_engine::time::Millis;

use super::errors::{classify, code, status};
use super::ObjectStore;

/// One bucket.
#[derive(Debug, Clone)]
pub struct S3Bucket {
    /// The client.
    pub client: Client,
    /// The bucket.
    pub bucket: String,
}

fn millis(t: Option<&DateTime>) -> Millis {
    t.and_then(|t| t.to_millis().ok())
        .and_then(|ms| u64::try_from(ms).ok())
        .map_or(Millis::ZERO, Millis)
}

impl ObjectStore for S3Bucket {
    async fn call(&self, op: ObjectOp) -> Result<ObjectResult, StoreError> {
        let bucket = self.bucket.as_str();
        match op {
            ObjectOp::Put {
                key,
                body,
                metadata,
                condition,
            } => {
                let mut put = self
                    .client
                    .put_object()
                    .bucket(bucket)
                    .key(&key)
                    .body(ByteStream::from(body))
                    .set_metadata((!metadata.is_empty()).then(|| metadata.into_iter().collect()));
                let if_match = matches!(condition, ObjectCondition::IfMatch(_));
                put = match condition {
                    ObjectCondition::None => put,
                    ObjectCondition::IfNoneMatch => put.if_none_match("*"),
                    ObjectCondition::IfMatch(etag) => put.if_match(etag),
                };
                match put.send().await {
                    Ok(out) => Ok(ObjectResult::Put {
                        etag: out.e_tag.unwrap_or_default(),
                        version_id: out.version_id,
                    }),
                    // 412, 409 ConditionalRequestConflict (a racing conditional write), and If-Match on a key
                    // with no current object, which S3 answers 404 NoSuchKey (deleted since it was read), alike.
                    Err(e)
                        if code(&e) == Some("PreconditionFailed")
                            || code(&e) == Some("ConditionalRequestConflict")
                            || status(&e) == Some(412)
                            || (if_match && code(&e) == Some("NoSuchKey")) =>
                    {
                        Ok(ObjectResult::PreconditionFailed)
                    }
                    Err(e) => Err(classify(&format!("PutObject s3://{bucket}/{key}"), &e)),
                }
            }
            ObjectOp::Get { key, version_id } => {
                let got = self
                    .client
                    .get_object()
                    .bucket(bucket)
                    .key(&key)
                    .set_version_id(version_id)
                    .send()
                    .await;
                let out = match got {
                    Ok(out) => out,
                    // NoSuchKey, NoSuchVersion, a delete marker (404, or 405 by version id); not NoSuchBucket.
                    Err(e)
                        if code(&e) != Some("NoSuchBucket")
                            && (matches!(code(&e), Some("NoSuchKey" | "NoSuchVersion"))
                                || matches!(status(&e), Some(404 | 405))) =>
                    {
                        return Ok(ObjectResult::NotFound)
                    }
                    Err(e) => return Err(classify(&format!("GetObject s3://{bucket}/{key}"), &e)),
                };
                let last_modified = millis(out.last_modified.as_ref());
                let etag = out.e_tag.clone().unwrap_or_default();
                let version_id = out.version_id.clone();
                let metadata: BTreeMap<String, String> =
                    out.metadata.clone().unwrap_or_default().into_iter().collect();
                let body = out.body.collect().await.map_err(|e| {
                    StoreError::Transient(format!("GetObject s3://{bucket}/{key}: reading the body: {e}"))
                })?;
                Ok(ObjectResult::Got {
                    body: body.into_bytes().to_vec(),
                    etag,
                    version_id,
                    last_modified,
                    metadata,
                })
            }
            ObjectOp::GetRange { key, start, len } => {
                let last = start.saturating_add(len.max(1)) - 1;
                let got = self
                    .client
                    .get_object()
                    .bucket(bucket)
                    .key(&key)
                    .range(format!("bytes={start}-{last}"))
                    .send()
                    .await;
                let out = match got {
                    Ok(out) => out,
                    Err(e) if code(&e) == Some("NoSuchKey") => return Ok(ObjectResult::NotFound),
                    // A range past the end (or any range of an empty object): no bytes.
                    Err(e) if code(&e) == Some("InvalidRange") || status(&e) == Some(416) => {
                        return Ok(ObjectResult::Range {
                            bytes: Vec::new(),
                            size: start,
                        })
                    }
                    Err(e) => return Err(classify(&format!("GetObject s3://{bucket}/{key}"), &e)),
                };
                // `Content-Range: bytes 0-99/1234`: the whole size after the slash.
                let size = out
                    .content_range()
                    .and_then(|r| r.rsplit('/').next())
                    .and_then(|n| n.trim().parse::<u64>().ok());
                let body = out.body.collect().await.map_err(|e| {
                    StoreError::Transient(format!("GetObject s3://{bucket}/{key}: reading the body: {e}"))
                })?;
                let bytes = body.into_bytes().to_vec();
                let size = size.unwrap_or(start + bytes.len() as u64);
                Ok(ObjectResult::Range { bytes, size })
            }
            ObjectOp::Delete { key } => {
                self.client
                    .delete_object()
                    .bucket(bucket)
                    .key(&key)
                    .send()
                    .await
                    .map_err(|e| classify(&format!("DeleteObject s3://{bucket}/{key}"), &e))?;
                Ok(ObjectResult::Deleted)
            }
            ObjectOp::List { prefix, continuation } => {
                let out = self
                    .client
                    .list_objects_v2()
                    .bucket(bucket)
                    .prefix(&prefix)
                    .set_continuation_token(continuation)
                    .send()
                    .await
                    .map_err(|e| classify(&format!("ListObjectsV2 s3://{bucket}/{prefix}"), &e))?;
                let objects = out
                    .contents()
                    .iter()
                    .map(|o| ObjectInfo {
                        key: o.key().unwrap_or_default().to_owned(),
                        etag: o.e_tag().unwrap_or_default().to_owned(),
                        size: o.size().and_then(|s| u64::try_from(s).ok()).unwrap_or(0),
                    })
                    .collect();
                let next = if out.is_truncated() == Some(true) {
                    out.next_continuation_token
                } else {
                    None
                };
                Ok(ObjectResult::Listing { objects, next })
            }
            ObjectOp::ListVersions {
                prefix,
                key_marker,
                version_marker,
            } => {
                let out = self
                    .client
                    .list_object_versions()
                    .bucket(bucket)
                    .prefix(&prefix)
                    .set_key_marker(key_marker)
                    .set_version_id_marker(version_marker)
                    .send()
                    .await
                    .map_err(|e| classify(&format!("ListObjectVersions s3://{bucket}/{prefix}"), &e))?;
                let mut versions: Vec<ObjectVersion> = out
                    .versions()
                    .iter()
                    .map(|v| ObjectVersion {
                        key: v.key().unwrap_or_default().to_owned(),
                        version_id: v.version_id().unwrap_or("null").to_owned(),
                        last_modified: millis(v.last_modified()),
                        delete_marker: false,
                        is_latest: v.is_latest() == Some(true),
                    })
                    .chain(out.delete_markers().iter().map(|d| ObjectVersion {
                        key: d.key().unwrap_or_default().to_owned(),
                        version_id: d.version_id().unwrap_or("null").to_owned(),
                        last_modified: millis(d.last_modified()),
                        delete_marker: true,
                        is_latest: d.is_latest() == Some(true),
                    }))
                    .collect();
                // The SDK splits S3's one interleaved list into versions and delete markers; put it back
                // together: by key, the latest first, then newest first. Two versions of one key within the
                // same millisecond keep versions before markers (S3 does not tell them apart either).
                versions.sort_by(|a, b| {
                    a.key
                        .cmp(&b.key)
                        .then(b.is_latest.cmp(&a.is_latest))
                        .then(b.last_modified.cmp(&a.last_modified))
                });
                let truncated = out.is_truncated() == Some(true);
                Ok(ObjectResult::Versions {
                    versions,
                    next_key_marker: if truncated { out.next_key_marker } else { None },
                    next_version_marker: if truncated {
                        out.next_version_id_marker
                    } else {
                        None
                    },
                })
            }
        }
    }
}
