//! `ddbrep`: the command-line tools, and the adapter layer shared with the Lambda handlers and the
//! simulation (drivers over a table store and an object store; issue #7).
//!
//! - [`commands`]: one clap enum, one file per command.
//! - [`location`]: table and S3 locations as the original took them.
//! - [`output`]: the original's log lines, or JSON events.
//! - [`error`]: error kinds and exit codes.

pub mod commands;
pub mod drive;
pub mod error;
pub mod location;
pub mod output;
