//! The `ddbrep` binary: parses the command line (also when invoked through a link named after an original
//! command, e.g. `diff-tables`), runs the command, and maps its error to an exit code.

use std::process::ExitCode;

use clap::Parser;
use ddbrep::commands::{self, Cli, ORIGINAL_COMMANDS};

/// mimalloc, without transparent huge pages (see DESIGN, tools benchmark).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // Invoked as `diff-tables` (a link): run as `ddbrep diff-tables`.
    let invoked = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .and_then(|n| n.to_str())
        .map(str::to_owned);
    if let Some(name) = invoked.filter(|n| ORIGINAL_COMMANDS.contains(&n.as_str())) {
        args.insert(1, name.into());
        args[0] = "ddbrep".into();
    }
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DDBREP_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(e.kind.exit_code())
        }
    }
}
