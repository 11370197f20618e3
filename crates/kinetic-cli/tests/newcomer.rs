//! The command line as a newcomer meets it (issue 13): which connection wins, what `login`,
//! `logout` and the OAuth procedures imply, and what a command says with no connection at all.
//! Each runs the binary against an emulator served by this process on 127.0.0.1:0.

mod common;

use std::io::BufReader;
use std::path::Path;
use std::process::{Output, Stdio};

/// An emulator of `scale` order lines served by this process, and a configuration directory.
fn served(scale: u64) -> (common::Served, tempfile::TempDir) {
    let emu = common::Served::start(epicor_kinetic_emulator::EmulatorConfig {
        scale,
        ..Default::default()
    });
    (emu, tempfile::tempdir().unwrap())
}

fn run(config: &Path, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = common::kinetic_command(config, args, env)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        status.code(),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

fn without(cs: &str, property: &str) -> String {
    cs.split(';')
        .filter(|p| !p.starts_with(&format!("{property}=")))
        .collect::<Vec<_>>()
        .join(";")
}

/// README "From the demo to your own server": step 1 exports `KINETIC_CONNECTION`, step 2 names a
/// profile. The profile named on the command line wins, and the command says the variable was
/// left out.
#[test]
fn a_connection_named_on_the_command_line_beats_the_environment() {
    let (emu, config) = served(200);
    let good = emu.cs("basic");
    let (code, _, err) = run(config.path(), &["profile", "add", "mine", &good], &[]);
    assert_eq!(code, Some(0), "{err}");
    let stale = good.replace("Password=Epicor123!", "Password=from-an-old-shell");
    let env = [("KINETIC_CONNECTION", stale.as_str())];
    let (code, out, err) = run(
        config.path(),
        &["services", "--profile", "mine", "--format", "json"],
        &env,
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("Erp.BO.CustomerSvc"), "{out}");
    assert!(
        err.contains("note: KINETIC_CONNECTION is set but not used"),
        "{err}"
    );
    // -c too.
    let (code, _, err) = run(
        config.path(),
        &["services", "-c", &good, "--format", "json"],
        &env,
    );
    assert_eq!(code, Some(0), "{err}");
    // Alone, KINETIC_CONNECTION is the connection (and its wrong password is refused: exit 4).
    let (code, _, _) = run(config.path(), &["services"], &env);
    assert_eq!(code, Some(4));
    // A targeted variable still fills (and overrides) the profile's value, and says so.
    let (code, _, err) = run(
        config.path(),
        &["services", "--profile", "mine", "--format", "json"],
        &[("KINETIC_PAGESIZE", "7")],
    );
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = run(
        config.path(),
        &["services", "--profile", "mine", "--format", "json"],
        &[("KINETIC_PASSWORD", "Epicor123!")],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("note: KINETIC_PASSWORD is set and used instead of profile mine's Password"),
        "{err}"
    );
}

/// `kinetic login` signs in although `InitiateOAuth` defaults to OFF; the OAuth procedures work
/// without `InitiateOAuth=REFRESH`; `login` with Basic and `logout` with nothing stored say what
/// is true.
#[test]
fn login_logout_and_the_procedures_do_what_they_say() {
    let (emu, config) = served(200);
    let device = without(&emu.cs("azuread_device"), "InitiateOAuth");
    let mut child = common::kinetic_command(config.path(), &["login", "-c", &device], &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let line = common::wait_for_line(&mut stderr, |l| l.contains("enter the code"));
    assert!(
        line.contains("/devicelogin") || line.contains("code"),
        "{line}"
    );
    child.kill().unwrap();
    child.wait().unwrap();

    let code_cs = format!(
        "{};OAuthSettingsLocation={}",
        without(&emu.cs("azuread_code"), "InitiateOAuth"),
        config.path().join("web.bin").display()
    );
    let (code, out, err) = run(
        config.path(),
        &["oauth", "authorization-url", "-c", &code_cs],
        &[],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("code_challenge="), "{out}");

    let (code, _, err) = run(config.path(), &["login", "-c", &emu.cs("basic")], &[]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("no sign-in to keep"), "{err}");
    assert!(!err.contains("tokens are kept"), "{err}");

    let fresh = tempfile::tempdir().unwrap();
    let (code, _, err) = run(fresh.path(), &["logout", "-c", &emu.cs("basic")], &[]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("nothing to sign out of"), "{err}");
}

/// No connection at all: the error names every way to give one.
#[test]
fn no_connection_names_the_ways_to_give_one() {
    let config = tempfile::tempdir().unwrap();
    let (code, out, err) = run(config.path(), &["services"], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(out.is_empty());
    for want in ["-c", "--profile", "KINETIC_CONNECTION", "kinetic emulator"] {
        assert!(err.contains(want), "{want}: {err}");
    }
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

/// `kinetic config show`: every property with its value, secrets redacted, and where each came
/// from; `--whoami` says who the connection is without printing the token.
#[test]
fn config_show_says_what_each_property_is_and_where_it_came_from() {
    let (emu, config) = served(200);
    let cs = without(&emu.cs("basic"), "Company");
    let (code, _, err) = run(config.path(), &["profile", "add", "mine", &cs], &[]);
    assert_eq!(code, Some(0), "{err}");
    let (code, out, err) = run(
        config.path(),
        &["config", "show", "--profile", "mine", "--format", "json"],
        &[("KINETIC_COMPANY", "EPIC06"), ("KINETIC_PAGESIZE", "25")],
    );
    assert_eq!(code, Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let find = |name: &str| {
        v["properties"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["property"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} in {v}"))
    };
    assert_eq!(find("Password")["value"], "[redacted]");
    assert!(!out.contains("Epicor123!"), "{out}");
    assert!(find("URL")["from"]
        .as_str()
        .unwrap()
        .contains("profile `mine`"));
    assert_eq!(find("Company")["value"], "EPIC06");
    assert!(find("Company")["from"]
        .as_str()
        .unwrap()
        .contains("KINETIC_COMPANY"));
    assert_eq!(find("Pagesize")["value"], "25");
    assert_eq!(find("MaxRetries")["from"], "the default");

    // A profile that does not make a connection yet (its password comes later) is still shown,
    // with why it would not connect.
    let (code, _, err) = run(
        config.path(),
        &["profile", "add", "nopass", &without(&cs, "Password")],
        &[],
    );
    assert_eq!(code, Some(0), "{err}");
    let (code, out, err) = run(
        config.path(),
        &["config", "show", "--profile", "nopass", "--format", "json"],
        &[],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("do not make a connection yet"), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v["problem"].as_str().unwrap().contains("Password"), "{v}");
    assert!(v["properties"].to_string().contains("\"URL\""), "{v}");

    let token_cs = emu.cs("azuread_client_secret");
    let (code, out, err) = run(
        config.path(),
        &[
            "config", "show", "--whoami", "-c", &token_cs, "--format", "json",
        ],
        &[],
    );
    assert_eq!(code, Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["whoami"]["scheme"], "AzureAD", "{v}");
    assert!(v["whoami"]["application"].is_string(), "{v}");
    assert!(
        v["whoami"]["token expires in"]
            .as_str()
            .unwrap()
            .ends_with(" s"),
        "{v}"
    );
    assert!(!out.contains("eyJ"), "no token printed: {out}");
}

/// Each command accepts what it uses, and what it accepts works.
#[test]
fn options_do_what_they_say_or_are_refused() {
    let (emu, config) = served(300);
    let basic = emu.cs("basic");
    let env = [("KINETIC_CONNECTION", basic.as_str())];
    let k = |args: &[&str]| run(config.path(), args, &env);
    let one = "Erp.BO.CustomerSvc/Customers('EPIC06',3)";

    // --select on one row: only those columns.
    let (code, out, err) = k(&["get", one, "--select", "Name,CustNum", "--format", "json"]);
    assert_eq!(code, Some(0), "{err}");
    let row: serde_json::Value = serde_json::from_str(&out).unwrap();
    let names: Vec<&String> = row.as_object().unwrap().keys().collect();
    assert_eq!(names, ["Name", "CustNum"], "{out}");
    let (code, _, err) = k(&["get", one, "--select", "Nope"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("CustID"), "the columns are listed: {err}");
    let (code, _, err) = k(&["get", one, "--select", "Nmae"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("did you mean Name?"), "{err}");
    let (code, _, err) = k(&["get", "Erp.BO.CustomerSvc/Customer", "--top", "1"]);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("did you mean Customers?"), "{err}");
    let (code, _, err) = k(&["get", "Erp.BO.CustomrSvc/Customers", "--top", "1"]);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("did you mean Erp.BO.CustomerSvc?"), "{err}");
    // Set-only options on one row are refused, not ignored.
    for flag in [["--top", "3"], ["--filter", "CustNum eq 3"]] {
        let (code, _, err) = k(&["get", one, flag[0], flag[1]]);
        assert_eq!(code, Some(2), "{flag:?}: {err}");
        assert!(err.contains(flag[0]), "{err}");
    }
    // --count honours --top (and --skip).
    let (code, out, err) = k(&[
        "get",
        "Erp.BO.CustomerSvc/Customers",
        "--count",
        "--top",
        "3",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.trim(), "3");
    // An empty table says so.
    let (code, out, err) = k(&[
        "get",
        "Erp.BO.CustomerSvc/Customers",
        "--filter",
        "CustNum eq -1",
        "--format",
        "table",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.trim(), "no rows");
    // A navigation after the key: the related rows.
    let (_, out, _) = k(&[
        "get",
        "Erp.BO.SalesOrderSvc/SalesOrders",
        "--top",
        "1",
        "--format",
        "json",
    ]);
    let order = serde_json::from_str::<serde_json::Value>(&out).unwrap()[0]["OrderNum"].clone();
    let nav = format!("Erp.BO.SalesOrderSvc/SalesOrders('EPIC06',{order})/OrderDtls");
    let (code, out, err) = k(&["get", &nav, "--format", "json"]);
    assert_eq!(code, Some(0), "{err}");
    let lines: serde_json::Value = serde_json::from_str(&out).unwrap();
    let lines = lines.as_array().unwrap();
    assert!(!lines.is_empty(), "{out}");
    assert!(lines.iter().all(|l| l["OrderNum"] == order), "{out}");
    // call --format table prints a table.
    let (code, out, err) = k(&[
        "call",
        "Erp.BO.CustomerSvc/GetByID",
        "--body",
        r#"{"custNum": 3}"#,
        "--format",
        "table",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(!out.trim_start().starts_with('{'), "{out}");
    assert!(out.contains("Customer"), "{out}");
    // Options a command does not use are not offered.
    let (_, out, _) = k(&["delete", "--help"]);
    assert!(!out.contains("--body"), "{out}");
    let (_, out, _) = k(&["call", "--help"]);
    assert!(!out.contains("--staging"), "{out}");
    let (_, out, _) = k(&["efx", "--help"]);
    assert!(out.contains("--staging"), "{out}");
}

/// Finding one's way on a server one does not know: the BAQs it has, a BAQ's parameters and
/// columns, and a BAQ read with a filter, a selection and a limit.
#[test]
fn baqs_are_listed_described_and_queried() {
    let (emu, config) = served(300);
    let basic = emu.cs("basic");
    let env = [("KINETIC_CONNECTION", basic.as_str())];
    let k = |args: &[&str]| run(config.path(), args, &env);

    let (code, out, err) = k(&["baq", "--list", "--format", "json"]);
    assert_eq!(code, Some(0), "{err}");
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["QueryID"].as_str())
        .collect();
    assert!(
        ids.contains(&"zCustomerList") && ids.contains(&"zOrdersByCustomer"),
        "{out}"
    );

    let (code, out, err) = k(&["describe", "BaqSvc/zOrdersByCustomer", "--format", "json"]);
    assert_eq!(code, Some(0), "{err}");
    let d: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(d["parameters"].to_string().contains("CustID"), "{out}");
    assert!(!d["columns"].as_array().unwrap().is_empty(), "{out}");
    let (code, _, err) = k(&["describe", "BaqSvc/zNope"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("zCustomerList"), "the BAQs are listed: {err}");

    let (code, out, err) = k(&["baq", "zCustomerList", "--format", "json"]);
    assert_eq!(code, Some(0), "{err}");
    let all: serde_json::Value = serde_json::from_str(&out).unwrap();
    let first = all[0].as_object().unwrap().clone();
    let column = first.keys().next().unwrap().clone();
    let (code, out, err) = k(&[
        "baq",
        "zCustomerList",
        "--select",
        &column,
        "--top",
        "2",
        "--format",
        "json",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let some: serde_json::Value = serde_json::from_str(&out).unwrap();
    let some = some.as_array().unwrap();
    assert_eq!(some.len(), 2, "{out}");
    assert!(
        some.iter()
            .all(|r| r.as_object().unwrap().keys().all(|k| *k == column)),
        "{out}"
    );
}

/// Hints follow what failed: a missing row is not a misspelt service, a missing BAQ parameter
/// is not a column to look up.
#[test]
fn hints_point_the_right_way() {
    let (emu, config) = served(200);
    let basic = emu.cs("basic");
    let env = [("KINETIC_CONNECTION", basic.as_str())];
    let k = |args: &[&str]| run(config.path(), args, &env);
    let (code, _, err) = k(&["get", "Erp.BO.CustomerSvc/Customers('EPIC06',987654)"]);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("no row has that key"), "{err}");
    assert!(!err.contains("kinetic services"), "{err}");
    let (code, _, err) = k(&["baq", "zOrdersByCustomer"]);
    assert_ne!(code, Some(0), "{err}");
    assert!(
        err.contains("CustID"),
        "the missing parameter is named: {err}"
    );
    assert!(!err.contains("kinetic describe"), "{err}");
}

/// A failure is said once: causes the message already quotes are not repeated under it.
#[test]
fn an_unreachable_server_is_reported_once() {
    let config = tempfile::tempdir().unwrap();
    // A port bound for the whole test and never listened on: connections are refused.
    let reserved = tokio::net::TcpSocket::new_v4().unwrap();
    reserved.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = reserved.local_addr().unwrap().port();
    let cs = format!("URL=http://127.0.0.1:{port};ERPInstance=K;User=u;Password=p;MaxRetries=0");
    let (code, _, err) = run(
        config.path(),
        &["get", "Erp.BO.CustomerSvc/Customers", "-c", &cs],
        &[],
    );
    assert_eq!(code, Some(1), "{err}");
    let refused = err.matches("Connection refused").count();
    assert_eq!(refused, 1, "said once: {err}");
}

/// The company's Function libraries, listed with their functions.
#[test]
fn function_libraries_are_listed() {
    let (emu, config) = served(200);
    let v2 = emu.cs("basic_v2");
    let (code, out, err) = run(
        config.path(),
        &["efx", "--list", "--format", "json", "-c", &v2],
        &[],
    );
    assert_eq!(code, Some(0), "{err}");
    let libs: serde_json::Value = serde_json::from_str(&out).unwrap();
    let text = libs.to_string();
    assert!(
        text.contains("CustomerTools") && text.contains("GetCreditStatus"),
        "{out}"
    );
    assert!(
        !text.contains("\"Published\":false"),
        "published only: {out}"
    );
    let (code, out, err) = run(
        config.path(),
        &["efx", "--list", "--staging", "--format", "json", "-c", &v2],
        &[],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("\"Published\":false") || out.contains("\"Published\": false"),
        "staging lists unpublished: {out}"
    );
}
