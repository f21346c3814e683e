//! ProjectionExpression: selecting parts of an item. Pure; performs no I/O.
//!
//! The result holds each projected path that exists, nested as in the item; list elements keep their
//! order and the list is compacted (projecting `l[1], l[3]` gives a two-element list), as DynamoDB returns
//! them (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ProjectionExpressions.html>;
//! the compaction as dynalite's `db/index.js` `mapPaths` does it).

use std::collections::BTreeMap;
use std::fmt;

use indexmap::IndexMap;

use super::ast::{Path, PathElem};
use super::eval::resolve;
use crate::model::{Item, Map, Value};

/// A parsed ProjectionExpression: the paths to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectionExpr {
    paths: Vec<Path>,
}

/// The projected item under construction.
enum Node {
    Leaf(Value),
    Map(IndexMap<String, Node>),
    List(BTreeMap<usize, Node>),
}

impl Node {
    fn into_value(self) -> Value {
        match self {
            Node::Leaf(v) => v,
            Node::Map(m) => Value::M(m.into_iter().map(|(k, n)| (k, n.into_value())).collect::<Map>()),
            Node::List(l) => Value::L(l.into_values().map(Node::into_value).collect()),
        }
    }
}

/// Puts `value` at `rest` below `node`, creating maps and lists on the way.
fn insert(node: &mut Node, rest: &[PathElem], value: Value) {
    let Some((first, rest)) = rest.split_first() else {
        *node = Node::Leaf(value);
        return;
    };
    let child = match first {
        PathElem::Attr { name, .. } => {
            if !matches!(node, Node::Map(_)) {
                *node = Node::Map(IndexMap::new());
            }
            let Node::Map(map) = node else { return };
            map.entry(name.clone())
                .or_insert_with(|| Node::Map(IndexMap::new()))
        }
        PathElem::Index(i) => {
            if !matches!(node, Node::List(_)) {
                *node = Node::List(BTreeMap::new());
            }
            let Node::List(list) = node else { return };
            list.entry(*i).or_insert_with(|| Node::Map(IndexMap::new()))
        }
    };
    insert(child, rest, value);
}

impl ProjectionExpr {
    /// A projection of these paths.
    pub fn from_paths(paths: Vec<Path>) -> ProjectionExpr {
        ProjectionExpr { paths }
    }

    /// The projected paths.
    pub fn paths(&self) -> &[Path] {
        &self.paths
    }

    /// The top-level attributes the projection reads (for index projections and `Select`).
    pub fn top_level_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for p in &self.paths {
            if !names.contains(&p.top()) {
                names.push(p.top());
            }
        }
        names
    }

    /// The parts of `item` this projection selects.
    pub fn apply(&self, item: &Item) -> Item {
        let mut root: IndexMap<String, Node> = IndexMap::new();
        for path in &self.paths {
            let Some(value) = resolve(item, path) else {
                continue;
            };
            let Some((first, rest)) = path.elems().split_first() else {
                continue;
            };
            let Some(name) = first.name() else { continue };
            let node = root
                .entry(name.to_owned())
                .or_insert_with(|| Node::Map(IndexMap::new()));
            insert(node, rest, value.clone());
        }
        root.into_iter().map(|(k, n)| (k, n.into_value())).collect()
    }
}

impl fmt::Display for ProjectionExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.paths.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::{parse_projection, ExprContext};
    use crate::codec::ddb_json;

    fn project(text: &str, names: &[(&str, &str)], item: &str) -> String {
        let names: BTreeMap<String, String> = names
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut ctx = ExprContext::new((!names.is_empty()).then_some(names), None).unwrap();
        let p = parse_projection(text, &mut ctx).unwrap();
        ddb_json::item_to_string(&p.apply(&ddb_json::parse_item(item).unwrap()))
    }

    #[test]
    fn nested_parts_are_kept_and_lists_compacted() {
        let item = r#"{"a":{"N":"1"},"m":{"M":{"x":{"N":"1"},"y":{"N":"2"}}},"l":{"L":[{"N":"0"},{"M":{"p":{"N":"1"},"q":{"N":"2"}}},{"N":"2"},{"N":"3"}]}}"#;
        assert_eq!(
            project("l[3], m.y, l[1].q, absent, m.zz, l[9]", &[], item),
            r#"{"l":{"L":[{"M":{"q":{"N":"2"}}},{"N":"3"}]},"m":{"M":{"y":{"N":"2"}}}}"#
        );
    }

    #[test]
    fn a_dotted_placeholder_names_one_attribute() {
        let item = r#"{"x.y":{"N":"1"},"x":{"M":{"y":{"N":"2"}}}}"#;
        assert_eq!(project("#xy", &[("#xy", "x.y")], item), r#"{"x.y":{"N":"1"}}"#);
        assert_eq!(
            project("#x.#y", &[("#x", "x"), ("#y", "y")], item),
            r#"{"x":{"M":{"y":{"N":"2"}}}}"#
        );
    }
}
