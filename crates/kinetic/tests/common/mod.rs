//! Helpers shared by the connector's end-to-end test binaries.

pub mod browser;
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
