//! `sys_connection_props` (every property of the registry with this connection's value,
//! secrets masked) and `sys_sqlinfo` (what the engine does).

use super::shape::{optional_text_cell, text_cell, Cell, Rows};
use super::MASK;
use epicor_kinetic::settings::{Kind, Settings, PROPERTIES};

/// The properties a connection cannot be made without.
pub(super) const REQUIRED: &[&str] = &["URL", "ERPInstance"];

pub(super) fn connection_props(settings: &Settings, rows: &mut Rows) {
    for p in PROPERTIES {
        let (ty, values) = match p.kind {
            Kind::Bool => ("bool", Some("true,false".to_owned())),
            Kind::Int { .. } => ("int", None),
            Kind::Enum(v) => ("string", Some(v.join(","))),
            Kind::EnumOrGuid(v) => ("string", Some(v.join(","))),
            _ => ("string", None),
        };
        let value = if p.secret {
            // Never a secret's text: whether it is set, at most.
            settings.origin(p.name).map(|_| MASK.to_owned())
        } else {
            p.value_in(settings)
        };
        rows.0.push(vec![
            text_cell(p.name),
            text_cell(p.help),
            text_cell(ty),
            optional_text_cell(p.default),
            optional_text_cell(values),
            optional_text_cell(value),
            Cell::Bool(Some(REQUIRED.contains(&p.name))),
            text_cell(p.category.title()),
        ]);
    }
}

/// What the engine does, as the reference's `sys_sqlinfo` says it.
pub(super) const SQL_INFO: &[(&str, &str)] = &[
    ("DIALECT", "Apache DataFusion (PostgreSQL-like)"),
    ("IDENTIFIER_QUOTE_OPEN_CHAR", "\""),
    ("IDENTIFIER_QUOTE_CLOSE_CHAR", "\""),
    ("SUPPORTS_JOIN", "YES"),
    ("OUTER_JOINS", "YES"),
    ("OJ_CAPABILITIES", "LEFT,RIGHT,FULL,INNER,NESTED,ALL_COMPARISON_OPS"),
    ("SUBQUERIES", "CORRELATED,EXISTS,IN,COMPARISON,SCALAR"),
    ("GROUP_BY", "YES"),
    ("AGGREGATE_FUNCTIONS", "AVG,COUNT,MAX,MIN,SUM,DISTINCT"),
    ("COUNT", "YES"),
    ("WINDOW_FUNCTIONS", "YES"),
    (
        "SUPPORTED_OPERATORS",
        "=,<>,!=,<,<=,>,>=,AND,OR,NOT,IN,NOT IN,BETWEEN,LIKE,NOT LIKE,IS NULL,IS NOT NULL",
    ),
    (
        "PUSHED_DOWN",
        "comparisons,AND,OR,NOT,IN,BETWEEN,LIKE prefix/suffix/contains,IS NULL,projection,LIMIT,ORDER BY",
    ),
    ("SUPPORTS_INSERT", "YES"),
    ("SUPPORTS_UPDATE", "YES"),
    ("SUPPORTS_DELETE", "YES"),
    ("SUPPORT_TRANSACTION", "NO"),
    ("SUPPORTS_BATCH_OPERATIONS", "NO"),
    ("SUPPORTS_MULTIPLE_SCHEMAS", "YES"),
    ("SUPPORTS_MULTIPLE_CATALOGS", "NO"),
    ("STORED_PROCEDURES", "YES"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_property_has_a_row_and_no_secret_shows() {
        let settings = Settings::parse(
            "URL=https://erp.example.com;ERPInstance=Kinetic;User=u;Password=p4ss-w0rd",
        )
        .expect("settings");
        let mut rows = Rows::default();
        connection_props(&settings, &mut rows);
        assert_eq!(rows.0.len(), PROPERTIES.len());
        let shown = format!("{:?}", rows.0);
        assert!(!shown.contains("p4ss-w0rd"));
        let value = |name: &str| {
            let row = rows
                .0
                .iter()
                .find(|r| matches!(&r[0], Cell::Text(Some(n)) if n == name));
            match row.map(|r| &r[5]) {
                Some(Cell::Text(v)) => v.clone(),
                other => panic!("{name}: {other:?}"),
            }
        };
        assert_eq!(value("Pagesize").as_deref(), Some("100"));
        assert_eq!(value("Password").as_deref(), Some(MASK));
        assert_eq!(value("OAuthClientSecret"), None);
        assert_eq!(value("InsecureHttpForLab").as_deref(), Some("false"));
    }
}
