//! S3 durability with a real process: `ddbrep-emu` killed with SIGKILL while objects are being written (small
//! ones inline in SQLite, larger ones in body files) and one large upload is half sent. After a restart every
//! acknowledged object reads back byte for byte, the half-sent one is not visible, and its partial body file
//! is gone.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use aws_sdk_s3::primitives::ByteStream;
use tokio::io::AsyncWriteExt;

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

fn client(endpoint: &str) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .force_path_style(true)
            .credentials_provider(aws_sdk_s3::config::Credentials::new("a", "b", None, None, "test"))
            .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
            .build(),
    )
}

/// The body of object `w`-`i`: small for most, 100 KiB (a body file) for every fourth.
fn body_of(w: usize, i: usize) -> Vec<u8> {
    let len = if i.is_multiple_of(4) { 100 * 1024 } else { 300 };
    (0..len).map(|j| ((w * 31 + i * 7 + j) % 251) as u8).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_mid_upload_loses_no_acknowledged_object_and_shows_no_half_object() {
    let dir = std::env::temp_dir().join(format!("ddbrep-s3-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("crash.sqlite");
    let (mut child, endpoint) = spawn(&db);
    let s3 = client(&endpoint);
    s3.create_bucket().bucket("durable").send().await.unwrap();

    // A large PUT whose body stops half way: its bytes are in a body file when the process dies.
    let addr: std::net::SocketAddr = endpoint.trim_start_matches("http://").parse().unwrap();
    let mut half = tokio::net::TcpStream::connect(addr).await.unwrap();
    half.write_all(b"PUT /durable/half HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10485760\r\n\r\n")
        .await
        .unwrap();
    half.write_all(&vec![7u8; 4 * 1024 * 1024]).await.unwrap();

    let acked = Arc::new(Mutex::new(Vec::<(usize, usize)>::new()));
    let (enough_tx, enough_rx) = tokio::sync::watch::channel(false);
    let mut writers = Vec::new();
    for w in 0..8 {
        let s3 = s3.clone();
        let acked = Arc::clone(&acked);
        let enough_tx = enough_tx.clone();
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let put = s3
                    .put_object()
                    .bucket("durable")
                    .key(format!("w{w}/{i}"))
                    .body(ByteStream::from(body_of(w, i)))
                    .send()
                    .await;
                if put.is_err() {
                    return; // the server is gone
                }
                let mut acked = acked.lock().unwrap();
                acked.push((w, i));
                if acked.len() >= 400 {
                    let _ = enough_tx.send(true);
                }
            }
        }));
    }
    let mut enough = enough_rx;
    enough.wait_for(|e| *e).await.unwrap();
    child.kill().unwrap(); // SIGKILL, with writes and the half upload in flight
    child.wait().unwrap();
    for w in writers {
        w.await.unwrap();
    }
    drop(half);
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 400);
    let objects_dir = dir.join("crash.sqlite.objects");
    let partial = |dir: &std::path::Path| {
        std::fs::read_dir(dir)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().metadata().unwrap().len() != 100 * 1024)
            .count()
    };
    assert!(
        partial(&objects_dir) >= 1,
        "the half upload left a partial body file"
    );

    let (mut child, endpoint) = spawn(&db);
    assert_eq!(
        partial(&objects_dir),
        0,
        "the restart swept every partial body file"
    );
    let s3 = client(&endpoint);
    for (w, i) in &acked {
        let got = s3
            .get_object()
            .bucket("durable")
            .key(format!("w{w}/{i}"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("acknowledged object w{w}/{i} lost: {e:?}"));
        let bytes = got.body.collect().await.unwrap().into_bytes();
        assert!(bytes.as_ref() == body_of(*w, *i).as_slice(), "w{w}/{i} differs");
    }
    let half = s3
        .get_object()
        .bucket("durable")
        .key("half")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        common::s3_error(&half).1,
        404,
        "the half-sent object is not visible"
    );

    // Every body file left is named by an object: the half upload's file was swept at startup. (At most
    // one object per writer may have been committed without its answer arriving before the kill.)
    let files = std::fs::read_dir(&objects_dir).unwrap().count();
    let acked_files = acked.iter().filter(|(_, i)| i.is_multiple_of(4)).count();
    assert!(
        files >= acked_files && files <= acked_files + 8,
        "{files} body files for {acked_files} acknowledged large objects"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
