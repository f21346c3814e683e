//! The parsed forms of DynamoDB expressions: document paths, operands, conditions, update actions and
//! projections. Each prints back as expression text (`Display`) that parses to the same tree with the same
//! names and values. Pure data; performs no I/O.

use std::fmt;

use crate::model::Value;

/// One step of a document path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathElem {
    /// A map key or (first step) a top-level attribute; `placeholder` is the `#name` it was written as, if
    /// any. `#n` standing for `"x.y"` is one attribute named `x.y`.
    Attr {
        /// The attribute name.
        name: String,
        /// The expression attribute name used in the text, if any.
        placeholder: Option<String>,
    },
    /// A list element, `[3]`.
    Index(usize),
}

impl PathElem {
    /// The attribute name of an `Attr` step.
    pub fn name(&self) -> Option<&str> {
        match self {
            PathElem::Attr { name, .. } => Some(name),
            PathElem::Index(_) => None,
        }
    }

    /// Same step, ignoring how the name was written.
    pub(crate) fn same_as(&self, other: &PathElem) -> bool {
        match (self, other) {
            (PathElem::Attr { name: a, .. }, PathElem::Attr { name: b, .. }) => a == b,
            (PathElem::Index(a), PathElem::Index(b)) => a == b,
            _ => false,
        }
    }
}

/// A document path: a top-level attribute, then map keys and list indexes (`a.b[2].c`). Never empty; the
/// first step is always an attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path(pub(crate) Vec<PathElem>);

impl Path {
    /// A path from its steps. `None` if it is empty or does not start with an attribute.
    pub fn new(elems: Vec<PathElem>) -> Option<Path> {
        match elems.first() {
            Some(PathElem::Attr { .. }) => Some(Path(elems)),
            _ => None,
        }
    }

    /// A top-level attribute.
    pub fn attribute(name: impl Into<String>) -> Path {
        Path(vec![PathElem::Attr {
            name: name.into(),
            placeholder: None,
        }])
    }

    /// The steps, top-level attribute first.
    pub fn elems(&self) -> &[PathElem] {
        &self.0
    }

    /// The top-level attribute this path starts at.
    pub fn top(&self) -> &str {
        self.0.first().and_then(PathElem::name).unwrap_or("")
    }

    /// Same steps, ignoring how names were written.
    pub(crate) fn same_as(&self, other: &Path) -> bool {
        self.0.len() == other.0.len() && self.0.iter().zip(&other.0).all(|(a, b)| a.same_as(b))
    }

    /// AWS's rendering in error messages: `[a, b, [2], c]`.
    pub(crate) fn aws_list(&self) -> String {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|e| match e {
                PathElem::Attr { name, .. } => name.clone(),
                PathElem::Index(i) => format!("[{i}]"),
            })
            .collect();
        format!("[{}]", parts.join(", "))
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            match e {
                PathElem::Attr { name, placeholder } => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(placeholder.as_deref().unwrap_or(name))?;
                }
                PathElem::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// An expression attribute value: its placeholder (`:v`) and the value it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueRef {
    /// The placeholder as written, `:v`.
    pub placeholder: String,
    /// The value from ExpressionAttributeValues.
    pub value: Value,
}

/// An operand of a condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operand {
    /// An attribute of the item.
    Path(Path),
    /// A value from the request.
    Value(ValueRef),
    /// `size(operand)`, a number.
    Size(Box<Operand>),
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operand::Path(p) => write!(f, "{p}"),
            Operand::Value(v) => f.write_str(&v.placeholder),
            Operand::Size(o) => write!(f, "size({o})"),
        }
    }
}

/// The six comparators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// `=`
    Eq,
    /// `<>`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CompareOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            CompareOp::Eq => "=",
            CompareOp::Ne => "<>",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
        }
    }

    /// Whether this operator orders its operands (only N, S and B can be ordered).
    pub fn is_ordering(self) -> bool {
        !matches!(self, CompareOp::Eq | CompareOp::Ne)
    }
}

/// The boolean functions of conditions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Function {
    /// `attribute_exists(path)`
    AttributeExists(Path),
    /// `attribute_not_exists(path)`
    AttributeNotExists(Path),
    /// `attribute_type(operand, :type)`
    AttributeType(Operand, Operand),
    /// `begins_with(operand, operand)`
    BeginsWith(Operand, Operand),
    /// `contains(operand, operand)`
    Contains(Operand, Operand),
}

/// A condition (ConditionExpression, FilterExpression, and the raw form of a KeyConditionExpression).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// `left op right`
    Compare {
        /// The comparator.
        op: CompareOp,
        /// Left operand.
        left: Operand,
        /// Right operand.
        right: Operand,
    },
    /// `operand BETWEEN low AND high`
    Between {
        /// The operand tested.
        operand: Operand,
        /// Lower bound, inclusive.
        low: Operand,
        /// Upper bound, inclusive.
        high: Operand,
    },
    /// `operand IN (a, b, …)`
    In {
        /// The operand tested.
        operand: Operand,
        /// The candidates (1 to 100).
        list: Vec<Operand>,
    },
    /// A boolean function.
    Function(Function),
    /// `NOT c`
    Not(Box<Condition>),
    /// `a AND b AND …` (two or more).
    And(Vec<Condition>),
    /// `a OR b OR …` (two or more).
    Or(Vec<Condition>),
}

impl Condition {
    /// Binds tighter than AND/OR/NOT: prints without parentheses anywhere.
    fn is_atomic(&self) -> bool {
        !matches!(self, Condition::And(_) | Condition::Or(_))
    }
}

impl fmt::Display for Function {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Function::AttributeExists(p) => write!(f, "attribute_exists({p})"),
            Function::AttributeNotExists(p) => write!(f, "attribute_not_exists({p})"),
            Function::AttributeType(a, b) => write!(f, "attribute_type({a}, {b})"),
            Function::BeginsWith(a, b) => write!(f, "begins_with({a}, {b})"),
            Function::Contains(a, b) => write!(f, "contains({a}, {b})"),
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let joined = |f: &mut fmt::Formatter<'_>, parts: &[Condition], word: &str, wrap_and: bool| {
            for (i, c) in parts.iter().enumerate() {
                if i > 0 {
                    write!(f, " {word} ")?;
                }
                let wrap = matches!(c, Condition::Or(_)) || (wrap_and && matches!(c, Condition::And(_)));
                if wrap {
                    write!(f, "({c})")?;
                } else {
                    write!(f, "{c}")?;
                }
            }
            Ok(())
        };
        match self {
            Condition::Compare { op, left, right } => write!(f, "{left} {} {right}", op.symbol()),
            Condition::Between { operand, low, high } => write!(f, "{operand} BETWEEN {low} AND {high}"),
            Condition::In { operand, list } => {
                write!(f, "{operand} IN (")?;
                for (i, o) in list.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{o}")?;
                }
                f.write_str(")")
            }
            Condition::Function(func) => write!(f, "{func}"),
            Condition::Not(c) if c.is_atomic() => write!(f, "NOT {c}"),
            Condition::Not(c) => write!(f, "NOT ({c})"),
            Condition::And(parts) => joined(f, parts, "AND", true),
            Condition::Or(parts) => joined(f, parts, "OR", false),
        }
    }
}

/// An operand of a SET action's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateOperand {
    /// An attribute of the item as it was before the update.
    Path(Path),
    /// A value from the request.
    Value(ValueRef),
    /// `if_not_exists(path, operand)`
    IfNotExists(Path, Box<UpdateOperand>),
    /// `list_append(a, b)`
    ListAppend(Box<UpdateOperand>, Box<UpdateOperand>),
}

impl fmt::Display for UpdateOperand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpdateOperand::Path(p) => write!(f, "{p}"),
            UpdateOperand::Value(v) => f.write_str(&v.placeholder),
            UpdateOperand::IfNotExists(p, o) => write!(f, "if_not_exists({p}, {o})"),
            UpdateOperand::ListAppend(a, b) => write!(f, "list_append({a}, {b})"),
        }
    }
}

/// The right-hand side of `SET path = …`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetValue {
    /// One operand.
    Operand(UpdateOperand),
    /// `a + b` (numbers).
    Plus(UpdateOperand, UpdateOperand),
    /// `a - b` (numbers).
    Minus(UpdateOperand, UpdateOperand),
}

impl fmt::Display for SetValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetValue::Operand(o) => write!(f, "{o}"),
            SetValue::Plus(a, b) => write!(f, "{a} + {b}"),
            SetValue::Minus(a, b) => write!(f, "{a} - {b}"),
        }
    }
}

/// One clause of an update expression, with its actions in the order written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Clause {
    /// `SET path = value, …`
    Set(Vec<(Path, SetValue)>),
    /// `REMOVE path, …`
    Remove(Vec<Path>),
    /// `ADD path :value, …` (numbers and sets)
    Add(Vec<(Path, ValueRef)>),
    /// `DELETE path :set, …`
    Delete(Vec<(Path, ValueRef)>),
}

impl fmt::Display for Clause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn list<T>(
            f: &mut fmt::Formatter<'_>,
            items: &[T],
            one: impl Fn(&mut fmt::Formatter<'_>, &T) -> fmt::Result,
        ) -> fmt::Result {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                one(f, item)?;
            }
            Ok(())
        }
        match self {
            Clause::Set(actions) => {
                f.write_str("SET ")?;
                list(f, actions, |f, (p, v)| write!(f, "{p} = {v}"))
            }
            Clause::Remove(paths) => {
                f.write_str("REMOVE ")?;
                list(f, paths, |f, p| write!(f, "{p}"))
            }
            Clause::Add(actions) => {
                f.write_str("ADD ")?;
                list(f, actions, |f, (p, v)| write!(f, "{p} {}", v.placeholder))
            }
            Clause::Delete(actions) => {
                f.write_str("DELETE ")?;
                list(f, actions, |f, (p, v)| write!(f, "{p} {}", v.placeholder))
            }
        }
    }
}
