//! The DynamoDB Streams API: ListStreams, DescribeStream, GetShardIterator, GetRecords.

pub mod ops;
pub mod shard_iterator;
