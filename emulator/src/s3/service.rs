//! The S3 operations: `impl s3s::S3` over our storage. s3s has already routed the request and parsed it
//! into a typed input; each method checks what S3 checks, calls `storage::objects` (SQL, on the writer for
//! changes) and `blobs` (bytes), and fills a typed output that s3s serialises.
//!
//! Never touches HTTP framing, XML or signatures: those are s3s's and `super` (the front).

use std::collections::BTreeMap;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use s3s::dto::*;
use s3s::{s3_error, S3Error, S3Request, S3Response, S3Result};

use super::blobs::BlobStore;
use super::body::Trailers;
use super::checksum::{self, Plan};
use super::upload::{internal, receive, Received};
use crate::clock::{Clock, Rng};
use crate::storage::objects::{
    self, BodyRef, Checksums, CompletedPart as StoredCompletedPart, Entry, ListQuery, NewObject, ObjectMeta,
    ObjectVersion, ObjectsError, Upload, Versioning, VersionsQuery, WriteCondition,
};
use crate::storage::Storage;

/// Version and upload ids: letters and digits, as S3's are URL-safe.
const ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/// The most keys a listing returns per page ("ListObjectsV2": `max-keys` defaults to and caps at 1,000).
const MAX_KEYS: i32 = 1000;
/// The most parts of one multipart upload ("Amazon S3 multipart upload limits").
const MAX_PART_NUMBER: i32 = 10_000;
/// The owner every bucket and object reports (the emulator has one account).
const OWNER_ID: &str = "75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a";

/// The S3 backend.
pub struct S3Backend {
    storage: Arc<Storage>,
    blobs: Arc<BlobStore>,
    clock: Arc<dyn Clock>,
    rng: Arc<Rng>,
    region: String,
}

impl S3Backend {
    /// A backend over `storage` and `blobs`.
    pub fn new(
        storage: Arc<Storage>,
        blobs: Arc<BlobStore>,
        clock: Arc<dyn Clock>,
        rng: Arc<Rng>,
        region: String,
    ) -> S3Backend {
        S3Backend {
            storage,
            blobs,
            clock,
            rng,
            region,
        }
    }

    fn now_ms(&self) -> i64 {
        i64::try_from(self.clock.now().0).unwrap_or(i64::MAX)
    }

    fn new_id(&self, len: usize) -> String {
        self.rng.string(ID_ALPHABET, len)
    }

    fn read<T>(&self, f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>) -> S3Result<T> {
        self.storage.read(f).map_err(internal)
    }

    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> Result<T, ObjectsError> + Send + 'static,
    ) -> Result<T, ObjectsError> {
        match self.storage.write(move |ctx| f(ctx.conn)).await {
            Ok(result) => result,
            Err(e) => Err(ObjectsError::Corrupt(e.to_string())),
        }
    }

    fn require_bucket(&self, bucket: &str) -> S3Result<objects::Bucket> {
        let bucket = bucket.to_owned();
        self.read(move |c| objects::bucket(c, &bucket))?
            .ok_or_else(|| to_s3(ObjectsError::NoSuchBucket))
    }

    /// The version a GET, HEAD or copy reads, with the errors S3 gives for a missing one or a delete marker.
    fn find_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        with_body: bool,
    ) -> S3Result<ObjectVersion> {
        let (b, k, v) = (bucket.to_owned(), key.to_owned(), version_id.map(str::to_owned));
        let found = self.read(move |c| objects::version(c, &b, &k, v.as_deref(), with_body))?;
        let Some(found) = found else {
            self.require_bucket(bucket)?;
            return Err(match version_id {
                Some(_) => s3_error!(NoSuchVersion, "The specified version does not exist."),
                None => s3_error!(NoSuchKey, "The specified key does not exist."),
            });
        };
        if found.delete_marker {
            let mut headers = HeaderMap::new();
            headers.insert("x-amz-delete-marker", HeaderValue::from_static("true"));
            if let Ok(v) = HeaderValue::from_str(&found.version_id) {
                headers.insert("x-amz-version-id", v);
            }
            // A GET of the latest version answers 404; a GET naming a delete marker's version, 405.
            let mut err = match version_id {
                Some(_) => s3_error!(
                    MethodNotAllowed,
                    "The specified method is not allowed against this resource."
                ),
                None => s3_error!(NoSuchKey, "The specified key does not exist."),
            };
            headers.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/xml"),
            );
            err.set_headers(headers);
            return Err(err);
        }
        Ok(found)
    }

    /// Stores a received body as a new version, or deletes its file if the write is refused.
    async fn store(
        &self,
        bucket: &str,
        object: NewObject,
        cond: WriteCondition,
    ) -> S3Result<objects::WriteOutcome> {
        let files = object.body.files();
        let (b, vid, now) = (bucket.to_owned(), self.new_id(32), self.now_ms());
        match self
            .write(move |c| objects::put_object(c, &b, &object, &cond, &vid, now))
            .await
        {
            Ok(outcome) => {
                self.blobs.remove(outcome.orphaned.clone());
                Ok(outcome)
            }
            Err(e) => {
                self.blobs.remove(files);
                Err(to_s3(e))
            }
        }
    }

    /// The bytes of `v` from `start`, `len` of them, as a stream.
    fn body_stream(&self, v: &ObjectVersion, start: u64, len: u64) -> StreamingBlob {
        match &v.body {
            Some(BodyRef::Inline(data)) => {
                let start = usize::try_from(start).unwrap_or(usize::MAX).min(data.len());
                let end = usize::try_from(start as u64 + len)
                    .unwrap_or(usize::MAX)
                    .min(data.len());
                StreamingBlob::wrap(BodyStream::Once(Some(Bytes::copy_from_slice(&data[start..end]))))
            }
            Some(BodyRef::Files(files)) => StreamingBlob::wrap(BodyStream::Channel(self.blobs.read_range(
                files.clone(),
                start,
                len,
            ))),
            None => StreamingBlob::wrap(BodyStream::Once(None)),
        }
    }

    /// Copies bytes of a source version into a new body (inline when small), hashing them as an upload.
    async fn copy_bytes(
        &self,
        src: &ObjectVersion,
        start: u64,
        len: u64,
        inline: bool,
    ) -> S3Result<Received> {
        let stream = self.body_stream(src, start, len);
        let plan = Plan::from_headers(&HeaderMap::new())?;
        receive(&self.blobs, Some(stream), Some(len as i64), plan, None, inline).await
    }
}

/// A response body: one buffer, or chunks from a body-file reader.
enum BodyStream {
    Once(Option<Bytes>),
    Channel(tokio::sync::mpsc::Receiver<io::Result<Bytes>>),
}

impl futures_util::Stream for BodyStream {
    type Item = io::Result<Bytes>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match &mut *self {
            BodyStream::Once(b) => Poll::Ready(b.take().filter(|b| !b.is_empty()).map(Ok)),
            BodyStream::Channel(rx) => rx.poll_recv(cx),
        }
    }
}

/// Maps a storage refusal to S3's error, with S3's wording.
pub fn to_s3(e: ObjectsError) -> S3Error {
    match e {
        ObjectsError::NoSuchBucket => s3_error!(NoSuchBucket, "The specified bucket does not exist"),
        ObjectsError::BucketExists => s3_error!(
            BucketAlreadyOwnedByYou,
            "Your previous request to create the named bucket succeeded and you already own it."
        ),
        ObjectsError::BucketNotEmpty => s3_error!(BucketNotEmpty, "The bucket you tried to delete is not empty"),
        ObjectsError::NoSuchKey => s3_error!(NoSuchKey, "The specified key does not exist."),
        ObjectsError::NoSuchUpload => s3_error!(
            NoSuchUpload,
            "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
        ),
        ObjectsError::InvalidPart(_) => s3_error!(
            InvalidPart,
            "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag."
        ),
        ObjectsError::InvalidPartOrder => s3_error!(
            InvalidPartOrder,
            "The list of parts was not in ascending order. Parts must be ordered by part number."
        ),
        ObjectsError::EntityTooSmall(_) => s3_error!(
            EntityTooSmall,
            "Your proposed upload is smaller than the minimum allowed object size."
        ),
        ObjectsError::NoParts => s3_error!(
            MalformedXML,
            "The XML you provided was not well-formed or did not validate against our published schema"
        ),
        ObjectsError::PreconditionFailed => s3_error!(
            PreconditionFailed,
            "At least one of the pre-conditions you specified did not hold"
        ),
        e @ (ObjectsError::Corrupt(_) | ObjectsError::Sqlite(_)) => internal(e),
    }
}

/// Seconds precision: HTTP dates (`Last-Modified`, `If-Modified-Since`) have no finer unit, and S3's list
/// timestamps end in `.000Z`.
fn timestamp(ms: i64) -> Timestamp {
    let secs = u64::try_from(ms / 1000).unwrap_or(0);
    Timestamp::from(UNIX_EPOCH + Duration::from_secs(secs))
}

fn strong(etag: &str) -> ETag {
    ETag::Strong(etag.to_owned())
}

fn condition_matches(cond: &ETagCondition, etag: &str) -> bool {
    match cond {
        ETagCondition::Any => true,
        ETagCondition::ETag(e) => e.value() == etag,
    }
}

/// The read conditions of GET and HEAD (and a copy's source), in S3's precedence: `If-Match` over
/// `If-Unmodified-Since` (412), `If-None-Match` over `If-Modified-Since` (304, or 412 for a copy).
fn check_read_conditions(
    v: &ObjectVersion,
    if_match: Option<&ETagCondition>,
    if_unmodified_since: Option<&Timestamp>,
    if_none_match: Option<&ETagCondition>,
    if_modified_since: Option<&Timestamp>,
    not_modified_is_412: bool,
) -> S3Result<()> {
    let modified = timestamp(v.modified_ms);
    let failed = || {
        s3_error!(
            PreconditionFailed,
            "At least one of the pre-conditions you specified did not hold"
        )
    };
    match if_match {
        Some(c) if !condition_matches(c, &v.etag) => return Err(failed()),
        Some(_) => {}
        None => {
            if if_unmodified_since.is_some_and(|t| modified > *t) {
                return Err(failed());
            }
        }
    }
    let not_modified = match if_none_match {
        Some(c) => condition_matches(c, &v.etag),
        None => if_modified_since.is_some_and(|t| modified <= *t),
    };
    if not_modified {
        if not_modified_is_412 {
            return Err(failed());
        }
        let mut err = s3_error!(NotModified, "Not Modified");
        err.set_status_code(StatusCode::NOT_MODIFIED);
        let mut headers = HeaderMap::new();
        if let Ok(h) = strong(&v.etag).to_http_header() {
            headers.insert(http::header::ETAG, h);
        }
        err.set_headers(headers);
        return Err(err);
    }
    Ok(())
}

fn write_condition(
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
) -> S3Result<WriteCondition> {
    let mut cond = WriteCondition::default();
    match if_none_match {
        Some(ETagCondition::Any) => cond.if_none_match_any = true,
        Some(ETagCondition::ETag(_)) => {
            return Err(s3_error!(
                NotImplemented,
                "A header you provided implies functionality that is not implemented: If-None-Match accepts only *"
            ))
        }
        None => {}
    }
    cond.if_match = if_match.map(|c| match c {
        ETagCondition::Any => "*".to_owned(),
        ETagCondition::ETag(e) => e.value().to_owned(),
    });
    Ok(cond)
}

fn meta_from_headers(
    content_type: Option<String>,
    content_encoding: Option<String>,
    cache_control: Option<String>,
    content_disposition: Option<String>,
    content_language: Option<String>,
    metadata: Option<Metadata>,
) -> ObjectMeta {
    ObjectMeta {
        // S3 stores this type for objects uploaded without one.
        content_type: Some(content_type.unwrap_or_else(|| "binary/octet-stream".to_owned())),
        content_encoding,
        cache_control,
        content_disposition,
        content_language,
        user: metadata
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect::<BTreeMap<_, _>>(),
        checksums: Checksums::default(),
        parts: None,
    }
}

fn user_metadata(meta: &ObjectMeta) -> Option<Metadata> {
    (!meta.user.is_empty()).then(|| meta.user.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

/// `encoding-type=url`: S3 percent-encodes keys and prefixes in the answer (the AWS CLI always asks).
fn encode(value: &str, url: bool) -> String {
    if !url {
        return value.to_owned();
    }
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn wants_url(encoding: Option<&EncodingType>) -> S3Result<bool> {
    match encoding.map(EncodingType::as_str) {
        None => Ok(false),
        Some(e) if e.eq_ignore_ascii_case("url") => Ok(true),
        Some(_) => Err(s3_error!(
            InvalidArgument,
            "Invalid Encoding Method specified in Request"
        )),
    }
}

fn max_keys(requested: Option<i32>) -> S3Result<usize> {
    match requested {
        None => Ok(MAX_KEYS as usize),
        Some(n) if n < 0 => Err(s3_error!(InvalidArgument, "maxKeys should be non-negative")),
        Some(n) => Ok(n.min(MAX_KEYS) as usize),
    }
}

fn owner() -> Owner {
    Owner {
        display_name: Some("ddbrep".to_owned()),
        id: Some(OWNER_ID.to_owned()),
    }
}

fn object_entry(v: &ObjectVersion, url: bool) -> Object {
    Object {
        key: Some(encode(&v.key, url)),
        e_tag: Some(strong(&v.etag)),
        last_modified: Some(timestamp(v.modified_ms)),
        size: Some(i64::try_from(v.size).unwrap_or(i64::MAX)),
        storage_class: Some(ObjectStorageClass::from_static(ObjectStorageClass::STANDARD)),
        owner: None,
        ..Default::default()
    }
}

fn set_checksums_get(out: &mut GetObjectOutput, c: &Checksums) {
    out.checksum_crc32 = c.crc32.clone();
    out.checksum_crc32c = c.crc32c.clone();
    out.checksum_crc64nvme = c.crc64nvme.clone();
    out.checksum_sha1 = c.sha1.clone();
    out.checksum_sha256 = c.sha256.clone();
}

fn set_checksums_head(out: &mut HeadObjectOutput, c: &Checksums) {
    out.checksum_crc32 = c.crc32.clone();
    out.checksum_crc32c = c.crc32c.clone();
    out.checksum_crc64nvme = c.crc64nvme.clone();
    out.checksum_sha1 = c.sha1.clone();
    out.checksum_sha256 = c.sha256.clone();
}

fn checksum_enabled(mode: Option<&ChecksumMode>) -> bool {
    mode.is_some_and(|m| m.as_str().eq_ignore_ascii_case("ENABLED"))
}

/// The byte range a GET or HEAD answers: `(start, len, Content-Range)`.
fn resolve_range(range: Option<&Range>, size: u64) -> S3Result<(u64, u64, Option<String>)> {
    match range {
        None => Ok((0, size, None)),
        Some(r) => {
            let r = r.check(size)?;
            let len = r.end - r.start;
            Ok((
                r.start,
                len,
                Some(format!("bytes {}-{}/{size}", r.start, r.end.saturating_sub(1))),
            ))
        }
    }
}

fn copy_source(src: &CopySource) -> S3Result<(String, String, Option<String>)> {
    match src {
        CopySource::Bucket {
            bucket,
            key,
            version_id,
        } => Ok((
            bucket.to_string(),
            key.to_string(),
            version_id.as_deref().map(str::to_owned),
        )),
        _ => Err(s3_error!(
            NotImplemented,
            "Only bucket/key copy sources are supported"
        )),
    }
}

fn token_encode(marker: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(marker)
}

fn token_decode(token: &str) -> S3Result<String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| s3_error!(InvalidArgument, "The continuation token provided is incorrect"))
}

#[async_trait::async_trait]
impl s3s::S3 for S3Backend {
    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let bucket = req.input.bucket;
        let (b, now) = (bucket.clone(), self.now_ms());
        self.write(move |c| objects::create_bucket(c, &b, now))
            .await
            .map_err(to_s3)?;
        Ok(S3Response::new(CreateBucketOutput {
            location: Some(format!("/{bucket}")),
        }))
    }

    async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
        self.require_bucket(&req.input.bucket)?;
        Ok(S3Response::new(HeadBucketOutput {
            bucket_region: Some(self.region.clone()),
            ..Default::default()
        }))
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        let b = req.input.bucket;
        let orphaned = self
            .write(move |c| objects::delete_bucket(c, &b))
            .await
            .map_err(to_s3)?;
        self.blobs.remove(orphaned);
        Ok(S3Response::new(DeleteBucketOutput {}))
    }

    async fn list_buckets(
        &self,
        _req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let buckets = self.read(objects::buckets)?;
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(
                buckets
                    .into_iter()
                    .map(|b| Bucket {
                        name: Some(b.name),
                        creation_date: Some(timestamp(b.created_ms)),
                        bucket_region: Some(self.region.clone()),
                    })
                    .collect(),
            ),
            owner: Some(owner()),
            ..Default::default()
        }))
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.require_bucket(&req.input.bucket)?;
        // us-east-1 answers an empty LocationConstraint.
        let location =
            (self.region != "us-east-1").then(|| BucketLocationConstraint::from(self.region.clone()));
        Ok(S3Response::new(GetBucketLocationOutput {
            location_constraint: location,
        }))
    }

    async fn put_bucket_versioning(
        &self,
        req: S3Request<PutBucketVersioningInput>,
    ) -> S3Result<S3Response<PutBucketVersioningOutput>> {
        let input = req.input;
        let state = match input
            .versioning_configuration
            .status
            .as_ref()
            .map(BucketVersioningStatus::as_str)
        {
            Some(BucketVersioningStatus::ENABLED) => Versioning::Enabled,
            Some(BucketVersioningStatus::SUSPENDED) => Versioning::Suspended,
            _ => {
                return Err(s3_error!(
                MalformedXML,
                "The XML you provided was not well-formed or did not validate against our published schema"
            ))
            }
        };
        let b = input.bucket;
        self.write(move |c| objects::set_versioning(c, &b, state))
            .await
            .map_err(to_s3)?;
        Ok(S3Response::new(PutBucketVersioningOutput {}))
    }

    async fn get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        let b = self.require_bucket(&req.input.bucket)?;
        let status = match b.versioning {
            Versioning::Unversioned => None,
            v => Some(BucketVersioningStatus::from(v.as_str().to_owned())),
        };
        Ok(S3Response::new(GetBucketVersioningOutput {
            status,
            mfa_delete: None,
        }))
    }

    async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        let trailers = req.extensions.get::<Trailers>().cloned();
        let plan = Plan::from_headers(&req.headers)?;
        let input = req.input;
        let cond = write_condition(input.if_match.as_ref(), input.if_none_match.as_ref())?;
        // Refuse before reading the body when the bucket is missing.
        self.require_bucket(&input.bucket)?;
        let received = receive(
            &self.blobs,
            input.body,
            input.content_length,
            plan,
            trailers.as_ref(),
            true,
        )
        .await?;
        let mut meta = meta_from_headers(
            input.content_type,
            input.content_encoding,
            input.cache_control,
            input.content_disposition,
            input.content_language,
            input.metadata,
        );
        meta.checksums = received.checksums.clone();
        let etag = hex::encode(&received.md5);
        let object = NewObject {
            key: input.key,
            size: received.size,
            etag: etag.clone(),
            meta,
            body: received.body,
        };
        let outcome = self.store(&input.bucket, object, cond).await?;
        let c = received.checksums;
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(strong(&etag)),
            version_id: outcome.version_id,
            checksum_crc32: c.crc32,
            checksum_crc32c: c.crc32c,
            checksum_crc64nvme: c.crc64nvme,
            checksum_sha1: c.sha1,
            checksum_sha256: c.sha256,
            ..Default::default()
        }))
    }

    async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        let input = req.input;
        let v = self.find_version(&input.bucket, &input.key, input.version_id.as_deref(), true)?;
        check_read_conditions(
            &v,
            input.if_match.as_ref(),
            input.if_unmodified_since.as_ref(),
            input.if_none_match.as_ref(),
            input.if_modified_since.as_ref(),
            false,
        )?;
        let (start, len, content_range) = resolve_range(input.range.as_ref(), v.size)?;
        let mut out = GetObjectOutput {
            body: Some(self.body_stream(&v, start, len)),
            content_length: Some(i64::try_from(len).unwrap_or(i64::MAX)),
            accept_ranges: Some("bytes".to_owned()),
            e_tag: Some(strong(&v.etag)),
            last_modified: Some(timestamp(v.modified_ms)),
            metadata: user_metadata(&v.meta),
            content_type: v.meta.content_type.clone(),
            content_encoding: v.meta.content_encoding.clone(),
            cache_control: v.meta.cache_control.clone(),
            content_disposition: v.meta.content_disposition.clone(),
            content_language: v.meta.content_language.clone(),
            version_id: (v.version_id != objects::NULL_VERSION).then(|| v.version_id.clone()),
            parts_count: v.meta.parts.map(|n| n as i32),
            ..Default::default()
        };
        // S3 returns checksums for whole-object reads only.
        if checksum_enabled(input.checksum_mode.as_ref()) && content_range.is_none() {
            set_checksums_get(&mut out, &v.meta.checksums);
        }
        out.content_range = content_range;
        Ok(S3Response::new(out))
    }

    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        let input = req.input;
        let v = self.find_version(&input.bucket, &input.key, input.version_id.as_deref(), false)?;
        check_read_conditions(
            &v,
            input.if_match.as_ref(),
            input.if_unmodified_since.as_ref(),
            input.if_none_match.as_ref(),
            input.if_modified_since.as_ref(),
            false,
        )?;
        let (_, len, content_range) = resolve_range(input.range.as_ref(), v.size)?;
        let mut out = HeadObjectOutput {
            content_length: Some(i64::try_from(len).unwrap_or(i64::MAX)),
            accept_ranges: Some("bytes".to_owned()),
            e_tag: Some(strong(&v.etag)),
            last_modified: Some(timestamp(v.modified_ms)),
            metadata: user_metadata(&v.meta),
            content_type: v.meta.content_type.clone(),
            content_encoding: v.meta.content_encoding.clone(),
            cache_control: v.meta.cache_control.clone(),
            content_disposition: v.meta.content_disposition.clone(),
            content_language: v.meta.content_language.clone(),
            version_id: (v.version_id != objects::NULL_VERSION).then(|| v.version_id.clone()),
            parts_count: v.meta.parts.map(|n| n as i32),
            ..Default::default()
        };
        if checksum_enabled(input.checksum_mode.as_ref()) && content_range.is_none() {
            set_checksums_head(&mut out, &v.meta.checksums);
        }
        out.content_range = content_range;
        Ok(S3Response::new(out))
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let input = req.input;
        let (b, k, v, vid, now) = (
            input.bucket,
            input.key,
            input.version_id,
            self.new_id(32),
            self.now_ms(),
        );
        let outcome = self
            .write(move |c| objects::delete_object(c, &b, &k, v.as_deref(), &vid, now))
            .await
            .map_err(to_s3)?;
        self.blobs.remove(outcome.orphaned);
        Ok(S3Response::new(DeleteObjectOutput {
            delete_marker: outcome.delete_marker.then_some(true),
            version_id: outcome.version_id,
            ..Default::default()
        }))
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let input = req.input;
        self.require_bucket(&input.bucket)?;
        let quiet = input.delete.quiet.unwrap_or(false);
        let targets: Vec<(String, Option<String>, String)> = input
            .delete
            .objects
            .into_iter()
            .map(|o| (o.key, o.version_id, self.new_id(32)))
            .collect();
        if targets.len() > 1000 {
            return Err(s3_error!(
                MalformedXML,
                "The XML you provided was not well-formed or did not validate against our published schema"
            ));
        }
        let (b, now) = (input.bucket, self.now_ms());
        // One writer job for the whole batch: one commit.
        let results = self
            .write(move |c| {
                let mut results = Vec::with_capacity(targets.len());
                for (key, version, vid) in targets {
                    let r = objects::delete_object(c, &b, &key, version.as_deref(), &vid, now);
                    results.push((key, version, r));
                }
                Ok(results)
            })
            .await
            .map_err(to_s3)?;
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        for (key, requested_version, r) in results {
            match r {
                Ok(outcome) => {
                    self.blobs.remove(outcome.orphaned.clone());
                    if !quiet {
                        let marker_created = outcome.delete_marker && requested_version.is_none();
                        deleted.push(DeletedObject {
                            key: Some(key),
                            version_id: requested_version.clone(),
                            delete_marker: outcome.delete_marker.then_some(true),
                            delete_marker_version_id: if marker_created { outcome.version_id } else { None },
                        });
                    }
                }
                Err(e) => {
                    let e = to_s3(e);
                    errors.push(Error {
                        code: Some(e.code().as_str().to_owned()),
                        message: e.message().map(str::to_owned),
                        key: Some(key),
                        version_id: requested_version,
                    });
                }
            }
        }
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: (!errors.is_empty()).then_some(errors),
            ..Default::default()
        }))
    }

    async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
        let input = req.input;
        let (sb, sk, sv) = copy_source(&input.copy_source)?;
        let src = self.find_version(&sb, &sk, sv.as_deref(), true)?;
        check_read_conditions(
            &src,
            input.copy_source_if_match.as_ref(),
            input.copy_source_if_unmodified_since.as_ref(),
            input.copy_source_if_none_match.as_ref(),
            input.copy_source_if_modified_since.as_ref(),
            true,
        )?;
        let replace = input
            .metadata_directive
            .as_ref()
            .is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
        if sb == input.bucket && sk == input.key && sv.is_none() && !replace {
            return Err(s3_error!(
                InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."
            ));
        }
        self.require_bucket(&input.bucket)?;
        let received = self.copy_bytes(&src, 0, src.size, true).await?;
        let mut meta = if replace {
            meta_from_headers(
                input.content_type,
                input.content_encoding,
                input.cache_control,
                input.content_disposition,
                input.content_language,
                input.metadata,
            )
        } else {
            let mut m = src.meta.clone();
            m.parts = None;
            m
        };
        meta.checksums = received.checksums.clone();
        let etag = hex::encode(&received.md5);
        let object = NewObject {
            key: input.key,
            size: received.size,
            etag: etag.clone(),
            meta,
            body: received.body,
        };
        let outcome = self
            .store(&input.bucket, object, WriteCondition::default())
            .await?;
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(strong(&etag)),
                last_modified: Some(timestamp(self.now_ms())),
                ..Default::default()
            }),
            copy_source_version_id: (src.version_id != objects::NULL_VERSION).then_some(src.version_id),
            version_id: outcome.version_id,
            ..Default::default()
        }))
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        let url = wants_url(input.encoding_type.as_ref())?;
        let max = max_keys(input.max_keys)?;
        self.require_bucket(&input.bucket)?;
        let after = match &input.continuation_token {
            Some(t) => Some(token_decode(t)?),
            None => input.start_after.clone().filter(|s| !s.is_empty()),
        };
        let q = ListQuery {
            prefix: input.prefix.clone().unwrap_or_default(),
            delimiter: input.delimiter.clone().filter(|d| !d.is_empty()),
            after,
            max,
        };
        let b = input.bucket.clone();
        let page = self.read(move |c| objects::list_objects(c, &b, &q))?;
        let mut contents = Vec::new();
        let mut prefixes = Vec::new();
        let mut last = None;
        for e in &page.entries {
            match e {
                Entry::Item(v) => {
                    contents.push(object_entry(v, url));
                    last = Some(v.key.clone());
                }
                Entry::Prefix(p) => {
                    prefixes.push(CommonPrefix {
                        prefix: Some(encode(p, url)),
                    });
                    last = Some(p.clone());
                }
            }
        }
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: Some(encode(&input.prefix.unwrap_or_default(), url)),
            delimiter: input.delimiter.map(|d| encode(&d, url)),
            max_keys: Some(max as i32),
            key_count: Some(page.entries.len() as i32),
            is_truncated: Some(page.truncated),
            continuation_token: input.continuation_token,
            next_continuation_token: if page.truncated {
                last.map(|l| token_encode(&l))
            } else {
                None
            },
            start_after: input.start_after.map(|s| encode(&s, url)),
            encoding_type: input.encoding_type,
            contents: (!contents.is_empty()).then_some(contents),
            common_prefixes: (!prefixes.is_empty()).then_some(prefixes),
            ..Default::default()
        }))
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let input = req.input;
        let url = wants_url(input.encoding_type.as_ref())?;
        let max = max_keys(input.max_keys)?;
        self.require_bucket(&input.bucket)?;
        let q = ListQuery {
            prefix: input.prefix.clone().unwrap_or_default(),
            delimiter: input.delimiter.clone().filter(|d| !d.is_empty()),
            after: input.marker.clone().filter(|m| !m.is_empty()),
            max,
        };
        let b = input.bucket.clone();
        let page = self.read(move |c| objects::list_objects(c, &b, &q))?;
        let mut contents = Vec::new();
        let mut prefixes = Vec::new();
        let mut last = None;
        for e in &page.entries {
            match e {
                Entry::Item(v) => {
                    let mut o = object_entry(v, url);
                    o.owner = Some(owner());
                    contents.push(o);
                    last = Some(v.key.clone());
                }
                Entry::Prefix(p) => {
                    prefixes.push(CommonPrefix {
                        prefix: Some(encode(p, url)),
                    });
                    last = Some(p.clone());
                }
            }
        }
        // "NextMarker … is returned only if you have the delimiter request parameter specified."
        let next_marker = if page.truncated && input.delimiter.as_deref().is_some_and(|d| !d.is_empty()) {
            last.map(|l| encode(&l, url))
        } else {
            None
        };
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(input.bucket),
            prefix: Some(encode(&input.prefix.unwrap_or_default(), url)),
            delimiter: input.delimiter.map(|d| encode(&d, url)),
            marker: Some(encode(&input.marker.unwrap_or_default(), url)),
            max_keys: Some(max as i32),
            is_truncated: Some(page.truncated),
            next_marker,
            encoding_type: input.encoding_type,
            contents: (!contents.is_empty()).then_some(contents),
            common_prefixes: (!prefixes.is_empty()).then_some(prefixes),
            ..Default::default()
        }))
    }

    async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        let input = req.input;
        let url = wants_url(input.encoding_type.as_ref())?;
        let max = max_keys(input.max_keys)?;
        self.require_bucket(&input.bucket)?;
        let q = VersionsQuery {
            prefix: input.prefix.clone().unwrap_or_default(),
            delimiter: input.delimiter.clone().filter(|d| !d.is_empty()),
            key_marker: input.key_marker.clone().filter(|m| !m.is_empty()),
            version_marker: input.version_id_marker.clone(),
            max,
        };
        let b = input.bucket.clone();
        let page = self.read(move |c| objects::list_versions(c, &b, &q))?;
        let mut versions = Vec::new();
        let mut markers = Vec::new();
        let mut prefixes = Vec::new();
        let mut last: Option<(String, Option<String>)> = None;
        for e in page.entries {
            match e {
                Entry::Item(v) => {
                    last = Some((v.key.clone(), Some(v.version_id.clone())));
                    if v.delete_marker {
                        markers.push(DeleteMarkerEntry {
                            is_latest: Some(v.is_latest),
                            key: Some(encode(&v.key, url)),
                            last_modified: Some(timestamp(v.modified_ms)),
                            owner: Some(owner()),
                            version_id: Some(v.version_id),
                        });
                    } else {
                        versions.push(s3s::dto::ObjectVersion {
                            e_tag: Some(strong(&v.etag)),
                            is_latest: Some(v.is_latest),
                            key: Some(encode(&v.key, url)),
                            last_modified: Some(timestamp(v.modified_ms)),
                            owner: Some(owner()),
                            size: Some(i64::try_from(v.size).unwrap_or(i64::MAX)),
                            storage_class: Some(ObjectVersionStorageClass::from_static(
                                ObjectVersionStorageClass::STANDARD,
                            )),
                            version_id: Some(v.version_id),
                            ..Default::default()
                        });
                    }
                }
                Entry::Prefix(p) => {
                    last = Some((p.clone(), None));
                    prefixes.push(CommonPrefix {
                        prefix: Some(encode(&p, url)),
                    });
                }
            }
        }
        let (next_key, next_version) = match (page.truncated, last) {
            (true, Some((k, v))) => (Some(encode(&k, url)), v),
            _ => (None, None),
        };
        Ok(S3Response::new(ListObjectVersionsOutput {
            name: Some(input.bucket),
            prefix: Some(encode(&input.prefix.unwrap_or_default(), url)),
            delimiter: input.delimiter.map(|d| encode(&d, url)),
            key_marker: Some(encode(&input.key_marker.unwrap_or_default(), url)),
            version_id_marker: Some(input.version_id_marker.unwrap_or_default()),
            max_keys: Some(max as i32),
            is_truncated: Some(page.truncated),
            next_key_marker: next_key,
            next_version_id_marker: next_version,
            encoding_type: input.encoding_type,
            versions: (!versions.is_empty()).then_some(versions),
            delete_markers: (!markers.is_empty()).then_some(markers),
            common_prefixes: (!prefixes.is_empty()).then_some(prefixes),
            ..Default::default()
        }))
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let input = req.input;
        let meta = meta_from_headers(
            input.content_type,
            input.content_encoding,
            input.cache_control,
            input.content_disposition,
            input.content_language,
            input.metadata,
        );
        let upload = Upload {
            upload_id: self.new_id(64),
            bucket: input.bucket.clone(),
            key: input.key.clone(),
            initiated_ms: self.now_ms(),
            meta,
        };
        let id = upload.upload_id.clone();
        self.write(move |c| objects::create_upload(c, &upload))
            .await
            .map_err(to_s3)?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(id),
            checksum_algorithm: input.checksum_algorithm,
            ..Default::default()
        }))
    }

    async fn upload_part(&self, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
        let trailers = req.extensions.get::<Trailers>().cloned();
        let plan = Plan::from_headers(&req.headers)?;
        let input = req.input;
        if !(1..=MAX_PART_NUMBER).contains(&input.part_number) {
            return Err(s3_error!(
                InvalidArgument,
                "Part number must be an integer between 1 and 10000, inclusive"
            ));
        }
        self.require_upload(&input.bucket, &input.key, &input.upload_id)?;
        let received = receive(
            &self.blobs,
            input.body,
            input.content_length,
            plan,
            trailers.as_ref(),
            false,
        )
        .await?;
        let etag = hex::encode(&received.md5);
        self.store_part(
            &input.bucket,
            &input.key,
            &input.upload_id,
            input.part_number,
            &etag,
            received,
        )
        .await
        .map(|c| {
            S3Response::new(UploadPartOutput {
                e_tag: Some(strong(&etag)),
                checksum_crc32: c.crc32,
                checksum_crc32c: c.crc32c,
                checksum_crc64nvme: c.crc64nvme,
                checksum_sha1: c.sha1,
                checksum_sha256: c.sha256,
                ..Default::default()
            })
        })
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let input = req.input;
        if !(1..=MAX_PART_NUMBER).contains(&input.part_number) {
            return Err(s3_error!(
                InvalidArgument,
                "Part number must be an integer between 1 and 10000, inclusive"
            ));
        }
        self.require_upload(&input.bucket, &input.key, &input.upload_id)?;
        let (sb, sk, sv) = copy_source(&input.copy_source)?;
        let src = self.find_version(&sb, &sk, sv.as_deref(), true)?;
        check_read_conditions(
            &src,
            input.copy_source_if_match.as_ref(),
            input.copy_source_if_unmodified_since.as_ref(),
            input.copy_source_if_none_match.as_ref(),
            input.copy_source_if_modified_since.as_ref(),
            true,
        )?;
        let (start, len) = match input.copy_source_range.as_deref() {
            None => (0, src.size),
            Some(r) => {
                let range = Range::parse(r).map_err(|_| {
                    s3_error!(InvalidArgument, "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy")
                })?;
                let r = range.check(src.size)?;
                (r.start, r.end - r.start)
            }
        };
        let received = self.copy_bytes(&src, start, len, false).await?;
        let etag = hex::encode(&received.md5);
        self.store_part(
            &input.bucket,
            &input.key,
            &input.upload_id,
            input.part_number,
            &etag,
            received,
        )
        .await?;
        Ok(S3Response::new(UploadPartCopyOutput {
            copy_part_result: Some(CopyPartResult {
                e_tag: Some(strong(&etag)),
                last_modified: Some(timestamp(self.now_ms())),
                ..Default::default()
            }),
            copy_source_version_id: (src.version_id != objects::NULL_VERSION).then_some(src.version_id),
            ..Default::default()
        }))
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let input = req.input;
        let cond = write_condition(input.if_match.as_ref(), input.if_none_match.as_ref())?;
        let named: Vec<StoredCompletedPart> = input
            .multipart_upload
            .and_then(|m| m.parts)
            .unwrap_or_default()
            .into_iter()
            .map(|p| StoredCompletedPart {
                part_number: p.part_number.unwrap_or(0),
                etag: p.e_tag.map(ETag::into_value).unwrap_or_default(),
            })
            .collect();
        let (b, k, u, vid, now) = (
            input.bucket.clone(),
            input.key.clone(),
            input.upload_id,
            self.new_id(32),
            self.now_ms(),
        );
        let completed = self
            .write(move |c| {
                objects::complete_upload(c, &b, &k, &u, &named, &cond, &vid, now, |parts, meta| {
                    // The multipart ETag: the MD5 of the parts' MD5s, then `-` and the number of parts.
                    let mut digests = Vec::with_capacity(parts.len() * 16);
                    for p in parts {
                        digests.extend(hex::decode(&p.etag).unwrap_or_default());
                    }
                    let sums: Vec<&Checksums> = parts.iter().map(|p| &p.checksums).collect();
                    meta.checksums = checksum::composite(&sums);
                    format!("{}-{}", hex::encode(checksum::md5(&digests)), parts.len())
                })
            })
            .await
            .map_err(to_s3)?;
        self.blobs.remove(completed.outcome.orphaned.clone());
        let c = completed.meta.checksums;
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            bucket: Some(input.bucket.clone()),
            key: Some(input.key.clone()),
            location: Some(format!("/{}/{}", input.bucket, input.key)),
            e_tag: Some(strong(&completed.etag)),
            version_id: completed.outcome.version_id,
            checksum_crc32: c.crc32,
            checksum_crc32c: c.crc32c,
            checksum_crc64nvme: c.crc64nvme,
            checksum_sha1: c.sha1,
            checksum_sha256: c.sha256,
            ..Default::default()
        }))
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let input = req.input;
        self.require_upload(&input.bucket, &input.key, &input.upload_id)?;
        let u = input.upload_id;
        let orphaned = self
            .write(move |c| objects::abort_upload(c, &u))
            .await
            .map_err(to_s3)?;
        self.blobs.remove(orphaned);
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }

    async fn list_parts(&self, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
        let input = req.input;
        self.require_upload(&input.bucket, &input.key, &input.upload_id)?;
        let max = match input.max_parts {
            Some(n) if n < 0 => return Err(s3_error!(InvalidArgument, "max-parts must be non-negative")),
            Some(n) => n.min(MAX_KEYS) as usize,
            None => MAX_KEYS as usize,
        };
        let after: i32 = input.part_number_marker.unwrap_or(0);
        let u = input.upload_id.clone();
        let mut parts = self.read(move |c| objects::parts(c, &u, after, max + 1))?;
        let truncated = parts.len() > max;
        parts.truncate(max);
        let next = parts.last().map(|p| p.part_number);
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            max_parts: Some(max as i32),
            is_truncated: Some(truncated),
            part_number_marker: input.part_number_marker,
            next_part_number_marker: if truncated { next } else { None },
            owner: Some(owner()),
            parts: Some(
                parts
                    .into_iter()
                    .map(|p| Part {
                        e_tag: Some(strong(&p.etag)),
                        last_modified: Some(timestamp(p.modified_ms)),
                        part_number: Some(p.part_number),
                        size: Some(i64::try_from(p.size).unwrap_or(i64::MAX)),
                        checksum_crc32: p.checksums.crc32,
                        checksum_crc32c: p.checksums.crc32c,
                        checksum_crc64nvme: p.checksums.crc64nvme,
                        checksum_sha1: p.checksums.sha1,
                        checksum_sha256: p.checksums.sha256,
                    })
                    .collect(),
            ),
            ..Default::default()
        }))
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let input = req.input;
        let url = wants_url(input.encoding_type.as_ref())?;
        self.require_bucket(&input.bucket)?;
        let max = match input.max_uploads {
            Some(n) if n < 0 => return Err(s3_error!(InvalidArgument, "max-uploads must be non-negative")),
            Some(n) => n.min(MAX_KEYS) as usize,
            None => MAX_KEYS as usize,
        };
        let (b, prefix, km, um) = (
            input.bucket.clone(),
            input.prefix.clone().unwrap_or_default(),
            input.key_marker.clone().filter(|m| !m.is_empty()),
            input.upload_id_marker.clone().filter(|m| !m.is_empty()),
        );
        let mut uploads =
            self.read(move |c| objects::uploads(c, &b, &prefix, km.as_deref(), um.as_deref(), max + 1))?;
        let truncated = uploads.len() > max;
        uploads.truncate(max);
        let last = uploads.last().map(|u| (u.key.clone(), u.upload_id.clone()));
        let (next_key, next_upload) = match (truncated, last) {
            (true, Some((k, u))) => (Some(encode(&k, url)), Some(u)),
            _ => (None, None),
        };
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: input.prefix.map(|p| encode(&p, url)),
            key_marker: input.key_marker.map(|k| encode(&k, url)),
            upload_id_marker: input.upload_id_marker,
            max_uploads: Some(max as i32),
            is_truncated: Some(truncated),
            next_key_marker: next_key,
            next_upload_id_marker: next_upload,
            encoding_type: input.encoding_type,
            uploads: Some(
                uploads
                    .into_iter()
                    .map(|u| MultipartUpload {
                        key: Some(encode(&u.key, url)),
                        upload_id: Some(u.upload_id),
                        initiated: Some(timestamp(u.initiated_ms)),
                        owner: Some(owner()),
                        storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }))
    }
}

impl S3Backend {
    fn require_upload(&self, bucket: &str, key: &str, upload_id: &str) -> S3Result<Upload> {
        let (b, k, u) = (bucket.to_owned(), key.to_owned(), upload_id.to_owned());
        match self.read(move |c| objects::upload(c, &b, &k, &u))? {
            Some(up) => Ok(up),
            None => {
                self.require_bucket(bucket)?;
                Err(to_s3(ObjectsError::NoSuchUpload))
            }
        }
    }

    async fn store_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part_number: i32,
        etag: &str,
        received: Received,
    ) -> S3Result<Checksums> {
        let BodyRef::Files(files) = &received.body else {
            return Err(internal("a part was kept inline"));
        };
        let Some((file, _)) = files.first().cloned() else {
            return Err(internal("a part has no body file"));
        };
        let part = objects::Part {
            part_number,
            size: received.size,
            etag: etag.to_owned(),
            modified_ms: self.now_ms(),
            checksums: received.checksums.clone(),
            file: file.clone(),
        };
        let (b, k, u) = (bucket.to_owned(), key.to_owned(), upload_id.to_owned());
        match self.write(move |c| objects::put_part(c, &b, &k, &u, &part)).await {
            Ok(replaced) => {
                self.blobs.remove(replaced);
                Ok(received.checksums)
            }
            Err(e) => {
                self.blobs.remove(vec![file]);
                Err(to_s3(e))
            }
        }
    }
}
