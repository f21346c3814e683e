//! The real `bootstrap` binary against a minimal Lambda Runtime API (our own small server speaking
//! `/2018-06-01/runtime/invocation/next` and `/response`), fed the original's fixture events, writing to a
//! real `ddbrep-emu`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use bytes::Bytes;
use ddbrep::drive::convert::item_from_sdk;
use ddbrep_emu::Emulator;
use ddbrep_engine::backup_key;
use ddbrep_engine::codec::ddb_json;
use ddbrep_engine::model::{KeySchema, ScalarType};
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::sync::Notify;

const EVENTS: [&str; 5] = [
    "insert.json",
    "insert-modify.json",
    "insert-modify-delete.json",
    "adjust-many.json",
    "insert-buffer.json",
];

/// The package directory, read when the test runs: `env!` would bake in the path of the checkout that
/// compiled the test, which a build cache shared between checkouts (CI's clones) would reuse.
fn package_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn fixture(name: &str) -> String {
    let path: PathBuf = package_dir().join(
        [
            "..",
            "..",
            "shared",
            "reference",
            "original-fixtures",
            "events",
            name,
        ]
        .iter()
        .collect::<PathBuf>(),
    );
    std::fs::read_to_string(path).unwrap()
}

/// The Runtime API's state: events to hand out, and what came back.
#[derive(Default)]
struct Api {
    queue: Mutex<VecDeque<(String, String)>>,
    responses: Mutex<Vec<(String, String)>>,
    errors: Mutex<Vec<String>>,
    answered: Notify,
}

async fn serve(
    api: Arc<Api>,
    req: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let body = String::from_utf8_lossy(&body).into_owned();
    if method == hyper::Method::GET && path == "/2018-06-01/runtime/invocation/next" {
        let next = api.queue.lock().unwrap().pop_front();
        let Some((id, event)) = next else {
            // Nothing more: hold the long poll, as Lambda does between invocations.
            std::future::pending::<()>().await;
            unreachable!()
        };
        let deadline = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
            + 60_000;
        return Ok(Response::builder()
            .header("lambda-runtime-aws-request-id", id)
            .header("lambda-runtime-deadline-ms", deadline.to_string())
            .header(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:replicator",
            )
            .header(
                "lambda-runtime-trace-id",
                "Root=1-00000000-000000000000000000000000",
            )
            .body(Full::new(Bytes::from(event)))
            .unwrap());
    }
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        ["2018-06-01", "runtime", "invocation", id, "response"] => {
            api.responses.lock().unwrap().push(((*id).to_owned(), body));
        }
        ["2018-06-01", "runtime", "invocation", id, "error"] => {
            api.errors.lock().unwrap().push(format!("{id}: {body}"));
        }
        _ => api
            .errors
            .lock()
            .unwrap()
            .push(format!("{method} {path}: {body}")),
    }
    api.answered.notify_one();
    Ok(Response::builder()
        .status(202)
        .body(Full::new(Bytes::new()))
        .unwrap())
}

async fn runtime_api(events: &[String]) -> (Arc<Api>, std::net::SocketAddr) {
    let api = Arc::new(Api::default());
    for (i, e) in events.iter().enumerate() {
        api.queue
            .lock()
            .unwrap()
            .push_back((format!("request-{i}"), e.clone()));
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = api.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let api = served.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| serve(api.clone(), req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (api, addr)
}

/// Runs `bootstrap` as a function with `handler` until it has answered every event; returns the responses
/// (in order) and its stdout.
async fn run_function(handler: &str, vars: &[(&str, String)], events: &[String]) -> (Vec<String>, String) {
    let (api, addr) = runtime_api(events).await;
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_bootstrap"));
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "replicator")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("_HANDLER", handler)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("bootstrap starts");
    let all = async {
        loop {
            let notified = api.answered.notified();
            if api.responses.lock().unwrap().len() + api.errors.lock().unwrap().len() >= events.len() {
                break;
            }
            notified.await;
        }
    };
    let finished = tokio::time::timeout(Duration::from_secs(120), all).await;
    child.start_kill().unwrap();
    let out = child.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        finished.is_ok(),
        "the function did not answer every event; stderr:\n{stderr}"
    );
    let errors = api.errors.lock().unwrap().clone();
    assert!(errors.is_empty(), "invocation errors: {errors:?}\n{stderr}");
    let mut responses = api.responses.lock().unwrap().clone();
    responses.sort();
    (
        responses.into_iter().map(|(_, body)| body).collect(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_bootstrap_binary_serves_the_runtime_api_for_both_handlers() {
    let emu = Emulator::builder().seed(3).open().unwrap();
    let running = emu.spawn_local().await.unwrap();
    let endpoint = running.endpoint();
    // The same SDK clients the tools and handlers build (a loopback endpoint gets dummy credentials).
    let connection = ddbrep::drive::aws::Connection {
        endpoint_url: Some(endpoint.clone()),
        region: Some("us-east-1".into()),
        profile: None,
    };
    let ddb = ddbrep::drive::aws::dynamodb(None, None, &connection).await;
    let s3 = ddbrep::drive::aws::s3(None, &connection).await;
    ddb.create_table()
        .table_name("replica")
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    s3.create_bucket().bucket("backups").send().await.unwrap();
    let events: Vec<String> = EVENTS.iter().map(|e| fixture(e)).collect();

    // replicate, configured as for the original (`index.replicate`, ReplicaEndpoint).
    let vars = [
        ("ReplicaTable", "replica".to_owned()),
        ("ReplicaEndpoint", endpoint.clone()),
    ];
    let (responses, stdout) = run_function("index.replicate", &vars, &events).await;
    assert_eq!(responses.len(), EVENTS.len());
    for r in &responses {
        assert_eq!(r, r#"{"batchItemFailures":[]}"#);
    }
    // One Embedded Metric Format line per invocation.
    let emf: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v.get("_aws").is_some())
        .collect();
    assert_eq!(emf.len(), EVENTS.len(), "{stdout}");
    assert_eq!(emf[0]["Handler"], "replicate");
    let scan = ddb
        .scan()
        .table_name("replica")
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    let mut items: Vec<String> = scan
        .items()
        .iter()
        .map(|i| ddb_json::item_to_string(&item_from_sdk(i).unwrap()))
        .collect();
    items.sort();
    assert_eq!(items.len(), 3, "{items:?}");
    assert!(
        items[0].contains(r#""bufferSet":{"BS":["aGVsbG8="]}"#),
        "{items:?}"
    );
    assert!(items[1].contains(r#""range":{"N":"22"}"#), "{items:?}");
    assert!(items[2].contains(r#""range":{"N":"33"}"#), "{items:?}");

    // backup, with the endpoint from AWS_ENDPOINT_URL as any SDK takes it.
    let vars = [
        ("BackupBucket", "backups".to_owned()),
        ("BackupPrefix", "inc".to_owned()),
        ("AWS_ENDPOINT_URL", endpoint.clone()),
    ];
    let (responses, _) = run_function("index.backup", &vars, &events).await;
    assert!(
        responses.iter().all(|r| r == r#"{"batchItemFailures":[]}"#),
        "{responses:?}"
    );
    let schema = KeySchema::partition_only("id", ScalarType::S);
    let key = schema
        .parse_key(&ddb_json::parse_item(r#"{"id":{"S":"record-1"}}"#).unwrap())
        .unwrap();
    let object = s3
        .get_object()
        .bucket("backups")
        .key(backup_key::object_key("inc", "fake", &key))
        .send()
        .await
        .unwrap();
    let body = object.body.collect().await.unwrap().into_bytes();
    let fixture_image = r#"{"range":{"N":"1"},"id":{"S":"record-1"},"val":{"B":"aGVsbG8="},"map":{"M":{"prop":{"B":"aGVsbG8="}}},"list":{"L":[{"S":"string"},{"B":"aGVsbG8="}]},"bufferSet":{"BS":["aGVsbG8="]}}"#;
    assert_eq!(std::str::from_utf8(&body).unwrap(), fixture_image);
}
