//! Any UTF-8 query string: `QueryOptions::from_query` must not panic, and what it accepts must
//! survive `to_query_string`.
#![no_main]

use epicor_kinetic_odata::QueryOptions;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(q) = QueryOptions::from_query(input) {
        let printed = q.to_query_string();
        assert_eq!(
            QueryOptions::from_query(&printed).as_ref(),
            Ok(&q),
            "{input:?} -> {printed:?}"
        );
    }
});
