//! Procedures: `EXEC name @p = v, ...` / `EXECUTE name p = v, ...` / `CALL name(p => v, ...)`.
//!
//! Arguments are literals: numbers, `'text'` (`N'text'` too), `TRUE`, `FALSE`, `NULL`; names
//! are matched without regard to case, with or without a leading `@`. Three kinds of procedure:
//!
//! - **The OAuth web procedures** of the reference connector, for an application that owns the
//!   browser (connection with `OAuthGrantType=CODE`; see [`OAUTH_PROCEDURES`]):
//!   `GetOAuthAuthorizationURL` (`CallbackUrl`, `Scope`; answers `URL`),
//!   `GetOAuthAccessToken` (`Verifier` required: the code or the whole redirect URL; `AuthMode`
//!   `WEB`; `CallbackUrl`; answers `OAuthAccessToken`, `ExpiresIn`) and
//!   `RefreshOAuthAccessToken` (`OAuthRefreshToken`; answers `OAuthAccessToken`, `ExpiresIn`).
//!   The refresh token is kept in the connection's encrypted token store
//!   (`OAuthSettingsLocation`), never returned; the PKCE verifier and `state` of a pending
//!   sign-in are kept there too, between the calls.
//! - **BO methods**: `EXEC "Erp.BO.CustomerSvc".GetByID @custNum = 1` or
//!   `CALL CustomerSvc.GetByID(custNum => 1)`: the service by its full name or alias, the
//!   method last; parameters are sent by name as Epicor's JSON body. One row: a column per
//!   top-level key of the answer (`returnObj`, `parameters`), objects and arrays as JSON text,
//!   scalars as text.
//! - **Epicor Functions**: `CALL efx.CustomerTools.GetCreditStatus(CustID => 'ADDIS0001')`, or
//!   `efx.staging.Library.Function` for an unpublished library. `efx` is not a service (service
//!   names begin with their namespace, `Erp.`, `Ice.`, ...; `efx` is the segment of Epicor's
//!   Functions API), so the names cannot collide. One row: a column per output parameter, as
//!   text (as BO methods).

pub use crate::literal::Literal;
use crate::{Param, QueryResult, SqlError, SqlSession};
use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::sql::sqlparser::ast::{
    DataType, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, UnaryOperator, Value,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
use serde_json::{Map, Value as Json};
use std::sync::Arc;

/// A parameter of a procedure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcedureParameter {
    /// Its name, as the reference connector spells it.
    pub name: &'static str,
    /// Whether a call must give it.
    pub required: bool,
    /// What it is.
    pub description: &'static str,
}

/// A procedure the connector itself implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Procedure {
    /// Its name, as the reference connector spells it.
    pub name: &'static str,
    /// What it does.
    pub description: &'static str,
    /// Its parameters.
    pub parameters: &'static [ProcedureParameter],
    /// The columns of the row it answers.
    pub columns: &'static [&'static str],
}

/// The OAuth web procedures, with the reference connector's names (what `sys_procedures` and
/// `sys_procedureparameters` list).
pub const OAUTH_PROCEDURES: &[Procedure] = &[
    Procedure {
        name: "GetOAuthAuthorizationURL",
        description: "The URL a user signs in at (OAuthGrantType=CODE); the PKCE verifier and state are kept in the token store for GetOAuthAccessToken",
        parameters: &[
            ProcedureParameter {
                name: "CallbackUrl",
                required: false,
                description: "Where the identity provider redirects after the sign-in (default: the connection's CallbackURL)",
            },
            ProcedureParameter {
                name: "Scope",
                required: false,
                description: "The scopes to request, space separated (default: the connection's Scope)",
            },
            ProcedureParameter {
                name: "State",
                required: false,
                description: "Not supported: the connector sends a random state of its own and checks it on the redirect",
            },
        ],
        columns: &["URL"],
    },
    Procedure {
        name: "GetOAuthAccessToken",
        description: "Redeems the code of the redirect and stores the tokens; the refresh token stays in the encrypted token store and is not returned",
        parameters: &[
            ProcedureParameter {
                name: "Verifier",
                required: true,
                description: "The code of the redirect, or the whole redirect URL (its state is then checked)",
            },
            ProcedureParameter {
                name: "AuthMode",
                required: false,
                description: "WEB (the default and only value: the connection's own sign-in is the APP mode)",
            },
            ProcedureParameter {
                name: "CallbackUrl",
                required: false,
                description: "The redirect URL given to GetOAuthAuthorizationURL",
            },
        ],
        columns: &["OAuthAccessToken", "ExpiresIn"],
    },
    Procedure {
        name: "RefreshOAuthAccessToken",
        description: "A new access token from the stored refresh token (or the one given), stored in its place",
        parameters: &[ProcedureParameter {
            name: "OAuthRefreshToken",
            required: false,
            description: "The refresh token to use (default: the one in the token store)",
        }],
        columns: &["OAuthAccessToken", "ExpiresIn"],
    },
];

impl Procedure {
    /// Whether the procedure answers a credential (an access token): refused with
    /// `CredentialProcedures=false` (see [`crate::limits`]).
    pub fn returns_credentials(&self) -> bool {
        self.columns.contains(&"OAuthAccessToken")
    }
}

/// A procedure call, parsed: its name (the parts of a dotted name, unquoted) and its arguments
/// (name without `@`, when given; value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub name: Vec<String>,
    pub arguments: Vec<(Option<String>, Literal)>,
}

impl Call {
    /// `CALL name(p => v, ...)`, as sqlparser parsed it.
    pub(crate) fn from_function(f: &Function) -> Result<Call, SqlError> {
        let name = f
            .name
            .0
            .iter()
            .map(|p| {
                p.as_ident().map(|i| i.value.clone()).ok_or_else(|| {
                    SqlError::invalid(format!("CALL {}: not a procedure name", f.name))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut arguments = Vec::new();
        match &f.args {
            FunctionArguments::None => {}
            FunctionArguments::List(list) => {
                if !list.clauses.is_empty() || list.duplicate_treatment.is_some() {
                    return Err(SqlError::invalid(format!(
                        "CALL {}: arguments are literals, name => value",
                        f.name
                    )));
                }
                for a in &list.args {
                    let (name, value) = match a {
                        FunctionArg::Named { name, arg, .. } => (Some(name.value.clone()), arg),
                        FunctionArg::ExprNamed {
                            name: Expr::Identifier(name),
                            arg,
                            ..
                        } => (Some(name.value.clone()), arg),
                        FunctionArg::Unnamed(arg) => (None, arg),
                        other => {
                            return Err(SqlError::invalid(format!(
                                "CALL {}: {other} is not an argument (write name => value)",
                                f.name
                            )))
                        }
                    };
                    let FunctionArgExpr::Expr(e) = value else {
                        return Err(SqlError::invalid(format!(
                            "CALL {}: {value} is not a literal",
                            f.name
                        )));
                    };
                    let name = name.map(|n| n.trim_start_matches('@').to_owned());
                    arguments.push((name, literal_of(e)?));
                }
            }
            FunctionArguments::Subquery(_) => {
                return Err(SqlError::invalid(format!(
                    "CALL {}: arguments are literals, not a query",
                    f.name
                )))
            }
        }
        Ok(Call { name, arguments })
    }
}

fn literal_of(e: &Expr) -> Result<Literal, SqlError> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::Null => Ok(Literal::Null),
            Value::Boolean(b) => Ok(Literal::Bool(*b)),
            Value::Number(n, _) => Ok(Literal::Number(n.to_string())),
            Value::SingleQuotedString(s) | Value::NationalStringLiteral(s) => {
                Ok(Literal::Text(s.clone()))
            }
            other => Err(SqlError::invalid(format!(
                "{other} is not an argument a procedure takes (numbers, 'text', TRUE, FALSE, NULL)"
            ))),
        },
        // What a bound float, date or timestamp parameter becomes (see `params`).
        Expr::Cast {
            expr: inner,
            data_type,
            ..
        } => match (literal_of(inner)?, data_type) {
            (Literal::Text(t), DataType::Double(_))
                if t.parse::<f64>().is_ok_and(f64::is_finite) =>
            {
                Ok(Literal::Number(t))
            }
            (Literal::Text(t), DataType::Date | DataType::Timestamp(..)) => Ok(Literal::Text(t)),
            _ => Err(SqlError::invalid(format!(
                "{e} is not a literal: procedure arguments are numbers, 'text', TRUE, FALSE or NULL"
            ))),
        },
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => match literal_of(expr)? {
            Literal::Number(n) => Ok(Literal::Number(format!("-{n}"))),
            _ => Err(SqlError::invalid(format!("{e} is not a number"))),
        },
        other => Err(SqlError::invalid(format!(
            "{other} is not a literal: procedure arguments are numbers, 'text', TRUE, FALSE or NULL"
        ))),
    }
}

/// `EXEC ...`/`EXECUTE ...`, or `None` for any other statement.
/// `params` are bound to its `?` markers, in order.
pub(crate) fn parse_exec(sql: &str, params: &[Param]) -> Result<Option<Call>, SqlError> {
    let dialect = GenericDialect {};
    let Ok(tokens) = Tokenizer::new(&dialect, sql).tokenize() else {
        // Not for us to judge: the SQL parser says what is wrong.
        return Ok(None);
    };
    let mut tokens = tokens
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .peekable();
    match tokens.next() {
        Some(Token::Word(w))
            if w.quote_style.is_none()
                && (w.value.eq_ignore_ascii_case("EXEC")
                    || w.value.eq_ignore_ascii_case("EXECUTE")) => {}
        _ => return Ok(None),
    }
    let syntax = |what: String| {
        SqlError::invalid(format!(
            "EXEC: {what}; write EXEC name @param = value, ... (e.g. EXEC GetOAuthAuthorizationURL @CallbackUrl = 'http://localhost:5000', or EXEC \"Erp.BO.CustomerSvc\".GetByID @custNum = 1)"
        ))
    };
    // The name: words joined by dots.
    let mut name = Vec::new();
    loop {
        match tokens.next() {
            Some(Token::Word(w)) => name.push(w.value),
            other => {
                return Err(syntax(format!(
                    "a procedure name was expected, not {}",
                    shown(other)
                )))
            }
        }
        if tokens.peek() == Some(&Token::Period) {
            tokens.next();
        } else {
            break;
        }
    }
    let mut arguments = Vec::new();
    let mut markers = 0;
    loop {
        match tokens.peek() {
            None | Some(Token::EOF) => break,
            Some(Token::SemiColon) => {
                tokens.next();
                match tokens.next() {
                    None | Some(Token::EOF) => break,
                    other => {
                        return Err(syntax(format!(
                            "give one statement at a time (found {} after ;)",
                            shown(other)
                        )))
                    }
                }
            }
            _ => {}
        }
        if !arguments.is_empty() {
            match tokens.next() {
                Some(Token::Comma) => {}
                other => {
                    return Err(syntax(format!(
                        "a comma between arguments was expected, not {}",
                        shown(other)
                    )))
                }
            }
        }
        // `@name =`, `name =` or a bare value.
        let mut pending: Vec<Token> = Vec::new();
        let mut param = None;
        match tokens.next() {
            Some(Token::AtSign) => match tokens.next() {
                Some(Token::Word(w)) => param = Some(w.value),
                other => {
                    return Err(syntax(format!(
                        "a parameter name after @, not {}",
                        shown(other)
                    )))
                }
            },
            Some(Token::Word(w)) if w.quote_style.is_some() || !is_literal_word(&w.keyword) => {
                param = Some(w.value)
            }
            Some(t) => pending.push(t),
            None => return Err(syntax("an argument was expected".into())),
        }
        if let Some(p) = &param {
            match tokens.next() {
                Some(Token::Eq) | Some(Token::RArrow) => {}
                other => {
                    return Err(syntax(format!(
                        "= after the parameter {p} was expected, not {}",
                        shown(other)
                    )))
                }
            }
        }
        let first = match pending.pop() {
            Some(t) => Some(t),
            None => tokens.next(),
        };
        let value = match first {
            Some(Token::Placeholder(p)) if p == "?" => {
                markers += 1;
                match params.get(markers - 1) {
                    Some(v) => v.literal()?,
                    None => Literal::Null, // The count is checked below.
                }
            }
            Some(Token::Placeholder(p)) => {
                return Err(syntax(format!(
                    "parameter marker {p}: markers are ? (paramstyle qmark)"
                )))
            }
            Some(Token::Number(n, _)) => Literal::Number(n),
            Some(Token::Minus) => match tokens.next() {
                Some(Token::Number(n, _)) => Literal::Number(format!("-{n}")),
                other => return Err(syntax(format!("a number after -, not {}", shown(other)))),
            },
            Some(Token::SingleQuotedString(s)) | Some(Token::NationalStringLiteral(s)) => {
                Literal::Text(s)
            }
            Some(Token::Word(w)) if w.quote_style.is_none() && w.keyword == Keyword::TRUE => {
                Literal::Bool(true)
            }
            Some(Token::Word(w)) if w.quote_style.is_none() && w.keyword == Keyword::FALSE => {
                Literal::Bool(false)
            }
            Some(Token::Word(w)) if w.quote_style.is_none() && w.keyword == Keyword::NULL => {
                Literal::Null
            }
            other => {
                return Err(syntax(format!(
                    "a literal value (number, 'text', TRUE, FALSE, NULL) was expected, not {}",
                    shown(other)
                )))
            }
        };
        let param = param.map(|p| p.trim_start_matches('@').to_owned());
        arguments.push((param, value));
    }
    crate::params::check_question_count(markers, params.len())?;
    Ok(Some(Call { name, arguments }))
}

fn is_literal_word(k: &Keyword) -> bool {
    matches!(k, Keyword::TRUE | Keyword::FALSE | Keyword::NULL)
}

fn shown(t: Option<Token>) -> String {
    match t {
        None | Some(Token::EOF) => "the end".into(),
        Some(t) => format!("'{t}'"),
    }
}

/// Runs a procedure.
pub(crate) async fn call(session: &SqlSession, call: Call) -> Result<QueryResult, SqlError> {
    let full = call.name.join(".");
    if let [one] = call.name.as_slice() {
        if let Some(p) = OAUTH_PROCEDURES
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(one))
        {
            if p.returns_credentials() && !session.limits().credential_procedures {
                return Err(SqlError::invalid(format!(
                    "{}: this connection does not run procedures that answer credentials (CredentialProcedures=false): the access token is the connection's, not for SQL to read. Sign in with `kinetic login`, or in the application that owns the connection",
                    p.name
                )));
            }
            return oauth(session, p, &call.arguments).await;
        }
        return Err(SqlError::invalid(format!(
            "no procedure {one}: the procedures are {}, BO methods as Service.Method (EXEC \"Erp.BO.CustomerSvc\".GetByID @custNum = 1) and Epicor Functions as efx.Library.Function",
            OAUTH_PROCEDURES
                .iter()
                .map(|p| p.name)
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let conn = session.connection();
    if call.name[0].eq_ignore_ascii_case("efx") {
        let (staging, library, function) = match &call.name[1..] {
            [lib, f] => (false, lib, f),
            [s, lib, f] if s.eq_ignore_ascii_case("staging") => (true, lib, f),
            _ => {
                return Err(SqlError::invalid(format!(
                    "{full}: an Epicor Function is called as efx.Library.Function (or efx.staging.Library.Function for an unpublished library)"
                )))
            }
        };
        let inputs = named(&full, &call.arguments)?;
        let outputs = conn
            .function(library, function, &Json::Object(inputs), staging)
            .await
            .map_err(|e| {
                SqlError::connector_in(format!("Epicor Function {library}/{function}"), e)
            })?;
        return row_of_object(outputs);
    }
    let (method, service) = call.name.split_last().expect("two parts or more");
    let service = service.join(".");
    session.server.load_services().await?;
    let Some(resolved) = session.server.service(&service).map(str::to_owned) else {
        return Err(SqlError::invalid(format!(
            "{full}: the server has no service {service} (name a BO method as Service.Method, the service by its full name or alias, e.g. \"Erp.BO.CustomerSvc\".GetByID or CustomerSvc.GetByID; list the services with SELECT * FROM sys_schemas)"
        )));
    };
    let parameters = named(&full, &call.arguments)?;
    let answer = conn
        .call(&resolved, method, &Json::Object(parameters))
        .await
        .map_err(|e| SqlError::connector_in(format!("{resolved}/{method}"), e))?;
    row_of_object(answer)
}

/// Arguments that must all be named, as a JSON object.
fn named(
    full: &str,
    arguments: &[(Option<String>, Literal)],
) -> Result<Map<String, Json>, SqlError> {
    let mut out = Map::new();
    for (name, value) in arguments {
        let Some(name) = name else {
            return Err(SqlError::invalid(format!(
                "{full}: name every argument (@custNum = 1, or custNum => 1): Epicor takes parameters by name"
            )));
        };
        if out.insert(name.clone(), value.to_json()).is_some() {
            return Err(SqlError::invalid(format!("{full}: {name} is given twice")));
        }
    }
    Ok(out)
}

/// One row: a column per key of `answer` (objects and arrays as JSON text, scalars as text).
fn row_of_object(answer: Json) -> Result<QueryResult, SqlError> {
    let map = match answer {
        Json::Object(m) => m,
        Json::Null => Map::new(),
        other => {
            let mut m = Map::new();
            m.insert("value".into(), other);
            m
        }
    };
    let columns: Vec<(String, ArrayRef)> = map
        .into_iter()
        .map(|(k, v)| {
            let text = match v {
                Json::Null => None,
                Json::String(s) => Some(s),
                other => Some(other.to_string()),
            };
            (k, Arc::new(StringArray::from(vec![text])) as ArrayRef)
        })
        .collect();
    one_row(columns)
}

fn one_row(columns: Vec<(String, ArrayRef)>) -> Result<QueryResult, SqlError> {
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|(n, a)| Field::new(n, a.data_type().clone(), true))
            .collect::<Vec<_>>(),
    ));
    let batch = if columns.is_empty() {
        RecordBatch::new_empty(schema.clone())
    } else {
        RecordBatch::try_new(
            schema.clone(),
            columns.into_iter().map(|(_, a)| a).collect(),
        )
        .map_err(|e| SqlError::from(datafusion::error::DataFusionError::from(e)))?
    };
    let stream =
        RecordBatchStreamAdapter::new(schema.clone(), futures_util::stream::iter([Ok(batch)]));
    Ok(QueryResult::new(schema, Box::pin(stream)))
}

/// The arguments of an OAuth procedure by its parameters' names (any case, `@` or not;
/// positional ones in the parameters' order).
fn bind(
    p: &Procedure,
    arguments: &[(Option<String>, Literal)],
) -> Result<Vec<Option<String>>, SqlError> {
    let mut values: Vec<Option<Option<String>>> = vec![None; p.parameters.len()];
    for (i, (name, value)) in arguments.iter().enumerate() {
        let at = match name {
            Some(n) => p
                .parameters
                .iter()
                .position(|q| q.name.eq_ignore_ascii_case(n))
                .ok_or_else(|| {
                    SqlError::invalid(format!(
                        "{} has no parameter {n}; its parameters: {}",
                        p.name,
                        p.parameters
                            .iter()
                            .map(|q| q.name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })?,
            None if i < p.parameters.len() => i,
            None => {
                return Err(SqlError::invalid(format!(
                    "{} takes at most {} arguments",
                    p.name,
                    p.parameters.len()
                )))
            }
        };
        if values[at].is_some() {
            return Err(SqlError::invalid(format!(
                "{}: {} is given twice",
                p.name, p.parameters[at].name
            )));
        }
        values[at] = Some(value.text());
    }
    let values: Vec<Option<String>> = values.into_iter().map(Option::flatten).collect();
    for (q, v) in p.parameters.iter().zip(&values) {
        if q.required && v.as_deref().is_none_or(str::is_empty) {
            return Err(SqlError::invalid(format!(
                "{} needs the parameter {} ({})",
                p.name, q.name, q.description
            )));
        }
    }
    Ok(values)
}

async fn oauth(
    session: &SqlSession,
    p: &Procedure,
    arguments: &[(Option<String>, Literal)],
) -> Result<QueryResult, SqlError> {
    use epicor_kinetic::auth::interactive;
    let values = bind(p, arguments)?;
    let get = |name: &str| -> Option<String> {
        p.parameters
            .iter()
            .position(|q| q.name == name)
            .and_then(|i| values[i].clone())
    };
    let mut settings = session.connection().settings().clone();
    if let Some(url) = get("CallbackUrl") {
        settings.oauth.callback_url = url.trim_end_matches('/').to_owned();
    }
    let in_procedure = |e: epicor_kinetic::Error| SqlError::connector_in(p.name, e);
    match p.name {
        "GetOAuthAuthorizationURL" => {
            if get("State").is_some() {
                return Err(SqlError::invalid(
                    "GetOAuthAuthorizationURL: State cannot be chosen: the connector sends a random state with each authorization request, keeps it in the token store and checks it when the whole redirect URL is passed to GetOAuthAccessToken as Verifier",
                ));
            }
            if let Some(scope) = get("Scope") {
                settings.oauth.scope = Some(scope);
            }
            let url = interactive::get_oauth_authorization_url(&settings)
                .await
                .map_err(in_procedure)?;
            one_row(vec![(
                "URL".into(),
                Arc::new(StringArray::from(vec![url])) as ArrayRef,
            )])
        }
        "GetOAuthAccessToken" => {
            if let Some(mode) = get("AuthMode") {
                if !mode.eq_ignore_ascii_case("WEB") {
                    return Err(SqlError::invalid(format!(
                        "GetOAuthAccessToken: AuthMode {mode} is not supported; WEB is (the APP mode is the connection's own sign-in: InitiateOAuth=GETANDREFRESH)"
                    )));
                }
            }
            let verifier = get("Verifier").unwrap_or_default();
            let token = interactive::get_oauth_access_token(&settings, &verifier)
                .await
                .map_err(in_procedure)?;
            token_row(&token)
        }
        "RefreshOAuthAccessToken" => {
            if let Some(rt) = get("OAuthRefreshToken") {
                settings.oauth.refresh_token = Some(epicor_kinetic::Secret::new(rt));
            }
            let token = interactive::refresh_oauth_access_token(&settings)
                .await
                .map_err(in_procedure)?;
            token_row(&token)
        }
        other => Err(SqlError::invalid(format!("no procedure {other}"))),
    }
}

/// `OAuthAccessToken`, `ExpiresIn` (seconds from now; null when the issuer did not say).
fn token_row(token: &epicor_kinetic::token::Token) -> Result<QueryResult, SqlError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let expires_in = token
        .expires_at
        .map(|at| i64::try_from(at.saturating_sub(now)).unwrap_or(i64::MAX));
    one_row(vec![
        (
            "OAuthAccessToken".into(),
            Arc::new(StringArray::from(vec![token
                .access_token
                .expose()
                .to_owned()])) as ArrayRef,
        ),
        (
            "ExpiresIn".into(),
            Arc::new(Int64Array::from(vec![expires_in])) as ArrayRef,
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exec(sql: &str) -> Call {
        parse_exec(sql, &[]).unwrap().unwrap()
    }

    #[test]
    fn exec_names_and_arguments() {
        let c = exec("EXEC \"Erp.BO.CustomerSvc\".GetByID @custNum = 1;");
        assert_eq!(c.name, ["Erp.BO.CustomerSvc", "GetByID"]);
        assert_eq!(
            c.arguments,
            [(Some("custNum".into()), Literal::Number("1".into()))]
        );
        let c = exec("execute efx.CustomerTools.GetCreditStatus CustID = N'O''Brien', x = -1.50, y = TRUE, z = null");
        assert_eq!(c.name, ["efx", "CustomerTools", "GetCreditStatus"]);
        assert_eq!(
            c.arguments,
            [
                (Some("CustID".into()), Literal::Text("O'Brien".into())),
                (Some("x".into()), Literal::Number("-1.50".into())),
                (Some("y".into()), Literal::Bool(true)),
                (Some("z".into()), Literal::Null),
            ]
        );
        let c = exec("EXEC GetOAuthAuthorizationURL");
        assert!(c.arguments.is_empty());
        let c = exec("EXEC GetOAuthAccessToken 'code', 'WEB'");
        assert_eq!(c.arguments[1], (None, Literal::Text("WEB".into())));
        assert!(parse_exec("SELECT 1", &[]).unwrap().is_none());
        assert!(parse_exec("EXPLAIN SELECT 1", &[]).unwrap().is_none());
    }

    #[test]
    fn bad_exec_syntax_is_invalid() {
        for bad in [
            "EXEC",
            "EXEC p @a",
            "EXEC p @a = ",
            "EXEC p @a = 1 @b = 2",
            "EXEC p @a = (SELECT 1)",
            "EXEC p @a = 1; SELECT 2",
            "EXEC 'p'",
        ] {
            let e = parse_exec(bad, &[]).unwrap_err();
            assert_eq!(e.kind(), crate::SqlErrorKind::Invalid, "{bad}");
            assert!(e.to_string().starts_with("EXEC: "), "{bad}: {e}");
        }
    }

    #[test]
    fn oauth_parameters_bind_by_name_in_any_case() {
        let p = &OAUTH_PROCEDURES[1];
        let v = bind(p, &[(Some("verifier".into()), Literal::Text("c".into()))]).unwrap();
        assert_eq!(v, [Some("c".into()), None, None]);
        let e = bind(p, &[]).unwrap_err();
        assert!(
            e.to_string().contains("needs the parameter Verifier"),
            "{e}"
        );
        let e = bind(p, &[(Some("Nope".into()), Literal::Null)]).unwrap_err();
        assert!(e.to_string().contains("no parameter Nope"), "{e}");
    }
}
