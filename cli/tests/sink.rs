//! The gzip'd object sink against a real `ddbrep-emu`: multipart once an object outgrows a part, a single
//! PutObject below that, and nothing visible after an abort.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use ddbrep::drive::sink::{GzipObjects, Sink};

#[tokio::test(flavor = "multi_thread")]
async fn large_streams_go_up_in_parts_and_small_ones_in_one_put() {
    let env = common::start().await;
    env.create_bucket("sinks", false).await;
    let mut rng = fastrand::Rng::with_seed(5);
    // Random hex text compresses to about half: 24 MiB in, ~12 MiB out, three 5 MiB parts at least.
    let chunk = |rng: &mut fastrand::Rng| -> Vec<u8> {
        (0..1 << 20)
            .map(|_| b"0123456789abcdef"[rng.usize(..16)])
            .collect()
    };
    let mut sink = GzipObjects::new(
        env.s3.clone(),
        "sinks",
        [
            (0, "big".to_owned()),
            (1, "small".to_owned()),
            (2, "empty".to_owned()),
        ],
    )
    .with_part_size(5 * 1024 * 1024);
    let mut expected = Vec::new();
    for _ in 0..24 {
        let bytes = chunk(&mut rng);
        expected.extend_from_slice(&bytes);
        sink.write(0, bytes).await.unwrap();
    }
    sink.write(1, b"line\n".to_vec()).await.unwrap();
    sink.finish().await.unwrap();
    let big = env.get_object("sinks", "big").await;
    assert_eq!(common::gunzip(&big).as_bytes(), expected.as_slice());
    let head = env
        .s3
        .head_object()
        .bucket("sinks")
        .key("big")
        .send()
        .await
        .unwrap();
    let etag = head.e_tag().unwrap();
    assert!(etag.contains('-'), "a multipart ETag: {etag}");
    assert_eq!(common::gunzip(&env.get_object("sinks", "small").await), "line\n");
    assert_eq!(common::gunzip(&env.get_object("sinks", "empty").await), "");
    let written = sink.written();
    assert_eq!(written[0].bytes_in, expected.len() as u64);
    assert_eq!(written[0].bytes_out, big.len() as u64);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_aborted_stream_leaves_nothing_behind() {
    let env = common::start().await;
    env.create_bucket("aborts", false).await;
    let mut sink = GzipObjects::new(env.s3.clone(), "aborts", [(0, "partial".to_owned())])
        .with_part_size(5 * 1024 * 1024);
    let mut rng = fastrand::Rng::with_seed(9);
    for _ in 0..12 {
        let bytes: Vec<u8> = (0..1 << 20).map(|_| rng.u8(..)).collect();
        sink.write(0, bytes).await.unwrap();
    }
    sink.abort().await;
    assert!(env.keys("aborts", "").await.is_empty());
    let uploads = env
        .s3
        .list_multipart_uploads()
        .bucket("aborts")
        .send()
        .await
        .unwrap();
    assert!(uploads.uploads().is_empty(), "the multipart upload was aborted");
}

/// Records the encryption headers of every request.
#[derive(Debug, Default, Clone)]
struct SeenEncryption(std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>);

impl aws_sdk_s3::config::Intercept for SeenEncryption {
    fn name(&self) -> &'static str {
        "SeenEncryption"
    }

    fn read_before_transmit(
        &self,
        ctx: &aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _rc: &aws_sdk_s3::config::RuntimeComponents,
        _cfg: &mut aws_sdk_s3::config::ConfigBag,
    ) -> Result<(), aws_sdk_s3::error::BoxError> {
        let h = ctx.request().headers();
        let get = |n: &str| h.get(n).unwrap_or_default().to_owned();
        self.0.lock().unwrap().push((
            get("x-amz-server-side-encryption"),
            get("x-amz-server-side-encryption-aws-kms-key-id"),
        ));
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn objects_carry_the_originals_server_side_encryption_settings() {
    use ddbrep::drive::sink::Encryption;
    let env = common::start().await;
    env.create_bucket("sse", false).await;
    let seen = SeenEncryption::default();
    let client =
        aws_sdk_s3::Client::from_conf(env.s3.config().to_builder().interceptor(seen.clone()).build());
    let vars = |name: &str| match name {
        "ServerSideEncryption" => Some("aws:kms".to_owned()),
        "SSEKMSKeyId" => Some("alias/backups".to_owned()),
        _ => None,
    };
    let mut sink = GzipObjects::new(client, "sse", [(0, "small".to_owned()), (1, "big".to_owned())])
        .with_part_size(5 * 1024 * 1024)
        .with_encryption(Some(Encryption::from_env(vars)));
    sink.write(0, b"line\n".to_vec()).await.unwrap();
    let mut rng = fastrand::Rng::with_seed(9);
    for _ in 0..16 {
        let bytes: Vec<u8> = (0..1 << 20)
            .map(|_| b"0123456789abcdef"[rng.usize(..16)])
            .collect();
        sink.write(1, bytes).await.unwrap();
    }
    sink.finish().await.unwrap();
    assert_eq!(common::gunzip(&env.get_object("sse", "small").await), "line\n");
    let seen = seen.0.lock().unwrap().clone();
    let kms = ("aws:kms".to_owned(), "alias/backups".to_owned());
    // CreateMultipartUpload and the small object's PutObject carry the settings (UploadPart does not:
    // S3 takes them from the upload).
    assert!(seen.iter().filter(|s| **s == kms).count() >= 2, "{seen:?}");
    // Without the variables, AES256, as the original sent.
    assert_eq!(
        Encryption::from_env(|_| None),
        Encryption {
            algorithm: "AES256".into(),
            kms_key_id: None
        }
    );
}
