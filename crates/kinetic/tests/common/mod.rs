//! Helpers shared by the connector's end-to-end test binaries.

pub mod browser;
pub mod fake_redis;
pub mod redis;

use epicor_kinetic::http::Request;
use epicor_kinetic::Connection;

/// `GET Erp.BO.PartSvc/Parts?$top=1` through the connection; the answer's status.
pub async fn parts(c: &Connection) -> u16 {
    let endpoint = c
        .pipeline()
        .endpoints()
        .service("Erp.BO.PartSvc")
        .unwrap()
        .segment("Parts")
        .query("$top", "1");
    c.pipeline()
        .send(Request::get(&endpoint).unwrap())
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// One manual time for the connector and the emulator, so a test moves both instead of sleeping.
#[allow(dead_code)] // not every test binary moves time
#[derive(Debug)]
pub struct SharedTime(pub epicor_kinetic::clock::ManualClock);

impl epicor_kinetic_emulator::clock::Clock for SharedTime {
    fn now_secs(&self) -> i64 {
        use epicor_kinetic::clock::Clock;
        epicor_kinetic::clock::unix_seconds(self.0.now()) as i64
    }
}

/// The emulator's Azure AD connection string without its grant, client and scope.
#[allow(dead_code)]
pub fn azure_base(info: &serde_json::Value) -> String {
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

/// An emulator on `time` (shared with the connector: tests move it instead of sleeping), on a
/// free loopback port.
#[allow(dead_code)]
pub async fn emulator_at(
    config: epicor_kinetic_emulator::EmulatorConfig,
    time: &epicor_kinetic::clock::ManualClock,
) -> epicor_kinetic_emulator::RunningEmulator {
    let server_time = std::sync::Arc::new(SharedTime(time.clone()));
    let emulator = tokio::task::spawn_blocking(move || {
        epicor_kinetic_emulator::Emulator::with_clock(config, server_time)
    })
    .await
    .unwrap()
    .unwrap();
    epicor_kinetic_emulator::serve(emulator, "127.0.0.1:0")
        .await
        .unwrap()
}
