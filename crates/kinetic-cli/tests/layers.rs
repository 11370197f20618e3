//! The command line's layers (docs/ARCHITECTURE.md): which module may import which, checked on
//! the source, so an import across a layer fails here rather than growing an import circle (as
//! `export <-> sql` once did). The reader is the emulator's `tests/layers.rs`, on main.rs.
//!
//! Every `crate::` path counts: `use` lines, paths written inline and `use crate::{a, b::c}`
//! groups. Comments and `#[cfg(test)] mod tests` are not the shape and are skipped.

#![allow(clippy::const_is_empty)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The layers, lowest first. A module may import modules of lower layers and of its own layer,
/// except where [`APART`] keeps two modules of one layer apart. Every module of main.rs is in one.
const LAYERS: &[&[&str]] = &[
    // Exact JSON numbers; what every command shares (connections, failures and exit codes,
    // addresses).
    &["exact", "common"],
    // Where results go: printed tables and JSON, files written whole (sink).
    &["output", "sink"],
    // The commands.
    &["data", "baq", "export", "sql", "admin"],
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
];

/// Names of main.rs a lower module may take: none.
const LIB_NAMES_ALLOWED: &[(&str, &str)] = &[];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn sources(path: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(path).unwrap() {
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

/// The first name of every `crate::` path in `code`, groups opened (`crate::{a, b::c}` gives `a`
/// and `b`).
fn crate_names(code: &str) -> Vec<String> {
    let mut names = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        let before = code[..i].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `kinetic_crate::`, not ours
        }
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut item = String::new();
            let mut items = Vec::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 1 => items.push(std::mem::take(&mut item)),
                    _ => {}
                }
                if depth == 0 {
                    break;
                }
                if depth == 1 && c != ',' {
                    item.push(c);
                }
            }
            items.push(item);
            for item in items {
                let first = item.trim().split("::").next().unwrap_or_default().trim();
                let first = first.split_whitespace().next().unwrap_or_default();
                if !first.is_empty() && first != "self" {
                    names.push(first.to_string());
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                names.push(name);
            }
        }
    }
    names
}

/// main.rs's modules, and the names it re-exports with the module they come from.
fn lib_names(src: &Path) -> (Vec<String>, HashMap<String, String>) {
    let lib = code(&src.join("main.rs"));
    let mut modules = Vec::new();
    let mut reexports = HashMap::new();
    for line in lib.lines().map(str::trim) {
        let line = line.trim_end_matches(';');
        if let Some(m) = line
            .strip_prefix("pub mod ")
            .or_else(|| line.strip_prefix("mod "))
        {
            modules.push(m.trim().to_string());
        } else if let Some(path) = line.strip_prefix("pub use ") {
            let Some((module, names)) = path.split_once("::") else {
                continue;
            };
            let names = names.trim_start_matches('{').trim_end_matches('}');
            for n in names.split(',') {
                let n = n.trim();
                let n = n.rsplit(" as ").next().unwrap_or(n).trim();
                if !n.is_empty() {
                    reexports.insert(n.to_string(), module.to_string());
                }
            }
        }
    }
    (modules, reexports)
}

#[test]
fn every_module_has_a_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let (modules, _) = lib_names(&src);
    assert!(modules.len() > 8, "main.rs's modules are read: {modules:?}");
    for m in &modules {
        assert!(layer_of(m).is_some(), "module `{m}` has no layer in LAYERS");
    }
    for layer in LAYERS {
        for m in *layer {
            assert!(
                *m == "main" || modules.iter().any(|x| x == m),
                "LAYERS names `{m}`, which main.rs does not declare"
            );
        }
    }
}

#[test]
fn modules_import_only_their_layer_and_the_layers_below() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let (modules, reexports) = lib_names(&src);
    let mut broken = Vec::new();
    for file in sources(&src) {
        let rel = file.strip_prefix(&src).unwrap();
        if file.file_name().is_some_and(|n| n == "tests.rs") || rel == Path::new("main.rs") {
            continue;
        }
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let here = first.trim_end_matches(".rs").to_string();
        let Some(own) = layer_of(&here) else {
            broken.push(format!("{} is in no layer", rel.display()));
            continue;
        };
        for name in crate_names(&code(&file)) {
            let target = if modules.contains(&name) {
                name.clone()
            } else if let Some(m) = reexports.get(&name) {
                m.clone()
            } else {
                if LIB_NAMES_ALLOWED.contains(&(here.as_str(), name.as_str())) {
                    continue;
                }
                "main".to_string()
            };
            if target == here {
                continue;
            }
            let Some(theirs) = layer_of(&target) else {
                broken.push(format!(
                    "{} names crate::{name}, in no layer",
                    rel.display()
                ));
                continue;
            };
            if theirs > own {
                broken.push(format!(
                    "{} imports crate::{name} ({target}, a higher layer)",
                    rel.display()
                ));
            } else if APART.contains(&(here.as_str(), target.as_str())) {
                broken.push(format!(
                    "{} imports crate::{name} ({target}, kept apart from {here})",
                    rel.display()
                ));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "layer rules broken:\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_reader_sees_groups() {
    let names = crate_names(
        "use crate::{common::Failure, output::{self, outln}};\nlet x = crate::sink::progress_bar(None);",
    );
    assert_eq!(names, ["common", "output", "sink"]);
}
