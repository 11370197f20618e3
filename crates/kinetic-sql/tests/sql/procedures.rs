//! EXEC and CALL against the emulator: the OAuth web procedures, BO methods and Epicor
//! Functions, checked against the emulator's SQLite database and its identity provider.

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::record_batch::RecordBatch;
use epicor_kinetic_emulator::RunningEmulator;
use epicor_kinetic_sql::{SqlErrorKind, SqlSession};

use crate::common;
use common::run;

async fn emulator() -> RunningEmulator {
    common::emulator(200).await
}

fn connection_string(emu: &RunningEmulator, which: &str) -> String {
    common::connection_string(emu, which)
}

async fn session_of(text: &str) -> SqlSession {
    common::session_with(text).await
}

/// The text of column `name` in the one row answered.
fn text(batches: &[RecordBatch], name: &str) -> Option<String> {
    assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), 1);
    let b = &batches[0];
    let i = b
        .schema()
        .index_of(name)
        .unwrap_or_else(|_| panic!("no column {name} in {:?}", b.schema()));
    let a = b.column(i).as_string::<i32>();
    a.is_valid(0).then(|| a.value(0).to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn bo_methods_by_exec_and_call_answer_what_sqlite_has() {
    let emu = emulator().await;
    let s = session_of(&connection_string(&emu, "basic")).await;
    let company = s.connection().settings().company.clone().unwrap();
    let db = common::sqlite(&emu);
    let (name, cust_id, limit): (String, String, f64) = db
        .query_row(
            "SELECT Name, CustID, CreditLimit FROM Customer WHERE Company = ?1 AND CustNum = 7",
            [&company],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    for sql in [
        "EXEC \"Erp.BO.CustomerSvc\".GetByID @custNum = 7",
        "EXECUTE Erp.BO.CustomerSvc.GetByID custNum = 7;",
        "CALL CustomerSvc.GetByID(custNum => 7)",
        "call customersvc.GetByID(\"custNum\" => 7)",
    ] {
        let batches = run(&s, sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        let obj: serde_json::Value =
            serde_json::from_str(&text(&batches, "returnObj").unwrap()).unwrap();
        let row = &obj["Customer"][0];
        assert_eq!(row["Name"], serde_json::json!(name), "{sql}");
        assert_eq!(row["CustID"], serde_json::json!(cust_id), "{sql}");
        let got: f64 = match &row["CreditLimit"] {
            serde_json::Value::String(t) => t.parse().unwrap(),
            v => v.as_f64().unwrap(),
        };
        assert!((got - limit).abs() < 1e-9, "{sql}: {got} vs {limit}");
    }
    // The server's refusal keeps its kind.
    let e = run(&s, "EXEC CustomerSvc.GetByID @custNum = 999999")
        .await
        .unwrap_err();
    assert_eq!(
        e.kind(),
        SqlErrorKind::Connector(epicor_kinetic::ErrorKind::NotFound),
        "{e}"
    );
    assert!(e.to_string().contains("Record not found"), "{e}");
    // An unknown service is the statement's fault.
    let e = run(&s, "CALL NoSuchSvc.GetByID(custNum => 1)")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), SqlErrorKind::Invalid);
    assert!(e.to_string().contains("no service NoSuchSvc"), "{e}");
    let e = run(&s, "CALL CustomerSvc.GetByID(7)").await.unwrap_err();
    assert_eq!(e.kind(), SqlErrorKind::Invalid);
    assert!(e.to_string().contains("name every argument"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_epicor_function_answers_its_outputs() {
    let emu = emulator().await;
    let s = session_of(&connection_string(&emu, "basic_v2")).await;
    let company = s.connection().settings().company.clone().unwrap();
    let db = common::sqlite(&emu);
    let (cust_id, hold, open): (String, bool, i64) = db
        .query_row(
            "SELECT c.CustID, c.CreditHold, (SELECT count(*) FROM OrderHed o WHERE o.Company = c.Company AND o.CustNum = c.CustNum AND o.OpenOrder = 1) \
             FROM Customer c WHERE c.Company = ?1 ORDER BY (SELECT count(*) FROM OrderHed o WHERE o.Company = c.Company AND o.CustNum = c.CustNum) DESC LIMIT 1",
            [&company],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    let batches = run(
        &s,
        &format!("CALL efx.CustomerTools.GetCreditStatus(CustID => '{cust_id}')"),
    )
    .await
    .unwrap();
    assert_eq!(text(&batches, "Found").as_deref(), Some("true"));
    assert_eq!(text(&batches, "CreditHold"), Some(hold.to_string()));
    assert_eq!(text(&batches, "OpenOrders"), Some(open.to_string()));
    // EXEC, and a function that writes: SQLite sees it.
    let batches = run(
        &s,
        &format!(
            "EXEC efx.CustomerTools.SetCreditHold @CustID = '{cust_id}', @Hold = {}",
            !hold
        ),
    )
    .await
    .unwrap();
    assert_eq!(text(&batches, "Success").as_deref(), Some("true"));
    let now: bool = db
        .query_row(
            "SELECT CreditHold FROM Customer WHERE Company = ?1 AND CustID = ?2",
            [&company, &cust_id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(now, !hold);
    // An unpublished library answers under staging only.
    let batches = run(
        &s,
        "CALL efx.staging.CustomerTools.OrderSummary(OrderNum => -1)",
    )
    .await
    .unwrap();
    assert_eq!(text(&batches, "Found").as_deref(), Some("false"));
    let e = run(&s, "CALL efx.CustomerTools(x => 1)").await.unwrap_err();
    assert_eq!(e.kind(), SqlErrorKind::Invalid);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_oauth_web_procedures_talk_to_the_identity_provider() {
    let emu = emulator().await;
    let text_of = format!(
        "{};OAuthSettingsLocation=memory://sql-procedures",
        connection_string(&emu, "azuread_code")
    );
    let s = session_of(&text_of).await;
    let batches = run(
        &s,
        "EXEC GetOAuthAuthorizationURL @CallbackUrl = 'http://localhost:5000/cb', @scope = 'api://x/user_impersonation'",
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let url = text(&batches, "URL").unwrap();
    let authority = s.connection().settings().oauth.authority.clone();
    assert!(url.starts_with(&authority), "{url} from {authority}");
    assert!(url.contains("/authorize?"), "{url}");
    assert!(url.contains("code_challenge_method=S256"), "{url}");
    assert!(
        url.contains("redirect_uri=http%3A%2F%2Flocalhost%3A5000%2Fcb"),
        "{url}"
    );
    assert!(
        url.contains("api%3A%2F%2Fx%2Fuser_impersonation"),
        "the Scope given: {url}"
    );
    // The same through CALL, default callback.
    let batches = run(&s, "CALL GetOAuthAuthorizationURL()").await.unwrap();
    assert!(text(&batches, "URL")
        .unwrap()
        .contains("redirect_uri=http%3A%2F%2Flocalhost%3A33333"));
    // A code the identity provider never issued: its refusal, with the connector's kind.
    let e = run(&s, "EXEC GetOAuthAccessToken @Verifier = 'not-a-code'")
        .await
        .unwrap_err();
    assert!(matches!(e.kind(), SqlErrorKind::Connector(_)), "{e:?}");
    assert!(e.to_string().starts_with("GetOAuthAccessToken: "), "{e}");
    // Nothing stored to refresh.
    let e = run(&s, "EXEC RefreshOAuthAccessToken").await.unwrap_err();
    assert!(matches!(e.kind(), SqlErrorKind::Connector(_)), "{e:?}");
    // The statement's faults.
    for (sql, says) in [
        ("EXEC GetOAuthAccessToken", "needs the parameter Verifier"),
        (
            "EXEC GetOAuthAccessToken @Verifier = ''",
            "needs the parameter Verifier",
        ),
        (
            "EXEC GetOAuthAuthorizationURL @Nope = 1",
            "no parameter Nope",
        ),
        (
            "EXEC GetOAuthAuthorizationURL @State = 'mine'",
            "State cannot be chosen",
        ),
        (
            "EXEC GetOAuthAccessToken @Verifier = 'x', @AuthMode = 'APP'",
            "AuthMode APP",
        ),
        ("EXEC NoSuchProcedure", "no procedure NoSuchProcedure"),
        ("CALL NoSuchProcedure()", "no procedure NoSuchProcedure"),
        (
            "EXEC GetOAuthAuthorizationURL @CallbackUrl = (SELECT 1)",
            "EXEC: ",
        ),
        ("EXEC GetOAuthAuthorizationURL @CallbackUrl 'x'", "EXEC: "),
        ("EXEC", "EXEC: "),
    ] {
        let e = run(&s, sql).await.unwrap_err();
        assert_eq!(e.kind(), SqlErrorKind::Invalid, "{sql}: {e}");
        assert!(e.to_string().contains(says), "{sql}: {e}");
    }
}
