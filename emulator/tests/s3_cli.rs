//! The AWS CLI's S3 commands against a real emulator, as users run them. Needs `aws` (`pip install awscli`);
//! CI installs it. Outside CI a missing `aws` skips the test with a message.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

/// Runs `aws --endpoint-url … <args>` and returns its standard output.
fn aws(endpoint: &str, args: &[&str]) -> String {
    let out = Command::new("aws")
        .arg("--endpoint-url")
        .arg(endpoint)
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_PAGER", "")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "aws {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Whether the CLI is there; in CI it must be.
fn have_aws() -> bool {
    let found = Command::new("aws")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "the AWS CLI is required in CI (pip install awscli)"
        );
        eprintln!("skipped: the AWS CLI is not installed (pip install awscli)");
    }
    found
}

/// The key of an `aws s3 ls --recursive` line: `2026-01-01 00:00:00   1234 the key`.
fn key_of_ls_line(line: &str) -> Option<&str> {
    let mut rest = line.trim_start();
    for _ in 0..3 {
        let i = rest.find(char::is_whitespace)?;
        rest = rest[i..].trim_start();
    }
    Some(rest)
}

/// Writes a file dated an hour ago: `aws s3 sync` re-uploads files newer than the object, and S3's
/// LastModified has whole seconds, so a file written this second would look newer.
fn write(path: &Path, data: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(hour_ago)
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_cli_makes_buckets_copies_lists_syncs_and_lists_versions() {
    if !have_aws() {
        return;
    }
    let t = common::start().await;
    let endpoint = t.running.endpoint();
    let dir = std::env::temp_dir().join(format!("ddbrep-s3-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    tokio::task::spawn_blocking(move || {
        aws(&endpoint, &["s3", "mb", "s3://cli-bucket"]);
        // Larger than the CLI's 8 MiB multipart threshold: uploaded and downloaded in parts.
        let big: Vec<u8> = (0..20 * 1024 * 1024u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        let up = dir.join("up/big.bin");
        write(&up, &big);
        aws(
            &endpoint,
            &["s3", "cp", up.to_str().unwrap(), "s3://cli-bucket/big/big.bin"],
        );
        let down = dir.join("down/big.bin");
        aws(
            &endpoint,
            &["s3", "cp", "s3://cli-bucket/big/big.bin", down.to_str().unwrap()],
        );
        assert!(
            std::fs::read(&down).unwrap() == big,
            "the downloaded file equals the uploaded one"
        );

        let src = dir.join("tree");
        for name in ["a.txt", "sub/b.txt", "sub/deeper/c.txt", "with space.txt"] {
            write(&src.join(name), name.as_bytes());
        }
        aws(
            &endpoint,
            &["s3", "sync", src.to_str().unwrap(), "s3://cli-bucket/tree"],
        );
        let listing = aws(&endpoint, &["s3", "ls", "--recursive", "s3://cli-bucket"]);
        let keys: Vec<&str> = listing.lines().filter_map(key_of_ls_line).collect();
        for expected in [
            "big/big.bin",
            "tree/a.txt",
            "tree/sub/b.txt",
            "tree/sub/deeper/c.txt",
            "tree/with space.txt",
        ] {
            assert!(keys.contains(&expected), "{expected} in {listing}");
        }
        // A second sync finds nothing to do; a sync down reproduces the tree.
        let again = aws(
            &endpoint,
            &["s3", "sync", src.to_str().unwrap(), "s3://cli-bucket/tree"],
        );
        assert!(again.trim().is_empty(), "nothing to sync: {again}");
        let back = dir.join("back");
        aws(
            &endpoint,
            &["s3", "sync", "s3://cli-bucket/tree", back.to_str().unwrap()],
        );
        assert_eq!(
            std::fs::read(back.join("sub/deeper/c.txt")).unwrap(),
            b"sub/deeper/c.txt"
        );
        assert_eq!(
            std::fs::read(back.join("with space.txt")).unwrap(),
            b"with space.txt"
        );

        aws(
            &endpoint,
            &[
                "s3api",
                "put-bucket-versioning",
                "--bucket",
                "cli-bucket",
                "--versioning-configuration",
                "Status=Enabled",
            ],
        );
        aws(
            &endpoint,
            &[
                "s3",
                "cp",
                src.join("a.txt").to_str().unwrap(),
                "s3://cli-bucket/tree/a.txt",
            ],
        );
        aws(&endpoint, &["s3", "rm", "s3://cli-bucket/tree/a.txt"]);
        let versions: serde_json::Value = serde_json::from_str(&aws(
            &endpoint,
            &[
                "--output",
                "json",
                "s3api",
                "list-object-versions",
                "--bucket",
                "cli-bucket",
                "--prefix",
                "tree/a.txt",
            ],
        ))
        .unwrap();
        assert_eq!(versions["Versions"].as_array().unwrap().len(), 2, "{versions}");
        assert_eq!(
            versions["DeleteMarkers"].as_array().unwrap().len(),
            1,
            "{versions}"
        );
        assert_eq!(versions["DeleteMarkers"][0]["IsLatest"], true);
        let _ = std::fs::remove_dir_all(&dir);
    })
    .await
    .unwrap();
}
