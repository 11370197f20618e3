//! The system tables against independent facts: the emulator's model (services, entity sets,
//! tables, columns, keys, navigations), its BAQs and Function libraries, its SQLite database,
//! the connector's property registry, and the requests the emulator saw.

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::array_value_to_string;
use epicor_kinetic::Settings;
use epicor_kinetic_emulator::erp::{baq::BAQS, efx::LIBRARIES};
use epicor_kinetic_emulator::model::{ColType, SERVICES};
use epicor_kinetic_emulator::{EmulatorConfig, RunningEmulator};
use epicor_kinetic_sql::procedures::OAUTH_PROCEDURES;
use epicor_kinetic_sql::system::{SqlType, MASK, NAMES};
use epicor_kinetic_sql::{SqlErrorKind, SqlSession};
use std::collections::{BTreeMap, BTreeSet};

type Row = BTreeMap<String, Option<String>>;

use crate::common;

async fn emulator() -> RunningEmulator {
    common::emulator(50).await
}

fn connection_string(emu: &RunningEmulator, which: &str) -> String {
    common::connection_string(emu, which)
}

async fn session_with(text: &str) -> SqlSession {
    common::session_with(text).await
}

async fn session(emu: &RunningEmulator, which: &str) -> SqlSession {
    session_with(&connection_string(emu, which)).await
}

fn to_rows(batches: &[RecordBatch]) -> Vec<Row> {
    let mut out = Vec::new();
    for b in batches {
        for r in 0..b.num_rows() {
            let mut row = Row::new();
            for (i, f) in b.schema().fields().iter().enumerate() {
                let a = b.column(i);
                let v = (!a.is_null(r)).then(|| array_value_to_string(a, r).expect("a value"));
                row.insert(f.name().clone(), v);
            }
            out.push(row);
        }
    }
    out
}

async fn rows(s: &SqlSession, sql: &str) -> Vec<Row> {
    let batches = s
        .query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    to_rows(&batches)
}

fn get<'a>(row: &'a Row, column: &str) -> Option<&'a str> {
    row.get(column)
        .unwrap_or_else(|| panic!("no column {column} in {row:?}"))
        .as_deref()
}

fn text(row: &Row, column: &str) -> String {
    get(row, column)
        .unwrap_or_else(|| panic!("{column} is NULL in {row:?}"))
        .to_owned()
}

/// `$metadata` requests the emulator saw (paths), as sent.
fn metadata_requests(emu: &RunningEmulator) -> Vec<String> {
    emu.requests()
        .into_iter()
        .map(|r| r.path().to_owned())
        .filter(|p| p.contains("$metadata") || p.contains("%24metadata"))
        .collect()
}

#[tokio::test]
async fn sys_tables_lists_every_entity_set_baq_and_system_table() {
    let emu = emulator().await;
    let s = session(&emu, "basic").await;
    let all = rows(&s, "SELECT * FROM sys_tables").await;

    let tables: BTreeSet<(String, String)> = all
        .iter()
        .filter(|r| get(r, "TableType") == Some("TABLE"))
        .map(|r| (text(r, "SchemaName"), text(r, "TableName")))
        .collect();
    let expected: BTreeSet<(String, String)> = SERVICES
        .iter()
        .flat_map(|svc| {
            svc.entity_sets
                .iter()
                .map(move |es| (svc.name.to_owned(), es.name.to_owned()))
        })
        .collect();
    assert_eq!(tables, expected);
    assert!(all
        .iter()
        .filter(|r| get(r, "TableType") == Some("TABLE"))
        .all(
            |r| get(r, "IsUpdateable") == Some("true") && get(r, "CatalogName") == Some("kinetic")
        ));

    let views: BTreeMap<String, (Option<String>, Option<String>)> = all
        .iter()
        .filter(|r| get(r, "TableType") == Some("VIEW"))
        .map(|r| {
            assert_eq!(get(r, "SchemaName"), Some("BaqSvc"));
            (
                text(r, "TableName"),
                (
                    get(r, "IsUpdateable").map(str::to_owned),
                    get(r, "Description").map(str::to_owned),
                ),
            )
        })
        .collect();
    let expected: BTreeMap<String, (Option<String>, Option<String>)> = BAQS
        .iter()
        .map(|b| {
            (
                b.id.to_owned(),
                (
                    Some(b.update.is_some().to_string()),
                    Some(b.description.to_owned()),
                ),
            )
        })
        .collect();
    assert_eq!(views, expected);
    assert!(
        views.values().any(|(u, _)| u.as_deref() == Some("true")),
        "the emulator has an updatable BAQ"
    );

    let system: BTreeSet<String> = all
        .iter()
        .filter(|r| get(r, "TableType") == Some("SYSTEM"))
        .map(|r| text(r, "TableName"))
        .collect();
    assert_eq!(system, NAMES.iter().map(|n| n.to_string()).collect());
    assert_eq!(
        all.len(),
        tables.len() + views.len() + system.len(),
        "no other rows: {all:?}"
    );
}

#[tokio::test]
async fn sys_schemas_and_sys_catalogs() {
    let emu = emulator().await;
    let s = session(&emu, "basic").await;
    let catalogs = rows(&s, "SELECT * FROM sys_catalogs").await;
    assert_eq!(catalogs.len(), 1);
    assert_eq!(get(&catalogs[0], "CatalogName"), Some("kinetic"));

    let schemas: BTreeSet<String> = rows(&s, "SELECT SchemaName FROM sys_schemas")
        .await
        .iter()
        .map(|r| text(r, "SchemaName"))
        .collect();
    // Every service the server lists (the emulator also lists Ice.Lib.SessionModSvc), BaqSvc,
    // and the default schema of the system tables.
    let mut expected: BTreeSet<String> = s
        .connection()
        .services()
        .await
        .expect("services")
        .into_iter()
        .map(|i| i.name)
        .collect();
    for svc in SERVICES {
        assert!(expected.contains(svc.name), "{} listed", svc.name);
    }
    expected.insert("BaqSvc".into());
    expected.insert("default".into());
    assert_eq!(schemas, expected);
}

#[tokio::test]
async fn sys_tablecolumns_match_the_model_and_the_database() {
    let emu = emulator().await;
    let s = session(&emu, "basic").await;
    let all = rows(
        &s,
        "SELECT * FROM sys_tablecolumns ORDER BY SchemaName, TableName, Ordinal",
    )
    .await;
    let db = common::sqlite(&emu);

    let mut checked_decimal = false;
    for svc in SERVICES {
        for es in svc.entity_sets {
            let cols: Vec<&Row> = all
                .iter()
                .filter(|r| {
                    get(r, "SchemaName") == Some(svc.name) && get(r, "TableName") == Some(es.name)
                })
                .collect();
            // As many columns as the database table has.
            let in_db: i64 = db
                .query_row(
                    &format!(
                        "SELECT COUNT(*) FROM pragma_table_info('{}')",
                        es.table.name
                    ),
                    [],
                    |r| r.get(0),
                )
                .expect("table_info");
            assert_eq!(cols.len() as i64, in_db, "{}.{}", svc.name, es.name);
            // The table as the SQL layer serves it: same column types.
            let served = s
                .query(&format!(
                    "SELECT * FROM \"{}\".\"{}\" LIMIT 0",
                    svc.name, es.name
                ))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let served = served.schema().clone();
            assert_eq!(served.fields().len(), cols.len());
            for (i, (row, column)) in cols.iter().zip(es.table.columns).enumerate() {
                let what = format!("{}.{}.{}", svc.name, es.name, column.name);
                assert_eq!(get(row, "ColumnName"), Some(column.name), "{what}");
                assert_eq!(text(row, "Ordinal"), (i + 1).to_string(), "{what}");
                assert_eq!(
                    get(row, "IsNullable"),
                    Some(column.nullable.to_string().as_str()),
                    "{what}"
                );
                let is_key = es.table.key.contains(&column.name);
                assert_eq!(
                    get(row, "IsKey"),
                    Some(is_key.to_string().as_str()),
                    "{what}"
                );
                let t = SqlType::of_arrow(served.field(i).data_type());
                assert_eq!(get(row, "DataTypeName"), Some(t.name()), "{what}");
                assert_eq!(text(row, "DataType"), t.code().to_string(), "{what}");
                match column.ty {
                    ColType::Decimal { precision, scale } => {
                        assert_eq!(text(row, "DataType"), "3", "{what}");
                        assert_eq!(
                            text(row, "NumericPrecision"),
                            precision.to_string(),
                            "{what}"
                        );
                        assert_eq!(text(row, "NumericScale"), scale.to_string(), "{what}");
                        checked_decimal = true;
                    }
                    ColType::String { max_len } => {
                        assert_eq!(text(row, "DataType"), "12", "{what}");
                        assert_eq!(text(row, "Length"), max_len.to_string(), "{what}");
                    }
                    ColType::Int32 => assert_eq!(text(row, "DataType"), "4", "{what}"),
                    ColType::Int64 => assert_eq!(text(row, "DataType"), "-5", "{what}"),
                    ColType::Boolean => assert_eq!(text(row, "DataType"), "16", "{what}"),
                    ColType::Date => assert!(
                        ["91", "93"].contains(&text(row, "DataType").as_str()),
                        "{what}"
                    ),
                    ColType::Guid => assert_eq!(text(row, "DataType"), "12", "{what}"),
                }
            }
        }
    }
    assert!(checked_decimal);

    // The BAQs' columns, from their own $metadata.
    for b in BAQS {
        let n = all
            .iter()
            .filter(|r| get(r, "SchemaName") == Some("BaqSvc") && get(r, "TableName") == Some(b.id))
            .count();
        assert_eq!(n, b.columns.len(), "BAQ {}", b.id);
    }
    // The system tables describe themselves.
    let n = all
        .iter()
        .filter(|r| get(r, "TableName") == Some("sys_tablecolumns"))
        .count();
    assert_eq!(n, 16);
}

#[tokio::test]
async fn sys_primarykeys_are_the_model_keys() {
    let emu = emulator().await;
    let s = session(&emu, "basic").await;
    let all = rows(
        &s,
        "SELECT * FROM sys_primarykeys ORDER BY SchemaName, TableName, KeySeq",
    )
    .await;
    let mut total = 0;
    for svc in SERVICES {
        for es in svc.entity_sets {
            let key: Vec<String> = all
                .iter()
                .filter(|r| {
                    get(r, "SchemaName") == Some(svc.name) && get(r, "TableName") == Some(es.name)
                })
                .map(|r| text(r, "ColumnName"))
                .collect();
            assert_eq!(key, es.table.key, "{}.{}", svc.name, es.name);
            total += key.len();
        }
    }
    assert_eq!(all.len(), total);
    assert!(all.iter().all(|r| get(r, "KeyName").is_some()));
}

#[tokio::test]
async fn sys_foreignkeys_follow_the_navigations_v1() {
    foreign_keys("basic").await;
}

#[tokio::test]
async fn sys_foreignkeys_follow_the_navigations_v2() {
    foreign_keys("basic_v2").await;
}

/// Over `which` connection: v1 serves CSDL v3 (associations), v2 CSDL v4 (referential
/// constraints and navigation bindings).
async fn foreign_keys(which: &str) {
    let emu = emulator().await;
    let s = session(&emu, which).await;
    let all = rows(&s, "SELECT * FROM sys_foreignkeys").await;
    let mut expected_imports = BTreeSet::new();
    for svc in SERVICES {
        for es in svc.entity_sets {
            for nav in es.navigations {
                for (parent, child) in nav.on {
                    expected_imports.insert((
                        svc.name.to_owned(),
                        nav.target.to_owned(),
                        child.to_string(),
                        es.name.to_owned(),
                        parent.to_string(),
                    ));
                }
            }
        }
    }
    assert!(!expected_imports.is_empty());
    let of_type = |t: &str| -> BTreeSet<(String, String, String, String, String)> {
        all.iter()
            .filter(|r| get(r, "ForeignKeyType") == Some(t))
            .map(|r| {
                assert_eq!(get(r, "SchemaName"), get(r, "ReferencedSchemaName"));
                (
                    text(r, "SchemaName"),
                    text(r, "TableName"),
                    text(r, "ColumnName"),
                    text(r, "ReferencedTableName"),
                    text(r, "ReferencedColumnName"),
                )
            })
            .collect()
    };
    assert_eq!(of_type("FOREIGNKEY_TYPE_IMPORT"), expected_imports);
    let exports: BTreeSet<_> = expected_imports
        .iter()
        .map(|(s, t, c, rt, rc)| (s.clone(), rt.clone(), rc.clone(), t.clone(), c.clone()))
        .collect();
    assert_eq!(of_type("FOREIGNKEY_TYPE_EXPORT"), exports);
    assert_eq!(all.len(), 2 * expected_imports.len());
    // The two asked for by name.
    let ship = rows(
        &s,
        "SELECT ColumnName, ReferencedColumnName FROM sys_foreignkeys WHERE TableName = 'ShipTos' AND ReferencedTableName = 'Customers' AND ForeignKeyType = 'FOREIGNKEY_TYPE_IMPORT' ORDER BY ColumnName",
    )
    .await;
    assert_eq!(
        ship.iter()
            .map(|r| text(r, "ColumnName"))
            .collect::<Vec<_>>(),
        ["Company", "CustNum"]
    );
    let lines = rows(
        &s,
        "SELECT ColumnName FROM sys_foreignkeys WHERE TableName = 'OrderDtls' AND ReferencedTableName = 'SalesOrders'",
    )
    .await;
    assert_eq!(lines.len(), 2);
}

#[tokio::test]
async fn sys_procedures_list_the_oauth_procedures_and_the_functions() {
    let emu = emulator().await;
    let s = session(&emu, "basic_v2").await;
    let procedures = rows(&s, "SELECT * FROM sys_procedures").await;
    let names: BTreeSet<(String, String)> = procedures
        .iter()
        .map(|r| (text(r, "SchemaName"), text(r, "ProcedureName")))
        .collect();
    let mut expected: BTreeSet<(String, String)> = OAUTH_PROCEDURES
        .iter()
        .map(|p| ("default".to_owned(), p.name.to_owned()))
        .collect();
    for l in LIBRARIES {
        for f in l.functions.iter().filter(|f| f.published) {
            expected.insert((format!("efx.{}", l.id), f.id.to_owned()));
        }
    }
    assert_eq!(names, expected);
    assert!(expected.iter().any(|(s, _)| s == "efx.CustomerTools"));
    assert!(procedures
        .iter()
        .all(|r| get(r, "Description").is_some() && get(r, "ProcedureType").is_some()));

    let parameters = rows(
        &s,
        "SELECT * FROM sys_procedureparameters ORDER BY SchemaName, ProcedureName, Ordinal",
    )
    .await;
    let of = |schema: &str, procedure: &str| -> Vec<(String, String, String)> {
        parameters
            .iter()
            .filter(|r| {
                get(r, "SchemaName") == Some(schema) && get(r, "ProcedureName") == Some(procedure)
            })
            .map(|r| {
                (
                    text(r, "ColumnName"),
                    text(r, "Direction"),
                    text(r, "DataTypeName"),
                )
            })
            .collect()
    };
    // The reference's parameter names, inputs (1) and outputs (4).
    let reference: [(&str, &[&str], &[&str]); 3] = [
        (
            "GetOAuthAuthorizationURL",
            &["CallbackUrl", "Scope", "State"],
            &["URL"],
        ),
        (
            "GetOAuthAccessToken",
            &["AuthMode", "Verifier", "CallbackUrl"],
            &["OAuthAccessToken", "ExpiresIn"],
        ),
        (
            "RefreshOAuthAccessToken",
            &["OAuthRefreshToken"],
            &["OAuthAccessToken", "ExpiresIn"],
        ),
    ];
    for (name, inputs, outputs) in reference {
        let listed = of("default", name);
        let with = |d: &str| -> BTreeSet<String> {
            listed
                .iter()
                .filter(|(_, dir, _)| dir == d)
                .map(|(n, _, _)| n.clone())
                .collect()
        };
        assert_eq!(
            with("1"),
            inputs.iter().map(|s| s.to_string()).collect(),
            "{name}"
        );
        assert_eq!(
            with("4"),
            outputs.iter().map(|s| s.to_string()).collect(),
            "{name}"
        );
        // In the order and with the required flags the procedure binds them.
        let p = OAUTH_PROCEDURES
            .iter()
            .find(|p| p.name == name)
            .expect("an OAuth procedure");
        let order: Vec<&str> = p
            .parameters
            .iter()
            .map(|a| a.name)
            .chain(p.columns.iter().copied())
            .collect();
        assert_eq!(
            listed
                .iter()
                .map(|(n, _, _)| n.as_str())
                .collect::<Vec<_>>(),
            order
        );
        for a in p.parameters {
            let row = parameters
                .iter()
                .find(|r| {
                    get(r, "ProcedureName") == Some(name) && get(r, "ColumnName") == Some(a.name)
                })
                .expect("listed");
            assert_eq!(
                get(row, "IsRequired"),
                Some(a.required.to_string().as_str())
            );
            assert_eq!(get(row, "Description"), Some(a.description));
        }
    }
    for l in LIBRARIES {
        for f in l.functions.iter().filter(|f| f.published) {
            let expected: Vec<(String, String, String)> = f
                .inputs
                .iter()
                .map(|a| {
                    (
                        a.name.to_owned(),
                        "1".to_owned(),
                        SqlType::of_dotnet(a.ty).name().to_owned(),
                    )
                })
                .chain(f.outputs.iter().map(|a| {
                    (
                        a.name.to_owned(),
                        "4".to_owned(),
                        SqlType::of_dotnet(a.ty).name().to_owned(),
                    )
                }))
                .collect();
            assert_eq!(
                of(&format!("efx.{}", l.id), f.id),
                expected,
                "{}/{}",
                l.id,
                f.id
            );
        }
    }
    // A decimal output is a decimal.
    assert!(parameters
        .iter()
        .any(|r| get(r, "DataTypeName") == Some("decimal") && get(r, "DataType") == Some("3")));

    // A filter on the OAuth procedures does not ask the server for its functions.
    emu.clear_requests();
    let only = rows(
        &s,
        "SELECT ProcedureName FROM sys_procedures WHERE ProcedureName = 'RefreshOAuthAccessToken'",
    )
    .await;
    assert_eq!(only.len(), 1);
    assert!(
        emu.requests().iter().all(|r| !r.path().contains("/efx/")),
        "{:?}",
        emu.requests()
    );
}

#[tokio::test]
async fn the_oauth_procedures_are_listed_when_the_server_refuses_the_functions() {
    let emu = emulator().await;
    // v1 with Basic and no API key: Functions are a v2 service.
    let s = session(&emu, "basic").await;
    let names: BTreeSet<String> = rows(&s, "SELECT ProcedureName FROM sys_procedures")
        .await
        .iter()
        .map(|r| text(r, "ProcedureName"))
        .collect();
    for p in OAUTH_PROCEDURES {
        assert!(names.contains(p.name), "{} in {names:?}", p.name);
    }
}

#[tokio::test]
async fn sys_connection_props_never_show_secrets() {
    let emu = emulator().await;
    let base = connection_string(&emu, "basic_v2");
    let settings = Settings::parse(&base).expect("settings");
    let password = settings
        .auth
        .password
        .as_ref()
        .expect("a password")
        .expose()
        .to_owned();
    let api_key = settings
        .auth
        .api_key
        .as_ref()
        .expect("an API key")
        .expose()
        .to_owned();
    let s = session_with(&base).await;
    let all = rows(&s, "SELECT * FROM sys_connection_props").await;
    assert_eq!(all.len(), epicor_kinetic::settings::PROPERTIES.len());
    for row in &all {
        for (column, value) in row {
            let Some(value) = value else { continue };
            assert!(
                !value.contains(&password) && !value.contains(&api_key),
                "a secret in {column} of {row:?}"
            );
        }
    }
    let by_name: BTreeMap<String, &Row> = all.iter().map(|r| (text(r, "Name"), r)).collect();
    assert_eq!(get(by_name["Password"], "Value"), Some(MASK));
    assert_eq!(get(by_name["ApiKey"], "Value"), Some(MASK));
    assert_eq!(get(by_name["OAuthClientSecret"], "Value"), None);
    assert_eq!(get(by_name["User"], "Value"), settings.auth.user.as_deref());
    assert_eq!(get(by_name["ApiVersion"], "Value"), Some("v2"));
    assert_eq!(get(by_name["Pagesize"], "Value"), Some("100"));
    assert_eq!(get(by_name["Pagesize"], "Default"), Some("100"));
    assert_eq!(get(by_name["URL"], "Required"), Some("true"));
    assert_eq!(
        get(by_name["AuthScheme"], "Category"),
        Some("Authentication")
    );
    assert!(get(by_name["ApiVersion"], "Values").is_some_and(|v| v.contains("v2")));

    // Nor anywhere else a query can reach them: the whole table as text.
    let text_dump = format!(
        "{:?}",
        rows(
            &s,
            "SELECT Name, Value, \"Default\", ShortDescription FROM sys_connection_props"
        )
        .await
    );
    assert!(!text_dump.contains(&password));
}

#[tokio::test]
async fn filters_narrow_what_is_read() {
    let emu = emulator().await;
    let s = session(&emu, "basic").await;
    // The service list is read before the first statement.
    rows(&s, "SELECT * FROM sys_catalogs").await;

    // One schema: that service's $metadata only.
    emu.clear_requests();
    let customer = rows(
        &s,
        "SELECT TableName FROM sys_tables WHERE SchemaName = 'Erp.BO.CustomerSvc'",
    )
    .await;
    let names: BTreeSet<String> = customer.iter().map(|r| text(r, "TableName")).collect();
    let expected: BTreeSet<String> = SERVICES[0]
        .entity_sets
        .iter()
        .map(|e| e.name.to_owned())
        .collect();
    assert_eq!(SERVICES[0].name, "Erp.BO.CustomerSvc");
    assert_eq!(names, expected);
    let seen = metadata_requests(&emu);
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].contains("Erp.BO.CustomerSvc"), "{seen:?}");
    assert!(
        emu.requests().iter().all(|r| !r.path().contains("BaqSvc")),
        "no BAQ list for another schema: {:?}",
        emu.requests()
    );

    // One table name: no BAQ's $metadata, each service's at most once (CustomerSvc's is
    // cached already).
    emu.clear_requests();
    let columns = rows(
        &s,
        "SELECT ColumnName FROM sys_tablecolumns WHERE TableName = 'Customers'",
    )
    .await;
    assert_eq!(
        columns.len(),
        SERVICES[0].entity_sets[0].table.columns.len()
    );
    let seen = metadata_requests(&emu);
    assert!(seen.iter().all(|p| !p.contains("BaqSvc")), "{seen:?}");
    assert!(
        seen.iter().all(|p| !p.contains("Erp.BO.CustomerSvc")),
        "{seen:?}"
    );
    let distinct: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(distinct.len(), seen.len(), "{seen:?}");

    // Asked again: everything is cached.
    emu.clear_requests();
    rows(
        &s,
        "SELECT ColumnName FROM sys_tablecolumns WHERE TableName = 'Customers'",
    )
    .await;
    assert_eq!(metadata_requests(&emu), Vec::<String>::new());

    // Without a filter the BAQs' $metadata is read: the narrowing above is what saved it.
    emu.clear_requests();
    rows(&s, "SELECT ColumnName FROM sys_tablecolumns").await;
    let seen = metadata_requests(&emu);
    assert_eq!(
        seen.iter().filter(|p| p.contains("BaqSvc")).count(),
        BAQS.len(),
        "{seen:?}"
    );

    // EXPLAIN reads nothing and says what the scan will read.
    emu.clear_requests();
    let plan = rows(
        &s,
        "EXPLAIN SELECT * FROM sys_foreignkeys WHERE SchemaName IN ('Erp.BO.SalesOrderSvc')",
    )
    .await;
    assert!(
        format!("{plan:?}").contains("SystemScanExec: sys_foreignkeys"),
        "{plan:?}"
    );
    assert_eq!(metadata_requests(&emu), Vec::<String>::new());
}

#[tokio::test]
async fn the_service_setting_limits_the_tables_listed() {
    let emu = emulator().await;
    let text = format!(
        "{};Service=Erp.BO.PartSvc",
        connection_string(&emu, "basic")
    );
    let s = session_with(&text).await;
    let tables: BTreeSet<(String, String)> = rows(
        &s,
        "SELECT SchemaName, TableName FROM sys_tables WHERE TableType = 'TABLE'",
    )
    .await
    .iter()
    .map(|r| (text_of(r, "SchemaName"), text_of(r, "TableName")))
    .collect();
    let part = SERVICES
        .iter()
        .find(|s| s.name == "Erp.BO.PartSvc")
        .expect("PartSvc");
    let expected: BTreeSet<(String, String)> = part
        .entity_sets
        .iter()
        .map(|e| (part.name.to_owned(), e.name.to_owned()))
        .collect();
    assert_eq!(tables, expected);
    // A schema asked for by name is still listed.
    let vendors = rows(
        &s,
        "SELECT TableName FROM sys_tables WHERE SchemaName = 'Erp.BO.VendorSvc'",
    )
    .await;
    assert_eq!(vendors.len(), 1);
}

fn text_of(row: &Row, column: &str) -> String {
    text(row, column)
}

#[tokio::test]
async fn system_table_names_match_in_any_case_and_unknown_ones_are_named() {
    let emu = emulator().await;
    let s = session(&emu, "basic").await;
    let n = rows(&s, "SELECT * FROM SYS_Catalogs").await;
    assert_eq!(n.len(), 1);
    let n = rows(
        &s,
        "SELECT * FROM kinetic.default.sys_sqlinfo WHERE NAME = 'SUPPORTS_JOIN'",
    )
    .await;
    assert_eq!(n.len(), 1);
    assert_eq!(get(&n[0], "VALUE"), Some("YES"));

    let e = common::error_of(&s, "SELECT * FROM sys_tabels").await;
    assert_eq!(e.kind(), SqlErrorKind::Invalid, "{e}");
    let message = e.to_string();
    assert!(message.contains("sys_tabels"), "{message}");
    assert!(message.contains("did you mean sys_tables"), "{message}");

    // A name whose fourth byte is inside a character is an unknown table, not a crash.
    let e = common::error_of(&s, "SELECT * FROM \"sysé_tables\"").await;
    assert!(e.to_string().contains("sysé_tables"), "{e}");
}

async fn emulator_with_fault(kind: &str, path: &str) -> RunningEmulator {
    let mut config = EmulatorConfig {
        scale: 50,
        request_log: 10_000,
        ..Default::default()
    };
    config
        .faults
        .rules
        .push(epicor_kinetic_emulator::config::FaultRule {
            kind: kind.into(),
            rate: 1.0,
            path: Some(path.into()),
            min_ms: 0,
            max_ms: 0,
            retry_after_secs: None,
        });
    epicor_kinetic_emulator::spawn(config, "127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("emulator: {e}"))
}

#[tokio::test]
async fn a_service_whose_metadata_fails_on_its_own_is_left_out() {
    let emu = emulator_with_fault("502", "/api/v1/Erp.BO.PartSvc/$metadata").await;
    let s = session_with(&format!(
        "{};MaxRetries=0",
        connection_string(&emu, "basic")
    ))
    .await;
    let schemas: BTreeSet<String> = rows(
        &s,
        "SELECT DISTINCT SchemaName FROM sys_tables WHERE TableType = 'TABLE'",
    )
    .await
    .iter()
    .map(|r| text(r, "SchemaName"))
    .collect();
    let expected: BTreeSet<String> = SERVICES
        .iter()
        .map(|s| s.name.to_owned())
        .filter(|n| n != "Erp.BO.PartSvc")
        .collect();
    assert_eq!(schemas, expected);
}

#[tokio::test]
async fn a_network_failure_ends_the_query() {
    let emu = emulator_with_fault("close", "/api/v1/Erp.BO.PartSvc/$metadata").await;
    let s = session_with(&format!(
        "{};MaxRetries=0",
        connection_string(&emu, "basic")
    ))
    .await;
    let e = common::error_of(&s, "SELECT * FROM sys_tables").await;
    assert_eq!(
        e.kind(),
        SqlErrorKind::Connector(epicor_kinetic::ErrorKind::Transport),
        "{e}"
    );
}
