//! Durability: a real `ddbrep-emu` process killed with SIGKILL in the middle of a write load loses no
//! acknowledged write, and a restart serves the same data.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};

/// Starts the binary on an ephemeral port; returns the process and its endpoint.
fn spawn(db: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ddbrep-emu"))
        .args(["--listen", "127.0.0.1:0", "--log", "warn", "--db"])
        .arg(db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let endpoint = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_owned();
    (child, endpoint)
}

fn client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .credentials_provider(Credentials::new("a", "b", None, None, "test"))
            .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
            .build(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_mid_load_loses_no_acknowledged_write() {
    let dir = std::env::temp_dir().join(format!("ddbrep-crash-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("crash.sqlite");
    let (mut child, endpoint) = spawn(&db);
    let ddb = client(&endpoint);
    ddb.create_table()
        .table_name("durable")
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

    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let (enough_tx, enough_rx) = tokio::sync::watch::channel(false);
    let mut writers = Vec::new();
    for w in 0..8 {
        let ddb = ddb.clone();
        let acked = Arc::clone(&acked);
        let enough_tx = enough_tx.clone();
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let id = format!("w{w}-{i}");
                let put = ddb
                    .put_item()
                    .table_name("durable")
                    .item("id", AttributeValue::S(id.clone()))
                    .send()
                    .await;
                if put.is_err() {
                    return; // the server is gone
                }
                let mut acked = acked.lock().unwrap();
                acked.push(id);
                if acked.len() >= 2000 {
                    let _ = enough_tx.send(true);
                }
            }
        }));
    }
    let mut enough = enough_rx;
    enough.wait_for(|e| *e).await.unwrap();
    child.kill().unwrap(); // SIGKILL, while the writers are still writing
    child.wait().unwrap();
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 2000);

    let (mut child, endpoint) = spawn(&db);
    let ddb = client(&endpoint);
    let mut present = std::collections::HashSet::new();
    let mut start = None;
    loop {
        let page = ddb
            .scan()
            .table_name("durable")
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        for item in page.items() {
            present.insert(item["id"].as_s().unwrap().clone());
        }
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            break;
        }
    }
    let lost: Vec<_> = acked.iter().filter(|id| !present.contains(*id)).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged writes lost, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
