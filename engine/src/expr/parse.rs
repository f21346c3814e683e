//! Hand-written recursive-descent parsers for the four expression grammars, with DynamoDB's checks and the
//! order in which it reports them. Pure; performs no I/O.
//!
//! Condition precedence, loosest first: OR, AND, NOT, then comparisons, BETWEEN, IN and functions;
//! parentheses group (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.OperatorsAndFunctions.html#Expressions.OperatorsAndFunctions.Precedence>).
//!
//! A syntax error stops the parse at once. Other mistakes (an undefined placeholder, a reserved word, a wrong
//! function) are collected while parsing, and the one DynamoDB reports first wins: DynamoDB checks the
//! categories in a fixed order regardless of where they occur in the text. The orders below are the ones
//! dynalite's test suite, run against DynamoDB, established (`mhart/dynalite` `db/*.pegjs`, `checkErrors`).

use std::cmp::Ordering;
use std::collections::BTreeMap;

use base64::Engine as _;

use super::ast::{
    Clause, CompareOp, Condition, Function, Operand, Path, PathElem, SetValue, UpdateOperand, ValueRef,
};
use super::lex::{self, Tok, Token};
use super::projection::ProjectionExpr;
use super::reserved::is_reserved;
use super::update::UpdateExpr;
use super::{
    ExprContext, ExprError, ExprErrorKind, ExpressionKind, MAX_IN_OPERANDS, MAX_NESTING, MAX_PATH_DEPTH,
    MAX_UPDATE_OPERATORS,
};
use crate::model::{Value, ValueType};

/// A syntax error at this token index (`tokens.len()` for the end of the text).
struct SyntaxAt(usize);

type PResult<T> = Result<T, SyntaxAt>;

/// Categories of non-syntax mistakes, ranked per expression kind by [`rank`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cat {
    Parens,
    UnknownFunction,
    MisusedFunction,
    Reserved,
    Name,
    Value,
    Nesting,
    OperandCount,
    Distinct,
    FunctionType,
    Section,
    Overlap,
    Conflict,
    UpdateOperandType,
    TooManyOperators,
}

/// The order in which DynamoDB reports mistakes (lower first). Conditions report undefined names and values
/// in one slot, in text order; updates report names before values.
fn rank(expr: ExpressionKind, cat: Cat) -> u8 {
    match expr {
        ExpressionKind::Update => match cat {
            Cat::Reserved => 0,
            Cat::UnknownFunction => 1,
            Cat::Section => 2,
            Cat::Name => 3,
            Cat::Value => 4,
            Cat::Nesting => 5,
            Cat::Overlap => 6,
            Cat::Conflict => 7,
            Cat::UpdateOperandType => 8,
            Cat::OperandCount | Cat::FunctionType => 9,
            Cat::TooManyOperators => 10,
            _ => 11,
        },
        ExpressionKind::Projection => match cat {
            Cat::Reserved => 0,
            Cat::Name => 1,
            Cat::Nesting => 2,
            Cat::Overlap => 3,
            Cat::Conflict => 4,
            _ => 5,
        },
        ExpressionKind::Condition | ExpressionKind::Filter | ExpressionKind::KeyCondition => match cat {
            Cat::Parens => 0,
            Cat::UnknownFunction => 1,
            Cat::MisusedFunction => 2,
            Cat::Reserved => 3,
            Cat::Name | Cat::Value => 4,
            Cat::Nesting => 5,
            Cat::OperandCount => 6,
            Cat::Distinct => 7,
            Cat::FunctionType => 8,
            _ => 9,
        },
    }
}

/// The functions of conditions. Names are case-sensitive
/// (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.OperatorsAndFunctions.html#Expressions.OperatorsAndFunctions.Functions>).
const CONDITION_FUNCTIONS: [&str; 6] = [
    "attribute_exists",
    "attribute_not_exists",
    "attribute_type",
    "begins_with",
    "contains",
    "size",
];

/// The type names `attribute_type` accepts, as DynamoDB lists them in its error message.
const TYPE_NAMES: &str = "{B,NULL,SS,BOOL,L,BS,N,NS,S,M}";

/// A condition operand before we know whether it is an operand or a boolean function.
enum Raw {
    Plain(Operand),
    Call { name: String, args: Vec<Operand> },
}

/// What a parenthesised group turned out to hold.
enum Unit {
    Cond(Condition),
    Operand(Raw),
}

struct Parser<'t, 'c> {
    text: &'t str,
    toks: Vec<Token>,
    pos: usize,
    expr: ExpressionKind,
    ctx: &'c mut ExprContext,
    /// The first mistake of each rank.
    pending: BTreeMap<u8, ExprError>,
    depth: usize,
    /// Token indexes of the `(` and `)` of the group closed last, to spot `((…))`.
    last_group: Option<(usize, usize)>,
    /// Actions, operators and functions of an update.
    operators: usize,
}

impl<'t, 'c> Parser<'t, 'c> {
    fn new(text: &'t str, expr: ExpressionKind, ctx: &'c mut ExprContext) -> Parser<'t, 'c> {
        Parser {
            text,
            toks: lex::tokenize(text),
            pos: 0,
            expr,
            ctx,
            pending: BTreeMap::new(),
            depth: 0,
            last_group: None,
            operators: 0,
        }
    }

    fn finish<T>(self, result: PResult<T>) -> Result<T, ExprError> {
        match result {
            Err(SyntaxAt(at)) => Err(ExprError::invalid(
                self.expr,
                ExprErrorKind::Syntax,
                &lex::syntax_detail(self.text, &self.toks, at),
            )),
            Ok(value) => match self.pending.into_values().next() {
                Some(err) => Err(err),
                None => Ok(value),
            },
        }
    }

    fn record(&mut self, cat: Cat, kind: ExprErrorKind, detail: impl FnOnce() -> String) {
        let expr = self.expr;
        self.pending
            .entry(rank(expr, cat))
            .or_insert_with(|| ExprError::invalid(expr, kind, &detail()));
    }

    fn peek(&self) -> Option<Tok> {
        self.peek_at(self.pos)
    }

    fn peek_at(&self, at: usize) -> Option<Tok> {
        self.toks.get(at).map(|t| t.kind)
    }

    fn text_at(&self, at: usize) -> &'t str {
        self.toks.get(at).map_or("", |t| t.text(self.text))
    }

    fn at_end(&self) -> bool {
        self.pos >= self.toks.len()
    }

    fn expect(&mut self, kind: Tok) -> PResult<()> {
        if self.peek() == Some(kind) {
            self.pos += 1;
            Ok(())
        } else {
            Err(SyntaxAt(self.pos))
        }
    }

    fn eat(&mut self, kind: Tok) -> bool {
        let hit = self.peek() == Some(kind);
        if hit {
            self.pos += 1;
        }
        hit
    }

    /// Whether the token at `at` is the word `keyword` (any case).
    fn is_word(&self, at: usize, keyword: &str) -> bool {
        self.peek_at(at) == Some(Tok::Ident) && self.text_at(at).eq_ignore_ascii_case(keyword)
    }

    fn at_keyword(&self, keyword: &str) -> bool {
        self.is_word(self.pos, keyword)
    }

    /// Words of this grammar, which can never be attribute names (`a > between` is a syntax error).
    fn is_grammar_word(&self, at: usize) -> bool {
        let words: &[&str] = match self.expr {
            ExpressionKind::Update => &["SET", "REMOVE", "ADD", "DELETE"],
            ExpressionKind::Projection => &[],
            _ => &["AND", "OR", "NOT", "BETWEEN", "IN"],
        };
        words.iter().any(|w| self.is_word(at, w))
    }

    fn enter(&mut self) -> PResult<()> {
        if self.depth >= MAX_NESTING {
            return Err(SyntaxAt(self.pos));
        }
        self.depth += 1;
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// Closes a group `(` at `open` whose content started at `inner_start`; flags `((…))`.
    fn close_group(&mut self, open: usize, inner_start: usize) -> PResult<()> {
        let close = self.pos;
        self.expect(Tok::RParen)?;
        if close > 0 && self.last_group == Some((inner_start, close - 1)) {
            self.record(Cat::Parens, ExprErrorKind::RedundantParentheses, || {
                "The expression has redundant parentheses;".into()
            });
        }
        self.last_group = Some((open, close));
        Ok(())
    }

    // ---- paths and values ----

    fn path(&mut self) -> PResult<Path> {
        let first = self.path_name()?;
        self.path_tail(Path(vec![first]))
    }

    fn path_tail(&mut self, mut path: Path) -> PResult<Path> {
        loop {
            match self.peek() {
                Some(Tok::Dot) => {
                    self.pos += 1;
                    let elem = self.path_name()?;
                    path.0.push(elem);
                }
                Some(Tok::LBracket) => {
                    self.pos += 1;
                    let at = self.pos;
                    if self.peek() != Some(Tok::Number) {
                        return Err(SyntaxAt(at));
                    }
                    let index: usize = self.text_at(at).parse().map_err(|_| SyntaxAt(at))?;
                    self.pos += 1;
                    self.expect(Tok::RBracket)?;
                    path.0.push(PathElem::Index(index));
                }
                _ => break,
            }
        }
        let levels = path.0.len();
        if levels > MAX_PATH_DEPTH {
            self.record(Cat::Nesting, ExprErrorKind::PathTooDeep, || {
                format!("The document path has too many nesting levels; nesting levels: {levels}")
            });
        }
        Ok(path)
    }

    fn path_name(&mut self) -> PResult<PathElem> {
        let at = self.pos;
        match self.peek() {
            Some(Tok::Ident) if !self.is_grammar_word(at) => {
                let word = self.text_at(at);
                self.pos += 1;
                if is_reserved(word) {
                    self.record(Cat::Reserved, ExprErrorKind::ReservedWord, || {
                        format!("Attribute name is a reserved keyword; reserved keyword: {word}")
                    });
                }
                Ok(PathElem::Attr {
                    name: word.to_owned(),
                    placeholder: None,
                })
            }
            Some(Tok::Name) => {
                let placeholder = self.text_at(at);
                self.pos += 1;
                let name = match self.ctx.name(placeholder) {
                    Some(name) => name,
                    None => {
                        self.record(Cat::Name, ExprErrorKind::UndefinedName, || {
                            format!(
                                "An expression attribute name used in the document path is not defined; \
                                 attribute name: {placeholder}"
                            )
                        });
                        String::new()
                    }
                };
                Ok(PathElem::Attr {
                    name,
                    placeholder: Some(placeholder.to_owned()),
                })
            }
            _ => Err(SyntaxAt(at)),
        }
    }

    fn value_ref(&mut self) -> PResult<ValueRef> {
        let at = self.pos;
        if self.peek() != Some(Tok::Value) {
            return Err(SyntaxAt(at));
        }
        let placeholder = self.text_at(at);
        self.pos += 1;
        let value = match self.ctx.value(placeholder) {
            Some(value) => value,
            None => {
                self.record(Cat::Value, ExprErrorKind::UndefinedValue, || {
                    format!(
                        "An expression attribute value used in expression is not defined; attribute value: \
                         {placeholder}"
                    )
                });
                Value::Null
            }
        };
        Ok(ValueRef {
            placeholder: placeholder.to_owned(),
            value,
        })
    }

    /// An identifier followed by `(`: a function call.
    fn at_call(&self) -> bool {
        self.peek() == Some(Tok::Ident)
            && self.peek_at(self.pos + 1) == Some(Tok::LParen)
            && !self.is_grammar_word(self.pos)
    }

    // ---- conditions ----

    fn condition_top(&mut self) -> PResult<Condition> {
        let unit = self.or()?;
        let condition = self.condition_of(unit)?;
        if !self.at_end() {
            return Err(SyntaxAt(self.pos));
        }
        Ok(condition)
    }

    fn or(&mut self) -> PResult<Unit> {
        let first = self.and()?;
        if !self.at_keyword("OR") {
            return Ok(first);
        }
        let mut parts = vec![self.condition_of(first)?];
        while self.at_keyword("OR") {
            self.pos += 1;
            let next = self.and()?;
            parts.push(self.condition_of(next)?);
        }
        Ok(Unit::Cond(Condition::Or(parts)))
    }

    fn and(&mut self) -> PResult<Unit> {
        let first = self.not()?;
        if !self.at_keyword("AND") {
            return Ok(first);
        }
        let mut parts = vec![self.condition_of(first)?];
        while self.at_keyword("AND") {
            self.pos += 1;
            let next = self.not()?;
            parts.push(self.condition_of(next)?);
        }
        Ok(Unit::Cond(Condition::And(parts)))
    }

    fn not(&mut self) -> PResult<Unit> {
        if !self.at_keyword("NOT") {
            return self.atom();
        }
        self.pos += 1;
        self.enter()?;
        let inner = self.not();
        self.leave();
        let inner = self.condition_of(inner?)?;
        Ok(Unit::Cond(Condition::Not(Box::new(inner))))
    }

    /// A unit as a condition: a function call becomes a function condition; a bare operand is a syntax
    /// error at the current token.
    fn condition_of(&mut self, unit: Unit) -> PResult<Condition> {
        match unit {
            Unit::Cond(c) => Ok(c),
            Unit::Operand(Raw::Call { name, args }) => Ok(self.function_condition(&name, args)),
            Unit::Operand(Raw::Plain(_)) => Err(SyntaxAt(self.pos)),
        }
    }

    fn atom(&mut self) -> PResult<Unit> {
        let raw = if self.peek() == Some(Tok::LParen) {
            let open = self.pos;
            self.pos += 1;
            self.enter()?;
            let inner_start = self.pos;
            let inner = self.or();
            self.leave();
            let inner = inner?;
            self.close_group(open, inner_start)?;
            match inner {
                Unit::Cond(c) => return Ok(Unit::Cond(c)),
                Unit::Operand(Raw::Plain(Operand::Path(p))) => Raw::Plain(Operand::Path(self.path_tail(p)?)),
                Unit::Operand(raw) => raw,
            }
        } else {
            self.operand_raw()?
        };
        if let Some(op) = self.comparator() {
            self.pos += 1;
            let left = self.judge_operand(raw);
            let right = self.operand_p()?;
            return Ok(Unit::Cond(self.compare(op, left, right)));
        }
        if self.at_keyword("BETWEEN") {
            self.pos += 1;
            let operand = self.judge_operand(raw);
            let low = self.operand_p()?;
            if !self.at_keyword("AND") {
                return Err(SyntaxAt(self.pos));
            }
            self.pos += 1;
            let high = self.operand_p()?;
            return Ok(Unit::Cond(self.between(operand, low, high)));
        }
        if self.at_keyword("IN") {
            self.pos += 1;
            let operand = self.judge_operand(raw);
            self.expect(Tok::LParen)?;
            self.enter()?;
            let list = self.operand_list();
            self.leave();
            let list = list?;
            if list.len() > MAX_IN_OPERANDS {
                let n = list.len();
                self.record(Cat::FunctionType, ExprErrorKind::Operand, || {
                    format!("The IN operator is provided with too many operands; number of operands: {n}")
                });
            }
            return Ok(Unit::Cond(Condition::In { operand, list }));
        }
        Ok(Unit::Operand(raw))
    }

    fn comparator(&self) -> Option<CompareOp> {
        Some(match self.peek()? {
            Tok::Eq => CompareOp::Eq,
            Tok::Ne => CompareOp::Ne,
            Tok::Lt => CompareOp::Lt,
            Tok::Le => CompareOp::Le,
            Tok::Gt => CompareOp::Gt,
            Tok::Ge => CompareOp::Ge,
            _ => return None,
        })
    }

    /// `operand (, operand)* )`
    fn operand_list(&mut self) -> PResult<Vec<Operand>> {
        let mut list = vec![self.operand_p()?];
        while self.eat(Tok::Comma) {
            list.push(self.operand_p()?);
        }
        self.expect(Tok::RParen)?;
        Ok(list)
    }

    /// A path, a value or a call, unjudged.
    fn operand_raw(&mut self) -> PResult<Raw> {
        match self.peek() {
            Some(Tok::Value) => Ok(Raw::Plain(Operand::Value(self.value_ref()?))),
            Some(Tok::Ident) if self.at_call() => {
                let name = self.text_at(self.pos).to_owned();
                self.pos += 2;
                self.enter()?;
                let args = self.operand_list();
                self.leave();
                Ok(Raw::Call { name, args: args? })
            }
            Some(Tok::Ident | Tok::Name) => Ok(Raw::Plain(Operand::Path(self.path()?))),
            _ => Err(SyntaxAt(self.pos)),
        }
    }

    /// An operand, possibly parenthesised (`(a.b).c` continues a grouped path).
    fn operand_p(&mut self) -> PResult<Operand> {
        if self.peek() != Some(Tok::LParen) {
            let raw = self.operand_raw()?;
            return Ok(self.judge_operand(raw));
        }
        let open = self.pos;
        self.pos += 1;
        self.enter()?;
        let inner_start = self.pos;
        let inner = self.operand_p();
        self.leave();
        let inner = inner?;
        self.close_group(open, inner_start)?;
        match inner {
            Operand::Path(p) => Ok(Operand::Path(self.path_tail(p)?)),
            other => Ok(other),
        }
    }

    fn count_operands(&mut self, name: &str, args: &[Operand], expected: usize) -> bool {
        if args.len() == expected {
            return true;
        }
        let n = args.len();
        self.record(Cat::OperandCount, ExprErrorKind::Operand, || {
            format!(
                "Incorrect number of operands for operator or function; operator or function: {name}, number \
                 of operands: {n}"
            )
        });
        false
    }

    fn wrong_type(&mut self, name: &str, type_name: &str) {
        self.record(Cat::FunctionType, ExprErrorKind::Operand, || {
            format!("Incorrect operand type for operator or function; operator or function: {name}, operand type: {type_name}")
        });
    }

    /// A call in operand position: only `size` is an operand.
    fn judge_operand(&mut self, raw: Raw) -> Operand {
        let (name, mut args) = match raw {
            Raw::Plain(o) => return o,
            Raw::Call { name, args } => (name, args),
        };
        let placeholder = Operand::Path(Path::attribute(""));
        if !CONDITION_FUNCTIONS.contains(&name.as_str()) {
            self.unknown_function(&name);
            return placeholder;
        }
        if name != "size" {
            self.misused_function(&name);
            return placeholder;
        }
        if !self.count_operands("size", &args, 1) {
            return placeholder;
        }
        let arg = args.pop().unwrap_or(placeholder);
        // size() of a number, boolean or null from the request is refused; from the item it is just false
        // (ScyllaDB Alternator's test_condition_expression.py, run against DynamoDB).
        if let Some(t) = static_type(&arg) {
            if matches!(t, ValueType::N | ValueType::Bool | ValueType::Null) {
                self.wrong_type("size", t.tag());
            }
        }
        Operand::Size(Box::new(arg))
    }

    fn unknown_function(&mut self, name: &str) {
        self.record(Cat::UnknownFunction, ExprErrorKind::Function, || {
            format!("Invalid function name; function: {name}")
        });
    }

    fn misused_function(&mut self, name: &str) {
        self.record(Cat::MisusedFunction, ExprErrorKind::Function, || {
            format!("The function is not allowed to be used this way in an expression; function: {name}")
        });
    }

    fn distinct(&mut self, operator: &str, a: &Operand, b: &Operand) {
        if let (Operand::Path(p), Operand::Path(q)) = (a, b) {
            if p.same_as(q) {
                let first = p.aws_list();
                self.record(Cat::Distinct, ExprErrorKind::Operand, || {
                    format!(
                        "The first operand must be distinct from the remaining operands for this operator or \
                         function; operator: {operator}, first operand: {first}"
                    )
                });
            }
        }
    }

    /// A call in condition position: a boolean function.
    fn function_condition(&mut self, name: &str, args: Vec<Operand>) -> Condition {
        let placeholder = Condition::Function(Function::AttributeExists(Path::attribute("")));
        if !CONDITION_FUNCTIONS.contains(&name) {
            self.unknown_function(name);
            return placeholder;
        }
        if name == "size" {
            self.misused_function(name);
            return placeholder;
        }
        let expected = if matches!(name, "attribute_exists" | "attribute_not_exists") {
            1
        } else {
            2
        };
        if !self.count_operands(name, &args, expected) {
            return placeholder;
        }
        let mut args = args.into_iter();
        let (Some(a), b) = (args.next(), args.next()) else {
            return placeholder;
        };
        if let Some(b) = &b {
            self.distinct(name, &a, b);
        }
        let function = match (name, b) {
            ("attribute_exists" | "attribute_not_exists", _) => {
                let Operand::Path(path) = a else {
                    self.record(Cat::FunctionType, ExprErrorKind::Operand, || {
                        format!("Operator or function requires a document path; operator or function: {name}")
                    });
                    return placeholder;
                };
                if name == "attribute_exists" {
                    Function::AttributeExists(path)
                } else {
                    Function::AttributeNotExists(path)
                }
            }
            ("attribute_type", Some(b)) => {
                self.check_type_name(&b);
                Function::AttributeType(a, b)
            }
            ("begins_with", Some(b)) => {
                for operand in [&a, &b] {
                    if let Some(t) = static_type(operand) {
                        if !matches!(t, ValueType::S | ValueType::B) {
                            self.wrong_type("begins_with", t.tag());
                        }
                    }
                }
                Function::BeginsWith(a, b)
            }
            ("contains", Some(b)) => Function::Contains(a, b),
            _ => return placeholder,
        };
        Condition::Function(function)
    }

    /// `attribute_type`'s second operand: a string value naming one of the ten types.
    fn check_type_name(&mut self, operand: &Operand) {
        match operand {
            Operand::Value(ValueRef {
                value: Value::S(s), ..
            }) => {
                if ValueType::from_tag(s).is_none() {
                    let s = s.clone();
                    self.record(Cat::FunctionType, ExprErrorKind::Operand, || {
                        format!("Invalid attribute type name found; type: {s}, valid types: {TYPE_NAMES}")
                    });
                }
            }
            other => {
                // A path's type is unknown until run time; DynamoDB names every type it could be.
                let found = static_type(other).map_or("{NS,SS,L,BS,N,M,B,BOOL,NULL,S}", ValueType::tag);
                self.wrong_type("attribute_type", found);
            }
        }
    }

    fn compare(&mut self, op: CompareOp, left: Operand, right: Operand) -> Condition {
        self.distinct(op.symbol(), &left, &right);
        if op.is_ordering() {
            self.check_orderable(op.symbol(), &[&left, &right]);
        }
        Condition::Compare { op, left, right }
    }

    /// Ordering a request value that cannot be ordered is an error, not a false condition (Alternator's
    /// `test_update_condition_lt`, run against DynamoDB).
    fn check_orderable(&mut self, operator: &str, operands: &[&Operand]) {
        for operand in operands {
            if let Some(t) = static_type(operand) {
                if !matches!(t, ValueType::N | ValueType::S | ValueType::B) {
                    self.wrong_type(operator, t.tag());
                }
            }
        }
    }

    fn between(&mut self, operand: Operand, low: Operand, high: Operand) -> Condition {
        self.check_orderable("BETWEEN", &[&operand, &low, &high]);
        if let (Operand::Value(l), Operand::Value(h)) = (&low, &high) {
            let (lt, ht) = (l.value.value_type(), h.value.value_type());
            let shown = format!(
                "lower bound operand: AttributeValue: {{{}:{}}}, upper bound operand: AttributeValue: {{{}:{}}}",
                lt.tag(),
                scalar_text(&l.value),
                ht.tag(),
                scalar_text(&h.value)
            );
            if lt != ht {
                self.record(Cat::FunctionType, ExprErrorKind::Operand, || {
                    format!(
                        "The BETWEEN operator requires same data type for lower and upper bounds; {shown}"
                    )
                });
            } else if super::eval::order(&l.value, &h.value) == Some(Ordering::Greater) {
                self.record(Cat::FunctionType, ExprErrorKind::Operand, || {
                    format!(
                        "The BETWEEN operator requires upper bound to be greater than or equal to lower bound; \
                         {shown}"
                    )
                });
            }
        }
        Condition::Between { operand, low, high }
    }

    // ---- update expressions ----

    fn update_top(&mut self) -> PResult<Vec<Clause>> {
        let mut clauses = Vec::new();
        let mut seen: Vec<&'static str> = Vec::new();
        let mut targets: Vec<Path> = Vec::new();
        loop {
            let Some(section) = ["SET", "REMOVE", "ADD", "DELETE"]
                .into_iter()
                .find(|w| self.at_keyword(w))
            else {
                return Err(SyntaxAt(self.pos));
            };
            self.pos += 1;
            let clause = match section {
                "SET" => {
                    let mut actions = Vec::new();
                    loop {
                        let path = self.path()?;
                        self.expect(Tok::Eq)?;
                        let value = self.set_value()?;
                        targets.push(path.clone());
                        actions.push((path, value));
                        self.operators += 1;
                        if !self.eat(Tok::Comma) {
                            break;
                        }
                    }
                    Clause::Set(actions)
                }
                "REMOVE" => {
                    let mut paths = Vec::new();
                    loop {
                        let path = self.path()?;
                        targets.push(path.clone());
                        paths.push(path);
                        self.operators += 1;
                        if !self.eat(Tok::Comma) {
                            break;
                        }
                    }
                    Clause::Remove(paths)
                }
                _ => {
                    let mut actions = Vec::new();
                    loop {
                        let path = self.path()?;
                        let value = self.value_ref()?;
                        self.check_add_delete_type(section, &value.value);
                        targets.push(path.clone());
                        actions.push((path, value));
                        self.operators += 1;
                        if !self.eat(Tok::Comma) {
                            break;
                        }
                    }
                    if section == "ADD" {
                        Clause::Add(actions)
                    } else {
                        Clause::Delete(actions)
                    }
                }
            };
            if seen.contains(&section) {
                self.record(Cat::Section, ExprErrorKind::DuplicateClause, || {
                    format!("The \"{section}\" section can only be used once in an update expression;")
                });
            }
            seen.push(section);
            clauses.push(clause);
            if self.at_end() {
                break;
            }
        }
        self.check_overlaps(&targets);
        if self.operators > MAX_UPDATE_OPERATORS {
            self.record(Cat::TooManyOperators, ExprErrorKind::TooLong, || {
                "Expression size has exceeded the maximum allowed size;".into()
            });
        }
        Ok(clauses)
    }

    /// ADD takes a number or a set, DELETE a set; DynamoDB names the refused type in long form
    /// (dynalite's `test/updateItem.js`, "incorrect types in UpdateExpression").
    fn check_add_delete_type(&mut self, section: &'static str, value: &Value) {
        let long = match value.value_type() {
            ValueType::Ss | ValueType::Ns | ValueType::Bs => return,
            ValueType::N if section == "ADD" => return,
            ValueType::N => "NUMBER",
            ValueType::S => "STRING",
            ValueType::B => "BINARY",
            ValueType::Null => "NULL",
            ValueType::Bool => "BOOLEAN",
            ValueType::L => "LIST",
            ValueType::M => "MAP",
        };
        self.record(Cat::UpdateOperandType, ExprErrorKind::Operand, || {
            format!(
                "Incorrect operand type for operator or function; operator: {section}, operand type: {long}"
            )
        });
    }

    /// `operand`, `operand + operand`, `operand - operand`, any of them parenthesised.
    fn set_value(&mut self) -> PResult<SetValue> {
        if self.peek() == Some(Tok::LParen) {
            self.pos += 1;
            self.enter()?;
            let inner = self.set_value();
            self.leave();
            let inner = inner?;
            self.expect(Tok::RParen)?;
            return match inner {
                SetValue::Operand(first) if matches!(self.peek(), Some(Tok::Plus | Tok::Minus)) => {
                    self.arithmetic(first)
                }
                other => Ok(other),
            };
        }
        let first = self.update_operand()?;
        if matches!(self.peek(), Some(Tok::Plus | Tok::Minus)) {
            return self.arithmetic(first);
        }
        Ok(SetValue::Operand(first))
    }

    fn arithmetic(&mut self, first: UpdateOperand) -> PResult<SetValue> {
        let plus = self.peek() == Some(Tok::Plus);
        self.pos += 1;
        let second = self.update_operand()?;
        self.operators += 1;
        let symbol = if plus { "+" } else { "-" };
        for operand in [&first, &second] {
            if let UpdateOperand::Value(v) = operand {
                let t = v.value.value_type();
                if t != ValueType::N {
                    self.wrong_type(symbol, t.tag());
                }
            }
        }
        Ok(if plus {
            SetValue::Plus(first, second)
        } else {
            SetValue::Minus(first, second)
        })
    }

    fn update_operand(&mut self) -> PResult<UpdateOperand> {
        match self.peek() {
            Some(Tok::LParen) => {
                self.pos += 1;
                self.enter()?;
                let inner = self.update_operand();
                self.leave();
                let inner = inner?;
                self.expect(Tok::RParen)?;
                Ok(inner)
            }
            Some(Tok::Value) => Ok(UpdateOperand::Value(self.value_ref()?)),
            Some(Tok::Ident) if self.at_call() => {
                let name = self.text_at(self.pos).to_owned();
                self.pos += 2;
                self.enter()?;
                let args = self.update_arguments();
                self.leave();
                let args = args?;
                self.operators += 1;
                Ok(self.update_function(&name, args))
            }
            Some(Tok::Ident | Tok::Name) => Ok(UpdateOperand::Path(self.path()?)),
            _ => Err(SyntaxAt(self.pos)),
        }
    }

    fn update_arguments(&mut self) -> PResult<Vec<UpdateOperand>> {
        let mut args = vec![self.update_operand()?];
        while self.eat(Tok::Comma) {
            args.push(self.update_operand()?);
        }
        self.expect(Tok::RParen)?;
        Ok(args)
    }

    fn update_function(&mut self, name: &str, args: Vec<UpdateOperand>) -> UpdateOperand {
        let placeholder = UpdateOperand::Path(Path::attribute(""));
        if name != "if_not_exists" && name != "list_append" {
            self.unknown_function(name);
            return placeholder;
        }
        let n = args.len();
        if n != 2 {
            self.record(Cat::OperandCount, ExprErrorKind::Operand, || {
                format!(
                    "Incorrect number of operands for operator or function; operator or function: {name}, \
                     number of operands: {n}"
                )
            });
            return placeholder;
        }
        let mut args = args.into_iter();
        let (Some(a), Some(b)) = (args.next(), args.next()) else {
            return placeholder;
        };
        if name == "if_not_exists" {
            let UpdateOperand::Path(path) = a else {
                self.record(Cat::FunctionType, ExprErrorKind::Operand, || {
                    "Operator or function requires a document path; operator or function: if_not_exists"
                        .into()
                });
                return placeholder;
            };
            return UpdateOperand::IfNotExists(path, Box::new(b));
        }
        for operand in [&a, &b] {
            if let UpdateOperand::Value(v) = operand {
                let t = v.value.value_type();
                if t != ValueType::L {
                    self.wrong_type("list_append", t.tag());
                }
            }
        }
        UpdateOperand::ListAppend(Box::new(a), Box::new(b))
    }

    /// Two paths of one update or projection may not overlap (one a prefix of the other, or equal) or
    /// conflict (a map key and a list index at the same place).
    fn check_overlaps(&mut self, paths: &[Path]) {
        for (i, later) in paths.iter().enumerate() {
            for earlier in paths.get(..i).unwrap_or(&[]) {
                let mut related = true;
                for (x, y) in earlier.elems().iter().zip(later.elems()) {
                    let same_kind = matches!(
                        (x, y),
                        (PathElem::Attr { .. }, PathElem::Attr { .. })
                            | (PathElem::Index(_), PathElem::Index(_))
                    );
                    if !same_kind {
                        let (one, two) = (earlier.aws_list(), later.aws_list());
                        self.record(Cat::Conflict, ExprErrorKind::PathOverlap, || {
                            format!(
                                "Two document paths conflict with each other; must remove or rewrite one of these \
                                 paths; path one: {one}, path two: {two}"
                            )
                        });
                        related = false;
                        break;
                    }
                    if !x.same_as(y) {
                        related = false;
                        break;
                    }
                }
                if related {
                    let (one, two) = (earlier.aws_list(), later.aws_list());
                    self.record(Cat::Overlap, ExprErrorKind::PathOverlap, || {
                        format!(
                            "Two document paths overlap with each other; must remove or rewrite one of these \
                             paths; path one: {one}, path two: {two}"
                        )
                    });
                }
            }
        }
    }

    // ---- projections ----

    fn projection_top(&mut self) -> PResult<Vec<Path>> {
        let mut paths = vec![self.path()?];
        while self.eat(Tok::Comma) {
            paths.push(self.path()?);
        }
        if !self.at_end() {
            return Err(SyntaxAt(self.pos));
        }
        self.check_overlaps(&paths);
        Ok(paths)
    }
}

/// The type of an operand known while parsing: a request value's type, or N for `size()`.
fn static_type(operand: &Operand) -> Option<ValueType> {
    match operand {
        Operand::Value(v) => Some(v.value.value_type()),
        Operand::Size(_) => Some(ValueType::N),
        Operand::Path(_) => None,
    }
}

/// A scalar as DynamoDB prints it inside `AttributeValue: {S:…}`.
fn scalar_text(value: &Value) -> String {
    match value {
        Value::S(s) => s.clone(),
        Value::N(n) => n.to_string(),
        Value::B(b) => base64::engine::general_purpose::STANDARD.encode(b),
        other => format!("{other:?}"),
    }
}

/// Parses a condition of any kind (key conditions are checked further by the caller).
pub(crate) fn condition(
    text: &str,
    expr: ExpressionKind,
    ctx: &mut ExprContext,
) -> Result<Condition, ExprError> {
    let mut parser = Parser::new(text, expr, ctx);
    let result = parser.condition_top();
    parser.finish(result)
}

/// Parses an update expression.
pub(crate) fn update(text: &str, ctx: &mut ExprContext) -> Result<UpdateExpr, ExprError> {
    let mut parser = Parser::new(text, ExpressionKind::Update, ctx);
    let result = parser.update_top();
    parser.finish(result).map(UpdateExpr::from_clauses)
}

/// Parses a projection expression.
pub(crate) fn projection(text: &str, ctx: &mut ExprContext) -> Result<ProjectionExpr, ExprError> {
    let mut parser = Parser::new(text, ExpressionKind::Projection, ctx);
    let result = parser.projection_top();
    parser.finish(result).map(ProjectionExpr::from_paths)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::{
        parse_condition, parse_projection, parse_update, ConditionKind, ExprContext, ExprErrorKind,
    };
    use crate::codec::ddb_json;
    use crate::model::Value;

    fn ctx(values: &[(&str, &str)], names: &[(&str, &str)]) -> ExprContext {
        let values: BTreeMap<String, Value> = values
            .iter()
            .map(|(k, j)| (k.to_string(), ddb_json::parse_value(j).unwrap()))
            .collect();
        let names: BTreeMap<String, String> = names
            .iter()
            .map(|(k, n)| (k.to_string(), n.to_string()))
            .collect();
        ExprContext::new(
            (!names.is_empty()).then_some(names),
            (!values.is_empty()).then_some(values),
        )
        .unwrap()
    }

    fn filter_error(text: &str, values: &[(&str, &str)], names: &[(&str, &str)]) -> String {
        match parse_condition(text, ConditionKind::Filter, &mut ctx(values, names)) {
            Ok(c) => panic!("{text} parsed as {c}"),
            Err(e) => e.message().to_owned(),
        }
    }

    fn update_error(text: &str, values: &[(&str, &str)], names: &[(&str, &str)]) -> String {
        match parse_update(text, &mut ctx(values, names)) {
            Ok(u) => panic!("{text} parsed as {u}"),
            Err(e) => e.message().to_owned(),
        }
    }

    // The cases below are dynalite's `test/scan.js` and `test/updateItem.js`, which record DynamoDB's answers.

    #[test]
    fn condition_syntax_errors() {
        for text in [
            "things are not gonna be ok",
            "a > 4",
            "attribute_exists(Pictures-RearView)",
            "attribute_exists(\"Pictures.RearView\")",
            "attribute_exists(Pictures..RearView)",
            "attribute_exists(Pi#ctures.RearView)",
            "attribute_exists(asdf[a])",
            "a in b, c",
            "a > between",
            "a in b",
            "a in (b,c,)",
            "(a)between(b.(c.d))and(c)",
            "(a)between(b.c.d)and((c)",
            "#$.b > a",
            "a > :things.stuff",
            "b[:a] > a",
            "b[#_] > a",
            "ü > a",
            "(a)between(b.c[4.5].#d)and(:a)",
            "size(a).b > a",
            "(size(a)).b > a",
            "size(a)[0] > a",
            "(size(a))[0] > a",
            "a",
            "   ",
            "_hidden = b",
        ] {
            let message = filter_error(text, &[], &[]);
            assert!(
                message.starts_with("Invalid FilterExpression: Syntax error; token: "),
                "{text}: {message}"
            );
        }
        assert_eq!(
            filter_error("a = = b", &[], &[]),
            "Invalid FilterExpression: Syntax error; token: \"=\", near: \"= = b\""
        );
        assert_eq!(
            filter_error("a AND", &[], &[]),
            "Invalid FilterExpression: Syntax error; token: \"AND\", near: \"a AND\""
        );
    }

    #[test]
    fn redundant_parentheses_are_refused() {
        for text in [
            "a=a and a > ((views))",
            "(a)between(((b.c)).d)and(c)",
            "a > whatever((:things), ((a)))",
            "a=a AND ((a=a AND a=a)) AND a=a",
            "a=a OR ((a=a OR a=a)) OR a=a",
            "a=a AND ((a=a AND (a=a AND a=a)))",
        ] {
            assert_eq!(
                filter_error(text, &[], &[]),
                "Invalid FilterExpression: The expression has redundant parentheses;",
                "{text}"
            );
        }
        assert!(parse_condition(
            "(a = b) AND ((c = d) OR (e = f))",
            ConditionKind::Filter,
            &mut ctx(&[], &[])
        )
        .is_ok());
    }

    #[test]
    fn function_names_and_uses_are_checked() {
        assert_eq!(
            filter_error("a=a and whatever((:things)) > a", &[], &[]),
            "Invalid FilterExpression: Invalid function name; function: whatever"
        );
        assert_eq!(
            filter_error("attRIbute_exIsts((views), #a)", &[], &[]),
            "Invalid FilterExpression: Invalid function name; function: attRIbute_exIsts"
        );
        for (text, f) in [
            ("a=a and attribute_exists((views), (#a)) > b", "attribute_exists"),
            ("attribute_not_exists(things) > b", "attribute_not_exists"),
            ("attribute_type(things, :a) > b", "attribute_type"),
            ("begins_with(things, a) > b", "begins_with"),
            ("contains(:things, c) > b", "contains"),
            ("size(contains(a, b)) > a", "contains"),
            ("size(things)", "size"),
            ("a between b and attribute_exists(things)", "attribute_exists"),
            ("a in (b, attribute_exists(things))", "attribute_exists"),
        ] {
            assert_eq!(
                filter_error(text, &[], &[]),
                format!("Invalid FilterExpression: The function is not allowed to be used this way in an expression; function: {f}"),
                "{text}"
            );
        }
    }

    #[test]
    fn reserved_words_and_undefined_placeholders() {
        assert_eq!(
            filter_error("attribute_exists(views, #a)", &[], &[]),
            "Invalid FilterExpression: Attribute name is a reserved keyword; reserved keyword: views"
        );
        assert_eq!(
            filter_error(":a < abOrT", &[], &[]),
            "Invalid FilterExpression: Attribute name is a reserved keyword; reserved keyword: abOrT"
        );
        for (text, name) in [
            ("attribute_exists(#Pictures.RearView, :a) and a=a", "#Pictures"),
            ("begins_with(Pictures.#RearView)", "#RearView"),
            ("(#P between :lo and :hi) and (#PC in (:cat1, :cat2))", "#P"),
            ("#4g > a", "#4g"),
        ] {
            assert_eq!(
                filter_error(text, &[], &[]),
                format!("Invalid FilterExpression: An expression attribute name used in the document path is not defined; attribute name: {name}"),
            );
        }
        for (text, value) in [
            ("begins_with(:hello, #a, #b)", ":hello"),
            (":a < :b", ":a"),
            (":_ > a", ":_"),
        ] {
            assert_eq!(
                filter_error(text, &[], &[]),
                format!("Invalid FilterExpression: An expression attribute value used in expression is not defined; attribute value: {value}"),
            );
        }
    }

    #[test]
    fn operand_counts_types_and_distinctness() {
        for (text, f, n) in [
            ("attribute_exists(things, a) and a=a", "attribute_exists", 2),
            ("attribute_type(things)", "attribute_type", 1),
            ("begins_with(things, size(a), b)", "begins_with", 3),
            ("size(things, a) > b", "size", 2),
        ] {
            assert_eq!(
                filter_error(text, &[], &[]),
                format!("Invalid FilterExpression: Incorrect number of operands for operator or function; operator or function: {f}, number of operands: {n}")
            );
        }
        for (text, value, f, t) in [
            ("attribute_type(a, :a)", r#"{"N":"1"}"#, "attribute_type", "N"),
            ("begins_with(a, :a)", r#"{"L":[]}"#, "begins_with", "L"),
            ("begins_with(:a, a)", r#"{"BOOL":true}"#, "begins_with", "BOOL"),
            ("size(:a) > a", r#"{"NULL":true}"#, "size", "NULL"),
            ("size(size(a)) > :a", r#"{"N":"1"}"#, "size", "N"),
            ("a < :a", r#"{"M":{}}"#, "<", "M"),
            ("a BETWEEN :a AND b", r#"{"SS":["x"]}"#, "BETWEEN", "SS"),
        ] {
            assert_eq!(
                filter_error(text, &[(":a", value)], &[]),
                format!("Invalid FilterExpression: Incorrect operand type for operator or function; operator or function: {f}, operand type: {t}"),
                "{text}"
            );
        }
        assert_eq!(
            filter_error("attribute_type(a, :a)", &[(":a", r#"{"S":"STRING"}"#)], &[]),
            "Invalid FilterExpression: Invalid attribute type name found; type: STRING, valid types: {B,NULL,SS,BOOL,L,BS,N,NS,S,M}"
        );
        assert_eq!(
            filter_error("attribute_exists(:a) and a=b", &[(":a", r#"{"S":"1"}"#)], &[]),
            "Invalid FilterExpression: Operator or function requires a document path; operator or function: attribute_exists"
        );
        for (text, op, first) in [
            ("a = a AND #a = b", "=", "[a]"),
            ("#a <> a", "<>", "[a]"),
            (
                "contains(ab.bc[1].a, ab.bc[1].#a)",
                "contains",
                "[ab, bc, [1], a]",
            ),
        ] {
            assert_eq!(
                filter_error(text, &[], &[("#a", "a")]),
                format!("Invalid FilterExpression: The first operand must be distinct from the remaining operands for this operator or function; operator: {op}, first operand: {first}")
            );
        }
        assert_eq!(
            filter_error("a between :b and :a", &[(":a", r#"{"S":"a"}"#), (":b", r#"{"N":"1"}"#)], &[]),
            "Invalid FilterExpression: The BETWEEN operator requires same data type for lower and upper bounds; lower bound operand: AttributeValue: {N:1}, upper bound operand: AttributeValue: {S:a}"
        );
        assert_eq!(
            filter_error("a between :b and :a", &[(":a", r#"{"S":"a"}"#), (":b", r#"{"S":"b"}"#)], &[]),
            "Invalid FilterExpression: The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {S:b}, upper bound operand: AttributeValue: {S:a}"
        );
        let many: Vec<String> = (0..101).map(|i| format!(":v{i}")).collect();
        let values: Vec<(String, &str)> = many.iter().map(|k| (k.clone(), r#"{"N":"1"}"#)).collect();
        let values: Vec<(&str, &str)> = values.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(
            filter_error(&format!("a IN ({})", many.join(",")), &values, &[]),
            "Invalid FilterExpression: The IN operator is provided with too many operands; number of operands: 101"
        );
    }

    #[test]
    fn update_syntax_errors() {
        for text in [
            "whatever",
            "set a",
            "add a",
            "delete a",
            "set a=set",
            "remove a = b",
            "add a = b",
            "delete a = b",
            "delete a b",
            "delete a if_not_exist(b)",
            "add abort b",
            "add a if_not_exist(b)",
            "remove a b",
            "set a b",
            "set :a = b",
            "add :a b",
            "delete :a b",
            "remove :a",
            "set a = b / c",
            "set a = b * c",
            "set a[1] = \"eight\"",
            "set a[1] = 1",
            "SET if_not_exist(a, b) = a",
            "set (a = (b + c))",
            "set a = (b.c).d + e",
            "set a = (b.c)[0] + e",
            "set a = b + c + d",
            "SET a = b,",
        ] {
            let message = update_error(text, &[], &[]);
            assert!(
                message.starts_with("Invalid UpdateExpression: Syntax error; token: "),
                "{text}: {message}"
            );
        }
        assert_eq!(
            update_error(
                "SET #a = :a, #b = :b,",
                &[(":a", "{\"N\":\"1\"}"), (":b", "{\"N\":\"1\"}")],
                &[("#a", "a"), ("#b", "b")]
            ),
            "Invalid UpdateExpression: Syntax error; token: \"<EOF>\", near: \",\""
        );
        assert_eq!(
            update_error("SET MyStr = myNum Mystr2 myNum2", &[], &[]),
            "Invalid UpdateExpression: Syntax error; token: \"Mystr2\", near: \"myNum Mystr2 myNum2\""
        );
        assert_eq!(
            update_error("SET MyStr = myNum + 1", &[], &[]),
            "Invalid UpdateExpression: Syntax error; token: \"1\", near: \"+ 1\""
        );
    }

    #[test]
    fn update_semantic_errors() {
        let v = [(":a", r#"{"S":"a"}"#), (":b", r#"{"S":"a"}"#)];
        assert_eq!(
            update_error(" set #c = :c set abOrt = true ", &v, &[]),
            "Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: abOrt"
        );
        assert_eq!(
            update_error("set #c = if_not_exist(:c) set c = d", &v, &[]),
            "Invalid UpdateExpression: Invalid function name; function: if_not_exist"
        );
        for (text, section) in [
            ("set a = #c set c = :d", "SET"),
            ("remove #d set a = b remove e", "REMOVE"),
            ("add #d :e set a = b add e :f", "ADD"),
            ("delete #d :e set a = b delete #e :f", "DELETE"),
        ] {
            assert_eq!(
                update_error(text, &v, &[]),
                format!("Invalid UpdateExpression: The \"{section}\" section can only be used once in an update expression;")
            );
        }
        let names = [("#c", "c"), ("#d", "[3]")];
        assert_eq!(
            update_error("set d[1] = a, d.b = a", &[], &names),
            "Invalid UpdateExpression: Two document paths conflict with each other; must remove or rewrite one of these paths; path one: [d, [1]], path two: [d, b]"
        );
        assert_eq!(
            update_error("set #c[3].#d = a, #c[3] = a", &[], &names),
            "Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [c, [3], [3]], path two: [c, [3]]"
        );
        assert_eq!(
            update_error("set #c[3].#d = a, #c.#d[3] = if_not_exists(a, b)", &[], &names),
            "Invalid UpdateExpression: Two document paths conflict with each other; must remove or rewrite one of these paths; path one: [c, [3], [3]], path two: [c, [3], [3]]"
        );
        for (value, op, t) in [
            (r#"{"S":"a"}"#, "ADD", "STRING"),
            (r#"{"BOOL":false}"#, "DELETE", "BOOLEAN"),
            (r#"{"L":[]}"#, "ADD", "LIST"),
            (r#"{"N":"1"}"#, "DELETE", "NUMBER"),
        ] {
            assert_eq!(
                update_error(&format!("{op} a.b :a"), &[(":a", value)], &[]),
                format!("Invalid UpdateExpression: Incorrect operand type for operator or function; operator: {op}, operand type: {t}")
            );
        }
        assert_eq!(
            update_error("set a = if_not_exists(c)", &[], &[]),
            "Invalid UpdateExpression: Incorrect number of operands for operator or function; operator or function: if_not_exists, number of operands: 1"
        );
        assert_eq!(
            update_error("set a = if_not_exists(if_not_exists(a, b), c)", &[], &[]),
            "Invalid UpdateExpression: Operator or function requires a document path; operator or function: if_not_exists"
        );
        assert_eq!(
            update_error("set a = list_append(:a, a)", &[(":a", r#"{"S":"a"}"#)], &[]),
            "Invalid UpdateExpression: Incorrect operand type for operator or function; operator or function: list_append, operand type: S"
        );
        assert_eq!(
            update_error("set a = a - :a", &[(":a", r#"{"M":{}}"#)], &[]),
            "Invalid UpdateExpression: Incorrect operand type for operator or function; operator or function: -, operand type: M"
        );
        let err = parse_update("SET a = :v", &mut ctx(&[], &[])).unwrap_err();
        assert_eq!(err.kind(), ExprErrorKind::UndefinedValue);
    }

    #[test]
    fn projection_errors() {
        assert_eq!(
            parse_projection("a, b.c, a.d", &mut ctx(&[], &[])).unwrap_err().message(),
            "Invalid ProjectionExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a, d]"
        );
        assert_eq!(
            parse_projection("a, #x", &mut ctx(&[], &[])).unwrap_err().message(),
            "Invalid ProjectionExpression: An expression attribute name used in the document path is not defined; attribute name: #x"
        );
        assert_eq!(
            parse_projection("a, status", &mut ctx(&[], &[]))
                .unwrap_err()
                .message(),
            "Invalid ProjectionExpression: Attribute name is a reserved keyword; reserved keyword: status"
        );
        assert!(parse_projection("a.b, a.c[1], a.c[2]", &mut ctx(&[], &[])).is_ok());
    }

    #[test]
    fn keywords_are_case_insensitive_and_round_trips_print_the_same_tree() {
        let mut c = ctx(
            &[
                (":lo", r#"{"N":"1"}"#),
                (":hi", r#"{"N":"2"}"#),
                (":a", r#"{"S":"x"}"#),
                (":l", r#"{"L":[]}"#),
            ],
            &[("#n", "x.y")],
        );
        let cond = parse_condition(
            "n between :lo and :hi Or s in (:a) aNd not (#n.b[2] <> :a OR begins_with(s, :a)) AND size(l) >= :lo",
            ConditionKind::Condition,
            &mut c,
        )
        .unwrap();
        let printed = cond.to_string();
        assert_eq!(
            printed,
            "n BETWEEN :lo AND :hi OR s IN (:a) AND NOT (#n.b[2] <> :a OR begins_with(s, :a)) AND size(l) >= :lo"
        );
        assert_eq!(
            parse_condition(&printed, ConditionKind::Condition, &mut c).unwrap(),
            cond
        );
        let update = parse_update(
            "set a = (b) + :lo, c[1] = list_append(c, :l) remove d, e[3] add f :lo",
            &mut c,
        );
        let update = update.unwrap();
        assert_eq!(
            update.to_string(),
            "SET a = b + :lo, c[1] = list_append(c, :l) REMOVE d, e[3] ADD f :lo"
        );
    }

    #[test]
    fn deep_nesting_is_refused_without_overflowing_the_stack() {
        let mut c = ctx(&[], &[]);
        for text in [
            format!("{}a = b{}", "(".repeat(100), ")".repeat(100)),
            format!("{}a = b", "NOT ".repeat(100)),
            format!("{}a{} = b", "size(".repeat(100), ")".repeat(100)),
        ] {
            let err = parse_condition(&text, ConditionKind::Filter, &mut c).unwrap_err();
            assert_eq!(err.kind(), ExprErrorKind::Syntax);
        }
        let deep = format!("SET a = {}b{}", "list_append(".repeat(100), ", b)".repeat(100));
        assert!(parse_update(&deep, &mut c).is_err());
        let path = vec!["a"; 40].join(".");
        let err = parse_projection(&path, &mut c).unwrap_err();
        assert_eq!(
            err.message(),
            "Invalid ProjectionExpression: The document path has too many nesting levels; nesting levels: 40"
        );
    }
}
