//! `kinetic demo`: the emulator in process, then the connector against it, a screen at a time.

use crate::common::{usage, Failure};
use crate::output::{self, outln};
use clap::Args;
use epicor_kinetic::api::Record;
use epicor_kinetic::{Connection, Settings};
use futures_util::TryStreamExt;
use std::time::Instant;

/// `kinetic demo`.
#[derive(Args)]
pub struct DemoArgs {
    /// Sales order lines the emulator generates (the export reads the default company's share).
    #[arg(long, default_value_t = 50_000)]
    pub scale: u64,
}

fn heading(text: &str) -> Result<(), Failure> {
    outln!("\n== {text}")
}

pub async fn demo(args: DemoArgs) -> Result<(), Failure> {
    if args.scale == 0 {
        return Err(usage("--scale 0 has no data", "give a positive --scale"));
    }
    let config = epicor_kinetic_emulator::EmulatorConfig {
        scale: args.scale,
        ..Default::default()
    };
    eprintln!(
        "starting the embedded Epicor emulator ({} order lines)...",
        args.scale
    );
    let emulator = epicor_kinetic_emulator::spawn(config, "127.0.0.1:0")
        .await
        .map_err(|e| usage(format!("the emulator did not start: {e}"), "try again"))?;
    let info = emulator.startup_info();
    let strings = &info["connection_strings"];
    outln!(
        "The emulator serves {} (instance {}, company {}).",
        emulator.base_url(),
        info["instance"].as_str().unwrap_or_default(),
        info["company"].as_str().unwrap_or_default()
    )?;

    heading("1. One connection string per authentication scheme (each reads Customers/$count)")?;
    let schemes = [
        ("basic", "Basic, REST v1"),
        ("basic_v2", "Basic + API key, REST v2"),
        ("basic_session", "Basic in one Epicor session (UseSession)"),
        ("token", "Epicor token service (TokenResource.svc)"),
        ("azuread_client_secret", "Azure AD, client secret (daemon)"),
        ("azuread_client_cert", "Azure AD, client certificate"),
        ("oauth_discovery", "OAuth by OpenID discovery"),
    ];
    let mut rows = Vec::new();
    for (key, label) in schemes {
        let Some(text) = strings[key].as_str() else {
            continue;
        };
        let started = Instant::now();
        let outcome = async {
            // The demo's tokens stay in memory: the emulator and its keys end with the demo.
            let text = format!("{text};OAuthSettingsLocation=memory://demo-{key}");
            let connection = Connection::open(Settings::parse(&text)?).await?;
            let n = connection
                .entity_set("Erp.BO.CustomerSvc", "Customers")
                .count()
                .await?;
            connection.close().await?;
            Ok::<u64, epicor_kinetic::Error>(n)
        }
        .await;
        let ms = started.elapsed().as_millis();
        let shown = shown_settings(text);
        rows.push(match outcome {
            Ok(n) => vec![
                label.to_owned(),
                shown,
                format!("ok: {n} customers"),
                format!("{ms} ms"),
            ],
            Err(e) => vec![
                label.to_owned(),
                key.to_owned(),
                format!("FAILED: {e}"),
                format!("{ms} ms"),
            ],
        });
    }
    output::table(
        &[
            "scheme".into(),
            "settings".into(),
            "result".into(),
            "time".into(),
        ],
        &rows,
    )?;
    outln!(
        "Interactive sign-in (AzureAD with OAuthGrantType=CODE or DEVICE) works the same way after\n`kinetic login`; the emulator's start-up line (`kinetic emulator`) lists those strings too."
    )?;

    let connection = Connection::open(Settings::parse(
        strings["basic_v2"].as_str().unwrap_or_default(),
    )?)
    .await?;

    heading("2. A query: kinetic get Erp.BO.CustomerSvc/Customers --filter \"State eq 'MN'\" --select CustNum,CustID,Name,CreditLimit --top 5")?;
    let records: Vec<Record> = connection
        .entity_set("Erp.BO.CustomerSvc", "Customers")
        .filter_str("State eq 'MN'")?
        .select(["CustNum", "CustID", "Name", "CreditLimit"])
        .top(5)
        .records()
        .try_collect()
        .await?;
    if let Some(first) = records.first() {
        output::records_table(first.columns(), &records)?;
    }

    heading(
        "3. An export: kinetic export Erp.BO.SalesOrderSvc/OrderDtls --format csv -o lines.csv",
    )?;
    let dir = tempfile::tempdir().map_err(|e| Failure::Io {
        what: "creating a temporary directory".into(),
        source: e,
    })?;
    let out = dir.path().join("lines.csv");
    let export = crate::export::ExportArgs {
        target: "Erp.BO.SalesOrderSvc/OrderDtls".into(),
        query: crate::data::QueryArgs {
            parallelism: Some(4),
            ..Default::default()
        },
        format: crate::export::ExportFormat::Csv,
        output: Some(out.clone()),
        no_progress: false,
        connection: crate::common::ConnectionArgs {
            connection: strings["basic"].as_str().map(str::to_owned),
            profile: None,
        },
    };
    crate::export::export(export).await?;
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    outln!("The first lines of {}:", out.display())?;
    for line in text.lines().take(3) {
        let shown: String = line.chars().take(100).collect();
        let more = if line.chars().count() > 100 {
            "…"
        } else {
            ""
        };
        outln!("  {shown}{more}")?;
    }

    heading("4. A BAQ with a parameter: kinetic baq zOrdersByCustomer --param CustID=...")?;
    let first: Vec<Record> = connection
        .entity_set("Erp.BO.SalesOrderSvc", "SalesOrders")
        .select(["CustNum"])
        .top(1)
        .records()
        .try_collect()
        .await?;
    let cust_num = first
        .first()
        .and_then(|r| r.get("CustNum"))
        .map(ToString::to_string)
        .unwrap_or_default();
    let customer: Vec<Record> = connection
        .entity_set("Erp.BO.CustomerSvc", "Customers")
        .filter_str(&format!("CustNum eq {cust_num}"))?
        .select(["CustID"])
        .records()
        .try_collect()
        .await?;
    let cust_id = customer
        .first()
        .and_then(|r| r.get("CustID"))
        .map(ToString::to_string)
        .unwrap_or_default();
    outln!("(CustID={cust_id})")?;
    let rows = connection
        .baq("zOrdersByCustomer", &[("CustID", &cust_id)])
        .await?;
    output::rows_table(&rows[..rows.len().min(5)])?;

    heading("5. An Epicor Function: kinetic efx CustomerTools/GetCreditStatus --body '{\"CustID\": ...}'")?;
    let answer = connection
        .function_text(
            "CustomerTools",
            "GetCreditStatus",
            &serde_json::json!({ "CustID": cust_id }),
            false,
        )
        .await?;
    output::answer(&crate::data::exact_answer(&answer)?, true)?;

    heading("Next: your own server")?;
    outln!(
        "  kinetic profile add prod \"URL=https://erp.example.com;ERPInstance=Kinetic;User=me;ApiVersion=v2;Company=EPIC06;ApiKey=...\"\n  export KINETIC_PASSWORD=...      # secrets from the environment, not the profile\n  kinetic services --profile prod\n  kinetic describe Erp.BO.CustomerSvc/Customers --profile prod\n  kinetic export Erp.BO.SalesOrderSvc/OrderDtls --profile prod -o lines.csv"
    )?;
    connection.close().await?;
    emulator.shutdown().await;
    Ok(())
}

/// The properties of a connection string that tell its scheme apart (never a secret).
fn shown_settings(text: &str) -> String {
    const SHOWN: [&str; 5] = [
        "AuthScheme",
        "ApiVersion",
        "UseSession",
        "OAuthGrantType",
        "OAuthJWTCertType",
    ];
    SHOWN
        .iter()
        .filter_map(|name| {
            text.split(';').find_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_owned())
            })
        })
        .collect::<Vec<_>>()
        .join(" ")
}
