//! Test support: a real `ddbrep-emu` in-process on an ephemeral port, SDK clients for setting up and
//! checking, and the real `ddbrep` binary run against it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod interleave;

use std::io::Read as _;

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use ddbrep::drive::convert::{item_from_sdk, item_to_sdk};
use ddbrep_emu::{Emulator, Running};
use ddbrep_engine::codec::ddb_json;
use ddbrep_engine::model::Item;

/// A running emulator with clients.
pub struct TestEnv {
    pub emu: Emulator,
    pub running: Running,
    pub endpoint: String,
    pub ddb: aws_sdk_dynamodb::Client,
    pub s3: aws_sdk_s3::Client,
}

/// What a `ddbrep` run printed and how it ended.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// stdout lines carrying a bracketed tag, e.g. `[missing]`, with the rest of the line.
    pub fn tagged(&self, tag: &str) -> Vec<String> {
        let needle = format!("[{tag}] ");
        self.stdout
            .lines()
            .filter_map(|l| l.split_once(&needle).map(|(_, rest)| rest.to_owned()))
            .collect()
    }
}

/// An emulator on a manual clock whose backup pipeline keeps `s3://backups/inc/primary` (table `primary`
/// with a stream, created here; the bucket is the test's to create), and the clock.
pub async fn start_backed_up() -> (TestEnv, std::sync::Arc<ddbrep_emu::clock::ManualClock>) {
    let clock = std::sync::Arc::new(ddbrep_emu::clock::ManualClock::new(ddbrep_engine::time::Millis(
        1_780_000_000_000,
    )));
    let pipelines = vec![ddbrep_emu::pipeline::PipelineSpec::backup("primary=s3://backups/inc").unwrap()];
    let env = start_with(Emulator::builder().clock(clock.clone()).pipelines(pipelines)).await;
    env.create_stream_table("primary").await;
    (env, clock)
}

pub async fn start() -> TestEnv {
    start_with(Emulator::builder()).await
}

/// Starts an emulator from a builder (seeded; TTL expiries happen when a test calls `emu.sweep()`, not in
/// the background).
pub async fn start_with(builder: ddbrep_emu::EmulatorBuilder) -> TestEnv {
    let emu = builder
        .seed(11)
        .background_sweep(false)
        .open()
        .expect("emulator opens");
    let running = emu.spawn_local().await.expect("emulator listens");
    let endpoint = running.endpoint();
    let creds = Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
    let ddb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&endpoint)
            .credentials_provider(creds.clone())
            .build(),
    );
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .endpoint_url(&endpoint)
            .force_path_style(true)
            .credentials_provider(creds)
            .build(),
    );
    TestEnv {
        emu,
        running,
        endpoint,
        ddb,
        s3,
    }
}

fn def(name: &str, ty: ScalarAttributeType) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ty)
        .build()
        .unwrap()
}

fn elem(name: &str, ty: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(ty)
        .build()
        .unwrap()
}

impl TestEnv {
    /// `127.0.0.1:port/table`.
    pub fn table(&self, name: &str) -> String {
        format!("{}/{name}", self.running.addr())
    }

    /// A table keyed by `hash` (S) and, if given, `range` (S).
    pub async fn create_table(&self, name: &str, range: bool) {
        let mut create = self
            .ddb
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(def("hash", ScalarAttributeType::S))
            .key_schema(elem("hash", KeyType::Hash));
        if range {
            create = create
                .attribute_definitions(def("range", ScalarAttributeType::S))
                .key_schema(elem("range", KeyType::Range));
        }
        create.send().await.unwrap();
    }

    pub async fn create_bucket(&self, name: &str, versioned: bool) {
        self.s3.create_bucket().bucket(name).send().await.unwrap();
        if versioned {
            self.s3
                .put_bucket_versioning()
                .bucket(name)
                .versioning_configuration(
                    aws_sdk_s3::types::VersioningConfiguration::builder()
                        .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                        .build(),
                )
                .send()
                .await
                .unwrap();
        }
    }

    /// PutItem of a DynamoDB-JSON item.
    pub async fn put(&self, table: &str, item: &str) {
        let item = ddb_json::parse_item(item).unwrap();
        self.ddb
            .put_item()
            .table_name(table)
            .set_item(Some(item_to_sdk(&item)))
            .send()
            .await
            .unwrap();
    }

    /// Many DynamoDB-JSON items, by BatchWriteItem, eight requests at once (the emulator applies every
    /// request of a batch).
    pub async fn put_many(&self, table: &str, items: &[String]) {
        let mut batches = tokio::task::JoinSet::new();
        for chunk in items.chunks(25) {
            let requests: Vec<aws_sdk_dynamodb::types::WriteRequest> = chunk
                .iter()
                .map(|item| {
                    let item = ddb_json::parse_item(item).unwrap();
                    let put = aws_sdk_dynamodb::types::PutRequest::builder()
                        .set_item(Some(item_to_sdk(&item)))
                        .build()
                        .unwrap();
                    aws_sdk_dynamodb::types::WriteRequest::builder()
                        .put_request(put)
                        .build()
                })
                .collect();
            let call = self.ddb.batch_write_item().request_items(table, requests).send();
            batches.spawn(async move {
                let out = call.await.unwrap();
                assert!(out.unprocessed_items().is_none_or(|u| u.is_empty()));
            });
            if batches.len() >= 8 {
                batches.join_next().await.unwrap().unwrap();
            }
        }
        while let Some(done) = batches.join_next().await {
            done.unwrap();
        }
    }

    pub async fn delete(&self, table: &str, key: &str) {
        let key = ddb_json::parse_item(key).unwrap();
        self.ddb
            .delete_item()
            .table_name(table)
            .set_key(Some(item_to_sdk(&key)))
            .send()
            .await
            .unwrap();
    }

    /// Every item, sorted by its DynamoDB-JSON text.
    pub async fn scan(&self, table: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .ddb
                .scan()
                .table_name(table)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .unwrap();
            for item in page.items() {
                out.push(ddb_json::item_to_string(&item_from_sdk(item).unwrap()));
            }
            start = page.last_evaluated_key().cloned();
            if start.is_none() {
                break;
            }
        }
        out.sort();
        out
    }

    pub async fn get_object(&self, bucket: &str, key: &str) -> Vec<u8> {
        let out = self.s3.get_object().bucket(bucket).key(key).send().await.unwrap();
        out.body.collect().await.unwrap().into_bytes().to_vec()
    }

    pub async fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let out = self
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .send()
            .await
            .unwrap();
        out.contents()
            .iter()
            .map(|o| o.key().unwrap().to_owned())
            .collect()
    }

    /// Waits (a minute at most) until the emulator's stream pipelines have every change made so far.
    pub async fn caught_up(&self) {
        tokio::time::timeout(
            std::time::Duration::from_secs(60),
            self.emu.pipelines().caught_up(),
        )
        .await
        .expect("the pipelines catch up")
        .unwrap();
    }

    /// Runs the `ddbrep` binary with `--endpoint-url` pointing here and no AWS settings from outside.
    pub async fn ddbrep(&self, args: &[&str]) -> Run {
        run_ddbrep(args, &[("AWS_ENDPOINT_URL", &self.endpoint)]).await
    }
}

/// Runs the binary with a clean AWS environment plus `env`.
pub async fn run_ddbrep(args: &[&str], env: &[(&str, &str)]) -> Run {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ddbrep"));
        cmd.args(&args);
        for (k, _) in std::env::vars() {
            if k.starts_with("AWS_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("AWS_CONFIG_FILE", "/nonexistent")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
            .env("AWS_EC2_METADATA_DISABLED", "true");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("ddbrep runs");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        }
    })
    .await
    .unwrap()
}

/// Gunzips a whole object.
pub fn gunzip(bytes: &[u8]) -> String {
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_string(&mut text)
        .unwrap();
    text
}

/// The DynamoDB-JSON text of an item given as DynamoDB-JSON (normalised through the model).
pub fn canonical(item: &str) -> String {
    let item: Item = ddb_json::parse_item(item).unwrap();
    ddb_json::item_to_string(&item_from_sdk(&item_to_sdk(&item)).unwrap())
}

/// One DynamoDB / Streams JSON call over plain HTTP/1.1, answered as JSON text exactly as the server
/// wrote it (the SDK would turn stream records into its own types).
pub async fn raw_call(addr: std::net::SocketAddr, target: &str, body: &str) -> serde_json::Value {
    use std::io::Write as _;
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-amz-json-1.0\r\n\
         X-Amz-Target: {target}\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261206/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let target = target.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        let text = String::from_utf8(response).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{target}: {head}\n{body}");
        assert!(
            !head.to_ascii_lowercase().contains("transfer-encoding: chunked"),
            "{head}"
        );
        serde_json::from_str(body).unwrap()
    })
    .await
    .unwrap()
}

impl TestEnv {
    /// A table keyed by `hash` (S) and `range` (N) with a NEW_AND_OLD_IMAGES stream.
    pub async fn create_stream_table(&self, name: &str) {
        self.ddb
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(def("hash", ScalarAttributeType::S))
            .attribute_definitions(def("range", ScalarAttributeType::N))
            .key_schema(elem("hash", KeyType::Hash))
            .key_schema(elem("range", KeyType::Range))
            .stream_specification(
                aws_sdk_dynamodb::types::StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(aws_sdk_dynamodb::types::StreamViewType::NewAndOldImages)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }

    /// A table keyed by one string attribute.
    pub async fn create_table_keyed(&self, name: &str, key: &str) {
        self.ddb
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(def(key, ScalarAttributeType::S))
            .key_schema(elem(key, KeyType::Hash))
            .send()
            .await
            .unwrap();
    }

    /// Every record of a table's stream, shard by shard (parents first), as a Lambda event would carry
    /// them: the Streams API's records with `eventSourceARN` added.
    pub async fn stream_records(&self, table: &str) -> Vec<serde_json::Value> {
        let addr = self.running.addr();
        let described = raw_call(
            addr,
            "DynamoDB_20120810.DescribeTable",
            &serde_json::json!({ "TableName": table }).to_string(),
        )
        .await;
        let arn = described["Table"]["LatestStreamArn"].as_str().unwrap().to_owned();
        let stream = raw_call(
            addr,
            "DynamoDBStreams_20120810.DescribeStream",
            &serde_json::json!({ "StreamArn": arn }).to_string(),
        )
        .await;
        let mut out = Vec::new();
        for shard in stream["StreamDescription"]["Shards"].as_array().unwrap() {
            let iterator = raw_call(
                addr,
                "DynamoDBStreams_20120810.GetShardIterator",
                &serde_json::json!({
                    "StreamArn": arn,
                    "ShardId": shard["ShardId"],
                    "ShardIteratorType": "TRIM_HORIZON",
                })
                .to_string(),
            )
            .await;
            let mut next = iterator["ShardIterator"].as_str().map(str::to_owned);
            while let Some(it) = next.take() {
                let page = raw_call(
                    addr,
                    "DynamoDBStreams_20120810.GetRecords",
                    &serde_json::json!({ "ShardIterator": it }).to_string(),
                )
                .await;
                let records = page["Records"].as_array().unwrap();
                for record in records {
                    let mut record = record.clone();
                    record["eventSourceARN"] = serde_json::Value::String(arn.clone());
                    out.push(record);
                }
                // An open shard always answers a next iterator: stop once it has nothing more.
                if !records.is_empty() {
                    next = page["NextShardIterator"].as_str().map(str::to_owned);
                }
            }
        }
        out
    }
}
