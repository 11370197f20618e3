//! What is done to a statement before DataFusion plans it:
//!
//! - `Erp.BO.CustomerSvc.Customers` (a service's dotted name, unquoted) is read as schema
//!   `"Erp.BO.CustomerSvc"`, table `Customers`;
//! - a BAQ called as a table function, `BaqSvc.zOrdersByCustomer('ADDIS0001')` or
//!   `BaqSvc.zOrdersByCustomer(CustID => 'ADDIS0001')`, becomes the table
//!   `BaqSvc."zOrdersByCustomer(CustID=ADDIS0001)"` (parameters bound by name, values
//!   percent-encoded), aliased to the BAQ's id. Parameters are values, never SQL text. The
//!   catalog checks the names against the server's list of the BAQ's parameters, whether they
//!   came from a call or from such a name written quoted by hand.

use crate::names::BAQ_SCHEMA;
pub use crate::names::{decode_baq_name, encode_baq_name};
use crate::server::{external, BaqInfo, ServerModel};
use datafusion::error::{DataFusionError, Result};
use datafusion::sql::sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, Ident, ObjectName, ObjectNamePart, Statement, TableAlias,
    TableFactor, UnaryOperator, Value, Visit, VisitMut, Visitor, VisitorMut,
};
use std::collections::HashSet;
use std::ops::ControlFlow;

/// Rewrites `statement` in place (see the module).
pub async fn rewrite(statement: &mut Statement, server: &ServerModel) -> Result<()> {
    // Which BAQs are called with positional arguments: their parameter names come from the
    // server's BAQ list.
    let mut calls = BaqCalls::default();
    let _ = Visit::visit(&*statement, &mut calls);
    let baqs = if calls.positional.is_empty() {
        Vec::new()
    } else {
        server.baqs().await.map_err(external)?.to_vec()
    };
    let mut rewriter = Rewriter {
        server,
        baqs: &baqs,
        error: None,
    };
    let _ = VisitMut::visit(statement, &mut rewriter);
    match rewriter.error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The BAQ id a table factor calls, if it is `BaqSvc.X(...)` (or `X(...)` for a name that is
/// not one of DataFusion's own table functions).
fn baq_call(name: &ObjectName) -> Option<String> {
    let parts = idents(name)?;
    match parts.as_slice() {
        [schema, id] if schema.value.eq_ignore_ascii_case(BAQ_SCHEMA) => Some(id.value.clone()),
        _ => None,
    }
}

fn idents(name: &ObjectName) -> Option<Vec<&Ident>> {
    name.0
        .iter()
        .map(|p| match p {
            ObjectNamePart::Identifier(i) => Some(i),
            _ => None,
        })
        .collect()
}

#[derive(Default)]
struct BaqCalls {
    positional: HashSet<String>,
}

impl Visitor for BaqCalls {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        if let TableFactor::Table {
            name,
            args: Some(args),
            ..
        } = factor
        {
            if let Some(id) = baq_call(name) {
                if args
                    .args
                    .iter()
                    .any(|a| matches!(a, FunctionArg::Unnamed(_)))
                {
                    self.positional.insert(id.to_ascii_lowercase());
                }
            }
        }
        ControlFlow::Continue(())
    }
}

struct Rewriter<'a> {
    server: &'a ServerModel,
    baqs: &'a [BaqInfo],
    error: Option<DataFusionError>,
}

impl VisitorMut for Rewriter<'_> {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        let TableFactor::Table {
            name, args, alias, ..
        } = factor
        else {
            return ControlFlow::Continue(());
        };
        if let Some(call) = args.take() {
            let Some(id) = baq_call(name) else {
                // DataFusion's own table functions (`generate_series(1, 3)`).
                *args = Some(call);
                return ControlFlow::Continue(());
            };
            match self.bind(&id, &call.args) {
                Ok(bound) => {
                    *name = ObjectName::from(vec![
                        Ident::new(BAQ_SCHEMA),
                        Ident::with_quote('"', encode_baq_name(&id, &bound)),
                    ]);
                    if alias.is_none() {
                        *alias = Some(TableAlias {
                            explicit: true,
                            at: None,
                            name: Ident::with_quote('"', id),
                            columns: Vec::new(),
                        });
                    }
                }
                Err(e) => {
                    self.error = Some(e);
                    return ControlFlow::Break(());
                }
            }
            return ControlFlow::Continue(());
        }
        self.service_name(name);
        ControlFlow::Continue(())
    }
}

impl Rewriter<'_> {
    /// `Erp.BO.CustomerSvc.Customers` → `"Erp.BO.CustomerSvc".Customers`.
    fn service_name(&self, name: &mut ObjectName) {
        let Some(parts) = idents(name) else {
            return;
        };
        if parts.len() < 3 {
            return;
        }
        let (schema, table) = parts.split_at(parts.len() - 1);
        let joined = schema
            .iter()
            .map(|i| i.value.as_str())
            .collect::<Vec<_>>()
            .join(".");
        if let Some(service) = self.server.service(&joined) {
            let table = table[0].clone();
            *name = ObjectName::from(vec![Ident::with_quote('"', service), table]);
        }
    }

    /// The BAQ's parameters bound by name: named arguments as given, positional ones in the
    /// order the server lists the BAQ's parameters.
    fn bind(&self, id: &str, args: &[FunctionArg]) -> Result<Vec<(String, String)>> {
        let info = self.baqs.iter().find(|b| b.id.eq_ignore_ascii_case(id));
        let mut bound: Vec<(String, String)> = Vec::new();
        let mut position = 0;
        for arg in args {
            let (name, value) = match arg {
                FunctionArg::Named { name, arg, .. } => (name.value.clone(), arg),
                FunctionArg::ExprNamed {
                    name: Expr::Identifier(name),
                    arg,
                    ..
                } => (name.value.clone(), arg),
                FunctionArg::Unnamed(arg) => {
                    let Some(info) = info else {
                        return Err(DataFusionError::Plan(format!(
                            "the server lists no BAQ {id}, so its parameters cannot be taken by position; name them: BaqSvc.{id}(Param => 'value')"
                        )));
                    };
                    let Some((name, _)) = info.parameters.get(position) else {
                        return Err(DataFusionError::Plan(format!(
                            "BAQ {} takes {} parameter{}{}; got more",
                            info.id,
                            info.parameters.len(),
                            if info.parameters.len() == 1 { "" } else { "s" },
                            if info.parameters.is_empty() {
                                String::new()
                            } else {
                                format!(
                                    " ({})",
                                    info.parameters
                                        .iter()
                                        .map(|(n, _)| n.as_str())
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                )
                            }
                        )));
                    };
                    position += 1;
                    (name.clone(), arg)
                }
                other => {
                    return Err(DataFusionError::Plan(format!(
                        "BAQ {id}: the argument {other} is neither a value nor name => value"
                    )))
                }
            };
            let FunctionArgExpr::Expr(expr) = value else {
                return Err(DataFusionError::Plan(format!(
                    "BAQ {id} parameter {name}: give a value"
                )));
            };
            let value = literal_text(expr).ok_or_else(|| {
                DataFusionError::Plan(format!(
                    "BAQ {id} parameter {name}: {expr} is not a literal value (write 'text', a number, TRUE/FALSE or DATE 'YYYY-MM-DD')"
                ))
            })?;
            if bound.iter().any(|(n, _)| n.eq_ignore_ascii_case(&name)) {
                return Err(DataFusionError::Plan(format!(
                    "BAQ {id} parameter {name} is given twice"
                )));
            }
            bound.push((name, value));
        }
        Ok(bound)
    }
}

/// The text of a literal argument: a string, a number, a boolean, a typed string.
fn literal_text(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => Some(s.clone()),
            Value::Number(n, _) => Some(n.to_string()),
            Value::Boolean(b) => Some(b.to_string()),
            _ => None,
        },
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => match expr.as_ref() {
            Expr::Value(v) => match &v.value {
                Value::Number(n, _) => Some(format!("-{n}")),
                _ => None,
            },
            _ => None,
        },
        Expr::TypedString(t) => match &t.value.value {
            Value::SingleQuotedString(s) => Some(s.clone()),
            _ => None,
        },
        Expr::Nested(e) => literal_text(e),
        _ => None,
    }
}
