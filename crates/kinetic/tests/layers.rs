//! The connector's layers (docs/ARCHITECTURE.md): which module may import which, checked on the
//! source so a new import across a layer fails here rather than growing a cycle.
//!
//! The rules are allow-lists: a module imports only what its rule names (a module's own children
//! and the folders it sits in are always allowed). Imports are read as the compiler would resolve
//! them: `crate::a::b` paths, `use crate::{a, b::c}` groups, names the crate root re-exports
//! (`crate::Settings` is an import of `settings`), and `super::` paths. A file no rule covers (a
//! new module) fails too, so every room gets its rule when it is built.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn sources(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_owned()];
    }
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir(path) else {
        return out;
    };
    for entry in dir {
        let p = entry.unwrap().path();
        if p.is_dir() {
            out.extend(sources(&p));
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// The code of a file without comments and without its `#[cfg(test)] mod tests` part.
fn code(text: &str) -> String {
    let text = text
        .split("#[cfg(test)]\nmod tests")
        .next()
        .unwrap_or_default();
    text.lines()
        .map(|l| l.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

fn ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The paths of a use tree starting at `text` (`a::b`, `a::{b, c::d}`, `{a, b}`), each as its
/// segments; `self` inside a group names the group's own path.
fn use_tree(text: &str) -> Vec<Vec<String>> {
    let text = text.trim_start();
    if let Some(rest) = text.strip_prefix('{') {
        let mut depth = 0usize;
        let mut end = rest.len();
        for (i, c) in rest.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    end = i;
                    break;
                }
                '}' => depth -= 1,
                _ => {}
            }
        }
        let inner = &rest[..end];
        let mut items = Vec::new();
        let (mut depth, mut start) = (0usize, 0usize);
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    items.push(&inner[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        items.push(&inner[start..]);
        return items
            .into_iter()
            .filter(|i| !i.trim().is_empty())
            .flat_map(use_tree)
            .map(|p| p.into_iter().filter(|s| s != "self").collect())
            .collect();
    }
    let name: String = text.chars().take_while(|c| ident_char(*c)).collect();
    if name.is_empty() {
        return vec![Vec::new()];
    }
    let rest = &text[name.len()..];
    match rest.trim_start().strip_prefix("::") {
        Some(more) => use_tree(more)
            .into_iter()
            .map(|mut p| {
                p.insert(0, name.clone());
                p
            })
            .collect(),
        None => vec![vec![name]],
    }
}

/// The crate: its modules (`http`, `auth::web`, `api::query::paging`) and the names its root
/// re-exports (`Settings` -> `settings`).
struct Crate {
    src: PathBuf,
    modules: BTreeSet<String>,
    reexports: BTreeMap<String, String>,
}

impl Crate {
    fn read(src: &Path) -> Crate {
        let mut modules = BTreeSet::new();
        for file in sources(src) {
            let path = module_of(src, &file);
            if !path.is_empty() {
                modules.insert(path.join("::"));
            }
        }
        let mut reexports = BTreeMap::new();
        let lib = code(&std::fs::read_to_string(src.join("lib.rs")).unwrap());
        for (i, _) in lib.match_indices("pub use ") {
            for path in use_tree(&lib[i + "pub use ".len()..]) {
                if let (Some(module), Some(name)) = (path.first(), path.last()) {
                    if path.len() > 1 && modules.contains(module) {
                        reexports.insert(name.clone(), module.clone());
                    }
                }
            }
        }
        Crate {
            src: src.to_owned(),
            modules,
            reexports,
        }
    }

    /// The module a path of the crate names: the longest module prefix, a root re-export's
    /// module, or `None` (the crate root itself, a macro).
    fn resolve(&self, path: &[String]) -> Option<String> {
        for n in (1..=path.len()).rev() {
            let candidate = path[..n].join("::");
            if self.modules.contains(&candidate) {
                return Some(candidate);
            }
        }
        path.first().and_then(|n| self.reexports.get(n)).cloned()
    }

    /// The modules of the crate that `file` imports: `crate::a::b` paths, `use crate::{...}`
    /// groups, root re-exports (`crate::Settings`), and `super::` paths.
    fn imports(&self, file: &Path) -> BTreeSet<String> {
        self.imports_of(file, &std::fs::read_to_string(file).unwrap())
    }

    /// [`Crate::imports`] of `text` as if it were the file at `file`.
    fn imports_of(&self, file: &Path, text: &str) -> BTreeSet<String> {
        let code = code(text);
        let here = module_of(&self.src, file);
        let mut out = BTreeSet::new();
        let mut i = 0;
        while i < code.len() {
            let rest = &code[i..];
            let preceded = code[..i].chars().next_back().is_some_and(ident_char);
            let (base, after) = if !preceded && rest.starts_with("crate::") {
                (Vec::new(), "crate::".len())
            } else if !preceded && rest.starts_with("super::") {
                let mut up = 0;
                let mut at = 0;
                while rest[at..].starts_with("super::") {
                    up += 1;
                    at += "super::".len();
                }
                // `super` of `a/b.rs` is `a`; of `a/mod.rs` (module `a`) the root.
                let keep = here.len().saturating_sub(up);
                (here[..keep].to_vec(), at)
            } else {
                i += rest.chars().next().map_or(1, char::len_utf8);
                continue;
            };
            for path in use_tree(&rest[after..]) {
                let full: Vec<String> = base.iter().cloned().chain(path).collect();
                if let Some(m) = self.resolve(&full) {
                    out.insert(m);
                }
            }
            i += after;
        }
        out
    }
}

/// The module path of a source file: `http/mod.rs` -> `[http]`, `auth/web.rs` -> `[auth, web]`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap();
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if parts.last().is_some_and(|l| l == "mod" || l == "lib") {
        parts.pop();
    }
    parts
}

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

/// The rule of a file: its own, else its nearest folder's.
fn rule_of(file: &str) -> Option<(&'static str, &'static [&'static str])> {
    RULES
        .iter()
        .filter(|(m, _)| file == *m || file.starts_with(&format!("{m}/")))
        .max_by_key(|(m, _)| m.len())
        .copied()
}

/// `dep` is `module` or inside it.
fn within(dep: &str, module: &str) -> bool {
    dep == module || dep.starts_with(&format!("{module}::"))
}

/// The imports of the crate at `src` that its rules do not allow.
fn broken(src: &Path) -> Vec<String> {
    let krate = Crate::read(src);
    let mut broken = Vec::new();
    for file in sources(src) {
        let name = file
            .strip_prefix(src)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if name == "lib.rs" || file.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let Some((rule, allowed)) = rule_of(&name) else {
            broken.push(format!("{name} has no rule: add it to RULES"));
            continue;
        };
        let here = module_of(src, &file);
        let folder_rule = src.join(rule).is_dir();
        for dep in krate.imports(&file) {
            let own = within(&dep, &here.join("::"));
            let ancestor = (1..here.len()).any(|n| dep == here[..n].join("::"));
            let in_folder = folder_rule && within(&dep, &rule.replace('/', "::"));
            if own || ancestor || in_folder || allowed.iter().any(|a| within(&dep, a)) {
                continue;
            }
            broken.push(format!("{name} imports {dep}"));
        }
    }
    broken
}

#[test]
fn modules_import_only_the_layers_below_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let broken = broken(&src);
    assert!(
        broken.is_empty(),
        "layer rules broken:\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_pipeline_reads_no_settings() {
    let (_, allowed) = rule_of("http/mod.rs").unwrap();
    assert!(!allowed.contains(&"settings"), "{allowed:?}");
}

#[test]
fn a_forbidden_import_and_a_module_without_a_rule_are_caught() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    let write = |name: &str, text: &str| {
        let path = src.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        "lib.rs",
        "pub mod api;\npub mod settings;\npub mod extra;\npub use settings::Settings;\n",
    );
    write("settings/mod.rs", "pub struct Settings;\n");
    write("api/mod.rs", "mod value;\n");
    write("api/value.rs", "use crate::{error::Error, Settings};\n");
    write("extra.rs", "");
    assert_eq!(
        broken(src),
        [
            "api/value.rs imports settings",
            "extra.rs has no rule: add it to RULES"
        ]
    );
}

#[test]
fn imports_are_read_through_groups_reexports_and_super() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let krate = Crate::read(&src);
    let read = |name: &str, text: &str| -> Vec<String> {
        krate
            .imports_of(&src.join(name), text)
            .into_iter()
            .collect()
    };
    assert_eq!(
        read(
            "api/value.rs",
            "use crate::{Settings, http::{Url, Request}, auth::web};"
        ),
        ["auth::web", "http", "settings"]
    );
    assert_eq!(
        read("api/query.rs", "use super::super::Client;"),
        ["client"]
    );
    assert_eq!(
        read("http/retry.rs", "fn f() -> super::tls::X {}"),
        ["http::tls"]
    );
    assert_eq!(
        read("auth/web.rs", "// crate::api\nuse crate::Result;"),
        ["error"]
    );
    assert!(rule_of("nothing.rs").is_none());
}
