//! The connector's layers (docs/ARCHITECTURE.md): which module may import which, checked on the
//! source so a new import across a layer fails here rather than growing a cycle.
//!
//! The rules are allow-lists: a module imports only what its rule names (a module's own children
//! and the folders it sits in are always allowed). Imports are read as the compiler would resolve
//! them: `crate::a::b` paths, `use crate::{a, b::c}` groups, names the crate root re-exports
//! (`crate::Settings` is an import of `settings`), and `super::` paths. A file no rule covers (a
//! new module) fails too, so every room gets its rule when it is built. The reading is
//! `kinetic-layer-check`'s, shared by every crate's layer test.

use kinetic_layer_check::Rules;

/// The bottom layers, which import nothing of the crate.
const LEAVES: &[&str] = &[];
/// What every flow under `auth/` may use: everything below `auth` in the layer table.
const BELOW_AUTH: &[&str] = &[
    "clock", "error", "secret", "encoding", "logging", "settings", "token", "http", "oauth",
    "store", "client",
];

/// `(module under src/: a file or a folder, the modules it may import)`. A file's own rule wins
/// over its folder's.
const RULES: &[(&str, &[&str])] = &[
    ("error.rs", LEAVES),
    ("secret.rs", LEAVES),
    ("clock.rs", LEAVES),
    ("did_you_mean.rs", LEAVES),
    ("encoding.rs", LEAVES),
    ("logging.rs", &["error", "secret"]),
    ("settings", &["error", "secret", "did_you_mean"]),
    ("token", &["clock", "error", "secret"]),
    // The pipeline knows HTTP only: its options come from `client.rs` (`Client::http_options`),
    // its credential from `auth/`; never `Settings`, OAuth, stores or flows.
    ("http", &["clock", "error", "secret", "encoding", "logging"]),
    (
        "oauth",
        &["clock", "error", "secret", "encoding", "token", "http"],
    ),
    (
        "store",
        &[
            "clock", "error", "secret", "encoding", "settings", "token", "oauth",
        ],
    ),
    // The client holds the per-user token cache (`store::users`); the store never imports it.
    (
        "client.rs",
        &[
            "clock", "error", "logging", "settings", "http", "oauth", "store",
        ],
    ),
    ("auth", BELOW_AUTH),
    ("auth/persisted.rs", BELOW_AUTH),
    ("auth/providers.rs", BELOW_AUTH),
    // The loopback listener: a socket and the authorization-code protocol, nothing more.
    (
        "auth/loopback.rs",
        &["clock", "error", "secret", "http", "oauth::code"],
    ),
    (
        "auth/interactive.rs",
        &[
            "clock",
            "error",
            "secret",
            "logging",
            "settings",
            "token",
            "http",
            "oauth",
            "store",
            "client",
            "auth::loopback",
            "auth::providers",
        ],
    ),
    // The web app's sign-in runs on a server: no browser, no loopback, no flow selection.
    (
        "auth/web.rs",
        &[
            "clock",
            "error",
            "secret",
            "logging",
            "settings",
            "token",
            "http",
            "oauth",
            "store",
            "client",
            "auth::providers",
        ],
    ),
    // The one place that reads `Settings` to choose a flow.
    (
        "auth/scheme.rs",
        &[
            "clock",
            "error",
            "secret",
            "logging",
            "settings",
            "token",
            "http",
            "oauth",
            "store",
            "client",
            "auth::interactive",
            "auth::persisted",
            "auth::providers",
        ],
    ),
    (
        "connection.rs",
        &[
            "clock",
            "error",
            "secret",
            "did_you_mean",
            "settings",
            "http",
            "client",
            "auth",
        ],
    ),
    // Typed calls over a connection; never the flows, stores or OAuth beneath it.
    (
        "api",
        &["error", "did_you_mean", "settings", "http", "connection"],
    ),
    // Cells typed from `$metadata` know nothing of queries, connections or the network.
    ("api/value.rs", &["error"]),
    ("api/tableset.rs", &["error"]),
];

#[test]
fn modules_import_only_the_layers_below_them() {
    Rules::new(RULES).check(env!("CARGO_MANIFEST_DIR"));
}

#[test]
fn the_pipeline_reads_no_settings() {
    let rules = Rules::new(RULES);
    for file in ["http/mod.rs", "http/client.rs", "http/options.rs"] {
        let (_, allowed) = rules.rule_of(file).unwrap();
        assert!(
            !allowed.iter().any(|a| a == "settings"),
            "{file}: {allowed:?}"
        );
    }
}
