//! Joins that read only the rows they need. DataFusion's hash join, once its build side is read,
//! publishes a dynamic filter on its probe side's keys: the keys themselves when there are few
//! (`CustNum IN (...)`, or `struct(Company, CustNum) IN (...)` for a key of several columns; at
//! most `JoinPushdownKeys` distinct keys), and their bounds (`CustNum >= min AND CustNum <= max`).
//! An OData scan on the probe side takes that filter ([`crate::table::ODataScanExec`]), waits
//! for it before its first request, and asks the server only for rows that can match:
//!
//! - the filter is read as a superset of the rows the join keeps ([`superset_of`]): a part it
//!   cannot send is dropped (a conjunction still narrows), never guessed; the join checks every
//!   row it gets, so a superset is always right and a subset never happens;
//! - it reaches the server through the one translator ([`crate::pushdown::translate`]);
//! - the keys go out as `Key eq v1 or Key eq v2 ...` (OData 4.01's `in` is not in OData v3,
//!   Epicor's v1 API), split into requests whose query string stays within [`MAX_QUERY`] bytes
//!   ([`chunks`]): Epicor's servers run on IIS, whose request filtering refuses a query string
//!   over 2,048 bytes by default (`maxQueryString`).

use crate::pushdown::{self, Columns};
use datafusion::arrow::datatypes::Schema;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator};
use datafusion::physical_expr::expressions::{
    BinaryExpr as PhysicalBinary, CaseExpr, Column as PhysicalColumn, DynamicFilterPhysicalExpr,
    InListExpr, IsNullExpr, Literal,
};
use datafusion::physical_expr::{PhysicalExpr, ScalarFunctionExpr};
use datafusion::prelude::{col, lit};
use epicor_kinetic_odata::Expr as OData;
use std::sync::Arc;
use std::time::Duration;

/// The longest query string a request of a join-filtered scan may carry, in bytes (IIS's
/// default `maxQueryString` is 2,048; the rest is margin for what a proxy adds).
pub const MAX_QUERY: usize = 2_000;

/// Room left in a first request's query string for what later pages add (`&$skip=` and up to
/// 16 digits).
pub const PAGE_ROOM: usize = 24;

/// How long a scan waits for its join's keys before it reads without them (a superset: the
/// join still checks every row). The keys come once the join's build side is read, which a slow
/// server can take a while to send.
const WAIT: Duration = Duration::from_secs(600);

/// The dynamic filters among `filters` (what a scan may take from a join above it).
pub fn dynamic(filters: &[Arc<dyn PhysicalExpr>]) -> Vec<Arc<dyn PhysicalExpr>> {
    filters
        .iter()
        .filter(|f| f.downcast_ref::<DynamicFilterPhysicalExpr>().is_some())
        .cloned()
        .collect()
}

/// What a join's filter says of the rows a scan must read: conditions every such row meets
/// (`fixed`, e.g. the keys' bounds), and, when the keys themselves are known, one member per
/// key (`CustNum = 7`, or `Company = 'A' AND CustNum = 7` for a key of two columns): a row must
/// match one of them. Kept apart rather than as one `or` tree: a thousand keys would be a tree
/// a thousand deep.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Keys {
    pub fixed: Vec<Expr>,
    pub members: Option<Vec<Expr>>,
}

/// What a filter allows.
#[derive(Debug, Clone, PartialEq)]
pub enum Allowed {
    /// No row (the join's build side is empty).
    Nothing,
    /// The rows that meet [`Keys`].
    Rows(Keys),
}

/// At most this many members are kept in an `or` of two conditions that are not both key
/// lists (beyond, the `or` is not sent: a superset).
const SMALL_OR: usize = 64;

/// Waits until each of `filters` is final (the join's build side is read) or [`WAIT`] passes,
/// and answers what they allow now over `schema`'s columns (`None`: nothing can be sent).
pub async fn settled(filters: &[Arc<dyn PhysicalExpr>], schema: &Schema) -> Option<Allowed> {
    let mut all: Option<Allowed> = None;
    for filter in filters {
        let Some(dynamic) = filter.downcast_ref::<DynamicFilterPhysicalExpr>() else {
            continue;
        };
        if tokio::time::timeout(WAIT, dynamic.wait_complete())
            .await
            .is_err()
        {
            tracing::debug!("a join's keys did not come in time; the scan reads without them");
            continue;
        }
        let Some(now) = dynamic
            .current()
            .ok()
            .and_then(|now| superset_of(&now, schema))
        else {
            continue;
        };
        all = Some(match all {
            None => now,
            Some(before) => both(before, now),
        });
    }
    all
}

/// Rows both allow (a superset of).
fn both(a: Allowed, b: Allowed) -> Allowed {
    match (a, b) {
        (Allowed::Nothing, _) | (_, Allowed::Nothing) => Allowed::Nothing,
        (Allowed::Rows(mut a), Allowed::Rows(b)) => {
            a.fixed.extend(b.fixed);
            // Two key lists: one is kept (still a superset), the other's rows checked by the join.
            if a.members.is_none() {
                a.members = b.members;
            }
            Allowed::Rows(a)
        }
    }
}

/// Rows either allows (a superset of), or `None` when that cannot be said briefly.
fn either(a: Allowed, b: Allowed) -> Option<Allowed> {
    match (a, b) {
        (Allowed::Nothing, other) | (other, Allowed::Nothing) => Some(other),
        // Two key lists and nothing else: one list.
        (
            Allowed::Rows(Keys {
                fixed: fa,
                members: Some(mut x),
            }),
            Allowed::Rows(Keys {
                fixed: fb,
                members: Some(y),
            }),
        ) if fa.is_empty() && fb.is_empty() => {
            x.extend(y);
            Some(Allowed::Rows(Keys {
                fixed: Vec::new(),
                members: Some(x),
            }))
        }
        (Allowed::Rows(a), Allowed::Rows(b)) => {
            let size = |k: &Keys| k.fixed.len() + k.members.as_ref().map_or(0, Vec::len);
            if size(&a) + size(&b) > SMALL_OR {
                return None;
            }
            Some(Allowed::Rows(Keys {
                fixed: vec![a.into_expr()?.or(b.into_expr()?)],
                members: None,
            }))
        }
    }
}

impl Keys {
    /// As one expression (`None` when it allows every row).
    fn into_expr(self) -> Option<Expr> {
        let members = self.members.map(any_of);
        self.fixed.into_iter().chain(members).reduce(Expr::and)
    }
}

/// What `expr` allows, as a superset: what cannot be read from it is left out (a conjunct
/// dropped still narrows; an `or` needs both sides), or `None` when nothing can. Column
/// references are by position in `schema`.
pub fn superset_of(expr: &Arc<dyn PhysicalExpr>, schema: &Schema) -> Option<Allowed> {
    let fixed = |e: Expr| {
        Some(Allowed::Rows(Keys {
            fixed: vec![e],
            members: None,
        }))
    };
    if let Some(dynamic) = expr.downcast_ref::<DynamicFilterPhysicalExpr>() {
        return superset_of(&dynamic.current().ok()?, schema);
    }
    if let Some(literal) = expr.downcast_ref::<Literal>() {
        return match literal.value() {
            ScalarValue::Boolean(Some(false)) => Some(Allowed::Nothing),
            _ => None,
        };
    }
    if let Some(binary) = expr.downcast_ref::<PhysicalBinary>() {
        let (l, r) = (binary.left(), binary.right());
        return match binary.op() {
            Operator::And => match (superset_of(l, schema), superset_of(r, schema)) {
                (Some(a), Some(b)) => Some(both(a, b)),
                (one, None) | (None, one) => one,
            },
            Operator::Or => either(superset_of(l, schema)?, superset_of(r, schema)?),
            op @ (Operator::Eq | Operator::Lt | Operator::LtEq | Operator::Gt | Operator::GtEq) => {
                fixed(Expr::BinaryExpr(BinaryExpr::new(
                    Box::new(value_of(l, schema)?),
                    *op,
                    Box::new(value_of(r, schema)?),
                )))
            }
            _ => None,
        };
    }
    if let Some(list) = expr.downcast_ref::<InListExpr>() {
        if list.negated() {
            return None;
        }
        let members = members_of(list, schema)?;
        if members.is_empty() {
            return Some(Allowed::Nothing);
        }
        return Some(Allowed::Rows(Keys {
            fixed: Vec::new(),
            members: Some(members),
        }));
    }
    if let Some(is_null) = expr.downcast_ref::<IsNullExpr>() {
        return fixed(value_of(is_null.arg(), schema)?.is_null());
    }
    if let Some(case) = expr.downcast_ref::<CaseExpr>() {
        // Rows are routed to one branch each (by their key's hash or range): all branches
        // together, whichever a row takes, are a superset. Each branch's keys are its
        // partition's; every branch's keys together are one list, split into requests as one.
        let mut branches: Vec<&Arc<dyn PhysicalExpr>> =
            case.when_then_expr().iter().map(|(_, then)| then).collect();
        if let Some(otherwise) = case.else_expr() {
            branches.push(otherwise);
        }
        let mut all = Allowed::Nothing;
        for branch in branches {
            let mut this = superset_of(branch, schema)?;
            // A branch's bounds differ from the next one's: with the keys known, the keys
            // alone say it (the bounds hold for them anyway).
            if let Allowed::Rows(k) = &mut this {
                if k.members.is_some() {
                    k.fixed.clear();
                }
            }
            all = either(all, this)?;
        }
        return Some(all);
    }
    None
}

/// A column or a literal.
fn value_of(expr: &Arc<dyn PhysicalExpr>, schema: &Schema) -> Option<Expr> {
    if let Some(c) = expr.downcast_ref::<PhysicalColumn>() {
        return Some(col(datafusion::common::Column::from_name(
            schema.fields().get(c.index())?.name(),
        )));
    }
    if let Some(l) = expr.downcast_ref::<Literal>() {
        return Some(Expr::Literal(l.value().clone(), None));
    }
    None
}

/// The members of `key IN (...)` as equalities, one per value (for a key of several columns,
/// `struct(a, b) IN (...)`, one conjunction per value).
fn members_of(list: &InListExpr, schema: &Schema) -> Option<Vec<Expr>> {
    let keys: Vec<Expr> = match list.expr().downcast_ref::<ScalarFunctionExpr>() {
        Some(f) if f.name() == "struct" => f
            .args()
            .iter()
            .map(|a| value_of(a, schema))
            .collect::<Option<_>>()?,
        _ => vec![value_of(list.expr(), schema)?],
    };
    let mut members = Vec::with_capacity(list.list().len());
    for item in list.list() {
        let values: Vec<ScalarValue> = match item.downcast_ref::<Literal>()?.value() {
            ScalarValue::Struct(s) if keys.len() > 1 => (0..s.num_columns())
                .map(|i| ScalarValue::try_from_array(s.column(i), 0).ok())
                .collect::<Option<_>>()?,
            v if keys.len() == 1 => vec![v.clone()],
            _ => return None,
        };
        if values.len() != keys.len() {
            return None;
        }
        // A NULL key matches nothing in an equijoin (`=`): such a member is left out.
        if values.iter().any(ScalarValue::is_null) {
            continue;
        }
        let equalities = keys
            .iter()
            .zip(values)
            .map(|(k, v)| k.clone().eq(Expr::Literal(v, None)));
        members.extend(equalities.reduce(Expr::and));
    }
    Some(members)
}

/// `a or b or ...` (`false` for none), as a balanced tree: a list of keys is as deep as its
/// logarithm, not its length.
fn any_of(mut members: Vec<Expr>) -> Expr {
    match members.len() {
        0 => lit(false),
        1 => members.pop().expect("one"),
        n => {
            let right = members.split_off(n / 2);
            any_of(members).or(any_of(right))
        }
    }
}

fn conjuncts_of(e: &Expr) -> Vec<Expr> {
    match e {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::And,
            right,
        }) => {
            let mut out = conjuncts_of(left);
            out.extend(conjuncts_of(right));
            out
        }
        other => vec![other.clone()],
    }
}

/// The OData filters a join-filtered scan sends, one per request sequence: what `keys` allow,
/// through the translator, the key list split so that each filter `fits` (the request's query
/// string within [`MAX_QUERY`]). Empty when nothing can be sent: the scan then reads without
/// its join's keys. The pieces are disjoint (each key in one), so their rows are the
/// superset's, each once.
pub fn chunks(keys: &Keys, columns: &dyn Columns, fits: impl Fn(&OData) -> bool) -> Vec<OData> {
    let Some(members) = keys.members.clone() else {
        return whole(&keys.fixed, columns, &fits);
    };
    // Each key once: a key in two pieces would have its rows read twice.
    let mut seen = std::collections::HashSet::new();
    let mut members = members;
    members.retain(|m| seen.insert(m.clone()));
    let (shared, members) = factored(members);
    let fixed = keys
        .fixed
        .iter()
        .cloned()
        .chain(shared)
        .reduce(Expr::and)
        .and_then(|f| pushdown::translate(&f, columns))
        .map(|t| t.filter);
    // The keys must translate whole: a key left out would leave its rows out.
    let piece = |members: &[Expr]| -> Option<OData> {
        let keys = pushdown::translate(&any_of(members.to_vec()), columns)?.filter;
        Some(match &fixed {
            Some(f) => f.clone().and(keys),
            None => keys,
        })
    };
    let mut out = Vec::new();
    let mut start = 0;
    while start < members.len() {
        // The longest run of keys from `start` that fits, found by doubling then halving.
        let fitting = |end: usize| piece(&members[start..end]).filter(|f| fits(f));
        let Some(mut best) = fitting(start + 1) else {
            return whole(&keys.fixed, columns, &fits);
        };
        let (mut good, mut step) = (start + 1, 1);
        while good < members.len() {
            let end = (good + step).min(members.len());
            match fitting(end) {
                Some(f) => {
                    best = f;
                    good = end;
                    step *= 2;
                }
                None if step > 1 => step /= 2,
                None => break,
            }
        }
        out.push(best);
        start = good;
    }
    out
}

/// The equalities every member shares (a key's company, most often), taken out of the members
/// and returned apart: `(Company = 'A' AND CustNum = 1) OR (Company = 'A' AND CustNum = 2)` is
/// `Company = 'A'` and `CustNum = 1 OR CustNum = 2`, shorter by a company per key.
fn factored(members: Vec<Expr>) -> (Vec<Expr>, Vec<Expr>) {
    let split: Vec<Vec<Expr>> = members.iter().map(conjuncts_of).collect();
    let Some(first) = split.first() else {
        return (Vec::new(), members);
    };
    let shared: Vec<Expr> = first
        .iter()
        .filter(|c| split.iter().all(|m| m.contains(c)))
        .cloned()
        .collect();
    if shared.is_empty() || split.iter().any(|m| m.len() <= shared.len()) {
        return (Vec::new(), members);
    }
    let rest = split
        .into_iter()
        .map(|m| {
            m.into_iter()
                .filter(|c| !shared.contains(c))
                .reduce(Expr::and)
                .expect("a member keeps an equality of its own")
        })
        .collect();
    (shared, rest)
}

/// The conditions `fixed` as one filter, when they translate and fit; else nothing.
fn whole(fixed: &[Expr], columns: &dyn Columns, fits: &dyn Fn(&OData) -> bool) -> Vec<OData> {
    fixed
        .iter()
        .cloned()
        .reduce(Expr::and)
        .and_then(|f| pushdown::translate(&f, columns))
        .map(|t| t.filter)
        .filter(|f| fits(f))
        .into_iter()
        .collect()
}
