//! The SQL crate's layers (docs/ARCHITECTURE.md): which module may import which, checked on the
//! source so that a new import across a layer fails here rather than growing a cycle. The reading
//! of imports is `kinetic-layer-check`'s, shared by every crate's layer test.
//!
//! The layers, lowest first; a module imports only from the layers below it:
//!
//! 1. `error`, `stats`, `names`, `literal`, `arrow`, `corrections`: import nothing of the crate;
//! 2. `limits`, `format` (errors), `params` (literals), `pushdown` (Arrow types, literals);
//! 3. `joins` (a join's keys for the scan on its other side, through the translator), then
//!    `table` (the OData table provider and its scan), `procedures` (parsed and run calls);
//! 4. `optimizer` (over the scan), `server` (what the catalog knows of the server), `dml`;
//! 5. `system` (the system tables, over the server's model and the procedures' list);
//! 6. `catalog` (schemas over the server and the system tables), `rewrite` (names before
//!    planning);
//!
//! and `lib.rs`, the session, ties them together. The few names of the root a module takes
//! (`SqlSession`, `QueryResult`: statements run within the session) are listed in its rule.

use kinetic_layer_check::Rules;

/// The bottom layers, which import nothing of the crate.
const LEAVES: &[&str] = &[];

/// `(module under src/: a file or a folder, the modules it may import)`. A file's own rule wins
/// over its folder's.
const RULES: &[(&str, &[&str])] = &[
    ("error.rs", LEAVES),
    ("stats.rs", LEAVES),
    ("names.rs", LEAVES),
    ("literal.rs", LEAVES),
    ("arrow.rs", LEAVES),
    ("corrections", LEAVES),
    ("limits.rs", &["error"]),
    // The result a statement answers is the session's type (lib.rs): the formatter, the
    // procedures and DML build it; only names listed here may be taken from the root.
    ("format.rs", &["error", "lib::QueryResult"]),
    ("params.rs", &["error", "literal"]),
    ("pushdown", &["arrow", "literal"]),
    // A join's keys, read from DataFusion's dynamic filter, through the one translator.
    ("joins.rs", &["pushdown"]),
    (
        "table.rs",
        &["error", "stats", "arrow", "pushdown", "joins"],
    ),
    // A procedure runs within the session that called it (`&SqlSession`).
    (
        "procedures.rs",
        &[
            "error",
            "literal",
            "params",
            "lib::SqlSession",
            "lib::QueryResult",
        ],
    ),
    ("optimizer.rs", &["table"]),
    ("server.rs", &["error", "stats", "names", "table"]),
    (
        "dml.rs",
        &[
            "error",
            "literal",
            "arrow",
            "limits",
            "params",
            "table",
            "lib::SqlSession",
            "lib::QueryResult",
            "lib::parse_single",
        ],
    ),
    // The system tables read the server's model; the catalog serves them, never the reverse.
    (
        "system",
        &["error", "names", "arrow", "table", "procedures", "server"],
    ),
    // A table's shape and the connection properties know nothing of the server.
    ("system/shape.rs", LEAVES),
    ("system/properties.rs", &["system::shape"]),
    (
        "catalog.rs",
        &[
            "error",
            "stats",
            "names",
            "table",
            "server",
            "system",
            "lib::planning_only",
        ],
    ),
    ("rewrite.rs", &["error", "names", "server"]),
];

#[test]
fn modules_import_only_the_layers_below_them() {
    Rules::new(RULES).check(env!("CARGO_MANIFEST_DIR"));
}
