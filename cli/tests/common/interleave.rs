//! An interleaving proxy: the `ddbrep` binary talks to the emulator through it, and after the emulator has
//! answered a request (so the tool's read has happened) and before the tool receives the answer (so its
//! write has not), a test hook may act, e.g. write newer state the way a live application and handler
//! would. That makes "a live write lands between the tool's read and its write" happen on purpose, every
//! run, instead of by luck. The proxy only holds answers back; the emulator, the binary and the SDK are
//! the real ones.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// A request the emulator has answered, as the hook sees it.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub method: http::Method,
    /// Path and query, e.g. `/backups/inc/primary/ab12…` or `/backups?versions&prefix=…`.
    pub path_and_query: String,
    /// `X-Amz-Target` of a DynamoDB / Streams call, e.g. `DynamoDB_20120810.BatchGetItem`.
    pub target: Option<String>,
    pub request_body: Bytes,
    pub status: http::StatusCode,
}

impl Exchange {
    /// The DynamoDB operation name (`BatchGetItem`), if this was a DynamoDB call.
    pub fn operation(&self) -> Option<&str> {
        self.target
            .as_deref()
            .and_then(|t| t.split_once('.'))
            .map(|(_, op)| op)
    }

    /// A query parameter's value, percent-decoded.
    pub fn query(&self, name: &str) -> Option<String> {
        let (_, query) = self.path_and_query.split_once('?')?;
        query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == name).then(|| percent_decode(v))
        })
    }

    /// The path without its query, percent-decoded.
    pub fn path(&self) -> String {
        percent_decode(self.path_and_query.split('?').next().unwrap_or(""))
    }
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// What runs between the emulator's answer and the tool's receiving it.
pub type Hook = Arc<dyn Fn(Exchange) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// A running proxy; dropping it stops accepting.
pub struct Proxy {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `127.0.0.1:PORT/table`: a table location that goes through the proxy.
    pub fn table(&self, name: &str) -> String {
        format!("{}/{name}", self.addr)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Forwards every request to `upstream`, running `hook` on each answered one before passing it on.
pub async fn start(upstream: SocketAddr, hook: Hook) -> Proxy {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let task = tokio::spawn(async move {
        loop {
            let Ok((io, _)) = listener.accept().await else {
                continue;
            };
            let client = client.clone();
            let hook = Arc::clone(&hook);
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    forward(client.clone(), upstream, Arc::clone(&hook), req)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(io), svc)
                    .await;
            });
        }
    });
    Proxy { addr, task }
}

async fn forward(
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    upstream: SocketAddr,
    hook: Hook,
    req: http::Request<hyper::body::Incoming>,
) -> Result<http::Response<Full<Bytes>>, std::convert::Infallible> {
    let (mut parts, body) = req.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".into());
    let exchange_head = (
        parts.method.clone(),
        path_and_query.clone(),
        parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    );
    parts.headers.remove(http::header::EXPECT);
    parts.uri = format!("http://{upstream}{path_and_query}").parse().unwrap();
    let answer = client
        .request(http::Request::from_parts(parts, Full::new(body.clone())))
        .await
        .unwrap();
    let (mut head, answer_body) = answer.into_parts();
    let answer_body = answer_body.collect().await.unwrap().to_bytes();
    let (method, path_and_query, target) = exchange_head;
    hook(Exchange {
        method,
        path_and_query,
        target,
        request_body: body,
        status: head.status,
    })
    .await;
    // The body goes back whole, with its length.
    head.headers.remove(http::header::TRANSFER_ENCODING);
    head.headers.remove(http::header::CONNECTION);
    Ok(http::Response::from_parts(head, Full::new(answer_body)))
}
