//! Any bytes as the encrypted token file, and any bytes as the JSON inside it (random bytes never
//! pass the cipher's tag, so the second path reaches the parser behind it): no panic, only a
//! `Damage` that says what is wrong.
#![no_main]

use epicor_kinetic::store::fuzzing;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = fuzzing::open_file_bytes(data);
    let _ = fuzzing::open_plaintext(data);
});
