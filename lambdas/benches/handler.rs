//! The handlers' CPU per batch: a 1,000-record batch (1,000 keys, ~100-byte items) applied by the
//! `replicate` handler, and by `backup`, against an in-process `ddbrep-emu`. Run:
//! `cargo bench -p ddbrep-lambdas --bench handler -- [BATCHES]` (default 20).
//!
//! The emulator serves from its own multi-threaded runtime; the handler runs alone on the bench's main
//! thread (a current-thread runtime, so the SDK's I/O and the job loop stay on it), and its CPU time is read
//! from `/proc/thread-self/schedstat` (nanoseconds on CPU) around each invocation: the emulator's work is
//! not counted. Wall time includes the emulator's.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::Instant;

use ddbrep::drive::aws::Connection;
use ddbrep::handler::env::Config;
use ddbrep::handler::{Handler, HandlerKind};
use ddbrep_emu::Emulator;

fn thread_cpu_ns() -> u64 {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
    text.split_whitespace().next().unwrap().parse().unwrap()
}

fn event(batch: usize, records: usize) -> String {
    let records: Vec<String> = (0..records)
        .map(|i| {
            let seq = format!("{:021}", 1_000_000 + batch * records + i);
            format!(
                r#"{{"eventID":"{i}","eventName":"MODIFY","eventVersion":"1.1","eventSource":"aws:dynamodb","awsRegion":"us-east-1",
"eventSourceARN":"arn:aws:dynamodb:us-east-1:123456789012:table/primary/stream/2026-12-06T00:00:00.000",
"dynamodb":{{"ApproximateCreationDateTime":1765000000,"Keys":{{"id":{{"S":"item-{i:06}"}}}},
"NewImage":{{"id":{{"S":"item-{i:06}"}},"n":{{"N":"{batch}.12345678901234567890123456789"}},"payload":{{"S":"abcdefghijklmnopqrstuvwxyz0123456789abcdefghij"}}}},
"SequenceNumber":"{seq}","SizeBytes":120,"StreamViewType":"NEW_AND_OLD_IMAGES"}}}}"#
            )
        })
        .collect();
    format!(r#"{{"Records":[{}]}}"#, records.join(","))
}

fn main() {
    let batches: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(20);
    let server = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let running = server.block_on(async {
        let emu = Emulator::builder().seed(5).open().unwrap();
        emu.spawn_local().await.unwrap()
    });
    let endpoint = running.endpoint();
    std::env::set_var("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "secret");
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    client.block_on(async {
        let connection = Connection {
            endpoint_url: Some(endpoint.clone()),
            region: Some("us-east-1".into()),
            profile: None,
        };
        let admin = ddbrep::drive::aws::dynamodb(None, None, &connection).await;
        admin
            .create_table()
            .table_name("replica")
            .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
            .attribute_definitions(
                aws_sdk_dynamodb::types::AttributeDefinition::builder()
                    .attribute_name("id")
                    .attribute_type(aws_sdk_dynamodb::types::ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .key_schema(
                aws_sdk_dynamodb::types::KeySchemaElement::builder()
                    .attribute_name("id")
                    .key_type(aws_sdk_dynamodb::types::KeyType::Hash)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        let s3 = ddbrep::drive::aws::s3(None, &connection).await;
        s3.create_bucket().bucket("backups").send().await.unwrap();
        let config = Config::from_env(|name| match name {
            "ReplicaTable" => Some("replica".to_owned()),
            "BackupBucket" => Some("backups".to_owned()),
            "BackupPrefix" => Some("inc".to_owned()),
            _ => None,
        })
        .unwrap();
        for kind in [HandlerKind::Replicate, HandlerKind::Backup] {
            let handler = Handler::new(kind, config.clone(), &connection).await.unwrap();
            let mut cpu = Vec::new();
            let mut wall = Vec::new();
            // One warm-up batch: connections, the SDK's first-call setup.
            for b in 0..=batches {
                let text = event(b, 1000);
                let (c0, w0) = (thread_cpu_ns(), Instant::now());
                let outcome = handler.invoke_text(&text, None).await.unwrap();
                let (c1, w1) = (thread_cpu_ns(), w0.elapsed());
                assert!(outcome.summary.is_complete(), "{:?}", outcome.summary.failures.first());
                if b > 0 {
                    cpu.push((c1 - c0) as f64 / 1e6);
                    wall.push(w1.as_secs_f64() * 1e3);
                }
            }
            cpu.sort_by(f64::total_cmp);
            wall.sort_by(f64::total_cmp);
            let median = |v: &[f64]| v[v.len() / 2];
            println!(
                "{}: 1,000-record batch: handler CPU median {:.1} ms (min {:.1}, max {:.1}); wall median {:.1} ms; {} batches",
                kind.name(),
                median(&cpu),
                cpu[0],
                cpu[cpu.len() - 1],
                median(&wall),
                cpu.len()
            );
        }
    });
    drop(running);
}
