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

/// The emulator runs in this process, on the allocator its binary uses (mimalloc, without huge pages).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    let b = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("a", "b", None, None, "bench"));
    aws_sdk_dynamodb::Client::from_conf(b.build())
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
/// Runs `op` on every client for `seconds`; its rate. An operation answers 0 for a failed request, which the
/// rate does not count; failures are printed with the phase's name, so they are seen.
async fn phase<C, F, Fut>(name: &str, clients: &[C], seconds: u64, op: F) -> f64
where
    C: Clone + Send + 'static,
    F: Fn(C, u64, u64) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = u64> + Send,
{
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (c, client) in clients.iter().enumerate() {
        let (stop, done, failed, op, client) = (
            stop.clone(),
            done.clone(),
            failed.clone(),
            op.clone(),
            client.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                match op(client.clone(), c as u64, i).await {
                    0 => failed.fetch_add(1, Ordering::Relaxed),
                    n => done.fetch_add(n, Ordering::Relaxed),
                };
                i += 1;
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let failed = failed.load(Ordering::Relaxed);
    if failed > 0 {
        eprintln!("{name}: {failed} requests failed (not counted)");
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// PutItem and GetItem (requests/s) and 25-item BatchWriteItem (items/s) on every client at once.
async fn item_ops(clients: &[aws_sdk_dynamodb::Client], seconds: u64) -> [f64; 3] {
    let put = phase("PutItem", clients, seconds, |c, client_no, i| async move {
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
    let get = phase("GetItem", clients, seconds, |c, client_no, i| async move {
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
    let batch = phase("BatchWriteItem", clients, seconds, |c, client_no, i| async move {
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
    [put, get, batch]
}

/// 1 KiB PutObject and GetObject (requests/s) on every client at once.
async fn object_ops(s3: &[aws_sdk_s3::Client], seconds: u64) -> [f64; 2] {
    let small = bytes::Bytes::from(vec![b'x'; 1024]);
    let s3_put = phase("S3 PutObject", s3, seconds, move |c, client_no, i| {
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
    let s3_get = phase("S3 GetObject", s3, seconds, |c, client_no, i| async move {
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
    [s3_put, s3_get]
}

/// The SDK's own ceiling on this machine: a server that answers every request at once with a fixed,
/// well-formed answer and stores nothing. Returns its endpoint.
async fn null_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(
                        hyper_util::rt::TokioIo::new(stream),
                        hyper::service::service_fn(null_answer),
                    )
                    .await;
            });
        }
    });
    format!("http://{addr}")
}

/// The null server's GetItem answer: one of the benchmark's items.
const NULL_GET_ITEM: &str = concat!(
    r#"{"Item":{"id":{"S":"item-000000000001"},"n":{"N":"1"},"payload":{"S":""#,
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    r#""}}}"#
);

/// The null server's GetObject body: a 1 KiB object.
static NULL_OBJECT: [u8; 1024] = [b'x'; 1024];

/// The null server's answer: what the emulator would answer to the benchmark's requests, fixed and built
/// once, so that the server costs next to nothing.
async fn null_answer(
    req: http::Request<hyper::body::Incoming>,
) -> Result<http::Response<http_body_util::Full<bytes::Bytes>>, std::convert::Infallible> {
    let target = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let get = req.method() == http::Method::GET;
    let _ = http_body_util::BodyExt::collect(req.into_body()).await;
    let (content_type, body) = if target.ends_with(".GetItem") {
        (
            "application/x-amz-json-1.0",
            bytes::Bytes::from_static(NULL_GET_ITEM.as_bytes()),
        )
    } else if target.ends_with(".BatchWriteItem") {
        (
            "application/x-amz-json-1.0",
            bytes::Bytes::from_static(br#"{"UnprocessedItems":{}}"#),
        )
    } else if !target.is_empty() {
        ("application/x-amz-json-1.0", bytes::Bytes::from_static(b"{}"))
    } else if get {
        (
            "application/octet-stream",
            bytes::Bytes::from_static(&NULL_OBJECT),
        )
    } else {
        ("application/xml", bytes::Bytes::new())
    };
    Ok(http::Response::builder()
        .header("content-type", content_type)
        .header("etag", "\"0f343b0931126a20f133d67c2b018a3b\"")
        .header("x-amzn-requestid", "null")
        .body(http_body_util::Full::new(body))
        .unwrap())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let seconds: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(5);
    let nclients: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(16);

    let dir = std::env::temp_dir().join(format!("ddbrep-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("emu-server")
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
        .thread_name("sdk-client")
        .enable_all()
        .build()
        .unwrap();
    let server = server_rt.handle().clone();
    client_rt.block_on(async {
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
        let [put, get, batch] = item_ops(&clients, seconds).await;
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
        let [s3_put, s3_get] = object_ops(&s3, seconds).await;
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
        // The SDK's ceiling: the same clients, against a server that costs nothing.
        let null = server.spawn(null_server()).await.unwrap();
        let clients: Vec<_> = (0..nclients).map(|_| client(&null)).collect();
        let [null_put, null_get, null_batch] = item_ops(&clients, seconds).await;
        let s3: Vec<_> = (0..nclients).map(|_| s3_client(&null)).collect();
        let [null_s3_put, null_s3_get] = object_ops(&s3, seconds).await;
        println!("| operation ({nclients} SDK clients, {seconds} s each) | emulator | SDK against a null server | emulator's share |");
        println!("|---|---|---|---|");
        for (name, unit, emu, null) in [
            ("PutItem", "req/s", put, null_put),
            ("GetItem", "req/s", get, null_get),
            ("BatchWriteItem (25 items)", "items/s", batch, null_batch),
            ("S3 PutObject, 1 KiB", "req/s", s3_put, null_s3_put),
            ("S3 GetObject, 1 KiB", "req/s", s3_get, null_s3_get),
        ] {
            println!("| {name} | {emu:.0} {unit} | {null:.0} {unit} | {:.0} % |", 100.0 * emu / null);
        }
        println!("| Scan, one client ({scanned} items) | {scan_one:.0} items/s | | |");
        println!("| Scan, {nclients} segments in parallel | {scan_parallel:.0} items/s | | |");
        println!("| S3 PutObject, {LARGE_MIB} MiB, one client | {large_up:.0} MiB/s | | |");
        println!("| S3 GetObject, {LARGE_MIB} MiB, one client | {large_down:.0} MiB/s | | |");
    });
    drop(running);
    drop(server_rt);
    let _ = std::fs::remove_dir_all(&dir);
}
