//! Where output goes, end to end: `kinetic export -o` into FIFOs, devices and symlinks (written
//! through or followed, never replaced), the modes of the files it makes, a reader that closes
//! the pipe early (a quiet exit 141 from every command), and SIGTERM/SIGHUP during an export.
//! The binary runs against an emulator started in this test process on 127.0.0.1:0.
#![cfg(unix)]

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use epicor_kinetic_emulator::EmulatorConfig;

mod common;
use common::partials;

const LINES: &str = "Erp.BO.SalesOrderSvc/OrderDtls";

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_kinetic")
}

/// The binary, without the caller's connection or profiles, and with SIGINT, SIGTERM and SIGHUP
/// at their default actions whatever this test runner inherited (a runner started with `nohup`
/// or in the background of a script ignores some, and an ignored signal stays ignored).
fn kinetic() -> Command {
    let mut c = Command::new(bin());
    c.env_remove("KINETIC_CONNECTION").env(
        "KINETIC_CONFIG_DIR",
        std::env::temp_dir().join("kinetic-output-tests-none"),
    );
    common::default_signals(&mut c);
    c
}

/// The binary run by `sh` under `umask`.
fn kinetic_with_umask(umask: &str) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(format!("umask {umask}; exec \"$0\" \"$@\""))
        .arg(bin())
        .env_remove("KINETIC_CONNECTION")
        .env(
            "KINETIC_CONFIG_DIR",
            std::env::temp_dir().join("kinetic-output-tests-none"),
        );
    c
}

fn config() -> EmulatorConfig {
    EmulatorConfig {
        scale: 2000,
        ..Default::default()
    }
}

/// A finished command's standard error, after checking that it exited 0 ([`common::ok`]): what
/// these commands report (their output goes to files).
fn ok(out: &Output) -> String {
    common::ok(out);
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The CSV export of every order line, to standard output: what every file export must equal.
fn reference(emu: &common::Served) -> String {
    let out = kinetic()
        .args(["export", LINES, "--no-progress", "-c", &emu.cs("basic")])
        .output()
        .unwrap();
    ok(&out);
    let text = String::from_utf8(out.stdout).unwrap();
    // Several pages, and more than a pipe holds.
    assert!(text.len() > 150_000, "every line: {} bytes", text.len());
    text
}

fn export_to(path: &Path, emu: &common::Served) -> Output {
    kinetic()
        .args(["export", LINES, "--no-progress", "-o"])
        .arg(path)
        .args(["-c", &emu.cs("basic")])
        .output()
        .unwrap()
}

fn mkfifo(path: &Path) {
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
}

#[test]
fn an_export_to_a_fifo_streams_into_it_and_leaves_it_a_fifo() {
    let emu = common::Served::start(config());
    let expected = reference(&emu);
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("lines.csv");
    mkfifo(&fifo);
    // Held open for writing by the test, so that the reader's open does not wait for the export
    // and its read ends (at end of file) only once this is closed: the reader cannot hang on a
    // FIFO that the export replaced instead of writing to.
    let keep = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&fifo)
        .unwrap();
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut text = String::new();
            std::fs::File::open(fifo)
                .unwrap()
                .read_to_string(&mut text)
                .unwrap();
            text
        })
    };
    let out = export_to(&fifo, &emu);
    drop(keep);
    let got = reader.join().unwrap();
    let stderr = ok(&out);
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo(),
        "the FIFO is still a FIFO"
    );
    assert!(
        got == expected,
        "the reader got the whole export:\n{stderr}"
    );
    assert!(
        partials(dir.path()).is_empty(),
        "{:?}",
        partials(dir.path())
    );
}

#[test]
#[cfg(target_os = "linux")]
fn an_export_to_a_device_writes_through_it() {
    let emu = common::Served::start(config());
    // First a null device of the test's own (where the test may make one: as root), so that an
    // export that replaced devices would fail here before it could replace /dev/null.
    let dir = tempfile::tempdir().unwrap();
    let own = dir.path().join("null");
    if Command::new("mknod")
        .arg(&own)
        .args(["c", "1", "3"])
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
    {
        let before = std::fs::symlink_metadata(&own).unwrap();
        ok(&export_to(&own, &emu));
        let after = std::fs::symlink_metadata(&own).unwrap();
        assert!(after.file_type().is_char_device(), "still a device");
        assert_eq!((after.ino(), after.rdev()), (before.ino(), before.rdev()));
        assert!(partials(dir.path()).is_empty());
    }
    let null = Path::new("/dev/null");
    let before = std::fs::symlink_metadata(null).unwrap();
    assert!(before.file_type().is_char_device());
    let stderr = ok(&export_to(null, &emu));
    assert!(stderr.contains(" rows to /dev/null "), "{stderr}");
    let after = std::fs::symlink_metadata(null).unwrap();
    assert!(after.file_type().is_char_device(), "/dev/null is a device");
    assert_eq!((after.ino(), after.rdev()), (before.ino(), before.rdev()));
}

#[test]
fn an_export_to_a_symlink_replaces_its_target_and_keeps_the_link() {
    let emu = common::Served::start(config());
    let expected = reference(&emu);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let target = data.join("lines.csv");
    std::fs::write(&target, "an older export\n").unwrap();
    // A relative link in another directory, through a second link: the chain is followed to
    // the file, which is replaced in its own directory.
    let hop = dir.path().join("hop.csv");
    std::os::unix::fs::symlink("data/lines.csv", &hop).unwrap();
    let link = dir.path().join("link.csv");
    std::os::unix::fs::symlink(&hop, &link).unwrap();
    ok(&export_to(&link, &emu));
    assert_eq!(std::fs::read_link(&link).unwrap(), hop, "the link stays");
    assert_eq!(
        std::fs::read_link(&hop).unwrap(),
        PathBuf::from("data/lines.csv")
    );
    assert!(std::fs::read_to_string(&target).unwrap() == expected);
    assert!(std::fs::symlink_metadata(&target).unwrap().is_file());
    assert!(partials(dir.path()).is_empty() && partials(&data).is_empty());

    // A dangling link: its target is made.
    let missing = data.join("new.csv");
    let dangling = dir.path().join("dangling.csv");
    std::os::unix::fs::symlink(&missing, &dangling).unwrap();
    ok(&export_to(&dangling, &emu));
    assert_eq!(std::fs::read_link(&dangling).unwrap(), missing);
    assert!(std::fs::read_to_string(&missing).unwrap() == expected);

    // A link to a FIFO: written through, nothing replaced.
    let fifo = data.join("pipe");
    mkfifo(&fifo);
    let keep = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&fifo)
        .unwrap();
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut text = String::new();
            std::fs::File::open(fifo)
                .unwrap()
                .read_to_string(&mut text)
                .unwrap();
            text
        })
    };
    let to_fifo = dir.path().join("to-fifo");
    std::os::unix::fs::symlink(&fifo, &to_fifo).unwrap();
    let out = export_to(&to_fifo, &emu);
    drop(keep);
    let got = reader.join().unwrap();
    ok(&out);
    assert_eq!(std::fs::read_link(&to_fifo).unwrap(), fifo);
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo());
    assert!(got == expected);
    assert!(partials(dir.path()).is_empty() && partials(&data).is_empty());
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn new_files_honour_the_umask_and_replaced_files_keep_their_mode() {
    let emu = common::Served::start(config());
    let dir = tempfile::tempdir().unwrap();
    let export = |umask: &str, path: &Path| {
        kinetic_with_umask(umask)
            .args(["export", LINES, "--no-progress", "--top", "10", "-o"])
            .arg(path)
            .args(["-c", &emu.cs("basic")])
            .output()
            .unwrap()
    };
    let open = dir.path().join("open.csv");
    ok(&export("022", &open));
    assert_eq!(mode(&open), 0o644, "umask 022: rw-r--r--");
    let private = dir.path().join("private.csv");
    ok(&export("077", &private));
    assert_eq!(mode(&private), 0o600, "umask 077: rw-------");
    let group = dir.path().join("group.csv");
    ok(&export("002", &group));
    assert_eq!(mode(&group), 0o664, "umask 002: rw-rw-r--");

    // An existing file keeps its mode, whatever the umask.
    let shared = dir.path().join("shared.csv");
    std::fs::write(&shared, "an older export\n").unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o644)).unwrap();
    ok(&export("077", &shared));
    assert_eq!(mode(&shared), 0o644);
    assert!(std::fs::read_to_string(&shared)
        .unwrap()
        .starts_with("Company,"));
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o640)).unwrap();
    ok(&export("022", &shared));
    assert_eq!(mode(&shared), 0o640);
    // And through a symlink, the target's mode.
    let link = dir.path().join("link.csv");
    std::os::unix::fs::symlink(&shared, &link).unwrap();
    ok(&export("077", &link));
    assert_eq!(mode(&shared), 0o640);
    assert!(partials(dir.path()).is_empty());
}

/// Runs `args`, reads the first line of its standard output, then closes the pipe: the command
/// must stop quietly with 141 (128 + SIGPIPE), as a shell reports a process killed by SIGPIPE.
fn closed_after_one_line(args: &[&str]) {
    let mut child = kinetic()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(!first.is_empty(), "{args:?} printed a line");
    // The reader is dropped: the pipe is closed with most of the output unread.
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(141), "{args:?}: {err}");
    assert!(err.is_empty(), "{args:?} is quiet: {err}");
}

/// The writing end of a pipe whose reading end is already closed.
///
/// Made here rather than by closing a piped child's stdout after the spawn: the tests of this
/// file run at once, and a child forked by another test holds a copy of every descriptor until
/// it execs, so a small output could fit in the pipe while that copy lasts.
fn pipe_without_reader() -> std::os::fd::OwnedFd {
    use std::os::fd::{FromRawFd, OwnedFd};
    let mut fds = [0; 2];
    // SAFETY: pipe(2) writes two new descriptors into `fds`, owned here from then on.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read);
    write
}

/// Runs `args` with its standard output already closed by the reader.
fn closed_before_output(args: &[&str]) {
    let out = kinetic()
        .args(args)
        .stdout(pipe_without_reader())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(141), "{args:?}: {err}");
    assert!(err.is_empty(), "{args:?} is quiet: {err}");
}

#[test]
fn a_reader_that_stops_early_ends_every_command_quietly_with_141() {
    let emu = common::Served::start(config());
    let basic = emu.cs("basic");
    let v2 = emu.cs("basic_v2");
    // Outputs much larger than a pipe's buffer, cut after their first line (`| head -1`).
    for format in ["table", "json"] {
        closed_after_one_line(&[
            "get", LINES, "--top", "2000", "--format", format, "-c", &basic,
        ]);
    }
    for format in ["csv", "ndjson", "json"] {
        closed_after_one_line(&["export", LINES, "--format", format, "-c", &basic]);
        closed_after_one_line(&["export", LINES, "--format", format, "-o", "-", "-c", &basic]);
    }
    // Every command that prints, into a pipe closed before it printed anything.
    let one = "Erp.BO.CustomerSvc/Customers('EPIC06',3)";
    let body = r#"{"custNum": 3}"#;
    for format in ["table", "json"] {
        for args in [
            &["get", LINES, "--top", "3", "--format", format][..],
            &["get", one, "--format", format],
            &["services", "--format", format],
            &["describe", "Erp.BO.SalesOrderSvc", "--format", format],
            &["describe", LINES, "--format", format],
            &[
                "call",
                "Erp.BO.CustomerSvc/GetByID",
                "--body",
                body,
                "--format",
                format,
            ],
            &["baq", "zCustomerList", "--format", format],
        ] {
            closed_before_output(&[args, &["-c", &basic]].concat());
        }
        closed_before_output(&[
            "efx",
            "CustomerTools/GetCreditStatus",
            "--body",
            r#"{"CustID": "NOSUCH"}"#,
            "--format",
            format,
            "-c",
            &v2,
        ]);
        closed_before_output(&["efx", "--list", "--format", format, "-c", &v2]);
        closed_before_output(&["props", "oauth", "--format", format]);
    }
    closed_before_output(&["get", LINES, "--count", "-c", &basic]);
    closed_before_output(&["export", LINES, "--top", "1", "-c", &basic]);
    closed_before_output(&["token", "-c", &basic]);
    closed_before_output(&["props", "--markdown"]);
}

/// Starts a slow export into `path` and sends `signal` once two pages were served.
fn export_stopped_by(signal: &str, path: &Path) -> Output {
    let slow = common::Served::start(EmulatorConfig {
        faults: epicor_kinetic_emulator::faults::parse_spec("latency:1:100ms").unwrap(),
        request_log: 1_000,
        ..config()
    });
    let mut child: Child = kinetic()
        .args(["export", LINES, "-o"])
        .arg(path)
        .args(["-c", &slow.cs("basic")])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Caught mid-export: two pages served of the 15 the export needs (the handlers are set up
    // before the temporary file is made).
    common::signal_after_pages(&slow, &mut child, "/OrderDtls", 2, signal);
    child.wait_with_output().unwrap()
}

#[test]
fn sigterm_and_sighup_during_an_export_leave_nothing_and_exit_128_plus_the_signal() {
    for (signal, code, said) in [("TERM", 143, "terminated"), ("HUP", 129, "hung up")] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        std::fs::write(&path, "an older export\n").unwrap();
        let out = export_stopped_by(signal, &path);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "SIG{signal}: {err}");
        assert!(err.contains(said), "SIG{signal}: {err}");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "an older export\n",
            "SIG{signal}"
        );
        assert!(
            partials(dir.path()).is_empty(),
            "SIG{signal}: {:?}",
            partials(dir.path())
        );
    }
}
