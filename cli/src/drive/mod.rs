//! The async driver layer: runs any engine job (`ddbrep_engine::io::Job`) against a table store and an
//! object store, and carries its output streams to S3 or stdout.
//!
//! - [`TableStore`] and [`ObjectStore`]: the two small traits a job's requests go through. Implemented
//!   once, on aws-sdk-dynamodb ([`dynamo::DynamoTables`]) and aws-sdk-s3 ([`s3::S3Bucket`]); the simulation
//!   plugs the same implementations in with its own HTTP client.
//! - [`run::run`]: the driver loop of `engine::io`'s contract, on tokio (time from tokio's clock, so a
//!   paused or simulated clock works).
//! - [`sink`]: where `Action::Emit` bytes go: gzip'd objects (multipart for large ones), or a writer.
//! - [`aws`]: SDK configuration from locations, flags and the environment.
//! - [`convert`]: model ↔ `AttributeValue`, exactly.
//! - [`answer`]: Scan and BatchGetItem answers decoded by the engine's DynamoDB-JSON decoder, not the SDK's.
//!
//! Drivers never retry (the SDK's own retry layer stays on); they classify errors into
//! [`StoreError`](ddbrep_engine::io::StoreError) and the job retries with its seeded backoff.

pub mod answer;
pub mod aws;
pub mod convert;
pub mod dynamo;
pub mod errors;
pub mod run;
pub mod s3;
pub mod sink;

use std::future::Future;

use ddbrep_engine::io::{ObjectOp, ObjectResult, StoreError, TableOp, TableResult, TableSlot};

/// Where a job's table requests go.
pub trait TableStore: Clone + Send + Sync + 'static {
    /// Runs one request on the table in `slot`.
    fn call(
        &self,
        slot: TableSlot,
        op: TableOp,
    ) -> impl Future<Output = Result<TableResult, StoreError>> + Send;

    /// A new items-per-second budget measured from the capacity the tables report consumed, once each
    /// time it moves (see [`dynamo::Meter`]). The driver loop passes it to the job.
    fn take_rate(&self) -> Option<u32> {
        None
    }
}

/// Where a job's object requests go (one bucket).
pub trait ObjectStore: Clone + Send + Sync + 'static {
    /// Runs one request.
    fn call(&self, op: ObjectOp) -> impl Future<Output = Result<ObjectResult, StoreError>> + Send;
}

/// For jobs that use no table or no bucket: every request is refused.
#[derive(Debug, Clone, Copy, Default)]
pub struct Nothing;

impl TableStore for Nothing {
    async fn call(&self, _: TableSlot, op: TableOp) -> Result<TableResult, StoreError> {
        Err(StoreError::Fatal(format!(
            "{} asked of a job without a table",
            ddbrep_engine::io::table_op_name(&op)
        )))
    }
}

impl ObjectStore for Nothing {
    async fn call(&self, op: ObjectOp) -> Result<ObjectResult, StoreError> {
        Err(StoreError::Fatal(format!(
            "{} asked of a job without a bucket",
            ddbrep_engine::io::object_op_name(&op)
        )))
    }
}
