//! What a second connection to the same server costs (prints figures; not a test): the emulator
//! over TLS in process, client credentials, and each connection's first query (which needs the
//! service's `$metadata` for the key). "new client" opens each connection with
//! `Connection::open` (a new pool: a TLS handshake and `$metadata` again; with an empty token
//! store also discovery and a token, as every connection cost before the shared client);
//! "shared client" opens them from one `Client`. Requests are counted at the emulator.
//!
//! Run: cargo run --release -p epicor-kinetic --example second_connection [N]

use epicor_kinetic::{Client, Connection, Settings};
use epicor_kinetic_emulator::EmulatorConfig;
use futures_util::TryStreamExt;
use std::time::Instant;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(50);
    let mut config = EmulatorConfig {
        scale: 500,
        request_log: 100_000,
        ..Default::default()
    };
    config.tls.enabled = true;
    let emu = epicor_kinetic_emulator::spawn(config, "127.0.0.1:0").await?;
    let text = format!(
        "{};OAuthSettingsLocation=memory://second-connection",
        emu.startup_info()["connection_strings"]["azuread_client_secret"]
            .as_str()
            .ok_or("no connection string")?
    );
    let settings = Settings::parse(&text)?;
    // Warm the token store so neither side asks for tokens.
    first_query(&Connection::open(settings.clone()).await?).await?;

    let client = Client::new(&settings)?;
    first_query(&client.connect(settings.clone()).await?).await?;
    for (label, how) in [
        (
            "new client, empty token store (as before the shared client)",
            0,
        ),
        ("new client, warm token store", 1),
        ("shared client", 2),
    ] {
        emu.clear_requests();
        let mut times = Vec::with_capacity(n);
        for i in 0..n {
            let started = Instant::now();
            let conn = match how {
                0 => {
                    let cold =
                        text.replace("memory://second-connection", &format!("memory://cold-{i}"));
                    Connection::open(Settings::parse(&cold)?).await?
                }
                1 => Connection::open(settings.clone()).await?,
                _ => client.connect(settings.clone()).await?,
            };
            first_query(&conn).await?;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        let requests = emu.requests();
        let count = |part: &str| requests.iter().filter(|r| r.uri.contains(part)).count();
        println!(
            "{label}: open + first query, median {:.2} ms, p90 {:.2} ms over {n}; per connection: {:.2} discovery, {:.2} $metadata, {:.2} token requests",
            times[n / 2],
            times[n * 9 / 10],
            count("openid-configuration") as f64 / n as f64,
            count("$metadata") as f64 / n as f64,
            count("/token") as f64 / n as f64,
        );
    }
    emu.shutdown().await;
    Ok(())
}

async fn first_query(conn: &Connection) -> epicor_kinetic::Result<()> {
    let rows: Vec<_> = conn
        .entity_set("Erp.BO.SalesOrderSvc", "OrderDtls")
        .top(1)
        .rows()
        .try_collect()
        .await?;
    assert_eq!(rows.len(), 1);
    Ok(())
}
