//! The tables that describe the server's tables: `sys_schemas`, `sys_tables`,
//! `sys_tablecolumns`, `sys_primarykeys` and `sys_foreignkeys`, read from the services'
//! `$metadata` and the BAQ list.

use super::scan::Narrowing;
use super::shape::{optional_text_cell, text_cell, Cell, Rows, SqlType, SysTable};
use super::{Unreadable, CONCURRENCY, NAMES};
use crate::names::{may_hold, BAQ_SCHEMA, CATALOG, DEFAULT_SCHEMA, SEARCH_ALL_UP_TO};
use crate::server::{external, BaqInfo, ServerModel};
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use epicor_kinetic::api::{Column, EntitySetInfo};
use epicor_kinetic::ErrorKind;
use epicor_kinetic_odata::csdl::Metadata;
use futures_util::{FutureExt, StreamExt};
use std::sync::Arc;

/// Whether a failure to read one service's (or BAQ's) `$metadata` is that service's own (it
/// is left out) rather than the connection's (sign-in, network: the query fails).
pub(super) fn own_failure(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::NotFound
            | ErrorKind::Forbidden
            | ErrorKind::Protocol
            | ErrorKind::Rejected
            | ErrorKind::Server
    )
}

/// The schemas: `default`, every service the server lists, `BaqSvc`.
pub(super) async fn schemas(server: &ServerModel) -> Result<Vec<String>> {
    let services = server.load_services().await.map_err(external)?;
    let mut out = vec![DEFAULT_SCHEMA.to_owned()];
    out.extend(
        services
            .iter()
            .filter(|s| !s.name.eq_ignore_ascii_case(BAQ_SCHEMA))
            .map(|s| s.name.clone()),
    );
    out.push(BAQ_SCHEMA.to_owned());
    Ok(out)
}

/// The services whose entity sets the narrowing asks for.
pub(super) async fn services_for(server: &ServerModel, n: &Narrowing) -> Result<Vec<String>> {
    if !n.catalog_ok() {
        return Ok(Vec::new());
    }
    let listed = server.load_services().await.map_err(external)?;
    let all: Vec<&str> = listed
        .iter()
        .map(|s| s.name.as_str())
        .filter(|s| !s.eq_ignore_ascii_case(BAQ_SCHEMA))
        .collect();
    if n.schema.is_some() {
        return Ok(all
            .into_iter()
            .filter(|s| n.schema_ok(s))
            .map(str::to_owned)
            .collect());
    }
    if let Some(service) = &server.conn.settings().service {
        let service = server.service(service).unwrap_or(service);
        if service.eq_ignore_ascii_case(BAQ_SCHEMA) {
            return Ok(Vec::new());
        }
        return Ok(vec![service.to_owned()]);
    }
    if let Some(names) = &n.object {
        if all.len() > SEARCH_ALL_UP_TO {
            return Ok(all
                .into_iter()
                .filter(|s| names.iter().any(|table| may_hold(s, table)))
                .map(str::to_owned)
                .collect());
        }
    }
    Ok(all.into_iter().map(str::to_owned).collect())
}

/// A service's entity sets and its `$metadata`.
pub(super) struct ServiceModel {
    service: String,
    sets: Vec<EntitySetInfo>,
    metadata: Arc<Metadata>,
}

/// What a table of this module reads its rows from: the server, the services whose
/// `$metadata` failed before, and what the filters ask for.
#[derive(Clone, Copy)]
pub(super) struct Reading<'a> {
    pub(super) server: &'a ServerModel,
    pub(super) unreadable: &'a Unreadable,
    pub(super) n: &'a Narrowing,
}

impl Reading<'_> {
    /// The entity sets of the services the narrowing asks for, [`CONCURRENCY`] services at a
    /// time; a service failing for reasons of its own is left out.
    async fn models(&self) -> Result<Vec<ServiceModel>> {
        let Reading {
            server,
            unreadable,
            n,
        } = *self;
        let services: Vec<String> = services_for(server, n)
            .await?
            .into_iter()
            .filter(|s| match unreadable.get(s) {
                Some(why) => {
                    tracing::debug!(service = %s, %why, "left out of the system tables (its $metadata failed before)");
                    false
                }
                None => true,
            })
            .collect();
        let loads = services.into_iter().map(|service| {
            let conn = server.conn.clone();
            async move {
                let loaded = async {
                    let metadata = conn.metadata(&service).await?;
                    let sets = conn.entity_sets(&service).await?;
                    Ok::<_, epicor_kinetic::Error>((metadata, sets))
                }
                .await;
                (service, loaded)
            }
            .boxed()
        });
        let results: Vec<_> = futures_util::stream::iter(loads)
            .buffered(CONCURRENCY)
            .collect()
            .await;
        let mut out = Vec::new();
        for (service, loaded) in results {
            match loaded {
                Ok((metadata, sets)) => out.push(ServiceModel {
                    service,
                    sets: sets.into_iter().filter(|s| n.object_ok(&s.name)).collect(),
                    metadata,
                }),
                Err(e) if own_failure(e.kind()) => {
                    tracing::warn!(%service, error = %e, "left out of the system tables: its $metadata cannot be read");
                    unreadable.remember(&service, &e);
                }
                Err(e) => return Err(external(e)),
            }
        }
        Ok(out)
    }

    /// The BAQs the narrowing asks for (none when the server's list cannot be read for
    /// reasons of its own).
    async fn baqs(&self) -> Result<Vec<&BaqInfo>> {
        let (server, n) = (self.server, self.n);
        if !n.catalog_ok() || !n.schema_ok(BAQ_SCHEMA) {
            return Ok(Vec::new());
        }
        match server.baqs().await {
            Ok(list) => Ok(list.iter().filter(|b| n.object_ok(&b.id)).collect()),
            Err(e) if own_failure(e.kind()) => {
                tracing::warn!(error = %e, "BAQs left out of the system tables: the BAQ list cannot be read");
                Ok(Vec::new())
            }
            Err(e) => Err(external(e)),
        }
    }
}

/// The system tables the narrowing asks for.
pub(super) fn system_tables(n: &Narrowing) -> Vec<SysTable> {
    if !n.catalog_ok() || !n.schema_ok(DEFAULT_SCHEMA) {
        return Vec::new();
    }
    NAMES
        .iter()
        .filter(|name| n.object_ok(name))
        .filter_map(|name| SysTable::of(name))
        .collect()
}

pub(super) async fn tables(at: &Reading<'_>, rows: &mut Rows) -> Result<()> {
    for model in at.models().await? {
        for set in &model.sets {
            rows.0.push(vec![
                text_cell(CATALOG),
                text_cell(&model.service),
                text_cell(&set.name),
                text_cell("TABLE"),
                Cell::Text(None),
                Cell::Bool(Some(true)),
            ]);
        }
    }
    for baq in at.baqs().await? {
        rows.0.push(vec![
            text_cell(CATALOG),
            text_cell(BAQ_SCHEMA),
            text_cell(&baq.id),
            text_cell("VIEW"),
            optional_text_cell(Some(&baq.description).filter(|d| !d.is_empty())),
            Cell::Bool(Some(baq.updatable)),
        ]);
    }
    for which in system_tables(at.n) {
        rows.0.push(vec![
            text_cell(CATALOG),
            text_cell(DEFAULT_SCHEMA),
            text_cell(which.name()),
            text_cell("SYSTEM"),
            text_cell(which.description()),
            Cell::Bool(Some(false)),
        ]);
    }
    Ok(())
}

/// One row of `sys_tablecolumns`.
#[allow(clippy::too_many_arguments)]
pub(super) fn column_row(
    schema: &str,
    table: &str,
    name: &str,
    data_type: &DataType,
    max_length: Option<u32>,
    nullable: bool,
    ordinal: usize,
    key: bool,
) -> Vec<Cell> {
    let t = SqlType::of_arrow(data_type);
    let (precision, scale) = match data_type {
        DataType::Decimal128(p, s) => (Some(i32::from(*p)), Some(i32::from(*s))),
        _ => (None, None),
    };
    let (length, display, precision, scale) = t.shape(max_length, precision, scale);
    vec![
        text_cell(CATALOG),
        text_cell(schema),
        text_cell(table),
        text_cell(name),
        text_cell(t.name()),
        Cell::Int(Some(t.code())),
        Cell::Int(length),
        Cell::Int(display),
        Cell::Int(precision),
        Cell::Int(scale),
        Cell::Bool(Some(nullable)),
        Cell::Text(None),
        Cell::Int(Some(i32::try_from(ordinal).unwrap_or(i32::MAX))),
        Cell::Bool(Some(false)),
        Cell::Bool(Some(false)),
        Cell::Bool(Some(key)),
    ]
}

pub(super) async fn table_columns(at: &Reading<'_>, rows: &mut Rows) -> Result<()> {
    for model in at.models().await? {
        for set in &model.sets {
            let properties = model
                .metadata
                .entity_type(&set.entity_type)
                .map(|t| t.properties.as_slice())
                .unwrap_or_default();
            for (i, column) in set.columns.iter().enumerate() {
                let max_length = properties
                    .iter()
                    .find(|p| p.name == column.name)
                    .and_then(|p| p.max_length);
                let field = crate::arrow::field_of(column);
                rows.0.push(column_row(
                    &model.service,
                    &set.name,
                    &column.name,
                    field.data_type(),
                    max_length,
                    column.nullable,
                    i + 1,
                    column.key,
                ));
            }
        }
    }
    // The BAQs' columns: one `$metadata` each, read only for the BAQs asked for.
    let ids: Vec<String> = at.baqs().await?.into_iter().map(|b| b.id.clone()).collect();
    let loads = ids.into_iter().map(|id| {
        let query = at.server.conn.baq_query(&id);
        async move { (id, query.columns().await) }.boxed()
    });
    let results: Vec<_> = futures_util::stream::iter(loads)
        .buffered(CONCURRENCY)
        .collect()
        .await;
    for (id, columns) in results {
        let columns: Arc<Vec<Column>> = match columns {
            Ok(c) => c,
            Err(e) if own_failure(e.kind()) => {
                tracing::warn!(baq = %id, error = %e, "BAQ left out of sys_tablecolumns: its $metadata cannot be read");
                continue;
            }
            Err(e) => return Err(external(e)),
        };
        for (i, column) in columns.iter().enumerate() {
            let field = crate::arrow::field_of(column);
            rows.0.push(column_row(
                BAQ_SCHEMA,
                &id,
                &column.name,
                field.data_type(),
                None,
                column.nullable,
                i + 1,
                column.key,
            ));
        }
    }
    for which in system_tables(at.n) {
        for (i, field) in which.schema().fields().iter().enumerate() {
            rows.0.push(column_row(
                DEFAULT_SCHEMA,
                which.name(),
                field.name(),
                field.data_type(),
                None,
                true,
                i + 1,
                false,
            ));
        }
    }
    Ok(())
}

pub(super) fn primary_key_name(table: &str) -> String {
    format!("PK_{table}")
}

pub(super) async fn primary_keys(at: &Reading<'_>, rows: &mut Rows) -> Result<()> {
    for model in at.models().await? {
        for set in &model.sets {
            for (i, key) in set.key.iter().enumerate() {
                rows.0.push(vec![
                    text_cell(CATALOG),
                    text_cell(&model.service),
                    text_cell(&set.name),
                    text_cell(key),
                    Cell::Int(Some(i32::try_from(i + 1).unwrap_or(i32::MAX))),
                    text_cell(primary_key_name(&set.name)),
                ]);
            }
        }
    }
    Ok(())
}

/// A relationship between two entity sets of a service: `dependent`'s columns refer to
/// `principal`'s.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Relationship {
    principal: String,
    dependent: String,
    /// (principal column, dependent column) pairs.
    columns: Vec<(String, String)>,
}

/// The relationships a service's navigation properties declare: a collection navigation
/// `Customers.ShipTos` makes `ShipTos` the dependent, a single one (`OrderDtl.Customer`) the
/// declaring set. Pairs come from the referential constraint, or, when the document has none
/// (v3 associations often have none), from the principal's key columns that the dependent has
/// under the same names.
pub(super) fn relationships(metadata: &Metadata) -> Vec<Relationship> {
    let sets: Vec<&epicor_kinetic_odata::csdl::EntitySet> = metadata
        .schemas
        .iter()
        .filter_map(|s| s.entity_container.as_ref())
        .flat_map(|c| &c.entity_sets)
        .collect();
    let mut out: Vec<Relationship> = Vec::new();
    for set in &sets {
        let Some(ty) = metadata.entity_type(&set.entity_type) else {
            continue;
        };
        for nav in &ty.navigation {
            let bound = set
                .navigation_bindings
                .iter()
                .find(|(path, _)| path == &nav.name)
                .and_then(|(_, target)| sets.iter().find(|s| &s.name == target));
            let target = bound.or_else(|| {
                let mut of_type = sets.iter().filter(|s| s.entity_type == nav.target_type);
                match (of_type.next(), of_type.next()) {
                    (Some(only), None) => Some(only),
                    _ => None,
                }
            });
            let Some(target) = target else {
                continue;
            };
            let Some(target_ty) = metadata.entity_type(&target.entity_type) else {
                continue;
            };
            // (this set's column, target's column) pairs.
            let pairs: Vec<(String, String)> = if !nav.referential.is_empty() {
                nav.referential.clone()
            } else {
                let (principal_ty, other_ty) = if nav.collection {
                    (ty, target_ty)
                } else {
                    (target_ty, ty)
                };
                let shared = principal_ty
                    .key
                    .iter()
                    .all(|k| other_ty.properties.iter().any(|p| &p.name == k));
                if !shared || principal_ty.key.is_empty() {
                    continue;
                }
                principal_ty
                    .key
                    .iter()
                    .map(|k| (k.clone(), k.clone()))
                    .collect()
            };
            let relationship = if nav.collection {
                Relationship {
                    principal: set.name.clone(),
                    dependent: target.name.clone(),
                    columns: pairs,
                }
            } else {
                Relationship {
                    principal: target.name.clone(),
                    dependent: set.name.clone(),
                    columns: pairs.into_iter().map(|(this, t)| (t, this)).collect(),
                }
            };
            if !out.contains(&relationship) {
                out.push(relationship);
            }
        }
    }
    out
}

pub(super) async fn foreign_keys(at: &Reading<'_>, rows: &mut Rows) -> Result<()> {
    // Both ends of a relationship are in one service; a table-name narrowing keeps the
    // relationships either end of which is asked for (the filter keeps the rows it names).
    let unnarrowed_objects = Narrowing {
        object: None,
        ..at.n.clone()
    };
    let unnarrowed = Reading {
        n: &unnarrowed_objects,
        ..*at
    };
    for model in unnarrowed.models().await? {
        for r in relationships(&model.metadata) {
            if !at.n.object_ok(&r.dependent) && !at.n.object_ok(&r.principal) {
                continue;
            }
            let fk_name = format!("FK_{}_{}", r.dependent, r.principal);
            let pk_name = primary_key_name(&r.principal);
            for (principal_column, dependent_column) in &r.columns {
                // Each pair twice: the dependent's column imports the key, the principal's
                // exports it.
                let dependent = (r.dependent.as_str(), dependent_column.as_str());
                let principal = (r.principal.as_str(), principal_column.as_str());
                for ((table, column), (other_table, other_column), kind) in [
                    (dependent, principal, "FOREIGNKEY_TYPE_IMPORT"),
                    (principal, dependent, "FOREIGNKEY_TYPE_EXPORT"),
                ] {
                    rows.0.push(vec![
                        text_cell(CATALOG),
                        text_cell(&model.service),
                        text_cell(table),
                        text_cell(column),
                        text_cell(&pk_name),
                        text_cell(&fk_name),
                        text_cell(CATALOG),
                        text_cell(&model.service),
                        text_cell(other_table),
                        text_cell(other_column),
                        text_cell(kind),
                    ]);
                }
            }
        }
    }
    Ok(())
}
