//! `Item`: a DynamoDB item, its attributes in the order received, compared canonically.

use super::error::{ModelError, PathSeg};
use super::size::{item_size, MAX_ITEM_SIZE};
use super::value::{Map, Value};
use super::ModelErrorKind;

/// A DynamoDB item: attribute names to values. Attribute order is kept (the backup body is written "as
/// received"); equality ignores it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Item(Map);

impl Item {
    /// An item with no attributes.
    pub fn new() -> Item {
        Item(Map::default())
    }

    /// Wraps a map without validating it; see [`Item::validate`].
    pub fn from_map(map: Map) -> Item {
        Item(map)
    }

    /// The attributes.
    pub fn as_map(&self) -> &Map {
        &self.0
    }

    /// The attributes, for changing in place.
    pub fn as_map_mut(&mut self) -> &mut Map {
        &mut self.0
    }

    /// The attributes, owned.
    pub fn into_map(self) -> Map {
        self.0
    }

    /// One attribute.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    /// Sets an attribute; a new name goes last, an existing one keeps its place.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<Value>) -> Option<Value> {
        self.0.insert(name.into(), value.into())
    }

    /// Removes an attribute, keeping the others' order.
    pub fn remove(&mut self, name: &str) -> Option<Value> {
        self.0.shift_remove(name)
    }

    /// Number of attributes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the item has no attributes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The attributes in order.
    pub fn iter(&self) -> indexmap::map::Iter<'_, String, Value> {
        self.0.iter()
    }

    /// Checks DynamoDB's value rules on every attribute (sets, nesting); see [`Value::validate`].
    pub fn validate_values(&self) -> Result<(), ModelError> {
        for (name, value) in &self.0 {
            value
                .validate(1)
                .map_err(|e| e.within(PathSeg::Attr(name.clone())))?;
        }
        Ok(())
    }

    /// Checks the value rules and DynamoDB's 400 KB item size limit.
    pub fn validate(&self) -> Result<(), ModelError> {
        self.validate_values()?;
        let size = item_size(self);
        if size > MAX_ITEM_SIZE {
            return Err(ModelError::new(ModelErrorKind::TooLarge {
                size,
                max: MAX_ITEM_SIZE,
            }));
        }
        Ok(())
    }

    /// The size DynamoDB bills and limits this item by; see [`item_size`].
    pub fn size(&self) -> usize {
        item_size(self)
    }
}

impl std::fmt::Debug for Item {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Item")?;
        f.debug_map().entries(self.0.iter()).finish()
    }
}

impl<N: Into<String>, V: Into<Value>> FromIterator<(N, V)> for Item {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Item {
        Item(iter.into_iter().map(|(n, v)| (n.into(), v.into())).collect())
    }
}

impl<'a> IntoIterator for &'a Item {
    type Item = (&'a String, &'a Value);
    type IntoIter = indexmap::map::Iter<'a, String, Value>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl IntoIterator for Item {
    type Item = (String, Value);
    type IntoIter = indexmap::map::IntoIter<String, Value>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl From<Map> for Item {
    fn from(map: Map) -> Item {
        Item(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equality_ignores_attribute_order_but_iteration_keeps_it() {
        let a: Item = [("id", Value::from("x")), ("n", Value::from(1))]
            .into_iter()
            .collect();
        let b: Item = [("n", Value::from(1)), ("id", Value::from("x"))]
            .into_iter()
            .collect();
        assert_eq!(a, b);
        assert_eq!(a.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["id", "n"]);
    }

    #[test]
    fn validation_names_the_attribute() {
        let item: Item = [("tags", Value::Ss(vec!["a".into(), "a".into()]))]
            .into_iter()
            .collect();
        let e = item.validate().unwrap_err().under("item");
        assert_eq!(e.to_string(), "item.tags.SS[1]: duplicate value \"a\"");
    }
}
