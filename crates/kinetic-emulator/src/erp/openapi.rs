//! OpenAPI 3 documents per service, generated from the same model as `$metadata`:
//! `api/swagger/v2/odata/{Service}.json` (entity sets) and `api/swagger/v2/methods/{Service}.json`
//! (BO methods); `v1` likewise.

use super::Ctx;
use crate::api_error::ApiError;
use crate::model::{self, ColType, Column, Service, Table};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value as J};

/// Routes under `api/swagger/`.
pub fn route(ctx: &Ctx, tail: &[&str]) -> Result<Response, ApiError> {
    let (version, kind, file) = match tail {
        [v @ ("v1" | "v2"), k @ ("odata" | "methods"), file] => (*v, *k, *file),
        _ => {
            return Err(ApiError::route_not_found(
                "OpenAPI documents are at api/swagger/v2/odata/{Service}.json and api/swagger/v2/methods/{Service}.json",
            ))
        }
    };
    let name = file.strip_suffix(".json").unwrap_or(file);
    let svc = model::service(name)
        .ok_or_else(|| ApiError::route_not_found(format!("Service {name} not found")))?;
    let doc = match kind {
        "odata" => odata_document(ctx, svc, version),
        _ => methods_document(ctx, svc, version),
    };
    Ok(axum::Json(doc).into_response())
}

fn server(ctx: &Ctx, svc: &Service, version: &str) -> J {
    let companies = ctx.state.config.company_ids();
    if version == "v2" {
        json!({"url": format!("{}api/v2/odata/{{Company}}/{}", ctx.base, svc.name),
               "variables": {"Company": {"default": ctx.state.config.default_company(), "enum": companies}}})
    } else {
        json!({"url": format!("{}api/v1/{}", ctx.base, svc.name)})
    }
}

fn security(version: &str) -> (J, J) {
    let mut schemes = json!({
        "basicAuth": {"type": "http", "scheme": "basic"},
        "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    });
    let mut requirement = vec![json!({"basicAuth": []}), json!({"bearerAuth": []})];
    if version == "v2" {
        schemes["apiKey"] = json!({"type": "apiKey", "in": "header", "name": "x-api-key"});
        requirement = vec![
            json!({"basicAuth": [], "apiKey": []}),
            json!({"bearerAuth": [], "apiKey": []}),
        ];
    }
    (schemes, J::Array(requirement))
}

/// The JSON schema of one column in a `version` answer. OData v3's JSON (v1) writes Edm.Int64 and
/// Edm.Decimal as strings, so that no digit is lost to a client's floating point; v1 reads either.
pub fn column_schema(c: &Column, version: &str) -> J {
    let as_text = |number: J, pattern: &str| json!({"anyOf": [number, {"type": "string", "pattern": pattern}]});
    let mut s = match c.ty {
        ColType::Int64 if version == "v1" => {
            as_text(json!({"type": "integer", "format": "int64"}), "^-?[0-9]+$")
        }
        ColType::Decimal { precision, scale } if version == "v1" => {
            let mut s = as_text(json!({"type": "number"}), "^-?[0-9]+(\\.[0-9]+)?$");
            s["x-precision"] = json!(precision);
            s["x-scale"] = json!(scale);
            s
        }
        ColType::String { max_len } => json!({"type": "string", "maxLength": max_len}),
        ColType::Int32 => json!({"type": "integer", "format": "int32"}),
        ColType::Int64 => json!({"type": "integer", "format": "int64"}),
        ColType::Decimal { precision, scale } => {
            json!({"type": "number", "format": "decimal", "x-precision": precision, "x-scale": scale})
        }
        ColType::Boolean => json!({"type": "boolean"}),
        // Epicor writes its timestamps without an offset (the server's local time), which is not
        // an RFC 3339 `date-time`; it reads either form.
        ColType::Date => json!({"type": "string", "anyOf": [
            {"format": "date-time"},
            {"pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?$"}],
            "description": "A timestamp; answers carry no offset (e.g. 2024-01-31T00:00:00)"}),
        ColType::Guid => json!({"type": "string", "format": "uuid"}),
    };
    if c.nullable {
        s["nullable"] = J::Bool(true);
    }
    s
}

fn row_schema(t: &Table, version: &str) -> J {
    let props: Map<String, J> = t
        .columns
        .iter()
        .map(|c| (c.name.to_string(), column_schema(c, version)))
        .collect();
    json!({"type": "object", "properties": props})
}

fn error_schema() -> J {
    json!({"type": "object", "properties": {
        "HttpStatus": {"type": "integer"}, "ReasonPhrase": {"type": "string"},
        "ErrorMessage": {"type": "string"}, "ErrorType": {"type": "string"},
        "ErrorDetails": {"type": "array", "items": {"type": "object", "properties": {
            "Message": {"type": "string"}, "Type": {"type": "string"}, "Table": {"type": "string"},
            "Field": {"type": "string"}, "Program": {"type": "string"}, "Method": {"type": "string"}}}},
        "CorrelationId": {"type": "string"}}})
}

fn error_responses() -> J {
    let e = json!({"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    // 403: a company the user may not use; 409: a duplicate key or a changed row (SysRevID).
    json!({"400": e, "401": e, "403": e, "404": e, "409": e})
}

/// The system query options of a collection: name, description, and the JSON type of the value.
const QUERY_PARAMETERS: &[(&str, &str, &str)] = &[
    ("$select", "Properties to return, comma separated", "string"),
    (
        "$filter",
        "OData filter expression, e.g. State eq 'MN'",
        "string",
    ),
    ("$orderby", "Sort order, e.g. Name desc", "string"),
    ("$expand", "Navigation properties to include", "string"),
    ("$top", "Rows to return (the server caps a page)", "integer"),
    ("$skip", "Rows to skip", "integer"),
    ("$count", "Include the total count", "boolean"),
];

fn query_parameters() -> J {
    let parameters: Vec<J> = QUERY_PARAMETERS
        .iter()
        .map(|&(name, desc, kind)| {
            let schema = match kind {
                "string" => json!({"type": kind, "minLength": 1}),
                "integer" => json!({"type": kind, "minimum": 0}),
                _ => json!({"type": kind}),
            };
            json!({"name": name, "in": "query", "required": false, "description": desc, "schema": schema})
        })
        .collect();
    J::Array(parameters)
}

/// The `Name({Company},{CustNum})` path template of a table's key, with its parameters.
fn key_path(t: &Table) -> (String, Vec<J>) {
    let parts: Vec<String> = t
        .key_columns()
        .map(|c| match c.ty {
            ColType::String { .. } => format!("'{{{}}}'", c.name),
            _ => format!("{{{}}}", c.name),
        })
        .collect();
    let params = t
        .key_columns()
        .map(
            // A key in the path is written as a number in either version ("v2": no string forms).
            |c| json!({"name": c.name, "in": "path", "required": true, "schema": column_schema(c, "v2")}),
        )
        .collect();
    (parts.join(","), params)
}

fn odata_document(ctx: &Ctx, svc: &Service, version: &str) -> J {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    schemas.insert("Error".into(), error_schema());
    for es in svc.entity_sets {
        let t = es.table;
        let row = t.entity_type();
        schemas.insert(row.clone(), row_schema(t, version));
        let r = json!({"$ref": format!("#/components/schemas/{row}")});
        let list =
            json!({"type": "object", "properties": {"value": {"type": "array", "items": r}}});
        let mut collection = json!({
            "get": {"summary": format!("Query {}", es.name), "operationId": format!("Get{}", es.name),
                    "parameters": query_parameters(),
                    "responses": {"200": {"description": "A page of rows", "content": {"application/json": {"schema": list}}}}},
            "post": {"summary": format!("Create a {} row", t.name), "operationId": format!("Create{}", t.name),
                     "requestBody": {"required": true, "content": {"application/json": {"schema": r}}},
                     "responses": {"201": {"description": "Created", "content": {"application/json": {"schema": r}}}}}
        });
        merge_errors(&mut collection);
        paths.insert(format!("/{}", es.name), collection);
        let (template, params) = key_path(t);
        let mut item = json!({
            "parameters": params,
            "get": {"summary": format!("Get one {} row by key", t.name), "operationId": format!("Get{}ByKey", t.name),
                    "responses": {"200": {"description": "The row", "content": {"application/json": {"schema": r}}}}},
            "patch": {"summary": format!("Update a {} row (partial)", t.name), "operationId": format!("Update{}", t.name),
                      "requestBody": {"required": true, "content": {"application/json": {"schema": r}}},
                      "responses": {"204": {"description": "Updated"}}},
            "put": {"summary": format!("Update a {} row (as PATCH: the columns given)", t.name), "operationId": format!("Replace{}", t.name),
                    "requestBody": {"required": true, "content": {"application/json": {"schema": r}}},
                    "responses": {"204": {"description": "Updated"}}},
            "delete": {"summary": format!("Delete a {} row", t.name), "operationId": format!("Delete{}", t.name),
                       "responses": {"204": {"description": "Deleted"}}}
        });
        merge_errors(&mut item);
        paths.insert(format!("/{}({template})", es.name), item);
    }
    let (schemes, requirement) = security(version);
    json!({
        "openapi": "3.0.3",
        "info": {"title": format!("{} (OData {})", svc.name, version), "version": "1.0.0",
                 "description": format!("Entity sets of {} on the kinetic emulator", svc.name)},
        "servers": [server(ctx, svc, version)],
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": schemes},
        "security": requirement
    })
}

fn merge_errors(path_item: &mut J) {
    if let Some(obj) = path_item.as_object_mut() {
        for (k, op) in obj.iter_mut() {
            if k == "parameters" {
                continue;
            }
            if let Some(resp) = op.get_mut("responses").and_then(J::as_object_mut) {
                for (code, v) in error_responses().as_object().expect("object") {
                    resp.insert(code.clone(), v.clone());
                }
            }
        }
    }
}

/// Adds to a method's path item a GET twin of its POST, the body's properties as query parameters.
fn also_on_get(item: &mut J) {
    let body = &item["post"]["requestBody"]["content"]["application/json"]["schema"];
    let required = &body["required"];
    let params: Vec<J> = body["properties"]
        .as_object()
        .map(|props| {
            props
                .iter()
                .map(|(name, schema)| {
                    let required = required
                        .as_array()
                        .is_some_and(|r| r.iter().any(|n| n == name.as_str()));
                    json!({"name": name, "in": "query", "required": required, "schema": schema})
                })
                .collect()
        })
        .unwrap_or_default();
    let mut get = item["post"].clone();
    if let Some(get) = get.as_object_mut() {
        get.remove("requestBody");
        get.insert("parameters".into(), J::Array(params));
    }
    item["get"] = get;
}

fn methods_document(ctx: &Ctx, svc: &Service, version: &str) -> J {
    let primary = svc.primary().table;
    let mut schemas = Map::new();
    schemas.insert("Error".into(), error_schema());
    let mut tableset = Map::new();
    for es in svc.entity_sets {
        schemas.insert(es.table.entity_type(), row_schema(es.table, version));
        tableset.insert(
            es.table.name.to_string(),
            json!({"type": "array", "items": {"$ref": format!("#/components/schemas/{}", es.table.entity_type())}}),
        );
    }
    // Real tablesets carry ExtensionTables beside the row tables (empty unless extended).
    tableset.insert(
        "ExtensionTables".into(),
        json!({"type": "array", "items": {"type": "object"}}),
    );
    schemas.insert(
        svc.tableset.to_string(),
        json!({"type": "object", "properties": tableset}),
    );
    let ds = json!({"$ref": format!("#/components/schemas/{}", svc.tableset)});
    let id_props: Map<String, J> = svc
        .id_params
        .iter()
        .zip(primary.key_columns().skip(1))
        .map(|(p, c)| (p.to_string(), column_schema(c, version)))
        .collect();
    let id_body = json!({"type": "object", "required": svc.id_params, "properties": id_props});
    let rows_body = json!({"type": "object", "properties": {
        "whereClause": {"type": "string", "description": "ABL-style condition, e.g. State = 'MN' BY Name"},
        "pageSize": {"type": "integer", "description": "Rows per page; 0 for all"},
        "absolutePage": {"type": "integer", "description": "Page number, from 1"}}});
    let mut paths = Map::new();
    let op = |summary: &str, body: J, result: J| {
        let mut o = json!({"post": {"summary": summary,
            "requestBody": {"required": true, "content": {"application/json": {"schema": body}}},
            "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": result}}}}}});
        merge_errors(&mut o);
        o
    };
    let ret = |schema: J| json!({"type": "object", "properties": {"returnObj": schema, "parameters": {"type": "object"}}});
    paths.insert(
        "/GetByID".into(),
        op(
            "Get a record with its child rows",
            id_body.clone(),
            ret(ds.clone()),
        ),
    );
    paths.insert(
        "/GetBySysRowID".into(),
        op(
            "Get a record with its child rows by its SysRowID",
            json!({"type": "object", "required": ["id"], "properties": {"id": {"type": "string", "format": "uuid"}}}),
            ret(ds.clone()),
        ),
    );
    paths.insert(
        "/GetBySysRowIDs".into(),
        op(
            "Get the records with these SysRowIDs, with their child rows",
            json!({"type": "object", "required": ["ids"], "properties": {"ids": {"type": "array", "items": {"type": "string", "format": "uuid"}}}}),
            ret(ds.clone()),
        ),
    );
    paths.insert(
        "/DeleteByID".into(),
        op(
            "Delete a record with its child rows",
            id_body,
            json!({"type": "object"}),
        ),
    );
    paths.insert(
        "/GetRows".into(),
        op(
            "Get a page of records with child rows",
            rows_body.clone(),
            ret(ds.clone()),
        ),
    );
    paths.insert(
        "/GetList".into(),
        op(
            "Get a page of list rows",
            rows_body,
            ret(json!({"type": "object", "properties": {
            format!("{}List", primary.name): {"type": "array", "items": {"type": "object"}}}})),
        ),
    );
    let ds_body = json!({"type": "object", "required": ["ds"], "properties": {"ds": ds}});
    paths.insert(
        "/Update".into(),
        op("Apply rows by RowMod (A, U, D)", ds_body.clone(), json!({"type": "object", "properties": {"parameters": {"type": "object", "properties": {"ds": ds}}}})),
    );
    let ext_body = json!({"type": "object", "required": ["ds"], "properties": {"ds": ds,
        "continueProcessingOnError": {"type": "boolean"}, "rollbackParentOnChildError": {"type": "boolean"}}});
    paths.insert(
        "/UpdateExt".into(),
        op("Add or update rows; errors reported per row", ext_body, json!({"type": "object", "properties": {
            "returnObj": {"type": "object", "properties": {"BOUpdError": {"type": "array", "items": {"type": "object"}}}},
            "parameters": {"type": "object", "properties": {"ds": ds, "errorsOccurred": {"type": "boolean"}}}}})),
    );
    for es in svc.entity_sets {
        paths.insert(
            format!("/GetNew{}", es.table.name),
            op(
                &format!("A new {} row with defaults", es.table.name),
                ds_body.clone(),
                json!({"type": "object"}),
            ),
        );
    }
    for name in super::methods::READ_ON_GET {
        if let Some(item) = paths.get_mut(&format!("/{name}")) {
            also_on_get(item);
        }
    }
    let (schemes, requirement) = security(version);
    json!({
        "openapi": "3.0.3",
        "info": {"title": format!("{} methods ({})", svc.name, version), "version": "1.0.0"},
        "servers": [server(ctx, svc, version)],
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": schemes},
        "security": requirement
    })
}
