//! `invoke-handler`: runs the `replicate` or `backup` stream handler once on a captured event, with the
//! Lambda environment contract, and prints its partial batch response. Replays a real event against the
//! emulator or a test account.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::PathBuf;

use clap::Args;

use super::context;
use super::Common;
use crate::error::CliError;
use crate::handler::env::Config;
use crate::handler::{Handler, HandlerKind};

/// invoke-handler.
#[derive(Args, Debug)]
pub struct InvokeHandlerArgs {
    /// The handler: replicate or backup (index.replicate and index.backup work too).
    pub handler: String,
    /// The event file (a Lambda DynamoDB stream event, {"Records":[…]}); `-` reads stdin.
    #[arg(long)]
    pub event: PathBuf,
    /// Set a variable of the Lambda environment (repeatable), over the process environment:
    /// --env ReplicaTable=replica --env BackupBucket=backups.
    #[arg(long = "env", value_name = "NAME=VALUE")]
    pub env: Vec<String>,
    #[command(flatten)]
    pub common: Common,
}

fn overrides(pairs: &[String]) -> Result<BTreeMap<String, String>, CliError> {
    pairs
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
            _ => Err(CliError::usage(format!("--env {pair:?}: expected NAME=VALUE"))),
        })
        .collect()
}

/// Runs invoke-handler. Exit 0 when every record was applied, 3 when some were not (they are listed in
/// the printed `batchItemFailures`) or the invocation failed as a whole.
pub fn cmd(args: &InvokeHandlerArgs) -> Result<(), CliError> {
    let kind = HandlerKind::parse(&args.handler).ok_or_else(|| {
        CliError::usage(format!(
            "unknown handler {:?}: expected replicate or backup",
            args.handler
        ))
    })?;
    let text = if args.event.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| CliError::failed(format!("cannot read the event from stdin: {e}")))?;
        text
    } else {
        std::fs::read_to_string(&args.event)
            .map_err(|e| CliError::usage(format!("cannot read the event {}: {e}", args.event.display())))?
    };
    let set = overrides(&args.env)?;
    let config = Config::from_env(|name| set.get(name).cloned().or_else(|| std::env::var(name).ok()))
        .map_err(|e| {
            CliError::usage(e).hinted("the handlers read the original's Lambda environment: see DEPLOY.md")
        })?;
    let connection = args.common.connection();
    let runtime = context::runtime()?;
    let outcome = runtime.block_on(async {
        let handler = Handler::new(kind, config, &connection)
            .await
            .map_err(CliError::usage)?;
        handler
            .invoke_text(&text, None)
            .await
            .map_err(|e| CliError::failed(format!("{} handler: {e}", kind.name())))
    })?;
    println!("{}", outcome.response());
    let failed = outcome.summary.failures.len();
    if failed > 0 {
        return Err(CliError::failed(format!(
            "{} handler: {failed} key(s) not applied, from record {} on (see batchItemFailures)",
            kind.name(),
            outcome.summary.failures[0].sequence_number
        )));
    }
    Ok(())
}
