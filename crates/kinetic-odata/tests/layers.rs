//! The OData crate's layers (docs/ARCHITECTURE.md): which module may import which, checked on
//! the source so that a new import across a layer fails here rather than growing a cycle. The
//! reading of imports is `kinetic-layer-check`'s, shared by every crate's layer test.
//!
//! The layers, lowest first; a module imports only from the layers below it:
//!
//! 1. `error` (where and why parsing stopped), `ast` (the expression tree): nothing of the crate;
//! 2. `literal`: the lexical forms of literals (dates, GUIDs, durations, base64), over the tree;
//! 3. `parser` (expressions, key predicates), `printer` (the tree back to text);
//! 4. `query` (whole query strings: options parsed and printed);
//! 5. `rules` (the ABNF rules by name, for the conformance cases), over all of them;
//!
//! and apart from them `csdl`, the `$metadata` model, which knows no expression.

use kinetic_layer_check::Rules;

const RULES: &[(&str, &[&str])] = &[
    ("error.rs", &[]),
    ("ast.rs", &[]),
    ("literal.rs", &["ast"]),
    ("parser", &["error", "ast", "literal"]),
    ("printer.rs", &["ast", "literal"]),
    ("query.rs", &["error", "ast", "parser", "printer"]),
    ("rules.rs", &["error", "ast", "literal", "parser", "query"]),
    ("csdl", &[]),
];

#[test]
fn modules_import_only_the_layers_below_them() {
    Rules::new(RULES).check(env!("CARGO_MANIFEST_DIR"));
}
