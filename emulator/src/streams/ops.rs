//! The four Streams operations, over `storage::streams`.

use serde::Deserialize;
use serde_json::{json, Value as Json};

use super::shard_iterator::{ShardIterator, ITERATOR_LIFETIME_MS};
use crate::dynamodb::error::{DdbError, ErrorCode};
use crate::dynamodb::{wire, Request, Service};
use crate::storage::streams::{self, parse_sequence, sequence_text, ShardRow, StreamRow};
use crate::time_fmt;
use ddbrep_engine::time::Millis;

/// Most records one GetRecords returns, and the default.
const MAX_RECORDS: i64 = 1000;
/// Most streams or shards in one listing, and the default.
const MAX_LIST: i64 = 100;

fn not_found(what: &str) -> DdbError {
    DdbError::new(
        ErrorCode::ResourceNotFoundException,
        format!("Requested resource not found: {what}"),
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListInput {
    table_name: Option<String>,
    limit: Option<i64>,
    exclusive_start_stream_arn: Option<String>,
}

pub fn list_streams(svc: &Service, _req: &Request, body: &[u8]) -> Result<Vec<u8>, DdbError> {
    let input: ListInput = wire::input(body)?;
    let limit = bounded(input.limit, MAX_LIST, "limit")? as usize;
    let rows = svc
        .storage
        .read(|c| streams::list_streams(c, input.table_name.as_deref()))
        .map_err(DdbError::internal)?;
    let start = match &input.exclusive_start_stream_arn {
        Some(arn) => rows
            .iter()
            .position(|r| &r.arn == arn)
            .map_or(rows.len(), |i| i + 1),
        None => 0,
    };
    let page: Vec<&StreamRow> = rows.iter().skip(start).take(limit).collect();
    let list: Vec<Json> = page
        .iter()
        .map(|r| json!({ "StreamArn": r.arn, "TableName": r.table_name, "StreamLabel": r.label }))
        .collect();
    let mut out = json!({ "Streams": list });
    if start + page.len() < rows.len() {
        if let (Some(map), Some(last)) = (out.as_object_mut(), page.last()) {
            map.insert("LastEvaluatedStreamArn".into(), json!(last.arn));
        }
    }
    wire::output(&out)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeInput {
    stream_arn: String,
    limit: Option<i64>,
    exclusive_start_shard_id: Option<String>,
}

pub fn describe_stream(svc: &Service, _req: &Request, body: &[u8]) -> Result<Vec<u8>, DdbError> {
    let input: DescribeInput = wire::input(body)?;
    let limit = bounded(input.limit, MAX_LIST, "limit")? as usize;
    let (stream, shards) = svc
        .storage
        .read(|c| {
            Ok((
                streams::get_stream(c, &input.stream_arn)?,
                streams::shards(c, &input.stream_arn)?,
            ))
        })
        .map_err(DdbError::internal)?;
    let stream = stream.ok_or_else(|| not_found(&format!("Stream: {} not found", input.stream_arn)))?;
    let start = match &input.exclusive_start_shard_id {
        Some(id) => shards
            .iter()
            .position(|s| &s.shard_id == id)
            .map_or(shards.len(), |i| i + 1),
        None => 0,
    };
    let page: Vec<&ShardRow> = shards.iter().skip(start).take(limit).collect();
    let shard_json: Vec<Json> = page
        .iter()
        .map(|s| {
            let mut range = json!({ "StartingSequenceNumber": sequence_text(s.first_seq) });
            if let (Some(last), Some(map)) = (s.last_seq, range.as_object_mut()) {
                map.insert("EndingSequenceNumber".into(), json!(sequence_text(last)));
            }
            let mut shard = json!({ "ShardId": s.shard_id, "SequenceNumberRange": range });
            if let (Some(parent), Some(map)) = (&s.parent_shard_id, shard.as_object_mut()) {
                map.insert("ParentShardId".into(), json!(parent));
            }
            shard
        })
        .collect();
    let key_schema = svc
        .storage
        .table(&stream.table_name)
        .map(|t| json!(t.meta.key_schema))
        .unwrap_or(json!([]));
    let mut description = json!({
        "StreamArn": stream.arn,
        "StreamLabel": stream.label,
        "StreamStatus": if stream.disabled_ms.is_some() { "DISABLED" } else { "ENABLED" },
        "StreamViewType": stream.view_type,
        "CreationRequestDateTime": time_fmt::epoch_seconds(Millis(stream.created_ms)),
        "TableName": stream.table_name,
        "KeySchema": key_schema,
        "Shards": shard_json,
    });
    if start + page.len() < shards.len() {
        if let (Some(map), Some(last)) = (description.as_object_mut(), page.last()) {
            map.insert("LastEvaluatedShardId".into(), json!(last.shard_id));
        }
    }
    wire::output(&json!({ "StreamDescription": description }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct IteratorInput {
    stream_arn: String,
    shard_id: String,
    shard_iterator_type: String,
    sequence_number: Option<String>,
}

pub fn get_shard_iterator(svc: &Service, req: &Request, body: &[u8]) -> Result<Vec<u8>, DdbError> {
    let input: IteratorInput = wire::input(body)?;
    let (shards, latest) = svc
        .storage
        .read(|c| {
            Ok((
                streams::shards(c, &input.stream_arn)?,
                streams::latest_sequence(c)?,
            ))
        })
        .map_err(DdbError::internal)?;
    let shard = shards
        .iter()
        .find(|s| s.shard_id == input.shard_id)
        .ok_or_else(|| {
            not_found(&format!(
                "Shard: {} in Stream: {} not found",
                input.shard_id, input.stream_arn
            ))
        })?;
    let sequence = || -> Result<i64, DdbError> {
        let text = input.sequence_number.as_deref().ok_or_else(|| {
            DdbError::validation(
                "SequenceNumber is required for AT_SEQUENCE_NUMBER and AFTER_SEQUENCE_NUMBER",
            )
        })?;
        let seq = parse_sequence(text).ok_or_else(|| {
            DdbError::validation(format!(
                "Invalid SequenceNumber {text} for ShardId {}",
                shard.shard_id
            ))
        })?;
        if seq < shard.first_seq || shard.last_seq.is_some_and(|last| seq > last) {
            return Err(DdbError::validation(format!(
                "Invalid SequenceNumber {text} for ShardId {}",
                shard.shard_id
            )));
        }
        if seq <= shard.trimmed_seq {
            return Err(trimmed());
        }
        Ok(seq)
    };
    let position = match input.shard_iterator_type.as_str() {
        "TRIM_HORIZON" => shard.first_seq.max(shard.trimmed_seq + 1),
        "LATEST" => match shard.last_seq {
            Some(last) => last + 1,
            None => latest + 1,
        },
        "AT_SEQUENCE_NUMBER" => sequence()?,
        "AFTER_SEQUENCE_NUMBER" => sequence()? + 1,
        other => {
            return Err(DdbError::validation(format!(
                "1 validation error detected: Value '{other}' at 'shardIteratorType' failed to satisfy constraint: Member must satisfy enum value set: [AFTER_SEQUENCE_NUMBER, LATEST, AT_SEQUENCE_NUMBER, TRIM_HORIZON]"
            )))
        }
    };
    let iterator = ShardIterator {
        stream_arn: input.stream_arn.clone(),
        shard_id: shard.shard_id.clone(),
        position,
        issued_ms: req.now.0,
    };
    wire::output(&json!({ "ShardIterator": iterator.encode(&nonce(svc)) }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RecordsInput {
    shard_iterator: String,
    limit: Option<i64>,
}

pub fn get_records(svc: &Service, req: &Request, body: &[u8]) -> Result<Vec<u8>, DdbError> {
    let input: RecordsInput = wire::input(body)?;
    let limit = bounded(input.limit, MAX_RECORDS, "limit")? as usize;
    let iterator = ShardIterator::decode(&input.shard_iterator)
        .ok_or_else(|| DdbError::validation("Invalid ShardIterator"))?;
    if req.now.0 > iterator.issued_ms.saturating_add(ITERATOR_LIFETIME_MS) {
        return Err(DdbError::new(
            ErrorCode::ExpiredIteratorException,
            format!(
                "Iterator expired. The iterator was created at time {} while right now it is {}.",
                time_fmt::stream_label(Millis(iterator.issued_ms)),
                time_fmt::stream_label(req.now)
            ),
        ));
    }
    let (shard, records) = svc
        .storage
        .read(|c| {
            let shard = streams::shards(c, &iterator.stream_arn)?
                .into_iter()
                .find(|s| s.shard_id == iterator.shard_id);
            let records = streams::records(
                c,
                &iterator.stream_arn,
                &iterator.shard_id,
                iterator.position,
                limit,
            )?;
            Ok((shard, records))
        })
        .map_err(DdbError::internal)?;
    let shard = shard.ok_or_else(|| not_found(&format!("Shard: {} not found", iterator.shard_id)))?;
    if iterator.position <= shard.trimmed_seq {
        return Err(trimmed());
    }
    let next_position = records.last().map_or(iterator.position, |(seq, _)| seq + 1);
    let mut out = String::from("{\"Records\":[");
    for (i, (_, record)) in records.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(record);
    }
    out.push(']');
    let exhausted = shard.last_seq.is_some_and(|last| next_position > last);
    if !exhausted {
        let next = ShardIterator {
            position: next_position,
            issued_ms: req.now.0,
            ..iterator
        };
        out.push_str(",\"NextShardIterator\":");
        out.push_str(&serde_json::to_string(&next.encode(&nonce(svc))).map_err(DdbError::internal)?);
    }
    out.push('}');
    Ok(out.into_bytes())
}

fn trimmed() -> DdbError {
    DdbError::new(
        ErrorCode::TrimmedDataAccessException,
        "The operation attempted to read past the oldest stream record in a shard.",
    )
}

fn nonce(svc: &Service) -> String {
    svc.rng.string(b"abcdefghijklmnopqrstuvwxyz0123456789", 8)
}

fn bounded(v: Option<i64>, max: i64, field: &str) -> Result<i64, DdbError> {
    match v {
        None => Ok(max),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(n) => Err(DdbError::validation(format!(
            "1 validation error detected: Value '{n}' at '{field}' failed to satisfy constraint: Member must have value {}",
            if n < 1 { "greater than or equal to 1".to_owned() } else { format!("less than or equal to {max}") }
        ))),
    }
}
