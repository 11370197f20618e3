//! Epicor Functions: `POST api/v2/efx/{Company}/{Library}/{Function}` with a JSON object of inputs;
//! unpublished functions answer only under `api/v2/efx/staging/{Company}/...`. Like Epicor, a function
//! whose own logic fails still answers 200, with the failure in its outputs.

use super::entity::json_response;
use super::Ctx;
use crate::api_error::ApiError;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use rusqlite::params;
use serde_json::{json, Map, Value as J};

/// A function's declared input or output.
#[derive(Debug)]
pub struct Arg {
    pub name: &'static str,
    /// `System.String`, `System.Int32`, `System.Boolean`, `System.Decimal`.
    pub ty: &'static str,
}

/// One function of a library.
#[derive(Debug)]
pub struct EfxFunction {
    pub id: &'static str,
    pub description: &'static str,
    /// Published functions answer under `efx/{Company}`; the others only under `efx/staging/{Company}`.
    pub published: bool,
    pub inputs: &'static [Arg],
    pub outputs: &'static [Arg],
}

/// A function library.
#[derive(Debug)]
pub struct Library {
    pub id: &'static str,
    pub description: &'static str,
    pub functions: &'static [EfxFunction],
}

pub static LIBRARIES: &[Library] = &[Library {
    id: "CustomerTools",
    description: "Credit checks and holds for customers",
    functions: &[
        EfxFunction {
            id: "GetCreditStatus",
            description: "Credit hold, limit and open orders of a customer",
            published: true,
            inputs: &[Arg {
                name: "CustID",
                ty: "System.String",
            }],
            outputs: &[
                Arg {
                    name: "Found",
                    ty: "System.Boolean",
                },
                Arg {
                    name: "CreditHold",
                    ty: "System.Boolean",
                },
                Arg {
                    name: "CreditLimit",
                    ty: "System.Decimal",
                },
                Arg {
                    name: "OpenOrders",
                    ty: "System.Int32",
                },
                Arg {
                    name: "Message",
                    ty: "System.String",
                },
            ],
        },
        EfxFunction {
            id: "SetCreditHold",
            description: "Puts a customer on credit hold or releases it",
            published: true,
            inputs: &[
                Arg {
                    name: "CustID",
                    ty: "System.String",
                },
                Arg {
                    name: "Hold",
                    ty: "System.Boolean",
                },
            ],
            outputs: &[
                Arg {
                    name: "Success",
                    ty: "System.Boolean",
                },
                Arg {
                    name: "Message",
                    ty: "System.String",
                },
            ],
        },
        EfxFunction {
            id: "OrderSummary",
            description: "Line count and total of a sales order (staging only: not yet published)",
            published: false,
            inputs: &[Arg {
                name: "OrderNum",
                ty: "System.Int32",
            }],
            outputs: &[
                Arg {
                    name: "Found",
                    ty: "System.Boolean",
                },
                Arg {
                    name: "LineCount",
                    ty: "System.Int32",
                },
                Arg {
                    name: "OrderTotal",
                    ty: "System.Decimal",
                },
            ],
        },
    ],
}];

fn input_str(inputs: &Map<String, J>, name: &str) -> Result<String, ApiError> {
    match inputs.get(name) {
        None | Some(J::Null) => Ok(String::new()),
        Some(J::String(s)) => Ok(s.clone()),
        Some(other) => Err(ApiError::bad_request(format!(
            "input {name} must be a string (System.String), not {other}"
        ))),
    }
}

fn input_bool(inputs: &Map<String, J>, name: &str) -> Result<bool, ApiError> {
    match inputs.get(name) {
        None | Some(J::Null) => Ok(false),
        Some(J::Bool(b)) => Ok(*b),
        Some(other) => Err(ApiError::bad_request(format!(
            "input {name} must be true or false (System.Boolean), not {other}"
        ))),
    }
}

fn input_int(inputs: &Map<String, J>, name: &str) -> Result<i64, ApiError> {
    match inputs.get(name) {
        None | Some(J::Null) => Ok(0),
        Some(J::Number(n)) if n.is_i64() => Ok(n.as_i64().expect("i64")),
        Some(J::String(s)) if s.trim().parse::<i64>().is_ok() => {
            Ok(s.trim().parse().expect("checked"))
        }
        Some(other) => Err(ApiError::bad_request(format!(
            "input {name} must be an integer (System.Int32), not {other}"
        ))),
    }
}

/// Routes under `api/v2/efx/`.
pub async fn route(
    ctx: &mut Ctx,
    method: Method,
    tail: &[&str],
    body: &[u8],
) -> Result<Response, ApiError> {
    let (staging, tail) = match tail {
        ["staging", rest @ ..] => (true, rest),
        rest => (false, rest),
    };
    let Some((company, rest)) = tail.split_first() else {
        return Err(ApiError::route_not_found(
            "Epicor Functions are at api/v2/efx/{Company}/{Library}/{Function}",
        ));
    };
    if !ctx.state.config.has_company(company) {
        return Err(ApiError::bad_request(format!(
            "Company '{company}' is not valid on this server; valid: {}",
            ctx.state.config.company_ids().join(", ")
        )));
    }
    super::user_may_use(ctx, company)?;
    ctx.company = company.to_string();
    let visible = |f: &EfxFunction| staging || f.published;
    match rest {
        [] | [""] => {
            let libs: Vec<J> = LIBRARIES
                .iter()
                .map(|l| {
                    json!({"LibraryID": l.id, "Description": l.description,
                        "Functions": l.functions.iter().filter(|f| visible(f)).map(|f| json!({
                            "FunctionID": f.id, "Description": f.description, "Published": f.published,
                            "Inputs": f.inputs.iter().map(|a| json!({"Name": a.name, "Type": a.ty})).collect::<Vec<_>>(),
                            "Outputs": f.outputs.iter().map(|a| json!({"Name": a.name, "Type": a.ty})).collect::<Vec<_>>(),
                        })).collect::<Vec<_>>()})
                })
                .collect();
            Ok(json_response(
                StatusCode::OK,
                serde_json::to_vec(&json!({"value": libs})).expect("json"),
                ctx.version,
            ))
        }
        [lib, function] => {
            let l = LIBRARIES.iter().find(|l| l.id == *lib).ok_or_else(|| {
                ApiError::route_not_found(format!(
                    "Library {lib} is not found, not published or not mapped to company {company}"
                ))
            })?;
            let f = l.functions.iter().find(|f| f.id == *function && visible(f)).ok_or_else(|| {
                let hint = if l.functions.iter().any(|f| f.id == *function) {
                    format!(" (it is not published: call it under api/v2/efx/staging/{company}/{lib}/{function})")
                } else {
                    String::new()
                };
                ApiError::route_not_found(format!("Function {lib}/{function} is not found{hint}"))
            })?;
            if method != Method::POST {
                return Err(ApiError::method_not_allowed(
                    format!(
                        "Epicor Functions are called with POST and a JSON object of inputs, e.g. {{}}; not {method}"
                    ),
                    "POST",
                ));
            }
            let inputs = if body.iter().all(u8::is_ascii_whitespace) {
                Map::new()
            } else {
                super::rows::json_object(
                    body,
                    "the function's inputs, e.g. {\"CustID\": \"ADDIS0001\"}",
                )?
            };
            for k in inputs.keys() {
                if !f.inputs.iter().any(|a| a.name == k) {
                    return Err(ApiError::bad_request(format!(
                        "{lib}/{function} has no input {k}; its inputs: {}",
                        f.inputs
                            .iter()
                            .map(|a| a.name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
            }
            let out = run(ctx, f.id, &inputs).await?;
            Ok(json_response(
                StatusCode::OK,
                outputs_json(f, &out),
                ctx.version,
            ))
        }
        _ => Err(ApiError::route_not_found(format!(
            "no Epicor Function at {}; use api/v2/efx/{company}/{{Library}}/{{Function}}",
            rest.join("/")
        ))),
    }
}

/// Scale of `System.Decimal` outputs: they come from money columns (`decimal(17,3)`), and
/// .NET writes a decimal with its scale (`45000.000`).
const DECIMAL_SCALE: u32 = 3;

/// The outputs as JSON text, each `System.Decimal` written at [`DECIMAL_SCALE`] (never a
/// float's shortest form: `45000.0` is not what a server sends).
fn outputs_json(f: &EfxFunction, out: &J) -> Vec<u8> {
    let Some(members) = out.as_object() else {
        return serde_json::to_vec(out).expect("json");
    };
    let mut text = Vec::from(&b"{"[..]);
    for (i, (name, value)) in members.iter().enumerate() {
        if i > 0 {
            text.push(b',');
        }
        text.extend(serde_json::to_vec(name).expect("json"));
        text.push(b':');
        let decimal = f
            .outputs
            .iter()
            .any(|a| a.name == name && a.ty == "System.Decimal");
        match value.as_f64() {
            Some(x) if decimal => {
                super::rows::write_decimal(&mut text, x, DECIMAL_SCALE, super::rows::ApiVersion::V2)
            }
            _ => text.extend(serde_json::to_vec(value).expect("json")),
        }
    }
    text.push(b'}');
    text
}

async fn run(ctx: &Ctx, id: &str, inputs: &Map<String, J>) -> Result<J, ApiError> {
    let company = ctx.company.clone();
    match id {
        "GetCreditStatus" => {
            let cust_id = input_str(inputs, "CustID")?;
            ctx.state
                .db
                .read(move |conn| {
                    let row = conn
                        .prepare_cached("SELECT CustNum, CreditHold, CreditLimit FROM Customer WHERE Company = ?1 AND CustID = ?2")?
                        .query_row(params![company, cust_id], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, bool>(1)?, r.get::<_, f64>(2)?)));
                    match row {
                        Ok((cust_num, hold, limit)) => {
                            let open: i64 = conn
                                .prepare_cached("SELECT count(*) FROM OrderHed WHERE Company = ?1 AND CustNum = ?2 AND OpenOrder = 1")?
                                .query_row(params![company, cust_num], |r| r.get(0))?;
                            Ok(json!({"Found": true, "CreditHold": hold, "CreditLimit": limit, "OpenOrders": open, "Message": ""}))
                        }
                        Err(rusqlite::Error::QueryReturnedNoRows) => Ok(json!({"Found": false, "CreditHold": false, "CreditLimit": 0, "OpenOrders": 0,
                            "Message": format!("Customer {cust_id} not found in {company}")})),
                        Err(e) => Err(ApiError::from(e)),
                    }
                })
                .await
        }
        "SetCreditHold" => {
            let cust_id = input_str(inputs, "CustID")?;
            let hold = input_bool(inputs, "Hold")?;
            ctx.state
                .db
                .write(move |tx| {
                    let n = tx
                        .prepare_cached("UPDATE Customer SET CreditHold = ?3, SysRevID = SysRevID + 1 WHERE Company = ?1 AND CustID = ?2")?
                        .execute(params![company, cust_id, hold])?;
                    Ok::<_, ApiError>(if n == 1 {
                        json!({"Success": true, "Message": format!("Customer {cust_id} credit hold set to {hold}")})
                    } else {
                        json!({"Success": false, "Message": format!("Customer {cust_id} not found in {company}")})
                    })
                })
                .await
        }
        "OrderSummary" => {
            let order = input_int(inputs, "OrderNum")?;
            ctx.state
                .db
                .read(move |conn| {
                    let (n, total): (i64, f64) = conn
                        .prepare_cached("SELECT count(*), coalesce(sum(DocExtPriceDtl), 0) FROM OrderDtl WHERE Company = ?1 AND OrderNum = ?2")?
                        .query_row(params![company, order], |r| Ok((r.get(0)?, r.get(1)?)))?;
                    Ok::<_, ApiError>(json!({"Found": n > 0, "LineCount": n, "OrderTotal": (total * 1000.0).round() / 1000.0}))
                })
                .await
        }
        other => Err(ApiError::internal(format!(
            "function {other} has no implementation"
        ))),
    }
}
