//! A multi-GiB multipart upload and download through a real `ddbrep-emu` process, whose peak RSS must stay
//! flat: bodies stream to and from files, never whole in memory. Ignored by default (it moves gigabytes);
//! run it with `cargo test -p ddbrep-emu --test s3_large -- --ignored`. `DDBREP_S3_LARGE_GIB` sets the size
//! (default 3 GiB; S3's largest single PutObject is 5 GiB, multipart goes beyond).
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

/// Parts of 64 MiB, four in flight.
const PART: usize = 64 << 20;
const IN_FLIGHT: usize = 4;
/// The server's peak RSS may not exceed this, whatever the object's size.
const MAX_RSS_MIB: u64 = 256;

fn peak_rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .parse()
        .unwrap();
    kb / 1024
}

/// Part `n`'s bytes: a pattern that differs per part, so a misplaced part is caught.
fn part_bytes(n: usize) -> bytes::Bytes {
    bytes::Bytes::from(
        (0..PART)
            .map(|i| ((i / 4096 + n * 13) % 251) as u8)
            .collect::<Vec<u8>>(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "moves gigabytes: run with --ignored"]
async fn a_multi_gib_multipart_upload_streams_with_flat_server_memory() {
    let gib: usize = std::env::var("DDBREP_S3_LARGE_GIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let parts = (gib << 30) / PART;
    let dir = std::env::temp_dir().join(format!("ddbrep-s3-large-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ddbrep-emu"))
        .args(["--listen", "127.0.0.1:0", "--log", "warn", "--db"])
        .arg(dir.join("large.sqlite"))
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
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .endpoint_url(&endpoint)
            .force_path_style(true)
            .credentials_provider(aws_sdk_s3::config::Credentials::new("a", "b", None, None, "test"))
            .build(),
    );
    s3.create_bucket().bucket("large").send().await.unwrap();
    let id = s3
        .create_multipart_upload()
        .bucket("large")
        .key("huge")
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_owned();

    let semaphore = std::sync::Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let mut tasks = Vec::new();
    for n in 0..parts {
        let permit = std::sync::Arc::clone(&semaphore).acquire_owned().await.unwrap();
        let (s3, id) = (s3.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            let out = s3
                .upload_part()
                .bucket("large")
                .key("huge")
                .upload_id(id)
                .part_number(n as i32 + 1)
                .body(ByteStream::from(part_bytes(n)))
                .send()
                .await
                .unwrap();
            drop(permit);
            CompletedPart::builder()
                .part_number(n as i32 + 1)
                .e_tag(out.e_tag().unwrap())
                .build()
        }));
    }
    let mut completed = Vec::new();
    for t in tasks {
        completed.push(t.await.unwrap());
    }
    let done = s3
        .complete_multipart_upload()
        .bucket("large")
        .key("huge")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(completed))
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(done.e_tag().unwrap().ends_with(&format!("-{parts}\"")));

    // Download and compare every part's bytes as they stream.
    let out = s3.get_object().bucket("large").key("huge").send().await.unwrap();
    assert_eq!(out.content_length(), Some((parts * PART) as i64));
    let mut body = out.body;
    let (mut offset, mut current, mut expected) = (0usize, 0usize, part_bytes(0));
    while let Some(chunk) = body.next().await {
        let chunk = chunk.unwrap();
        let mut at = 0;
        while at < chunk.len() {
            let in_part = offset % PART;
            if offset / PART != current {
                current = offset / PART;
                expected = part_bytes(current);
            }
            let n = (PART - in_part).min(chunk.len() - at);
            assert!(
                chunk[at..at + n] == expected[in_part..in_part + n],
                "bytes differ at offset {offset}"
            );
            at += n;
            offset += n;
        }
    }
    assert_eq!(offset, parts * PART);
    let rss = peak_rss_mib(child.id());
    assert!(
        rss < MAX_RSS_MIB,
        "the server's peak RSS was {rss} MiB for a {gib} GiB object"
    );
    eprintln!("{gib} GiB in {parts} parts: server peak RSS {rss} MiB");
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
