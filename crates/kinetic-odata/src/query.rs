//! System query options: `$filter`, `$orderby`, `$select`, `$expand` (with nested options), `$top`,
//! `$skip`, `$count`, `$inlinecount`, `$skiptoken`, `$search`, `$format`, `$levels`, and custom options.

use std::fmt::{self, Display, Formatter, Write};

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};

use crate::ast::{Expr, OrderBy};
use crate::error::ParseError;
use crate::parser::{PResult, Parser};
use crate::printer::join;

/// `$levels` of a recursive expand: a depth, or `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Levels {
    /// `$levels=3` (at least 1).
    Depth(u32),
    /// `$levels=max`.
    Max,
}

impl Display for Levels {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Levels::Depth(n) => write!(f, "{n}"),
            Levels::Max => f.write_str("max"),
        }
    }
}

/// OData v3 `$inlinecount` (Epicor's v1 API): whether the response carries the total count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InlineCount {
    /// `$inlinecount=allpages`.
    AllPages,
    /// `$inlinecount=none`.
    None,
}

/// One `$select` item.
#[derive(Debug, Clone, PartialEq)]
pub enum SelectItem {
    /// `*`: all structural properties.
    Star,
    /// A property path such as `Name`, `Address/Street`, `Model.AddressWithLocation/Location`
    /// (a segment with a `.` is a type cast), `Model.*` (all operations of a schema) or an annotation
    /// `@Core.Messages`.
    Path(Vec<String>),
    /// A path with nested options: `Addresses($filter=City eq 'X';$top=2)`, `Address($select=Street)`.
    Nested {
        path: Vec<String>,
        options: Box<QueryOptions>,
    },
    /// An action or function with its parameter names: `Model.MostPopularName(Location,Kind)`.
    Operation {
        path: Vec<String>,
        parameters: Vec<String>,
    },
}

/// One `$expand` item: `Items`, `Items/$ref`, `Items/$count`, `*`, `Items($select=A;$top=5)`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExpandItem {
    /// Navigation path; `*` (as the last segment) expands every navigation property.
    pub path: Vec<String>,
    /// `/$ref`: only entity references.
    pub is_ref: bool,
    /// `/$count`: only the count of related entities.
    pub is_count: bool,
    /// Nested options (`$select`, `$filter`, `$expand`, `$orderby`, `$top`, `$skip`, `$count`,
    /// `$search`, `$levels`, custom `@alias=value`).
    pub options: QueryOptions,
}

impl ExpandItem {
    /// A plain expand of a navigation path written with `/`: `ExpandItem::path("OrderDtls")`.
    pub fn path(path: &str) -> Self {
        ExpandItem {
            path: path.split('/').map(str::to_string).collect(),
            ..ExpandItem::default()
        }
    }
}

/// All query options of a request (or the nested options of an expand / select item).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QueryOptions {
    pub filter: Option<Expr>,
    pub orderby: Vec<OrderBy>,
    pub select: Option<Vec<SelectItem>>,
    pub expand: Vec<ExpandItem>,
    pub top: Option<u64>,
    pub skip: Option<u64>,
    /// `$count=true|false` (OData v4).
    pub count: Option<bool>,
    /// `$inlinecount` (OData v3).
    pub inlinecount: Option<InlineCount>,
    pub skiptoken: Option<String>,
    /// `$search`, as written (the search grammar is not interpreted).
    pub search: Option<String>,
    pub format: Option<String>,
    pub levels: Option<Levels>,
    /// Options without `$` that are not system options (Epicor's `Company=...`, BAQ parameters,
    /// parameter aliases `@p`), in order, decoded.
    pub custom: Vec<(String, String)>,
}

/// A query option that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// The value of a system option did not parse: `$filter: expected ')' at 17`.
    #[error("{option}: {source}")]
    Invalid {
        /// The option, with `$` (`$filter`).
        option: String,
        #[source]
        source: ParseError,
    },
    /// A system option given more than once.
    #[error("{0}: query option given more than once")]
    Repeated(String),
    /// A `$`-option that OData does not define (or this crate does not support).
    #[error("{0}: unknown system query option")]
    Unknown(String),
    /// The option's key or value is not UTF-8 once percent-decoded.
    #[error("{0}: not valid UTF-8 after percent-decoding")]
    Encoding(String),
}

/// Names of the system query options known at the top level, without `$`.
const SYSTEM_OPTIONS: &[&str] = &[
    "filter",
    "orderby",
    "select",
    "expand",
    "top",
    "skip",
    "count",
    "inlinecount",
    "skiptoken",
    "search",
    "format",
    "levels",
];

/// Characters percent-encoded in query option values: everything but unreserved characters and a
/// few sub-delimiters that are safe inside a value. Spaces become `%20` (never `+`, which some OData
/// servers read as a plus), and `&`, `=`, `+`, `#`, `%` are always encoded.
const VALUE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b'+')
    .add(b'<')
    .add(b'=')
    .add(b'>')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

fn encode(s: &str) -> impl Display + '_ {
    utf8_percent_encode(s, VALUE)
}

/// Which nested options an expand item allows, following the 4.01 ABNF.
#[derive(Clone, Copy, PartialEq)]
enum Nesting {
    /// Plain expand item or select item: everything.
    Full,
    /// After `/$ref`: `$filter`, `$search`, `$orderby`, `$top`, `$skip`, `$count`.
    Ref,
    /// After `/$count`: `$filter`, `$search`.
    Count,
    /// After `*`: `$levels` only.
    Star,
}

impl Nesting {
    fn allows(self, option: &str) -> bool {
        match self {
            Nesting::Full => true,
            Nesting::Ref => matches!(
                option,
                "filter" | "search" | "orderby" | "top" | "skip" | "count" | "inlinecount"
            ),
            Nesting::Count => matches!(option, "filter" | "search"),
            Nesting::Star => option == "levels",
        }
    }
}

impl Parser<'_> {
    /// Items of a `$orderby` list, up to the end of input or a `;` / `)` of an enclosing option list.
    pub(crate) fn orderby_list(&mut self) -> PResult<Vec<OrderBy>> {
        let mut items = Vec::new();
        let saved = self.orderby_mode;
        self.orderby_mode = true;
        loop {
            let expr = self.parse_expr()?;
            let save = self.pos;
            let mut descending = false;
            if self.skip_ws() {
                if self.eat_str_ignore_case("desc") {
                    descending = true;
                } else if !self.eat_str_ignore_case("asc") {
                    self.pos = save;
                }
            }
            items.push(OrderBy { expr, descending });
            if !self.list_comma() {
                break;
            }
        }
        self.orderby_mode = saved;
        Ok(items)
    }

    /// A comma between list items (spaces after it are tolerated, as most servers do).
    fn list_comma(&mut self) -> bool {
        if self.eat(',') {
            self.skip_ws();
            true
        } else {
            false
        }
    }

    /// One path segment of `$select` / `$expand`: a name, qualified name, `Ns.*`, `*` or annotation.
    fn item_segment(&mut self) -> PResult<String> {
        match self.peek() {
            Some('*') => {
                self.pos += 1;
                Ok("*".to_string())
            }
            Some('@') => Ok(self.annotation()?.to_string()),
            Some('$') if self.rest().starts_with("$value") => {
                self.pos += "$value".len();
                Ok("$value".to_string())
            }
            _ => {
                let start = self.pos;
                if self.qualified_name().is_none() {
                    return self.error(
                        start,
                        format!("expected a property name, found {}", self.found()),
                    );
                }
                // `Model.*`: all operations of a schema.
                if self.rest().starts_with(".*") {
                    self.pos += 2;
                }
                Ok(self.src[start..self.pos].to_string())
            }
        }
    }

    /// True when `(` at the cursor opens query options (`$x=`, `x=`, `@a=`) rather than a list of
    /// parameter names.
    fn options_ahead(&mut self) -> bool {
        let save = self.pos;
        self.pos += 1;
        let options = self.peek() == Some('$')
            || self.peek() == Some('@')
            || (self.identifier().is_some() && self.peek() == Some('='));
        self.pos = save;
        options
    }

    pub(crate) fn select_list(&mut self) -> PResult<Vec<SelectItem>> {
        let mut items = Vec::new();
        loop {
            if self.eat('*') {
                items.push(SelectItem::Star);
            } else {
                let mut path = vec![self.item_segment()?];
                while self.eat('/') {
                    path.push(self.item_segment()?);
                }
                if self.peek() == Some('(') {
                    if self.options_ahead() {
                        let options = self.nested_options(Nesting::Full)?;
                        items.push(SelectItem::Nested {
                            path,
                            options: Box::new(options),
                        });
                    } else {
                        self.enter()?;
                        self.pos += 1;
                        let mut parameters = Vec::new();
                        if !self.eat(')') {
                            loop {
                                let Some(p) = self.identifier() else {
                                    return self.error(self.pos, "expected a parameter name");
                                };
                                parameters.push(p.to_string());
                                if !self.list_comma() {
                                    break;
                                }
                            }
                            self.expect(')')?;
                        }
                        self.leave();
                        items.push(SelectItem::Operation { path, parameters });
                    }
                } else {
                    items.push(SelectItem::Path(path));
                }
            }
            if !self.list_comma() {
                break;
            }
        }
        Ok(items)
    }

    pub(crate) fn expand_list(&mut self) -> PResult<Vec<ExpandItem>> {
        let mut items = Vec::new();
        loop {
            let mut item = ExpandItem::default();
            loop {
                let seg = self.item_segment()?;
                let star = seg == "*";
                item.path.push(seg);
                if self.rest().starts_with("/$ref") {
                    self.pos += 5;
                    item.is_ref = true;
                    break;
                }
                if self.rest().starts_with("/$count") {
                    if star {
                        return self.error(self.pos, "$count cannot follow *");
                    }
                    self.pos += 7;
                    item.is_count = true;
                    break;
                }
                if star || !self.eat('/') {
                    break;
                }
            }
            let star = item.path.last().is_some_and(|s| s == "*");
            if self.peek() == Some('(') {
                let nesting = if item.is_ref {
                    Nesting::Ref
                } else if item.is_count {
                    Nesting::Count
                } else if star {
                    Nesting::Star
                } else {
                    Nesting::Full
                };
                item.options = self.nested_options(nesting)?;
            }
            items.push(item);
            if !self.list_comma() {
                break;
            }
        }
        Ok(items)
    }

    /// `(opt=value;opt=value)`: nested query options; the cursor is on `(`.
    fn nested_options(&mut self, nesting: Nesting) -> PResult<QueryOptions> {
        self.enter()?;
        self.pos += 1;
        let mut options = QueryOptions::default();
        loop {
            let start = self.pos;
            if self.peek() == Some('@') {
                let name = self.annotation()?.to_string();
                self.expect('=')?;
                let value = self.search_value()?;
                options.custom.push((name, value));
            } else {
                self.eat('$');
                let Some(name) = self.identifier() else {
                    return self.error(self.pos, "expected a query option name");
                };
                let name = name.to_ascii_lowercase();
                if !SYSTEM_OPTIONS.contains(&name.as_str()) {
                    return self.error(start, format!("unknown query option '${name}'"));
                }
                if !nesting.allows(&name) {
                    let after = match nesting {
                        Nesting::Ref => "after $ref",
                        Nesting::Count => "after $count",
                        _ => "after *",
                    };
                    return self.error(start, format!("${name} is not allowed {after}"));
                }
                self.expect('=')?;
                if !self.nested_value(&mut options, &name)? {
                    return self.error(start, format!("${name} is given more than once"));
                }
            }
            if self.eat(';') {
                continue;
            }
            self.expect(')')?;
            break;
        }
        self.leave();
        Ok(options)
    }

    /// Parses the value of option `name` at the cursor into `options`; false if it was already set.
    fn nested_value(&mut self, options: &mut QueryOptions, name: &str) -> PResult<bool> {
        match name {
            "filter" => set(&mut options.filter, self.parse_expr()?),
            "orderby" => {
                let list = self.orderby_list()?;
                Ok(std::mem::replace(&mut options.orderby, list).is_empty())
            }
            "select" => set(&mut options.select, self.select_list()?),
            "expand" => {
                let list = self.expand_list()?;
                Ok(std::mem::replace(&mut options.expand, list).is_empty())
            }
            "top" => set(&mut options.top, self.unsigned()?),
            "skip" => set(&mut options.skip, self.unsigned()?),
            "count" => set(&mut options.count, self.boolean()?),
            "levels" => set(&mut options.levels, self.levels()?),
            "search" => set(&mut options.search, self.search_value()?),
            "inlinecount" => set(&mut options.inlinecount, self.inlinecount()?),
            // skiptoken / format inside an expand make no sense; keep them as written.
            "skiptoken" => set(&mut options.skiptoken, self.search_value()?),
            _ => set(&mut options.format, self.search_value()?),
        }
    }

    fn unsigned(&mut self) -> PResult<u64> {
        let start = self.pos;
        let len = self.rest().bytes().take_while(u8::is_ascii_digit).count();
        if len == 0 {
            return self.error(start, "expected a non-negative integer");
        }
        self.pos += len;
        match self.src[start..self.pos].parse() {
            Ok(v) => Ok(v),
            Err(_) => self.error(start, "number too large"),
        }
    }

    fn boolean(&mut self) -> PResult<bool> {
        if self.eat_str_ignore_case("true") {
            Ok(true)
        } else if self.eat_str_ignore_case("false") {
            Ok(false)
        } else {
            self.error(self.pos, "expected true or false")
        }
    }

    fn inlinecount(&mut self) -> PResult<InlineCount> {
        if self.eat_str_ignore_case("allpages") {
            Ok(InlineCount::AllPages)
        } else if self.eat_str_ignore_case("none") {
            Ok(InlineCount::None)
        } else {
            self.error(self.pos, "expected allpages or none")
        }
    }

    fn levels(&mut self) -> PResult<Levels> {
        if self.eat_str_ignore_case("max") {
            return Ok(Levels::Max);
        }
        let start = self.pos;
        if self.peek() == Some('0') {
            return self.error(
                start,
                "$levels must be a positive integer without leading zeros, or max",
            );
        }
        let n = self.unsigned()?;
        match u32::try_from(n) {
            Ok(n) => Ok(Levels::Depth(n)),
            Err(_) => self.error(start, "$levels too large"),
        }
    }
}

/// Sets `slot` to `value`; false (and untouched) if it was already set.
fn set<T>(slot: &mut Option<T>, value: T) -> PResult<bool> {
    if slot.is_some() {
        return Ok(false);
    }
    *slot = Some(value);
    Ok(true)
}

/// Runs `f` over the whole of `input`, which it must consume entirely.
fn parse_whole<'a, T>(input: &'a str, f: impl FnOnce(&mut Parser<'a>) -> PResult<T>) -> PResult<T> {
    let mut p = Parser::new(input);
    let v = f(&mut p)?;
    p.expect_end()?;
    Ok(v)
}

/// Parses a (percent-decoded) `$orderby` value: `Name,Price desc,year(OrderDate) asc`.
pub fn parse_orderby(input: &str) -> Result<Vec<OrderBy>, ParseError> {
    parse_whole(input, Parser::orderby_list)
}

/// Parses a (percent-decoded) `$select` value: `Name,Address/Street,*,Items($select=A)`.
pub fn parse_select(input: &str) -> Result<Vec<SelectItem>, ParseError> {
    parse_whole(input, Parser::select_list)
}

/// Parses a (percent-decoded) `$expand` value: `Customer,Items($select=A,B;$expand=Part;$top=5)`.
pub fn parse_expand(input: &str) -> Result<Vec<ExpandItem>, ParseError> {
    parse_whole(input, Parser::expand_list)
}

/// Parses a whole (percent-decoded) `$levels` value.
fn parse_levels(input: &str) -> Result<Levels, ParseError> {
    parse_whole(input, Parser::levels)
}

fn decode(s: &str, option: &str) -> Result<String, QueryError> {
    percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| QueryError::Encoding(option.to_string()))
}

impl QueryOptions {
    /// True when no option is set.
    pub fn is_empty(&self) -> bool {
        *self == QueryOptions::default()
    }

    /// Parses a raw URL query string (without the `?`): splits on `&`, percent-decodes keys and values
    /// (`+` stays a plus), accepts system options with or without `$` and in any case
    /// (`$OrderBy`, `filter`), rejects repeated system options and unknown `$` options, and keeps
    /// everything else in [`QueryOptions::custom`].
    ///
    /// ```
    /// use epicor_kinetic_odata::QueryOptions;
    /// let q = QueryOptions::from_query("$filter=Name%20eq%20'A'&$top=5&Company=EPIC06").unwrap();
    /// assert_eq!(q.top, Some(5));
    /// assert_eq!(q.custom, vec![("Company".to_string(), "EPIC06".to_string())]);
    /// let err = QueryOptions::from_query("$filter=(Name eq 'A'").unwrap_err();
    /// assert_eq!(err.to_string(), "$filter: expected ')' at 12");
    /// ```
    pub fn from_query(raw: &str) -> Result<QueryOptions, QueryError> {
        let mut q = QueryOptions::default();
        for piece in raw.split('&').filter(|p| !p.is_empty()) {
            let (raw_key, raw_value) = piece.split_once('=').unwrap_or((piece, ""));
            let key = decode(raw_key, raw_key)?;
            let lower = key.to_ascii_lowercase();
            let system = match lower.strip_prefix('$') {
                Some(name) if SYSTEM_OPTIONS.contains(&name) => Some(name.to_string()),
                Some(_) => return Err(QueryError::Unknown(key)),
                // OData 4.01 lets system options go without `$`.
                None if SYSTEM_OPTIONS.contains(&lower.as_str()) => Some(lower),
                None => None,
            };
            let Some(name) = system else {
                q.custom.push((key, decode(raw_value, raw_key)?));
                continue;
            };
            let option = format!("${name}");
            let value = decode(raw_value, &option)?;
            let invalid = |source: ParseError| QueryError::Invalid {
                option: option.clone(),
                source,
            };
            let fresh = match name.as_str() {
                "filter" => set(&mut q.filter, crate::parse_filter(&value).map_err(invalid)?),
                "orderby" => {
                    let list = parse_orderby(&value).map_err(invalid)?;
                    Ok(std::mem::replace(&mut q.orderby, list).is_empty())
                }
                "select" => set(&mut q.select, parse_select(&value).map_err(invalid)?),
                "expand" => {
                    let list = parse_expand(&value).map_err(invalid)?;
                    Ok(std::mem::replace(&mut q.expand, list).is_empty())
                }
                "top" => set(
                    &mut q.top,
                    parse_whole(&value, Parser::unsigned).map_err(invalid)?,
                ),
                "skip" => set(
                    &mut q.skip,
                    parse_whole(&value, Parser::unsigned).map_err(invalid)?,
                ),
                "count" => set(
                    &mut q.count,
                    parse_whole(&value, Parser::boolean).map_err(invalid)?,
                ),
                "inlinecount" => set(
                    &mut q.inlinecount,
                    parse_whole(&value, Parser::inlinecount).map_err(invalid)?,
                ),
                "levels" => set(&mut q.levels, parse_levels(&value).map_err(invalid)?),
                "search" if value.is_empty() => Err(ParseError::new(0, "empty $search")),
                "search" => set(&mut q.search, value),
                "skiptoken" => set(&mut q.skiptoken, value),
                _ => set(&mut q.format, value),
            };
            if !fresh.map_err(invalid)? {
                return Err(QueryError::Repeated(option));
            }
        }
        Ok(q)
    }

    /// The options as a percent-encoded query string (without `?`), system options first with `$`,
    /// spaces as `%20`; `QueryOptions::from_query(&q.to_query_string()) == Ok(q)`.
    ///
    /// ```
    /// use epicor_kinetic_odata::{parse_filter, QueryOptions};
    /// let q = QueryOptions { filter: Some(parse_filter("Name eq 'O''Brien'").unwrap()), top: Some(10), ..Default::default() };
    /// assert_eq!(q.to_query_string(), "$filter=Name%20eq%20'O''Brien'&$top=10");
    /// ```
    pub fn to_query_string(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        self.for_each_option(|name, value| {
            parts.push(format!("${name}={}", encode(&value)));
        });
        for (k, v) in &self.custom {
            parts.push(format!("{}={}", encode(k), encode(v)));
        }
        parts.join("&")
    }

    /// Calls `f(name, value)` for every system option that is set, in a fixed order.
    fn for_each_option(&self, mut f: impl FnMut(&str, String)) {
        if let Some(e) = &self.filter {
            f("filter", e.to_string());
        }
        if let Some(s) = &self.search {
            f("search", s.clone());
        }
        if let Some(s) = &self.select {
            f("select", join(s));
        }
        if !self.expand.is_empty() {
            f("expand", join(&self.expand));
        }
        if !self.orderby.is_empty() {
            f("orderby", join(&self.orderby));
        }
        if let Some(n) = self.top {
            f("top", n.to_string());
        }
        if let Some(n) = self.skip {
            f("skip", n.to_string());
        }
        if let Some(b) = self.count {
            f("count", b.to_string());
        }
        if let Some(c) = self.inlinecount {
            let v = match c {
                InlineCount::AllPages => "allpages",
                InlineCount::None => "none",
            };
            f("inlinecount", v.to_string());
        }
        if let Some(l) = self.levels {
            f("levels", l.to_string());
        }
        if let Some(s) = &self.skiptoken {
            f("skiptoken", s.clone());
        }
        if let Some(s) = &self.format {
            f("format", s.clone());
        }
    }
}

/// The nested form: `$select=A,B;$top=5` (not percent-encoded; the enclosing option is).
impl Display for QueryOptions {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut result = Ok(());
        self.for_each_option(|name, value| {
            if !first {
                result = result.and_then(|_| f.write_char(';'));
            }
            first = false;
            result = result.and_then(|_| write!(f, "${name}={value}"));
        });
        for (k, v) in &self.custom {
            if !first {
                f.write_char(';')?;
            }
            first = false;
            write!(f, "{k}={v}")?;
        }
        result
    }
}

impl Display for SelectItem {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            SelectItem::Star => f.write_char('*'),
            SelectItem::Path(path) => f.write_str(&path.join("/")),
            SelectItem::Nested { path, options } => write!(f, "{}({options})", path.join("/")),
            SelectItem::Operation { path, parameters } => {
                write!(f, "{}({})", path.join("/"), parameters.join(","))
            }
        }
    }
}

impl Display for ExpandItem {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path.join("/"))?;
        if self.is_ref {
            f.write_str("/$ref")?;
        } else if self.is_count {
            f.write_str("/$count")?;
        }
        if !self.options.is_empty() {
            write!(f, "({})", self.options)?;
        }
        Ok(())
    }
}

/// A `$select` value: items joined by commas.
pub fn print_select(items: &[SelectItem]) -> String {
    join(items)
}

/// A `$expand` value: items joined by commas.
pub fn print_expand(items: &[ExpandItem]) -> String {
    join(items)
}
