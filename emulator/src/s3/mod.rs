//! S3 on the emulator's port: the front that makes any client's request acceptable to s3s, s3s (routing,
//! XML, DTOs, S3's errors) and our backend behind its trait.
//!
//! # Why a front
//! s3s verifies every signature it sees (an auth provider only supplies secret keys), but the emulator
//! accepts any credentials. So the front removes the signature (the `Authorization` header, presigned-URL
//! query parameters) and s3s serves the request anonymously. s3s unwraps `aws-chunked` bodies only inside
//! its signature check, so the front decodes them itself ([`body::ChunkedBody`]), as they stream, keeping
//! the trailers for the checksum check, and restores the headers a plain body would have had
//! (`Content-Length` from `x-amz-decoded-content-length`, `Content-Encoding` without `aws-chunked`).
//!
//! # Layout
//! `chunked` (the aws-chunked parser, no I/O) · `body` (its streaming adapter, trailers) · `checksum`
//! (Content-MD5 and x-amz-checksum-*) · `upload` (receiving a body: hash, inline or spill to a file) ·
//! `blobs` (body files) · `service` (the operations) · `host` (virtual-host-style bucket names).
//! SQL lives in `storage::objects`.

pub mod blobs;
pub mod body;
pub mod checksum;
pub mod chunked;
pub mod host;
pub mod service;
pub mod upload;

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;

use self::blobs::BlobStore;
use self::body::{ChunkedBody, Trailers};
use crate::clock::{Clock, Rng};
use crate::storage::Storage;

/// The S3 side of the emulator.
pub struct S3 {
    service: s3s::service::S3Service,
}

/// S3 settings.
#[derive(Debug, Clone)]
pub struct S3Config {
    /// The host name under which `bucket.<domain>` is virtual-host style (default `localhost`).
    pub domain: String,
    /// The region buckets report.
    pub region: String,
}

impl S3 {
    /// The S3 service over `storage` (metadata) and `blobs` (bodies).
    pub fn new(
        storage: Arc<Storage>,
        blobs: Arc<BlobStore>,
        clock: Arc<dyn Clock>,
        rng: Arc<Rng>,
        config: S3Config,
    ) -> S3 {
        let backend = service::S3Backend::new(storage, blobs, clock, rng, config.region);
        let mut builder = s3s::service::S3ServiceBuilder::new(backend);
        builder.set_host(host::DomainHost::new(&config.domain));
        S3 {
            service: builder.build(),
        }
    }

    /// Serves one request.
    pub async fn handle(&self, req: Request<Incoming>) -> Response<s3s::Body> {
        let req = prepare(req);
        match self.service.call(req).await {
            Ok(response) => response,
            Err(e) => {
                tracing::error!(error = ?e, "s3s failed to answer");
                internal_error()
            }
        }
    }
}

/// Makes a request from any client acceptable to s3s without a signature check (see the module header).
pub fn prepare(req: Request<Incoming>) -> Request<s3s::Body> {
    let (mut parts, body) = req.into_parts();
    let headers = &mut parts.headers;
    headers.remove(http::header::AUTHORIZATION);
    if let Some(uri) = strip_presigned_query(&parts.uri) {
        parts.uri = uri;
    }
    let sha = headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let encodings: Vec<String> = headers
        .get(http::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let chunked =
        sha.starts_with("STREAMING-") || encodings.iter().any(|e| e.eq_ignore_ascii_case("aws-chunked"));
    headers.remove("x-amz-content-sha256");
    if !chunked {
        return Request::from_parts(parts, s3s::Body::from(body));
    }
    let decoded_len = headers
        .get("x-amz-decoded-content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    headers.remove("x-amz-decoded-content-length");
    match decoded_len {
        Some(n) => {
            headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(n));
        }
        None => {
            headers.remove(http::header::CONTENT_LENGTH);
        }
    }
    let rest: Vec<&str> = encodings
        .iter()
        .map(String::as_str)
        .filter(|e| !e.eq_ignore_ascii_case("aws-chunked"))
        .collect();
    match HeaderValue::from_str(&rest.join(",")) {
        Ok(v) if !rest.is_empty() => {
            headers.insert(http::header::CONTENT_ENCODING, v);
        }
        _ => {
            headers.remove(http::header::CONTENT_ENCODING);
        }
    }
    let trailers = Trailers::default();
    parts.extensions.insert(trailers.clone());
    let body = s3s::Body::http_body_unsync(ChunkedBody::new(body, decoded_len, trailers));
    Request::from_parts(parts, body)
}

/// The URI without presigned-URL signature parameters (`X-Amz-*` of SigV4, `Signature`/`AWSAccessKeyId`/
/// `Expires` of SigV2), or `None` when it has none.
fn strip_presigned_query(uri: &http::Uri) -> Option<http::Uri> {
    let query = uri.query()?;
    let is_sig = |pair: &str| {
        let name = pair.split('=').next().unwrap_or_default();
        name.len() > 6 && name[..6].eq_ignore_ascii_case("x-amz-") && !name.eq_ignore_ascii_case("x-amz-id")
            || matches!(name, "Signature" | "AWSAccessKeyId")
    };
    if !query.split('&').any(is_sig) {
        return None;
    }
    let sigv2 = query.split('&').any(|p| p.starts_with("Signature="));
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| !(is_sig(p) || sigv2 && p.starts_with("Expires=")))
        .collect();
    let path = uri.path();
    let pq = if kept.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", kept.join("&"))
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = pq.parse().ok();
    http::Uri::from_parts(parts).ok()
}

fn internal_error() -> Response<s3s::Body> {
    let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>";
    let mut response = Response::new(s3s::Body::from(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presigned_signature_parameters_are_removed_and_others_kept() {
        let uri: http::Uri =
            "/b/k?versionId=v1&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=abc&X-Amz-Credential=x"
                .parse()
                .unwrap();
        assert_eq!(
            strip_presigned_query(&uri).unwrap().to_string(),
            "/b/k?versionId=v1"
        );
        let plain: http::Uri = "/b?list-type=2&prefix=a".parse().unwrap();
        assert!(strip_presigned_query(&plain).is_none());
    }
}
