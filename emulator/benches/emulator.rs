//! Throughput of `ddbrep-emu` under real SDK clients over loopback: PutItem and GetItem (requests/s),
//! BatchWriteItem and Scan (items/s), 1 KiB S3 PutObject and GetObject (requests/s), with 16 concurrent
//! clients; and large S3 objects (MiB/s up and down, one client).
//!
//! Run: `cargo bench -p ddbrep-emu --bench emulator` (optional arguments: seconds per phase, clients).
//! The server runs in this process on its own runtime, on a durable database file in a temporary directory;
//! client and server share the machine, as they do on a developer's laptop.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, PutRequest,
    ScalarAttributeType, WriteRequest,
};

fn client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .credentials_provider(Credentials::new("a", "b", None, None, "bench"))
            .build(),
    )
}

/// The large-object phase: this many objects of this many MiB, up then down.
const LARGE_MIB: usize = 64;
const LARGE_COUNT: usize = 4;

fn s3_client(endpoint: &str) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .force_path_style(true)
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "a", "b", None, None, "bench",
            ))
            .build(),
    )
}

/// A ~100-byte item.
fn item(i: u64) -> std::collections::HashMap<String, AttributeValue> {
    std::collections::HashMap::from([
        ("id".to_owned(), AttributeValue::S(format!("item-{i:012}"))),
        ("n".to_owned(), AttributeValue::N(i.to_string())),
        ("payload".to_owned(), AttributeValue::S("x".repeat(60))),
    ])
}

/// Runs `op` on every client concurrently for `seconds`; returns units (requests or items) per second.
async fn phase<C, F, Fut>(clients: &[C], seconds: u64, op: F) -> f64
where
    C: Clone + Send + 'static,
    F: Fn(C, u64, u64) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = u64> + Send,
{
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (c, client) in clients.iter().enumerate() {
        let (stop, done, op, client) = (stop.clone(), done.clone(), op.clone(), client.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                done.fetch_add(op(client.clone(), c as u64, i).await, Ordering::Relaxed);
                i += 1;
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let seconds: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(5);
    let nclients: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(16);

    let dir = std::env::temp_dir().join(format!("ddbrep-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let emu = ddbrep_emu::Emulator::builder()
        .db(dir.join("bench.sqlite"))
        .open()
        .unwrap();
    let running = server_rt.block_on(emu.spawn_local()).unwrap();
    let endpoint = running.endpoint();

    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let results = client_rt.block_on(async {
        let clients: Vec<_> = (0..nclients).map(|_| client(&endpoint)).collect();
        clients[0]
            .create_table()
            .table_name("bench")
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
        let put = phase(&clients, seconds, |c, client_no, i| async move {
            let id = client_no * 1_000_000_000 + i;
            c.put_item()
                .table_name("bench")
                .set_item(Some(item(id)))
                .send()
                .await
                .map(|_| 1)
                .unwrap_or(0)
        })
        .await;
        let get = phase(&clients, seconds, |c, client_no, i| async move {
            let id = client_no * 1_000_000_000 + i % 1000;
            let key = item(id).remove("id").unwrap();
            c.get_item()
                .table_name("bench")
                .key("id", key)
                .send()
                .await
                .map(|_| 1)
                .unwrap_or(0)
        })
        .await;
        let batch = phase(&clients, seconds, |c, client_no, i| async move {
            let writes: Vec<_> = (0..25)
                .map(|k| {
                    let id = 5_000_000_000_000 + client_no * 1_000_000_000 + i * 25 + k;
                    WriteRequest::builder()
                        .put_request(PutRequest::builder().set_item(Some(item(id))).build().unwrap())
                        .build()
                })
                .collect();
            c.batch_write_item()
                .request_items("bench", writes)
                .send()
                .await
                .map(|_| 25)
                .unwrap_or(0)
        })
        .await;
        // Scan: the whole table, by one client and by 16 segments at once.
        let started = Instant::now();
        let mut scanned = 0u64;
        let mut start = None;
        loop {
            let page = clients[0]
                .scan()
                .table_name("bench")
                .set_exclusive_start_key(start)
                .send()
                .await
                .unwrap();
            scanned += page.count() as u64;
            start = page.last_evaluated_key().cloned();
            if start.is_none() {
                break;
            }
        }
        let scan_one = scanned as f64 / started.elapsed().as_secs_f64();
        let started = Instant::now();
        let mut tasks = Vec::new();
        for (s, c) in clients.iter().enumerate() {
            let c = c.clone();
            let total = clients.len() as i32;
            tasks.push(tokio::spawn(async move {
                let mut n = 0u64;
                let mut start = None;
                loop {
                    let page = c
                        .scan()
                        .table_name("bench")
                        .segment(s as i32)
                        .total_segments(total)
                        .set_exclusive_start_key(start)
                        .send()
                        .await
                        .unwrap();
                    n += page.count() as u64;
                    start = page.last_evaluated_key().cloned();
                    if start.is_none() {
                        return n;
                    }
                }
            }));
        }
        let mut segmented = 0;
        for t in tasks {
            segmented += t.await.unwrap();
        }
        let scan_parallel = segmented as f64 / started.elapsed().as_secs_f64();
        assert_eq!(segmented, scanned, "segments cover the table exactly");

        // S3: 1 KiB objects, then large ones.
        let s3: Vec<_> = (0..nclients).map(|_| s3_client(&endpoint)).collect();
        s3[0].create_bucket().bucket("bench").send().await.unwrap();
        let small = bytes::Bytes::from(vec![b'x'; 1024]);
        let s3_put = phase(&s3, seconds, move |c, client_no, i| {
            let body = small.clone();
            async move {
                c.put_object()
                    .bucket("bench")
                    .key(format!("small/{client_no}/{i}"))
                    .body(aws_sdk_s3::primitives::ByteStream::from(body))
                    .send()
                    .await
                    .map(|_| 1)
                    .unwrap_or(0)
            }
        })
        .await;
        let s3_get = phase(&s3, seconds, |c, client_no, i| async move {
            let Ok(out) = c
                .get_object()
                .bucket("bench")
                .key(format!("small/{client_no}/{}", i % 1000))
                .send()
                .await
            else {
                return 0;
            };
            out.body.collect().await.map(|_| 1).unwrap_or(0)
        })
        .await;
        let large = bytes::Bytes::from(vec![7u8; LARGE_MIB << 20]);
        let started = Instant::now();
        for i in 0..LARGE_COUNT {
            s3[0]
                .put_object()
                .bucket("bench")
                .key(format!("large/{i}"))
                .body(aws_sdk_s3::primitives::ByteStream::from(large.clone()))
                .send()
                .await
                .unwrap();
        }
        let large_up = (LARGE_COUNT * LARGE_MIB) as f64 / started.elapsed().as_secs_f64();
        let started = Instant::now();
        for i in 0..LARGE_COUNT {
            let out = s3[0]
                .get_object()
                .bucket("bench")
                .key(format!("large/{i}"))
                .send()
                .await
                .unwrap();
            let mut body = out.body;
            while let Some(chunk) = body.next().await {
                chunk.unwrap();
            }
        }
        let large_down = (LARGE_COUNT * LARGE_MIB) as f64 / started.elapsed().as_secs_f64();
        (
            put,
            get,
            batch,
            scan_one,
            scan_parallel,
            scanned,
            (s3_put, s3_get, large_up, large_down),
        )
    });
    let (put, get, batch, scan_one, scan_parallel, items, (s3_put, s3_get, large_up, large_down)) = results;
    println!("| operation ({nclients} SDK clients, {seconds} s each) | rate |");
    println!("|---|---|");
    println!("| PutItem | {put:.0} req/s |");
    println!("| GetItem | {get:.0} req/s |");
    println!("| BatchWriteItem (25 items) | {batch:.0} items/s |");
    println!("| Scan, one client ({items} items) | {scan_one:.0} items/s |");
    println!("| Scan, {nclients} segments in parallel | {scan_parallel:.0} items/s |");
    println!("| S3 PutObject, 1 KiB | {s3_put:.0} req/s |");
    println!("| S3 GetObject, 1 KiB | {s3_get:.0} req/s |");
    println!("| S3 PutObject, {LARGE_MIB} MiB, one client | {large_up:.0} MiB/s |");
    println!("| S3 GetObject, {LARGE_MIB} MiB, one client | {large_down:.0} MiB/s |");
    drop(running);
    drop(server_rt);
    let _ = std::fs::remove_dir_all(&dir);
}
