//! The command line's layers (docs/ARCHITECTURE.md): which module may import which, checked on
//! the source, so an import across a layer fails here rather than growing an import circle (as
//! `export <-> sql` once did). The reading of imports is `kinetic-layer-check`'s, shared by
//! every crate's layer test.
//!
//! Every `crate::` path counts: `use` lines, paths written inline and `use crate::{a, b::c}`
//! groups. Comments and `#[cfg(test)] mod tests` are not the shape and are skipped.

use kinetic_layer_check::Rules;

/// The layers, lowest first. A module may import modules of lower layers and of its own layer,
/// except where [`APART`] keeps two modules of one layer apart. Every module of main.rs is in one.
const LAYERS: &[&[&str]] = &[
    // Exact JSON numbers; what every command shares (connections, failures and exit codes,
    // addresses).
    &["exact", "common"],
    // Where results go: printed tables and JSON, files written whole (sink).
    &["output", "sink"],
    // The commands.
    &["data", "baq", "export", "sql", "serve", "admin"],
    // The tour, which drives the commands.
    &["demo"],
    &["main"],
];

/// Modules of one layer that must not import each other: the commands share through the layers
/// below (`data` holds the query options `export` and `baq` take).
const APART: &[(&str, &str)] = &[
    ("export", "sql"),
    ("sql", "export"),
    ("data", "export"),
    ("data", "sql"),
    ("data", "baq"),
    ("sql", "data"),
    ("sql", "baq"),
    ("admin", "data"),
    ("admin", "export"),
    ("admin", "sql"),
    ("serve", "sql"),
    ("serve", "data"),
    ("serve", "export"),
];

/// Names of main.rs a lower module may take: none.
const LIB_NAMES_ALLOWED: &[(&str, &str)] = &[];

#[test]
fn modules_import_only_their_layer_and_the_layers_below() {
    Rules::layered(LAYERS, APART, LIB_NAMES_ALLOWED).check(env!("CARGO_MANIFEST_DIR"));
}
