//! `ddbrep`: the command-line tools, and the adapter layer shared with the Lambda handlers and the
//! simulation.
//!
//! - [`commands`]: one clap enum, one file per command.
//! - [`drive`]: the async driver layer: engine jobs on aws-sdk-dynamodb / aws-sdk-s3.
//! - [`handler`]: the stream handlers `replicate` and `backup` (run by the Lambda binary in `lambdas/`,
//!   by `ddbrep invoke-handler`, and by tests).
//! - [`location`]: table and S3 locations as the original took them.
//! - [`output`]: the original's log lines, or JSON events.
//! - [`error`]: error kinds and exit codes.

pub mod commands;
pub mod drive;
pub mod error;
pub mod handler;
pub mod location;
pub mod output;
