//! Test support: a real `ddbrep-emu` on an ephemeral loopback port, and SDK clients pointed at it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use ddbrep_emu::{Emulator, EmulatorBuilder, Running};

/// A running emulator with clients.
pub struct TestEmu {
    pub running: Running,
    pub ddb: aws_sdk_dynamodb::Client,
    pub streams: aws_sdk_dynamodbstreams::Client,
}

/// Starts an emulator with a throwaway database.
pub async fn start() -> TestEmu {
    start_with(Emulator::builder().seed(7)).await
}

/// Starts an emulator from a builder.
pub async fn start_with(builder: EmulatorBuilder) -> TestEmu {
    let emu = builder.open().expect("emulator opens");
    attach(&emu).await
}

/// Serves an opened emulator and connects clients to it.
pub async fn attach(emu: &Emulator) -> TestEmu {
    let running = emu.spawn_local().await.expect("emulator listens");
    let endpoint = running.endpoint();
    let creds = Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
    let ddb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&endpoint)
            .credentials_provider(creds.clone())
            .build(),
    );
    let streams = aws_sdk_dynamodbstreams::Client::from_conf(
        aws_sdk_dynamodbstreams::Config::builder()
            .behavior_version(aws_sdk_dynamodbstreams::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodbstreams::config::Region::new("us-east-1"))
            .endpoint_url(&endpoint)
            .credentials_provider(creds)
            .build(),
    );
    TestEmu {
        running,
        ddb,
        streams,
    }
}

/// `AttributeValue::S`.
pub fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

/// `AttributeValue::N`.
pub fn n(v: &str) -> AttributeValue {
    AttributeValue::N(v.to_owned())
}

/// An attribute definition.
pub fn attr(name: &str, ty: ScalarAttributeType) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ty)
        .build()
        .expect("valid definition")
}

/// A key schema element.
pub fn key_elem(name: &str, key_type: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .expect("valid key element")
}

/// Creates an on-demand table with a partition key `pk` and, optionally, a sort key `sk`.
pub async fn create_table(
    ddb: &aws_sdk_dynamodb::Client,
    name: &str,
    pk: (&str, ScalarAttributeType),
    sk: Option<(&str, ScalarAttributeType)>,
) {
    let mut req = ddb
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr(pk.0, pk.1))
        .key_schema(key_elem(pk.0, KeyType::Hash));
    if let Some((name, ty)) = sk {
        req = req
            .attribute_definitions(attr(name, ty))
            .key_schema(key_elem(name, KeyType::Range));
    }
    req.send().await.expect("create table");
}

/// The error code of an SDK error (`ValidationException`, …), and its message.
pub fn error_of<E, R>(e: &aws_sdk_dynamodb::error::SdkError<E, R>) -> (String, String)
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    let meta = match e {
        aws_sdk_dynamodb::error::SdkError::ServiceError(se) => se.err(),
        other => panic!("not a service error: {other:?}"),
    };
    (
        meta.code().unwrap_or_default().to_owned(),
        meta.message().unwrap_or_default().to_owned(),
    )
}

/// An aws-sdk-s3 client for a running emulator, with the SDK's defaults (checksums in aws-chunked
/// trailers). Path style (`http://127.0.0.1:PORT/bucket/key`) when `path_style`, else virtual-host style
/// (`http://bucket.localhost:PORT/key`), which [`LoopbackSubdomains`] routes to the emulator.
pub fn s3_client(running: &Running, path_style: bool) -> aws_sdk_s3::Client {
    let creds = Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
    let builder = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(creds);
    let builder = if path_style {
        builder.endpoint_url(running.endpoint()).force_path_style(true)
    } else {
        builder
            .endpoint_url(format!("http://localhost:{}", running.addr().port()))
            .interceptor(LoopbackSubdomains)
    };
    aws_sdk_s3::Client::from_conf(builder.build())
}

/// Sends `bucket.localhost:PORT` requests to 127.0.0.1 with the `Host` header kept, as a resolver that knows
/// `*.localhost` would (this machine's does not).
#[derive(Debug)]
pub struct LoopbackSubdomains;

impl aws_sdk_s3::config::Intercept for LoopbackSubdomains {
    fn name(&self) -> &'static str {
        "LoopbackSubdomains"
    }

    fn modify_before_transmit(
        &self,
        ctx: &mut aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextMut<'_>,
        _rc: &aws_sdk_s3::config::RuntimeComponents,
        _cfg: &mut aws_sdk_s3::config::ConfigBag,
    ) -> Result<(), aws_sdk_s3::error::BoxError> {
        let req = ctx.request_mut();
        let uri: http::Uri = req.uri().parse()?;
        let authority = uri.authority().ok_or("no authority")?.as_str().to_owned();
        let port = uri.port_u16().ok_or("no port")?;
        let pq = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        req.headers_mut().insert("host", authority);
        req.set_uri(format!("http://127.0.0.1:{port}{pq}"))?;
        Ok(())
    }
}

/// The S3 error code of an SDK error (`NoSuchKey`, …) and the HTTP status.
pub fn s3_error<E>(
    e: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> (String, u16)
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::fmt::Debug,
{
    match e {
        aws_sdk_s3::error::SdkError::ServiceError(se) => (
            se.err().code().unwrap_or_default().to_owned(),
            se.raw().status().as_u16(),
        ),
        other => panic!("not a service error: {other:?}"),
    }
}

/// One raw HTTP/1.1 exchange (`Connection: close`): the status, the headers (lower-case names) and the body.
pub async fn raw_http(
    addr: std::net::SocketAddr,
    request_head: &str,
    body: &[u8],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request_head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await.unwrap();
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&out[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, out[split + 4..].to_vec())
}
