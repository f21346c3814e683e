//! Where a job's `Action::Emit` bytes go.
//!
//! - [`GzipObjects`]: each stream is one gzip'd S3 object (a dump segment, a snapshot). Compressed bytes
//!   collect in a buffer; once it holds a part's worth, the object becomes a multipart upload and the
//!   part goes up, so memory per stream is one part however large the table. An object smaller than one
//!   part is a single PutObject. Nothing is visible until [`Sink::finish`]; [`Sink::abort`] removes the
//!   parts of an unfinished upload.
//! - [`WriterSink`]: every stream to one writer (stdout for history).

use std::collections::BTreeMap;
use std::future::Future;
use std::io::Write as _;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use flate2::write::GzEncoder;
use flate2::Compression;

use super::errors::describe;

/// A failed output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SinkError(pub String);

/// Receives a job's output streams.
pub trait Sink: Send {
    /// Appends bytes to a stream.
    fn write(&mut self, stream: u32, bytes: Vec<u8>) -> impl Future<Output = Result<(), SinkError>> + Send;
    /// Completes every stream (each declared stream exists afterwards, even an empty one).
    fn finish(&mut self) -> impl Future<Output = Result<(), SinkError>> + Send;
    /// Gives up: nothing half-written stays visible.
    fn abort(&mut self) -> impl Future<Output = ()> + Send;
}

/// Drops everything (for jobs that emit nothing).
#[derive(Debug, Default)]
pub struct NoSink;

impl Sink for NoSink {
    async fn write(&mut self, stream: u32, _: Vec<u8>) -> Result<(), SinkError> {
        Err(SinkError(format!(
            "output stream {stream} emitted by a job that has none"
        )))
    }
    async fn finish(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
    async fn abort(&mut self) {}
}

/// Every stream to one writer.
pub struct WriterSink<W: std::io::Write + Send>(pub W);

impl<W: std::io::Write + Send> Sink for WriterSink<W> {
    async fn write(&mut self, _: u32, bytes: Vec<u8>) -> Result<(), SinkError> {
        self.0
            .write_all(&bytes)
            .map_err(|e| SinkError(format!("writing output: {e}")))
    }
    async fn finish(&mut self) -> Result<(), SinkError> {
        self.0
            .flush()
            .map_err(|e| SinkError(format!("writing output: {e}")))
    }
    async fn abort(&mut self) {
        let _ = self.0.flush();
    }
}

/// Size of one multipart part (S3 wants ≥ 5 MiB for all but the last).
pub const PART_SIZE: usize = 8 * 1024 * 1024;

/// Room past a part's size in a stream's buffer, for the write that fills it (a write is a page's worth,
/// compressed). Reserved once, so the buffer never grows by copying itself: a growing `Vec` holds its old
/// and new storage at once while it copies, which at part size is megabytes of peak memory per stream.
/// Reserved but unwritten memory is not resident.
const PART_SLACK: usize = 1024 * 1024;

struct GzObject {
    key: String,
    gzip: Option<GzEncoder<Vec<u8>>>,
    upload_id: Option<String>,
    parts: Vec<CompletedPart>,
    bytes_in: u64,
    bytes_out: u64,
}

/// What one finished object holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectWritten {
    /// Its key.
    pub key: String,
    /// Bytes before compression.
    pub bytes_in: u64,
    /// Bytes stored (compressed).
    pub bytes_out: u64,
}

/// Streams as gzip'd objects in one bucket.
pub struct GzipObjects {
    client: Client,
    bucket: String,
    part_size: usize,
    encryption: Option<Encryption>,
    objects: BTreeMap<u32, GzObject>,
}

/// Server-side encryption of written objects (`x-amz-server-side-encryption`, and the KMS key for
/// `aws:kms`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encryption {
    /// `AES256`, `aws:kms` or `aws:kms:dsse`.
    pub algorithm: String,
    /// `SSEKMSKeyId`.
    pub kms_key_id: Option<String>,
}

impl Encryption {
    /// The original's environment: `ServerSideEncryption` (default `AES256`, as its backup-table sent) and
    /// `SSEKMSKeyId`.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Encryption {
        let var = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        Encryption {
            algorithm: var("ServerSideEncryption").unwrap_or_else(|| "AES256".to_owned()),
            kms_key_id: var("SSEKMSKeyId"),
        }
    }

    fn sse(&self) -> aws_sdk_s3::types::ServerSideEncryption {
        aws_sdk_s3::types::ServerSideEncryption::from(self.algorithm.as_str())
    }
}

impl GzipObjects {
    /// `streams` maps each stream number to its object key.
    pub fn new(
        client: Client,
        bucket: impl Into<String>,
        streams: impl IntoIterator<Item = (u32, String)>,
    ) -> GzipObjects {
        GzipObjects {
            client,
            bucket: bucket.into(),
            part_size: PART_SIZE,
            encryption: None,
            objects: streams
                .into_iter()
                .map(|(stream, key)| {
                    (
                        stream,
                        GzObject {
                            key,
                            gzip: Some(GzEncoder::new(Vec::new(), Compression::default())),
                            upload_id: None,
                            parts: Vec::new(),
                            bytes_in: 0,
                            bytes_out: 0,
                        },
                    )
                })
                .collect(),
        }
    }

    /// Encrypt the objects (PutObject and CreateMultipartUpload carry the settings).
    #[must_use]
    pub fn with_encryption(mut self, encryption: Option<Encryption>) -> GzipObjects {
        self.encryption = encryption;
        self
    }

    /// A smaller part size (≥ 5 MiB on S3; the emulator takes less), for tests.
    #[must_use]
    pub fn with_part_size(mut self, bytes: usize) -> GzipObjects {
        self.part_size = bytes.max(1);
        self
    }

    /// The objects and their sizes, after [`Sink::finish`].
    pub fn written(&self) -> Vec<ObjectWritten> {
        self.objects
            .values()
            .map(|o| ObjectWritten {
                key: o.key.clone(),
                bytes_in: o.bytes_in,
                bytes_out: o.bytes_out,
            })
            .collect()
    }

    async fn upload_part(
        client: &Client,
        bucket: &str,
        encryption: Option<&Encryption>,
        o: &mut GzObject,
        body: Vec<u8>,
    ) -> Result<(), SinkError> {
        let at = |what: &str, e: String| SinkError(format!("{what} s3://{bucket}/{}: {e}", o.key));
        let upload_id = match &o.upload_id {
            Some(id) => id.clone(),
            None => {
                let created = client
                    .create_multipart_upload()
                    .bucket(bucket)
                    .key(&o.key)
                    .set_server_side_encryption(encryption.map(Encryption::sse))
                    .set_ssekms_key_id(encryption.and_then(|e| e.kms_key_id.clone()))
                    .send()
                    .await
                    .map_err(|e| at("CreateMultipartUpload", describe(&e)))?;
                let id = created
                    .upload_id
                    .ok_or_else(|| at("CreateMultipartUpload", "no UploadId in the answer".into()))?;
                o.upload_id = Some(id.clone());
                id
            }
        };
        let number = i32::try_from(o.parts.len() + 1).unwrap_or(i32::MAX);
        o.bytes_out += body.len() as u64;
        let part = client
            .upload_part()
            .bucket(bucket)
            .key(&o.key)
            .upload_id(&upload_id)
            .part_number(number)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| at("UploadPart", describe(&e)))?;
        o.parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(part.e_tag)
                .build(),
        );
        Ok(())
    }
}

impl Sink for GzipObjects {
    async fn write(&mut self, stream: u32, bytes: Vec<u8>) -> Result<(), SinkError> {
        let part_size = self.part_size;
        let Some(o) = self.objects.get_mut(&stream) else {
            return Err(SinkError(format!("no output object for stream {stream}")));
        };
        let Some(gzip) = o.gzip.as_mut() else {
            return Err(SinkError(format!(
                "s3://{}/{}: written after finish",
                self.bucket, o.key
            )));
        };
        o.bytes_in += bytes.len() as u64;
        let buffer = gzip.get_mut();
        let room = part_size.saturating_add(PART_SLACK);
        if buffer.capacity() < room {
            buffer.reserve_exact(room - buffer.len());
        }
        gzip.write_all(&bytes)
            .map_err(|e| SinkError(format!("compressing s3://{}/{}: {e}", self.bucket, o.key)))?;
        if gzip.get_ref().len() >= part_size {
            let body = std::mem::take(gzip.get_mut());
            Self::upload_part(&self.client, &self.bucket, self.encryption.as_ref(), o, body).await?;
        }
        Ok(())
    }

    async fn finish(&mut self) -> Result<(), SinkError> {
        for o in self.objects.values_mut() {
            let Some(gzip) = o.gzip.take() else { continue };
            let rest = gzip
                .finish()
                .map_err(|e| SinkError(format!("compressing s3://{}/{}: {e}", self.bucket, o.key)))?;
            let bucket = self.bucket.as_str();
            match o.upload_id.clone() {
                None => {
                    o.bytes_out += rest.len() as u64;
                    let encryption = self.encryption.as_ref();
                    self.client
                        .put_object()
                        .bucket(bucket)
                        .key(&o.key)
                        .set_server_side_encryption(encryption.map(Encryption::sse))
                        .set_ssekms_key_id(encryption.and_then(|e| e.kms_key_id.clone()))
                        .body(ByteStream::from(rest))
                        .send()
                        .await
                        .map_err(|e| {
                            SinkError(format!("PutObject s3://{bucket}/{}: {}", o.key, describe(&e)))
                        })?;
                }
                Some(upload_id) => {
                    if !rest.is_empty() {
                        Self::upload_part(&self.client, bucket, self.encryption.as_ref(), o, rest).await?;
                    }
                    self.client
                        .complete_multipart_upload()
                        .bucket(bucket)
                        .key(&o.key)
                        .upload_id(upload_id)
                        .multipart_upload(
                            CompletedMultipartUpload::builder()
                                .set_parts(Some(std::mem::take(&mut o.parts)))
                                .build(),
                        )
                        .send()
                        .await
                        .map_err(|e| {
                            SinkError(format!(
                                "CompleteMultipartUpload s3://{bucket}/{}: {}",
                                o.key,
                                describe(&e)
                            ))
                        })?;
                    o.upload_id = None;
                }
            }
        }
        Ok(())
    }

    async fn abort(&mut self) {
        for o in self.objects.values_mut() {
            o.gzip = None;
            if let Some(upload_id) = o.upload_id.take() {
                let aborted = self
                    .client
                    .abort_multipart_upload()
                    .bucket(&self.bucket)
                    .key(&o.key)
                    .upload_id(upload_id)
                    .send()
                    .await;
                if let Err(e) = aborted {
                    tracing::warn!(key = %o.key, error = %describe(&e), "could not abort a multipart upload");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_streams_buffer_is_reserved_once_and_never_regrows() {
        let client = Client::from_conf(
            aws_sdk_s3::Config::builder()
                .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
                .region(aws_sdk_s3::config::Region::new("us-east-1"))
                .build(),
        );
        let part = 256 * 1024;
        let mut sink = GzipObjects::new(client, "bucket", [(0, "dump".to_owned())]).with_part_size(part);
        // Incompressible bytes (xorshift), so the compressed buffer fills; stay under one part (no upload).
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut buffered = 0;
        while buffered < part / 2 {
            let chunk: Vec<u8> = (0..4096)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x.to_le_bytes()[0]
                })
                .collect();
            sink.write(0, chunk).await.unwrap();
            let gzip = sink.objects[&0].gzip.as_ref().unwrap();
            buffered = gzip.get_ref().len();
            assert_eq!(
                gzip.get_ref().capacity(),
                part + PART_SLACK,
                "at {buffered} bytes"
            );
        }
    }
}
