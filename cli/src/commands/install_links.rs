//! `ddbrep install-links DIR`: symlinks named after the original's commands, so existing scripts that call
//! `diff-tables …` or `backup-table …` run ddbrep unchanged.

use std::path::PathBuf;

use clap::Args;

use super::ORIGINAL_COMMANDS;
use crate::error::CliError;

/// install-links.
#[derive(Args, Debug)]
pub struct InstallLinksArgs {
    /// The directory to put the links in (usually one on PATH).
    pub dir: PathBuf,
    /// Replace files of the same names.
    #[arg(long)]
    pub force: bool,
}

/// Makes one link per original command, pointing at the running executable.
pub fn cmd_install_links(args: &InstallLinksArgs) -> Result<(), CliError> {
    let exe = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .map_err(|e| CliError::failed(format!("cannot find the ddbrep executable: {e}")))?;
    std::fs::create_dir_all(&args.dir)
        .map_err(|e| CliError::failed(format!("cannot create {}: {e}", args.dir.display())))?;
    for name in ORIGINAL_COMMANDS {
        let link = args.dir.join(name);
        if link.symlink_metadata().is_ok() {
            if !args.force {
                return Err(CliError::failed(format!("{} already exists", link.display()))
                    .hinted("pass --force to replace it"));
            }
            std::fs::remove_file(&link)
                .map_err(|e| CliError::failed(format!("cannot replace {}: {e}", link.display())))?;
        }
        make_link(&exe, &link)
            .map_err(|e| CliError::failed(format!("cannot link {}: {e}", link.display())))?;
        println!("{} -> {}", link.display(), exe.display());
    }
    Ok(())
}

#[cfg(unix)]
fn make_link(target: &std::path::Path, link: &std::path::Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(not(unix))]
fn make_link(target: &std::path::Path, link: &std::path::Path) -> std::io::Result<()> {
    std::fs::copy(target, link).map(|_| ())
}
