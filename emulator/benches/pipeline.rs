//! Throughput of the offline stream pipeline: 16 SDK clients write to a table (BatchWriteItem, 25 new items
//! per request) for a while; the pipeline runs the replicate or the backup handler on its stream. Reported:
//! the write rate, the pipeline's rate (changes from write to replica or backup object, per second, from
//! the first write to the moment it has caught up), and how far behind it was when the writes stopped.
//!
//! Run: `cargo bench -p ddbrep-emu --bench pipeline` (optional arguments: seconds of writes, clients, and
//! a word the configurations run must contain, e.g. `backup`).
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, PutRequest,
    ScalarAttributeType, StreamSpecification, StreamViewType, WriteRequest,
};
use ddbrep_emu::pipeline::PipelineSpec;

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

struct Row {
    label: String,
    written: u64,
    write_rate: f64,
    pipeline_rate: f64,
    behind_at_stop: u64,
    drain: Duration,
}

fn run(label: &str, spec: PipelineSpec, seconds: u64, nclients: usize) -> Row {
    let dir = std::env::temp_dir().join(format!("ddbrep-bench-pipeline-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let emu = ddbrep_emu::Emulator::builder()
        .db(dir.join("bench.sqlite"))
        .pipelines(vec![spec])
        .open()
        .unwrap();
    let running = server_rt.block_on(emu.spawn_local()).unwrap();
    let endpoint = running.endpoint();
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let row = client_rt.block_on(async {
        let clients: Vec<_> = (0..nclients).map(|_| client(&endpoint)).collect();
        clients[0]
            .create_table()
            .table_name("source")
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
            .stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::NewAndOldImages)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let written = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for (c, client) in clients.into_iter().enumerate() {
            let (stop, written) = (Arc::clone(&stop), Arc::clone(&written));
            tasks.push(tokio::spawn(async move {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let writes: Vec<_> = (0..25u64)
                        .map(|k| {
                            let item = std::collections::HashMap::from([
                                ("id".to_owned(), AttributeValue::S(format!("{c}-{i}-{k}"))),
                                ("n".to_owned(), AttributeValue::N((i * 25 + k).to_string())),
                                ("payload".to_owned(), AttributeValue::S("x".repeat(60))),
                            ]);
                            WriteRequest::builder()
                                .put_request(PutRequest::builder().set_item(Some(item)).build().unwrap())
                                .build()
                        })
                        .collect();
                    if client
                        .batch_write_item()
                        .request_items("source", writes)
                        .send()
                        .await
                        .is_ok()
                    {
                        written.fetch_add(25, Ordering::Relaxed);
                    }
                    i += 1;
                }
            }));
        }
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            t.await.unwrap();
        }
        let stopped = Instant::now();
        let written = written.load(Ordering::Relaxed);
        let status = emu.pipelines().status().unwrap();
        let behind = status["pipelines"][0]["pending_records"].as_u64().unwrap_or(0);
        let wait = emu.pipelines().caught_up();
        tokio::pin!(wait);
        loop {
            tokio::select! {
                r = &mut wait => { r.unwrap(); break; }
                () = tokio::time::sleep(Duration::from_secs(5)) => {
                    let s = emu.pipelines().status().unwrap();
                    eprintln!("{label}: {} records pending", s["pipelines"][0]["pending_records"]);
                }
            }
        }
        let done = Instant::now();
        let status = emu.pipelines().status().unwrap();
        let applied = status["pipelines"][0]["records_applied"].as_u64().unwrap_or(0);
        assert_eq!(applied, written, "every change applied once: {status}");
        Row {
            label: label.to_owned(),
            written,
            write_rate: written as f64 / (stopped - started).as_secs_f64(),
            pipeline_rate: applied as f64 / (done - started).as_secs_f64(),
            behind_at_stop: behind,
            drain: done - stopped,
        }
    });
    drop(running);
    drop(server_rt);
    let _ = std::fs::remove_dir_all(&dir);
    row
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let seconds: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(10);
    let nclients: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(16);
    let with_batch = |mut spec: PipelineSpec, n: u32| {
        spec.settings.batch_size = n;
        spec
    };
    println!(
        "| pipeline ({nclients} writers, BatchWriteItem, {seconds} s) | changes | writes/s | pipeline changes/s | behind at stop | drained in |"
    );
    println!("|---|---|---|---|---|---|");
    let configs = [
        (
            "replicate, batch size 100",
            PipelineSpec::replicate("source=replica").unwrap(),
        ),
        (
            "replicate, batch size 1000",
            with_batch(PipelineSpec::replicate("source=replica").unwrap(), 1000),
        ),
        (
            "backup, batch size 100",
            PipelineSpec::backup("source=s3://bench-backup/p").unwrap(),
        ),
        (
            "backup, batch size 1000",
            with_batch(PipelineSpec::backup("source=s3://bench-backup/p").unwrap(), 1000),
        ),
    ];
    let only = args.get(2).cloned().unwrap_or_default();
    for (label, spec) in configs {
        if !label.contains(only.as_str()) {
            continue;
        }
        let r = run(label, spec, seconds, nclients);
        println!(
            "| {} | {} | {:.0} | {:.0} | {} | {:.1} s |",
            r.label,
            r.written,
            r.write_rate,
            r.pipeline_rate,
            r.behind_at_stop,
            r.drain.as_secs_f64()
        );
    }
}
