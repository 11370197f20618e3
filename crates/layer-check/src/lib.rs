//! The one reader behind every crate's `tests/layers.rs`: which module of a crate imports which
//! ([`Crate`]), and the rules that say which may ([`Rules`]). Each crate's test holds only its
//! rules; the reading is written once, here, and tested once, here.
//!
//! What counts as an import: every `crate::` path (in `use` lines and written inline), `use
//! crate::{a, b::c}` groups, names lib.rs re-exports (`crate::Settings` is `settings`), `super::`
//! paths, and names lib.rs defines itself (`crate::AppState` is `lib::AppState`, the top). Comments
//! and the `#[cfg(test)] mod tests` part of a file are not the shape and are skipped; so are
//! `tests.rs` files and lib.rs itself.
//!
//! ```no_run
//! use kinetic_layer_check::Rules;
//! // error.rs imports nothing of the crate; the `http` folder may import `error`.
//! Rules::new(&[("error.rs", &[]), ("http", &["error"])]).check(env!("CARGO_MANIFEST_DIR"));
//! ```
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The `.rs` files under `path`, sorted (or `path` itself when it is a file).
pub fn sources(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_owned()];
    }
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir(path) else {
        return out;
    };
    for entry in dir.flatten() {
        let p = entry.path();
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
                '}' => depth = depth.saturating_sub(1),
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
    if let Some(alias) = rest.trim_start().strip_prefix("as ") {
        // `Other as Renamed`: the path, then the name it is known by (for re-exports).
        let alias: String = alias
            .trim_start()
            .chars()
            .take_while(|c| ident_char(*c))
            .collect();
        return vec![vec![name, format!("{ALIAS}{alias}")]];
    }
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

/// Marks the last segment of a use path as the name an `as` gives it.
const ALIAS: &str = "as:";

/// The module path of a source file: `http/mod.rs` -> `[http]`, `auth/web.rs` -> `[auth, web]`,
/// `lib.rs` -> `[]`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap_or(file);
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if parts.last().is_some_and(|l| l == "mod" || l == "lib") {
        parts.pop();
    }
    parts
}

/// A crate's source as modules: their paths (`http`, `auth::web`, `api::query::paging`) and the
/// names lib.rs re-exports (`Settings` -> `settings`).
pub struct Crate {
    src: PathBuf,
    modules: BTreeSet<String>,
    reexports: BTreeMap<String, String>,
    /// Items the root defines itself (`AppState`, `parse_single`).
    root_items: BTreeSet<String>,
}

/// The names of the items `code` defines at any depth (`struct X`, `pub(crate) fn y`,
/// `macro_rules! z`): a root's own names. An item of an inline module counts too, which errs
/// on the side of reading a name as the root's.
fn defined_items(code: &str) -> BTreeSet<String> {
    const KINDS: &[&str] = &[
        "struct ",
        "enum ",
        "union ",
        "trait ",
        "type ",
        "fn ",
        "const ",
        "static ",
        "macro_rules! ",
    ];
    let mut out = BTreeSet::new();
    for kind in KINDS {
        for (i, _) in code.match_indices(kind) {
            let preceded = code[..i].chars().next_back().is_some_and(ident_char);
            if preceded {
                continue;
            }
            let name: String = code[i + kind.len()..]
                .trim_start()
                .chars()
                .take_while(|c| ident_char(*c))
                .collect();
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

impl Crate {
    /// Reads the crate whose `lib.rs` (or `main.rs`) is in `src`.
    pub fn read(src: &Path) -> Crate {
        let mut modules = BTreeSet::new();
        for file in sources(src) {
            let path = module_of(src, &file);
            if !path.is_empty() && path != ["main"] {
                modules.insert(path.join("::"));
            }
        }
        let mut reexports = BTreeMap::new();
        let root = ["lib.rs", "main.rs"]
            .iter()
            .find_map(|f| std::fs::read_to_string(src.join(f)).ok())
            .unwrap_or_default();
        let root = code(&root);
        for (i, _) in root.match_indices("pub use ") {
            for path in use_tree(&root[i + "pub use ".len()..]) {
                if let (Some(module), Some(name)) = (path.first(), path.last()) {
                    let name = name.strip_prefix(ALIAS).unwrap_or(name);
                    if path.len() > 1 && modules.contains(module) {
                        reexports.insert(name.to_owned(), module.clone());
                    }
                }
            }
        }
        Crate {
            src: src.to_owned(),
            modules,
            reexports,
            root_items: defined_items(&root),
        }
    }

    /// The modules, as paths (`auth::web`).
    pub fn modules(&self) -> impl Iterator<Item = &str> {
        self.modules.iter().map(String::as_str)
    }

    /// The module a path of the crate names: the longest module prefix, a root re-export's
    /// module, `lib::Name` for an item the crate root defines, else nothing (a path this reader
    /// cannot place, such as `super::` inside an inline module).
    fn resolve(&self, path: &[String]) -> Option<String> {
        let path: Vec<String> = path
            .iter()
            .filter(|s| !s.starts_with(ALIAS))
            .cloned()
            .collect();
        for n in (1..=path.len()).rev() {
            let candidate = path[..n].join("::");
            if self.modules.contains(&candidate) {
                return Some(candidate);
            }
        }
        let first = path.first()?;
        if let Some(module) = self.reexports.get(first) {
            return Some(module.clone());
        }
        self.root_items
            .contains(first)
            .then(|| format!("lib::{first}"))
    }

    /// The modules of the crate that `file` imports.
    pub fn imports(&self, file: &Path) -> BTreeSet<String> {
        self.imports_of(file, &std::fs::read_to_string(file).unwrap_or_default())
    }

    /// [`Crate::imports`] of `text` as if it were the file at `file`.
    pub fn imports_of(&self, file: &Path, text: &str) -> BTreeSet<String> {
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

/// `lib` or `main`: the crate root in a layer table.
fn is_root(module: &str) -> bool {
    matches!(module, "lib" | "main")
}

/// `dep` is `module` or inside it.
fn within(dep: &str, module: &str) -> bool {
    dep == module || dep.starts_with(&format!("{module}::"))
}

/// Which module may import which: `(a file or folder under src/, the modules it may import)`.
/// A file's own rule wins over its folder's; a rule named without `.rs` (`settings`) covers the
/// file `settings.rs` and the folder `settings/` alike. A module may always import itself, what
/// is inside it, its ancestors, and, under a folder rule, the rest of that folder.
pub struct Rules {
    rules: Vec<(String, Vec<String>)>,
}

impl Rules {
    /// Rules as written: `&[("error.rs", &[]), ("http", &["error", "settings"])]`.
    pub fn new(rules: &[(&str, &[&str])]) -> Rules {
        Rules {
            rules: rules
                .iter()
                .map(|(m, allowed)| {
                    (
                        (*m).to_owned(),
                        allowed.iter().map(|a| (*a).to_owned()).collect(),
                    )
                })
                .collect(),
        }
    }

    /// Rules from layers of top-level modules, lowest first: a module may import the modules of
    /// lower layers and of its own, except the pairs `apart` keeps apart, and of the names lib.rs
    /// defines only those `root_names` gives it (`("erp", "AppState")`). A layer's module `lib`
    /// or `main` stands for the crate root and gets no rule; the root's names read as
    /// `lib::Name` in a binary too.
    pub fn layered(
        layers: &[&[&str]],
        apart: &[(&str, &str)],
        root_names: &[(&str, &str)],
    ) -> Rules {
        let mut rules = Vec::new();
        for (k, layer) in layers.iter().enumerate() {
            for module in layer.iter().filter(|m| !is_root(m)) {
                let below = layers[..k].iter().flat_map(|l| l.iter());
                let beside = layer
                    .iter()
                    .filter(|other| !apart.contains(&(*module, **other)));
                let names = root_names
                    .iter()
                    .filter(|(m, _)| m == module)
                    .map(|(_, name)| format!("lib::{name}"));
                let allowed = below
                    .chain(beside)
                    .filter(|m| !is_root(m))
                    .map(|m| (*m).to_owned())
                    .chain(names)
                    .collect();
                rules.push(((*module).to_owned(), allowed));
            }
        }
        Rules { rules }
    }

    /// The rule of a file (`auth/web.rs`): its own, else its nearest folder's.
    pub fn rule_of(&self, file: &str) -> Option<(&str, &[String])> {
        self.rules
            .iter()
            .filter(|(m, _)| {
                file == m || file == format!("{m}.rs") || file.starts_with(&format!("{m}/"))
            })
            .max_by_key(|(m, _)| m.len())
            .map(|(m, allowed)| (m.as_str(), allowed.as_slice()))
    }

    /// What breaks the rules in the crate at `src`: imports they do not allow, files without a
    /// rule, and rules that name no file (a module renamed or removed).
    pub fn broken(&self, src: &Path) -> Vec<String> {
        let krate = Crate::read(src);
        let files: Vec<(PathBuf, String)> = sources(src)
            .into_iter()
            .map(|file| {
                let name = file
                    .strip_prefix(src)
                    .unwrap_or(&file)
                    .to_string_lossy()
                    .replace('\\', "/");
                (file, name)
            })
            .filter(|(file, name)| {
                !matches!(name.as_str(), "lib.rs" | "main.rs")
                    && file.file_name().is_none_or(|n| n != "tests.rs")
            })
            .collect();
        let mut broken = Vec::new();
        for (file, name) in &files {
            let Some((rule, allowed)) = self.rule_of(name) else {
                broken.push(format!("{name} has no rule: add it to the rules"));
                continue;
            };
            let here = module_of(src, file);
            let folder = rule.trim_end_matches(".rs");
            let folder_rule = src.join(folder).is_dir();
            for dep in krate.imports(file) {
                let own = within(&dep, &here.join("::"));
                let ancestor = (1..here.len()).any(|n| dep == here[..n].join("::"));
                let in_folder = folder_rule && within(&dep, &folder.replace('/', "::"));
                if own || ancestor || in_folder || allowed.iter().any(|a| within(&dep, a)) {
                    continue;
                }
                broken.push(format!("{name} imports {dep}"));
            }
        }
        for (rule, _) in &self.rules {
            if !files.iter().any(|(_, name)| {
                name == rule
                    || *name == format!("{rule}.rs")
                    || name.starts_with(&format!("{rule}/"))
            }) {
                broken.push(format!("the rule for {rule} names no file"));
            }
        }
        broken
    }

    /// Panics with every broken rule of the crate at `manifest_dir` (its `src/`).
    pub fn check(&self, manifest_dir: impl AsRef<Path>) {
        let src = manifest_dir.as_ref().join("src");
        assert!(
            src.join("lib.rs").is_file() || src.join("main.rs").is_file(),
            "{} holds no lib.rs or main.rs",
            src.display()
        );
        let broken = self.broken(&src);
        assert!(
            broken.is_empty(),
            "layer rules broken (docs/ARCHITECTURE.md draws the layers):\n{}",
            broken.join("\n")
        );
    }
}
