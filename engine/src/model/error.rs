//! `ModelError`: what is wrong with a value, and where: `item.tags.SS[2]: duplicate value "a"`.
//!
//! Errors are built at the offending value with an empty path; each enclosing level prepends its segment on
//! the way out ([`ModelError::within`]), so the finished path reads from the root down.

use std::fmt;

use super::number::NumberError;
use super::value::ValueType;

/// One step of an attribute path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSeg {
    /// An attribute (or map entry) name, or a root label such as `item`.
    Attr(String),
    /// The type tag of a DynamoDB-JSON value: `M`, `L`, `SS`, …
    Tag(ValueType),
    /// A list or set position.
    Index(usize),
}

/// Where in a document an error is: `item.tags.SS[2]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttrPath(Vec<PathSeg>);

impl AttrPath {
    /// The segments, root first.
    pub fn segments(&self) -> &[PathSeg] {
        &self.0
    }

    /// Whether the path is empty (the error is about the whole document).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                PathSeg::Attr(name) if i == 0 => f.write_str(name)?,
                PathSeg::Attr(name) => write!(f, ".{name}")?,
                PathSeg::Tag(t) if i == 0 => f.write_str(t.tag())?,
                PathSeg::Tag(t) => write!(f, ".{}", t.tag())?,
                PathSeg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// What is wrong with a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelErrorKind {
    /// A bad number.
    #[error("{0}")]
    Number(#[from] NumberError),
    /// A set with no members.
    #[error("empty {0} set: sets must have at least one member")]
    EmptySet(ValueType),
    /// Two equal members in one set (numbers compared numerically).
    #[error("duplicate value {value}")]
    DuplicateInSet {
        /// The repeated member, printed.
        value: String,
    },
    /// `{"NULL": false}`: DynamoDB's NULL type has only the value true.
    #[error("NULL must be true")]
    NullNotTrue,
    /// `M`/`L` nested deeper than DynamoDB's 32 levels.
    #[error("nesting exceeds {} levels", super::value::MAX_NESTING_DEPTH)]
    NestingTooDeep,
    /// Binary that is not standard padded base64.
    #[error("invalid base64: {0}")]
    InvalidBase64(String),
    /// A type tag that is not one of the ten.
    #[error("unknown type {0:?}; expected one of S, N, B, SS, NS, BS, M, L, NULL, BOOL")]
    UnknownType(String),
    /// `{}` where a value was expected.
    #[error("empty attribute value: it must contain exactly one of S, N, B, SS, NS, BS, M, L, NULL, BOOL")]
    NoType,
    /// Several type tags in one value.
    #[error("attribute value has {0} types; it must contain exactly one")]
    SeveralTypes(usize),
    /// A JSON value of the wrong kind.
    #[error("expected {expected}, found {found}")]
    WrongJson {
        /// What the format needs here.
        expected: &'static str,
        /// What was there.
        found: &'static str,
    },
    /// An item or value larger than DynamoDB allows.
    #[error("item size {size} bytes exceeds the maximum allowed size of {max} bytes")]
    TooLarge {
        /// The computed size.
        size: usize,
        /// The limit.
        max: usize,
    },
}

/// A value that breaks DynamoDB's rules, with the path to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelError {
    /// Where, from the root down.
    pub path: AttrPath,
    /// What.
    pub kind: ModelErrorKind,
}

impl ModelError {
    /// An error at the current value (empty path).
    pub fn new(kind: ModelErrorKind) -> ModelError {
        ModelError {
            path: AttrPath::default(),
            kind,
        }
    }

    /// The same error seen from one level up: `seg` is prepended to the path.
    #[must_use]
    pub fn within(mut self, seg: PathSeg) -> ModelError {
        self.path.0.insert(0, seg);
        self
    }

    /// The same error under a root label such as `item` or `NewImage`.
    #[must_use]
    pub fn under(self, root: &str) -> ModelError {
        self.within(PathSeg::Attr(root.to_owned()))
    }
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.kind)
        } else {
            write!(f, "{}: {}", self.path, self.kind)
        }
    }
}

impl std::error::Error for ModelError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.kind.source()
    }
}

impl From<ModelErrorKind> for ModelError {
    fn from(kind: ModelErrorKind) -> ModelError {
        ModelError::new(kind)
    }
}

impl From<NumberError> for ModelError {
    fn from(e: NumberError) -> ModelError {
        ModelError::new(ModelErrorKind::Number(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_reads_from_the_root_down() {
        let e = ModelError::new(ModelErrorKind::DuplicateInSet {
            value: "\"a\"".into(),
        })
        .within(PathSeg::Index(2))
        .within(PathSeg::Tag(ValueType::Ss))
        .within(PathSeg::Attr("tags".into()))
        .under("item");
        assert_eq!(e.to_string(), "item.tags.SS[2]: duplicate value \"a\"");
    }
}
