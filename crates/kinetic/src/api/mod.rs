//! Typed calls on a [`Connection`]: entity sets (query, get by key, create, update, delete), BO
//! methods, BAQs and Epicor Functions.
//!
//! Queries are built with [`Connection::entity_set`] (or [`Connection::baq_query`] for a BAQ) and
//! read as a `Stream` of JSON rows with [`EntitySetQuery::rows`], of [`Record`]s typed from
//! `$metadata` (exact decimals, dates, GUIDs: see [`value`]) with [`EntitySetQuery::records`], or
//! of typed [`Page`]s, one per answer of the server, with [`EntitySetQuery::pages`] (for columnar
//! consumers: Arrow batches, DB-API `fetchmany`), paged underneath (see [`query`] for the rules,
//! `Parallelism` included) with memory bounded by a few pages. A BAQ is typed from its own
//! `$metadata` and paged by the same rules. Typing is strict: a cell that does not read as its
//! column's declared type is an [`Error::Protocol`] naming the row, the column, the type and the
//! value, never text in its place.

pub mod query;
pub mod tableset;
pub mod value;

pub use query::{EntitySetQuery, JsonPage, Page};
pub use tableset::Tableset;
pub use value::{Cell, Column, Record, TypeMismatch, Value as TypedValue};

use crate::http::{KeyValue, Method, Request, Response};
use crate::{Connection, Error, Result};
use serde_json::{Map, Value};

/// One row of an entity set or a BAQ: column name to value.
pub type Row = Map<String, Value>;

/// Whether `name` is spelt as BAQ parameters are named (letters, digits and `_`: `CustID`):
/// the test of a name when the server does not list the BAQ's parameters (when it does, the
/// list decides). No such name is one of OData's own (`$filter`, `@alias`) nor holds a
/// delimiter.
///
/// ```
/// use epicor_kinetic::api::is_baq_parameter_name;
/// assert!(is_baq_parameter_name("CustID"));
/// assert!(!is_baq_parameter_name("$filter"));
/// assert!(!is_baq_parameter_name("a&b"));
/// ```
pub fn is_baq_parameter_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_')
}

/// How a delete went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// The server deleted the row and said so.
    Now,
    /// The first attempt's answer was lost (the connection was cut after the server acted); the
    /// repeated DELETE found the row already gone.
    AnswerLost,
}

/// A service the server lists (`GET api/v1/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceInfo {
    /// Its name (`Erp.BO.CustomerSvc`).
    pub name: String,
    /// Its address, as the server gave it (may be relative).
    pub url: String,
}

/// An entity set of a service, from its `$metadata`.
#[derive(Debug, Clone, PartialEq)]
pub struct EntitySetInfo {
    /// Its name (`Customers`).
    pub name: String,
    /// Its entity type's qualified name.
    pub entity_type: String,
    /// Its columns (typed, key columns marked).
    pub columns: Vec<Column>,
    /// Its key columns, in order.
    pub key: Vec<String>,
    /// Its navigation properties (what `$expand` takes).
    pub navigation: Vec<String>,
}

impl EntitySetInfo {
    fn of(
        set: &epicor_kinetic_odata::csdl::EntitySet,
        ty: &epicor_kinetic_odata::csdl::EntityType,
    ) -> EntitySetInfo {
        EntitySetInfo {
            name: set.name.clone(),
            entity_type: set.entity_type.clone(),
            columns: Column::of(ty),
            key: ty.key.clone(),
            navigation: ty.navigation.iter().map(|n| n.name.clone()).collect(),
        }
    }
}

impl Connection {
    /// The services the server lists, in its order: `GET api/v1/` (or `api/v2/odata/{Company}/`).
    pub async fn services(&self) -> Result<Vec<ServiceInfo>> {
        let endpoint = self.pipeline().endpoints().services()?;
        let response = self.pipeline().send(Request::get(&endpoint)?).await?;
        let (rows, _) = query::page_rows(&response)?;
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                let name = row.get("name").and_then(Value::as_str)?.to_owned();
                let url = row
                    .get("url")
                    .and_then(Value::as_str)
                    .unwrap_or(&name)
                    .to_owned();
                Some(ServiceInfo { name, url })
            })
            .collect())
    }

    /// The entity sets of `service`, from its `$metadata`, in document order.
    pub async fn entity_sets(&self, service: &str) -> Result<Vec<EntitySetInfo>> {
        let metadata = self.metadata(service).await?;
        let mut sets = Vec::new();
        for schema in &metadata.schemas {
            let Some(container) = &schema.entity_container else {
                continue;
            };
            for set in &container.entity_sets {
                let (es, ty) = query::entity_of(&metadata, service, &set.name)?;
                sets.push(EntitySetInfo::of(es, ty));
            }
        }
        Ok(sets)
    }

    /// One entity set of `service` (see [`Connection::entity_sets`]); a name the service does not
    /// have is [`Error::NotFound`] listing the ones it has.
    pub async fn entity_set_info(&self, service: &str, set: &str) -> Result<EntitySetInfo> {
        let metadata = self.metadata(service).await?;
        let (es, ty) = query::entity_of(&metadata, service, set)?;
        Ok(EntitySetInfo::of(es, ty))
    }

    /// A query on `set` of `service` (`"Erp.BO.CustomerSvc"`, `"Customers"`), in the connection's
    /// API version. Nothing is sent until [`EntitySetQuery::rows`] or [`EntitySetQuery::count`].
    pub fn entity_set(&self, service: &str, set: &str) -> EntitySetQuery {
        EntitySetQuery::new(self, service, set)
    }

    /// A query on the results of BAQ `baq_id`, read as an entity set is: typed from the BAQ's
    /// own `$metadata` (`BaqSvc/{id}/$metadata`) with [`EntitySetQuery::pages`] and
    /// [`EntitySetQuery::records`], or as JSON with [`EntitySetQuery::rows`], paged by the same
    /// rules (links, `$top`/`$skip`, repeats dropped by the BAQ's key when its `$metadata` gives
    /// one). Its parameters go with [`EntitySetQuery::parameter`]; `$filter`, `$select`,
    /// `$orderby` apply as to entity sets. Without an order of the caller's, rows come in the
    /// BAQ's own order (no `$orderby` is sent); [`EntitySetQuery::count`] reads the server's
    /// inline count.
    pub fn baq_query(&self, baq_id: &str) -> EntitySetQuery {
        EntitySetQuery::baq(self, baq_id)
    }

    /// One row by its key, in key order with `Company` first (`&["EPIC06".into(), 45.into()]`).
    /// OData annotations (`@odata.context`, `odata.metadata`) are removed. A missing row is
    /// [`Error::NotFound`].
    pub async fn get_by_key(&self, service: &str, set: &str, keys: &[KeyValue]) -> Result<Row> {
        let endpoint = self
            .pipeline()
            .endpoints()
            .service(service)?
            .keyed(set, keys);
        let response = self.pipeline().send(Request::get(&endpoint)?).await?;
        let value: Value = response.json()?;
        match value {
            Value::Object(row) => Ok(strip_annotations(row)),
            _ => Err(protocol(&response, "the row is not a JSON object")),
        }
    }

    /// One row by its key, typed from `$metadata` (see [`Record`]), with the navigations of
    /// `expand` (OData text, e.g. `OrderDtls($select=PartNum)`) read with it.
    pub async fn get_record(
        &self,
        service: &str,
        set: &str,
        keys: &[KeyValue],
        expand: Option<&str>,
    ) -> Result<Record> {
        let columns = self.record_columns(service, set, expand).await?;
        let mut endpoint = self
            .pipeline()
            .endpoints()
            .service(service)?
            .keyed(set, keys);
        if let Some(e) = expand {
            endpoint = endpoint.query("$expand", e);
        }
        let response = self.pipeline().send(Request::get(&endpoint)?).await?;
        Record::from_json(&columns, &response.text()).map_err(|e| in_answer(&response, e))
    }

    /// Creates a row as [`Connection::create`] does, and types the row the server answered with.
    pub async fn create_record(
        &self,
        service: &str,
        set: &str,
        row: &Value,
    ) -> Result<Option<Record>> {
        let columns = self.record_columns(service, set, None).await?;
        let Some(response) = self.post_row(service, set, row).await? else {
            return Ok(None);
        };
        Record::from_json(&columns, &response.text())
            .map(Some)
            .map_err(|e| in_answer(&response, e))
    }

    /// Every column of `set` (and the navigations of `expand`), from `$metadata`.
    async fn record_columns(
        &self,
        service: &str,
        set: &str,
        expand: Option<&str>,
    ) -> Result<std::sync::Arc<Vec<Column>>> {
        let mut query = self.entity_set(service, set);
        if let Some(e) = expand {
            query = query.expand(e)?;
        }
        query.columns().await
    }

    /// Creates a row: `POST` to the entity set. Returns the row the server answered with (its
    /// annotations removed), or `None` when it answered without a body.
    pub async fn create(&self, service: &str, set: &str, row: &Value) -> Result<Option<Row>> {
        let Some(response) = self.post_row(service, set, row).await? else {
            return Ok(None);
        };
        match response.json()? {
            Value::Object(row) => Ok(Some(strip_annotations(row))),
            _ => Err(protocol(&response, "the created row is not a JSON object")),
        }
    }

    /// `POST`s `row` to the entity set; the answer, or `None` when it has no body.
    async fn post_row(&self, service: &str, set: &str, row: &Value) -> Result<Option<Response>> {
        let endpoint = self.pipeline().endpoints().service(service)?.segment(set);
        let response = self
            .pipeline()
            .send(Request::post(&endpoint)?.json(row)?)
            .await?;
        Ok((!response.body().iter().all(u8::is_ascii_whitespace)).then_some(response))
    }

    /// Updates a row: `PATCH` with only the columns to change.
    pub async fn update(
        &self,
        service: &str,
        set: &str,
        keys: &[KeyValue],
        changes: &Value,
    ) -> Result<()> {
        let endpoint = self
            .pipeline()
            .endpoints()
            .service(service)?
            .keyed(set, keys);
        self.pipeline()
            .send(Request::to(Method::PATCH, &endpoint)?.json(changes)?)
            .await?;
        Ok(())
    }

    /// Deletes a row by its key. A DELETE is repeated after a cut connection; when the first
    /// attempt did the deletion and only its answer was lost, the repeat finds the row gone:
    /// that is [`Deleted::AnswerLost`], a success, not "not found".
    pub async fn delete(&self, service: &str, set: &str, keys: &[KeyValue]) -> Result<Deleted> {
        let endpoint = self
            .pipeline()
            .endpoints()
            .service(service)?
            .keyed(set, keys);
        let response = self
            .pipeline()
            .send(Request::to(Method::DELETE, &endpoint)?)
            .await?;
        Ok(if response.answer_lost() {
            Deleted::AnswerLost
        } else {
            Deleted::Now
        })
    }

    /// Calls a BO method: `POST {service}/{method}` with named parameters (`{"custNum": 12}`;
    /// `Null` sends `{}`). The answer is Epicor's `{"returnObj": ..., "parameters": {...}}`, as is.
    /// Methods are not retried after ambiguous failures (they may write); a read-only method can
    /// be sent through [`Connection::pipeline`] with [`Request::idempotent`].
    pub async fn call(&self, service: &str, method: &str, parameters: &Value) -> Result<Value> {
        let response = self.call_response(service, method, parameters).await?;
        json_or_null(&response)
    }

    /// [`Connection::call`]'s answer as the JSON text the server sent ("" for none): for
    /// printing numbers as written (`serde_json::Value` holds them as floats, so `53500.000`
    /// would read as `53500.0`).
    pub async fn call_text(
        &self,
        service: &str,
        method: &str,
        parameters: &Value,
    ) -> Result<String> {
        let response = self.call_response(service, method, parameters).await?;
        Ok(response.text())
    }

    async fn call_response(
        &self,
        service: &str,
        method: &str,
        parameters: &Value,
    ) -> Result<Response> {
        let endpoint = self
            .pipeline()
            .endpoints()
            .service(service)?
            .segment(method);
        let body = object_or_empty(parameters);
        self.pipeline()
            .send(Request::post(&endpoint)?.json(&body)?)
            .await
    }

    /// `GetByID` of a BO: its `returnObj` tableset, kept exactly as sent (see [`Tableset`]).
    /// `parameters` are the method's named keys (`{"custNum": 12}`).
    pub async fn get_by_id(&self, service: &str, parameters: &Value) -> Result<Tableset> {
        let answer = self.call(service, "GetByID", parameters).await?;
        match answer {
            Value::Object(mut map) => match map.remove("returnObj") {
                Some(ds) => Tableset::from_value(ds),
                None => Err(malformed(format!(
                    "{service}/GetByID answered without a returnObj"
                ))),
            },
            _ => Err(malformed(format!(
                "{service}/GetByID answered something other than an object"
            ))),
        }
    }

    /// `Update` of a BO with a tableset as read from [`Connection::get_by_id`] and changed with
    /// [`Tableset::set`]: every value goes back in the server's own encoding. Returns the tableset
    /// the server answered (`parameters.ds`: the rows as now stored, new `SysRevID`s included).
    pub async fn update_tableset(&self, service: &str, ds: &Tableset) -> Result<Tableset> {
        let body = serde_json::json!({ "ds": ds.as_value() });
        let answer = self.call(service, "Update", &body).await?;
        match answer.get("parameters").and_then(|p| p.get("ds")) {
            Some(ds) => Tableset::from_value(ds.clone()),
            None => Err(malformed(format!(
                "{service}/Update answered without parameters.ds"
            ))),
        }
    }

    /// Writes one row of an updatable BAQ: `PATCH` to its data with the FULL row, as read from
    /// [`Connection::baq`] and changed (keys and unchanged columns included, as real servers
    /// expect; a partial row may be refused).
    pub async fn baq_update(&self, baq_id: &str, row: &Row) -> Result<()> {
        let endpoint = self.pipeline().endpoints().baq(baq_id)?;
        let row = strip_annotations(row.clone());
        self.pipeline()
            .send(Request::to(Method::PATCH, &endpoint)?.json(&Value::Object(row))?)
            .await?;
        Ok(())
    }

    /// The BAQs the server lists (`GET BaqSvc/`): each row as the server sent it (Epicor's
    /// `QueryID`, `Description`, and its parameters where it gives them).
    pub async fn baq_list(&self) -> Result<Vec<Row>> {
        let endpoint = self.pipeline().endpoints().service("BaqSvc")?;
        let response = self.pipeline().send(Request::get(&endpoint)?).await?;
        let (rows, _) = query::page_rows(&response)?;
        Ok(rows)
    }

    /// The rows of a BAQ with its parameters (`&[("CustID", "KEYST0045")]`), as JSON: v1
    /// `BaqSvc/{id}/?P=V` or v2 `BaqSvc/{id}/Data?P=V`, as the connection's `ApiVersion` says.
    ///
    /// The rows of [`Connection::baq_query`] with those parameters, collected: paged as entity
    /// sets are, since no source settles whether servers cap BAQ answers (`$top` = `Pagesize` and
    /// `$skip` until an empty page, following `@odata.nextLink` when the server gives one; a
    /// server that ignores `$top`, one answer with every row, ends the paging; one that ignores
    /// `$skip` is an error). `MaxRows` limits the rows. Rows are in the BAQ's own order (its
    /// definition's sort). The BAQ's `$metadata` is read once (for its key).
    pub async fn baq(&self, baq_id: &str, parameters: &[(&str, &str)]) -> Result<Vec<Row>> {
        use futures_util::TryStreamExt as _;
        let mut query = self.baq_query(baq_id);
        for (name, value) in parameters {
            query = query.parameter(name, value);
        }
        query.rows().try_collect().await
    }

    /// The Epicor Function libraries of the connection's company (`GET api/v2/efx/{Company}`),
    /// each row as the server sent it (its id, description and functions with their inputs and
    /// outputs); `staging` lists unpublished ones too.
    pub async fn function_libraries(&self, staging: bool) -> Result<Vec<Row>> {
        let endpoint = self.pipeline().endpoints().function_libraries(staging)?;
        let response = self.pipeline().send(Request::get(&endpoint)?).await?;
        let (rows, _) = query::page_rows(&response)?;
        Ok(rows)
    }

    /// Runs an Epicor Function (v2 only, whatever the connection's `ApiVersion`):
    /// `POST api/v2/efx/{Company}/{library}/{function}`, or under `staging/` for an unpublished
    /// library. `inputs` is a JSON object (`Null` sends `{}`); the outputs come back as a JSON
    /// object. Functions answer 200 even when their own logic failed: check their outputs.
    pub async fn function(
        &self,
        library: &str,
        function: &str,
        inputs: &Value,
        staging: bool,
    ) -> Result<Value> {
        let response = self
            .function_response(library, function, inputs, staging)
            .await?;
        json_or_null(&response)
    }

    /// [`Connection::function`]'s outputs as the JSON text the server sent ("" for none), for
    /// printing numbers as written.
    pub async fn function_text(
        &self,
        library: &str,
        function: &str,
        inputs: &Value,
        staging: bool,
    ) -> Result<String> {
        let response = self
            .function_response(library, function, inputs, staging)
            .await?;
        Ok(response.text())
    }

    async fn function_response(
        &self,
        library: &str,
        function: &str,
        inputs: &Value,
        staging: bool,
    ) -> Result<Response> {
        let endpoint = self
            .pipeline()
            .endpoints()
            .function(library, function, staging)?;
        let body = object_or_empty(inputs);
        self.pipeline()
            .send(Request::post(&endpoint)?.json(&body)?)
            .await
    }
}

fn object_or_empty(value: &Value) -> Value {
    match value {
        Value::Null => Value::Object(Map::new()),
        other => other.clone(),
    }
}

fn json_or_null(response: &Response) -> Result<Value> {
    if response.body().iter().all(u8::is_ascii_whitespace) {
        Ok(Value::Null)
    } else {
        response.json()
    }
}

/// Removes OData annotations (`@odata.*`, `odata.*`) from a row.
fn strip_annotations(mut row: Row) -> Row {
    row.retain(|k, _| !(k.starts_with("@odata.") || k.starts_with("odata.")));
    row
}

/// A method's answer without what it must carry.
fn malformed(message: String) -> Error {
    Error::Protocol {
        status: None,
        message,
        correlation_id: None,
        source: None,
    }
}

/// A protocol error about a row of `response`'s body, placed in that answer (its status and path).
fn in_answer(response: &Response, error: Error) -> Error {
    match error {
        Error::Protocol {
            message, source, ..
        } => Error::Protocol {
            status: Some(response.status().as_u16()),
            message: format!("the answer from {}: {message}", response.url().path()),
            correlation_id: None,
            source,
        },
        other => other,
    }
}

fn protocol(response: &Response, what: &str) -> Error {
    Error::Protocol {
        status: Some(response.status().as_u16()),
        message: format!("the answer from {}: {what}", response.url().path()),
        correlation_id: None,
        source: None,
    }
}
