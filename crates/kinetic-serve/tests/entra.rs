//! `--auth azuread`: the password is a Microsoft Entra ID access token for the gateway's app
//! registration (as Azure Database for PostgreSQL takes them). Alice signs in to the emulator's
//! identity provider through its pages (a browser's requests), the token the provider gives
//! her signs her in to the gateway, which checks it and exchanges it on her behalf for an
//! Epicor token; a token for another audience, a tampered one, one that is not a JWT and a user
//! name that is not the token's are refused with 28P01 and the reason in the detail.

use epicor_kinetic::auth::web::WebSignIn;
use epicor_kinetic::{Client, Connection, Secret, Settings};
use epicor_kinetic_emulator::config::seed;
use epicor_kinetic_emulator::{EmulatorConfig, RunningEmulator};
use epicor_kinetic_serve::{Auth, Options, Server};
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;

const CALLBACK: &str = "http://127.0.0.1:5999/auth/callback";

/// The emulator's Entra ID connection string without its client and scope.
fn azure_base(info: &serde_json::Value) -> String {
    info["connection_strings"]["azuread_client_secret"]
        .as_str()
        .unwrap()
        .split(';')
        .filter(|p| {
            ![
                "OAuthGrantType=",
                "OAuthClientId=",
                "OAuthClientSecret=",
                "Scope=",
            ]
            .iter()
            .any(|k| p.starts_with(k))
        })
        .collect::<Vec<_>>()
        .join(";")
}

/// The gateway's upstream settings: its app registration (the emulator's web app) and the
/// Epicor API's scope.
fn gateway_settings(e: &RunningEmulator) -> Settings {
    let info = e.startup_info();
    let web = &info["idp"]["apps"]["web_app"];
    Settings::parse(&format!(
        "{};OAuthGrantType=OBO;OAuthClientId={};OAuthClientSecret={};Scope={}",
        azure_base(&info),
        web["client_id"].as_str().unwrap(),
        web["client_secret"].as_str().unwrap(),
        info["idp"]["apps"]["epicor_server"]["scope"]
            .as_str()
            .unwrap(),
    ))
    .unwrap()
}

fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} field in {html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

/// Alice's access token to the gateway, from the emulator's sign-in pages.
async fn alice_token(settings: &Settings) -> Secret {
    let client = Client::new(settings).unwrap();
    let web = WebSignIn::new(&client, CALLBACK).await.unwrap();
    let (url, pending) = web
        .begin(
            &format!("api://{}/access_as_user", seed::WEB_APP),
            None,
            None,
        )
        .unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = http.get(&url).send().await.unwrap();
    let cookie = page
        .headers()
        .get("set-cookie")
        .map(|c| c.to_str().unwrap().split(';').next().unwrap().to_owned());
    let page = page.text().await.unwrap();
    let login = format!("{}/login", url.split("/authorize").next().unwrap());
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("request", &hidden(&page, "request"))
        .append_pair("login", seed::ALICE)
        .append_pair("passwd", "Alice123!")
        .append_pair("csrf", &hidden(&page, "csrf"))
        .finish();
    let mut post = http
        .post(&login)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form);
    if let Some(c) = cookie {
        post = post.header("cookie", c);
    }
    let answer = post.send().await.unwrap();
    assert_eq!(answer.status().as_u16(), 302, "{:?}", answer.text().await);
    let back = url::Url::parse(answer.headers()["location"].to_str().unwrap()).unwrap();
    let q = |k: &str| {
        back.query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
            .unwrap()
    };
    let signed_in = web
        .finish(&pending, &q("state"), &Secret::new(q("code")))
        .await
        .unwrap();
    signed_in.token.access_token
}

async fn connect(
    port: u16,
    user: &str,
    password: &str,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let mut config = tokio_postgres::Config::new();
    config
        .host("127.0.0.1")
        .port(port)
        .user(user)
        .password(password)
        .dbname("kinetic");
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// The 28P01 refusal of a sign-in, and its detail.
async fn refused(port: u16, user: &str, password: &str) -> String {
    let Err(e) = connect(port, user, password).await else {
        panic!("signed in as {user} with a bad token");
    };
    let db = e.as_db_error().unwrap_or_else(|| panic!("{e:?}"));
    assert_eq!(db.code(), &SqlState::INVALID_PASSWORD, "{e:?}");
    db.detail().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_entra_token_signs_in_as_its_user_and_others_are_refused() {
    let emu = epicor_kinetic_emulator::spawn(
        EmulatorConfig {
            scale: 150,
            ..Default::default()
        },
        "127.0.0.1:0",
    )
    .await
    .unwrap();
    let settings = gateway_settings(&emu);
    let server = Server::bind(
        "127.0.0.1:0",
        Options {
            upstream: settings.clone(),
            allow_writes: false,
            max_sessions: 4,
            tls: None,
            auth: Auth::AzureAd,
        },
    )
    .await
    .unwrap();
    let port = server.local_addr().port();
    tokio::spawn(server.run());

    let token = alice_token(&settings).await;
    let client = connect(port, seed::ALICE, token.expose()).await.unwrap();
    let count: i64 = client
        .query_one("SELECT COUNT(*) FROM Customers", &[])
        .await
        .unwrap()
        .get(0);
    assert!(
        count > 0,
        "Alice's Epicor user reads her company's customers"
    );
    assert_eq!(
        client
            .query_one("SELECT current_user", &[])
            .await
            .unwrap()
            .get::<_, String>(0),
        seed::ALICE
    );

    // Her token under another name.
    let detail = refused(port, "manager", token.expose()).await;
    assert!(detail.contains("not \"manager\"'s"), "{detail}");
    // Not a JWT; tampered (a byte of its claims changed: the signature no longer holds).
    let detail = refused(port, seed::ALICE, "Epicor123!").await;
    assert!(detail.contains("not a JSON Web Token"), "{detail}");
    let mut parts: Vec<String> = token.expose().split('.').map(str::to_owned).collect();
    let flipped = if parts[1].ends_with('A') { 'B' } else { 'A' };
    parts[1].pop();
    parts[1].push(flipped);
    let detail = refused(port, seed::ALICE, &parts.join(".")).await;
    assert!(
        detail.contains("signature is not the provider's")
            || detail.contains("not a JSON Web Token"),
        "{detail}"
    );
    // Unsigned (`alg: none`).
    let unsigned = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.", parts[1]);
    let detail = refused(port, seed::ALICE, &unsigned).await;
    assert!(detail.contains("the access token was refused"), "{detail}");
    assert!(
        !detail.contains(&parts[1]),
        "the token is never echoed: {detail}"
    );
    // A token for another audience: the Epicor API's own, from the client-credentials string.
    let other = Connection::open(
        Settings::parse(
            emu.startup_info()["connection_strings"]["azuread_client_secret"]
                .as_str()
                .unwrap(),
        )
        .unwrap(),
    )
    .await
    .unwrap()
    .access_token()
    .await
    .unwrap();
    let detail = refused(port, seed::ALICE, other.expose()).await;
    assert!(detail.contains("another application (aud)"), "{detail}");
}
