//! The SQL crate's layers (docs/ARCHITECTURE.md): which module may import which, checked on the
//! source so that a new import across a layer fails here rather than growing a cycle. Modelled
//! on the connector's `tests/layers.rs` (the same reading of imports: `crate::a::b` paths,
//! `use crate::{...}` groups, names the crate root re-exports, `super::` paths).
//!
//! The layers, lowest first; a module imports only from the layers below it:
//!
//! 1. `error`, `stats`, `names`, `literal`, `arrow`, `corrections`: import nothing of the crate;
//! 2. `limits`, `format` (errors), `params` (literals), `pushdown` (Arrow types, literals);
//! 3. `table` (the OData table provider and its scan), `procedures` (parsed and run calls);
//! 4. `optimizer` (over the scan), `server` (what the catalog knows of the server), `dml`;
//! 5. `system` (the system tables, over the server's model and the procedures' list);
//! 6. `catalog` (schemas over the server and the system tables), `rewrite` (names before
//!    planning);
//!
//! and `lib.rs`, the session, ties them together. Items the root defines (`SqlSession`,
//! `QueryResult`) are the session's own and not counted.

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
    ("format.rs", &["error"]),
    ("params.rs", &["error", "literal"]),
    ("pushdown", &["arrow", "literal"]),
    ("table.rs", &["error", "stats", "arrow", "pushdown"]),
    ("procedures.rs", &["error", "literal", "params"]),
    ("optimizer.rs", &["table"]),
    ("server.rs", &["error", "stats", "names", "table"]),
    (
        "dml.rs",
        &["error", "literal", "arrow", "limits", "params", "table"],
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
        &["error", "stats", "names", "table", "server", "system"],
    ),
    ("rewrite.rs", &["error", "names", "server"]),
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
fn a_forbidden_import_and_a_module_without_a_rule_are_caught() {
    let src = std::env::temp_dir().join(format!("kinetic-sql-layers-{}", std::process::id()));
    let write = |name: &str, text: &str| {
        let path = src.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        "lib.rs",
        "pub mod names;\npub mod server;\npub mod system;\npub mod extra;\npub use server::Epicor;\n",
    );
    write("server.rs", "pub struct Epicor;\n");
    write("names.rs", "use crate::Epicor;\n");
    write("system/mod.rs", "mod shape;\nuse crate::server::Epicor;\n");
    write("system/shape.rs", "use super::super::server::Epicor;\n");
    write("extra.rs", "");
    let found = broken(&src);
    std::fs::remove_dir_all(&src).unwrap();
    assert_eq!(
        found,
        [
            "extra.rs has no rule: add it to RULES",
            "names.rs imports server",
            "system/shape.rs imports server",
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
            "catalog.rs",
            "use crate::{SqlError, names::{CATALOG, BAQ_SCHEMA}, server::Epicor};"
        ),
        ["error", "names", "server"]
    );
    assert_eq!(
        read("system/metadata.rs", "use super::scan::Narrowing;"),
        ["system::scan"]
    );
    assert_eq!(
        read("system/scan.rs", "use super::super::Param;"),
        ["params"]
    );
    assert_eq!(
        read("dml.rs", "// crate::catalog\nuse crate::Transfer;"),
        ["stats"]
    );
    assert!(rule_of("nothing.rs").is_none());
}
