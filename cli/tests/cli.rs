//! The `ddbrep` binary as users run it: help, usage errors and their exit code, and links named after the
//! original's commands.
#![allow(clippy::unwrap_used)]

use std::process::Command;

fn ddbrep() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ddbrep"))
}

#[test]
fn every_tool_has_help_with_an_example() {
    for tool in ddbrep::commands::ORIGINAL_COMMANDS {
        let out = ddbrep().args([tool, "--help"]).output().unwrap();
        assert!(out.status.success(), "{tool}");
        let help = String::from_utf8(out.stdout).unwrap();
        assert!(help.contains("Example: ddbrep"), "{tool}: {help}");
    }
}

#[test]
fn a_bad_location_is_a_usage_error_naming_it() {
    let out = ddbrep()
        .args(["diff-tables", "orders", "us-east-1/replica"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("invalid table location \"orders\""), "{err}");
    let out = ddbrep()
        .args(["backup-table", "us-east-1/t", "bucket/prefix"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("invalid S3 location"));
}

#[test]
fn segment_without_segments_is_a_usage_error() {
    let out = ddbrep()
        .args(["diff-tables", "local/a", "local/b", "--segment", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn links_named_after_original_commands_run_them() {
    let dir = std::env::temp_dir().join(format!("ddbrep-links-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = ddbrep().arg("install-links").arg(&dir).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for tool in ddbrep::commands::ORIGINAL_COMMANDS {
        assert!(dir.join(tool).exists(), "{tool}");
    }
    let out = Command::new(dir.join("diff-tables"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8(out.stdout).unwrap().contains("--repair"));
    // A second run refuses to overwrite, unless told.
    let again = ddbrep().arg("install-links").arg(&dir).output().unwrap();
    assert_eq!(again.status.code(), Some(3));
    assert!(String::from_utf8(again.stderr).unwrap().contains("--force"));
    assert!(ddbrep()
        .arg("install-links")
        .arg(&dir)
        .arg("--force")
        .output()
        .unwrap()
        .status
        .success());
    std::fs::remove_dir_all(&dir).unwrap();
}
