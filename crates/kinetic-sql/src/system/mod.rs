//! The reference connector's system tables: `sys_catalogs`, `sys_schemas`, `sys_tables`,
//! `sys_tablecolumns`, `sys_primarykeys`, `sys_foreignkeys`, `sys_procedures`,
//! `sys_procedureparameters`, `sys_connection_props`, `sys_sqlinfo`, in the default schema
//! (`SELECT * FROM sys_tables` needs no qualifier), with the reference's column names.
//!
//! They are computed when a query reads them, never at planning (`EXPLAIN` sends nothing):
//! the tables describing entity sets read each service's `$metadata` (cached by the
//! connection), at most [`CONCURRENCY`] at a time. A service whose `$metadata` fails for reasons
//! of its own (not found, forbidden, a document that does not parse) is left out with a warning
//! in the log; sign-in and network failures end the query.
//!
//! Equality filters on `CatalogName`, `SchemaName` and `TableName` (`ProcedureName` for the
//! procedure tables), `=` or `IN`, narrow what is read: `WHERE SchemaName =
//! 'Erp.BO.CustomerSvc'` reads that service's `$metadata` only, `WHERE TableName = 'Customers'`
//! reads no BAQ's. Names there match in any case; the filter itself is then applied as written.
//! Without a `SchemaName` filter, the connection's `Service` limits the services listed, as the
//! reference does; and on a server listing more than 64 services a `TableName` filter alone
//! searches the services whose name contains the table's (as unqualified table names resolve).

mod metadata;
mod procedures;
mod properties;
mod scan;
mod shape;

pub use shape::{Direction, SqlType};

use crate::names::CATALOG;
use crate::server::ServerModel;
use datafusion::datasource::TableProvider;
use datafusion::error::{DataFusionError, Result};
use epicor_kinetic::ErrorKind;
use scan::{Narrowing, SystemTable};
use shape::{text_cell, Rows, SysTable};
use std::sync::Arc;

/// The system tables' names.
pub const NAMES: &[&str] = &[
    "sys_catalogs",
    "sys_schemas",
    "sys_tables",
    "sys_tablecolumns",
    "sys_primarykeys",
    "sys_foreignkeys",
    "sys_procedures",
    "sys_procedureparameters",
    "sys_connection_props",
    "sys_sqlinfo",
];

/// How many `$metadata` documents (services' or BAQs') are read at once.
pub const CONCURRENCY: usize = 8;

/// What a secret's value is shown as in `sys_connection_props` when it is set.
pub const MASK: &str = "********";

/// The first part of an Epicor Function's schema (`efx.CustomerTools`).
pub const EFX: &str = "efx";

/// The system tables of a session.
#[derive(Debug)]
pub struct SystemTables {
    server: Arc<ServerModel>,
    unreadable: Arc<Unreadable>,
}

/// The services whose `$metadata` failed for good (not found, forbidden, not a document) in
/// this session: not asked again. A server error is not remembered (it may pass).
#[derive(Debug, Default)]
pub(super) struct Unreadable(std::sync::Mutex<std::collections::BTreeMap<String, String>>);

impl Unreadable {
    pub(super) fn get(&self, service: &str) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(service)
            .cloned()
    }

    pub(super) fn remember(&self, service: &str, e: &epicor_kinetic::Error) {
        if matches!(
            e.kind(),
            ErrorKind::NotFound | ErrorKind::Forbidden | ErrorKind::Protocol | ErrorKind::Rejected
        ) {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(service.to_owned(), e.to_string());
        }
    }
}

impl SystemTables {
    /// The system tables over `server`, what the catalog knows of the server.
    pub fn new(server: Arc<ServerModel>) -> Self {
        SystemTables {
            server,
            unreadable: Arc::default(),
        }
    }

    /// The system table `name` (any case); `None` for a name that is not one (an entity set);
    /// an error naming the system tables for an unknown name that starts with `sys_`.
    pub async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if let Some(which) = SysTable::of(name) {
            return Ok(Some(Arc::new(SystemTable {
                which,
                server: self.server.clone(),
                unreadable: self.unreadable.clone(),
                schema: which.schema(),
            })));
        }
        if name
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("sys_"))
        {
            let hint = epicor_kinetic::did_you_mean::closest(name, NAMES.iter().copied())
                .map(|n| format!("did you mean {n}? "))
                .unwrap_or_default();
            return Err(DataFusionError::Plan(format!(
                "there is no system table {name}; {hint}the system tables are {}",
                NAMES.join(", ")
            )));
        }
        Ok(None)
    }
}

impl Rows {
    async fn compute(
        which: SysTable,
        server: &ServerModel,
        unreadable: &Unreadable,
        n: &Narrowing,
    ) -> Result<Rows> {
        let mut rows = Rows::default();
        let at = metadata::Reading {
            server,
            unreadable,
            n,
        };
        match which {
            SysTable::Catalogs => rows.0.push(vec![text_cell(CATALOG)]),
            SysTable::Schemas => {
                for schema in metadata::schemas(server).await? {
                    rows.0.push(vec![text_cell(CATALOG), text_cell(schema)]);
                }
            }
            SysTable::Tables => metadata::tables(&at, &mut rows).await?,
            SysTable::TableColumns => metadata::table_columns(&at, &mut rows).await?,
            SysTable::PrimaryKeys => metadata::primary_keys(&at, &mut rows).await?,
            SysTable::ForeignKeys => metadata::foreign_keys(&at, &mut rows).await?,
            SysTable::Procedures | SysTable::ProcedureParameters => {
                procedures::procedures(which, server, n, &mut rows).await?
            }
            SysTable::ConnectionProps => {
                properties::connection_props(server.conn.settings(), &mut rows)
            }
            SysTable::SqlInfo => {
                for (name, value) in properties::SQL_INFO {
                    rows.0.push(vec![text_cell(*name), text_cell(*value)]);
                }
            }
        }
        Ok(rows)
    }
}
