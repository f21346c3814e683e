//! `ddbrep-emu`: a local DynamoDB, DynamoDB Streams and S3 on one SQLite file (issues #5 and #6).
//!
//! Not built yet: this crate holds the place in the workspace so the layout of DESIGN.md is real.
