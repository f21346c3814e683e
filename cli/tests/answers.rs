//! Scan and BatchGetItem answers go through the engine's decoder (`ddbrep::drive::answer`) while the SDK
//! keeps the request, its retries and its typed errors. A scripted server answers each request in turn
//! with what a test gives it, so errors, retries and odd answers happen on purpose.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use ddbrep::drive::aws::Connection;
use ddbrep::drive::dynamo::DynamoTable;
use ddbrep_engine::codec::ddb_json;
use ddbrep_engine::io::{StoreError, TableOp, TableResult};
use ddbrep_engine::model::{KeySchema, ScalarType};
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;

/// Answers the n-th request with the n-th (status, body), and records each request's `X-Amz-Target`.
struct Script {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
}

async fn script(answers: Vec<(u16, &'static str)>) -> Script {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let answers = Arc::new(Mutex::new(answers.into_iter()));
    tokio::spawn(async move {
        loop {
            let (io, _) = listener.accept().await.unwrap();
            let (log, answers) = (Arc::clone(&log), Arc::clone(&answers));
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let (log, answers) = (Arc::clone(&log), Arc::clone(&answers));
                    async move {
                        let target = req.headers()["x-amz-target"].to_str().unwrap().to_owned();
                        req.into_body().collect().await.unwrap();
                        log.lock().unwrap().push(target);
                        let (status, body) = answers.lock().unwrap().next().expect("a scripted answer");
                        let response = http::Response::builder()
                            .status(status)
                            .header("content-type", "application/x-amz-json-1.0")
                            .body(Full::new(Bytes::from_static(body.as_bytes())))
                            .unwrap();
                        Ok::<_, std::convert::Infallible>(response)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(io), svc)
                    .await;
            });
        }
    });
    Script { addr, seen }
}

impl Script {
    async fn table(&self) -> DynamoTable {
        let connection = Connection {
            endpoint_url: Some(format!("http://{}", self.addr)),
            region: Some("us-east-1".into()),
            profile: None,
        };
        DynamoTable {
            client: ddbrep::drive::aws::dynamodb(None, None, &connection).await,
            name: "tbl".into(),
            schema: KeySchema::composite("id", ScalarType::S, "n", ScalarType::N),
            meter: None,
        }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

fn scan() -> TableOp {
    TableOp::Scan {
        segment: 0,
        total_segments: 1,
        start: None,
        limit: None,
        consistent: false,
    }
}

const INTERNAL: &str =
    r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"Internal server error"}"#;

/// Attributes out of name order at two levels, a 38-digit number, binary, sets, a list.
const PAGE: &str = concat!(
    r#"{"Count":1,"Items":[{"z":{"M":{"y":{"N":"-1.5"},"b":{"BS":["AQ==","Ag=="]}}},"n":{"N":"12345678901234567890123456789012345678"},"#,
    r#""id":{"S":"é\n"},"l":{"L":[{"M":{"q":{"NULL":true},"p":{"SS":["x","y"]}}},{"B":"AAEC"}]}}],"#,
    r#""LastEvaluatedKey":{"n":{"N":"1"},"id":{"S":"a"}},"ScannedCount":1}"#
);

#[tokio::test]
async fn a_scan_page_is_decoded_exactly_after_the_sdk_retries_a_server_error() {
    let server = script(vec![(500, INTERNAL), (200, PAGE)]).await;
    let table = server.table().await;
    let TableResult::Page { items, last_key } = table.call(scan()).await.unwrap() else {
        panic!("not a page");
    };
    // The SDK's own retry ran (two requests); the answer that came back is the second's, decoded.
    assert_eq!(server.seen(), ["DynamoDB_20120810.Scan"; 2]);
    assert_eq!(items.len(), 1);
    assert_eq!(
        ddb_json::item_to_string(&items[0]),
        concat!(
            r#"{"id":{"S":"é\n"},"l":{"L":[{"M":{"p":{"SS":["x","y"]},"q":{"NULL":true}}},{"B":"AAEC"}]},"#,
            r#""n":{"N":"12345678901234567890123456789012345678"},"z":{"M":{"b":{"BS":["AQ==","Ag=="]},"y":{"N":"-1.5"}}}}"#
        ),
        "attributes in name order at every level, values exact"
    );
    assert_eq!(
        ddb_json::item_to_string(&last_key.unwrap()),
        r#"{"id":{"S":"a"},"n":{"N":"1"}}"#
    );
}

#[tokio::test]
async fn error_answers_keep_the_sdks_typed_errors() {
    let missing = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"Requested resource not found"}"#;
    let invalid =
        r#"{"__type":"com.amazon.coral.validate#ValidationException","message":"1 validation error"}"#;
    let server = script(vec![(400, missing), (400, invalid)]).await;
    let table = server.table().await;
    match table.call(scan()).await {
        Err(StoreError::Fatal(m)) => {
            assert!(
                m.contains("Scan tbl") && m.contains("ResourceNotFoundException"),
                "{m}"
            );
        }
        other => panic!("{other:?}"),
    }
    let keys = vec![table
        .schema
        .parse_key(&ddb_json::parse_item(r#"{"id":{"S":"a"},"n":{"N":"1"}}"#).unwrap())
        .unwrap()];
    match table
        .call(TableOp::BatchGet {
            keys,
            consistent: false,
        })
        .await
    {
        Err(StoreError::Rejected(m)) => assert!(m.contains("BatchGetItem tbl"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_batch_get_answer_gives_its_items_and_its_unprocessed_keys() {
    let answer = concat!(
        r#"{"Responses":{"tbl":[{"n":{"N":"1"},"id":{"S":"a"},"v":{"NS":["2","1"]}}]},"#,
        r#""UnprocessedKeys":{"tbl":{"Keys":[{"n":{"N":"2.0"},"id":{"S":"b"}}],"ConsistentRead":true}}}"#
    );
    let server = script(vec![(200, answer)]).await;
    let table = server.table().await;
    let keys = ["a", "b"]
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let text = format!(r#"{{"id":{{"S":"{id}"}},"n":{{"N":"{}"}}}}"#, i + 1);
            table
                .schema
                .parse_key(&ddb_json::parse_item(&text).unwrap())
                .unwrap()
        })
        .collect::<Vec<_>>();
    let TableResult::Items { items, unprocessed } = table
        .call(TableOp::BatchGet {
            keys: keys.clone(),
            consistent: true,
        })
        .await
        .unwrap()
    else {
        panic!("not items");
    };
    assert_eq!(
        ddb_json::item_to_string(&items[0]),
        r#"{"id":{"S":"a"},"n":{"N":"1"},"v":{"NS":["2","1"]}}"#
    );
    assert_eq!(
        unprocessed,
        keys[1..],
        "the key comes back as the schema's key, its number normalised"
    );
}

#[tokio::test]
async fn an_answer_that_breaks_a_dynamodb_rule_is_an_error_that_says_where() {
    let server = script(vec![
        (
            200,
            r#"{"Items":[{"id":{"S":"a"},"n":{"N":"1"},"tags":{"SS":["x","x"]}}]}"#,
        ),
        (200, r#"{"Items":[{"id":{"S":"a"}"#),
    ])
    .await;
    let table = server.table().await;
    match table.call(scan()).await {
        Err(StoreError::Fatal(m)) => {
            assert!(
                m.starts_with("table tbl: an unreadable Scan answer: tags.SS[1]: duplicate value"),
                "{m}"
            );
        }
        other => panic!("{other:?}"),
    }
    match table.call(scan()).await {
        Err(StoreError::Fatal(m)) => assert!(m.contains("unreadable Scan answer: EOF"), "{m}"),
        other => panic!("{other:?}"),
    }
}
