//! One page of Scan or Query: items offered in read order are counted against Limit and DynamoDB's 1 MB page
//! size, filtered, projected, and the key of the last one evaluated becomes LastEvaluatedKey when more
//! remain.

use ddbrep_engine::codec::ddb_json;
use ddbrep_engine::model::{Item, KeySchema};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value as Json;

use crate::dynamodb::error::DdbError;
use crate::dynamodb::expressions::{Condition, Projection};
use crate::dynamodb::wire;
use crate::storage::catalog::{IndexMeta, Table};
use crate::storage::items::StoredItem;

/// Most bytes of items one Scan or Query page reads
/// (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Scan.html#Scan.Pagination>).
pub const MAX_PAGE_BYTES: i64 = 1024 * 1024;

/// `Select`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Select {
    /// Every attribute.
    All,
    /// What the index projects.
    AllProjected,
    /// The ProjectionExpression's attributes.
    Specific,
    /// Only the count.
    Count,
}

impl Select {
    /// Reads `Select` given whether a projection and an index are present.
    pub fn parse(
        v: Option<&str>,
        has_projection: bool,
        index: Option<&IndexMeta>,
    ) -> Result<Select, DdbError> {
        let select = match v {
            None if has_projection => Select::Specific,
            None if index.is_some() => Select::AllProjected,
            None | Some("ALL_ATTRIBUTES") => Select::All,
            Some("ALL_PROJECTED_ATTRIBUTES") => Select::AllProjected,
            Some("SPECIFIC_ATTRIBUTES") => Select::Specific,
            Some("COUNT") => Select::Count,
            Some(other) => {
                return Err(DdbError::validation(format!(
                    "1 validation error detected: Value '{other}' at 'select' failed to satisfy constraint: Member must satisfy enum value set: [SPECIFIC_ATTRIBUTES, COUNT, ALL_ATTRIBUTES, ALL_PROJECTED_ATTRIBUTES]"
                )))
            }
        };
        if has_projection && select != Select::Specific {
            return Err(DdbError::validation(
                "Cannot specify the ProjectionExpression when choosing to get ALL_ATTRIBUTES, ALL_PROJECTED_ATTRIBUTES or COUNT",
            ));
        }
        if select == Select::AllProjected && index.is_none() {
            return Err(DdbError::validation(
                "ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName",
            ));
        }
        if select == Select::All {
            if let Some(index) = index {
                if index.global && index.projection.projection_type.as_deref() != Some("ALL") {
                    return Err(DdbError::validation(format!(
                        "One or more parameter values were invalid: Select type ALL_ATTRIBUTES is not supported for global secondary index {} because its projection type is not ALL",
                        index.name
                    )));
                }
            }
        }
        Ok(select)
    }
}

/// The index a Query or Scan names (its definition and key schema), or none for the table itself; a
/// strongly consistent read of a global secondary index is refused, as DynamoDB does.
pub fn read_index<'t>(
    table: &'t Table,
    index_name: Option<&str>,
    consistent_read: Option<bool>,
) -> Result<Option<(&'t IndexMeta, &'t KeySchema)>, DdbError> {
    let Some(name) = index_name else {
        return Ok(None);
    };
    let index = table.index(name).ok_or_else(|| {
        DdbError::validation(format!("The table does not have the specified index: {name}"))
    })?;
    if consistent_read == Some(true) && index.0.global {
        return Err(DdbError::validation(
            "Consistent reads are not supported on global secondary indexes",
        ));
    }
    Ok(Some(index))
}

/// Reads `Limit`: at least 1.
pub fn limit(v: Option<i64>) -> Result<Option<usize>, DdbError> {
    match v {
        None => Ok(None),
        Some(n) if n >= 1 => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
        Some(n) => Err(DdbError::validation(format!(
            "1 validation error detected: Value '{n}' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1"
        ))),
    }
}

/// Builds one page.
pub struct Page<'a> {
    table: &'a Table,
    index: Option<(&'a IndexMeta, &'a KeySchema)>,
    limit: Option<usize>,
    filter: Option<&'a Condition>,
    projection: Option<&'a Projection>,
    select: Select,
    /// The answer's items, as JSON text: a stored item goes out as it is stored when nothing changes it.
    items: Vec<Box<RawValue>>,
    count: usize,
    scanned: usize,
    bytes: i64,
    last: Option<Last>,
    /// Whether reading stopped with items left.
    pub more: bool,
    error: Option<DdbError>,
}

impl<'a> Page<'a> {
    /// An empty page with these rules.
    pub fn new(
        table: &'a Table,
        index: Option<(&'a IndexMeta, &'a KeySchema)>,
        limit: Option<usize>,
        filter: Option<&'a Condition>,
        projection: Option<&'a Projection>,
        select: Select,
    ) -> Page<'a> {
        Page {
            table,
            index,
            limit,
            filter,
            projection,
            select,
            items: Vec::new(),
            count: 0,
            scanned: 0,
            bytes: 0,
            last: None,
            more: false,
            error: None,
        }
    }

    /// Offers the next item in read order; returns whether to go on reading.
    pub fn offer(&mut self, stored: StoredItem) -> bool {
        let full = self.limit.is_some_and(|l| self.scanned >= l)
            || (self.scanned > 0 && self.bytes >= MAX_PAGE_BYTES);
        if full {
            self.more = true;
            return false;
        }
        match self.evaluate(stored) {
            Ok(()) => true,
            Err(e) => {
                self.error = Some(e);
                false
            }
        }
    }

    fn evaluate(&mut self, stored: StoredItem) -> Result<(), DdbError> {
        self.scanned += 1;
        self.bytes += stored.size;
        if self.index.is_none() && self.filter.is_none() && self.select == Select::All {
            // The stored text is the item's DynamoDB JSON exactly as the answer would write it
            // (`ddb_json::item_to_string`): no need to parse it, and its key is read only if it ends the page.
            self.items
                .push(RawValue::from_string(stored.json).map_err(DdbError::internal)?);
            self.count += 1;
            self.last = Some(Last::Answered(self.items.len() - 1));
            return Ok(());
        }
        let mut item = ddb_json::parse_item(&stored.json).map_err(DdbError::internal)?;
        if let Some((index, _)) = self.index {
            item = project_index(self.table, index, item);
        }
        self.last = Some(Last::Key(self.last_key(&item)));
        if let Some(filter) = self.filter {
            if !filter.evaluate(Some(&item)) {
                return Ok(());
            }
        }
        self.count += 1;
        if self.select == Select::Count {
            return Ok(());
        }
        let item = match self.projection {
            Some(p) => p.apply(&item),
            None => item,
        };
        self.items
            .push(serde_json::value::to_raw_value(&item).map_err(DdbError::internal)?);
        Ok(())
    }

    fn last_key(&self, item: &Item) -> Item {
        let mut names: Vec<&str> = self.table.key.attributes().map(|a| a.name.as_str()).collect();
        if let Some((_, schema)) = self.index {
            names.extend(schema.attributes().map(|a| a.name.as_str()));
        }
        names
            .iter()
            .filter_map(|n| item.get(n).map(|v| ((*n).to_owned(), v.clone())))
            .collect()
    }

    /// The answer: Items (unless COUNT), Count, ScannedCount, LastEvaluatedKey, ConsumedCapacity.
    pub fn finish(self, capacity: wire::Capacity, consistent: bool) -> Result<Vec<u8>, DdbError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let last_evaluated_key = match (&self.last, self.more) {
            (Some(Last::Key(key)), true) => Some(serde_json::to_value(key).map_err(DdbError::internal)?),
            (Some(Last::Answered(i)), true) => match self.items.get(*i) {
                Some(raw) => {
                    let item = ddb_json::parse_item(raw.get()).map_err(DdbError::internal)?;
                    Some(serde_json::to_value(self.last_key(&item)).map_err(DdbError::internal)?)
                }
                None => None,
            },
            _ => None,
        };
        let units = wire::read_units(usize::try_from(self.bytes).unwrap_or(0), consistent);
        wire::output(&Answer {
            items: (self.select != Select::Count).then_some(&self.items[..]),
            count: self.count,
            scanned_count: self.scanned,
            last_evaluated_key,
            consumed_capacity: capacity.report(&self.table.meta.name, units, true),
        })
    }
}

/// The item whose key becomes LastEvaluatedKey.
enum Last {
    /// Its key (the item was parsed).
    Key(Item),
    /// The item at this place in the answer, unparsed.
    Answered(usize),
}

/// A Scan or Query answer, in AWS's field order.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Answer<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    items: Option<&'a [Box<RawValue>]>,
    count: usize,
    scanned_count: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_evaluated_key: Option<Json>,
    #[serde(skip_serializing_if = "Option::is_none")]
    consumed_capacity: Option<Json>,
}

/// What an index holds of an item: its keys, the table's keys, and the projected attributes.
fn project_index(table: &Table, index: &IndexMeta, item: Item) -> Item {
    match index.projection.projection_type.as_deref() {
        Some("ALL") | None => item,
        kind => {
            let include: Vec<&str> = if kind == Some("INCLUDE") {
                index
                    .projection
                    .non_key_attributes
                    .iter()
                    .flatten()
                    .map(String::as_str)
                    .collect()
            } else {
                Vec::new()
            };
            let keep = |name: &str| {
                table.key.is_key_attribute(name)
                    || table
                        .index_keys
                        .get(&index.name)
                        .is_some_and(|k| k.is_key_attribute(name))
                    || include.contains(&name)
            };
            item.into_iter().filter(|(name, _)| keep(name)).collect()
        }
    }
}
