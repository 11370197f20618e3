//! Deterministic pseudo-random mutation testing (a poor man's fuzzer that runs on stable): the
//! parsers never panic, and whatever they accept survives the printer.

use epicor_kinetic_odata::{
    parse_expand, parse_filter, parse_orderby, parse_select, print_expand, print_expr,
    print_orderby, print_select, QueryOptions,
};

/// xorshift64*: tiny, deterministic, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Pieces worth splicing in: OData syntax, multi-byte characters, odd bytes.
const FRAGMENTS: &[&str] = &[
    "(",
    ")",
    "'",
    "''",
    "\"",
    ",",
    "/",
    ":",
    ";",
    "=",
    "$",
    "@",
    "[",
    "]",
    "{",
    "}",
    " ",
    "\t",
    "-",
    "+",
    ".",
    "e",
    "eq",
    " eq ",
    " and ",
    " or ",
    "not ",
    " in ",
    "any(",
    "all(",
    "x:",
    "$it",
    "$this",
    "$count",
    "$filter=",
    "$select=",
    "$expand=",
    "$ref",
    "*",
    "INF",
    "NaN",
    "null",
    "true",
    "2025-01-31",
    "T10:00Z",
    "13:20",
    "duration'",
    "binary'",
    "Ns.T'",
    "é",
    "😀",
    "ß",
    "\u{0}",
    "\u{7f}",
    "\u{200b}",
    "9999999999999999999999",
    "1e999",
    "%",
    "%20",
    "&",
    "#",
    "\\u",
    "\\",
];

fn seeds() -> Vec<String> {
    let mut seeds: Vec<String> = [
        "Name eq 'O''Neil' and Price lt 2.55",
        "ShipTos/any(s: s/State eq 'MN' and s/Lines/all(l: l/Qty gt 0))",
        "not startswith(tolower(Name),'a') or year(OrderDate) ge 2020",
        "Name in ('Milk', 'Cheese') and Id in [1, 2, 3]",
        "Price add 2.45 eq 5.00 and -Qty mul 2 lt 1e3",
        "Products/$count($filter=Price gt 5.00) gt 2",
        "Model.Available(complex={\"Name\":\"Value\",\"L\":[1,2]})",
        "T eq 2025-01-31T10:00:00.123+02:00 and D eq duration'P1DT2H' and G eq 01234567-89ab-cdef-0123-456789abcdef",
        "style has Sales.Pattern'Yellow' and B eq binary'Zm9v'",
        "cast(Category,Model.Customer) ne null and isof(Edm.String)",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // The conformance inputs, when the shared folder is there (the conformance test insists on it).
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/conformance/odata-abnf/odata-abnf-testcases.json"
    );
    if let Ok(text) = std::fs::read_to_string(path) {
        if let Ok(doc) = serde_json::from_str::<serde_json::Value>(&text) {
            for case in doc["TestCases"].as_array().into_iter().flatten() {
                if let Some(input) = case["Input"].as_str() {
                    seeds.push(input.to_string());
                }
            }
        }
    }
    seeds
}

fn char_boundary_below(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn mutate(rng: &mut Rng, input: &str) -> String {
    let mut s = input.to_string();
    for _ in 0..=rng.below(4) {
        let at = char_boundary_below(&s, rng.below(s.len() + 1));
        match rng.below(6) {
            // insert a fragment
            0 | 1 => s.insert_str(at, FRAGMENTS[rng.below(FRAGMENTS.len())]),
            // delete a run of characters
            2 => {
                let end = char_boundary_below(&s, at + rng.below(6));
                s.replace_range(at..end, "");
            }
            // replace a character by a random one (any Unicode scalar)
            3 => {
                let end = s[at..].chars().next().map_or(at, |c| at + c.len_utf8());
                let c = char::from_u32(rng.next() as u32 % 0x11_0000).unwrap_or('\u{fffd}');
                let c = if rng.below(2) == 0 {
                    char::from(rng.below(128) as u8)
                } else {
                    c
                };
                s.replace_range(at..end, c.encode_utf8(&mut [0; 4]));
            }
            // duplicate a slice (grows nesting)
            4 => {
                let end = char_boundary_below(&s, at + rng.below(20));
                let piece = s[at..end].to_string();
                s.insert_str(at, &piece);
            }
            // swap in a bracket
            _ => s.insert(at, ['(', ')', '[', ']', '{', '}'][rng.below(6)]),
        }
    }
    s
}

fn check(input: &str) {
    if let Ok(e) = parse_filter(input) {
        let printed = print_expr(&e);
        assert_eq!(
            parse_filter(&printed).as_ref(),
            Ok(&e),
            "filter {input:?} printed as {printed:?}"
        );
    }
    if let Ok(items) = parse_orderby(input) {
        let printed = print_orderby(&items);
        assert_eq!(
            parse_orderby(&printed).as_ref(),
            Ok(&items),
            "orderby {input:?} -> {printed:?}"
        );
    }
    if let Ok(items) = parse_select(input) {
        let printed = print_select(&items);
        assert_eq!(
            parse_select(&printed).as_ref(),
            Ok(&items),
            "select {input:?} -> {printed:?}"
        );
    }
    if let Ok(items) = parse_expand(input) {
        let printed = print_expand(&items);
        assert_eq!(
            parse_expand(&printed).as_ref(),
            Ok(&items),
            "expand {input:?} -> {printed:?}"
        );
    }
    if let Ok(q) = QueryOptions::from_query(input) {
        let printed = q.to_query_string();
        assert_eq!(
            QueryOptions::from_query(&printed).as_ref(),
            Ok(&q),
            "query {input:?} -> {printed:?}"
        );
    }
}

#[test]
fn mutated_inputs_never_panic_and_round_trip() {
    let seeds = seeds();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut accepted = 0;
    for i in 0..20_000 {
        let seed = &seeds[rng.below(seeds.len())];
        // Mostly mutate a seed; sometimes mutate a mutant further.
        let mut input = mutate(&mut rng, seed);
        if i % 3 == 0 {
            input = mutate(&mut rng, &input);
        }
        check(&input);
        accepted += usize::from(parse_filter(&input).is_ok());
    }
    // The mutations are mild enough that a fair share still parses (and so was round-tripped).
    assert!(accepted > 500, "only {accepted} mutants were accepted");
}

#[test]
fn pathological_nesting_is_an_error() {
    for open in [
        "(",
        "[",
        "not ",
        "-",
        "{\"a\":",
        "Items/any(x:",
        "concat(",
        "A/any(a:a/B/all(b:",
    ] {
        let input = open.repeat(10_000);
        let err = parse_filter(&input).unwrap_err();
        assert!(
            err.message.contains("nested too deeply") || err.message.contains("expected"),
            "{open}: {err}"
        );
    }
    let expand = "Items($expand=".repeat(10_000);
    assert!(parse_expand(&expand).is_err());
    let select = "A($select=".repeat(10_000);
    assert!(parse_select(&select).is_err());
    let orderby = "(".repeat(10_000);
    assert!(parse_orderby(&orderby).is_err());
    check(&format!("{}a{}", "(".repeat(300), ")".repeat(300)));
}
