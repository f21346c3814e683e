//! The HTTP front: an accept loop generic over the listener, HTTP/1.1 and HTTP/2 by hyper, and dispatch:
//! a POST with `X-Amz-Target` goes to DynamoDB or Streams, anything else to S3 (`crate::s3`).
//!
//! The listener is a trait so the same server runs on tokio's TCP for real and on a simulated network in the
//! simulation; nothing here names a concrete socket type except the tokio implementation of the trait.

use std::convert::Infallible;
use std::future::Future;
use std::io::Read as _;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::dynamodb::error::{DdbError, ErrorCode};
use crate::dynamodb::{self, Service};
use crate::pipeline::Pipelines;
use crate::s3::S3;

/// A response body: DynamoDB's, whole; S3's, streamed.
type ResponseBody = Either<Full<Bytes>, s3s::Body>;

/// Largest request body accepted (DynamoDB's largest request, BatchWriteItem, is 16 MB of items; JSON and
/// base64 add to that).
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// A source of connections: tokio's TCP listener, or a simulated one.
pub trait Listener: Send + 'static {
    /// A connection.
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// Waits for the next connection.
    fn accept(&mut self) -> impl Future<Output = std::io::Result<(Self::Io, SocketAddr)>> + Send;
}

impl Listener for tokio::net::TcpListener {
    type Io = tokio::net::TcpStream;
    async fn accept(&mut self) -> std::io::Result<(Self::Io, SocketAddr)> {
        let (stream, addr) = tokio::net::TcpListener::accept(self).await?;
        let _ = stream.set_nodelay(true);
        Ok((stream, addr))
    }
}

/// Serves connections from `listener` until `shutdown` completes, then waits for requests in flight.
pub async fn serve<L: Listener>(
    dynamodb: Arc<Service>,
    s3: Arc<S3>,
    pipelines: Arc<Pipelines>,
    mut listener: L,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (io, _peer) = match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        continue;
                    }
                };
                let service = Arc::clone(&dynamodb);
                let s3 = Arc::clone(&s3);
                let pipelines = Arc::clone(&pipelines);
                let svc = hyper::service::service_fn(move |req| {
                    dispatch(Arc::clone(&service), Arc::clone(&s3), Arc::clone(&pipelines), req)
                });
                let conn = builder.serve_connection(TokioIo::new(io), svc).into_owned();
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    graceful.shutdown().await;
}

/// The path of the stream pipelines' status (`_` is not allowed in bucket names, so no S3 path is taken).
pub const PIPELINES_STATUS_PATH: &str = "/_ddbrep/pipelines";

/// DynamoDB and Streams requests are POSTs with `X-Amz-Target`; `GET /_ddbrep/pipelines` is the pipelines'
/// status; everything else is S3.
async fn dispatch(
    dynamodb: Arc<Service>,
    s3: Arc<S3>,
    pipelines: Arc<Pipelines>,
    req: Request<Incoming>,
) -> Result<Response<ResponseBody>, Infallible> {
    if req.method() == http::Method::GET && req.uri().path() == PIPELINES_STATUS_PATH {
        return Ok(pipelines_status(&pipelines).map(Either::Left));
    }
    let target = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match target {
        Some(target) if req.method() == http::Method::POST => {
            Ok(handle(dynamodb, target, req).await.map(Either::Left))
        }
        _ => Ok(s3.handle(req).await.map(Either::Right)),
    }
}

async fn handle(dynamodb: Arc<Service>, target: String, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let request_id = dynamodb.rng.string(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 52);
    let account = account_from_authorization(req.headers());
    let gzip = req
        .headers()
        .get(http::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    let accepts_gzip = req
        .headers()
        .get_all(http::header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            coding
                .split(';')
                .next()
                .is_some_and(|c| c.trim().eq_ignore_ascii_case("gzip"))
        });
    let (status, body) = match read_body(req.into_body(), gzip).await {
        Ok(body) => dynamodb.handle(&target, account, &body).await,
        Err(e) => (e.code.status(), dynamodb::error_body(&e)),
    };
    // DynamoDB gzips large responses for clients that accept it, and its CRC32 covers the bytes sent.
    let (body, compressed) = if accepts_gzip && body.len() >= GZIP_RESPONSE_THRESHOLD {
        match gzip_bytes(&body) {
            Some(packed) => (packed, true),
            None => (body, false),
        }
    } else {
        (body, false)
    };
    let crc = crc32fast::hash(&body);
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        headers.insert("x-amzn-requestid", v);
    }
    headers.insert("x-amz-crc32", HeaderValue::from(crc));
    if compressed {
        headers.insert(http::header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

fn pipelines_status(pipelines: &Pipelines) -> Response<Full<Bytes>> {
    let (status, body) = match pipelines.status() {
        Ok(json) => (
            StatusCode::OK,
            serde_json::to_vec_pretty(&json).unwrap_or_default(),
        ),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            serde_json::to_vec(&serde_json::json!({ "error": e.to_string() })).unwrap_or_default(),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Responses at least this large are gzip'd for clients that send `Accept-Encoding: gzip`. AWS compresses
/// "above a certain threshold" it does not document; smaller bodies gain nothing from compression.
pub const GZIP_RESPONSE_THRESHOLD: usize = 1024;

fn gzip_bytes(body: &[u8]) -> Option<Vec<u8>> {
    use std::io::Write as _;
    let mut encoder =
        flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 4), flate2::Compression::fast());
    encoder.write_all(body).ok()?;
    encoder.finish().ok()
}

async fn read_body(body: Incoming, gzip: bool) -> Result<Bytes, DdbError> {
    let too_large = || {
        DdbError::new(
            ErrorCode::RequestEntityTooLarge,
            format!("Request must be smaller than {MAX_BODY_BYTES} bytes"),
        )
    };
    let bytes = Limited::new(body, MAX_BODY_BYTES)
        .collect()
        .await
        .map_err(|_| too_large())?
        .to_bytes();
    if !gzip {
        return Ok(bytes);
    }
    let mut out = Vec::new();
    let mut decoder = flate2::read::GzDecoder::new(&bytes[..]).take(MAX_BODY_BYTES as u64 + 1);
    decoder
        .read_to_end(&mut out)
        .map_err(|e| DdbError::serialization(format!("Request body is not valid gzip: {e}")))?;
    if out.len() > MAX_BODY_BYTES {
        return Err(too_large());
    }
    Ok(Bytes::from(out))
}

/// The account of a request: the SigV4 access key id when it is 12 digits (so tests can pick accounts),
/// else `000000000000`, as other local emulators do. Signatures are parsed, never verified.
pub fn account_from_authorization(headers: &HeaderMap) -> String {
    const DEFAULT: &str = "000000000000";
    let Some(auth) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return DEFAULT.into();
    };
    let key_id = auth
        .split_once("Credential=")
        .and_then(|(_, rest)| rest.split('/').next())
        .unwrap_or_default();
    if key_id.len() == 12 && key_id.bytes().all(|b| b.is_ascii_digit()) {
        key_id.to_owned()
    } else {
        DEFAULT.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_comes_from_a_twelve_digit_access_key() {
        let mut h = HeaderMap::new();
        assert_eq!(account_from_authorization(&h), "000000000000");
        h.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_static("AWS4-HMAC-SHA256 Credential=123456789012/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=abc"),
        );
        assert_eq!(account_from_authorization(&h), "123456789012");
        h.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_static(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/dynamodb/aws4_request",
            ),
        );
        assert_eq!(account_from_authorization(&h), "000000000000");
    }
}
