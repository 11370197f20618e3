//! Every example a newcomer can copy, run as written against the emulator: the examples of
//! `kinetic --help` and of every `kinetic <command> --help`, and the `kinetic` commands of
//! README.md. Nothing here keeps a copy of them: they are read from the binary's help and from the
//! README at each run, so an example that breaks (a wrong id, quotes a shell eats, a help line that
//! wraps in the middle of a command) fails this test.
//!
//! What counts as an example:
//! - help: the commands (`kinetic ...`, with their `\` continuation lines) in the block under an
//!   `Examples:` or `Example:` heading, up to the next blank line, of every help page the
//!   `Commands:` lists lead to. Other lines there (`curl ...`) are shown, not run. The pages are
//!   read at 60 and at 1000 columns and must give the same examples: a line clap wrapped (past
//!   60 columns and not one word) would be cut in two.
//! - README.md: every `kinetic ...` command (with its continuation lines) in a ```sh block; and
//!   every inline code span that starts with `kinetic <command>` (a command of `kinetic --help`)
//!   unless it is a synopsis rather than a command: it has `[`, `]`, `|`, `<`, `>` or `...`, or a
//!   capitalised placeholder word (`NAME`, `CODE`). A span meant as a mention only is written as a
//!   synopsis (`kinetic get ...`).
//!
//! How one runs: its text is read as a POSIX shell reads it. Parameters outside single quotes are
//! expanded first (`$NAME`, `${NAME}`; only KINETIC_CONNECTION is set, as the README's step 1 sets
//! it, every other variable is empty, as in a fresh shell; a `$(...)` or backquote is refused), a
//! `#` comment is taken off, then the `shlex` crate splits the words and removes the quotes; `> FILE`
//! and `< FILE` redirect standard output and input (in a working directory of the example's page).
//! The binary runs with a configuration directory of the page's own, no `KINETIC_*` variable but
//! KINETIC_CONNECTION, and must exit 0, or the code its comment documents (`# exits 3`).
//!
//! The connection: the README's examples use the KINETIC_CONNECTION its ```sh block exports (its
//! `127.0.0.1:8040` replaced by the test emulator's address); help examples use the emulator's
//! ready `basic` (v1) string, `basic_v2` for `efx` (Epicor Functions are v2 only) and for examples
//! whose comment says `(v2)`, and `azuread_code` with a settings file for `oauth`.
//!
//! The emulator is the one `kinetic emulator` runs (default scale and seed, so ids are the ones a
//! reader sees), started in this process on 127.0.0.1:0; `create`, `update` and `delete`
//! examples each get a fresh one, so a write never changes what a later example finds.
//! Examples that cannot run here are in [`NOT_RUN`] with the reason; everything else runs.

mod common;

use epicor_kinetic_emulator::EmulatorConfig;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Examples not run: the start of the command (its words joined by one space) and why. Every entry
/// must match an example (a stale entry fails the test). `--help` examples always run.
const NOT_RUN: &[(&str, &str)] = &[
    (
        "kinetic emulator",
        "serves until interrupted (this test starts the same emulator in process)",
    ),
    (
        "kinetic serve",
        "serves until interrupted (tests/serve.rs runs it, with psql as the client)",
    ),
    (
        "kinetic demo",
        "a tour with its own emulator and 50,000 order lines; scripts/test.sh runs it",
    ),
    (
        "kinetic login",
        "a person signs in, in a browser or with a device code",
    ),
    (
        "kinetic oauth access-token",
        "needs the code of a browser sign-in (tests/commands.rs runs the procedures with one)",
    ),
    (
        "kinetic oauth refresh",
        "needs the tokens of that sign-in (tests/commands.rs runs it)",
    ),
    (
        "kinetic services --profile prod",
        "the profile `prod` addresses erp.example.com, the reader's own server",
    ),
    (
        "kinetic token -c URL=https://erp.example.com;",
        "addresses erp.example.com, the reader's own server",
    ),
];

/// Subcommands whose examples write: each runs against a fresh emulator.
const WRITES: &[&str] = &["create", "update", "delete"];

/// How long one example may take.
const TIMEOUT: Duration = Duration::from_secs(120);

/// One example: where it is, its text as written, and how a shell reads it.
#[derive(Debug)]
struct Example {
    /// `kinetic get --help` or `README.md:42`.
    source: String,
    /// As written (continuation lines included).
    text: String,
    /// What the shell reads.
    line: ShellLine,
}

impl Example {
    fn new(source: String, text: String, env: &[(&str, &str)]) -> Example {
        let line = ShellLine::read(&text, env)
            .unwrap_or_else(|e| panic!("{source}: `{text}` cannot be read as a shell line: {e}"));
        Example { source, text, line }
    }

    /// The words joined by one space (what [`NOT_RUN`] matches).
    fn joined(&self) -> String {
        self.line.words.join(" ")
    }

    /// Why it is not run, when it is not.
    fn not_run(&self) -> Option<&'static str> {
        if self.line.words.iter().any(|w| w == "--help") {
            return None;
        }
        let joined = self.joined();
        NOT_RUN
            .iter()
            .find(|(prefix, _)| joined.starts_with(prefix))
            .map(|(_, why)| *why)
    }

    /// The subcommand (the first word after `kinetic` that is not a flag).
    fn command(&self) -> &str {
        self.line
            .words
            .iter()
            .skip(1)
            .find(|w| !w.starts_with('-'))
            .map(String::as_str)
            .unwrap_or("")
    }
}

/// A line as a POSIX shell reads it (see the module's documentation for what is supported).
#[derive(Debug, Default, PartialEq)]
struct ShellLine {
    /// The words, quotes removed, parameters expanded.
    words: Vec<String>,
    /// The comment after `#`, if any.
    comment: String,
    /// `> FILE`.
    stdout_to: Option<String>,
    /// `< FILE`.
    stdin_from: Option<String>,
    /// Control operators this test does not run (`&`, `|`, `;`, `&&`, `||`).
    operators: Vec<String>,
}

impl ShellLine {
    fn read(text: &str, env: &[(&str, &str)]) -> Result<ShellLine, String> {
        let (expanded, comment) = expand_parameters(text, env)?;
        let words = shlex::split(&expanded).ok_or("unbalanced quotes or a trailing backslash")?;
        let mut line = ShellLine {
            comment,
            ..ShellLine::default()
        };
        let mut words = words.into_iter();
        while let Some(w) = words.next() {
            match w.as_str() {
                ">" => line.stdout_to = Some(words.next().ok_or("`>` names no file")?),
                "<" => line.stdin_from = Some(words.next().ok_or("`<` names no file")?),
                "&" | "|" | ";" | "&&" | "||" => line.operators.push(w),
                _ => line.words.push(w),
            }
        }
        Ok(line)
    }

    /// The exit code the comment documents (`exits N`), else 0.
    fn expected_code(&self) -> i32 {
        let mut words = self.comment.split_whitespace();
        while let Some(w) = words.next() {
            if w == "exits" {
                if let Some(code) = words.next().and_then(|c| c.parse().ok()) {
                    return code;
                }
            }
        }
        0
    }
}

/// Expands `$NAME` and `${NAME}` outside single quotes (as a shell does, to the value in `env` or
/// to nothing) and takes a `#` comment off; returns the line and the comment. The value is escaped
/// for where it lands, so `shlex` keeps it one piece of its word (a shell would also split an
/// unquoted value at spaces; no example relies on that).
fn expand_parameters(text: &str, env: &[(&str, &str)]) -> Result<(String, String), String> {
    #[derive(PartialEq, Clone, Copy)]
    enum Quote {
        None,
        Single,
        Double,
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut quote = Quote::None;
    let mut word_start = true;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if quote == Quote::Single {
            out.push(c);
            if c == '\'' {
                quote = Quote::None;
            }
            i += 1;
            continue;
        }
        match c {
            // A line continuation goes before the line is split into words.
            '\\' if chars.get(i + 1) == Some(&'\n') => {
                i += 2;
                continue;
            }
            '\\' => {
                out.push(c);
                if let Some(&next) = chars.get(i + 1) {
                    out.push(next);
                }
                i += 2;
                word_start = false;
                continue;
            }
            '#' if quote == Quote::None && word_start => {
                let comment: String = chars[i + 1..].iter().collect();
                return Ok((out, comment.trim().to_owned()));
            }
            '`' => return Err("a command substitution (backquotes) is not run here".into()),
            // Interactive bash expands `!` (history) outside single quotes, but before a blank,
            // `=` or `(`, or at the end.
            '!' if !matches!(
                chars.get(i + 1),
                None | Some(' ' | '\t' | '\n' | '=' | '(' | '"')
            ) =>
            {
                return Err(
                    "a `!` outside single quotes: interactive bash expands it from its history \
                     (`event not found`); put the word in single quotes"
                        .into(),
                )
            }
            '$' => {
                let (name, end) = match chars.get(i + 1) {
                    Some('(') => {
                        return Err("a command substitution `$(...)` is not run here".into())
                    }
                    Some('{') => {
                        let close = chars[i + 2..]
                            .iter()
                            .position(|&c| c == '}')
                            .ok_or("`${` without `}`")?;
                        (
                            chars[i + 2..i + 2 + close].iter().collect::<String>(),
                            i + 3 + close,
                        )
                    }
                    Some(&c) if c.is_ascii_alphabetic() || c == '_' => {
                        let len = chars[i + 1..]
                            .iter()
                            .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
                            .count();
                        (chars[i + 1..i + 1 + len].iter().collect(), i + 1 + len)
                    }
                    // A `$` before anything else stays a `$`.
                    _ => {
                        out.push('$');
                        i += 1;
                        word_start = false;
                        continue;
                    }
                };
                let value = env
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| *v)
                    .unwrap_or("");
                for ch in value.chars() {
                    let special = match quote {
                        Quote::Double => matches!(ch, '\\' | '"' | '$' | '`'),
                        _ => !(ch.is_ascii_alphanumeric() || "-_./:=,@%+".contains(ch)),
                    };
                    if special {
                        out.push('\\');
                    }
                    out.push(ch);
                }
                i = end;
                word_start = false;
                continue;
            }
            '\'' if quote == Quote::None => quote = Quote::Single,
            '"' => {
                quote = if quote == Quote::Double {
                    Quote::None
                } else {
                    Quote::Double
                }
            }
            _ => {}
        }
        word_start = quote == Quote::None && c.is_whitespace();
        out.push(c);
        i += 1;
    }
    Ok((out, String::new()))
}

/// What one run of the binary did.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs the binary with `args` in `dir`, the configuration directory `config`, no `KINETIC_*`
/// variable but `KINETIC_CONNECTION` (when given) and the terminal width `COLUMNS` (when given).
fn kinetic(
    dir: &Path,
    config: &Path,
    args: &[String],
    connection: Option<&str>,
    columns: Option<usize>,
    stdout_to: Option<&str>,
    stdin_from: Option<&str>,
) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kinetic"));
    cmd.args(args).current_dir(dir);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("KINETIC_")
            || name.to_ascii_lowercase().ends_with("_proxy")
            || name == "RUST_LOG"
            || name == "COLUMNS"
        {
            cmd.env_remove(name.as_ref());
        }
    }
    cmd.env("KINETIC_CONFIG_DIR", config)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY");
    if let Some(c) = connection {
        cmd.env("KINETIC_CONNECTION", c);
    }
    if let Some(c) = columns {
        cmd.env("COLUMNS", c.to_string());
    }
    let out_path = match stdout_to {
        Some(f) => dir.join(f),
        None => tempfile::NamedTempFile::new_in(dir)
            .unwrap()
            .into_temp_path()
            .keep()
            .unwrap(),
    };
    let err_path = out_path.with_extension("stderr");
    cmd.stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .stdin(match stdin_from {
            Some(f) => Stdio::from(
                std::fs::File::open(dir.join(f))
                    .unwrap_or_else(|e| panic!("`< {f}`: {e} (in {})", dir.display())),
            ),
            None => Stdio::null(),
        });
    let mut child = cmd.spawn().unwrap();
    let started = Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    if stdout_to.is_none() {
        let _ = std::fs::remove_file(&out_path);
    }
    let _ = std::fs::remove_file(&err_path);
    Run {
        code,
        stdout,
        stderr,
    }
}

/// `kinetic <path> --help` at `columns` columns.
fn help(path: &[String], columns: usize) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut args = path.to_vec();
    args.push("--help".into());
    let run = kinetic(
        dir.path(),
        dir.path(),
        &args,
        None,
        Some(columns),
        None,
        None,
    );
    assert_eq!(run.code, Some(0), "kinetic {args:?}: {}", run.stderr);
    run.stdout
}

/// The subcommands a help page lists under `Commands:` (without `help`).
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| l.trim() != "Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        // A command's line starts two spaces in; a description wrapped onto the next line more.
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_owned)
        .collect()
}

/// Every help page: the command's path (empty for `kinetic` itself), and its text at 60 and at
/// 1000 columns.
fn help_pages() -> Vec<(Vec<String>, String, String)> {
    let mut pages = Vec::new();
    let mut todo = vec![Vec::<String>::new()];
    while let Some(path) = todo.pop() {
        let narrow = help(&path, 60);
        let wide = help(&path, 1000);
        for sub in subcommands(&wide).into_iter().rev() {
            let mut p = path.clone();
            p.push(sub);
            todo.push(p);
        }
        pages.push((path, narrow, wide));
    }
    pages
}

/// Joins a line ending in `\` (or inside a quote) with the lines that continue it. The lines come
/// from `lines`, each as (line number, text); returns the number of the first line and the text.
fn take_command<'a>(
    first: (usize, &'a str),
    lines: &mut impl Iterator<Item = (usize, &'a str)>,
) -> (usize, String) {
    let mut text = first.1.trim().to_owned();
    while text.ends_with('\\') || shlex::split(&text).is_none() {
        match lines.next() {
            Some((_, next)) => {
                text.push('\n');
                text.push_str(next);
            }
            None => break,
        }
    }
    (first.0, text)
}

/// The example blocks of a help page as shown (each line), and their `kinetic` commands (see the
/// module's documentation).
fn help_examples(help: &str) -> (Vec<String>, Vec<String>) {
    let mut shown = Vec::new();
    let mut found = Vec::new();
    let mut lines = help.lines().enumerate();
    let mut in_block = false;
    while let Some((n, line)) = lines.next() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            in_block = false;
        } else if trimmed == "Examples:" || trimmed == "Example:" {
            in_block = true;
        } else if in_block {
            let (_, text) = take_command((n, line), &mut lines);
            shown.extend(text.lines().map(str::to_owned));
            if text.starts_with("kinetic ") {
                found.push(text);
            }
        }
    }
    (shown, found)
}

/// The README's examples (line number, text) and the KINETIC_CONNECTION its ```sh block exports.
fn readme_examples(readme: &str, commands: &[String]) -> (Vec<(usize, String)>, Option<String>) {
    let mut found = Vec::new();
    let mut connection = None;
    // Prose with the code blocks blanked, for the inline spans.
    let mut prose = String::new();
    let mut lines = readme.lines().enumerate().map(|(n, l)| (n + 1, l));
    let mut fence: Option<bool> = None; // Some(is a shell block) inside a fence
    while let Some((n, line)) = lines.next() {
        let trimmed = line.trim_start();
        if let Some(info) = trimmed.strip_prefix("```") {
            fence = match fence {
                Some(_) => None,
                None => Some(matches!(info.trim(), "sh" | "bash" | "shell")),
            };
            prose.push('\n');
            continue;
        }
        match fence {
            None => {
                prose.push_str(line);
                prose.push('\n');
            }
            Some(false) => prose.push('\n'),
            Some(true) => {
                prose.push('\n');
                let (first, text) = take_command((n, line), &mut lines);
                for _ in text.lines().skip(1) {
                    prose.push('\n');
                }
                if text.starts_with("kinetic ") {
                    found.push((first, text));
                } else if let Some(value) = text.strip_prefix("export KINETIC_CONNECTION=") {
                    let words = shlex::split(value).expect("the exported connection parses");
                    connection = words.into_iter().next();
                }
            }
        }
    }
    // Inline spans: `kinetic <command> ...`, possibly across lines.
    let mut rest = prose.as_str();
    let mut offset = 0;
    while let Some(open) = rest.find('`') {
        let Some(len) = rest[open + 1..].find('`') else {
            break;
        };
        let span = &rest[open + 1..open + 1 + len];
        let line = prose[..offset + open].matches('\n').count() + 1;
        let text = span.split_whitespace().collect::<Vec<_>>().join(" ");
        let text = text.replace("\\|", "|");
        let words: Vec<&str> = text.split_whitespace().collect();
        let is_command = words.first() == Some(&"kinetic")
            && words
                .get(1)
                .is_some_and(|c| commands.iter().any(|k| k == c));
        let synopsis = ["[", "]", "|", "<", ">", "..."]
            .iter()
            .any(|m| text.contains(m))
            || words.iter().skip(1).any(|w| {
                w.chars().all(|c| c.is_ascii_uppercase() || c == '_')
                    && w.chars().any(|c| c.is_ascii_uppercase())
            });
        if is_command && !synopsis {
            found.push((line, text));
        }
        offset += open + len + 2;
        rest = &prose[offset..];
    }
    found.sort_by_key(|(line, _)| *line);
    (found, connection)
}

/// A working directory and a configuration directory, for the examples of one page.
struct Place {
    dir: tempfile::TempDir,
    config: tempfile::TempDir,
}

impl Place {
    fn new() -> Place {
        Place {
            dir: tempfile::tempdir().unwrap(),
            config: tempfile::tempdir().unwrap(),
        }
    }
}

/// The emulator `kinetic emulator` runs, in process.
fn emulator() -> common::Served {
    common::Served::start(EmulatorConfig::default())
}

/// Runs `example` (against a fresh emulator when it writes) with the connection `connection`
/// chooses from an emulator's start-up line; Err says what went wrong.
fn run_example(
    example: &Example,
    shared: &common::Served,
    place: &Place,
    connection: &dyn Fn(&common::Served, &Example) -> String,
) -> Result<(), String> {
    if !example.line.operators.is_empty() {
        return Err(format!(
            "uses {:?}, which this test does not run: list it in NOT_RUN with the reason",
            example.line.operators
        ));
    }
    let fresh = WRITES.contains(&example.command()).then(emulator);
    let served = fresh.as_ref().unwrap_or(shared);
    let connection = connection(served, example);
    let run = kinetic(
        place.dir.path(),
        place.config.path(),
        &example.line.words[1..],
        Some(&connection),
        None,
        example.line.stdout_to.as_deref(),
        example.line.stdin_from.as_deref(),
    );
    let expected = example.line.expected_code();
    if run.code == Some(expected) {
        let nothing = shows_nothing(&run.stdout).or_else(|| {
            (example.command() == "sql" && sql_shows_no_row(&run.stdout))
                .then_some("it found no row (the header alone)")
        });
        match nothing {
            Some(why) if expected == 0 => Err(format!(
                "exited 0, but {why} (an example with an id that does not exist?)\n  stdout: {}",
                run.stdout.chars().take(300).collect::<String>().trim()
            )),
            _ => Ok(()),
        }
    } else {
        Err(format!(
            "exited {} (expected {expected}){}\n  stderr: {}\n  stdout: {}",
            run.code
                .map_or("by timeout or signal".into(), |c| c.to_string()),
            if expected == 0 {
                ""
            } else {
                " (documented by the example's comment)"
            },
            run.stderr.trim(),
            run.stdout.chars().take(300).collect::<String>().trim()
        ))
    }
}

/// Why an example's standard output shows nothing, when it does not: an empty list, a count of 0,
/// or a Function's `"Found": false`. (Output that is not JSON, or none, as writes print to
/// standard error, is fine.)
fn shows_nothing(stdout: &str) -> Option<&'static str> {
    fn not_found(v: &serde_json::Value) -> bool {
        match v {
            serde_json::Value::Object(map) => map
                .iter()
                .any(|(k, v)| (k == "Found" && *v == false) || not_found(v)),
            _ => false,
        }
    }
    let value: serde_json::Value = serde_json::from_str(stdout).ok()?;
    match &value {
        serde_json::Value::Array(rows) if rows.is_empty() => Some("it found no row"),
        serde_json::Value::Number(n) if n.as_u64() == Some(0) => Some("it counted no row"),
        v if not_found(v) => Some("it answered `\"Found\": false`"),
        _ => None,
    }
}

/// Whether `kinetic sql`'s output is a result without rows: a CSV header alone, or a table of
/// `(0 rows)`. (No output at all is a result written elsewhere, `-o`.)
fn sql_shows_no_row(stdout: &str) -> bool {
    let lines: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    lines.len() == 1 || lines.last().is_some_and(|l| l.trim() == "(0 rows)")
}

/// Runs the examples, checks that every [`NOT_RUN`] entry matched one of `all_examples` (when
/// `check_stale`), and fails with every broken example at once.
fn run_all(
    examples: &[Example],
    shared: &common::Served,
    place_of: &mut dyn FnMut(&Example) -> std::rc::Rc<Place>,
    connection: &dyn Fn(&common::Served, &Example) -> String,
) -> (usize, Vec<String>, Vec<String>) {
    let mut ran = 0;
    let mut skipped = Vec::new();
    let mut broken = Vec::new();
    for example in examples {
        if let Some(why) = example.not_run() {
            skipped.push(format!("{}: `{}`: {why}", example.source, example.text));
            continue;
        }
        ran += 1;
        let place = place_of(example);
        if let Err(e) = run_example(example, shared, &place, connection) {
            broken.push(format!("{}: `{}`: {e}", example.source, example.text));
        }
    }
    (ran, skipped, broken)
}

fn report(what: &str, ran: usize, skipped: &[String], broken: &[String]) {
    eprintln!("{what}: {ran} run, {} not run:", skipped.len());
    for s in skipped {
        eprintln!("  not run: {s}");
    }
    assert!(
        broken.is_empty(),
        "{} of the {ran} {what} fail as written:\n{}",
        broken.len(),
        broken.join("\n\n")
    );
}

fn readme() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn top_level_commands() -> Vec<String> {
    subcommands(&help(&[], 1000))
}

#[test]
fn every_help_example_runs_as_written() {
    let pages = help_pages();
    assert!(pages.len() > 10, "the help pages: {}", pages.len());
    let mut examples = Vec::new();
    let mut wrapped = Vec::new();
    for (path, narrow, wide) in &pages {
        let source = format!(
            "kinetic {}--help",
            path.iter().map(|p| format!("{p} ")).collect::<String>()
        );
        let (shown, found) = help_examples(wide);
        let (shown_narrow, _) = help_examples(narrow);
        if shown != shown_narrow {
            wrapped.push(format!(
                "{source}: at 1000 columns\n  {}\nat 60 columns\n  {}",
                shown.join("\n  "),
                shown_narrow.join("\n  ")
            ));
        }
        for text in found {
            examples.push(Example::new(source.clone(), text, &[]));
        }
    }
    assert!(examples.len() > 20, "help examples found: {examples:#?}");

    let served = emulator();
    let mut places: std::collections::HashMap<String, std::rc::Rc<Place>> = Default::default();
    let mut place_of = |e: &Example| {
        places
            .entry(e.source.clone())
            .or_insert_with(|| std::rc::Rc::new(Place::new()))
            .clone()
    };
    let settings_dir = tempfile::tempdir().unwrap();
    let connection = |s: &common::Served, e: &Example| match e.command() {
        "efx" => s.cs("basic_v2"),
        "oauth" => format!(
            "{};OAuthSettingsLocation={}",
            s.cs("azuread_code"),
            settings_dir.path().join("oauth.bin").display()
        ),
        _ if e.line.comment.contains("(v2)") => s.cs("basic_v2"),
        _ => s.cs("basic"),
    };
    let (ran, skipped, mut broken) = run_all(&examples, &served, &mut place_of, &connection);
    for w in wrapped {
        broken.push(format!(
            "{w}\n(a 60-column terminal wraps it: keep each line of an example within 60 columns, \
             continued with ` \\`, or a single word)"
        ));
    }
    let readme_examples = {
        let (found, _) = readme_examples(&readme(), &top_level_commands());
        found
            .into_iter()
            .map(|(n, text)| Example::new(format!("README.md:{n}"), text, &[]))
            .collect::<Vec<_>>()
    };
    broken.extend(stale_not_run_entries(&examples, &readme_examples));
    report("help examples", ran, &skipped, &broken);
}

#[test]
fn every_readme_command_runs_as_written() {
    let readme = readme();
    let (found, connection) = readme_examples(&readme, &top_level_commands());
    let exported = connection.expect("the README's ```sh block exports KINETIC_CONNECTION");
    assert!(
        exported.contains("URL=http://127.0.0.1:8040;"),
        "the README's KINETIC_CONNECTION addresses `kinetic emulator --port 8040`: {exported}"
    );
    let served = emulator();
    let url = served.info["url"].as_str().unwrap().to_owned();
    let for_test = exported.replace("http://127.0.0.1:8040", &url);
    let env = [("KINETIC_CONNECTION", for_test.as_str())];
    let examples: Vec<Example> = found
        .into_iter()
        .map(|(n, text)| Example::new(format!("README.md:{n}"), text, &env))
        .collect();
    assert!(examples.len() > 10, "README examples found: {examples:#?}");
    let place = std::rc::Rc::new(Place::new());
    let mut place_of = |_: &Example| place.clone();
    let connection = |s: &common::Served, _: &Example| {
        let url = s.info["url"].as_str().unwrap();
        exported.replace("http://127.0.0.1:8040", url)
    };
    let (ran, skipped, broken) = run_all(&examples, &served, &mut place_of, &connection);
    report("README commands", ran, &skipped, &broken);
}

/// The [`NOT_RUN`] entries that exclude no example (each should exclude at least one).
fn stale_not_run_entries(help: &[Example], readme: &[Example]) -> Vec<String> {
    NOT_RUN
        .iter()
        .filter(|(prefix, _)| {
            !help
                .iter()
                .chain(readme)
                .any(|e| e.joined().starts_with(prefix) && e.not_run().is_some())
        })
        .map(|(prefix, _)| {
            format!("NOT_RUN lists `{prefix}`, which no example starts with any more: remove it")
        })
        .collect()
}

#[test]
fn the_readme_emulator_configuration_parses() {
    let readme = readme();
    let mut blocks = readme.split("```toml\n").skip(1);
    let block = blocks
        .next()
        .expect("the README shows the emulator's configuration in a ```toml block");
    let toml = &block[..block.find("```").expect("the ```toml block ends")];
    let file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    std::fs::write(file.path(), toml).unwrap();
    let config = EmulatorConfig::from_file(file.path())
        .unwrap_or_else(|e| panic!("the README's configuration: {e}"));
    // The keys the example shows at the top level stay there (not in the last table above them).
    assert!(config.require_api_key);
    assert_eq!(config.token_lifetime_secs, 3600);
    assert_eq!(config.companies.len(), 1);
    assert!(
        blocks.next().is_none(),
        "one ```toml block, the configuration"
    );
}

#[test]
fn the_shell_reading_of_an_example() {
    let read = |t: &str| ShellLine::read(t, &[("KINETIC_CONNECTION", "URL=x;User=m")]).unwrap();
    let line = read(r#"kinetic get S/E --expand "OrderDtls($select=PartNum)" --top 3"#);
    assert_eq!(
        line.words[4], "OrderDtls(=PartNum)",
        "a shell expands $select"
    );
    let line = read("kinetic get S/E --expand 'OrderDtls($select=PartNum)'   # it reads 3");
    assert_eq!(line.words[4], "OrderDtls($select=PartNum)");
    assert_eq!(line.comment, "it reads 3");
    let line = read(r#"kinetic call S/M --body '{"w": "State = '\''MN'\''"}' # exits 5"#);
    assert_eq!(line.words[4], r#"{"w": "State = 'MN'"}"#);
    assert_eq!(line.expected_code(), 5);
    let line = read("kinetic token -c \"$KINETIC_CONNECTION;X=1\" > t.txt < in.json");
    assert_eq!(line.words, ["kinetic", "token", "-c", "URL=x;User=m;X=1"]);
    assert_eq!(line.stdout_to.as_deref(), Some("t.txt"));
    assert_eq!(line.stdin_from.as_deref(), Some("in.json"));
    let line = read("kinetic get \\\n    S/E --top \\\n    1 # cost: $5");
    assert_eq!(line.words, ["kinetic", "get", "S/E", "--top", "1"]);
    assert_eq!(read("kinetic emulator --port 8040 &").operators, ["&"]);
    assert!(ShellLine::read("kinetic token -c \"$(cat x)\"", &[]).is_err());
    assert!(ShellLine::read("kinetic token -c \"Password=a!;B=c\"", &[]).is_err());
    assert!(ShellLine::read("kinetic token -c 'Password=a!;B=c'", &[]).is_ok());
}

#[test]
fn an_option_the_shell_expanded_is_a_usage_error_with_the_hint() {
    let served = emulator();
    let place = Place::new();
    let cases: &[&[&str]] = &[
        &[
            "get",
            "Erp.BO.SalesOrderSvc/SalesOrders",
            "--expand",
            "OrderDtls(=PartNum)",
        ],
        &[
            "get",
            "Erp.BO.SalesOrderSvc/SalesOrders",
            "--expand",
            "OrderDtls()",
        ],
        &[
            "get",
            "Erp.BO.SalesOrderSvc/SalesOrders('EPIC06',5001)",
            "--expand",
            "OrderDtls(=PartNum)",
        ],
        &["get", "Erp.BO.CustomerSvc/Customers", "--filter", "=5"],
        &[
            "export",
            "Erp.BO.SalesOrderSvc/SalesOrders",
            "--expand",
            "OrderDtls(=PartNum;=3)",
        ],
    ];
    for args in cases {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let run = kinetic(
            place.dir.path(),
            place.config.path(),
            &args,
            Some(&served.cs("basic")),
            None,
            None,
            None,
        );
        assert_eq!(run.code, Some(2), "{args:?}: {}", run.stderr);
        assert!(
            run.stderr
                .contains("the shell may have expanded `$...`: put the value in single quotes"),
            "{args:?}: {}",
            run.stderr
        );
    }
    // Parentheses and `=` in string literals, and functions in a filter, are the user's.
    let run = kinetic(
        place.dir.path(),
        place.config.path(),
        &[
            "get".into(),
            "Erp.BO.CustomerSvc/Customers".into(),
            "--filter".into(),
            "Name ne '(=x)' and tolower(Name) ne '=()'".into(),
            "--top".into(),
            "1".into(),
        ],
        Some(&served.cs("basic")),
        None,
        None,
        None,
    );
    assert!(!run.stderr.contains("the shell may have"), "{}", run.stderr);
}
