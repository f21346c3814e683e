//! The tools' throughput next to the emulator's raw rates, measured in the same run, and the tools' peak
//! RSS. Run: `cargo build --release -p ddbrep && cargo bench -p ddbrep --bench tools -- [ITEMS] [OBJECTS]`
//! (defaults 100000 and 10000).
//!
//! One in-process `ddbrep-emu` (durable SQLite in a temp dir) serves both; each tool runs as the real
//! release binary in its own process, its peak RSS read from `/proc/<pid>/status` (VmHWM).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, PutRequest,
    ScalarAttributeType, WriteRequest,
};
use aws_sdk_s3::primitives::ByteStream;

/// The emulator runs in this process, on the allocator its binary uses (mimalloc, without huge pages).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn ddbrep_binary() -> PathBuf {
    // target/release/deps/tools-… → target/release/ddbrep
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().join("ddbrep")
}

/// Runs the tool, returning (wall time, peak RSS in KiB).
fn run_tool(args: &[&str], endpoint: &str) -> (Duration, u64) {
    let started = Instant::now();
    let mut child = std::process::Command::new(ddbrep_binary())
        .args(args)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("the release ddbrep binary exists: cargo build --release -p ddbrep");
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Ok(text) = std::fs::read_to_string(&status_path) {
            for line in text.lines() {
                if let Some(v) = line.strip_prefix("VmHWM:") {
                    let kib: u64 = v.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
                    peak = peak.max(kib);
                }
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{args:?} failed");
            return (started.elapsed(), peak);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn item(i: usize) -> HashMap<String, AttributeValue> {
    [
        ("id".to_owned(), AttributeValue::S(format!("item-{i:08}"))),
        (
            "n".to_owned(),
            AttributeValue::N(format!("{i}.123456789012345678901234567890")),
        ),
        ("payload".to_owned(), AttributeValue::S("x".repeat(64))),
    ]
    .into_iter()
    .collect()
}

fn report(name: &str, n: usize, (t, rss): (Duration, u64), raw: f64) {
    let rate = n as f64 / t.as_secs_f64();
    println!(
        "{name}: {rate:.0} items/s ({:.0}% of raw), peak RSS {:.1} MiB",
        100.0 * rate / raw,
        rss as f64 / 1024.0
    );
}

async fn load_table(ddb: &aws_sdk_dynamodb::Client, table: &'static str, items: usize) {
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..8 {
        let ddb = ddb.clone();
        tasks.spawn(async move {
            let mut batch = Vec::new();
            for i in (worker..items).step_by(8) {
                let put = PutRequest::builder().set_item(Some(item(i))).build().unwrap();
                batch.push(WriteRequest::builder().put_request(put).build());
                if batch.len() == 25 || i + 8 >= items {
                    let mut pending = std::mem::take(&mut batch);
                    while !pending.is_empty() {
                        let out = ddb
                            .batch_write_item()
                            .request_items(table, pending)
                            .send()
                            .await
                            .unwrap();
                        pending = out
                            .unprocessed_items
                            .and_then(|mut u| u.remove(table))
                            .unwrap_or_default();
                    }
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

async fn raw_scan(ddb: &aws_sdk_dynamodb::Client) -> usize {
    let mut start = None;
    let mut scanned = 0usize;
    loop {
        let page = ddb
            .scan()
            .table_name("bench")
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        scanned += page.items().len();
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            return scanned;
        }
    }
}

async fn raw_list_get(s3: &aws_sdk_s3::Client) -> usize {
    let mut token = None;
    let mut got = 0;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket("bench")
            .prefix("inc/bench/")
            .set_continuation_token(token)
            .send()
            .await
            .unwrap();
        let mut gets = tokio::task::JoinSet::new();
        for o in page.contents() {
            let (s3, key) = (s3.clone(), o.key().unwrap().to_owned());
            gets.spawn(async move {
                let out = s3.get_object().bucket("bench").key(key).send().await.unwrap();
                out.body.collect().await.unwrap()
            });
        }
        while gets.join_next().await.is_some() {
            got += 1;
        }
        token = page.next_continuation_token().map(str::to_owned);
        if token.is_none() {
            return got;
        }
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let items = args.first().copied().unwrap_or(100_000);
    let objects = args.get(1).copied().unwrap_or(10_000);
    let dir = std::env::temp_dir().join(format!("ddbrep-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let emu = ddbrep_emu::Emulator::builder()
        .db(dir.join("bench.sqlite"))
        .open()
        .unwrap();
    let running = emu.spawn_local().await.unwrap();
    let endpoint = running.endpoint();
    // The tools' own SDK clients (a loopback endpoint gets dummy credentials).
    let connection = ddbrep::drive::aws::Connection {
        endpoint_url: Some(endpoint.clone()),
        region: Some("us-east-1".into()),
        profile: None,
    };
    let ddb = ddbrep::drive::aws::dynamodb(None, None, &connection).await;
    let s3 = ddbrep::drive::aws::s3(None, &connection).await;
    let def = AttributeDefinition::builder()
        .attribute_name("id")
        .attribute_type(ScalarAttributeType::S)
        .build()
        .unwrap();
    let key = KeySchemaElement::builder()
        .attribute_name("id")
        .key_type(KeyType::Hash)
        .build()
        .unwrap();
    for name in ["bench", "small"] {
        ddb.create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(def.clone())
            .key_schema(key.clone())
            .send()
            .await
            .unwrap();
    }
    s3.create_bucket().bucket("bench").send().await.unwrap();

    let load = Instant::now();
    load_table(&ddb, "bench", items).await;
    let raw_write = items as f64 / load.elapsed().as_secs_f64();
    println!(
        "loaded {items} items in {:.1}s: raw BatchWriteItem (SDK, 8 at once) {raw_write:.0} items/s",
        load.elapsed().as_secs_f64()
    );

    let scan = Instant::now();
    assert_eq!(raw_scan(&ddb).await, items);
    let raw = items as f64 / scan.elapsed().as_secs_f64();
    println!("raw Scan (SDK, one segment, 1 MB pages): {raw:.0} items/s");

    let table = format!("{}/bench", running.addr());
    let dump = ["backup-table", &table, "s3://bench/dump", "--jobid"];
    report(
        "backup-table",
        items,
        run_tool(&[&dump[..], &["b1"]].concat(), &endpoint),
        raw,
    );
    report(
        "backup-table --parallel 4",
        items,
        run_tool(&[&dump[..], &["b4", "--parallel", "4"]].concat(), &endpoint),
        raw,
    );
    // restore-table from that dump into a new table: BatchWriteItem-bound, set against the raw load rate.
    report(
        "restore-table (the dump, into a new table)",
        items,
        run_tool(
            &[
                "restore-table",
                "s3://bench/dump/b1",
                &format!("{}/restored", running.addr()),
                "--key-schema",
                "id:S",
            ],
            &endpoint,
        ),
        raw_write,
    );
    // Two scans, and a BatchGetItem of the other table per 100 items.
    report(
        "diff-tables (the table against itself; items of both passes)",
        2 * items,
        run_tool(&["diff-tables", &table, &table], &endpoint),
        raw,
    );

    let put = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..16 {
        let s3 = s3.clone();
        tasks.spawn(async move {
            for i in (worker..objects).step_by(16) {
                let body = format!(
                    r#"{{"id":{{"S":"item-{i:08}"}},"payload":{{"S":"{}"}}}}"#,
                    "x".repeat(64)
                );
                s3.put_object()
                    .bucket("bench")
                    .key(format!("inc/bench/{i:08}"))
                    .body(ByteStream::from(body.into_bytes()))
                    .send()
                    .await
                    .unwrap();
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let raw_put = objects as f64 / put.elapsed().as_secs_f64();
    println!("raw PutObject (SDK, 16 at once): {raw_put:.0} objects/s");
    // incremental-backfill writes one object per item: PutObject-bound, so it is set against that rate.
    load_table(&ddb, "small", objects).await;
    let small = format!("{}/small", running.addr());
    report(
        "incremental-backfill",
        objects,
        run_tool(
            &["incremental-backfill", &small, "s3://bench/backfill"],
            &endpoint,
        ),
        raw_put,
    );
    let list_get = Instant::now();
    assert_eq!(raw_list_get(&s3).await, objects);
    let raw_objects = objects as f64 / list_get.elapsed().as_secs_f64();
    println!("raw List+Get (SDK, a page's 1,000 Gets at once): {raw_objects:.0} objects/s");
    report(
        "incremental-snapshot",
        objects,
        run_tool(
            &[
                "incremental-snapshot",
                "s3://bench/inc/bench",
                "s3://bench/snap/bench",
            ],
            &endpoint,
        ),
        raw_objects,
    );
    // restore-table from the backfilled folder: a GET per object, set against the raw List+Get rate.
    report(
        "restore-table (an incremental folder, into a new table)",
        objects,
        run_tool(
            &[
                "restore-table",
                "s3://bench/backfill/small",
                &format!("{}/restored-inc", running.addr()),
                "--key-schema",
                "id:S",
            ],
            &endpoint,
        ),
        raw_objects,
    );
    // incremental-rekey of a folder under the original's MD5 names (a partition key alone hashes the same
    // in every order, so MD5 is its only other name): per key a GET, two version listings, a seal and a
    // delete marker; set against the raw PutObject rate. Then the idle second run.
    s3.create_bucket().bucket("legacy").send().await.unwrap();
    s3.put_bucket_versioning()
        .bucket("legacy")
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let schema = ddbrep_engine::model::KeySchema::partition_only("id", ddbrep_engine::model::ScalarType::S);
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..16 {
        let (s3, schema) = (s3.clone(), schema.clone());
        tasks.spawn(async move {
            for i in (worker..objects).step_by(16) {
                let body = format!(
                    r#"{{"id":{{"S":"item-{i:08}"}},"payload":{{"S":"{}"}}}}"#,
                    "x".repeat(64)
                );
                let item = ddbrep_engine::codec::ddb_json::parse_item(&body).unwrap();
                let key = schema.key_of(&item).unwrap();
                let names = ddbrep_engine::backup_key::candidate_object_keys("inc", "small", &key);
                s3.put_object()
                    .bucket("legacy")
                    .key(names.last().unwrap())
                    .body(ByteStream::from(body.into_bytes()))
                    .send()
                    .await
                    .unwrap();
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let rekey = ["incremental-rekey", &small, "s3://legacy/inc"];
    report("incremental-rekey", objects, run_tool(&rekey, &endpoint), raw_put);
    report(
        "incremental-rekey (again: nothing to do)",
        objects,
        run_tool(&rekey, &endpoint),
        raw_objects,
    );
    running.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
