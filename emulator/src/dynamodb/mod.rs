//! The DynamoDB and DynamoDB Streams APIs (JSON 1.0): the operation named by `X-Amz-Target`, its input
//! read and checked, carried out on [`Storage`], its output or error written.
//!
//! Each operation lives in `ops/<name>.rs` as `run(&Service, &Request, body) -> Result<Vec<u8>, DdbError>`;
//! this module maps targets to them. Protocol (parsing, validation, serialisation) stays here and in
//! [`wire`]; storage knows nothing of JSON requests; expressions are evaluated by `ddbrep_engine::expr`.

pub mod error;
pub mod expressions;
mod ops;
pub mod records;
pub mod wire;

use std::sync::Arc;

use ddbrep_engine::time::Millis;

use crate::clock::{Clock, Rng};
use crate::storage::streams::ShardPolicy;
use crate::storage::Storage;
use error::{DdbError, ErrorCode};

/// The operations, by the name after the `.` in `X-Amz-Target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// CreateTable
    CreateTable,
    /// DescribeTable
    DescribeTable,
    /// ListTables
    ListTables,
    /// DeleteTable
    DeleteTable,
    /// UpdateTable
    UpdateTable,
    /// UpdateTimeToLive
    UpdateTimeToLive,
    /// DescribeTimeToLive
    DescribeTimeToLive,
    /// PutItem
    PutItem,
    /// GetItem
    GetItem,
    /// DeleteItem
    DeleteItem,
    /// UpdateItem
    UpdateItem,
    /// BatchWriteItem
    BatchWriteItem,
    /// BatchGetItem
    BatchGetItem,
    /// Query
    Query,
    /// Scan
    Scan,
    /// Streams: ListStreams
    ListStreams,
    /// Streams: DescribeStream
    DescribeStream,
    /// Streams: GetShardIterator
    GetShardIterator,
    /// Streams: GetRecords
    GetRecords,
}

impl Op {
    /// The operation an `X-Amz-Target` header names, if any.
    pub fn from_target(target: &str) -> Option<Op> {
        let (service, name) = target.split_once('.')?;
        let op = match (service, name) {
            ("DynamoDB_20120810", "CreateTable") => Op::CreateTable,
            ("DynamoDB_20120810", "DescribeTable") => Op::DescribeTable,
            ("DynamoDB_20120810", "ListTables") => Op::ListTables,
            ("DynamoDB_20120810", "DeleteTable") => Op::DeleteTable,
            ("DynamoDB_20120810", "UpdateTable") => Op::UpdateTable,
            ("DynamoDB_20120810", "UpdateTimeToLive") => Op::UpdateTimeToLive,
            ("DynamoDB_20120810", "DescribeTimeToLive") => Op::DescribeTimeToLive,
            ("DynamoDB_20120810", "PutItem") => Op::PutItem,
            ("DynamoDB_20120810", "GetItem") => Op::GetItem,
            ("DynamoDB_20120810", "DeleteItem") => Op::DeleteItem,
            ("DynamoDB_20120810", "UpdateItem") => Op::UpdateItem,
            ("DynamoDB_20120810", "BatchWriteItem") => Op::BatchWriteItem,
            ("DynamoDB_20120810", "BatchGetItem") => Op::BatchGetItem,
            ("DynamoDB_20120810", "Query") => Op::Query,
            ("DynamoDB_20120810", "Scan") => Op::Scan,
            ("DynamoDBStreams_20120810", "ListStreams") => Op::ListStreams,
            ("DynamoDBStreams_20120810", "DescribeStream") => Op::DescribeStream,
            ("DynamoDBStreams_20120810", "GetShardIterator") => Op::GetShardIterator,
            ("DynamoDBStreams_20120810", "GetRecords") => Op::GetRecords,
            _ => return None,
        };
        Some(op)
    }
}

/// Settings of the DynamoDB side.
#[derive(Debug, Clone)]
pub struct Config {
    /// The region in ARNs and stream records.
    pub region: String,
    /// When stream shards roll over.
    pub shard_policy: ShardPolicy,
    /// How long a new table stays CREATING (0: ACTIVE at once, after CreateTable answered CREATING).
    pub create_delay_ms: u64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            region: "us-east-1".into(),
            shard_policy: ShardPolicy::default(),
            create_delay_ms: 0,
        }
    }
}

/// The DynamoDB and Streams service.
pub struct Service {
    pub(crate) storage: Arc<Storage>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) rng: Arc<Rng>,
    pub(crate) config: Config,
}

/// What one request carries besides its body.
#[derive(Debug, Clone)]
pub struct Request {
    /// The account, from the SigV4 access key id.
    pub account: String,
    /// When it arrived.
    pub now: Millis,
}

impl Service {
    /// A service over `storage`.
    pub fn new(storage: Arc<Storage>, clock: Arc<dyn Clock>, rng: Arc<Rng>, config: Config) -> Service {
        Service {
            storage,
            clock,
            rng,
            config,
        }
    }

    /// Carries out one request: `target` is the `X-Amz-Target` header. Returns the HTTP status and body.
    pub async fn handle(&self, target: &str, account: String, body: &[u8]) -> (u16, Vec<u8>) {
        let request = Request {
            account,
            now: self.clock.now(),
        };
        let result = match Op::from_target(target) {
            Some(op) => self.dispatch(op, &request, body).await,
            None => Err(DdbError::new(ErrorCode::UnknownOperationException, "")),
        };
        match result {
            Ok(body) => (200, body),
            Err(e) => (e.code.status(), error_body(&e)),
        }
    }

    async fn dispatch(&self, op: Op, request: &Request, body: &[u8]) -> Result<Vec<u8>, DdbError> {
        match op {
            Op::CreateTable => ops::create_table::run(self, request, body).await,
            Op::DescribeTable => ops::describe_table::run(self, request, body),
            Op::ListTables => ops::list_tables::run(self, request, body),
            Op::DeleteTable => ops::delete_table::run(self, request, body).await,
            Op::UpdateTable => ops::update_table::run(self, request, body).await,
            Op::UpdateTimeToLive => ops::time_to_live::update(self, request, body).await,
            Op::DescribeTimeToLive => ops::time_to_live::describe(self, request, body),
            Op::PutItem => ops::put_item::run(self, request, body).await,
            Op::GetItem => ops::get_item::run(self, request, body),
            Op::DeleteItem => ops::delete_item::run(self, request, body).await,
            Op::UpdateItem => ops::update_item::run(self, request, body).await,
            Op::BatchWriteItem => ops::batch_write_item::run(self, request, body).await,
            Op::BatchGetItem => ops::batch_get_item::run(self, request, body),
            Op::Query => ops::query::run(self, request, body),
            Op::Scan => ops::scan::run(self, request, body),
            Op::ListStreams => crate::streams::ops::list_streams(self, request, body),
            Op::DescribeStream => crate::streams::ops::describe_stream(self, request, body),
            Op::GetShardIterator => crate::streams::ops::get_shard_iterator(self, request, body),
            Op::GetRecords => crate::streams::ops::get_records(self, request, body),
        }
    }

    /// The ARN of a table.
    pub fn table_arn(&self, account: &str, table: &str) -> String {
        format!("arn:aws:dynamodb:{}:{account}:table/{table}", self.config.region)
    }
}

/// The error body: `{"__type":"ns#Code","message":"…"}` (plus `Item` for a failed condition with ALL_OLD).
pub fn error_body(e: &DdbError) -> Vec<u8> {
    let mut body = serde_json::json!({
        "__type": format!("{}#{}", e.code.namespace(), e.code.as_str()),
        "message": e.message,
    });
    if let (Some(item), Some(map)) = (&e.item, body.as_object_mut()) {
        if let Ok(json) = serde_json::to_value(item) {
            map.insert("Item".into(), json);
        }
    }
    serde_json::to_vec(&body).unwrap_or_default()
}
