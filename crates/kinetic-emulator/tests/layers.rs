//! The emulator's layers (docs/ARCHITECTURE.md): which module may import which, checked on the
//! source, so an import across a layer fails here rather than growing an import circle. The
//! reading of imports is `kinetic-layer-check`'s, shared by every crate's layer test.
//!
//! Every `crate::` path counts: `use` lines, paths written inline, `use crate::{a, b::c}` groups,
//! and names lib.rs re-exports (`crate::EmulatorConfig` is `config`); any other name of lib.rs is
//! `lib`, the top. Comments and `#[cfg(test)] mod tests` are not the shape and are skipped.

use kinetic_layer_check::Rules;

/// The layers, lowest first. A module may import modules of lower layers and of its own layer,
/// except where [`APART`] keeps two modules of one layer apart. Every module of src/ is in one.
const LAYERS: &[&[&str]] = &[
    // Helpers: the API error, markup escaping, password hashing, the clock, text comparison,
    // bounded maps, the data model, the request log, byte encodings.
    &[
        "api_error",
        "markup",
        "password",
        "clock",
        "collation",
        "expiring",
        "model",
        "request_log",
        "encoding",
    ],
    &["config"],
    &["data"],
    &["db"],
    &["throttle"],
    &["auth"],
    // The two servers: the Epicor REST API and the identity provider.
    &["erp", "idp"],
    // Middleware and listeners that lib.rs puts around them.
    &["faults", "tls"],
    &["lib"],
];

/// Modules of one layer that must not import each other.
const APART: &[(&str, &str)] = &[
    ("erp", "idp"),
    ("idp", "erp"),
    ("faults", "tls"),
    ("tls", "faults"),
];

/// Names of lib.rs a lower module may take: the router state the handlers of `erp` and `idp`
/// extract (`State<AppState>`).
const LIB_NAMES_ALLOWED: &[(&str, &str)] = &[("erp", "AppState"), ("idp", "AppState")];

#[test]
fn modules_import_only_their_layer_and_the_layers_below() {
    Rules::layered(LAYERS, APART, LIB_NAMES_ALLOWED).check(env!("CARGO_MANIFEST_DIR"));
}
