//! The reader and the rules on small crates written for the test: each rule that breaks is
//! named, and imports are read through groups, re-exports, `super::` and inline paths.

use kinetic_layer_check::{Crate, Rules};
use std::path::Path;

fn write(src: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        let path = src.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

const FIXTURE: &[(&str, &str)] = &[
    (
        "lib.rs",
        "pub mod api;\npub mod settings;\npub mod server;\npub mod system;\npub mod extra;\n\
         pub use settings::Settings;\npub use server::{Epicor, Other as Renamed};\n\
         pub struct AppState;\n",
    ),
    ("settings/mod.rs", "pub struct Settings;\n"),
    ("error.rs", ""),
    ("server.rs", "pub struct Epicor;\n"),
    ("api/mod.rs", "mod value;\nuse crate::AppState;\n"),
    (
        "api/value.rs",
        "use crate::{error::Error, Settings};\n// use crate::server;\n",
    ),
    ("system/mod.rs", "mod shape;\nuse crate::server::Epicor;\n"),
    ("system/shape.rs", "use super::super::Epicor;\n"),
    ("system/tests.rs", "use crate::extra;\n"),
    (
        "extra.rs",
        "#[cfg(test)]\nmod tests {\n    use crate::api;\n}\n",
    ),
];

#[test]
fn a_forbidden_import_a_file_without_a_rule_and_a_stale_rule_are_caught() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    write(src, FIXTURE);
    let rules = Rules::new(&[
        ("settings", &[]),
        ("error.rs", &[]),
        ("server.rs", &[]),
        ("api", &["settings", "lib::AppState"]),
        ("api/value.rs", &["error"]),
        ("system", &["server"]),
        ("system/shape.rs", &[]),
        ("gone.rs", &[]),
    ]);
    assert_eq!(
        rules.broken(src),
        [
            "api/value.rs imports settings",
            "extra.rs has no rule: add it to the rules",
            "system/shape.rs imports server",
            "the rule for gone.rs names no file",
        ]
    );
    assert_eq!(rules.rule_of("api/value.rs").unwrap().0, "api/value.rs");
    assert_eq!(rules.rule_of("api/other.rs").unwrap().0, "api");
    assert_eq!(rules.rule_of("settings.rs").unwrap().0, "settings");
    assert!(rules.rule_of("nothing.rs").is_none());
}

#[test]
fn layers_allow_the_layers_below_and_their_own_except_what_is_kept_apart() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    write(
        src,
        &[
            (
                "lib.rs",
                "mod a;\nmod b;\nmod c;\nmod d;\npub struct State;\n",
            ),
            ("a.rs", "use crate::b::X;\n"),
            ("b.rs", "use crate::a::Y;\n"),
            ("c/mod.rs", "mod inner;\nuse crate::{a, b, d, State};\n"),
            ("c/inner.rs", "use super::super::State;\nuse crate::c::Z;\n"),
            (
                "d.rs",
                "fn f() -> crate::c::Z { todo!() }\nuse crate::State;\n",
            ),
        ],
    );
    let rules = Rules::layered(
        &[&["a", "b"], &["c", "d"], &["lib"]],
        &[("a", "b"), ("d", "c")],
        &[("c", "State")],
    );
    assert_eq!(
        rules.broken(src),
        [
            "a.rs imports b",
            "d.rs imports c",
            "d.rs imports lib::State",
        ]
    );
}

#[test]
fn imports_are_read_through_groups_reexports_super_and_inline_paths() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    write(src, FIXTURE);
    let krate = Crate::read(src);
    assert_eq!(
        krate.modules().collect::<Vec<_>>(),
        [
            "api",
            "api::value",
            "error",
            "extra",
            "server",
            "settings",
            "system",
            "system::shape",
            "system::tests"
        ]
    );
    let read = |name: &str, text: &str| -> Vec<String> {
        krate
            .imports_of(&src.join(name), text)
            .into_iter()
            .collect()
    };
    assert_eq!(
        read(
            "api/value.rs",
            "use crate::{Settings, server::{A, B}, system::shape::{self, C}};"
        ),
        ["server", "settings", "system::shape"]
    );
    assert_eq!(
        read("system/shape.rs", "use super::super::Renamed;"),
        ["server"]
    );
    assert_eq!(read("system/shape.rs", "use super::Thing;"), ["system"]);
    assert_eq!(
        read("system/mod.rs", "use super::AppState;"),
        ["lib::AppState"]
    );
    assert_eq!(
        read(
            "api/mod.rs",
            "let x = crate::server::make();\nmycrate::server::x();"
        ),
        ["server"]
    );
    assert!(read("api/mod.rs", "// crate::server\n/// crate::settings").is_empty());
    // A name the root neither defines nor re-exports is no import of it (`super::` in an
    // inline module of api/mod.rs means `api`, which this reader does not place).
    assert!(read("api/mod.rs", "mod inner {\n    use super::Helper;\n}").is_empty());
}
