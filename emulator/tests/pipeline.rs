//! The offline stream pipeline: `replicate` and `backup` running in-process on the emulator's own streams,
//! driven by writes through aws-sdk-dynamodb and checked through aws-sdk-s3 and the DynamoDB API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeValue, BillingMode, GlobalSecondaryIndex, KeyType, Projection, ProjectionType,
    ScalarAttributeType, StreamSpecification, StreamViewType, TimeToLiveSpecification,
};
use common::{attr, key_elem, n, raw_http, s, s3_client, TestEmu};
use ddbrep_emu::pipeline::{PipelineSpec, Settings};
use ddbrep_emu::storage::streams::ShardPolicy;
use ddbrep_emu::Emulator;
use ddbrep_engine::backup_key;
use ddbrep_engine::codec::ddb_json;
use ddbrep_engine::model::{Item, KeySchema, ScalarType};

/// Long enough for any pipeline here to catch up; a test that reaches it has failed.
const CATCH_UP: std::time::Duration = std::time::Duration::from_secs(60);

async fn caught_up(emu: &Emulator) {
    tokio::time::timeout(CATCH_UP, emu.pipelines().caught_up())
        .await
        .expect("the pipelines catch up")
        .unwrap();
}

async fn stream_table(
    t: &TestEmu,
    name: &str,
    sk: Option<(&str, ScalarAttributeType)>,
    view: StreamViewType,
) {
    let mut req = t
        .ddb
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk", ScalarAttributeType::S))
        .key_schema(key_elem("pk", KeyType::Hash))
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(view)
                .build()
                .unwrap(),
        );
    if let Some((sk, ty)) = sk {
        req = req
            .attribute_definitions(attr(sk, ty))
            .key_schema(key_elem(sk, KeyType::Range));
    }
    req.send().await.unwrap();
}

/// Every item of a table, exactly (numbers and binary as stored), through a raw Scan.
async fn scan(t: &TestEmu, table: &str) -> Vec<Item> {
    let body = format!(r#"{{"TableName":"{table}"}}"#);
    let head = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: DynamoDB_20120810.Scan\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let (status, _, out) = raw_http(t.running.addr(), &head, body.as_bytes()).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&out));
    let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert!(json.get("LastEvaluatedKey").is_none(), "one page is enough here");
    json["Items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| ddb_json::item_from_json(i).unwrap())
        .collect()
}

/// Items by their key (attribute order inside an item does not matter: `Item` equality ignores it).
fn by_key(schema: &KeySchema, items: Vec<Item>) -> BTreeMap<String, Item> {
    items
        .into_iter()
        .map(|i| (ddb_json::key_to_sorted_string(&schema.key_of(&i).unwrap()), i))
        .collect()
}

async fn status(t: &TestEmu) -> serde_json::Value {
    let head = "GET /_ddbrep/pipelines HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let (code, headers, body) = raw_http(t.running.addr(), head, b"").await;
    assert_eq!(code, 200);
    assert!(headers
        .iter()
        .any(|(n, v)| n == "content-type" && v == "application/json"));
    serde_json::from_slice(&body).unwrap()
}

fn pipelines(specs: &[&str]) -> Vec<PipelineSpec> {
    specs
        .iter()
        .map(|s| {
            let (kind, arg) = s.split_once(' ').unwrap();
            match kind {
                "replicate" => PipelineSpec::replicate(arg).unwrap(),
                _ => PipelineSpec::backup(arg).unwrap(),
            }
        })
        .collect()
}

async fn object(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Option<Item> {
    match s3.get_object().bucket(bucket).key(key).send().await {
        Ok(out) => {
            let body = out.body.collect().await.unwrap().into_bytes();
            Some(ddb_json::parse_item(std::str::from_utf8(&body).unwrap()).unwrap())
        }
        Err(e) => {
            assert_eq!(common::s3_error(&e).1, 404, "{e:?}");
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_and_backup_follow_every_kind_of_change() {
    let emu = Emulator::builder()
        .seed(5)
        .background_sweep(false)
        .pipelines(pipelines(&[
            "replicate orders=orders-replica",
            "backup orders=s3://backups/ddb",
        ]))
        .open()
        .unwrap();
    let t = common::attach(&emu).await;
    stream_table(
        &t,
        "orders",
        Some(("sk", ScalarAttributeType::N)),
        StreamViewType::NewAndOldImages,
    )
    .await;
    t.ddb
        .update_time_to_live()
        .table_name("orders")
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name("expires")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let big = "12345678901234567890123456789012345678";
    for i in 0..30 {
        t.ddb
            .put_item()
            .table_name("orders")
            .item("pk", s(&format!("p{}", i % 7)))
            .item("sk", n(&i.to_string()))
            .item("total", n(big))
            .item("fraction", n("0.12345678901234567890123456789012345678"))
            .item("blob", AttributeValue::B(Blob::new(vec![0, 255, i as u8, 10])))
            .item("tags", AttributeValue::Ss(vec!["a".into(), format!("t{i}")]))
            .send()
            .await
            .unwrap();
    }
    let items = scan(&t, "orders").await;
    let schema = KeySchema::composite("pk", ScalarType::S, "sk", ScalarType::N);
    // Modify some, delete some, expire one by TTL.
    for (i, item) in items.iter().enumerate() {
        let key = schema.key_of(item).unwrap().to_item();
        let pk = ddb_json::item_to_string(&key);
        let sdk_key = || {
            let mut k = std::collections::HashMap::new();
            let v: serde_json::Value = serde_json::from_str(&pk).unwrap();
            k.insert("pk".to_owned(), s(v["pk"]["S"].as_str().unwrap()));
            k.insert("sk".to_owned(), n(v["sk"]["N"].as_str().unwrap()));
            k
        };
        match i % 5 {
            0 => {
                t.ddb
                    .delete_item()
                    .table_name("orders")
                    .set_key(Some(sdk_key()))
                    .send()
                    .await
                    .unwrap();
            }
            1 => {
                t.ddb
                    .update_item()
                    .table_name("orders")
                    .set_key(Some(sdk_key()))
                    .update_expression("SET #t = #t + :one REMOVE tags")
                    .expression_attribute_names("#t", "total")
                    .expression_attribute_values(":one", n("1"))
                    .send()
                    .await
                    .unwrap();
            }
            2 if i < 5 => {
                t.ddb
                    .update_item()
                    .table_name("orders")
                    .set_key(Some(sdk_key()))
                    .update_expression("SET expires = :past")
                    .expression_attribute_values(":past", n("1000"))
                    .send()
                    .await
                    .unwrap();
            }
            _ => {}
        }
    }
    let swept = emu.sweep().await.unwrap();
    assert_eq!(swept.expired, 1, "{swept:?}");
    caught_up(&emu).await;

    let primary = by_key(&schema, scan(&t, "orders").await);
    let replica = by_key(&schema, scan(&t, "orders-replica").await);
    assert_eq!(primary.len(), 30 - 6 - 1);
    assert_eq!(replica, primary, "the replica holds exactly the primary's items");

    let s3 = s3_client(&t.running, true);
    for item in primary.values() {
        let key = schema.key_of(item).unwrap();
        let name = backup_key::object_key("ddb", "orders", &key);
        assert_eq!(object(&s3, "backups", &name).await.as_ref(), Some(item), "{name}");
    }
    for item in &items {
        let key = schema.key_of(item).unwrap();
        if !primary.values().any(|p| schema.key_of(p).unwrap() == key) {
            let name = backup_key::object_key("ddb", "orders", &key);
            assert_eq!(object(&s3, "backups", &name).await, None, "deleted {name}");
        }
    }
    let versioning = s3.get_bucket_versioning().bucket("backups").send().await.unwrap();
    assert_eq!(versioning.status().map(|s| s.as_str()), Some("Enabled"));

    let st = status(&t).await;
    for p in st["pipelines"].as_array().unwrap() {
        assert_eq!(p["state"], "running", "{p}");
        assert_eq!(p["pending_records"], 0, "{p}");
        assert_eq!(p["records_discarded"], 0, "{p}");
        assert!(p["last_error"].is_null(), "{p}");
    }
    assert_eq!(st["pipelines"][0]["name"], "replicate orders=orders-replica");
    // 30 puts, 6 deletes, 6 updates, the TTL attribute set and its expiry: each written once.
    assert_eq!(st["pipelines"][1]["records_applied"], 30 + 6 + 6 + 1 + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_change_of_a_key_becomes_one_version_in_order_across_shard_rollovers() {
    let emu = Emulator::builder()
        .seed(6)
        .shard_policy(ShardPolicy {
            max_records: 3,
            ..ShardPolicy::default()
        })
        .pipelines(pipelines(&["backup hist=s3://bkt"]))
        .open()
        .unwrap();
    let t = common::attach(&emu).await;
    stream_table(&t, "hist", None, StreamViewType::NewImage).await;
    for i in 0..20 {
        t.ddb
            .put_item()
            .table_name("hist")
            .item("pk", s("one"))
            .item("v", n(&i.to_string()))
            .send()
            .await
            .unwrap();
    }
    caught_up(&emu).await;
    let s3 = s3_client(&t.running, true);
    let schema = KeySchema::partition_only("pk", ScalarType::S);
    let key = schema
        .parse_key(&ddb_json::parse_item(r#"{"pk":{"S":"one"}}"#).unwrap())
        .unwrap();
    let name = backup_key::object_key("", "hist", &key);
    let versions = s3
        .list_object_versions()
        .bucket("bkt")
        .prefix(&name)
        .send()
        .await
        .unwrap();
    let ids: Vec<String> = versions
        .versions()
        .iter()
        .map(|v| v.version_id().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 20, "one version per change, none twice");
    // Newest first: version k (from the end) holds v = k.
    for (k, id) in ids.iter().rev().enumerate() {
        let out = s3
            .get_object()
            .bucket("bkt")
            .key(&name)
            .version_id(id)
            .send()
            .await
            .unwrap();
        let body = out.body.collect().await.unwrap().into_bytes();
        let item = ddb_json::parse_item(std::str::from_utf8(&body).unwrap()).unwrap();
        let expected = format!(r#"{{"pk":{{"S":"one"}},"v":{{"N":"{k}"}}}}"#);
        assert_eq!(item, ddb_json::parse_item(&expected).unwrap());
    }
    let st = status(&t).await;
    let shards = st["pipelines"][0]["shards"].as_array().unwrap();
    assert!(shards.len() >= 7, "20 records in shards of 3: {shards:?}");
    let open = shards.iter().filter(|s| s["finished"] == false).count();
    assert_eq!(
        open, 1,
        "every closed shard is finished, only the open one is not"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_record_is_reported_by_key_retried_then_discarded_and_the_rest_applied() {
    let mut spec = PipelineSpec::replicate("src=dst").unwrap();
    spec.settings = Settings {
        maximum_retry_attempts: Some(1),
        ..Settings::default()
    };
    let emu = Emulator::builder().seed(8).pipelines(vec![spec]).open().unwrap();
    let t = common::attach(&emu).await;
    stream_table(&t, "src", None, StreamViewType::NewAndOldImages).await;
    // The replica has an index keyed on `g` as a number: an item whose `g` is a string is refused there.
    t.ddb
        .create_table()
        .table_name("dst")
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk", ScalarAttributeType::S))
        .attribute_definitions(attr("g", ScalarAttributeType::N))
        .key_schema(key_elem("pk", KeyType::Hash))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("by-g")
                .key_schema(key_elem("g", KeyType::Hash))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::KeysOnly)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    for (pk, g) in [("a", n("1")), ("poison", s("not a number")), ("b", n("2"))] {
        t.ddb
            .put_item()
            .table_name("src")
            .item("pk", s(pk))
            .item("g", g)
            .send()
            .await
            .unwrap();
    }
    caught_up(&emu).await;
    let replica: Vec<String> = scan(&t, "dst")
        .await
        .iter()
        .map(ddb_json::item_to_string)
        .collect();
    assert_eq!(replica.len(), 2, "{replica:?}");
    assert!(replica.iter().all(|i| !i.contains("poison")));
    let st = status(&t).await;
    let p = &st["pipelines"][0];
    assert_eq!(
        p["records_discarded"], 1,
        "only the poison record is skipped: {p}"
    );
    assert!(p["failed_invocations"].as_u64().unwrap() >= 2, "{p}");
    let error = &p["last_error"];
    assert_eq!(error["key"], r#"{"pk":"poison"}"#, "{p}");
    assert_eq!(error["sequence_number"].as_str().unwrap().len(), 21, "{p}");
    assert!(
        error["message"].as_str().unwrap().contains("Type mismatch"),
        "{p}"
    );
    assert_eq!(p["pending_records"], 0, "{p}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_without_new_images_is_refused_with_a_reason() {
    let emu = Emulator::builder()
        .seed(9)
        .pipelines(pipelines(&["replicate keys=keys-copy"]))
        .open()
        .unwrap();
    let t = common::attach(&emu).await;
    stream_table(&t, "keys", None, StreamViewType::KeysOnly).await;
    t.ddb
        .put_item()
        .table_name("keys")
        .item("pk", s("a"))
        .send()
        .await
        .unwrap();
    // The pipeline keeps its state current; poll the endpoint until it has looked at the stream.
    let deadline = tokio::time::Instant::now() + CATCH_UP;
    loop {
        let st = status(&t).await;
        let p = &st["pipelines"][0];
        if p["state"] == "error" {
            let reason = p["reason"].as_str().unwrap();
            assert!(reason.contains("KEYS_ONLY"), "{reason}");
            assert!(reason.contains("NEW_IMAGE"), "{reason}");
            assert_eq!(p["records_delivered"], 0);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no error reported: {p}");
        let mut progress = tokio::time::interval(std::time::Duration::from_millis(50));
        progress.tick().await;
        progress.tick().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_resumes_after_its_checkpoint_without_replaying() {
    let dir = std::env::temp_dir().join(format!("ddbrep-pipeline-restart-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("emu.sqlite");
    let open = || {
        Emulator::builder()
            .db(&db)
            .seed(10)
            .pipelines(pipelines(&["backup restart=s3://rbk/x"]))
            .open()
            .unwrap()
    };
    {
        let emu = open();
        let t = common::attach(&emu).await;
        stream_table(&t, "restart", None, StreamViewType::NewImage).await;
        for i in 0..5 {
            t.ddb
                .put_item()
                .table_name("restart")
                .item("pk", s(&format!("k{i}")))
                .send()
                .await
                .unwrap();
        }
        caught_up(&emu).await;
        assert_eq!(status(&t).await["pipelines"][0]["records_delivered"], 5);
        t.running.stop().await;
    }
    let emu = open();
    let t = common::attach(&emu).await;
    for i in 5..8 {
        t.ddb
            .put_item()
            .table_name("restart")
            .item("pk", s(&format!("k{i}")))
            .send()
            .await
            .unwrap();
    }
    caught_up(&emu).await;
    let p = &status(&t).await["pipelines"][0];
    assert_eq!(
        p["records_delivered"], 3,
        "only the new records are delivered: {p}"
    );
    assert_eq!(p["records_applied"], 3, "{p}");
    let s3 = s3_client(&t.running, true);
    let listed = s3.list_objects_v2().bucket("rbk").send().await.unwrap();
    assert_eq!(listed.key_count(), Some(8));
    drop(t);
    drop(emu);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_takes_pipelines_from_flags_and_a_file_and_refuses_bad_ones() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let dir = std::env::temp_dir().join(format!("ddbrep-pipeline-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("pipelines.json");
    std::fs::write(
        &file,
        r#"{"pipelines":[{"replicate":"orders=orders-copy","batch_size":500,"maximum_retry_attempts":3}]}"#,
    )
    .unwrap();
    let bin = env!("CARGO_BIN_EXE_ddbrep-emu");
    let mut child = Command::new(bin)
        .args(["--listen", "127.0.0.1:0", "--log", "warn", "--db", ":memory:"])
        .arg("--pipelines")
        .arg(&file)
        .args(["--backup", "orders=s3://orders-backup/ddb"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    for _ in 0..3 {
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        lines.push(line.trim().to_owned());
    }
    assert_eq!(lines[1], "pipeline: replicate orders=orders-copy");
    assert_eq!(lines[2], "pipeline: backup orders=s3://orders-backup/ddb");
    let addr: std::net::SocketAddr = lines[0]
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http://"))
        .unwrap()
        .parse()
        .unwrap();
    let head = "GET /_ddbrep/pipelines HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let (code, _, body) = raw_http(addr, head, b"").await;
    assert_eq!(code, 200);
    let st: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let names: Vec<&str> = st["pipelines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "replicate orders=orders-copy",
            "backup orders=s3://orders-backup/ddb"
        ]
    );
    child.kill().unwrap();
    let _ = child.wait();

    for bad in [
        vec!["--replicate", "orders"],
        vec!["--backup", "orders=backups"],
        vec!["--replicate", "orders=copy1", "--replicate", "orders=copy1"],
    ] {
        let out = Command::new(bin)
            .args(["--listen", "127.0.0.1:0", "--db", ":memory:"])
            .args(&bad)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{bad:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("--replicate") || stderr.contains("--backup") || stderr.contains("twice"),
            "{bad:?}: {stderr}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Starts the binary with a backup and a replicate pipeline on `db`; returns it and its address.
fn spawn_with_pipelines(db: &std::path::Path) -> (std::process::Child, std::net::SocketAddr) {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ddbrep-emu"))
        .args(["--listen", "127.0.0.1:0", "--log", "warn", "--db"])
        .arg(db)
        .args([
            "--backup",
            "crashy=s3://crash-backup/inc",
            "--replicate",
            "crashy=crashy-copy",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http://"))
        .unwrap()
        .parse()
        .unwrap();
    (child, addr)
}

/// Polls the status endpoint until every pipeline has nothing pending and nothing failing.
async fn drained(addr: std::net::SocketAddr) -> serde_json::Value {
    let head = "GET /_ddbrep/pipelines HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let deadline = tokio::time::Instant::now() + CATCH_UP;
    loop {
        let (_, _, body) = raw_http(addr, head, b"").await;
        let st: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let all = st["pipelines"].as_array().unwrap();
        if all
            .iter()
            .all(|p| p["pending_records"] == 0 && p["state"] == "running" && p["invocations"] != 0)
        {
            return st;
        }
        assert!(tokio::time::Instant::now() < deadline, "not drained: {st}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_pipeline_loses_nothing_and_backs_up_no_change_twice() {
    let dir = std::env::temp_dir().join(format!("ddbrep-pipeline-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("emu.sqlite");
    let (mut child, addr) = spawn_with_pipelines(&db);
    let running_addr = addr;
    let client = |addr: std::net::SocketAddr| {
        aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::Config::builder()
                .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
                .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
                .endpoint_url(format!("http://{addr}"))
                .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                    "a", "b", None, None, "t",
                ))
                .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
                .build(),
        )
    };
    let ddb = client(running_addr);
    ddb.create_table()
        .table_name("crashy")
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk", ScalarAttributeType::S))
        .key_schema(key_elem("pk", KeyType::Hash))
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewImage)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    // Writes until the kill; every acknowledged one must end in the replica and the backup, once.
    let mut acked = Vec::new();
    for i in 0..400 {
        let id = format!("k{i:04}");
        ddb.put_item()
            .table_name("crashy")
            .item("pk", s(&id))
            .item("n", n(&i.to_string()))
            .send()
            .await
            .unwrap();
        acked.push(id);
        if i == 300 {
            child.kill().unwrap(); // SIGKILL, with the pipelines mid-stream
            child.wait().unwrap();
            break;
        }
    }
    let (mut child, addr) = spawn_with_pipelines(&db);
    let ddb = client(addr);
    for i in 301..400 {
        let id = format!("k{i:04}");
        ddb.put_item()
            .table_name("crashy")
            .item("pk", s(&id))
            .item("n", n(&i.to_string()))
            .send()
            .await
            .unwrap();
        acked.push(id);
    }
    drained(addr).await;
    let t = TestEmuAt { addr };
    let replica: Vec<String> = t.scan_ids("crashy-copy").await;
    let mut expected = acked.clone();
    expected.sort();
    assert_eq!(replica, expected, "every acknowledged write reached the replica");
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .endpoint_url(format!("http://{addr}"))
            .force_path_style(true)
            .credentials_provider(aws_sdk_s3::config::Credentials::new("a", "b", None, None, "t"))
            .build(),
    );
    let schema = KeySchema::partition_only("pk", ScalarType::S);
    let mut versions = 0;
    let mut key_marker = None;
    let mut version_marker = None;
    loop {
        let page = s3
            .list_object_versions()
            .bucket("crash-backup")
            .prefix("inc/crashy/")
            .set_key_marker(key_marker)
            .set_version_id_marker(version_marker)
            .send()
            .await
            .unwrap();
        versions += page.versions().len();
        if page.is_truncated() != Some(true) {
            break;
        }
        key_marker = page.next_key_marker().map(str::to_owned);
        version_marker = page.next_version_id_marker().map(str::to_owned);
    }
    assert_eq!(
        versions,
        acked.len(),
        "one version per change, none twice after the replay"
    );
    for id in [&acked[0], &acked[300], &acked[399]] {
        let key = schema
            .parse_key(&ddb_json::parse_item(&format!(r#"{{"pk":{{"S":"{id}"}}}}"#)).unwrap())
            .unwrap();
        let name = backup_key::object_key("inc", "crashy", &key);
        assert!(object(&s3, "crash-backup", &name).await.is_some(), "{name}");
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Raw reads of a table by address.
struct TestEmuAt {
    addr: std::net::SocketAddr,
}

impl TestEmuAt {
    /// Every `pk` of a table, sorted.
    async fn scan_ids(&self, table: &str) -> Vec<String> {
        let mut ids = Vec::new();
        let mut start: Option<serde_json::Value> = None;
        loop {
            let mut req = serde_json::json!({ "TableName": table });
            if let Some(s) = &start {
                req["ExclusiveStartKey"] = s.clone();
            }
            let body = req.to_string();
            let head = format!(
                "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: DynamoDB_20120810.Scan\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let (_, _, out) = raw_http(self.addr, &head, body.as_bytes()).await;
            let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
            for item in json["Items"].as_array().unwrap() {
                ids.push(item["pk"]["S"].as_str().unwrap().to_owned());
            }
            start = json.get("LastEvaluatedKey").cloned();
            if start.is_none() {
                break;
            }
        }
        ids.sort();
        ids
    }
}
