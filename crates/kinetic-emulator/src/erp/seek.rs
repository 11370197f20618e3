//! The seek cache: keyset paging under `$skip`, as a database cursor would give it. A collection page
//! ordered by its table's key remembers, per query shape, the key of the last row it served and that
//! row's position; a later `$skip` of the same shape starts at the nearest remembered position at or
//! before it with an index seek (`(k1, k2) > (?, ?)`) and skips only the rows in between, instead of
//! stepping over every skipped row. Shapes carry the database's write generation
//! ([`Db::generation`](crate::db::Db::generation)), so a page is never sought from a key remembered
//! before a write.

use super::query::Relation;
use epicor_kinetic_odata::{Expr, OrderBy, PathRoot};
use rusqlite::types::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::{LazyLock, Mutex, MutexGuard};

/// Shapes remembered at most; the least recently used goes first.
const MAX_SHAPES: usize = 64;
/// Positions remembered per shape at most; when more, the one whose neighbours are closest goes, so
/// that those left stay spread over all the rows walked (after a walk of a million rows, a start
/// every few thousand rows), the latest kept.
const MAX_POSITIONS: usize = 256;

/// How a plan's rows can be sought: they are ordered by their table's key, ascending.
#[derive(Debug, Clone)]
pub struct Keyset {
    /// The key columns not fixed to one value by an equality, in key order, as indexes into the
    /// relation's columns.
    pub columns: Vec<usize>,
    /// The plan's SQL with `(k1, k2) > (?a, ?b)` in its WHERE (bound after the plan's parameters)
    /// and ordered by `k1, k2` (the same order), without LIMIT.
    pub sql: String,
}

/// The key columns (as indexes into `rel.columns`) that order a plan's rows when `$orderby` followed
/// by the key (as [`Compiler::order_by`](super::query::Compiler::order_by) writes it) amounts to the
/// key ascending, leaving out the columns `fixed` to one value; `None` for any other order.
pub fn key_order(rel: &Relation, orderby: &[OrderBy], fixed: &[&str]) -> Option<Vec<usize>> {
    let key: Vec<&str> = rel
        .key
        .iter()
        .copied()
        .filter(|k| !fixed.contains(k))
        .collect();
    if key.is_empty() {
        return None;
    }
    let mut named = 0;
    for item in orderby {
        let Expr::Member(path) = &item.expr else {
            return None;
        };
        let ([name], PathRoot::Implicit) = (path.segments.as_slice(), &path.root) else {
            return None;
        };
        let name = name.as_str();
        // A constant column, or one ordered by already, changes nothing.
        if fixed.contains(&name) || key[..named].contains(&name) {
            continue;
        }
        if item.descending || key.get(named) != Some(&name) {
            return None;
        }
        named += 1;
    }
    key.iter()
        .map(|k| rel.columns.iter().position(|c| c.name == *k))
        .collect()
}

/// A query in one state of one database: the write generation, the SQL without LIMIT and the values
/// of its parameters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Shape {
    generation: u64,
    query: String,
}

impl Shape {
    pub fn new(generation: u64, sql: &str, params: &[Value]) -> Shape {
        // `Debug` of values is injective (strings quoted and escaped, floats round-trip).
        Shape {
            generation,
            query: format!("{sql}\n{params:?}"),
        }
    }
}

/// Remembered positions, bounded: [`MAX_SHAPES`] shapes of [`MAX_POSITIONS`] positions each.
#[derive(Default)]
pub struct SeekCache {
    tick: u64,
    shapes: HashMap<Shape, Positions>,
}

struct Positions {
    used: u64,
    /// Position (rows up to and including the row) -> the row's key.
    at: BTreeMap<u64, Vec<Value>>,
}

impl SeekCache {
    /// The remembered position nearest at or before `skip`, with the key of the row there.
    pub fn nearest(&mut self, shape: &Shape, skip: u64) -> Option<(u64, Vec<Value>)> {
        self.tick += 1;
        let tick = self.tick;
        let positions = self.shapes.get_mut(shape)?;
        positions.used = tick;
        let (p, key) = positions.at.range(..=skip).next_back()?;
        Some((*p, key.clone()))
    }

    /// Remembers that the `position`th row of `shape` (counting from 1) has `key`.
    pub fn record(&mut self, shape: Shape, position: u64, key: Vec<Value>) {
        self.tick += 1;
        let tick = self.tick;
        if self.shapes.len() >= MAX_SHAPES && !self.shapes.contains_key(&shape) {
            let oldest = self
                .shapes
                .iter()
                .min_by_key(|(_, p)| p.used)
                .map(|(s, _)| s.clone());
            if let Some(s) = oldest {
                self.shapes.remove(&s);
            }
        }
        let positions = self.shapes.entry(shape).or_insert_with(|| Positions {
            used: tick,
            at: BTreeMap::new(),
        });
        positions.used = tick;
        positions.at.insert(position, key);
        if positions.at.len() > MAX_POSITIONS {
            // Position 0 needs no key: it is where a plain query starts.
            let ps: Vec<u64> = std::iter::once(0)
                .chain(positions.at.keys().copied())
                .collect();
            let closest = ps
                .windows(3)
                .filter(|w| w[1] != position)
                .min_by_key(|w| w[2] - w[0])
                .map(|w| w[1]);
            if let Some(p) = closest {
                positions.at.remove(&p);
            }
        }
    }
}

/// The process's cache: generations never repeat, even across databases, so it can be shared.
pub fn cache() -> MutexGuard<'static, SeekCache> {
    static CACHE: LazyLock<Mutex<SeekCache>> = LazyLock::new(Default::default);
    CACHE.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::erp::entity::{plan, Fixed};
    use crate::model;

    fn key(n: i64) -> Vec<Value> {
        vec![Value::Integer(n)]
    }

    #[test]
    fn nearest_position_at_or_before_the_skip() {
        let mut c = SeekCache::default();
        let s = Shape::new(7, "SELECT", &[Value::Text("EPIC06".into())]);
        assert_eq!(c.nearest(&s, 100), None);
        c.record(s.clone(), 100, key(1));
        c.record(s.clone(), 300, key(3));
        assert_eq!(c.nearest(&s, 99), None);
        assert_eq!(c.nearest(&s, 100), Some((100, key(1))));
        assert_eq!(c.nearest(&s, 299), Some((100, key(1))));
        assert_eq!(c.nearest(&s, 1000), Some((300, key(3))));
        // Another generation, other parameter values: other shapes.
        let later = Shape::new(8, "SELECT", &[Value::Text("EPIC06".into())]);
        assert_eq!(c.nearest(&later, 1000), None);
        let other = Shape::new(7, "SELECT", &[Value::Text("EPIC07".into())]);
        assert_eq!(c.nearest(&other, 1000), None);
        // Parameter values cannot run into one another.
        assert_ne!(
            Shape::new(7, "S", &[Value::Text("a\", Text(\"b".into())]),
            Shape::new(7, "S", &[Value::Text("a".into()), Value::Text("b".into())])
        );
    }

    #[test]
    fn bounded_keeping_starts_all_along_and_the_latest() {
        let mut c = SeekCache::default();
        let s = Shape::new(1, "SELECT", &[]);
        // A serial walk of 10,000 pages.
        for p in 1..=10_000u64 {
            c.record(s.clone(), p * 100, key(p as i64));
            assert!(c.shapes[&s].at.len() <= MAX_POSITIONS);
        }
        assert_eq!(c.nearest(&s, 1_000_000), Some((1_000_000, key(10_000))));
        // Every start is within a few thousand rows of a remembered position.
        let at = &c.shapes[&s].at;
        let gaps: Vec<u64> = at
            .keys()
            .zip(at.keys().skip(1))
            .map(|(a, b)| b - a)
            .collect();
        assert_eq!(at.len(), MAX_POSITIONS);
        assert!(*at.keys().next().unwrap() <= 8_000, "{:?}", at.keys());
        assert!(gaps.iter().all(|g| *g <= 8_000), "{gaps:?}");
        let (p, k) = c.nearest(&s, 500_050).unwrap();
        assert!(p <= 500_050 && 500_050 - p <= 8_000);
        assert_eq!(k, key(p as i64 / 100));

        for g in 2..=MAX_SHAPES as u64 {
            c.record(Shape::new(g, "SELECT", &[]), 1, key(1));
        }
        assert_eq!(c.shapes.len(), MAX_SHAPES);
        // Shape 1 is used again, so shape 2 is the least recently used and goes.
        assert!(c.nearest(&s, 1_000_000).is_some());
        c.record(Shape::new(1000, "SELECT", &[]), 1, key(1));
        assert_eq!(c.shapes.len(), MAX_SHAPES);
        assert!(c.nearest(&s, 1_000_000).is_some());
        assert_eq!(c.nearest(&Shape::new(2, "SELECT", &[]), 1), None);
        assert!(c.nearest(&Shape::new(3, "SELECT", &[]), 1).is_some());
    }

    fn order_dtls() -> Relation {
        let svc = model::service("Erp.BO.SalesOrderSvc").unwrap();
        Relation::entity_set(
            svc.entity_set("OrderDtls").unwrap(),
            svc,
            crate::collation::Collation::Binary,
        )
    }

    #[test]
    fn key_order_is_recognised_through_constants_and_repeats() {
        let rel = order_dtls();
        let order = |s: &str| epicor_kinetic_odata::parse_orderby(s).unwrap();
        let idx = |n: &str| rel.columns.iter().position(|c| c.name == n).unwrap();
        let all = Some(vec![idx("Company"), idx("OrderNum"), idx("OrderLine")]);
        let seek = Some(vec![idx("OrderNum"), idx("OrderLine")]);
        assert_eq!(key_order(&rel, &[], &[]), all);
        assert_eq!(
            key_order(&rel, &order("Company,OrderNum,OrderLine"), &[]),
            all
        );
        assert_eq!(key_order(&rel, &order("Company,OrderNum"), &[]), all);
        assert_eq!(key_order(&rel, &[], &["Company"]), seek);
        assert_eq!(
            key_order(
                &rel,
                &order("Company desc,OrderNum,OrderNum desc"),
                &["Company"]
            ),
            seek
        );
        assert_eq!(key_order(&rel, &order("OrderNum"), &[]), None);
        assert_eq!(key_order(&rel, &order("OrderNum desc"), &["Company"]), None);
        assert_eq!(key_order(&rel, &order("OrderLine"), &["Company"]), None);
        assert_eq!(key_order(&rel, &order("PartNum"), &["Company"]), None);
        assert_eq!(key_order(&rel, &order("tolower(Company)"), &[]), None);
        assert_eq!(
            key_order(&rel, &[], &["Company", "OrderNum", "OrderLine"]),
            None
        );
    }

    /// The sought query is an index range: no scan, no sort.
    #[test]
    fn keyset_sql_seeks_by_the_primary_key() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        crate::data::create_schema(&conn, crate::collation::Collation::Binary).unwrap();
        for query in [
            "",
            "$filter=OrderNum gt 5",
            "$filter=PartNum eq 'X'",
            "$orderby=Company,OrderNum,OrderLine&$filter=OrderNum gt 5",
            "$orderby=OrderNum",
        ] {
            let opts = epicor_kinetic_odata::QueryOptions::from_query(query).unwrap();
            let fixed = Fixed(vec![("Company", Value::Text("EPIC06".into()))]);
            let p = plan(order_dtls(), &opts, &fixed, &[], 0).unwrap();
            let keyset = p.keyset.expect("ordered by the key");
            let mut st = conn
                .prepare(&format!("EXPLAIN QUERY PLAN {}", keyset.sql))
                .unwrap();
            let mut params = p.params.clone();
            params.extend([Value::Integer(10), Value::Integer(1)]);
            let details: Vec<String> = st
                .query_map(rusqlite::params_from_iter(params.iter()), |r| r.get(3))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            let text = details.join("; ");
            assert!(
                text.contains("(OrderNum,OrderLine)>(?,?)") && text.starts_with("SEARCH t USING"),
                "{query}: {text}"
            );
            assert!(!text.contains("TEMP B-TREE"), "{query}: {text}");
        }
    }
}
