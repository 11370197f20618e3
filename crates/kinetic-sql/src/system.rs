//! The reference connector's system tables: `sys_catalogs`, `sys_schemas`, `sys_tables`,
//! `sys_tablecolumns`, `sys_primarykeys`, `sys_foreignkeys`, `sys_procedures`,
//! `sys_procedureparameters`, `sys_connection_props`, `sys_sqlinfo`.

use crate::catalog::Epicor;
use datafusion::datasource::TableProvider;
use datafusion::error::Result;
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

/// The system tables of a session.
#[derive(Debug)]
pub struct SystemTables {
    #[allow(dead_code)]
    epicor: Arc<Epicor>,
}

impl SystemTables {
    pub fn new(epicor: Arc<Epicor>) -> Self {
        SystemTables { epicor }
    }

    /// The system table `name` (any case), or `None`.
    pub async fn table(&self, _name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        Ok(None)
    }
}
