//! Receiving a body: stream it, hash it (MD5 for the ETag, the checksums the request asks for), keep it in
//! memory while it is small and spill it to a body file once it is not. Memory per upload is bounded by
//! [`INLINE_MAX`] plus one network frame, whatever the body's size.

use bytes::Bytes;
use futures_util::StreamExt as _;
use s3s::dto::StreamingBlob;
use s3s::{s3_error, S3Error};

use super::blobs::{BlobStore, BlobWriter};
use super::body::{BodyError, Trailers};
use super::checksum::{Md5Hasher, Plan};
use crate::storage::objects::{BodyRef, Checksums};

/// Bodies up to this size are stored inline in their metadata row (one SQLite write, no file); larger ones
/// go to a body file.
pub const INLINE_MAX: usize = 64 * 1024;

/// A received, checked body.
#[derive(Debug)]
pub struct Received {
    /// Its size.
    pub size: u64,
    /// Its MD5.
    pub md5: Vec<u8>,
    /// The checksums computed (and checked against the request's claims).
    pub checksums: Checksums,
    /// Where its bytes are: inline, or a finished (durable) body file that the caller must record.
    pub body: BodyRef,
}

/// Reads `body` to its end. `expected` is the request's `Content-Length` (decoded length for
/// `aws-chunked`); `inline` allows keeping a small body in memory (parts always go to a file).
pub async fn receive(
    blobs: &BlobStore,
    body: Option<StreamingBlob>,
    expected: Option<i64>,
    mut plan: Plan,
    trailers: Option<&Trailers>,
    inline: bool,
) -> Result<Received, S3Error> {
    let mut md5 = Md5Hasher::default();
    let mut size: u64 = 0;
    let mut buffer: Vec<u8> = Vec::new();
    let mut file: Option<BlobWriter> = None;
    if !inline || expected.is_some_and(|n| n > INLINE_MAX as i64) {
        file = Some(blobs.create().await.map_err(internal)?);
    }
    if let Some(mut body) = body {
        while let Some(chunk) = body.next().await {
            let chunk: Bytes = chunk.map_err(body_error)?;
            md5.update(&chunk);
            plan.update(&chunk);
            size += chunk.len() as u64;
            match file.as_mut() {
                Some(f) => f.write(&chunk).await.map_err(internal)?,
                None if buffer.len() + chunk.len() <= INLINE_MAX => buffer.extend_from_slice(&chunk),
                None => {
                    let mut f = blobs.create().await.map_err(internal)?;
                    f.write(&buffer).await.map_err(internal)?;
                    f.write(&chunk).await.map_err(internal)?;
                    buffer = Vec::new();
                    file = Some(f);
                }
            }
        }
    }
    if let Some(expected) = expected {
        if u64::try_from(expected).ok() != Some(size) {
            return Err(s3_error!(
                IncompleteBody,
                "You did not provide the number of bytes specified by the Content-Length HTTP header."
            ));
        }
    }
    let md5 = md5.finish();
    let checksums = plan.finish(&md5, trailers)?;
    let body = match file {
        Some(f) => BodyRef::Files(vec![(f.finish().await.map_err(internal)?, size)]),
        None => BodyRef::Inline(buffer),
    };
    Ok(Received {
        size,
        md5,
        checksums,
        body,
    })
}

/// An unexpected failure: `InternalError`, with the cause logged.
pub fn internal(e: impl std::fmt::Display) -> S3Error {
    tracing::error!(error = %e, "S3 request failed");
    s3_error!(
        InternalError,
        "We encountered an internal error. Please try again."
    )
}

fn body_error(e: s3s::StdError) -> S3Error {
    match e.downcast_ref::<BodyError>() {
        Some(BodyError::Chunked(c)) => s3_error!(InvalidRequest, "{c}"),
        Some(BodyError::Length { .. }) => s3_error!(IncompleteBody, "{e}"),
        _ => s3_error!(IncompleteBody, "The request body ended before its end: {e}"),
    }
}
