//! Entity paths and keys: `Name(keys)` parsed into typed key values, navigation under a parent,
//! and keys written back as URL literals.

use super::plan::Fixed;
use crate::api_error::ApiError;
use crate::erp::rows::{self, KeyValues};
use crate::model::{ColType, EntitySet, Navigation, Service, Table};
use epicor_kinetic_odata::{parse_key_predicate, Literal};
use rusqlite::types::Value;

/// A parsed entity path: `Customers`, `Customers('EPIC06',45)`, `Customers('EPIC06',45)/ShipTos`,
/// `Customers('EPIC06',45)/ShipTos('EPIC06',45,'')`, optionally ending in `/$count`.
#[derive(Debug)]
pub struct EntityPath {
    pub set: &'static EntitySet,
    pub key: Option<KeyValues>,
    /// Set when the path navigates from `set(key)` to a child collection.
    pub nav: Option<(&'static Navigation, &'static EntitySet, Option<KeyValues>)>,
    pub count: bool,
}

/// The methods an entity (one row, by its key) takes, for `Allow`.
pub const ENTITY_METHODS: &str = "GET, HEAD, PATCH, PUT, DELETE";
/// The methods a collection (an entity set, a navigation from a row) takes, for `Allow`.
pub const COLLECTION_METHODS: &str = "GET, HEAD, POST";

impl EntityPath {
    /// The methods this path takes: those of one row when it names one by its key, else those of
    /// a collection.
    pub fn allowed_methods(&self) -> &'static str {
        let one = match &self.nav {
            None => self.key.is_some(),
            Some((_, _, child_key)) => child_key.is_some(),
        };
        if self.count {
            "GET, HEAD"
        } else if one {
            ENTITY_METHODS
        } else {
            COLLECTION_METHODS
        }
    }
}

/// Splits `Name(keys)` into the name and the key text inside the parentheses.
pub fn split_key(segment: &str) -> Result<(&str, Option<&str>), ApiError> {
    match segment.find('(') {
        None => Ok((segment, None)),
        Some(i) => {
            let inner = segment[i + 1..].strip_suffix(')').ok_or_else(|| {
                ApiError::odata(format!("the key in `{segment}` is missing its closing ')'"))
            })?;
            Ok((&segment[..i], Some(inner)))
        }
    }
}

/// Parses a key predicate (`'EPIC06',45` or `Company='EPIC06',CustNum=45`) for `table`.
pub fn parse_key(table: &Table, text: &str) -> Result<KeyValues, ApiError> {
    let usage = || {
        format!(
            "the key of {} has {} values ({}), e.g. {}({})",
            table.name,
            table.key.len(),
            table.key.join(", "),
            table.name,
            table
                .key_columns()
                .map(|c| match c.ty {
                    ColType::String { .. } => "'...'".to_string(),
                    _ => "1".to_string(),
                })
                .collect::<Vec<_>>()
                .join(",")
        )
    };
    let parts = parse_key_predicate(text)
        .map_err(|e| ApiError::odata(format!("invalid key `{text}`: {e}; {}", usage())))?;
    if parts.len() != table.key.len() {
        return Err(ApiError::odata(format!(
            "{} values given: {}",
            parts.len(),
            usage()
        )));
    }
    let named = parts.iter().all(|p| p.name.is_some());
    if !named && parts.iter().any(|p| p.name.is_some()) {
        return Err(ApiError::odata(format!(
            "the key `{text}` mixes named and positional values: {}",
            usage()
        )));
    }
    let mut values: Vec<Option<Value>> = vec![None; table.key.len()];
    for (i, part) in parts.iter().enumerate() {
        let pos = match &part.name {
            Some(name) => table.key.iter().position(|k| k == name).ok_or_else(|| {
                ApiError::odata(format!(
                    "`{name}` is not a key property of {}: {}",
                    table.name,
                    usage()
                ))
            })?,
            None => i,
        };
        let col = table.column(table.key[pos]).expect("key column");
        let v = match (&part.value, col.ty) {
            (Literal::String(s), ColType::String { .. }) => Value::Text(s.clone()),
            (Literal::Int(n), ColType::Int32 | ColType::Int64) => Value::Integer(*n),
            (Literal::Guid(g), ColType::Guid) => Value::Text(g.to_lowercase()),
            _ => {
                return Err(ApiError::odata(format!(
                    "key value `{}` does not fit {} ({}): {}",
                    part.text,
                    col.name,
                    col.ty.describe(),
                    usage()
                )))
            }
        };
        values[pos] = Some(v);
    }
    values
        .into_iter()
        .map(|v| v.ok_or_else(|| ApiError::odata(usage())))
        .collect()
}

/// Parses the path segments after the service name.
pub fn parse_entity_path(
    svc: &'static Service,
    segs: &[String],
) -> Result<Option<EntityPath>, ApiError> {
    let Some(first) = segs.first() else {
        return Ok(None);
    };
    let (name, key_text) = split_key(first)?;
    let Some(set) = svc.entity_set(name) else {
        return Ok(None);
    };
    let key = key_text.map(|k| parse_key(set.table, k)).transpose()?;
    let mut rest = &segs[1..];
    let mut count = false;
    if rest.last().map(String::as_str) == Some("$count") {
        count = true;
        rest = &rest[..rest.len() - 1];
    }
    let nav = match rest {
        [] => None,
        [seg] => {
            if key.is_none() {
                return Err(ApiError::odata(format!(
                    "navigate from one entity: {name}(<key>)/{seg}, not from the whole set"
                )));
            }
            let (nav_name, child_key) = split_key(seg)?;
            let nav = set
                .navigations
                .iter()
                .find(|n| n.name.eq_ignore_ascii_case(nav_name))
                .ok_or_else(|| {
                    ApiError::route_not_found(format!(
                        "{} has no navigation property named '{nav_name}'{}",
                        set.name,
                        if set.navigations.is_empty() {
                            String::new()
                        } else {
                            format!(
                                "; it has: {}",
                                set.navigations
                                    .iter()
                                    .map(|n| n.name)
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )
                        }
                    ))
                })?;
            let target = svc.entity_set(nav.target).expect("navigation target");
            let child_key = child_key.map(|k| parse_key(target.table, k)).transpose()?;
            Some((nav, target, child_key))
        }
        more => {
            return Err(ApiError::odata(format!(
                "the path `{}` is deeper than this server supports (one navigation step)",
                more.join("/")
            )))
        }
    };
    if count && (key.is_some() && nav.is_none() || nav.as_ref().is_some_and(|n| n.2.is_some())) {
        return Err(ApiError::odata(
            "$count applies to collections, not to a single entity",
        ));
    }
    Ok(Some(EntityPath {
        set,
        key,
        nav,
        count,
    }))
}

pub(super) fn key_fixed(table: &Table, key: &[Value]) -> Fixed {
    Fixed(table.key.iter().copied().zip(key.iter().cloned()).collect())
}

/// The child columns a navigation fixes, with the parent key's values.
pub(super) fn parent_join(
    parent: &EntitySet,
    pk: &[Value],
    nav: &Navigation,
) -> Vec<(&'static str, Value)> {
    nav.on
        .iter()
        .map(|(p, c)| {
            let pos = parent
                .table
                .key
                .iter()
                .position(|k| k == p)
                .expect("join on parent key");
            (*c, pk[pos].clone())
        })
        .collect()
}

/// Refuses a child key that is not under the parent it is addressed through
/// (`Customers('EPIC06',1)/ShipTos('EPIC06',2,'')`), for reads and writes alike.
pub(super) fn child_under_parent(
    parent: &EntitySet,
    pk: &[Value],
    nav: &Navigation,
    target: &EntitySet,
    ck: &[Value],
) -> Result<(), ApiError> {
    let join = parent_join(parent, pk, nav);
    for (k, v) in target.table.key.iter().zip(ck) {
        if join.iter().any(|(c, fixed)| c == k && fixed != v) {
            return Err(ApiError::not_found(format!(
                "{} {} is not under {} {}",
                target.table.name,
                rows::describe_key(target.table, ck),
                parent.table.name,
                rows::describe_key(parent.table, pk)
            )));
        }
    }
    Ok(())
}

/// A key as it is written in a URL: `'EPIC06',45`.
pub fn key_literal(key: &[Value]) -> String {
    key.iter()
        .map(|v| match v {
            Value::Text(s) => format!("'{}'", s.replace('\'', "''")),
            Value::Integer(i) => i.to_string(),
            other => format!("{other:?}"),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The table and key an entity path addresses, for PATCH and DELETE.
pub(super) fn addressed(path: &EntityPath) -> Result<(&'static Table, KeyValues), ApiError> {
    match (&path.key, &path.nav) {
        (Some(k), None) => Ok((path.set.table, k.clone())),
        (Some(pk), Some((nav, target, Some(ck)))) => {
            child_under_parent(path.set, pk, nav, target, ck)?;
            Ok((target.table, ck.clone()))
        }
        _ => Err(ApiError::method_not_allowed(
            "PATCH and DELETE address one entity by its key, e.g. Customers('EPIC06',45)",
            COLLECTION_METHODS,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_positionally_and_by_name() {
        let t = &crate::model::CUSTOMER;
        assert_eq!(
            parse_key(t, "'EPIC06',45").unwrap(),
            vec![Value::Text("EPIC06".into()), Value::Integer(45)]
        );
        assert_eq!(
            parse_key(t, "CustNum=45,Company='EPIC,06'").unwrap(),
            vec![Value::Text("EPIC,06".into()), Value::Integer(45)]
        );
        assert!(parse_key(t, "45")
            .unwrap_err()
            .message
            .contains("has 2 values"));
        assert!(parse_key(t, "'EPIC06','x'")
            .unwrap_err()
            .message
            .contains("does not fit CustNum"));
        assert!(parse_key(t, "Company='EPIC06',45")
            .unwrap_err()
            .message
            .contains("mixes named and positional"));
        assert!(parse_key(t, "'EPIC06',CustNum")
            .unwrap_err()
            .message
            .contains("`CustNum` is not a literal"));
        assert!(parse_key(t, "Company='EPIC06',Name='x'")
            .unwrap_err()
            .message
            .contains("`Name` is not a key property of Customer"));
    }
}
