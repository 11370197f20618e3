//! Any UTF-8 input: the filter parser must not panic, and what it accepts must print and parse back
//! to the same tree. Also exercises the $orderby / $select / $expand parsers.
#![no_main]

use epicor_kinetic_odata::{
    parse_expand, parse_filter, parse_orderby, parse_select, print_expand, print_expr,
    print_orderby, print_select,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(e) = parse_filter(input) {
        let printed = print_expr(&e);
        assert_eq!(parse_filter(&printed).as_ref(), Ok(&e), "{input:?} -> {printed:?}");
    }
    if let Ok(items) = parse_orderby(input) {
        let printed = print_orderby(&items);
        assert_eq!(parse_orderby(&printed).as_ref(), Ok(&items), "{input:?} -> {printed:?}");
    }
    if let Ok(items) = parse_select(input) {
        let printed = print_select(&items);
        assert_eq!(parse_select(&printed).as_ref(), Ok(&items), "{input:?} -> {printed:?}");
    }
    if let Ok(items) = parse_expand(input) {
        let printed = print_expand(&items);
        assert_eq!(parse_expand(&printed).as_ref(), Ok(&items), "{input:?} -> {printed:?}");
    }
});
