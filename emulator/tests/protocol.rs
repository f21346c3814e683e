//! The wire protocol itself, with hand-written HTTP where an SDK would refuse to send the input: bad JSON,
//! unknown targets, oversized and gzip'd bodies, and the response headers SDKs check.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write as _;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends one HTTP/1.1 request and returns (status, headers, body).
async fn raw(
    addr: std::net::SocketAddr,
    target: Option<&str>,
    extra_headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut head = format!("POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
    if let Some(target) = target {
        head.push_str(&format!("X-Amz-Target: {target}\r\n"));
    }
    for (k, v) in extra_headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let headers = String::from_utf8_lossy(&response[..split]).to_string();
    let status: u16 = headers.split(' ').nth(1).unwrap().parse().unwrap();
    (status, headers, response[split + 4..].to_vec())
}

fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)))
}

#[tokio::test]
async fn responses_carry_crc32_and_request_id() {
    let t = common::start().await;
    let (status, headers, body) =
        raw(t.running.addr(), Some("DynamoDB_20120810.ListTables"), &[], b"{}").await;
    assert_eq!(status, 200);
    let lower = headers.to_ascii_lowercase();
    let crc_line = lower.lines().find(|l| l.starts_with("x-amz-crc32:")).unwrap();
    let crc: u32 = crc_line.split(':').nth(1).unwrap().trim().parse().unwrap();
    assert_eq!(crc, crc32fast::hash(&body));
    assert!(lower.contains("x-amzn-requestid:"));
    assert_eq!(json(&body), serde_json::json!({"TableNames": []}));
}

#[tokio::test]
async fn bad_requests_get_awss_error_shapes() {
    let t = common::start().await;
    let addr = t.running.addr();
    let (status, _, body) = raw(addr, Some("DynamoDB_20120810.ListTables"), &[], b"{not json").await;
    assert_eq!(status, 400);
    assert_eq!(
        json(&body)["__type"],
        "com.amazon.coral.service#SerializationException"
    );

    let (status, _, body) = raw(addr, Some("DynamoDB_20120810.Frobnicate"), &[], b"{}").await;
    assert_eq!(status, 400);
    assert_eq!(
        json(&body)["__type"],
        "com.amazon.coral.service#UnknownOperationException"
    );

    let (status, _, body) = raw(
        addr,
        Some("DynamoDB_20120810.PutItem"),
        &[],
        br#"{"TableName":"nope","Item":{"id":{"S":"a"}}}"#,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        json(&body)["__type"],
        "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException"
    );

    let (status, _, body) = raw(
        addr,
        Some("DynamoDB_20120810.CreateTable"),
        &[],
        br#"{"TableName":5}"#,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        json(&body)["__type"],
        "com.amazon.coral.service#SerializationException"
    );

    let huge = vec![b' '; ddbrep_emu::server::MAX_BODY_BYTES + 1];
    let (status, _, _) = raw(addr, Some("DynamoDB_20120810.ListTables"), &[], &huge).await;
    assert_eq!(status, 413);
}

#[tokio::test]
async fn gzip_request_bodies_are_accepted() {
    let t = common::start().await;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(br#"{"Limit": 5}"#).unwrap();
    let body = gz.finish().unwrap();
    let (status, _, out) = raw(
        t.running.addr(),
        Some("DynamoDB_20120810.ListTables"),
        &[("Content-Encoding", "gzip")],
        &body,
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&out));
    let (status, _, out) = raw(
        t.running.addr(),
        Some("DynamoDB_20120810.ListTables"),
        &[("Content-Encoding", "gzip")],
        b"not gzip",
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        json(&out)["__type"],
        "com.amazon.coral.service#SerializationException"
    );
}

#[tokio::test]
async fn the_account_in_arns_comes_from_the_access_key() {
    let t = common::start().await;
    let create = br#"{"TableName":"acct","BillingMode":"PAY_PER_REQUEST","AttributeDefinitions":[{"AttributeName":"id","AttributeType":"S"}],"KeySchema":[{"AttributeName":"id","KeyType":"HASH"}]}"#;
    let auth = "AWS4-HMAC-SHA256 Credential=123456789012/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=00";
    let (status, _, body) = raw(
        t.running.addr(),
        Some("DynamoDB_20120810.CreateTable"),
        &[("Authorization", auth)],
        create,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        json(&body)["TableDescription"]["TableArn"],
        "arn:aws:dynamodb:us-east-1:123456789012:table/acct"
    );
}

#[tokio::test]
async fn large_responses_are_gzipped_for_clients_that_accept_it() {
    let t = common::start().await;
    for i in 0..40 {
        common::create_table(
            &t.ddb,
            &format!("a-rather-long-table-name-{i:03}"),
            ("id", aws_sdk_dynamodb::types::ScalarAttributeType::S),
            None,
        )
        .await;
    }
    let (status, headers, body) = raw(
        t.running.addr(),
        Some("DynamoDB_20120810.ListTables"),
        &[("Accept-Encoding", "gzip, deflate")],
        b"{}",
    )
    .await;
    assert_eq!(status, 200);
    let lower = headers.to_ascii_lowercase();
    assert!(lower.contains("content-encoding: gzip"), "{headers}");
    let crc_line = lower.lines().find(|l| l.starts_with("x-amz-crc32:")).unwrap();
    let crc: u32 = crc_line.split(':').nth(1).unwrap().trim().parse().unwrap();
    assert_eq!(
        crc,
        crc32fast::hash(&body),
        "the CRC covers the compressed bytes, as DynamoDB's does"
    );
    let mut plain = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&body[..]), &mut plain).unwrap();
    assert_eq!(json(&plain)["TableNames"].as_array().unwrap().len(), 40);

    let (_, headers, body) = raw(t.running.addr(), Some("DynamoDB_20120810.ListTables"), &[], b"{}").await;
    assert!(!headers.to_ascii_lowercase().contains("content-encoding"));
    assert_eq!(json(&body)["TableNames"].as_array().unwrap().len(), 40);
}
