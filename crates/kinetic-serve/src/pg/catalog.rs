//! `pg_catalog` and `information_schema` as PostgreSQL clients read them, each table a view
//! over the SQL layer's system tables (`sys_schemas`, `sys_tables`, `sys_tablecolumns`,
//! `sys_primarykeys`, `sys_foreignkeys`): one source of truth for what the server has, read
//! from Epicor's `$metadata` when a client asks, narrowed as those tables narrow (a filter on a
//! table's name reads that table's service only).
//!
//! Every Epicor service is a schema, its entity sets tables (`relkind` `r`), BAQs views in
//! `BaqSvc`; columns carry PostgreSQL types (`integer`, `numeric(p,s)`, `character
//! varying(n)`, `timestamp with time zone`, ...). Object ids are stable hashes of names (see
//! `functions::oid_of`). Each table's primary key is a unique index (`pg_class` `relkind` `i`,
//! `pg_index`) and a constraint (`pg_constraint` `p`), each navigation a foreign key
//! (`pg_constraint` `f`), as SQLAlchemy's and pgJDBC's key reflection read them. The catalog
//! tables this server has nothing for (triggers, policies, defaults, ...) are there and empty,
//! with the columns clients ask for.

use epicor_kinetic_sql::datafusion::catalog::{MemorySchemaProvider, SchemaProvider};
use epicor_kinetic_sql::datafusion::datasource::ViewTable;
use epicor_kinetic_sql::datafusion::error::Result;
use epicor_kinetic_sql::datafusion::prelude::SessionContext;
use std::sync::Arc;

/// An object id constant (PostgreSQL's `oid`: unsigned 32 bits).
fn oid(n: u32) -> String {
    format!("arrow_cast({n}, 'UInt32')")
}

/// The PostgreSQL type id of a system table's `DataTypeName`.
const TYPE_OID: &str = "CASE DataTypeName WHEN 'varchar' THEN 1043 WHEN 'int' THEN 23 \
    WHEN 'bigint' THEN 20 WHEN 'decimal' THEN 1700 WHEN 'bool' THEN 16 WHEN 'date' THEN 1082 \
    WHEN 'datetime' THEN 1184 WHEN 'double' THEN 701 WHEN 'real' THEN 700 ELSE 25 END";

/// The PostgreSQL type modifier of a system table's column (`varchar(n)`: n + 4; `numeric(p,s)`:
/// (p << 16 | s) + 4; -1 for none).
const TYPE_MOD: &str = "CASE WHEN DataTypeName = 'varchar' AND Length IS NOT NULL THEN Length + 4 \
    WHEN DataTypeName = 'decimal' AND NumericPrecision IS NOT NULL \
    THEN NumericPrecision * 65536 + COALESCE(NumericScale, 0) + 4 ELSE -1 END";

/// The `information_schema` name of a column's type.
const TYPE_NAME: &str = "CASE DataTypeName WHEN 'varchar' THEN 'character varying' \
    WHEN 'int' THEN 'integer' WHEN 'bigint' THEN 'bigint' WHEN 'decimal' THEN 'numeric' \
    WHEN 'bool' THEN 'boolean' WHEN 'date' THEN 'date' WHEN 'datetime' THEN 'timestamp with time zone' \
    WHEN 'double' THEN 'double precision' WHEN 'real' THEN 'real' ELSE 'text' END";

/// The `udt_name` (pg_type's name) of a column's type.
const UDT_NAME: &str = "CASE DataTypeName WHEN 'varchar' THEN 'varchar' WHEN 'int' THEN 'int4' \
    WHEN 'bigint' THEN 'int8' WHEN 'decimal' THEN 'numeric' WHEN 'bool' THEN 'bool' \
    WHEN 'date' THEN 'date' WHEN 'datetime' THEN 'timestamptz' WHEN 'double' THEN 'float8' \
    WHEN 'real' THEN 'float4' ELSE 'text' END";

/// The object id of `pg_catalog` and of `information_schema`, as PostgreSQL numbers them.
pub const PG_CATALOG_OID: u32 = 11;
const INFORMATION_SCHEMA_OID: u32 = 13_000;

/// The types this server answers with: `(oid, name, length, category, array type)`.
pub(super) const TYPES: &[(u32, &str, i16, &str, u32)] = &[
    (16, "bool", 1, "B", 1000),
    (17, "bytea", -1, "U", 1001),
    (18, "char", 1, "S", 1002),
    (19, "name", 64, "S", 1003),
    (20, "int8", 8, "N", 1016),
    (21, "int2", 2, "N", 1005),
    (23, "int4", 4, "N", 1007),
    (25, "text", -1, "S", 1009),
    (26, "oid", 4, "N", 1028),
    (700, "float4", 4, "N", 1021),
    (701, "float8", 8, "N", 1022),
    (705, "unknown", -2, "X", 0),
    (1042, "bpchar", -1, "S", 1014),
    (1043, "varchar", -1, "S", 1015),
    (1082, "date", 4, "D", 1182),
    (1083, "time", 8, "D", 1183),
    (1114, "timestamp", 8, "D", 1115),
    (1184, "timestamptz", 8, "D", 1185),
    (1700, "numeric", -1, "N", 1231),
    (2950, "uuid", 16, "U", 2951),
];

/// A column of an empty catalog table: its name and type.
type Col = (&'static str, &'static str);

/// The SQL of a typed NULL.
fn null(kind: &str) -> String {
    match kind {
        "oid" => "arrow_cast(NULL, 'UInt32')".into(),
        "bool" => "CAST(NULL AS BOOLEAN)".into(),
        "int2" => "CAST(NULL AS SMALLINT)".into(),
        "int4" => "CAST(NULL AS INT)".into(),
        "int8" => "CAST(NULL AS BIGINT)".into(),
        "float4" => "CAST(NULL AS REAL)".into(),
        // PostgreSQL arrays that clients test with `= ANY(...)`.
        "text[]" => "arrow_cast(NULL, 'List(Utf8)')".into(),
        "int2[]" => "arrow_cast(NULL, 'List(Int16)')".into(),
        _ => "CAST(NULL AS VARCHAR)".into(),
    }
}

/// A table with `columns` and no rows.
fn empty(columns: &[Col]) -> String {
    let list: Vec<String> = columns
        .iter()
        .map(|(name, kind)| format!("{} AS {name}", null(kind)))
        .collect();
    format!("SELECT {} WHERE false", list.join(", "))
}

/// The catalog tables this server has nothing for: empty, with the columns clients read.
const EMPTY: &[(&str, &[Col])] = &[
    (
        "pg_attrdef",
        &[
            ("oid", "oid"),
            ("adrelid", "oid"),
            ("adnum", "int2"),
            ("adbin", "text"),
        ],
    ),
    (
        "pg_description",
        &[
            ("objoid", "oid"),
            ("classoid", "oid"),
            ("objsubid", "int4"),
            ("description", "text"),
        ],
    ),
    (
        "pg_shdescription",
        &[
            ("objoid", "oid"),
            ("classoid", "oid"),
            ("description", "text"),
        ],
    ),
    (
        "pg_collation",
        &[
            ("oid", "oid"),
            ("collname", "text"),
            ("collnamespace", "oid"),
            ("collprovider", "text"),
            ("collcollate", "text"),
            ("collctype", "text"),
        ],
    ),
    (
        "pg_inherits",
        &[
            ("inhrelid", "oid"),
            ("inhparent", "oid"),
            ("inhseqno", "int4"),
            ("inhdetachpending", "bool"),
        ],
    ),
    (
        "pg_statistic_ext",
        &[
            ("oid", "oid"),
            ("stxrelid", "oid"),
            ("stxname", "text"),
            ("stxnamespace", "oid"),
            ("stxowner", "oid"),
            ("stxstattarget", "int4"),
            ("stxkeys", "text"),
            ("stxkind", "text[]"),
            ("stxexprs", "text"),
        ],
    ),
    (
        "pg_publication",
        &[
            ("oid", "oid"),
            ("pubname", "text"),
            ("pubowner", "oid"),
            ("puballtables", "bool"),
            ("pubinsert", "bool"),
            ("pubupdate", "bool"),
            ("pubdelete", "bool"),
            ("pubtruncate", "bool"),
            ("pubviaroot", "bool"),
        ],
    ),
    (
        "pg_publication_rel",
        &[
            ("oid", "oid"),
            ("prpubid", "oid"),
            ("prrelid", "oid"),
            ("prqual", "text"),
            ("prattrs", "int2[]"),
        ],
    ),
    (
        "pg_publication_namespace",
        &[("oid", "oid"), ("pnpubid", "oid"), ("pnnspid", "oid")],
    ),
    (
        "pg_policy",
        &[
            ("oid", "oid"),
            ("polname", "text"),
            ("polrelid", "oid"),
            ("polcmd", "text"),
            ("polpermissive", "bool"),
            ("polroles", "text"),
            ("polqual", "text"),
            ("polwithcheck", "text"),
        ],
    ),
    (
        "pg_trigger",
        &[
            ("oid", "oid"),
            ("tgrelid", "oid"),
            ("tgparentid", "oid"),
            ("tgname", "text"),
            ("tgfoid", "oid"),
            ("tgtype", "int2"),
            ("tgenabled", "text"),
            ("tgisinternal", "bool"),
            ("tgconstraint", "oid"),
        ],
    ),
    (
        "pg_rewrite",
        &[
            ("oid", "oid"),
            ("rulename", "text"),
            ("ev_class", "oid"),
            ("ev_type", "text"),
            ("is_instead", "bool"),
        ],
    ),
    (
        "pg_proc",
        &[
            ("oid", "oid"),
            ("proname", "text"),
            ("pronamespace", "oid"),
            ("proowner", "oid"),
            ("prokind", "text"),
            ("proretset", "bool"),
            ("prorettype", "oid"),
            ("proargtypes", "text"),
            ("proallargtypes", "text"),
            ("proargmodes", "text[]"),
            ("proargnames", "text[]"),
            ("prosrc", "text"),
            ("provolatile", "text"),
        ],
    ),
    (
        "pg_range",
        &[
            ("rngtypid", "oid"),
            ("rngsubtype", "oid"),
            ("rngmultitypid", "oid"),
            ("rngcollation", "oid"),
        ],
    ),
    (
        "pg_enum",
        &[
            ("oid", "oid"),
            ("enumtypid", "oid"),
            ("enumsortorder", "float4"),
            ("enumlabel", "text"),
        ],
    ),
    (
        "pg_extension",
        &[
            ("oid", "oid"),
            ("extname", "text"),
            ("extowner", "oid"),
            ("extnamespace", "oid"),
            ("extversion", "text"),
        ],
    ),
    (
        "pg_foreign_table",
        &[
            ("ftrelid", "oid"),
            ("ftserver", "oid"),
            ("ftoptions", "text"),
        ],
    ),
    (
        "pg_partitioned_table",
        &[
            ("partrelid", "oid"),
            ("partstrat", "text"),
            ("partnatts", "int2"),
        ],
    ),
    (
        "pg_depend",
        &[
            ("classid", "oid"),
            ("objid", "oid"),
            ("objsubid", "int4"),
            ("refclassid", "oid"),
            ("refobjid", "oid"),
            ("refobjsubid", "int4"),
            ("deptype", "text"),
        ],
    ),
    (
        "pg_sequence",
        &[
            ("seqrelid", "oid"),
            ("seqtypid", "oid"),
            ("seqstart", "int8"),
            ("seqincrement", "int8"),
            ("seqmax", "int8"),
            ("seqmin", "int8"),
            ("seqcache", "int8"),
            ("seqcycle", "bool"),
        ],
    ),
    (
        "pg_event_trigger",
        &[("oid", "oid"), ("evtname", "text"), ("evtevent", "text")],
    ),
    (
        "pg_matviews",
        &[
            ("schemaname", "text"),
            ("matviewname", "text"),
            ("matviewowner", "text"),
            ("definition", "text"),
        ],
    ),
    (
        "pg_foreign_data_wrapper",
        &[("oid", "oid"), ("fdwname", "text")],
    ),
    (
        "pg_foreign_server",
        &[("oid", "oid"), ("srvname", "text"), ("srvfdw", "oid")],
    ),
    (
        "pg_statistic_ext_data",
        &[("stxoid", "oid"), ("stxdinherit", "bool")],
    ),
    (
        "pg_cast",
        &[
            ("oid", "oid"),
            ("castsource", "oid"),
            ("casttarget", "oid"),
            ("castfunc", "oid"),
            ("castcontext", "text"),
        ],
    ),
    (
        "pg_operator",
        &[
            ("oid", "oid"),
            ("oprname", "text"),
            ("oprnamespace", "oid"),
            ("oprleft", "oid"),
            ("oprright", "oid"),
            ("oprresult", "oid"),
        ],
    ),
];

/// A `pg_class` row per row of `from`: its object id, name, kind, access method and number of
/// columns as SQL over `from`'s columns (`SchemaName` among them).
fn relation(oid_sql: &str, name: &str, kind: &str, am: String, natts: &str, from: &str) -> String {
    let zero = oid(0);
    format!(
        "SELECT {oid_sql} AS oid, {name} AS relname, kinetic_oid('schema', SchemaName) AS relnamespace, \
         {kind} AS relkind, {owner} AS relowner, {am} AS relam, {zero} AS reltablespace, \
         {zero} AS reltoastrelid, {zero} AS reloftype, {zero} AS reltype, \
         {zero} AS relfilenode, CAST(-1 AS REAL) AS reltuples, 0 AS relpages, \
         false AS relhasindex, false AS relhasrules, false AS relhastriggers, \
         false AS relhassubclass, false AS relrowsecurity, false AS relforcerowsecurity, \
         false AS relispartition, false AS relisshared, false AS relispopulated, \
         'p' AS relpersistence, 'd' AS relreplident, CAST(0 AS SMALLINT) AS relchecks, \
         {natts} AS relnatts, CAST(NULL AS VARCHAR) AS reloptions, \
         CAST(NULL AS VARCHAR) AS relacl, CAST(NULL AS VARCHAR) AS relpartbound {from}",
        owner = oid(10),
    )
}

/// The key columns of every table, each with its column's number (`attnum`).
const KEY_COLUMNS: &str = "sys_primarykeys k JOIN sys_tablecolumns c \
    ON c.SchemaName = k.SchemaName AND c.TableName = k.TableName AND c.ColumnName = k.ColumnName";

/// `pg_index`: each table's primary key as a unique index (Epicor's keys are what the system
/// tables know of indexes). `indkey` is a list of column numbers (`int2vector`).
fn pg_index() -> String {
    format!(
        "SELECT kinetic_oid(k.SchemaName, k.KeyName) AS indexrelid, \
         kinetic_oid(k.SchemaName, k.TableName) AS indrelid, \
         CAST(count(*) AS SMALLINT) AS indnatts, CAST(count(*) AS SMALLINT) AS indnkeyatts, \
         true AS indisunique, false AS indnullsnotdistinct, true AS indisprimary, \
         false AS indisexclusion, true AS indimmediate, false AS indisclustered, \
         true AS indisvalid, true AS indisready, true AS indislive, false AS indisreplident, \
         array_agg(CAST(c.Ordinal AS SMALLINT) ORDER BY k.KeySeq) AS indkey, \
         CAST(NULL AS VARCHAR) AS indcollation, CAST(NULL AS VARCHAR) AS indclass, \
         CAST(NULL AS VARCHAR) AS indoption, CAST(NULL AS VARCHAR) AS indexprs, \
         CAST(NULL AS VARCHAR) AS indpred \
         FROM {KEY_COLUMNS} GROUP BY k.SchemaName, k.TableName, k.KeyName"
    )
}

/// `pg_constraint`: each table's primary key (`p`) and each relationship its navigation
/// properties declare (`f`, from `sys_foreignkeys`' imported side), with the column numbers
/// (`conkey`, `confkey`) in the key's order, and `kinetic_definition`: the text PostgreSQL's
/// `pg_get_constraintdef` gives (which the rewrite reads it from).
fn pg_constraint() -> String {
    let zero = oid(0);
    let common = "false AS condeferrable, false AS condeferred, true AS convalidated";
    format!(
        "SELECT kinetic_oid(k.SchemaName, k.TableName, k.KeyName) AS oid, k.KeyName AS conname, \
         kinetic_oid('schema', k.SchemaName) AS connamespace, 'p' AS contype, {common}, \
         kinetic_oid(k.SchemaName, k.TableName) AS conrelid, {zero} AS contypid, \
         kinetic_oid(k.SchemaName, k.KeyName) AS conindid, {zero} AS conparentid, \
         {zero} AS confrelid, ' ' AS confupdtype, ' ' AS confdeltype, ' ' AS confmatchtype, \
         true AS conislocal, 0 AS coninhcount, true AS connoinherit, \
         array_agg(CAST(c.Ordinal AS SMALLINT) ORDER BY k.KeySeq) AS conkey, \
         arrow_cast(NULL, 'List(Int16)') AS confkey, CAST(NULL AS VARCHAR) AS conbin, \
         'PRIMARY KEY (' || string_agg(quote_ident(k.ColumnName), ', ' ORDER BY k.KeySeq) \
         || ')' AS kinetic_definition \
         FROM {KEY_COLUMNS} GROUP BY k.SchemaName, k.TableName, k.KeyName \
         UNION ALL \
         SELECT kinetic_oid(f.SchemaName, f.TableName, f.ForeignKeyName) AS oid, \
         f.ForeignKeyName AS conname, kinetic_oid('schema', f.SchemaName) AS connamespace, \
         'f' AS contype, {common}, kinetic_oid(f.SchemaName, f.TableName) AS conrelid, \
         {zero} AS contypid, kinetic_oid(f.ReferencedSchemaName, f.PrimaryKeyName) AS conindid, \
         {zero} AS conparentid, \
         kinetic_oid(f.ReferencedSchemaName, f.ReferencedTableName) AS confrelid, \
         'a' AS confupdtype, 'a' AS confdeltype, 's' AS confmatchtype, \
         true AS conislocal, 0 AS coninhcount, true AS connoinherit, \
         array_agg(CAST(fc.Ordinal AS SMALLINT) ORDER BY COALESCE(p.KeySeq, fc.Ordinal)) AS conkey, \
         array_agg(CAST(rc.Ordinal AS SMALLINT) ORDER BY COALESCE(p.KeySeq, fc.Ordinal)) AS confkey, \
         CAST(NULL AS VARCHAR) AS conbin, \
         'FOREIGN KEY (' || string_agg(quote_ident(f.ColumnName), ', ' \
         ORDER BY COALESCE(p.KeySeq, fc.Ordinal)) || ') REFERENCES ' \
         || quote_ident(f.ReferencedSchemaName) || '.' || quote_ident(f.ReferencedTableName) \
         || '(' || string_agg(quote_ident(f.ReferencedColumnName), ', ' \
         ORDER BY COALESCE(p.KeySeq, fc.Ordinal)) || ')' AS kinetic_definition \
         FROM sys_foreignkeys f \
         JOIN sys_tablecolumns fc ON fc.SchemaName = f.SchemaName \
         AND fc.TableName = f.TableName AND fc.ColumnName = f.ColumnName \
         JOIN sys_tablecolumns rc ON rc.SchemaName = f.ReferencedSchemaName \
         AND rc.TableName = f.ReferencedTableName AND rc.ColumnName = f.ReferencedColumnName \
         LEFT JOIN sys_primarykeys p ON p.SchemaName = f.ReferencedSchemaName \
         AND p.TableName = f.ReferencedTableName AND p.ColumnName = f.ReferencedColumnName \
         WHERE f.ForeignKeyType = 'FOREIGNKEY_TYPE_IMPORT' \
         GROUP BY f.SchemaName, f.TableName, f.ForeignKeyName, f.ReferencedSchemaName, \
         f.ReferencedTableName, f.PrimaryKeyName"
    )
}

/// The `pg_catalog` tables that have rows: name and SQL.
fn with_rows() -> Vec<(&'static str, String)> {
    let schema_oid = "kinetic_oid('schema', SchemaName)";
    let table_oid = "kinetic_oid(SchemaName, TableName)";
    let index_oid = "kinetic_oid(SchemaName, KeyName)";
    let zero = oid(0);
    let owner = oid(10);
    let types: Vec<String> = TYPES
        .iter()
        .map(|(o, name, len, category, array)| {
            format!(
                "SELECT {} AS oid, '{name}' AS typname, {} AS typnamespace, {owner} AS typowner, \
                 CAST({len} AS SMALLINT) AS typlen, {} AS typbyval, 'b' AS typtype, \
                 '{category}' AS typcategory, false AS typispreferred, true AS typisdefined, \
                 ',' AS typdelim, {zero} AS typrelid, {zero} AS typelem, {} AS typarray, \
                 '{name}in' AS typinput, '{name}out' AS typoutput, '{name}recv' AS typreceive, \
                 '{name}send' AS typsend, 'i' AS typalign, 'p' AS typstorage, \
                 false AS typnotnull, {zero} AS typbasetype, -1 AS typtypmod, 0 AS typndims, \
                 {zero} AS typcollation, CAST(NULL AS VARCHAR) AS typdefault, \
                 CAST(NULL AS VARCHAR) AS typacl",
                oid(*o),
                oid(PG_CATALOG_OID),
                (1..=8).contains(len),
                oid(*array),
            )
        })
        .collect();
    vec![
        (
            "pg_namespace",
            format!(
                "SELECT {schema_oid} AS oid, SchemaName AS nspname, {owner} AS nspowner, \
                 CAST(NULL AS VARCHAR) AS nspacl FROM sys_schemas \
                 UNION ALL SELECT {} AS oid, 'pg_catalog' AS nspname, {owner} AS nspowner, \
                 CAST(NULL AS VARCHAR) AS nspacl \
                 UNION ALL SELECT {} AS oid, 'information_schema' AS nspname, \
                 {owner} AS nspowner, CAST(NULL AS VARCHAR) AS nspacl",
                oid(PG_CATALOG_OID),
                oid(INFORMATION_SCHEMA_OID),
            ),
        ),
        (
            "pg_class",
            format!(
                "{} UNION ALL {}",
                relation(
                    table_oid,
                    "TableName",
                    "CASE WHEN TableType = 'VIEW' THEN 'v' ELSE 'r' END",
                    oid(2),
                    "CAST(0 AS SMALLINT)",
                    "FROM sys_tables",
                ),
                // Each primary key's index (`relkind` `i`), which `pg_index` and
                // `pg_constraint.conindid` name.
                relation(
                    index_oid,
                    "KeyName",
                    "'i'",
                    oid(403),
                    "CAST(count(*) AS SMALLINT)",
                    "FROM sys_primarykeys GROUP BY SchemaName, KeyName",
                ),
            ),
        ),
        ("pg_index", pg_index()),
        ("pg_constraint", pg_constraint()),
        (
            "pg_attribute",
            format!(
                "SELECT {table_oid} AS attrelid, ColumnName AS attname, \
                 arrow_cast({TYPE_OID}, 'UInt32') AS atttypid, CAST(Ordinal AS SMALLINT) AS attnum, \
                 {TYPE_MOD} AS atttypmod, NOT IsNullable AS attnotnull, false AS atthasdef, \
                 false AS atthasmissing, false AS attisdropped, '' AS attidentity, \
                 '' AS attgenerated, {zero} AS attcollation, CAST(-1 AS SMALLINT) AS attlen, \
                 0 AS attndims, true AS attislocal, 0 AS attinhcount, -1 AS attstattarget, \
                 'p' AS attstorage, 'i' AS attalign, CAST(NULL AS VARCHAR) AS attacl, \
                 CAST(NULL AS VARCHAR) AS attoptions, CAST(NULL AS VARCHAR) AS attfdwoptions, \
                 Description AS kinetic_description \
                 FROM sys_tablecolumns"
            ),
        ),
        ("pg_type", types.join(" UNION ALL ")),
        (
            "pg_database",
            format!(
                "SELECT {} AS oid, current_database() AS datname, {owner} AS datdba, \
                 6 AS encoding, 'C' AS datcollate, 'C' AS datctype, 'c' AS datlocprovider, \
                 false AS datistemplate, true AS datallowconn, -1 AS datconnlimit, \
                 {} AS dattablespace, CAST(NULL AS VARCHAR) AS datacl",
                oid(16_384),
                oid(1663),
            ),
        ),
        (
            "pg_roles",
            format!(
                "SELECT {owner} AS oid, current_user AS rolname, false AS rolsuper, \
                 true AS rolinherit, false AS rolcreaterole, false AS rolcreatedb, \
                 true AS rolcanlogin, false AS rolreplication, false AS rolbypassrls, \
                 -1 AS rolconnlimit, CAST(NULL AS VARCHAR) AS rolvaliduntil, \
                 CAST(NULL AS VARCHAR) AS rolconfig, '********' AS rolpassword"
            ),
        ),
        (
            "pg_user",
            format!(
                "SELECT current_user AS usename, {owner} AS usesysid, false AS usecreatedb, \
                 false AS usesuper, false AS userepl, false AS usebypassrls, \
                 '********' AS passwd, CAST(NULL AS VARCHAR) AS valuntil, \
                 CAST(NULL AS VARCHAR) AS useconfig"
            ),
        ),
        (
            "pg_am",
            format!(
                "SELECT {} AS oid, 'heap' AS amname, 't' AS amtype \
                 UNION ALL SELECT {} AS oid, 'btree' AS amname, 'i' AS amtype",
                oid(2),
                oid(403)
            ),
        ),
        (
            "pg_tablespace",
            format!(
                "SELECT {} AS oid, 'pg_default' AS spcname, {owner} AS spcowner",
                oid(1663)
            ),
        ),
        (
            "pg_settings",
            "SELECT name, current_setting(name) AS setting, CAST(NULL AS VARCHAR) AS unit, \
             'Preset Options' AS category, '' AS short_desc, 'internal' AS context, \
             'string' AS vartype, 'default' AS source \
             FROM (VALUES ('server_version'), ('server_encoding'), ('client_encoding'), \
             ('DateStyle'), ('TimeZone'), ('standard_conforming_strings'), \
             ('integer_datetimes'), ('search_path'), ('transaction_isolation'), \
             ('default_transaction_read_only'), ('max_identifier_length'), \
             ('max_index_keys'), ('server_version_num'), ('transaction_read_only'), \
             ('application_name')) AS s(name)"
                .into(),
        ),
        (
            "pg_tables",
            "SELECT SchemaName AS schemaname, TableName AS tablename, \
             current_user AS tableowner, CAST(NULL AS VARCHAR) AS tablespace, \
             false AS hasindexes, false AS hasrules, false AS hastriggers, \
             false AS rowsecurity FROM sys_tables WHERE TableType <> 'VIEW'"
                .into(),
        ),
        (
            "pg_views",
            "SELECT SchemaName AS schemaname, TableName AS viewname, \
             current_user AS viewowner, CAST(NULL AS VARCHAR) AS definition \
             FROM sys_tables WHERE TableType = 'VIEW'"
                .into(),
        ),
    ]
}

/// The `information_schema` tables: name and SQL.
fn information_schema() -> Vec<(&'static str, String)> {
    vec![
        (
            "schemata",
            "SELECT current_database() AS catalog_name, SchemaName AS schema_name, \
             current_user AS schema_owner, CAST(NULL AS VARCHAR) AS default_character_set_catalog, \
             CAST(NULL AS VARCHAR) AS default_character_set_schema, \
             CAST(NULL AS VARCHAR) AS default_character_set_name, CAST(NULL AS VARCHAR) AS sql_path \
             FROM sys_schemas"
                .into(),
        ),
        (
            "tables",
            "SELECT current_database() AS table_catalog, SchemaName AS table_schema, \
             TableName AS table_name, \
             CASE WHEN TableType = 'VIEW' THEN 'VIEW' ELSE 'BASE TABLE' END AS table_type, \
             CAST(NULL AS VARCHAR) AS self_referencing_column_name, \
             CAST(NULL AS VARCHAR) AS reference_generation, \
             CAST(NULL AS VARCHAR) AS user_defined_type_catalog, \
             CAST(NULL AS VARCHAR) AS user_defined_type_schema, \
             CAST(NULL AS VARCHAR) AS user_defined_type_name, \
             CASE WHEN IsUpdateable THEN 'YES' ELSE 'NO' END AS is_insertable_into, \
             'NO' AS is_typed, CAST(NULL AS VARCHAR) AS commit_action FROM sys_tables"
                .into(),
        ),
        (
            "columns",
            format!(
                "SELECT current_database() AS table_catalog, SchemaName AS table_schema, \
                 TableName AS table_name, ColumnName AS column_name, \
                 Ordinal AS ordinal_position, CAST(NULL AS VARCHAR) AS column_default, \
                 CASE WHEN IsNullable THEN 'YES' ELSE 'NO' END AS is_nullable, \
                 {TYPE_NAME} AS data_type, \
                 CASE WHEN DataTypeName = 'varchar' THEN Length END AS character_maximum_length, \
                 CASE WHEN DataTypeName = 'varchar' THEN Length * 4 END AS character_octet_length, \
                 CASE WHEN DataTypeName IN ('int', 'bigint', 'decimal', 'double', 'real') \
                 THEN NumericPrecision END AS numeric_precision, \
                 CASE WHEN DataTypeName IN ('int', 'bigint', 'decimal') THEN 10 \
                 WHEN DataTypeName IN ('double', 'real') THEN 2 END AS numeric_precision_radix, \
                 CASE WHEN DataTypeName IN ('int', 'bigint', 'decimal') \
                 THEN NumericScale END AS numeric_scale, \
                 CASE WHEN DataTypeName IN ('date', 'datetime') THEN 6 END AS datetime_precision, \
                 current_database() AS udt_catalog, 'pg_catalog' AS udt_schema, \
                 {UDT_NAME} AS udt_name, 'NO' AS is_identity, 'NEVER' AS is_generated, \
                 CASE WHEN IsUpdateable THEN 'YES' ELSE 'NO' END AS is_updatable, \
                 Description AS kinetic_description \
                 FROM sys_tablecolumns c \
                 LEFT JOIN (SELECT SchemaName AS s, TableName AS t, IsUpdateable FROM sys_tables) u \
                 ON u.s = c.SchemaName AND u.t = c.TableName"
            ),
        ),
        (
            "table_constraints",
            "SELECT current_database() AS constraint_catalog, SchemaName AS constraint_schema, \
             KeyName AS constraint_name, current_database() AS table_catalog, \
             SchemaName AS table_schema, TableName AS table_name, \
             'PRIMARY KEY' AS constraint_type, 'NO' AS is_deferrable, \
             'NO' AS initially_deferred, 'YES' AS enforced \
             FROM (SELECT DISTINCT SchemaName, TableName, KeyName FROM sys_primarykeys) p \
             UNION ALL SELECT current_database() AS constraint_catalog, \
             SchemaName AS constraint_schema, ForeignKeyName AS constraint_name, \
             current_database() AS table_catalog, SchemaName AS table_schema, \
             TableName AS table_name, 'FOREIGN KEY' AS constraint_type, 'NO' AS is_deferrable, \
             'NO' AS initially_deferred, 'YES' AS enforced \
             FROM (SELECT DISTINCT SchemaName, TableName, ForeignKeyName FROM sys_foreignkeys) f"
                .into(),
        ),
        (
            "key_column_usage",
            "SELECT current_database() AS constraint_catalog, SchemaName AS constraint_schema, \
             KeyName AS constraint_name, current_database() AS table_catalog, \
             SchemaName AS table_schema, TableName AS table_name, ColumnName AS column_name, \
             KeySeq AS ordinal_position, CAST(NULL AS INT) AS position_in_unique_constraint \
             FROM sys_primarykeys \
             UNION ALL SELECT current_database() AS constraint_catalog, \
             SchemaName AS constraint_schema, ForeignKeyName AS constraint_name, \
             current_database() AS table_catalog, SchemaName AS table_schema, \
             TableName AS table_name, ColumnName AS column_name, \
             CAST(row_number() OVER (PARTITION BY SchemaName, TableName, ForeignKeyName) AS INT) \
             AS ordinal_position, \
             CAST(row_number() OVER (PARTITION BY SchemaName, TableName, ForeignKeyName) AS INT) \
             AS position_in_unique_constraint \
             FROM sys_foreignkeys"
                .into(),
        ),
        (
            "referential_constraints",
            "SELECT DISTINCT current_database() AS constraint_catalog, \
             SchemaName AS constraint_schema, ForeignKeyName AS constraint_name, \
             current_database() AS unique_constraint_catalog, \
             ReferencedSchemaName AS unique_constraint_schema, \
             PrimaryKeyName AS unique_constraint_name, 'NONE' AS match_option, \
             'NO ACTION' AS update_rule, 'NO ACTION' AS delete_rule FROM sys_foreignkeys"
                .into(),
        ),
        (
            "views",
            "SELECT current_database() AS table_catalog, SchemaName AS table_schema, \
             TableName AS table_name, CAST(NULL AS VARCHAR) AS view_definition, \
             'NONE' AS check_option, 'NO' AS is_updatable, 'NO' AS is_insertable_into \
             FROM sys_tables WHERE TableType = 'VIEW'"
                .into(),
        ),
    ]
}

/// Every `pg_catalog` table's name (what unqualified names resolve to first, as PostgreSQL's
/// search path always begins with `pg_catalog`).
pub fn pg_catalog_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = with_rows().into_iter().map(|(n, _)| n).collect();
    names.extend(EMPTY.iter().map(|(n, _)| *n));
    names
}

/// The `pg_catalog` tables that are always empty here (a read of one has no rows).
pub fn empty_names() -> Vec<&'static str> {
    EMPTY.iter().map(|(n, _)| *n).collect()
}

async fn schema_of(
    ctx: &SessionContext,
    tables: Vec<(&'static str, String)>,
) -> Result<Arc<dyn SchemaProvider>> {
    let schema = MemorySchemaProvider::new();
    let state = ctx.state();
    for (name, sql) in tables {
        let plan = state.create_logical_plan(&sql).await?;
        schema.register_table(name.into(), Arc::new(ViewTable::new(plan, Some(sql))))?;
    }
    Ok(Arc::new(schema))
}

/// Registers `pg_catalog` and `information_schema` in the session's catalog (the functions
/// their views call must be registered first).
pub async fn install(ctx: &SessionContext) -> Result<()> {
    let mut tables = with_rows();
    tables.extend(EMPTY.iter().map(|(name, columns)| (*name, empty(columns))));
    let pg_catalog = schema_of(ctx, tables).await?;
    let information = schema_of(ctx, information_schema()).await?;
    let catalog = ctx
        .catalog(epicor_kinetic_sql::catalog::CATALOG)
        .ok_or_else(|| {
            epicor_kinetic_sql::datafusion::error::DataFusionError::Plan(
                "the session has no catalog".into(),
            )
        })?;
    catalog.register_schema("pg_catalog", pg_catalog)?;
    catalog.register_schema("information_schema", information)?;
    Ok(())
}
