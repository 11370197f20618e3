//! OData `$filter` / `$orderby` compiled into parameterised SQLite SQL. Values are always bound as
//! parameters; only identifiers from the model (never from the request) are written into the SQL text.
//!
//! Null semantics follow OData 4.01 Part 2 (URL Conventions), section 5.1.1 "System Query Option
//! $filter", not plain SQL:
//! - `eq` / `ne` treat null as a value: "null is equal to itself, and only to itself"
//!   (5.1.1.1.1-2), compiled as `IS` / `IS NOT`, never null;
//! - `gt ge lt le`: "If one or both operands is null, the operator returns false" (5.1.1.1.3-6),
//!   compiled as `l > r AND l IS NOT NULL AND r IS NOT NULL`, never null;
//! - `in` is a membership test built on eq (5.1.1.1.11), so never null either;
//! - functions and arithmetic on a null return null (`contains(null,'a')` is null), as SQL does;
//! - `and` / `or` / `not`: "The null value is treated as unknown, so not null returns null"; false and
//!   null is false, true or null is true, other mixes with null are null (5.1.1.1.7-9). That is
//!   SQL's three-valued logic, so they compile to plain `AND` / `OR` / `NOT`;
//! - "only items where the expression evaluates to true are included"; false and null rows are
//!   omitted (5.1.1), which is what WHERE does.
//!
//! So `not contains(Name,'a')` leaves out rows whose Name is null (contains is null, not null is
//! null), while `not (Name eq 'a')` keeps them (eq is false, not false is true).

use crate::api_error::ApiError;
use crate::collation::Collation;
use crate::model::{ColType, Column, EntitySet, Service};
use epicor_kinetic_odata::{
    BinaryOp, Expr, Function, LambdaKind, Literal, MemberPath, OrderBy, PathRoot, UnaryOp,
};
use rusqlite::types::Value;

/// The order of rows that `$orderby` leaves tied. Ascending by key unless the server plays strict
/// paging (`strict_paging`), where ties may come either way (see [`super::paging`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ties {
    KeyAscending,
    KeyDescending,
}

/// Most values an `in (...)` list may hold.
pub const MAX_IN_ITEMS: usize = 1_000;
/// Most bound values one query may use; SQLite refuses more than 32,766, and a query needing this
/// many is a mistake or an attack.
pub const MAX_PARAMS: usize = 10_000;
/// Something rows can be selected from: an entity set's table or a BAQ's query.
#[derive(Debug, Clone)]
pub struct Relation {
    /// The FROM item: a quoted table name or a parenthesised sub-select.
    pub from: String,
    pub columns: &'static [Column],
    /// Columns that make a row unique, appended to every ORDER BY so paging is stable.
    pub key: &'static [&'static str],
    /// The entity set, when navigations are possible.
    pub set: Option<&'static EntitySet>,
    pub service: Option<&'static Service>,
    /// Values of the parameters `?1..?n` that `from` itself uses (a BAQ's parameters).
    pub bound: Vec<Value>,
    /// How its text compares (the database's).
    pub collation: Collation,
}

impl Relation {
    pub fn entity_set(
        set: &'static EntitySet,
        service: &'static Service,
        collation: Collation,
    ) -> Relation {
        Relation {
            from: format!("\"{}\"", set.table.name),
            columns: set.table.columns,
            key: set.table.key,
            set: Some(set),
            service: Some(service),
            bound: Vec::new(),
            collation,
        }
    }

    pub fn column(&self, name: &str) -> Option<&'static Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The name of the row type, for error messages.
    pub fn type_name(&self) -> String {
        match self.set {
            Some(s) => format!("Erp.Tablesets.{}", s.table.entity_type()),
            None => "the query".into(),
        }
    }
}

/// The SQL-level type of a compiled expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Text,
    Int,
    Real,
    Bool,
    /// A date column: TEXT `YYYY-MM-DD`.
    Date,
    /// A date-time value: TEXT `YYYY-MM-DDThh:mm:ss` in UTC.
    DateTime,
    Guid,
    Null,
}

impl Ty {
    fn of(c: ColType) -> Ty {
        match c {
            ColType::String { .. } => Ty::Text,
            ColType::Int32 | ColType::Int64 => Ty::Int,
            ColType::Decimal { .. } => Ty::Real,
            ColType::Boolean => Ty::Bool,
            ColType::Date => Ty::Date,
            ColType::Guid => Ty::Guid,
        }
    }
    fn numeric(self) -> bool {
        matches!(self, Ty::Int | Ty::Real | Ty::Null)
    }
    fn name(self) -> &'static str {
        match self {
            Ty::Text => "Edm.String",
            Ty::Int => "an integer",
            Ty::Real => "Edm.Decimal",
            Ty::Bool => "Edm.Boolean",
            Ty::Date => "a date",
            Ty::DateTime => "Edm.DateTimeOffset",
            Ty::Guid => "Edm.Guid",
            Ty::Null => "null",
        }
    }
}

struct Scope {
    variable: Option<String>,
    alias: String,
    relation: Relation,
}

/// A compiled SQL fragment with its parameters.
#[derive(Debug, Default)]
pub struct Sql {
    pub text: String,
    pub params: Vec<Value>,
}

/// Compiles expressions against one relation (and, inside lambdas, its navigations).
pub struct Compiler {
    scopes: Vec<Scope>,
    params: Vec<Value>,
    aliases: usize,
}

const MAX_DEPTH: usize = 64;

impl Compiler {
    /// A compiler whose outermost rows are `relation` under the SQL alias `alias`.
    pub fn new(relation: Relation, alias: &str) -> Compiler {
        Compiler {
            params: relation.bound.clone(),
            scopes: vec![Scope {
                variable: None,
                alias: alias.to_string(),
                relation,
            }],
            aliases: 0,
        }
    }

    /// Adds a bound parameter and returns its placeholder.
    pub fn param(&mut self, v: Value) -> String {
        self.params.push(v);
        format!("?{}", self.params.len())
    }

    /// Whether text compares as Epicor's SQL Server does (see [`crate::collation`]): then every
    /// text comparison names the collation, so that computed text (`tolower(Name)`, a BAQ's
    /// expressions) compares as columns do.
    fn ci(&self) -> bool {
        self.scopes[0].relation.collation == Collation::Ci
    }

    /// `sql` (text) with the collation its comparisons use.
    fn collated(&self, sql: String) -> String {
        if self.ci() {
            format!("{sql} COLLATE {}", crate::collation::CI_NAME)
        } else {
            sql
        }
    }

    /// Takes the parameters bound so far.
    pub fn into_params(self) -> Vec<Value> {
        self.params
    }

    /// A boolean `$filter` as a WHERE condition.
    pub fn filter(&mut self, e: &Expr) -> Result<String, ApiError> {
        let (sql, ty) = self.expr(e, 0)?;
        if self.params.len() > MAX_PARAMS {
            return Err(ApiError::odata(format!(
                "the filter has more than {MAX_PARAMS} values; this server accepts at most \
                 {MAX_PARAMS} per query"
            )));
        }
        match ty {
            Ty::Bool | Ty::Null => Ok(sql),
            other => Err(ApiError::odata(format!(
                "$filter must be a boolean expression, but `{e}` is {}",
                other.name()
            ))),
        }
    }

    /// `$orderby` items as an ORDER BY list, with the relation's key appended (in the direction
    /// `ties` says) for a stable order.
    pub fn order_by(&mut self, items: &[OrderBy], ties: Ties) -> Result<String, ApiError> {
        let mut parts = Vec::new();
        for item in items {
            let (mut sql, ty) = self.expr(&item.expr, 0)?;
            if ty == Ty::Text {
                sql = self.collated(sql);
            }
            parts.push(format!(
                "{sql} {}",
                if item.descending { "DESC" } else { "ASC" }
            ));
        }
        let alias = self.scopes[0].alias.clone();
        let direction = match ties {
            Ties::KeyAscending => "ASC",
            Ties::KeyDescending => "DESC",
        };
        for k in self.scopes[0].relation.key {
            parts.push(format!("{alias}.\"{k}\" {direction}"));
        }
        Ok(parts.join(", "))
    }

    fn expr(&mut self, e: &Expr, depth: usize) -> Result<(String, Ty), ApiError> {
        if depth > MAX_DEPTH {
            return Err(ApiError::odata(format!(
                "the expression is nested too deeply: this server compiles at most {MAX_DEPTH} \
                 levels of operators and functions (chains of and / or count as one)"
            )));
        }
        let d = depth + 1;
        match e {
            Expr::Literal(l) => self.literal(l),
            Expr::Member(path) => self.member(path),
            Expr::Unary {
                op: UnaryOp::Not,
                operand,
            } => {
                let (s, t) = self.expr(operand, d)?;
                expect(t, Ty::Bool, "not", operand)?;
                // "not null returns null" (see the module doc): SQL's NOT does exactly that.
                Ok((format!("(NOT {s})"), Ty::Bool))
            }
            Expr::Unary {
                op: UnaryOp::Negate,
                operand,
            } => {
                let (s, t) = self.expr(operand, d)?;
                if !t.numeric() {
                    return Err(type_error("-", operand, t));
                }
                Ok((format!("(-{s})"), t))
            }
            Expr::Binary { op, left, right } => self.binary(*op, left, right, d),
            Expr::In { operand, list } => {
                if list.len() > MAX_IN_ITEMS {
                    return Err(ApiError::odata(format!(
                        "an `in` list has {} values; this server accepts at most {MAX_IN_ITEMS}",
                        list.len()
                    )));
                }
                let (mut s, t) = self.expr(operand, d)?;
                if t == Ty::Text {
                    // IN compares with the collation of its left operand.
                    s = self.collated(s);
                }
                let mut items = Vec::with_capacity(list.len());
                let mut has_null = false;
                for item in list {
                    let (is, it) = self.coerced(item, t, d)?;
                    comparable(t, it, operand, item)?;
                    if it == Ty::Null {
                        has_null = true;
                    } else {
                        items.push(is);
                    }
                }
                // `x in (a, b)` means `x eq a or x eq b`, and eq treats null as a value: never null.
                // The operand is written once (a compound one repeated per nesting level would
                // double the SQL per level): with null in the list, `x IN (...)` is null exactly
                // when x is null (the other items are not null), which then counts as a match.
                let sql = match (items.is_empty(), has_null) {
                    (true, false) => "0".to_string(),
                    (true, true) => format!("{s} IS NULL"),
                    (false, false) => format!("coalesce({s} IN ({}), 0)", items.join(", ")),
                    (false, true) => format!("({s} IN ({})) IS NOT 0", items.join(", ")),
                };
                Ok((format!("({sql})"), Ty::Bool))
            }
            Expr::Call { function, args } => self.call(function, args, d),
            Expr::Lambda {
                collection,
                kind,
                variable,
                predicate,
            } => self.lambda(
                collection,
                *kind,
                variable.as_deref(),
                predicate.as_deref(),
                d,
            ),
            other => Err(ApiError::odata(format!(
                "this server does not support the expression `{other}` in $filter or $orderby"
            ))),
        }
    }

    /// Compiles `e`; a literal is converted to `target`'s representation (a date literal to compare
    /// with a date column, a GUID literal in lower case, ...).
    fn coerced(&mut self, e: &Expr, target: Ty, depth: usize) -> Result<(String, Ty), ApiError> {
        if let Expr::Literal(l) = e {
            match (l, target) {
                (Literal::Date(d), Ty::Date) => {
                    return Ok((self.param(Value::Text(d.clone())), Ty::Date))
                }
                (Literal::DateTimeOffset(dt), Ty::Date) => {
                    let utc = utc_text(dt)?;
                    return Ok((self.param(Value::Text(utc)), Ty::DateTime));
                }
                _ => {}
            }
        }
        self.expr(e, depth)
    }

    fn binary(
        &mut self,
        op: BinaryOp,
        left: &Expr,
        right: &Expr,
        d: usize,
    ) -> Result<(String, Ty), ApiError> {
        match op {
            BinaryOp::And | BinaryOp::Or => {
                // A chain `a or b or c ...` is a left-deep tree as deep as it is long: walk it with a
                // loop, and write balanced SQL, so neither this compiler nor SQLite (whose parser
                // allows 1,000 levels) recurses once per term.
                let mut terms = Vec::new();
                let mut stack = vec![right, left];
                while let Some(e) = stack.pop() {
                    match e {
                        Expr::Binary {
                            op: o,
                            left: l,
                            right: r,
                        } if *o == op => {
                            stack.push(r);
                            stack.push(l);
                        }
                        _ => terms.push(e),
                    }
                }
                let mut parts = Vec::with_capacity(terms.len());
                for t in terms {
                    let (sql, ty) = self.expr(t, d)?;
                    expect(ty, Ty::Bool, op.keyword(), t)?;
                    parts.push(sql);
                }
                let kw = if op == BinaryOp::And { " AND " } else { " OR " };
                Ok((balanced(&parts, kw), Ty::Bool))
            }
            BinaryOp::Eq
            | BinaryOp::Ne
            | BinaryOp::Gt
            | BinaryOp::Ge
            | BinaryOp::Lt
            | BinaryOp::Le => {
                // Compile the non-literal side first so a literal can take its type.
                let (mut l, mut lt, mut r, mut rt);
                if matches!(left, Expr::Literal(_)) && !matches!(right, Expr::Literal(_)) {
                    (r, rt) = self.expr(right, d)?;
                    (l, lt) = self.coerced(left, rt, d)?;
                } else {
                    (l, lt) = self.expr(left, d)?;
                    (r, rt) = self.coerced(right, lt, d)?;
                }
                comparable(lt, rt, left, right)?;
                // A date column against a date-time value compares as date-time text.
                if lt == Ty::Date && rt == Ty::DateTime {
                    l = format!("({l} || 'T00:00:00')");
                    lt = Ty::DateTime;
                }
                if rt == Ty::Date && lt == Ty::DateTime {
                    r = format!("({r} || 'T00:00:00')");
                    rt = Ty::DateTime;
                }
                // An explicit collation on either side decides a comparison of text.
                let rc = if lt == Ty::Text && rt == Ty::Text {
                    self.collated(r.clone())
                } else {
                    r.clone()
                };
                let sql_op = match op {
                    BinaryOp::Eq => "IS",
                    BinaryOp::Ne => "IS NOT",
                    BinaryOp::Gt => ">",
                    BinaryOp::Ge => ">=",
                    BinaryOp::Lt => "<",
                    _ => "<=",
                };
                let sql = if matches!(op, BinaryOp::Eq | BinaryOp::Ne) {
                    // Null is a value to eq / ne (module doc).
                    format!("({l} {sql_op} {rc})")
                } else if is_atom(&l) && is_atom(&r) {
                    // An ordering with a null operand is false, not null (module doc). Written as
                    // ANDed terms rather than coalesce() so that SQLite still uses an index on `l`.
                    format!("({l} {sql_op} {rc} AND {l} IS NOT NULL AND {r} IS NOT NULL)")
                } else {
                    // Not an index seek anyway; repeating a compound operand would double the SQL
                    // per nesting level (`((a gt b) gt true) gt true ...` would grow as 2^depth).
                    format!("coalesce({l} {sql_op} {rc}, 0)")
                };
                Ok((sql, Ty::Bool))
            }
            BinaryOp::Add
            | BinaryOp::Sub
            | BinaryOp::Mul
            | BinaryOp::Div
            | BinaryOp::DivBy
            | BinaryOp::Mod => {
                let (l, lt) = self.expr(left, d)?;
                let (r, rt) = self.expr(right, d)?;
                if !lt.numeric() {
                    return Err(type_error(op.keyword(), left, lt));
                }
                if !rt.numeric() {
                    return Err(type_error(op.keyword(), right, rt));
                }
                let ty = if lt == Ty::Real || rt == Ty::Real || op == BinaryOp::DivBy {
                    Ty::Real
                } else if lt == Ty::Null || rt == Ty::Null {
                    Ty::Null
                } else {
                    Ty::Int
                };
                let sql = match op {
                    BinaryOp::Add => format!("({l} + {r})"),
                    BinaryOp::Sub => format!("({l} - {r})"),
                    BinaryOp::Mul => format!("({l} * {r})"),
                    BinaryOp::Div => format!("({l} / {r})"),
                    BinaryOp::DivBy => format!("(CAST({l} AS REAL) / {r})"),
                    // SQLite's % truncates REAL operands to integers; OData's mod keeps the fraction.
                    _ if ty == Ty::Real => format!("odata_mod({l}, {r})"),
                    _ => format!("({l} % {r})"),
                };
                Ok((sql, ty))
            }
            other => Err(ApiError::odata(format!(
                "this server does not support the `{}` operator",
                other.keyword()
            ))),
        }
    }

    fn literal(&mut self, l: &Literal) -> Result<(String, Ty), ApiError> {
        Ok(match l {
            Literal::Null => ("NULL".into(), Ty::Null),
            Literal::Boolean(b) => (self.param(Value::Integer(i64::from(*b))), Ty::Bool),
            Literal::Int(i) => (self.param(Value::Integer(*i)), Ty::Int),
            Literal::Decimal(text) => {
                let v: f64 = text
                    .parse()
                    .map_err(|_| ApiError::odata(format!("invalid decimal literal {text}")))?;
                (self.param(Value::Real(v)), Ty::Real)
            }
            Literal::Double(v) if v.is_finite() => (self.param(Value::Real(*v)), Ty::Real),
            Literal::Double(v) => {
                return Err(ApiError::odata(format!(
                    "the literal {v} cannot be compared with stored values"
                )))
            }
            Literal::String(s) => (self.param(Value::Text(s.clone())), Ty::Text),
            Literal::Date(d) => (self.param(Value::Text(d.clone())), Ty::Date),
            Literal::DateTimeOffset(dt) => (self.param(Value::Text(utc_text(dt)?)), Ty::DateTime),
            Literal::Guid(g) => (self.param(Value::Text(g.to_lowercase())), Ty::Guid),
            other => {
                return Err(ApiError::odata(format!(
                    "this server does not support the literal {}",
                    Expr::Literal(other.clone())
                )))
            }
        })
    }

    fn scope_for(&self, root: &PathRoot) -> Result<usize, ApiError> {
        match root {
            PathRoot::Implicit | PathRoot::This => Ok(self.scopes.len() - 1),
            PathRoot::It => Ok(0),
            PathRoot::Variable(v) => self
                .scopes
                .iter()
                .rposition(|s| s.variable.as_deref() == Some(v.as_str()))
                .ok_or_else(|| ApiError::odata(format!("unknown lambda variable `{v}`"))),
        }
    }

    fn member(&mut self, path: &MemberPath) -> Result<(String, Ty), ApiError> {
        let idx = self.scope_for(&path.root)?;
        let scope = &self.scopes[idx];
        match path.segments.as_slice() {
            [name] => match scope.relation.column(name) {
                Some(c) => Ok((format!("{}.\"{}\"", scope.alias, c.name), Ty::of(c.ty))),
                None => {
                    if scope
                        .relation
                        .set
                        .is_some_and(|s| s.navigations.iter().any(|n| n.name == name))
                    {
                        Err(ApiError::odata(format!(
                            "`{name}` is a collection navigation; use it with any() or all(), e.g. {name}/any(x: ...)"
                        )))
                    } else {
                        Err(ApiError::odata(format!(
                            "Could not find a property named '{name}' on type '{}'",
                            scope.relation.type_name()
                        )))
                    }
                }
            },
            [] => Err(ApiError::odata(
                "a bare range variable or $it cannot be used as a value here; name a property, e.g. $it/Name",
            )),
            segments => Err(ApiError::odata(format!(
                "property path `{}` is not supported: properties of {} are primitive",
                segments.join("/"),
                scope.relation.type_name()
            ))),
        }
    }

    fn lambda(
        &mut self,
        collection: &MemberPath,
        kind: LambdaKind,
        variable: Option<&str>,
        predicate: Option<&Expr>,
        d: usize,
    ) -> Result<(String, Ty), ApiError> {
        let idx = self.scope_for(&collection.root)?;
        let parent_alias = self.scopes[idx].alias.clone();
        let parent = self.scopes[idx].relation.clone();
        let (set, service) = match (parent.set, parent.service) {
            (Some(s), Some(svc)) => (s, svc),
            _ => {
                return Err(ApiError::odata(
                    "any()/all() need a navigation property; this query has none",
                ))
            }
        };
        let [nav_name] = collection.segments.as_slice() else {
            return Err(ApiError::odata(format!(
                "any()/all() apply to one navigation property of {}, not to `{}`",
                parent.type_name(),
                collection.segments.join("/")
            )));
        };
        let nav = set
            .navigations
            .iter()
            .find(|n| n.name == nav_name)
            .ok_or_else(|| {
                ApiError::odata(format!(
                    "Could not find a navigation property named '{nav_name}' on type '{}'",
                    parent.type_name()
                ))
            })?;
        let target = service
            .entity_set(nav.target)
            .ok_or_else(|| ApiError::internal("navigation target missing from the model"))?;
        self.aliases += 1;
        let alias = format!("n{}", self.aliases);
        let join: Vec<String> = nav
            .on
            .iter()
            .map(|(p, c)| format!("{alias}.\"{c}\" = {parent_alias}.\"{p}\""))
            .collect();
        let mut cond = join.join(" AND ");
        self.scopes.push(Scope {
            variable: variable.map(str::to_string),
            alias: alias.clone(),
            relation: Relation::entity_set(target, service, parent.collation),
        });
        let pred = match predicate {
            Some(p) => {
                let r = self.expr(p, d);
                let r = r.and_then(|(s, t)| expect(t, Ty::Bool, "any()/all()", p).map(|_| s));
                Some(r)
            }
            None => None,
        };
        self.scopes.pop();
        let pred = pred.transpose()?;
        let from = format!("\"{}\" AS {alias}", target.table.name);
        let sql = match (kind, pred) {
            (LambdaKind::Any, None) => format!("EXISTS (SELECT 1 FROM {from} WHERE {cond})"),
            (LambdaKind::Any, Some(p)) => {
                format!("EXISTS (SELECT 1 FROM {from} WHERE {cond} AND {p})")
            }
            (LambdaKind::All, Some(p)) => {
                cond.push_str(&format!(" AND NOT coalesce({p}, 0)"));
                format!("(NOT EXISTS (SELECT 1 FROM {from} WHERE {cond}))")
            }
            (LambdaKind::All, None) => {
                return Err(ApiError::odata(
                    "all() needs a predicate, e.g. all(x: x/Open)",
                ))
            }
        };
        Ok((sql, Ty::Bool))
    }

    fn call(&mut self, f: &Function, args: &[Expr], d: usize) -> Result<(String, Ty), ApiError> {
        let name = f.name().to_string();
        let arity = |n: usize| -> Result<(), ApiError> {
            if args.len() == n {
                Ok(())
            } else {
                Err(ApiError::odata(format!(
                    "{name}() takes {n} argument{}, not {}",
                    if n == 1 { "" } else { "s" },
                    args.len()
                )))
            }
        };
        let arg = |c: &mut Compiler, i: usize, want: Ty| -> Result<String, ApiError> {
            let (s, t) = c.expr(&args[i], d)?;
            let ok = t == want
                || t == Ty::Null
                || (want == Ty::Real && t.numeric())
                || (want == Ty::Date && t == Ty::DateTime);
            if !ok {
                return Err(ApiError::odata(format!(
                    "{name}() needs {} as argument {}, but `{}` is {}",
                    want.name(),
                    i + 1,
                    args[i],
                    t.name()
                )));
            }
            Ok(s)
        };
        Ok(match f {
            Function::Contains | Function::StartsWith | Function::EndsWith => {
                arity(2)?;
                let a = arg(self, 0, Ty::Text)?;
                let b = arg(self, 1, Ty::Text)?;
                let sql = match (f, self.ci()) {
                    // SQL Server's LIKE under a case-insensitive collation.
                    (Function::Contains, true) => format!("odata_ci_contains({a}, {b})"),
                    (Function::StartsWith, true) => format!("odata_ci_startswith({a}, {b})"),
                    (_, true) => format!("odata_ci_endswith({a}, {b})"),
                    (Function::Contains, false) => format!("(instr({a}, {b}) > 0)"),
                    (Function::StartsWith, false) => {
                        format!("(substr({a}, 1, length({b})) = {b})")
                    }
                    (_, false) => format!("(substr({a}, length({a}) - length({b}) + 1) = {b})"),
                };
                (sql, Ty::Bool)
            }
            Function::Length => {
                arity(1)?;
                let a = arg(self, 0, Ty::Text)?;
                if self.ci() {
                    // SQL Server's LEN leaves trailing spaces out.
                    (format!("length(rtrim({a}, ' '))"), Ty::Int)
                } else {
                    (format!("length({a})"), Ty::Int)
                }
            }
            Function::IndexOf => {
                arity(2)?;
                let a = arg(self, 0, Ty::Text)?;
                let b = arg(self, 1, Ty::Text)?;
                if self.ci() {
                    (format!("odata_ci_indexof({a}, {b})"), Ty::Int)
                } else {
                    (format!("(instr({a}, {b}) - 1)"), Ty::Int)
                }
            }
            Function::Substring => {
                if args.len() != 2 && args.len() != 3 {
                    return Err(ApiError::odata("substring() takes 2 or 3 arguments"));
                }
                let a = arg(self, 0, Ty::Text)?;
                let i = arg(self, 1, Ty::Int)?;
                if args.len() == 3 {
                    let n = arg(self, 2, Ty::Int)?;
                    (
                        format!("substr({a}, max({i}, 0) + 1, max({n}, 0))"),
                        Ty::Text,
                    )
                } else {
                    (format!("substr({a}, max({i}, 0) + 1)"), Ty::Text)
                }
            }
            Function::ToLower | Function::ToUpper | Function::Trim => {
                arity(1)?;
                let a = arg(self, 0, Ty::Text)?;
                let sqlf = match f {
                    Function::ToLower => "odata_lower",
                    Function::ToUpper => "odata_upper",
                    _ => "odata_trim",
                };
                (format!("{sqlf}({a})"), Ty::Text)
            }
            Function::Concat => {
                arity(2)?;
                let a = arg(self, 0, Ty::Text)?;
                let b = arg(self, 1, Ty::Text)?;
                (format!("({a} || {b})"), Ty::Text)
            }
            Function::Year | Function::Month | Function::Day => {
                arity(1)?;
                let a = arg(self, 0, Ty::Date)?;
                let (start, len) = match f {
                    Function::Year => (1, 4),
                    Function::Month => (6, 2),
                    _ => (9, 2),
                };
                (
                    format!("CAST(substr({a}, {start}, {len}) AS INTEGER)"),
                    Ty::Int,
                )
            }
            Function::Hour | Function::Minute | Function::Second => {
                arity(1)?;
                let a = arg(self, 0, Ty::Date)?;
                let start = match f {
                    Function::Hour => 12,
                    Function::Minute => 15,
                    _ => 18,
                };
                // Date columns have no time part: their hour, minute and second are 0.
                (format!("coalesce(CAST(nullif(substr({a}, {start}, 2), '') AS INTEGER), CASE WHEN {a} IS NULL THEN NULL ELSE 0 END)"), Ty::Int)
            }
            Function::Date => {
                arity(1)?;
                (
                    format!("substr({}, 1, 10)", arg(self, 0, Ty::Date)?),
                    Ty::Date,
                )
            }
            Function::Round | Function::Floor | Function::Ceiling => {
                arity(1)?;
                let a = arg(self, 0, Ty::Real)?;
                let sqlf = match f {
                    Function::Round => "round",
                    Function::Floor => "odata_floor",
                    _ => "odata_ceiling",
                };
                (format!("{sqlf}({a})"), Ty::Real)
            }
            Function::Now => {
                arity(0)?;
                let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string();
                (self.param(Value::Text(now)), Ty::DateTime)
            }
            other => {
                return Err(ApiError::odata(format!(
                    "this server does not support the function {}()",
                    other.name()
                )))
            }
        })
    }
}

/// Whether compiled SQL is a single column reference (`t0."Col"`) or bound value (`?3`), cheap
/// and safe to repeat.
fn is_atom(sql: &str) -> bool {
    let param = sql
        .strip_prefix('?')
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    let column = sql.split_once(".\"").is_some_and(|(alias, rest)| {
        alias
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && rest
                .strip_suffix('"')
                .is_some_and(|name| name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
    });
    param || column
}

/// `parts` joined by `kw` with parentheses nesting only log2(n) deep.
fn balanced(parts: &[String], kw: &str) -> String {
    match parts {
        [one] => one.clone(),
        _ => {
            let (a, b) = parts.split_at(parts.len() / 2);
            format!("({}{kw}{})", balanced(a, kw), balanced(b, kw))
        }
    }
}

fn expect(t: Ty, want: Ty, what: &str, e: &Expr) -> Result<(), ApiError> {
    if t == want || t == Ty::Null {
        Ok(())
    } else {
        Err(type_error(what, e, t))
    }
}

fn type_error(what: &str, e: &Expr, t: Ty) -> ApiError {
    ApiError::odata(format!(
        "`{e}` is {} and cannot be used with {what}",
        t.name()
    ))
}

fn comparable(a: Ty, b: Ty, ea: &Expr, eb: &Expr) -> Result<(), ApiError> {
    let ok = a == b
        || a == Ty::Null
        || b == Ty::Null
        || (a.numeric() && b.numeric())
        || matches!((a, b), (Ty::Date, Ty::DateTime) | (Ty::DateTime, Ty::Date));
    if ok {
        Ok(())
    } else {
        Err(ApiError::odata(format!(
            "cannot compare `{ea}` ({}) with `{eb}` ({})",
            a.name(),
            b.name()
        )))
    }
}

/// A date-time-offset literal as UTC text `YYYY-MM-DDThh:mm:ss[.fff]`, comparable with stored text.
fn utc_text(dt: &str) -> Result<String, ApiError> {
    let parsed = chrono::DateTime::parse_from_rfc3339(dt)
        .or_else(|_| {
            // OData allows omitting seconds: 2012-09-03T13:52Z.
            let (date_time, zone) = split_zone(dt);
            chrono::DateTime::parse_from_rfc3339(&format!("{date_time}:00{zone}"))
        })
        .map_err(|_| {
            ApiError::odata(format!(
                "the date-time {dt} is out of the range this server stores"
            ))
        })?;
    let utc = parsed.with_timezone(&chrono::Utc);
    let mut s = utc.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = utc.timestamp_subsec_nanos();
    if nanos != 0 {
        s.push_str(format!(".{nanos:09}").trim_end_matches('0'));
    }
    Ok(s)
}

fn split_zone(dt: &str) -> (&str, &str) {
    if let Some(stripped) = dt.strip_suffix('Z') {
        return (stripped, "Z");
    }
    match dt.rfind(['+', '-']) {
        Some(i) if i > 10 => (&dt[..i], &dt[i..]),
        _ => (dt, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model;

    fn compile(filter: &str) -> Result<(String, Vec<Value>), ApiError> {
        let svc = model::service("Erp.BO.CustomerSvc").unwrap();
        let rel = Relation::entity_set(svc.primary(), svc, Collation::Binary);
        let mut c = Compiler::new(rel, "t");
        let e = epicor_kinetic_odata::parse_filter(filter)
            .map_err(|e| ApiError::odata(e.to_string()))?;
        let sql = c.filter(&e)?;
        Ok((sql, c.into_params()))
    }

    #[test]
    fn values_are_parameters_never_sql_text() {
        let (sql, params) = compile("Name eq 'x''); DROP TABLE Customer; --'").unwrap();
        assert_eq!(sql, "(t.\"Name\" IS ?1)");
        assert_eq!(
            params,
            vec![Value::Text("x'); DROP TABLE Customer; --".into())]
        );
    }

    #[test]
    fn type_errors_and_unknown_names_are_clear() {
        let e = compile("CustNum eq 'abc'").unwrap_err();
        assert!(e.message.contains("cannot compare"), "{}", e.message);
        let e = compile("Nmae eq 'x'").unwrap_err();
        assert!(
            e.message.contains("Could not find a property named 'Nmae'"),
            "{}",
            e.message
        );
        let e = compile("ShipTos eq 1").unwrap_err();
        assert!(e.message.contains("any()"), "{}", e.message);
        let e = compile("Name").unwrap_err();
        assert!(e.message.contains("boolean"), "{}", e.message);
    }

    #[test]
    fn lambdas_become_exists() {
        let (sql, _) = compile("ShipTos/any(s: s/State eq 'MN')").unwrap();
        assert!(
            sql.starts_with("EXISTS (SELECT 1 FROM \"ShipTo\" AS n1 WHERE"),
            "{sql}"
        );
        let (sql, _) = compile("ShipTos/all(s: s/State eq 'MN')").unwrap();
        assert!(sql.contains("NOT EXISTS"), "{sql}");
    }

    #[test]
    fn date_time_literals_normalise_to_utc() {
        assert_eq!(
            utc_text("2025-01-31T10:00:00+02:00").unwrap(),
            "2025-01-31T08:00:00"
        );
        assert_eq!(
            utc_text("2025-01-31T10:00Z").unwrap(),
            "2025-01-31T10:00:00"
        );
        assert_eq!(
            utc_text("2025-01-31T10:00:00.5Z").unwrap(),
            "2025-01-31T10:00:00.5"
        );
    }
}
