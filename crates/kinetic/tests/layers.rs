//! The connector's layers (docs/ARCHITECTURE.md): which module may import which, checked on the
//! source so a new import across a layer fails here rather than growing a cycle.

use std::path::{Path, PathBuf};

/// `(module path under src/, modules of the crate it must not import)`.
const RULES: &[(&str, &[&str])] = &[
    (
        "error.rs",
        &[
            "settings",
            "http",
            "token",
            "oauth",
            "store",
            "auth",
            "client",
            "connection",
            "api",
        ],
    ),
    (
        "secret.rs",
        &[
            "settings",
            "http",
            "token",
            "oauth",
            "store",
            "auth",
            "client",
            "connection",
            "api",
        ],
    ),
    (
        "clock.rs",
        &[
            "settings",
            "http",
            "token",
            "oauth",
            "store",
            "auth",
            "client",
            "connection",
            "api",
        ],
    ),
    (
        "settings",
        &[
            "http",
            "token",
            "oauth",
            "store",
            "auth",
            "client",
            "connection",
            "api",
            "logging",
        ],
    ),
    (
        "logging.rs",
        &[
            "http",
            "token",
            "oauth",
            "store",
            "auth",
            "client",
            "connection",
            "api",
        ],
    ),
    (
        "token",
        &[
            "settings",
            "http",
            "oauth",
            "store",
            "auth",
            "client",
            "connection",
            "api",
        ],
    ),
    (
        "http",
        &[
            "token",
            "oauth",
            "store",
            "auth",
            "client",
            "connection",
            "api",
        ],
    ),
    (
        "oauth",
        &["settings", "store", "auth", "client", "connection", "api"],
    ),
    ("store", &["auth", "client", "connection", "api"]),
    // The client holds the per-user token cache (`store::users`); the store never imports it.
    ("client.rs", &["auth", "connection", "api"]),
    (
        "auth/providers.rs",
        &["auth::scheme", "auth::interactive", "connection", "api"],
    ),
    (
        "auth/persisted.rs",
        &[
            "auth::scheme",
            "auth::interactive",
            "auth::providers",
            "connection",
            "api",
        ],
    ),
    (
        "auth/interactive.rs",
        &["auth::scheme", "connection", "api"],
    ),
    (
        "auth/loopback.rs",
        &[
            "auth::",
            "oauth::client",
            "store",
            "connection",
            "api",
            "settings",
        ],
    ),
    ("auth/scheme.rs", &["connection", "api"]),
    ("connection.rs", &["api"]),
];

fn sources(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_owned()];
    }
    let mut out = Vec::new();
    for entry in std::fs::read_dir(path).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            out.extend(sources(&p));
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
    out
}

/// The code of a file without comments and without its `#[cfg(test)] mod tests` part.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = text
        .split("#[cfg(test)]\nmod tests")
        .next()
        .unwrap_or_default();
    text.lines()
        .map(|l| l.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn modules_import_only_the_layers_below_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut broken = Vec::new();
    for (module, forbidden) in RULES {
        let files = sources(&src.join(module));
        assert!(!files.is_empty(), "{module} exists");
        for file in files {
            if file.file_name().is_some_and(|n| n == "tests.rs") {
                continue;
            }
            let code = code(&file);
            let in_auth = file.parent().is_some_and(|d| d.ends_with("auth"));
            for f in *forbidden {
                // Siblings under auth/ may be named through `super::`.
                let sibling = f
                    .strip_prefix("auth::")
                    .filter(|rest| in_auth && !rest.is_empty())
                    .map(|rest| format!("super::{rest}"));
                if sibling.as_ref().is_some_and(|s| code.contains(s.as_str())) {
                    broken.push(format!(
                        "{} imports {}",
                        file.strip_prefix(&src).unwrap().display(),
                        sibling.unwrap_or_default()
                    ));
                }
                let needle = format!("crate::{f}");
                let hit = code.match_indices(&needle).any(|(i, _)| {
                    // `crate::store` must not match `crate::storage`; `auth::` rules are prefixes.
                    f.ends_with("::")
                        || !code[i + needle.len()..]
                            .starts_with(|c: char| c.is_alphanumeric() || c == '_')
                });
                if hit {
                    broken.push(format!(
                        "{} imports crate::{f}",
                        file.strip_prefix(&src).unwrap().display()
                    ));
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "layer rules broken:\n{}",
        broken.join("\n")
    );
}
