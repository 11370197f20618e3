//! The `$filter` / `$orderby` expression tree: ONE source of truth for every side (the connector builds
//! and prints it, the emulator parses and compiles it to SQL).
//!
//! `print(parse(s))` parses back to the same tree (see [`crate::print_expr`]).

/// A `$filter` or `$orderby` expression.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Expr {
    /// A primitive literal: `'text'`, `42`, `3.14`, `true`, `null`, `2025-01-31`, ...
    Literal(Literal),
    /// A member path: `Name`, `Address/Street`, `s/State` inside a lambda, `$it/Name`.
    Member(MemberPath),
    /// `not e`, `-e`.
    Unary { op: UnaryOp, operand: Box<Expr> },
    /// `a eq b`, `a and b`, `a add b`, ...
    Binary {
        op: BinaryOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    /// `e in (v1, v2, ...)` (also written with a JSON array `e in ["a","b"]`).
    In { operand: Box<Expr>, list: Vec<Expr> },
    /// A built-in or namespace-qualified function call: `contains(Name,'x')`, `year(OrderDate)`.
    Call { function: Function, args: Vec<Expr> },
    /// `Collection/any(v: predicate)`, `Collection/any()`, `Collection/all(v: predicate)`.
    Lambda {
        /// The collection the lambda ranges over (a navigation or collection property path).
        collection: MemberPath,
        kind: LambdaKind,
        /// The range variable; `None` only for the argument-less `any()`.
        variable: Option<String>,
        /// The predicate; `None` only for the argument-less `any()`.
        predicate: Option<Box<Expr>>,
    },
}

/// Where a member path starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathRoot {
    /// The current instance (a plain `Name`).
    Implicit,
    /// `$it/...`: the instance the whole `$filter` is evaluated on.
    It,
    /// `$this/...`: the current instance inside a nested context.
    This,
    /// A lambda range variable, e.g. `s` in `ShipTos/any(s: s/State eq 'MN')`.
    Variable(String),
}

/// A path of members from a root: `Address/Street` is `Implicit` + `["Address", "Street"]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberPath {
    pub root: PathRoot,
    /// Property or navigation names, in order; may be empty for a bare `$it` / variable.
    pub segments: Vec<String>,
}

impl MemberPath {
    /// A plain property path from the current instance.
    pub fn property<S: Into<String>>(segments: impl IntoIterator<Item = S>) -> Self {
        MemberPath {
            root: PathRoot::Implicit,
            segments: segments.into_iter().map(Into::into).collect(),
        }
    }
}

/// A primitive literal. Temporal and numeric values keep their canonical text, so that nothing is lost
/// to floating point and printing is exact.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Literal {
    Null,
    Boolean(bool),
    /// An integer literal without a decimal point or exponent.
    Int(i64),
    /// A decimal literal, canonical text such as `3.14` or `-2.50` (exact; never a float).
    Decimal(String),
    /// A literal with an exponent, or `INF` / `-INF` / `NaN`.
    Double(f64),
    /// A string, unescaped (`'O''Neil'` is `O'Neil`).
    String(String),
    /// `YYYY-MM-DD` (validated).
    Date(String),
    /// `YYYY-MM-DDThh:mm[:ss[.fff]](Z|±hh:mm)` as written (validated).
    DateTimeOffset(String),
    /// `hh:mm[:ss[.fff]]` (validated).
    TimeOfDay(String),
    /// An ISO 8601 duration such as `P6DT23H59M59.9999S`, possibly negative (validated).
    Duration(String),
    /// A GUID, lower- or upper-case as written (validated).
    Guid(String),
    /// `binary'...'` as bytes.
    Binary(Vec<u8>),
    /// `Namespace.EnumType'Member'`.
    Enum { type_name: String, value: String },
}

/// Unary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    Not,
    Negate,
}

/// Binary operators, logical, comparison and arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BinaryOp {
    And,
    Or,
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Has,
    Add,
    Sub,
    Mul,
    Div,
    DivBy,
    Mod,
}

impl BinaryOp {
    /// The operator as written in a URL (`eq`, `and`, ...).
    pub fn keyword(self) -> &'static str {
        match self {
            BinaryOp::And => "and",
            BinaryOp::Or => "or",
            BinaryOp::Eq => "eq",
            BinaryOp::Ne => "ne",
            BinaryOp::Gt => "gt",
            BinaryOp::Ge => "ge",
            BinaryOp::Lt => "lt",
            BinaryOp::Le => "le",
            BinaryOp::Has => "has",
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::DivBy => "divby",
            BinaryOp::Mod => "mod",
        }
    }
}

/// `any` or `all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LambdaKind {
    Any,
    All,
}

/// Functions known to the OData URL conventions, and a fallback for namespace-qualified or other ones.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Function {
    Contains,
    StartsWith,
    EndsWith,
    Length,
    IndexOf,
    Substring,
    ToLower,
    ToUpper,
    Trim,
    Concat,
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    FractionalSeconds,
    Date,
    Time,
    TotalOffsetMinutes,
    TotalSeconds,
    Now,
    MaxDateTime,
    MinDateTime,
    Round,
    Floor,
    Ceiling,
    /// Any other function, by the name as written (e.g. `geo.distance`, `Model.MostPopularName`).
    Other(String),
}

impl Function {
    /// The name as written in a URL.
    pub fn name(&self) -> &str {
        match self {
            Function::Contains => "contains",
            Function::StartsWith => "startswith",
            Function::EndsWith => "endswith",
            Function::Length => "length",
            Function::IndexOf => "indexof",
            Function::Substring => "substring",
            Function::ToLower => "tolower",
            Function::ToUpper => "toupper",
            Function::Trim => "trim",
            Function::Concat => "concat",
            Function::Year => "year",
            Function::Month => "month",
            Function::Day => "day",
            Function::Hour => "hour",
            Function::Minute => "minute",
            Function::Second => "second",
            Function::FractionalSeconds => "fractionalseconds",
            Function::Date => "date",
            Function::Time => "time",
            Function::TotalOffsetMinutes => "totaloffsetminutes",
            Function::TotalSeconds => "totalseconds",
            Function::Now => "now",
            Function::MaxDateTime => "maxdatetime",
            Function::MinDateTime => "mindatetime",
            Function::Round => "round",
            Function::Floor => "floor",
            Function::Ceiling => "ceiling",
            Function::Other(name) => name,
        }
    }

    /// The built-in function of that exact name, else [`Function::Other`].
    pub fn from_name(name: &str) -> Function {
        const BUILTIN: &[Function] = &[
            Function::Contains,
            Function::StartsWith,
            Function::EndsWith,
            Function::Length,
            Function::IndexOf,
            Function::Substring,
            Function::ToLower,
            Function::ToUpper,
            Function::Trim,
            Function::Concat,
            Function::Year,
            Function::Month,
            Function::Day,
            Function::Hour,
            Function::Minute,
            Function::Second,
            Function::FractionalSeconds,
            Function::Date,
            Function::Time,
            Function::TotalOffsetMinutes,
            Function::TotalSeconds,
            Function::Now,
            Function::MaxDateTime,
            Function::MinDateTime,
            Function::Round,
            Function::Floor,
            Function::Ceiling,
        ];
        BUILTIN
            .iter()
            .find(|f| f.name() == name)
            .cloned()
            .unwrap_or_else(|| Function::Other(name.to_string()))
    }
}

/// One `$orderby` item.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderBy {
    pub expr: Expr,
    pub descending: bool,
}

/// Builders, so the connector can write `col("Name").eq(lit_str("x"))`.
impl Expr {
    pub fn property(name: &str) -> Expr {
        Expr::Member(MemberPath::property(name.split('/')))
    }
    pub fn binary(op: BinaryOp, left: Expr, right: Expr) -> Expr {
        Expr::Binary {
            op,
            left: Box::new(left),
            right: Box::new(right),
        }
    }
    pub fn and(self, other: Expr) -> Expr {
        Expr::binary(BinaryOp::And, self, other)
    }
    pub fn or(self, other: Expr) -> Expr {
        Expr::binary(BinaryOp::Or, self, other)
    }
    pub fn eq(self, other: Expr) -> Expr {
        Expr::binary(BinaryOp::Eq, self, other)
    }
    pub fn not(self) -> Expr {
        Expr::Unary {
            op: UnaryOp::Not,
            operand: Box::new(self),
        }
    }
}
