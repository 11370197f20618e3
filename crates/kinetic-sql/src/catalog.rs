//! Every service a schema, its entity sets tables; BAQs in schema `BaqSvc`; the system tables
//! and unqualified names in the default schema.
//!
//! Names are matched without regard to case (as Epicor matches them). A service is a schema
//! under its full name (`"Erp.BO.CustomerSvc"`) and its short alias (`CustomerSvc`, when no
//! other service shares it). Unqualified names resolve as `server.rs` says (the connection's
//! `Service` first, then the one service that has a table of that name).

use crate::names::decode_baq_name;
use crate::server::{closeness, external};
use crate::system::SystemTables;
use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, SchemaProvider};
use datafusion::datasource::TableProvider;
use datafusion::error::{DataFusionError, Result};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

pub use crate::names::{alias_of, BAQ_SCHEMA, CATALOG, DEFAULT_SCHEMA};
pub use crate::server::{BaqInfo, ServerModel};

/// The catalog: one schema per service, `BaqSvc`, the default schema, and the schemas a
/// caller registers (the PostgreSQL server's `pg_catalog` and `information_schema`).
#[derive(Debug)]
pub struct EpicorCatalog {
    server: Arc<ServerModel>,
    system: Arc<SystemTables>,
    registered: RwLock<BTreeMap<String, Arc<dyn SchemaProvider>>>,
}

impl EpicorCatalog {
    pub fn new(server: Arc<ServerModel>, system: Arc<SystemTables>) -> Self {
        EpicorCatalog {
            server,
            system,
            registered: RwLock::default(),
        }
    }
}

impl CatalogProvider for EpicorCatalog {
    fn schema_names(&self) -> Vec<String> {
        let mut names = vec![DEFAULT_SCHEMA.to_owned(), BAQ_SCHEMA.to_owned()];
        names.extend(self.server.services().iter().map(|s| s.name.clone()));
        names.extend(
            self.registered
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .keys()
                .cloned(),
        );
        names
    }

    /// Registers a schema of the caller's (exact name; a service's name cannot be taken).
    fn register_schema(
        &self,
        name: &str,
        schema: Arc<dyn SchemaProvider>,
    ) -> Result<Option<Arc<dyn SchemaProvider>>> {
        if name == DEFAULT_SCHEMA
            || name.eq_ignore_ascii_case(BAQ_SCHEMA)
            || self.server.service(name).is_some()
        {
            return Err(DataFusionError::Plan(format!(
                "schema {name} is the server's own: it cannot be replaced"
            )));
        }
        Ok(self
            .registered
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_owned(), schema))
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if let Some(schema) = self
            .registered
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
        {
            return Some(schema.clone());
        }
        if name == DEFAULT_SCHEMA {
            return Some(Arc::new(DefaultSchema {
                server: self.server.clone(),
                system: self.system.clone(),
            }));
        }
        if name.eq_ignore_ascii_case(BAQ_SCHEMA) {
            return Some(Arc::new(BaqSchema {
                server: self.server.clone(),
            }));
        }
        let service = self.server.service(name)?.to_owned();
        Some(Arc::new(ServiceSchema {
            server: self.server.clone(),
            service,
        }))
    }
}

/// A service's entity sets.
#[derive(Debug)]
struct ServiceSchema {
    server: Arc<ServerModel>,
    service: String,
}

#[async_trait]
impl SchemaProvider for ServiceSchema {
    fn table_names(&self) -> Vec<String> {
        // Listing needs `$metadata` (a request): see `sys_tables`.
        Vec::new()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        match self
            .server
            .entity_set_table(&self.service, name)
            .await
            .map_err(external)?
        {
            Some(t) => Ok(Some(Arc::new(t))),
            None => {
                let sets = self
                    .server
                    .conn
                    .entity_sets(&self.service)
                    .await
                    .map_err(external)?;
                let names: Vec<&str> = sets.iter().map(|s| s.name.as_str()).collect();
                let close = names.iter().find(|n| closeness(name, n).is_some());
                Err(DataFusionError::Plan(format!(
                    "{} has no table {name}{}; its tables: {}",
                    self.service,
                    close.map_or(String::new(), |n| format!(" (did you mean {n}?)")),
                    names.join(", ")
                )))
            }
        }
    }

    fn table_exist(&self, _name: &str) -> bool {
        false
    }
}

/// The BAQs: `BaqSvc.zCustomerList`, and with parameters (rewritten from
/// `BaqSvc.zOrdersByCustomer('ADDIS0001')` before planning, see [`crate::rewrite`]).
#[derive(Debug)]
struct BaqSchema {
    server: Arc<ServerModel>,
}

#[async_trait]
impl SchemaProvider for BaqSchema {
    fn table_names(&self) -> Vec<String> {
        Vec::new()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let Some((id, parameters)) = decode_baq_name(name) else {
            return Err(DataFusionError::Plan(format!(
                "BaqSvc.\"{name}\" is not a BAQ's name: write BaqSvc.zCustomerList, or pass parameters as BaqSvc.zOrdersByCustomer(CustID => 'value')"
            )));
        };
        let baqs = self.server.baqs().await.map_err(external)?;
        let Some(info) = baqs.iter().find(|b| b.id.eq_ignore_ascii_case(&id)) else {
            let ids: Vec<&str> = baqs.iter().map(|b| b.id.as_str()).collect();
            return Err(DataFusionError::Plan(format!(
                "the server has no BAQ {id}; its BAQs: {}",
                ids.join(", ")
            )));
        };
        let parameters = baq_parameters(info, parameters).map_err(DataFusionError::Plan)?;
        let missing: Vec<&str> = info
            .parameters
            .iter()
            .filter(|(p, required)| {
                *required && !parameters.iter().any(|(n, _)| n.eq_ignore_ascii_case(p))
            })
            .map(|(p, _)| p.as_str())
            .collect();
        let mut parameters = parameters;
        if !missing.is_empty() && crate::planning_only() {
            // Planned, never run: the request shows where each value goes.
            parameters.extend(missing.iter().map(|p| (p.to_string(), format!("{{{p}}}"))));
        } else if !missing.is_empty() {
            return Err(DataFusionError::Plan(format!(
                "BAQ {} needs the parameter{} {}: call it as a table function, e.g. SELECT * FROM BaqSvc.{}('value') or BaqSvc.{}({} => 'value')",
                info.id,
                if missing.len() > 1 { "s" } else { "" },
                missing.join(", "),
                info.id,
                info.id,
                missing[0]
            )));
        }
        let table = self
            .server
            .baq_table(&info.id, parameters)
            .await
            .map_err(external)?;
        Ok(Some(Arc::new(table)))
    }

    fn table_exist(&self, _name: &str) -> bool {
        false
    }
}

/// The parameters `given` to the BAQ `info`, checked, each under the name the server lists
/// (written in any case: Epicor reads query names without regard to case, as it does every
/// name). Refused, as the statement's fault: a name beginning with `$` or `@` (OData's own:
/// `$filter` would filter the rows behind SQL's back), a name the server's list does not hold
/// (an empty list: the BAQ takes none), a name given twice; when the server does not list the
/// BAQ's parameters, a name not spelt as parameters are (letters, digits and `_`).
fn baq_parameters(
    info: &BaqInfo,
    given: Vec<(String, String)>,
) -> std::result::Result<Vec<(String, String)>, String> {
    let mut checked: Vec<(String, String)> = Vec::with_capacity(given.len());
    for (name, value) in given {
        if let Some(why) = epicor_kinetic::http::custom_option_error(&name) {
            return Err(format!(
                "BAQ {}: {why}; filter, order and limit its rows with WHERE, ORDER BY and LIMIT",
                info.id
            ));
        }
        let name = if info.parameters_listed {
            match info
                .parameters
                .iter()
                .find(|(p, _)| p.eq_ignore_ascii_case(&name))
            {
                Some((listed, _)) => listed.clone(),
                None if info.parameters.is_empty() => {
                    return Err(format!(
                        "BAQ {} has no parameter {name}: it takes none",
                        info.id
                    ))
                }
                None => {
                    return Err(format!(
                        "BAQ {} has no parameter {name}; its parameters: {}",
                        info.id,
                        info.parameters
                            .iter()
                            .map(|(p, r)| if *r {
                                format!("{p} (required)")
                            } else {
                                p.clone()
                            })
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                }
            }
        } else if epicor_kinetic::api::is_baq_parameter_name(&name) {
            name
        } else {
            return Err(format!(
                "BAQ {}: `{name}` is not a parameter name (the server does not list the BAQ's parameters, and their names are letters, digits and _)",
                info.id
            ));
        };
        if checked.iter().any(|(n, _)| *n == name) {
            return Err(format!("BAQ {} parameter {name} is given twice", info.id));
        }
        checked.push((name, value));
    }
    Ok(checked)
}

/// System tables and unqualified names.
#[derive(Debug)]
struct DefaultSchema {
    server: Arc<ServerModel>,
    system: Arc<SystemTables>,
}

#[async_trait]
impl SchemaProvider for DefaultSchema {
    fn table_names(&self) -> Vec<String> {
        crate::system::NAMES.iter().map(|s| s.to_string()).collect()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if let Some(t) = self.system.table(name).await? {
            return Ok(Some(t));
        }
        match self.server.resolve(name).await? {
            Some(t) => Ok(Some(Arc::new(t))),
            None => Err(DataFusionError::Plan(format!(
                "no service has a table {name}{}; list the tables with SELECT * FROM sys_tables, or qualify the name with its service (e.g. CustomerSvc.Customers)",
                match &self.server.conn.settings().service {
                    Some(s) => format!(" (looked in Service={s} first)"),
                    None => String::new(),
                }
            ))),
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        crate::system::NAMES
            .iter()
            .any(|s| s.eq_ignore_ascii_case(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn baq(parameters: Option<&[(&str, bool)]>) -> BaqInfo {
        BaqInfo {
            id: "zX".into(),
            description: String::new(),
            parameters: parameters
                .unwrap_or_default()
                .iter()
                .map(|(n, r)| (n.to_string(), *r))
                .collect(),
            parameters_listed: parameters.is_some(),
            updatable: false,
        }
    }

    fn given(names: &[&str]) -> Vec<(String, String)> {
        names.iter().map(|n| (n.to_string(), "v".into())).collect()
    }

    fn names(r: std::result::Result<Vec<(String, String)>, String>) -> Vec<String> {
        r.unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|(n, _)| n)
            .collect()
    }

    #[test]
    fn listed_parameters_decide_and_are_sent_as_listed() {
        let listed = baq(Some(&[("CustID", true), ("MinQty", false)]));
        assert_eq!(
            names(baq_parameters(&listed, given(&["custid", "MINQTY"]))),
            ["CustID", "MinQty"]
        );
        for bad in [
            "Nope",
            "$filter",
            "$FILTER",
            " $top",
            "@p",
            "CustID&$filter",
        ] {
            assert!(baq_parameters(&listed, given(&[bad])).is_err(), "{bad}");
        }
        let twice = baq_parameters(&listed, given(&["CustID", "custid"])).unwrap_err();
        assert!(twice.contains("twice"), "{twice}");
        // Listed, and empty: the BAQ takes none.
        let none = baq(Some(&[]));
        let e = baq_parameters(&none, given(&["CustID"])).unwrap_err();
        assert!(e.contains("takes none"), "{e}");
        assert!(baq_parameters(&none, Vec::new()).is_ok());
    }

    #[test]
    fn unlisted_parameters_must_be_spelt_as_names() {
        let unlisted = baq(None);
        assert_eq!(
            names(baq_parameters(&unlisted, given(&["CustID", "Min_Qty2"]))),
            ["CustID", "Min_Qty2"]
        );
        for bad in [
            "$filter",
            "%24filter",
            "@p",
            "a&b",
            "a=b",
            "a;b",
            "a b",
            "a#b",
            "a?b",
            "",
            "a\nb",
        ] {
            let e = baq_parameters(&unlisted, given(&[bad])).unwrap_err();
            assert!(e.contains("BAQ zX"), "{bad}: {e}");
        }
    }
}
