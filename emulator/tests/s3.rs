//! S3 through aws-sdk-s3 over HTTP against a real emulator: buckets, objects, checksums (the SDK's default
//! aws-chunked trailers), conditional reads and writes, listings, versions, multipart, copies, errors.
#![allow(clippy::unwrap_used)]

mod common;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, ChecksumAlgorithm, ChecksumMode, CompletedMultipartUpload, CompletedPart, Delete,
    EncodingType, MetadataDirective, ObjectIdentifier, VersioningConfiguration,
};
use aws_sdk_s3::Client;
use base64::Engine as _;
use common::s3_error;

async fn setup(bucket: &str) -> (common::TestEmu, Client) {
    let t = common::start().await;
    let s3 = common::s3_client(&t.running, true);
    s3.create_bucket().bucket(bucket).send().await.unwrap();
    (t, s3)
}

async fn put(s3: &Client, bucket: &str, key: &str, body: &[u8]) -> String {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
        .unwrap()
        .e_tag()
        .unwrap()
        .to_owned()
}

async fn get(s3: &Client, bucket: &str, key: &str) -> Vec<u8> {
    let out = s3.get_object().bucket(bucket).key(key).send().await.unwrap();
    out.body.collect().await.unwrap().into_bytes().to_vec()
}

fn md5_hex(data: &[u8]) -> String {
    hex::encode(ddbrep_emu::s3::checksum::md5(data))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buckets_are_created_listed_located_and_deleted() {
    let (_t, s3) = setup("alpha").await;
    s3.create_bucket().bucket("beta").send().await.unwrap();
    let again = s3.create_bucket().bucket("alpha").send().await.unwrap_err();
    assert_eq!(s3_error(&again), ("BucketAlreadyOwnedByYou".into(), 409));
    s3.head_bucket().bucket("alpha").send().await.unwrap();
    let missing = s3.head_bucket().bucket("nope").send().await.unwrap_err();
    assert_eq!(missing.raw_response().unwrap().status().as_u16(), 404);
    let names: Vec<_> = s3
        .list_buckets()
        .send()
        .await
        .unwrap()
        .buckets()
        .iter()
        .map(|b| b.name().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["alpha", "beta"]);
    let location = s3.get_bucket_location().bucket("alpha").send().await.unwrap();
    assert!(location
        .location_constraint()
        .is_none_or(|c| c.as_str().is_empty()));
    put(&s3, "alpha", "k", b"v").await;
    let not_empty = s3.delete_bucket().bucket("alpha").send().await.unwrap_err();
    assert_eq!(s3_error(&not_empty), ("BucketNotEmpty".into(), 409));
    s3.delete_object().bucket("alpha").key("k").send().await.unwrap();
    s3.delete_bucket().bucket("alpha").send().await.unwrap();
    let gone = s3.get_bucket_location().bucket("alpha").send().await.unwrap_err();
    assert_eq!(s3_error(&gone), ("NoSuchBucket".into(), 404));
    let no_bucket = s3.delete_bucket().bucket("alpha").send().await.unwrap_err();
    assert_eq!(s3_error(&no_bucket), ("NoSuchBucket".into(), 404));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_bucket_names_are_refused() {
    let t = common::start().await;
    let s3 = common::s3_client(&t.running, true);
    let e = s3.create_bucket().bucket("Bad_Name").send().await.unwrap_err();
    assert_eq!(s3_error(&e), ("InvalidBucketName".into(), 400));
}

/// Records the body-framing headers of every request the SDK sends.
#[derive(Debug, Default, Clone)]
struct SeenHeaders(std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>);

impl aws_sdk_s3::config::Intercept for SeenHeaders {
    fn name(&self) -> &'static str {
        "SeenHeaders"
    }

    fn read_before_transmit(
        &self,
        ctx: &aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _rc: &aws_sdk_s3::config::RuntimeComponents,
        _cfg: &mut aws_sdk_s3::config::ConfigBag,
    ) -> Result<(), aws_sdk_s3::error::BoxError> {
        let h = ctx.request().headers();
        let get = |n: &str| h.get(n).unwrap_or_default().to_owned();
        self.0
            .lock()
            .unwrap()
            .push((get("x-amz-content-sha256"), get("x-amz-trailer")));
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_round_trip_with_the_sdks_default_trailing_checksum() {
    let (t, _) = setup("bkt").await;
    let seen = SeenHeaders::default();
    let s3 = Client::from_conf(
        common::s3_client(&t.running, true)
            .config()
            .to_builder()
            .interceptor(seen.clone())
            .build(),
    );
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    // A streaming body (from a file), which the SDK sends aws-chunked with a trailing checksum.
    let file = std::env::temp_dir().join(format!("ddbrep-s3-roundtrip-{}", std::process::id()));
    std::fs::write(&file, &body).unwrap();
    let put = s3
        .put_object()
        .bucket("bkt")
        .key("dir/data.bin")
        .body(ByteStream::from_path(&file).await.unwrap())
        .content_type("application/x-test")
        .content_encoding("identity")
        .cache_control("max-age=60")
        .content_disposition("attachment; filename=\"data.bin\"")
        .metadata("Color", "blue")
        .send()
        .await
        .unwrap();
    // The SDK sent CRC32 in an aws-chunked trailer (signed chunks over plain HTTP); the server decoded the
    // chunks, verified the checksum and kept it.
    let (framing, trailer) = seen.0.lock().unwrap().last().cloned().unwrap();
    assert_eq!(framing, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER");
    assert_eq!(trailer, "x-amz-checksum-crc32");
    std::fs::remove_file(&file).unwrap();
    let crc = put
        .checksum_crc32()
        .expect("the server answers the checksum")
        .to_owned();
    assert_eq!(put.e_tag().unwrap(), format!("\"{}\"", md5_hex(&body)));
    let got = s3
        .get_object()
        .bucket("bkt")
        .key("dir/data.bin")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(got.checksum_crc32(), Some(crc.as_str()));
    assert_eq!(got.content_type(), Some("application/x-test"));
    assert_eq!(got.content_encoding(), Some("identity"));
    assert_eq!(got.cache_control(), Some("max-age=60"));
    assert_eq!(
        got.content_disposition(),
        Some("attachment; filename=\"data.bin\"")
    );
    assert_eq!(
        got.metadata().unwrap().get("color").map(String::as_str),
        Some("blue")
    );
    assert_eq!(got.content_length(), Some(body.len() as i64));
    assert_eq!(got.body.collect().await.unwrap().into_bytes().to_vec(), body);

    let head = s3
        .head_object()
        .bucket("bkt")
        .key("dir/data.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(body.len() as i64));
    assert_eq!(head.e_tag(), put.e_tag());

    // Small objects (stored inline) and empty ones too, with each checksum algorithm.
    for algo in [
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Crc32C,
        ChecksumAlgorithm::Crc64Nvme,
        ChecksumAlgorithm::Sha1,
        ChecksumAlgorithm::Sha256,
    ] {
        for data in [&b""[..], b"hello"] {
            s3.put_object()
                .bucket("bkt")
                .key("small")
                .checksum_algorithm(algo.clone())
                .body(ByteStream::from(data.to_vec()))
                .send()
                .await
                .unwrap();
            let got = s3
                .get_object()
                .bucket("bkt")
                .key("small")
                .checksum_mode(ChecksumMode::Enabled)
                .send()
                .await
                .unwrap();
            let has = match algo {
                ChecksumAlgorithm::Crc32 => got.checksum_crc32().is_some(),
                ChecksumAlgorithm::Crc32C => got.checksum_crc32_c().is_some(),
                ChecksumAlgorithm::Crc64Nvme => got.checksum_crc64_nvme().is_some(),
                ChecksumAlgorithm::Sha1 => got.checksum_sha1().is_some(),
                _ => got.checksum_sha256().is_some(),
            };
            assert!(has, "{algo:?} kept");
            assert_eq!(got.body.collect().await.unwrap().into_bytes().to_vec(), data);
        }
    }
    let missing = s3
        .get_object()
        .bucket("bkt")
        .key("nope")
        .send()
        .await
        .unwrap_err();
    assert_eq!(s3_error(&missing), ("NoSuchKey".into(), 404));
    let no_bucket = s3
        .get_object()
        .bucket("no-such-bucket")
        .key("k")
        .send()
        .await
        .unwrap_err();
    assert_eq!(s3_error(&no_bucket), ("NoSuchBucket".into(), 404));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_checksums_and_content_md5_are_bad_digests() {
    let (_t, s3) = setup("bkt").await;
    let e = s3
        .put_object()
        .bucket("bkt")
        .key("k")
        .checksum_crc32("AAAAAA==")
        .body(ByteStream::from_static(b"hello"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(s3_error(&e), ("BadDigest".into(), 400));
    let wrong_md5 = base64::engine::general_purpose::STANDARD.encode(ddbrep_emu::s3::checksum::md5(b"other"));
    let e = s3
        .put_object()
        .bucket("bkt")
        .key("k")
        .content_md5(wrong_md5)
        .body(ByteStream::from_static(b"hello"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(s3_error(&e), ("BadDigest".into(), 400));
    let right_md5 = base64::engine::general_purpose::STANDARD.encode(ddbrep_emu::s3::checksum::md5(b"hello"));
    s3.put_object()
        .bucket("bkt")
        .key("k")
        .content_md5(right_md5)
        .body(ByteStream::from_static(b"hello"))
        .send()
        .await
        .unwrap();
    // Nothing of the refused writes is visible.
    assert_eq!(get(&s3, "bkt", "k").await, b"hello");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_conditions_and_response_overrides_apply_to_reads() {
    let (t, s3) = setup("bkt").await;
    let etag = put(&s3, "bkt", "k", b"0123456789").await;
    let part = s3
        .get_object()
        .bucket("bkt")
        .key("k")
        .range("bytes=2-5")
        .send()
        .await
        .unwrap();
    assert_eq!(part.content_range(), Some("bytes 2-5/10"));
    assert_eq!(part.body.collect().await.unwrap().into_bytes().as_ref(), b"2345");
    let tail = s3
        .get_object()
        .bucket("bkt")
        .key("k")
        .range("bytes=-3")
        .send()
        .await
        .unwrap();
    assert_eq!(tail.body.collect().await.unwrap().into_bytes().as_ref(), b"789");
    let open = s3
        .get_object()
        .bucket("bkt")
        .key("k")
        .range("bytes=7-")
        .send()
        .await
        .unwrap();
    assert_eq!(open.body.collect().await.unwrap().into_bytes().as_ref(), b"789");
    let bad = s3
        .get_object()
        .bucket("bkt")
        .key("k")
        .range("bytes=20-30")
        .send()
        .await
        .unwrap_err();
    assert_eq!(s3_error(&bad), ("InvalidRange".into(), 416));

    let e = s3
        .get_object()
        .bucket("bkt")
        .key("k")
        .if_match("\"nope\"")
        .send()
        .await
        .unwrap_err();
    assert_eq!(s3_error(&e), ("PreconditionFailed".into(), 412));
    s3.get_object()
        .bucket("bkt")
        .key("k")
        .if_match(&etag)
        .send()
        .await
        .unwrap();
    let e = s3
        .get_object()
        .bucket("bkt")
        .key("k")
        .if_none_match(&etag)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.raw_response().unwrap().status().as_u16(), 304);
    let future = aws_sdk_s3::primitives::DateTime::from_secs(4_000_000_000);
    let past = aws_sdk_s3::primitives::DateTime::from_secs(1_000_000_000);
    let e = s3
        .get_object()
        .bucket("bkt")
        .key("k")
        .if_modified_since(future)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.raw_response().unwrap().status().as_u16(), 304);
    s3.get_object()
        .bucket("bkt")
        .key("k")
        .if_modified_since(past)
        .send()
        .await
        .unwrap();
    let e = s3
        .get_object()
        .bucket("bkt")
        .key("k")
        .if_unmodified_since(past)
        .send()
        .await
        .unwrap_err();
    assert_eq!(s3_error(&e), ("PreconditionFailed".into(), 412));
    s3.get_object()
        .bucket("bkt")
        .key("k")
        .if_unmodified_since(future)
        .send()
        .await
        .unwrap();
    let e = s3
        .head_object()
        .bucket("bkt")
        .key("k")
        .if_match("\"nope\"")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.raw_response().unwrap().status().as_u16(), 412);

    let over = s3
        .get_object()
        .bucket("bkt")
        .key("k")
        .response_content_type("text/plain")
        .response_content_disposition("inline")
        .response_cache_control("no-cache")
        .send()
        .await
        .unwrap();
    assert_eq!(over.content_type(), Some("text/plain"));
    assert_eq!(over.content_disposition(), Some("inline"));
    assert_eq!(over.cache_control(), Some("no-cache"));

    // Raw: the error is S3's XML and the connection is answered, not dropped.
    let (status, _, body) = common::raw_http(
        t.running.addr(),
        "GET /bkt/missing HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        b"",
    )
    .await;
    assert_eq!(status, 404);
    let body = String::from_utf8_lossy(&body);
    assert!(body.contains("<Code>NoSuchKey</Code>"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_are_deleted_one_by_one_and_in_batches() {
    let (_t, s3) = setup("bkt").await;
    for k in ["a", "b", "c"] {
        put(&s3, "bkt", k, k.as_bytes()).await;
    }
    s3.delete_object().bucket("bkt").key("a").send().await.unwrap();
    // Deleting what is not there succeeds, as in S3.
    s3.delete_object().bucket("bkt").key("a").send().await.unwrap();
    let e = s3.head_object().bucket("bkt").key("a").send().await.unwrap_err();
    assert_eq!(e.raw_response().unwrap().status().as_u16(), 404);
    let out = s3
        .delete_objects()
        .bucket("bkt")
        .delete(
            Delete::builder()
                .objects(ObjectIdentifier::builder().key("b").build().unwrap())
                .objects(ObjectIdentifier::builder().key("c").build().unwrap())
                .objects(ObjectIdentifier::builder().key("never").build().unwrap())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let mut deleted: Vec<_> = out
        .deleted()
        .iter()
        .map(|d| d.key().unwrap().to_owned())
        .collect();
    deleted.sort();
    assert_eq!(deleted, ["b", "c", "never"]);
    let listed = s3.list_objects_v2().bucket("bkt").send().await.unwrap();
    assert_eq!(listed.key_count(), Some(0));
    let quiet = s3
        .delete_objects()
        .bucket("bkt")
        .delete(
            Delete::builder()
                .objects(ObjectIdentifier::builder().key("x").build().unwrap())
                .quiet(true)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert!(quiet.deleted().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_keep_or_replace_metadata() {
    let (_t, s3) = setup("src").await;
    s3.create_bucket().bucket("dst").send().await.unwrap();
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 7) as u8).collect();
    s3.put_object()
        .bucket("src")
        .key("k")
        .content_type("text/x-original")
        .metadata("a", "1")
        .body(ByteStream::from(big.clone()))
        .send()
        .await
        .unwrap();
    let copied = s3
        .copy_object()
        .bucket("dst")
        .key("copy")
        .copy_source("src/k")
        .send()
        .await
        .unwrap();
    assert_eq!(
        copied.copy_object_result().unwrap().e_tag(),
        Some(format!("\"{}\"", md5_hex(&big)).as_str())
    );
    let got = s3.get_object().bucket("dst").key("copy").send().await.unwrap();
    assert_eq!(got.content_type(), Some("text/x-original"));
    assert_eq!(got.metadata().unwrap().get("a").map(String::as_str), Some("1"));
    assert_eq!(got.body.collect().await.unwrap().into_bytes().to_vec(), big);

    s3.copy_object()
        .bucket("dst")
        .key("replaced")
        .copy_source("src/k")
        .metadata_directive(MetadataDirective::Replace)
        .content_type("text/x-new")
        .metadata("b", "2")
        .send()
        .await
        .unwrap();
    let head = s3
        .head_object()
        .bucket("dst")
        .key("replaced")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("text/x-new"));
    assert_eq!(head.metadata().unwrap().get("a"), None);
    assert_eq!(head.metadata().unwrap().get("b").map(String::as_str), Some("2"));

    let to_self = s3
        .copy_object()
        .bucket("src")
        .key("k")
        .copy_source("src/k")
        .send()
        .await
        .unwrap_err();
    assert_eq!(s3_error(&to_self), ("InvalidRequest".into(), 400));
    let missing = s3
        .copy_object()
        .bucket("dst")
        .key("x")
        .copy_source("src/none")
        .send()
        .await
        .unwrap_err();
    assert_eq!(s3_error(&missing), ("NoSuchKey".into(), 404));
    let cond = s3
        .copy_object()
        .bucket("dst")
        .key("x")
        .copy_source("src/k")
        .copy_source_if_match("\"nope\"")
        .send()
        .await
        .unwrap_err();
    assert_eq!(s3_error(&cond), ("PreconditionFailed".into(), 412));
}

/// The keys of the listing tests: top-level files and a two-level tree.
fn tree_keys() -> Vec<String> {
    let mut keys = Vec::new();
    for top in 0..5 {
        keys.push(format!("file{top}.txt"));
        for sub in 0..6 {
            for leaf in 0..7 {
                keys.push(format!("dir{top}/sub{sub}/leaf{leaf}"));
            }
        }
        keys.push(format!("dir{top}/readme"));
    }
    keys.sort();
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_objects_v2_pages_through_many_keys_with_and_without_a_delimiter() {
    let (_t, s3) = setup("bkt").await;
    let keys = tree_keys();
    for chunk in keys.chunks(32) {
        let mut puts = Vec::new();
        for k in chunk {
            let s3 = s3.clone();
            let k = k.clone();
            puts.push(tokio::spawn(
                async move { put(&s3, "bkt", &k, k.as_bytes()).await },
            ));
        }
        for p in puts {
            p.await.unwrap();
        }
    }

    // Every key, 7 at a time, in order.
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket("bkt")
            .max_keys(7)
            .set_continuation_token(token)
            .send()
            .await
            .unwrap();
        assert!(page.key_count().unwrap() <= 7);
        seen.extend(page.contents().iter().map(|o| o.key().unwrap().to_owned()));
        token = page.next_continuation_token().map(str::to_owned);
        if !page.is_truncated().unwrap() {
            assert!(token.is_none());
            break;
        }
    }
    assert_eq!(seen, keys);

    // With a delimiter, 2 entries per page: top-level files and dir prefixes, interleaved in key order.
    let mut entries = Vec::new();
    let mut token = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket("bkt")
            .delimiter("/")
            .max_keys(2)
            .set_continuation_token(token)
            .send()
            .await
            .unwrap();
        entries.extend(page.contents().iter().map(|o| o.key().unwrap().to_owned()));
        entries.extend(
            page.common_prefixes()
                .iter()
                .map(|p| p.prefix().unwrap().to_owned()),
        );
        token = page.next_continuation_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    entries.sort();
    let mut expected: Vec<String> = (0..5).map(|i| format!("dir{i}/")).collect();
    expected.extend((0..5).map(|i| format!("file{i}.txt")));
    expected.sort();
    assert_eq!(entries, expected);

    // A prefix and a delimiter: one level down.
    let page = s3
        .list_objects_v2()
        .bucket("bkt")
        .prefix("dir2/")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let prefixes: Vec<_> = page
        .common_prefixes()
        .iter()
        .map(|p| p.prefix().unwrap())
        .collect();
    assert_eq!(
        prefixes,
        (0..6).map(|i| format!("dir2/sub{i}/")).collect::<Vec<_>>()
    );
    let files: Vec<_> = page.contents().iter().map(|o| o.key().unwrap()).collect();
    assert_eq!(files, ["dir2/readme"]);

    // start-after.
    let page = s3
        .list_objects_v2()
        .bucket("bkt")
        .start_after("file3.txt")
        .send()
        .await
        .unwrap();
    let after: Vec<_> = page.contents().iter().map(|o| o.key().unwrap()).collect();
    assert_eq!(after, ["file4.txt"]);

    // encoding-type=url percent-encodes keys.
    put(&s3, "bkt", "with space+plus", b"x").await;
    let page = s3
        .list_objects_v2()
        .bucket("bkt")
        .prefix("with")
        .encoding_type(EncodingType::Url)
        .send()
        .await
        .unwrap();
    assert_eq!(page.contents()[0].key(), Some("with%20space%2Bplus"));

    let e = s3.list_objects_v2().bucket("nope").send().await.unwrap_err();
    assert_eq!(s3_error(&e), ("NoSuchBucket".into(), 404));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_objects_v1_pages_with_markers() {
    let (_t, s3) = setup("bkt").await;
    let keys = tree_keys();
    for k in keys.iter().take(60) {
        put(&s3, "bkt", k, b"x").await;
    }
    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = s3
            .list_objects()
            .bucket("bkt")
            .max_keys(9)
            .set_marker(marker.clone())
            .send()
            .await
            .unwrap();
        seen.extend(page.contents().iter().map(|o| o.key().unwrap().to_owned()));
        if !page.is_truncated().unwrap() {
            break;
        }
        // Without a delimiter S3 sends no NextMarker: the last key is the marker.
        assert!(page.next_marker().is_none());
        marker = seen.last().cloned();
    }
    assert_eq!(seen, keys[..60].to_vec());

    let mut prefixes = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = s3
            .list_objects()
            .bucket("bkt")
            .prefix("dir0/")
            .delimiter("/")
            .max_keys(2)
            .set_marker(marker.clone())
            .send()
            .await
            .unwrap();
        prefixes.extend(
            page.common_prefixes()
                .iter()
                .map(|p| p.prefix().unwrap().to_owned()),
        );
        if !page.is_truncated().unwrap() {
            break;
        }
        marker = Some(page.next_marker().unwrap().to_owned());
    }
    assert_eq!(
        prefixes,
        (0..6).map(|i| format!("dir0/sub{i}/")).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_and_delete_markers_follow_the_bucket_versioning() {
    let (t, s3) = setup("ver").await;
    let status = s3.get_bucket_versioning().bucket("ver").send().await.unwrap();
    assert!(status.status().is_none());
    put(&s3, "ver", "k", b"before").await; // version null
    s3.put_bucket_versioning()
        .bucket("ver")
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        s3.get_bucket_versioning()
            .bucket("ver")
            .send()
            .await
            .unwrap()
            .status(),
        Some(&BucketVersioningStatus::Enabled)
    );
    let v1 = s3
        .put_object()
        .bucket("ver")
        .key("k")
        .body(ByteStream::from_static(b"one"))
        .send()
        .await
        .unwrap()
        .version_id()
        .unwrap()
        .to_owned();
    let v2 = s3
        .put_object()
        .bucket("ver")
        .key("k")
        .body(ByteStream::from_static(b"two"))
        .send()
        .await
        .unwrap()
        .version_id()
        .unwrap()
        .to_owned();
    assert_ne!(v1, v2);
    assert_eq!(get(&s3, "ver", "k").await, b"two");
    let old = s3
        .get_object()
        .bucket("ver")
        .key("k")
        .version_id(&v1)
        .send()
        .await
        .unwrap();
    assert_eq!(old.version_id(), Some(v1.as_str()));
    assert_eq!(old.body.collect().await.unwrap().into_bytes().as_ref(), b"one");
    let null = s3
        .get_object()
        .bucket("ver")
        .key("k")
        .version_id("null")
        .send()
        .await
        .unwrap();
    assert_eq!(
        null.body.collect().await.unwrap().into_bytes().as_ref(),
        b"before"
    );

    // A plain DELETE adds a delete marker; GET answers 404 with x-amz-delete-marker: true.
    let del = s3.delete_object().bucket("ver").key("k").send().await.unwrap();
    assert_eq!(del.delete_marker(), Some(true));
    let marker = del.version_id().unwrap().to_owned();
    let e = s3.get_object().bucket("ver").key("k").send().await.unwrap_err();
    assert_eq!(s3_error(&e), ("NoSuchKey".into(), 404));
    let raw = e.raw_response().unwrap();
    assert_eq!(
        raw.headers().get("x-amz-delete-marker"),
        Some("true"),
        "the 404 says it is a delete marker"
    );
    let e = s3.head_object().bucket("ver").key("k").send().await.unwrap_err();
    assert_eq!(
        e.raw_response().unwrap().headers().get("x-amz-delete-marker"),
        Some("true")
    );
    let e = s3
        .get_object()
        .bucket("ver")
        .key("k")
        .version_id(&marker)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.raw_response().unwrap().status().as_u16(), 405);
    let listed = s3.list_objects_v2().bucket("ver").send().await.unwrap();
    assert_eq!(listed.key_count(), Some(0));

    let versions = s3.list_object_versions().bucket("ver").send().await.unwrap();
    let ids: Vec<_> = versions
        .versions()
        .iter()
        .map(|v| v.version_id().unwrap().to_owned())
        .collect();
    assert_eq!(ids, [v2.clone(), v1.clone(), "null".to_owned()]);
    assert!(versions.versions().iter().all(|v| v.is_latest() == Some(false)));
    assert_eq!(versions.delete_markers().len(), 1);
    assert_eq!(versions.delete_markers()[0].version_id(), Some(marker.as_str()));
    assert_eq!(versions.delete_markers()[0].is_latest(), Some(true));

    // Deleting the delete marker by version id brings the object back.
    let undone = s3
        .delete_object()
        .bucket("ver")
        .key("k")
        .version_id(&marker)
        .send()
        .await
        .unwrap();
    assert_eq!(undone.delete_marker(), Some(true));
    assert_eq!(get(&s3, "ver", "k").await, b"two");
    // Deleting a version by id removes it for good.
    s3.delete_object()
        .bucket("ver")
        .key("k")
        .version_id(&v2)
        .send()
        .await
        .unwrap();
    assert_eq!(get(&s3, "ver", "k").await, b"one");
    let e = s3
        .get_object()
        .bucket("ver")
        .key("k")
        .version_id(&v2)
        .send()
        .await
        .unwrap_err();
    assert_eq!(s3_error(&e), ("NoSuchVersion".into(), 404));
    let head = s3
        .head_object()
        .bucket("ver")
        .key("k")
        .version_id(&v1)
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(3));

    // Versions page by page with key and version-id markers.
    for i in 0..5 {
        put(&s3, "ver", &format!("p{i}"), b"a").await;
        put(&s3, "ver", &format!("p{i}"), b"b").await;
    }
    let mut all = Vec::new();
    let (mut km, mut vm): (Option<String>, Option<String>) = (None, None);
    loop {
        let page = s3
            .list_object_versions()
            .bucket("ver")
            .prefix("p")
            .max_keys(3)
            .set_key_marker(km)
            .set_version_id_marker(vm)
            .send()
            .await
            .unwrap();
        all.extend(
            page.versions()
                .iter()
                .map(|v| (v.key().unwrap().to_owned(), v.version_id().unwrap().to_owned())),
        );
        if !page.is_truncated().unwrap() {
            break;
        }
        km = page.next_key_marker().map(str::to_owned);
        vm = page.next_version_id_marker().map(str::to_owned);
    }
    assert_eq!(all.len(), 10);
    let unique: std::collections::BTreeSet<_> = all.iter().collect();
    assert_eq!(unique.len(), 10);

    // Suspended: writes and deletes are version null.
    s3.put_bucket_versioning()
        .bucket("ver")
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Suspended)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let put = s3
        .put_object()
        .bucket("ver")
        .key("k")
        .body(ByteStream::from_static(b"suspended"))
        .send()
        .await
        .unwrap();
    assert_eq!(put.version_id(), Some("null"));
    let versions = s3
        .list_object_versions()
        .bucket("ver")
        .prefix("k")
        .send()
        .await
        .unwrap();
    let ids: Vec<_> = versions
        .versions()
        .iter()
        .map(|v| v.version_id().unwrap().to_owned())
        .collect();
    assert_eq!(
        ids,
        ["null".to_owned(), v1.clone()],
        "the old null version was replaced"
    );

    // Raw PutBucketVersioning with a bad body is MalformedXML.
    let body = b"<VersioningConfiguration><Status>Sometimes</Status></VersioningConfiguration>";
    let head = format!(
        "PUT /ver?versioning HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let (status, _, body) = common::raw_http(t.running.addr(), &head, body).await;
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("MalformedXML"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_conditional_writes_never_both_succeed() {
    let (_t, s3) = setup("cnd").await;
    for round in 0..5 {
        let key = format!("race{round}");
        let mut racers = Vec::new();
        for i in 0..16 {
            let s3 = s3.clone();
            let key = key.clone();
            racers.push(tokio::spawn(async move {
                s3.put_object()
                    .bucket("cnd")
                    .key(&key)
                    .if_none_match("*")
                    .body(ByteStream::from(format!("writer {i}").into_bytes()))
                    .send()
                    .await
                    .map_err(|e| s3_error(&e))
            }));
        }
        let mut won = 0;
        for r in racers {
            match r.await.unwrap() {
                Ok(_) => won += 1,
                Err(e) => assert_eq!(e, ("PreconditionFailed".to_owned(), 412)),
            }
        }
        assert_eq!(won, 1, "exactly one If-None-Match: * write wins");
    }

    // If-Match: the ETag must be the current one; racing updates from one ETag: one wins.
    let etag = put(&s3, "cnd", "m", b"v0").await;
    let mut racers = Vec::new();
    for i in 0..8 {
        let (s3, etag) = (s3.clone(), etag.clone());
        racers.push(tokio::spawn(async move {
            s3.put_object()
                .bucket("cnd")
                .key("m")
                .if_match(etag)
                .body(ByteStream::from(format!("v{}", i + 1).into_bytes()))
                .send()
                .await
                .is_ok()
        }));
    }
    let mut won = 0;
    for r in racers {
        won += usize::from(r.await.unwrap());
    }
    assert_eq!(won, 1);
    let e = s3
        .put_object()
        .bucket("cnd")
        .key("m")
        .if_match(etag)
        .body(ByteStream::from_static(b"late"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(s3_error(&e), ("PreconditionFailed".into(), 412));
    let e = s3
        .put_object()
        .bucket("cnd")
        .key("absent")
        .if_match("\"abc\"")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(s3_error(&e), ("NoSuchKey".into(), 404));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_uploads_assemble_their_parts() {
    let (_t, s3) = setup("mpu").await;
    let part1: Vec<u8> = (0..5 * 1024 * 1024u32).map(|i| (i % 253) as u8).collect();
    let part2 = b"the last part may be small".to_vec();
    let created = s3
        .create_multipart_upload()
        .bucket("mpu")
        .key("big")
        .content_type("application/x-mp")
        .send()
        .await
        .unwrap();
    let id = created.upload_id().unwrap().to_owned();
    let mut etags = Vec::new();
    for (n, data) in [(1, &part1), (2, &part2)] {
        let out = s3
            .upload_part()
            .bucket("mpu")
            .key("big")
            .upload_id(&id)
            .part_number(n)
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap();
        etags.push(out.e_tag().unwrap().to_owned());
    }
    let parts = s3
        .list_parts()
        .bucket("mpu")
        .key("big")
        .upload_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(parts.parts().len(), 2);
    assert_eq!(parts.parts()[0].size(), Some(part1.len() as i64));
    let uploads = s3.list_multipart_uploads().bucket("mpu").send().await.unwrap();
    assert_eq!(uploads.uploads()[0].upload_id(), Some(id.as_str()));

    let wrong = s3
        .complete_multipart_upload()
        .bucket("mpu")
        .key("big")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(CompletedPart::builder().part_number(1).e_tag("\"0000\"").build())
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(s3_error(&wrong), ("InvalidPart".into(), 400));
    let disordered = s3
        .complete_multipart_upload()
        .bucket("mpu")
        .key("big")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(CompletedPart::builder().part_number(2).e_tag(&etags[1]).build())
                .parts(CompletedPart::builder().part_number(1).e_tag(&etags[0]).build())
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(s3_error(&disordered), ("InvalidPartOrder".into(), 400));

    let done = s3
        .complete_multipart_upload()
        .bucket("mpu")
        .key("big")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(CompletedPart::builder().part_number(1).e_tag(&etags[0]).build())
                .parts(CompletedPart::builder().part_number(2).e_tag(&etags[1]).build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mut digests = ddbrep_emu::s3::checksum::md5(&part1);
    digests.extend(ddbrep_emu::s3::checksum::md5(&part2));
    let expected = format!("\"{}-2\"", md5_hex(&digests));
    assert_eq!(done.e_tag(), Some(expected.as_str()));
    let got = s3.get_object().bucket("mpu").key("big").send().await.unwrap();
    assert_eq!(got.e_tag(), Some(expected.as_str()));
    assert_eq!(got.content_type(), Some("application/x-mp"));
    let mut whole = part1.clone();
    whole.extend_from_slice(&part2);
    assert_eq!(got.body.collect().await.unwrap().into_bytes().to_vec(), whole);
    // A range across the part boundary.
    let start = part1.len() - 3;
    let cross = s3
        .get_object()
        .bucket("mpu")
        .key("big")
        .range(format!("bytes={start}-{}", start + 5))
        .send()
        .await
        .unwrap();
    assert_eq!(
        cross.body.collect().await.unwrap().into_bytes().to_vec(),
        whole[start..start + 6].to_vec()
    );
    let gone = s3
        .list_parts()
        .bucket("mpu")
        .key("big")
        .upload_id(&id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(s3_error(&gone), ("NoSuchUpload".into(), 404));

    // A small part before the last one: EntityTooSmall. Then abort, twice.
    let id2 = s3
        .create_multipart_upload()
        .bucket("mpu")
        .key("small")
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_owned();
    let mut etags = Vec::new();
    for n in 1..=2 {
        let out = s3
            .upload_part()
            .bucket("mpu")
            .key("small")
            .upload_id(&id2)
            .part_number(n)
            .body(ByteStream::from_static(b"tiny"))
            .send()
            .await
            .unwrap();
        etags.push(out.e_tag().unwrap().to_owned());
    }
    let small = s3
        .complete_multipart_upload()
        .bucket("mpu")
        .key("small")
        .upload_id(&id2)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(CompletedPart::builder().part_number(1).e_tag(&etags[0]).build())
                .parts(CompletedPart::builder().part_number(2).e_tag(&etags[1]).build())
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(s3_error(&small), ("EntityTooSmall".into(), 400));
    s3.abort_multipart_upload()
        .bucket("mpu")
        .key("small")
        .upload_id(&id2)
        .send()
        .await
        .unwrap();
    let again = s3
        .abort_multipart_upload()
        .bucket("mpu")
        .key("small")
        .upload_id(&id2)
        .send()
        .await
        .unwrap_err();
    assert_eq!(s3_error(&again), ("NoSuchUpload".into(), 404));

    // UploadPartCopy: a range of an existing object becomes a part; conditional complete.
    let id3 = s3
        .create_multipart_upload()
        .bucket("mpu")
        .key("copied")
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_owned();
    let copy = s3
        .upload_part_copy()
        .bucket("mpu")
        .key("copied")
        .upload_id(&id3)
        .part_number(1)
        .copy_source("mpu/big")
        .copy_source_range(format!("bytes=0-{}", part1.len() - 1))
        .send()
        .await
        .unwrap();
    let copy_etag = copy.copy_part_result().unwrap().e_tag().unwrap().to_owned();
    assert_eq!(copy_etag, format!("\"{}\"", md5_hex(&part1)));
    let tail = s3
        .upload_part()
        .bucket("mpu")
        .key("copied")
        .upload_id(&id3)
        .part_number(2)
        .body(ByteStream::from_static(b"end"))
        .send()
        .await
        .unwrap();
    let blocked = s3
        .complete_multipart_upload()
        .bucket("mpu")
        .key("copied")
        .upload_id(&id3)
        .if_none_match("*")
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(CompletedPart::builder().part_number(1).e_tag(&copy_etag).build())
                .parts(
                    CompletedPart::builder()
                        .part_number(2)
                        .e_tag(tail.e_tag().unwrap())
                        .build(),
                )
                .build(),
        )
        .send()
        .await;
    // The key does not exist yet, so If-None-Match: * holds.
    blocked.unwrap();
    let mut expected = part1.clone();
    expected.extend_from_slice(b"end");
    assert_eq!(get(&s3, "mpu", "copied").await, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn virtual_host_style_requests_name_the_bucket_in_the_host() {
    let t = common::start().await;
    let s3 = common::s3_client(&t.running, false);
    s3.create_bucket().bucket("vhost").send().await.unwrap();
    put(&s3, "vhost", "a/b.txt", b"virtual").await;
    assert_eq!(get(&s3, "vhost", "a/b.txt").await, b"virtual");
    let listed = s3.list_objects_v2().bucket("vhost").send().await.unwrap();
    assert_eq!(listed.contents()[0].key(), Some("a/b.txt"));
    // The same object path style.
    let path = common::s3_client(&t.running, true);
    assert_eq!(get(&path, "vhost", "a/b.txt").await, b"virtual");
    // And a raw request with the bucket in the Host header.
    let (status, _, body) = common::raw_http(
        t.running.addr(),
        "GET /a/b.txt HTTP/1.1\r\nHost: vhost.localhost:8000\r\nConnection: close\r\n\r\n",
        b"",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body, b"virtual");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_aws_chunked_bodies_are_refused_with_an_s3_error() {
    let (t, _s3) = setup("bkt").await;
    let body = b"5\r\nhel";
    let head = format!(
        "PUT /bkt/k HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Encoding: aws-chunked\r\nx-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER\r\nx-amz-decoded-content-length: 5\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let (status, _, resp) = common::raw_http(t.running.addr(), &head, body).await;
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&resp).contains("<Code>"));
    // A well-formed one with a wrong trailing checksum: BadDigest.
    let body = b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n";
    let head = format!(
        "PUT /bkt/k HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Encoding: aws-chunked\r\nx-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER\r\nx-amz-trailer: x-amz-checksum-crc32\r\nx-amz-decoded-content-length: 5\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let (status, _, resp) = common::raw_http(t.running.addr(), &head, body).await;
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&resp).contains("<Code>BadDigest</Code>"));
    // Signed chunks from a client with credentials the emulator never saw are accepted.
    let sig = "0".repeat(64);
    let body = format!("5;chunk-signature={sig}\r\nhello\r\n0;chunk-signature={sig}\r\n\r\n");
    let head = format!(
        "PUT /bkt/signed HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: AWS4-HMAC-SHA256 Credential=UNKNOWN/20250101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature={sig}\r\nx-amz-date: 20250101T000000Z\r\nContent-Encoding: aws-chunked\r\nx-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD\r\nx-amz-decoded-content-length: 5\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let (status, _, _) = common::raw_http(t.running.addr(), &head, body.as_bytes()).await;
    assert_eq!(status, 200);
    let (status, _, resp) = common::raw_http(
        t.running.addr(),
        "GET /bkt/signed HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        b"",
    )
    .await;
    assert_eq!((status, resp.as_slice()), (200, &b"hello"[..]));
}
