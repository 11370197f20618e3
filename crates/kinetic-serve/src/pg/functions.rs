//! The functions PostgreSQL clients call on their own (psql's `\d`, drivers' metadata, BI
//! tools' start-up queries): `version()`, `current_database()`, `current_schema()`,
//! `current_user`, `current_setting(name)`, `format_type(oid, typmod)`,
//! `pg_table_is_visible(oid)` and their kin, answered for this session; the ones that
//! describe objects this server does not have (`pg_get_expr`, `obj_description`, ...) answer
//! NULL. `kinetic_oid(...)` gives each schema and table its stable object id.

use super::Identity;
use epicor_kinetic_sql::datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, Int32Array, StringArray, UInt32Array,
};
use epicor_kinetic_sql::datafusion::arrow::compute::cast;
use epicor_kinetic_sql::datafusion::arrow::datatypes::DataType;
use epicor_kinetic_sql::datafusion::error::Result;
use epicor_kinetic_sql::datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};
use epicor_kinetic_sql::datafusion::prelude::SessionContext;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

type Body = Arc<dyn Fn(&[ArrayRef], usize) -> Result<ArrayRef> + Send + Sync>;

/// A function of any arguments (none included), its body over whole columns.
struct PgFunction {
    name: &'static str,
    signature: Signature,
    returns: DataType,
    body: Body,
}

impl std::fmt::Debug for PgFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgFunction")
            .field("name", &self.name)
            .finish()
    }
}

impl PartialEq for PgFunction {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for PgFunction {}

impl Hash for PgFunction {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for PgFunction {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(self.returns.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let columns = ColumnarValue::values_to_arrays(&args.args)?;
        Ok(ColumnarValue::Array((self.body)(&columns, rows)?))
    }
}

fn register(ctx: &SessionContext, name: &'static str, returns: DataType, body: Body) {
    let signature = Signature::one_of(
        vec![TypeSignature::Nullary, TypeSignature::VariadicAny],
        Volatility::Stable,
    );
    ctx.register_udf(ScalarUDF::new_from_impl(PgFunction {
        name,
        signature,
        returns,
        body,
    }));
}

/// A function that answers the same text for every row.
fn text(ctx: &SessionContext, name: &'static str, value: Option<String>) {
    register(
        ctx,
        name,
        DataType::Utf8,
        Arc::new(move |_, rows| {
            Ok(Arc::new(StringArray::from(vec![value.clone(); rows])) as ArrayRef)
        }),
    );
}

/// A function that answers the same boolean for every row.
fn boolean(ctx: &SessionContext, name: &'static str, value: bool) {
    register(
        ctx,
        name,
        DataType::Boolean,
        Arc::new(move |_, rows| Ok(Arc::new(BooleanArray::from(vec![value; rows])) as ArrayRef)),
    );
}

/// The `n`-th argument as text (NULL where it is NULL or missing).
fn text_argument(args: &[ArrayRef], n: usize, rows: usize) -> Result<StringArray> {
    let Some(column) = args.get(n) else {
        return Ok(StringArray::from(vec![None::<&str>; rows]));
    };
    let column = cast(column, &DataType::Utf8)?;
    Ok(column
        .as_any()
        .downcast_ref::<StringArray>()
        .cloned()
        .unwrap_or_else(|| StringArray::from(vec![None::<&str>; rows])))
}

/// The `n`-th argument as a 64-bit integer (NULL where it is NULL, missing or not a number).
fn int_argument(args: &[ArrayRef], n: usize, rows: usize) -> Vec<Option<i64>> {
    let Some(column) = args.get(n) else {
        return vec![None; rows];
    };
    match cast(column, &DataType::Int64) {
        Ok(c) => {
            let c = c
                .as_any()
                .downcast_ref::<epicor_kinetic_sql::datafusion::arrow::array::Int64Array>()
                .cloned();
            (0..rows)
                .map(|i| c.as_ref().filter(|c| c.is_valid(i)).map(|c| c.value(i)))
                .collect()
        }
        Err(_) => vec![None; rows],
    }
}

/// The object id of a schema or table: a hash of its name's parts (FNV-1a, 32 bits), kept
/// above PostgreSQL's own ids (16384) so that it never names a built-in object. Stable for a
/// name across statements and sessions, as clients that read an id in one query and use it in
/// the next need.
pub fn oid_of(parts: &[&str]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            hash ^= 0x1f;
            hash = hash.wrapping_mul(0x0100_0193);
        }
        for b in part.bytes() {
            hash ^= u32::from(b.to_ascii_lowercase());
            hash = hash.wrapping_mul(0x0100_0193);
        }
    }
    16_384 + hash % (i32::MAX as u32 - 16_384)
}

/// The name PostgreSQL's `format_type` gives a type and modifier.
pub fn format_type(oid: i64, typmod: Option<i64>) -> Option<String> {
    let modifier = typmod.filter(|m| *m >= 4).map(|m| m - 4);
    Some(match oid {
        16 => "boolean".into(),
        17 => "bytea".into(),
        18 => "\"char\"".into(),
        19 => "name".into(),
        20 => "bigint".into(),
        21 => "smallint".into(),
        23 => "integer".into(),
        25 => "text".into(),
        26 => "oid".into(),
        700 => "real".into(),
        701 => "double precision".into(),
        1043 => match modifier {
            Some(n) => format!("character varying({n})"),
            None => "character varying".into(),
        },
        1082 => "date".into(),
        1083 => "time without time zone".into(),
        1114 => "timestamp without time zone".into(),
        1184 => "timestamp with time zone".into(),
        1700 => match modifier {
            Some(m) => format!("numeric({},{})", m >> 16, m & 0xffff),
            None => "numeric".into(),
        },
        2950 => "uuid".into(),
        _ => return None,
    })
}

/// Registers the functions in `ctx`, for the session of `who`.
pub fn install(ctx: &SessionContext, who: &Arc<Identity>) {
    text(
        ctx,
        "version",
        Some(format!(
            "PostgreSQL 16.0 (kinetic {}: Epicor Kinetic through a PostgreSQL gateway)",
            env!("CARGO_PKG_VERSION")
        )),
    );
    text(ctx, "current_database", Some(who.database.clone()));
    text(ctx, "current_catalog", Some(who.database.clone()));
    text(ctx, "current_schema", Some(super::SCHEMA.into()));
    for name in [
        "current_user",
        "session_user",
        "user",
        "current_role",
        "pg_get_userbyid",
    ] {
        text(ctx, name, Some(who.user.clone()));
    }
    text(ctx, "pg_encoding_to_char", Some("UTF8".into()));
    text(ctx, "inet_server_addr", None);
    for name in [
        "pg_get_expr",
        "pg_get_indexdef",
        "pg_get_constraintdef",
        "pg_get_viewdef",
        "pg_get_triggerdef",
        "pg_get_ruledef",
        "pg_get_partkeydef",
        "pg_get_function_identity_arguments",
        "pg_get_function_result",
        "pg_get_function_arguments",
        "pg_get_statisticsobjdef_columns",
        "obj_description",
        "col_description",
        "shobj_description",
        "pg_tablespace_location",
        "pg_get_serial_sequence",
    ] {
        text(ctx, name, None);
    }
    for name in [
        "pg_table_is_visible",
        "pg_type_is_visible",
        "pg_function_is_visible",
        "has_table_privilege",
        "has_schema_privilege",
        "has_database_privilege",
        "has_column_privilege",
        "has_any_column_privilege",
        "has_function_privilege",
    ] {
        boolean(ctx, name, true);
    }
    boolean(ctx, "pg_is_in_recovery", false);
    boolean(ctx, "pg_relation_is_publishable", false);
    boolean(ctx, "row_security_active", false);
    register(
        ctx,
        "array_upper",
        DataType::Int32,
        Arc::new(|_, rows| Ok(Arc::new(Int32Array::from(vec![None; rows])) as ArrayRef)),
    );
    let pid = who.pid;
    register(
        ctx,
        "pg_backend_pid",
        DataType::Int32,
        Arc::new(move |_, rows| Ok(Arc::new(Int32Array::from(vec![pid; rows])) as ArrayRef)),
    );
    let settings = who.clone();
    register(
        ctx,
        "current_setting",
        DataType::Utf8,
        Arc::new(move |args, rows| {
            let names = text_argument(args, 0, rows)?;
            let values: Vec<Option<String>> = (0..names.len())
                .map(|i| {
                    names
                        .is_valid(i)
                        .then(|| settings.setting(names.value(i)))
                        .flatten()
                })
                .collect();
            Ok(Arc::new(StringArray::from(values)) as ArrayRef)
        }),
    );
    register(
        ctx,
        "format_type",
        DataType::Utf8,
        Arc::new(|args, rows| {
            let oids = int_argument(args, 0, rows);
            let mods = int_argument(args, 1, rows);
            let names: Vec<Option<String>> = oids
                .iter()
                .zip(&mods)
                .map(|(oid, typmod)| oid.and_then(|o| format_type(o, *typmod)))
                .collect();
            Ok(Arc::new(StringArray::from(names)) as ArrayRef)
        }),
    );
    register(
        ctx,
        "kinetic_oid",
        DataType::UInt32,
        Arc::new(|args, rows| {
            let parts = (0..args.len())
                .map(|n| text_argument(args, n, rows))
                .collect::<Result<Vec<_>>>()?;
            let oids: Vec<Option<u32>> = (0..rows)
                .map(|i| {
                    let row: Option<Vec<&str>> = parts
                        .iter()
                        .map(|p| p.is_valid(i).then(|| p.value(i)))
                        .collect();
                    row.map(|r| oid_of(&r))
                })
                .collect();
            Ok(Arc::new(UInt32Array::from(oids)) as ArrayRef)
        }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oids_are_stable_and_above_postgresql_own() {
        let a = oid_of(&["Erp.BO.CustomerSvc", "Customers"]);
        assert_eq!(a, oid_of(&["erp.bo.customersvc", "CUSTOMERS"]), "any case");
        assert_ne!(a, oid_of(&["Erp.BO.CustomerSvc", "CustomerShips"]));
        assert_ne!(
            oid_of(&["a", "bc"]),
            oid_of(&["ab", "c"]),
            "parts stay apart"
        );
        assert!(a >= 16_384 && a < i32::MAX as u32);
    }

    #[test]
    fn types_are_named_as_postgresql_names_them() {
        assert_eq!(
            format_type(1700, Some(((18 << 16) | 2) + 4)).as_deref(),
            Some("numeric(18,2)")
        );
        assert_eq!(
            format_type(1043, Some(54)).as_deref(),
            Some("character varying(50)")
        );
        assert_eq!(
            format_type(1043, Some(-1)).as_deref(),
            Some("character varying")
        );
        assert_eq!(
            format_type(1184, None).as_deref(),
            Some("timestamp with time zone")
        );
        assert_eq!(format_type(99_999, None), None);
    }
}
