//! What the catalog knows of the server: its services (and their aliases), its BAQs, and the
//! service each unqualified table name resolved to. An unqualified table resolves to the
//! connection's `Service` first, then to the one service that has a table of that name; a name
//! more than one service has is an error listing them.

use crate::names::{alias_of, may_hold, BAQ_SCHEMA, SEARCH_ALL_UP_TO};
use crate::stats::Transfer;
use crate::table::{ODataTable, Source};
use datafusion::error::{DataFusionError, Result};
use epicor_kinetic::api::ServiceInfo;
use epicor_kinetic::{Connection, ErrorKind};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What the catalog knows of the server.
#[derive(Debug)]
pub struct ServerModel {
    pub(crate) conn: Connection,
    /// The services the server lists, in its order (read before the first statement is
    /// planned: see [`ServerModel::load_services`]).
    services: tokio::sync::OnceCell<Vec<ServiceInfo>>,
    pub(crate) transfer: Transfer,
    /// Unqualified names already resolved: lower-case name → service.
    resolved: Mutex<HashMap<String, String>>,
    /// The BAQ list (id → parameter names, required flags), once read.
    baqs: tokio::sync::OnceCell<Vec<BaqInfo>>,
}

/// A BAQ from the server's list.
#[derive(Debug, Clone)]
pub struct BaqInfo {
    pub id: String,
    pub description: String,
    /// Its parameters (name, required), as the server lists them.
    pub parameters: Vec<(String, bool)>,
    /// Whether the server lists its parameters at all: when it does, an empty list means the
    /// BAQ takes none.
    pub parameters_listed: bool,
    /// Whether it writes back (the list's `Updatable`).
    pub updatable: bool,
}

impl ServerModel {
    pub fn new(conn: Connection, transfer: Transfer) -> Arc<ServerModel> {
        Arc::new(ServerModel {
            conn,
            services: tokio::sync::OnceCell::new(),
            transfer,
            resolved: Mutex::new(HashMap::new()),
            baqs: tokio::sync::OnceCell::new(),
        })
    }

    /// Reads the server's list of services, once (`GET api/v1/`).
    pub async fn load_services(&self) -> epicor_kinetic::Result<&[ServiceInfo]> {
        self.services
            .get_or_try_init(|| self.conn.services())
            .await
            .map(Vec::as_slice)
    }

    /// The services, as loaded (none before [`ServerModel::load_services`]).
    pub fn services(&self) -> &[ServiceInfo] {
        self.services.get().map_or(&[], Vec::as_slice)
    }

    /// The service named `name` (full name or unique alias, any case).
    pub fn service(&self, name: &str) -> Option<&str> {
        if let Some(s) = self
            .services()
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
        {
            return Some(&s.name);
        }
        let mut by_alias = self
            .services()
            .iter()
            .filter(|s| alias_of(&s.name).eq_ignore_ascii_case(name));
        match (by_alias.next(), by_alias.next()) {
            (Some(s), None) => Some(&s.name),
            _ => None,
        }
    }

    /// The alias a service is also reachable by (`CustomerSvc`), when it is unique.
    pub fn alias<'a>(&self, service: &'a str) -> Option<&'a str> {
        let alias = alias_of(service);
        let unique = self
            .services()
            .iter()
            .filter(|s| alias_of(&s.name).eq_ignore_ascii_case(alias))
            .count()
            == 1;
        (unique && alias != service).then_some(alias)
    }

    /// The BAQs the server lists.
    pub async fn baqs(&self) -> epicor_kinetic::Result<&[BaqInfo]> {
        self.baqs
            .get_or_try_init(|| async {
                let rows = self.conn.baq_list().await?;
                Ok(rows
                    .iter()
                    .filter_map(|r| {
                        let id = r
                            .get("QueryID")
                            .or_else(|| r.get("Id"))
                            .or_else(|| r.get("id"))
                            .and_then(|v| v.as_str())?
                            .to_owned();
                        let description = r
                            .get("Description")
                            .and_then(|v| v.as_str())
                            .unwrap_or_default()
                            .to_owned();
                        let listed = r.get("Parameters").and_then(|v| v.as_array());
                        let parameters_listed = listed.is_some();
                        let parameters = listed
                            .map(|ps| {
                                ps.iter()
                                    .filter_map(|p| {
                                        let name = p.get("Name")?.as_str()?.to_owned();
                                        let required = p
                                            .get("Required")
                                            .and_then(|v| v.as_bool())
                                            .unwrap_or(false);
                                        Some((name, required))
                                    })
                                    .collect()
                            })
                            .unwrap_or_default();
                        let updatable = r
                            .get("Updatable")
                            .and_then(|v| v.as_bool())
                            .unwrap_or(false);
                        Some(BaqInfo {
                            id,
                            description,
                            parameters,
                            parameters_listed,
                            updatable,
                        })
                    })
                    .collect())
            })
            .await
            .map(Vec::as_slice)
    }

    /// The table `set` of `service` (any case), or `None` when the service has none.
    pub async fn entity_set_table(
        &self,
        service: &str,
        set: &str,
    ) -> epicor_kinetic::Result<Option<ODataTable>> {
        let sets = self.conn.entity_sets(service).await?;
        let Some(info) = sets.iter().find(|s| s.name.eq_ignore_ascii_case(set)) else {
            return Ok(None);
        };
        Ok(Some(ODataTable::new(
            self.conn.clone(),
            Source::EntitySet {
                service: service.to_owned(),
                set: info.name.clone(),
            },
            info.columns.clone(),
            info.key.clone(),
            self.transfer.clone(),
        )))
    }

    /// The BAQ `id` with `parameters` as a table.
    pub async fn baq_table(
        &self,
        id: &str,
        parameters: Vec<(String, String)>,
    ) -> epicor_kinetic::Result<ODataTable> {
        let mut query = self.conn.baq_query(id);
        for (n, v) in &parameters {
            query = query.parameter(n, v);
        }
        let columns = query.columns().await?;
        let key = columns
            .iter()
            .filter(|c| c.key)
            .map(|c| c.name.clone())
            .collect();
        Ok(ODataTable::new(
            self.conn.clone(),
            Source::Baq {
                id: id.to_owned(),
                parameters,
            },
            columns.as_ref().clone(),
            key,
            self.transfer.clone(),
        ))
    }

    /// An unqualified table: the connection's `Service` first, then the one service that has
    /// it.
    pub(crate) async fn resolve(&self, name: &str) -> Result<Option<ODataTable>> {
        let cached = self
            .resolved
            .lock()
            .expect("the resolution cache is never poisoned")
            .get(&name.to_ascii_lowercase())
            .cloned();
        if let Some(service) = cached {
            return self
                .entity_set_table(&service, name)
                .await
                .map_err(external);
        }
        if let Some(service) = self.conn.settings().service.clone() {
            let service = self.service(&service).unwrap_or(&service).to_owned();
            if let Some(t) = self
                .entity_set_table(&service, name)
                .await
                .map_err(external)?
            {
                return Ok(Some(t));
            }
        }
        let services = self.load_services().await.map_err(external)?;
        let data_services = services.iter().filter(|s| holds_tables(&s.name));
        let candidates: Vec<&ServiceInfo> = if services.len() <= SEARCH_ALL_UP_TO {
            data_services.collect()
        } else {
            data_services.filter(|s| may_hold(&s.name, name)).collect()
        };
        let lookups: Vec<_> = candidates
            .into_iter()
            .map(|s| self.lookup(s.name.clone(), name.to_owned()))
            .collect();
        let found: Vec<(String, std::result::Result<Option<ODataTable>, String>)> =
            futures_util::stream::iter(lookups)
                .buffered(8)
                .collect::<Vec<_>>()
                .await
                .into_iter()
                .collect::<epicor_kinetic::Result<Vec<_>>>()
                .map_err(external)?;
        let mut hits: Vec<(String, ODataTable)> = Vec::new();
        let mut unread: Vec<String> = Vec::new();
        for (service, t) in found {
            match t {
                Ok(Some(t)) => hits.push((service, t)),
                Ok(None) => {}
                Err(e) => unread.push(format!("{service}: {e}")),
            }
        }
        if !unread.is_empty() {
            tracing::debug!(unread = ?unread, "services whose $metadata could not be read while resolving {name}");
        }
        match hits.len() {
            0 if !unread.is_empty() => Err(DataFusionError::Plan(format!(
                "no service read has a table {name}, and {} could not be read ({}); qualify the name with its service (e.g. CustomerSvc.Customers)",
                unread.len(),
                unread.iter().take(3).cloned().collect::<Vec<_>>().join("; ")
            ))),
            0 => Err(DataFusionError::Plan(format!(
                "no service has a table {name}{}",
                self.did_you_mean(name).await
            ))),
            1 => {
                let (service, table) = hits.pop().expect("one hit");
                self.resolved
                    .lock()
                    .expect("the resolution cache is never poisoned")
                    .insert(name.to_ascii_lowercase(), service);
                Ok(Some(table))
            }
            _ => {
                let names: Vec<String> = hits
                    .iter()
                    .map(|(s, t)| format!("\"{s}\".{}", set_name(t)))
                    .collect();
                Err(DataFusionError::Plan(format!(
                    "table {name} is ambiguous: {} services have it ({}); qualify it with its service, e.g. {}, or set Service=",
                    names.len(),
                    names.join(", "),
                    names[0]
                )))
            }
        }
    }
}

impl ServerModel {
    /// `; did you mean Customers (Erp.BO.CustomerSvc)?` for a name close to tables the
    /// services already read have (their `$metadata` is cached), or nothing.
    async fn did_you_mean(&self, name: &str) -> String {
        let mut close: Vec<(f64, String)> = Vec::new();
        for service in self.services().iter().filter(|s| holds_tables(&s.name)) {
            let Ok(sets) = self.conn.entity_sets(&service.name).await else {
                continue;
            };
            for set in sets.iter() {
                if let Some(score) = closeness(name, &set.name) {
                    close.push((score, format!("{} ({})", set.name, service.name)));
                }
            }
        }
        close.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        close.dedup_by(|a, b| a.1 == b.1);
        match close.len() {
            0 => String::new(),
            _ => format!(
                "; did you mean {}?",
                close
                    .iter()
                    .take(3)
                    .map(|(_, n)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
        }
    }

    /// `service`'s table `name`: `None` when it has none (or no `$metadata`: a 404 or 405, as
    /// procedural services answer), an error kept aside when its `$metadata` cannot be read for
    /// reasons of its own (not licensed, a server fault); sign-in and network failures end the
    /// search.
    async fn lookup(
        &self,
        service: String,
        name: String,
    ) -> epicor_kinetic::Result<(String, std::result::Result<Option<ODataTable>, String>)> {
        match self.entity_set_table(&service, &name).await {
            Ok(t) => Ok((service, Ok(t))),
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::Unauthorized
                        | ErrorKind::SessionExpired
                        | ErrorKind::Transport
                        | ErrorKind::InvalidSettings
                        | ErrorKind::ConfigFile
                ) =>
            {
                Err(e)
            }
            Err(e) if matches!(e.status(), Some(404 | 405)) => {
                tracing::debug!(%service, error = %e, "no $metadata: a service without tables");
                Ok((service, Ok(None)))
            }
            Err(e) => Ok((service, Err(e.to_string()))),
        }
    }
}

/// How close a misspelt table name is to `candidate` (1.0 equal, any case), when close enough
/// to suggest it.
pub(crate) fn closeness(name: &str, candidate: &str) -> Option<f64> {
    let score = strsim::normalized_damerau_levenshtein(
        &name.to_ascii_lowercase(),
        &candidate.to_ascii_lowercase(),
    );
    (score >= 0.7).then_some(score)
}

/// Whether a service of the server's list can hold tables: not `BaqSvc` (BAQs are the
/// `BaqSvc` schema's, listed by their own route) nor `Ice.Lib.SessionModSvc` (Epicor's
/// session and licence service, which has methods only).
pub(crate) fn holds_tables(service: &str) -> bool {
    !service.eq_ignore_ascii_case(BAQ_SCHEMA)
        && !service.eq_ignore_ascii_case("Ice.Lib.SessionModSvc")
}

fn set_name(t: &ODataTable) -> String {
    match t.source() {
        Source::EntitySet { set, .. } => set.clone(),
        Source::Baq { id, .. } => id.clone(),
    }
}

pub(crate) fn external(e: epicor_kinetic::Error) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}
