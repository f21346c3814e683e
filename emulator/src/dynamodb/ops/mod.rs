//! One file per operation. Shared parameter handling lives here.

pub mod batch_get_item;
pub mod batch_write_item;
pub mod create_table;
pub mod delete_item;
pub mod delete_table;
pub mod describe_table;
pub mod get_item;
pub mod list_tables;
pub mod page;
pub mod put_item;
pub mod query;
pub mod scan;
pub mod time_to_live;
pub mod update_item;
pub mod update_table;

use std::sync::Arc;

use crate::dynamodb::error::DdbError;
use crate::dynamodb::Service;
use crate::storage::catalog::Table;

/// `ReturnValues`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnValues {
    /// Nothing.
    None,
    /// The whole item before.
    AllOld,
    /// The changed attributes before.
    UpdatedOld,
    /// The whole item after.
    AllNew,
    /// The changed attributes after.
    UpdatedNew,
}

impl ReturnValues {
    /// Reads the parameter; `allowed` lists what the operation accepts besides NONE.
    pub fn parse(v: Option<&str>, allowed: &[ReturnValues]) -> Result<ReturnValues, DdbError> {
        let parsed = match v {
            None | Some("NONE") => return Ok(ReturnValues::None),
            Some("ALL_OLD") => ReturnValues::AllOld,
            Some("UPDATED_OLD") => ReturnValues::UpdatedOld,
            Some("ALL_NEW") => ReturnValues::AllNew,
            Some("UPDATED_NEW") => ReturnValues::UpdatedNew,
            Some(other) => {
                return Err(DdbError::validation(format!(
                    "1 validation error detected: Value '{other}' at 'returnValues' failed to satisfy constraint: Member must satisfy enum value set: [ALL_NEW, UPDATED_OLD, ALL_OLD, NONE, UPDATED_NEW]"
                )))
            }
        };
        if allowed.contains(&parsed) {
            Ok(parsed)
        } else {
            Err(DdbError::validation("Return values set to invalid value"))
        }
    }
}

/// `ReturnValuesOnConditionCheckFailure`: whether a failed condition returns the item.
pub fn return_old_on_failure(v: Option<&str>) -> Result<bool, DdbError> {
    match v {
        None | Some("NONE") => Ok(false),
        Some("ALL_OLD") => Ok(true),
        Some(other) => Err(DdbError::validation(format!(
            "1 validation error detected: Value '{other}' at 'returnValuesOnConditionCheckFailure' failed to satisfy constraint: Member must satisfy enum value set: [ALL_OLD, NONE]"
        ))),
    }
}

/// The table named by a request, or ResourceNotFoundException.
pub fn table(svc: &Service, name: &str) -> Result<Arc<Table>, DdbError> {
    svc.storage
        .table(name)
        .ok_or_else(|| DdbError::table_not_found(name))
}
