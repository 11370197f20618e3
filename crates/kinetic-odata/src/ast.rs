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
    /// `Collection/$count`, optionally restricted: `Products/$count($filter=Price gt 5;$search=blue)`.
    ///
    /// `collection` is usually an [`Expr::Member`]; it is an expression so that the count of a bound
    /// function's result (`Items/Model.MostPopularNames()/$count`) can be written too.
    Count {
        collection: Box<Expr>,
        /// The nested `$filter`, if any.
        filter: Option<Box<Expr>>,
        /// The nested `$search`, as written (the search syntax is not interpreted).
        search: Option<String>,
    },
    /// A function called with named parameters, bound to a path or unbound:
    /// `Products/Model.BestProduct()`, `Model.Available(complex={"Name":"Value"})`,
    /// `Products/Model.ProductsByColor(color='green')`.
    ///
    /// The parser produces this only for a call after `/` or a call with named parameters; an unbound
    /// call with positional arguments (or none), such as `Model.MostPopularName()` or
    /// `geo.distance(A,B)`, is an [`Expr::Call`] with [`Function::Other`].
    FunctionCall {
        /// The path (or earlier call) the function is bound to; `None` for an unbound call.
        target: Option<Box<Expr>>,
        /// The name as written, usually namespace-qualified (`Model.BestProduct`).
        function: String,
        /// Named parameters in the order written: `color='green'` is `("color", 'green')`.
        params: Vec<(String, Expr)>,
    },
    /// Members reached from the result of a function call: `Products/Model.BestProduct()/Address/Street`
    /// is `Navigate { base: <the call>, segments: ["Address", "Street"] }`. Plain paths are
    /// [`Expr::Member`].
    Navigate {
        base: Box<Expr>,
        segments: Vec<String>,
    },
    /// A JSON array, in OData 4.01 URLs: `["Milk","Cheese"]`, `[FirstName,LastName]`, `[1, 2 add 3]`.
    /// JSON strings inside become [`Literal::String`] (printed back with single quotes, which 4.01 allows).
    Array(Vec<Expr>),
    /// A JSON object: `{"Street":"NE 40th","City":City}`; members in the order written (duplicates kept).
    Object(Vec<(String, Expr)>),
    /// A parameter alias such as `@p` in `$filter=Price gt @p&@p=5`; the name is stored without `@`.
    /// Its value is a custom query option (`@p`) the consumer resolves.
    Alias(String),
    /// A type name, only as the last argument of `cast(...)` / `isof(...)`: `Model.Customer`,
    /// `Edm.Boolean`, or an unqualified `Customer`.
    TypeName(String),
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
///
/// Besides property and navigation names a segment can be a type cast, written namespace-qualified
/// (`Address/Model.AddressWithLocation/Street`; the segment contains a `.`), or an annotation
/// (`Price/@Measures.Currency`; the segment starts with `@`, optionally with a `#qualifier`).
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
///
/// Equality is structural: two `Double`s are equal when their bits are, so `NaN == NaN` here (a parsed
/// `NaN` must compare equal to itself for the print/parse round trip to be checkable).
#[derive(Debug, Clone)]
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
    /// `Namespace.EnumType'Member'`; `value` may list several flags (`'Solid,Yellow'`) or numbers.
    Enum {
        type_name: String,
        value: String,
    },
}

impl PartialEq for Literal {
    fn eq(&self, other: &Self) -> bool {
        use Literal::*;
        match (self, other) {
            (Null, Null) => true,
            (Boolean(a), Boolean(b)) => a == b,
            (Int(a), Int(b)) => a == b,
            (Decimal(a), Decimal(b)) => a == b,
            // Bitwise, so that NaN equals itself (see the type's doc).
            (Double(a), Double(b)) => a.to_bits() == b.to_bits(),
            (String(a), String(b)) => a == b,
            (Date(a), Date(b)) => a == b,
            (DateTimeOffset(a), DateTimeOffset(b)) => a == b,
            (TimeOfDay(a), TimeOfDay(b)) => a == b,
            (Duration(a), Duration(b)) => a == b,
            (Guid(a), Guid(b)) => a == b,
            (Binary(a), Binary(b)) => a == b,
            (
                Enum {
                    type_name: ta,
                    value: va,
                },
                Enum {
                    type_name: tb,
                    value: vb,
                },
            ) => ta == tb && va == vb,
            _ => false,
        }
    }
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
    /// `a in b` where `b` is not a literal list but any other expression, e.g. a collection-valued
    /// property (`'Red' in Colors`) or a parenthesised single expression (`FirstName in (LastName)`).
    /// A list (`in ('a','b')`, `in ["a","b"]`) is [`Expr::In`].
    In,
}

impl BinaryOp {
    /// Binding strength (higher binds tighter), as the OData grammar orders the operators:
    /// `or`, `and`, `eq ne has in`, `gt ge lt le`, `add sub`, `mul div divby mod`. The parser
    /// reads by it and the printer writes the parentheses it needs by it.
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And => 2,
            BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Has | BinaryOp::In => 3,
            BinaryOp::Gt | BinaryOp::Ge | BinaryOp::Lt | BinaryOp::Le => 4,
            BinaryOp::Add | BinaryOp::Sub => 5,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::DivBy | BinaryOp::Mod => 6,
        }
    }

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
            BinaryOp::In => "in",
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
    /// `cast(expr, Type)` or `cast(Type)`; the type is an [`Expr::TypeName`] as the last argument.
    Cast,
    /// `isof(expr, Type)` or `isof(Type)`; the type is an [`Expr::TypeName`] as the last argument.
    IsOf,
    /// `matchesPattern(string, 'regex')`.
    MatchesPattern,
    /// `hassubset(collection, collection)`.
    HasSubset,
    /// `hassubsequence(collection, collection)`.
    HasSubsequence,
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
            Function::Cast => "cast",
            Function::IsOf => "isof",
            Function::MatchesPattern => "matchesPattern",
            Function::HasSubset => "hassubset",
            Function::HasSubsequence => "hassubsequence",
            Function::Other(name) => name,
        }
    }

    /// The built-in function of that exact name, else [`Function::Other`].
    pub fn from_name(name: &str) -> Function {
        BUILTIN
            .iter()
            .find(|f| f.name() == name)
            .cloned()
            .unwrap_or_else(|| Function::Other(name.to_string()))
    }

    /// The built-in function of that name compared ASCII-case-insensitively (OData 4.01 makes built-in
    /// function names case-insensitive: `CONTAINS(...)` is `contains(...)`), or `None`.
    pub fn builtin(name: &str) -> Option<Function> {
        BUILTIN
            .iter()
            .find(|f| f.name().eq_ignore_ascii_case(name))
            .cloned()
    }

    /// How many arguments a built-in takes (inclusive range); `None` for [`Function::Other`].
    pub fn arity(&self) -> Option<(usize, usize)> {
        use Function::*;
        Some(match self {
            Now | MaxDateTime | MinDateTime => (0, 0),
            Length | ToLower | ToUpper | Trim | Year | Month | Day | Hour | Minute | Second
            | FractionalSeconds | Date | Time | TotalOffsetMinutes | TotalSeconds | Round
            | Floor | Ceiling => (1, 1),
            Contains | StartsWith | EndsWith | IndexOf | Concat | MatchesPattern | HasSubset
            | HasSubsequence => (2, 2),
            Substring => (2, 3),
            Cast | IsOf => (1, 2),
            Other(_) => return None,
        })
    }
}

/// Every built-in function, for name lookups.
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
    Function::Cast,
    Function::IsOf,
    Function::MatchesPattern,
    Function::HasSubset,
    Function::HasSubsequence,
];

/// One `$orderby` item.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderBy {
    pub expr: Expr,
    pub descending: bool,
}

/// Builders, so the connector can write `col("Name").eq(lit_str("x"))`.
impl Expr {
    /// A property path written with `/`: `Expr::property("Address/City")`.
    pub fn property(name: &str) -> Expr {
        Expr::Member(MemberPath::property(name.split('/')))
    }
    /// `left op right`.
    pub fn binary(op: BinaryOp, left: Expr, right: Expr) -> Expr {
        Expr::Binary {
            op,
            left: Box::new(left),
            right: Box::new(right),
        }
    }
    /// `self and other`.
    pub fn and(self, other: Expr) -> Expr {
        Expr::binary(BinaryOp::And, self, other)
    }
    /// `self or other`.
    pub fn or(self, other: Expr) -> Expr {
        Expr::binary(BinaryOp::Or, self, other)
    }
    /// `self eq other`.
    pub fn eq(self, other: Expr) -> Expr {
        Expr::binary(BinaryOp::Eq, self, other)
    }
    /// `not self`.
    // Named like the OData keyword on purpose; `std::ops::Not` would read as `!expr`.
    #[allow(clippy::should_implement_trait)]
    pub fn not(self) -> Expr {
        Expr::Unary {
            op: UnaryOp::Not,
            operand: Box::new(self),
        }
    }
}
