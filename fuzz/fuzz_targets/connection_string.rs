//! Any UTF-8 connection string: `Settings::parse` must not panic; what it refuses is explained
//! without echoing a secret; what it accepts prints (Debug) without its password in clear.
#![no_main]

use epicor_kinetic::Settings;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    match Settings::parse(input) {
        Ok(settings) => {
            let _ = format!("{settings:?}");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
