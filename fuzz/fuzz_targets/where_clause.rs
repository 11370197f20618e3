//! Any UTF-8 whereClause (a BO method's parameter, sent by any client): the emulator's parser must
//! not panic, for a table with fields and for one it does not know.
#![no_main]

use epicor_kinetic_emulator::erp::whereclause;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    for table in ["Customer", "OrderHed", "NoSuchTable", ""] {
        let _ = whereclause::parse(input, table);
    }
});
