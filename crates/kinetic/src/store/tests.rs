//! Token store tests, including the ones that run several processes: the test binary re-runs
//! itself with [`CHILD_ROLE`] set, and [`child_process_entry`] does that child's part.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::*;
use crate::settings::ConfigDir;

const CHILD_ROLE: &str = "KINETIC_STORE_TEST_CHILD";
const CHILD_PATH: &str = "KINETIC_STORE_TEST_PATH";
const CHILD_KEY: &str = "KINETIC_STORE_TEST_KEY";
const CHILD_IDP: &str = "KINETIC_STORE_TEST_IDP";
const CHILD_ROUNDS: &str = "KINETIC_STORE_TEST_ROUNDS";

fn key(byte: u8) -> SettingsKey {
    SettingsKey::from_bytes([byte; 32])
}

fn token(access: &str, refresh: &str) -> Token {
    Token::bearer(access)
        .with_refresh_token(refresh)
        .with_expires_at(1_900_000_000)
        .with_obtained_at(1_899_996_400)
}

fn write(store: &dyn TokenStore, settings: StoredSettings) -> Result<Option<StoredSettings>> {
    let mut next = Some(settings);
    store.update(&mut |_| Ok(next.take().map_or(Change::Keep, Change::Write)))
}

fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"))
}

fn error_text(r: Result<Option<StoredSettings>>) -> String {
    match r {
        Err(e) => e.to_string(),
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

#[test]
fn file_round_trip_and_no_plaintext_on_disk() -> Result<()> {
    let dir = temp_dir();
    let path = dir.path().join("nested").join("tokens.json.enc");
    let store = FileStore::new(&path, key(1));
    assert_eq!(store.load()?, None);
    let mut settings = StoredSettings::with_token(token("ACCESS-abc123", "REFRESH-def456"));
    settings.pending = Some(PendingAuthorization::new(
        Secret::new("VERIFIER-ghi789"),
        Secret::new("STATE-jkl"),
        5,
    ));
    assert_eq!(write(&store, settings.clone())?, Some(settings.clone()));
    assert_eq!(store.load()?, Some(settings.clone()));
    assert_eq!(FileStore::new(&path, key(1)).load()?, Some(settings));
    let bytes = std::fs::read(&path).unwrap_or_default();
    assert!(bytes.starts_with(b"KNTS\x01"));
    for needle in [
        "ACCESS-abc123",
        "REFRESH-def456",
        "VERIFIER-ghi789",
        "STATE-jkl",
        "abc123",
    ] {
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "{needle} is on disk in plain text"
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| {
            std::fs::metadata(p)
                .map(|m| m.permissions().mode() & 0o777)
                .ok()
        };
        assert_eq!(mode(&path), Some(0o600), "token file");
        assert_eq!(mode(&store.lock_path()), Some(0o600), "lock file");
        assert_eq!(mode(&dir.path().join("nested")), Some(0o700), "directory");
    }
    // Remove signs out.
    assert_eq!(store.update(&mut |_| Ok(Change::Remove))?, None);
    assert!(!path.exists());
    assert_eq!(store.load()?, None);
    Ok(())
}

#[test]
fn update_sees_the_current_settings_and_keep_writes_nothing() -> Result<()> {
    let dir = temp_dir();
    let path = dir.path().join("t.json.enc");
    let store = FileStore::new(&path, key(1));
    write(&store, StoredSettings::with_token(token("a1", "r1")))?;
    let before = std::fs::read(&path).unwrap_or_default();
    let mut seen = None;
    let after = store.update(&mut |current| {
        seen = current.and_then(|s| s.token.clone());
        Ok(Change::Keep)
    })?;
    assert_eq!(seen.map(|t| t.access_token), Some(Secret::new("a1")));
    assert_eq!(
        after.and_then(|s| s.token).map(|t| t.access_token),
        Some(Secret::new("a1"))
    );
    assert_eq!(
        std::fs::read(&path).unwrap_or_default(),
        before,
        "Keep rewrote the file"
    );
    // An error from the closure writes nothing.
    let failed = store.update(&mut |_| {
        Err(Error::Unauthorized {
            status: Some(400),
            message: "invalid_grant".into(),
            correlation_id: None,
            error_type: None,
        })
    });
    assert!(matches!(failed, Err(Error::Unauthorized { .. })));
    assert_eq!(std::fs::read(&path).unwrap_or_default(), before);
    Ok(())
}

#[test]
fn a_wrong_key_is_a_clear_error_and_the_file_is_untouched() -> Result<()> {
    let dir = temp_dir();
    let path = dir.path().join("t.json.enc");
    write(
        &FileStore::new(&path, key(1)),
        StoredSettings::with_token(token("a1", "r1")),
    )?;
    let before = std::fs::read(&path).unwrap_or_default();
    let other = FileStore::new(&path, key(2));
    let text = error_text(other.load());
    assert!(text.contains("cannot be decrypted"), "{text}");
    assert!(text.contains("OAuthSettingsKey"), "{text}");
    assert!(text.contains("delete it to sign in again"), "{text}");
    assert!(text.contains(&path.display().to_string()), "{text}");
    let mut ran = false;
    let text = error_text(other.update(&mut |_| {
        ran = true;
        Ok(Change::Write(StoredSettings::default()))
    }));
    assert!(text.contains("cannot be decrypted"), "{text}");
    assert!(!ran, "the update closure ran over an unreadable file");
    assert_eq!(
        std::fs::read(&path).unwrap_or_default(),
        before,
        "the file was changed"
    );
    Ok(())
}

#[test]
fn truncated_garbage_and_foreign_files_are_clear_errors_never_overwritten() -> Result<()> {
    let dir = temp_dir();
    let path = dir.path().join("t.json.enc");
    let store = FileStore::new(&path, key(1));
    write(&store, StoredSettings::with_token(token("a1", "r1")))?;
    let good = std::fs::read(&path).unwrap_or_default();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated header", good[..10].to_vec(), "truncated"),
        (
            "truncated body",
            good[..good.len() - 5].to_vec(),
            "cannot be decrypted",
        ),
        (
            "foreign",
            b"{\"access_token\":\"x\"}".to_vec(),
            "not a kinetic token file",
        ),
        ("garbage", vec![0xff; 300], "not a kinetic token file"),
        (
            "newer",
            [b"KNTS\x09".as_slice(), &good[5..]].concat(),
            "format 9",
        ),
    ];
    for (what, bytes, expected) in cases {
        std::fs::write(&path, &bytes).unwrap_or_else(|e| panic!("{e}"));
        let text = error_text(store.load());
        assert!(text.contains(expected), "{what}: {text}");
        assert!(text.contains("delete it"), "{what}: {text}");
        let text = error_text(write(&store, StoredSettings::default()));
        assert!(text.contains(expected), "{what}: {text}");
        assert_eq!(
            std::fs::read(&path).unwrap_or_default(),
            bytes,
            "{what}: overwritten"
        );
    }
    // An empty file holds nothing: it is written over.
    std::fs::write(&path, b"").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(store.load()?, None);
    write(&store, StoredSettings::with_token(token("a2", "r2")))?;
    assert!(store.load()?.is_some());
    Ok(())
}

#[test]
fn errors_never_show_a_token() {
    let dir = temp_dir();
    let path = dir.path().join("t.json.enc");
    let store = FileStore::new(&path, key(1));
    let _ = write(
        &store,
        StoredSettings::with_token(token("LEAK-access", "LEAK-refresh")),
    );
    let e = FileStore::new(&path, key(2))
        .load()
        .err()
        .map(|e| format!("{e} {e:?}"))
        .unwrap_or_default();
    assert!(!e.is_empty() && !e.contains("LEAK"), "{e}");
    let shown = format!("{store:?} {:?}", store.load());
    assert!(!shown.contains("LEAK"), "{shown}");
    assert!(!shown.contains("[1, 1, 1"), "the key is printed: {shown}");
}

#[test]
fn the_lock_times_out_with_a_clear_error() -> Result<()> {
    let dir = temp_dir();
    let path = dir.path().join("t.json.enc");
    let holder = FileStore::new(&path, key(1));
    let waiter = FileStore::new(&path, key(1)).with_lock_timeout(Duration::from_millis(200));
    let text = std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let (held_tx, held_rx) = std::sync::mpsc::channel::<()>();
        s.spawn(move || {
            let _ = holder.update(&mut |_| {
                let _ = held_tx.send(());
                let _ = rx.recv_timeout(Duration::from_secs(10));
                Ok(Change::Keep)
            });
        });
        let _ = held_rx.recv_timeout(Duration::from_secs(10));
        let started = Instant::now();
        let text = error_text(waiter.update(&mut |_| Ok(Change::Keep)));
        assert!(started.elapsed() >= Duration::from_millis(200));
        let _ = tx.send(());
        text
    });
    assert!(text.contains("locked by another process"), "{text}");
    // Free again, the lock is had at once.
    waiter.update(&mut |_| Ok(Change::Keep))?;
    Ok(())
}

#[test]
fn memory_stores_are_shared_by_name_and_isolated_between_names() -> Result<()> {
    let a = MemoryStore::named("store-tests-a");
    let a_again = MemoryStore::named("store-tests-a");
    let b = MemoryStore::named("store-tests-b");
    write(&a, StoredSettings::with_token(token("a1", "r1")))?;
    assert_eq!(
        a_again
            .load()?
            .and_then(|s| s.token)
            .map(|t| t.access_token),
        Some(Secret::new("a1"))
    );
    assert_eq!(b.load()?, None);
    let private = MemoryStore::private();
    assert_eq!(private.load()?, None);
    write(&private, StoredSettings::default())?;
    assert_eq!(MemoryStore::named("").load()?, None);
    a.update(&mut |_| Ok(Change::Remove))?;
    assert_eq!(a_again.load()?, None);
    assert_eq!(
        format!("{a:?}"),
        "MemoryStore { name: Some(\"store-tests-a\"), .. }"
    );
    Ok(())
}

#[test]
fn locations_and_the_default_path() -> Result<()> {
    assert_eq!(
        StoreLocation::parse(Path::new("memory://tokens")),
        StoreLocation::Memory("tokens".into())
    );
    assert_eq!(
        StoreLocation::parse(Path::new("MEMORY://x")),
        StoreLocation::Memory("x".into())
    );
    assert_eq!(
        StoreLocation::parse(Path::new("/tmp/t.enc")),
        StoreLocation::File("/tmp/t.enc".into())
    );
    let dir = temp_dir();
    let config = ConfigDir::at(dir.path().join("kinetic"));
    let parse = |s: &str| Settings::parse(s);
    let base = "URL=https://erp.example.com;ERPInstance=Kinetic;AuthScheme=AzureAD;AzureTenant=t;\
                OAuthClientId=app-1;InitiateOAuth=GETANDREFRESH;Scope=api://erp/.default";
    let p1 = default_path(&config, &parse(base)?)?;
    let p2 = default_path(&config, &parse(&format!("{base};User=alice"))?)?;
    let p3 = default_path(
        &config,
        &parse(&base.replace("URL=https://erp.example.com", "URL=https://ERP.example.com"))?,
    )?;
    assert_ne!(p1, p2, "one file per user");
    assert_eq!(p1, p3, "the URL's case does not matter");
    assert!(p1.starts_with(dir.path().join("kinetic").join("tokens")));
    let name = p1.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    assert_eq!(name.len(), 32 + ".json.enc".len(), "{name}");
    assert!(default_path(&ConfigDir::none(), &parse(base)?).is_err());

    // `open` follows the location: memory by name, or a file with the key from the settings.
    let memory = open(
        &parse(&format!("{base};OAuthSettingsLocation=memory://open-test"))?,
        &(),
        &config,
    )?;
    write(memory.as_ref(), StoredSettings::with_token(token("m", "r")))?;
    assert!(MemoryStore::named("open-test").load()?.is_some());
    let file = dir.path().join("explicit.enc");
    let with_key = format!(
        "{base};OAuthSettingsLocation={};OAuthSettingsKey={}",
        file.display(),
        "cd".repeat(32)
    );
    let store = open(&parse(&with_key)?, &(), &config)?;
    write(store.as_ref(), StoredSettings::with_token(token("f", "r")))?;
    assert!(FileStore::new(&file, SettingsKey::from_bytes([0xcd; 32]))
        .load()?
        .is_some());
    assert!(!dir.path().join("kinetic").join(KEY_FILE_NAME).exists());
    // With no location and no key: the default file, under a key file made for the user.
    let store = open(&parse(base)?, &(), &config)?;
    write(store.as_ref(), StoredSettings::with_token(token("d", "r")))?;
    assert!(p1.exists());
    assert!(dir.path().join("kinetic").join(KEY_FILE_NAME).exists());
    assert!(open(&parse(base)?, &(), &config)?.load()?.is_some());
    Ok(())
}

// ---- several processes ----

/// The child's part, when the test binary was started as a child; a no-op in a normal run.
#[test]
fn child_process_entry() {
    let Ok(role) = std::env::var(CHILD_ROLE) else {
        return;
    };
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"));
    let key = SettingsKey::parse(&var(CHILD_KEY)).unwrap_or_else(|| panic!("bad key"));
    let store = FileStore::new(var(CHILD_PATH), key);
    match role.as_str() {
        "writer" => child_writer(&store),
        "filler" => {
            // Under a file-size limit (the parent's stand-in for a full disk): the write fails.
            let big = "f".repeat(256 * 1024);
            match write(&store, StoredSettings::with_token(token(&big, "r-big"))) {
                Err(e) => println!("{e}"),
                Ok(_) => panic!("a 256 KiB write under a 64 KiB limit succeeded"),
            }
        }
        "refresher" => {
            let rounds = var(CHILD_ROUNDS).parse().unwrap_or(1);
            child_refresher(&store, &var(CHILD_IDP), rounds);
        }
        other => panic!("unknown child role {other}"),
    }
}

/// A child process that is killed and reaped when dropped, so a failing test leaves no orphan.
struct ChildGuard(Child);

impl ChildGuard {
    /// Sends SIGKILL (on Unix; TerminateProcess on Windows) and reaps the child.
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            self.kill();
        }
    }
}

fn spawn_child(role: &str, envs: &[(&str, String)]) -> ChildGuard {
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("{e}"));
    let mut command = Command::new(exe);
    command
        .args([
            "store::tests::child_process_entry",
            "--exact",
            "--nocapture",
            "--test-threads=1",
            "-q",
        ])
        .env(CHILD_ROLE, role)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    for (name, value) in envs {
        command.env(name, value);
    }
    ChildGuard(
        command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start a child: {e}")),
    )
}

fn version_of(settings: &StoredSettings) -> u64 {
    settings
        .token
        .as_ref()
        .and_then(|t| t.access_token.expose().split('-').nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// Writes version after version as fast as it can, until killed (or a minute passes, so an
/// orphan does not run forever).
fn child_writer(store: &FileStore) {
    let padding = "p".repeat(16 * 1024);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        let result = store.update(&mut |current| {
            let next = current.map_or(0, version_of) + 1;
            Ok(Change::Write(StoredSettings::with_token(token(
                &format!("v-{next}-{padding}"),
                &format!("r-{next}"),
            ))))
        });
        if let Err(e) = result {
            panic!("writer: {e}");
        }
    }
}

#[test]
fn kill_9_during_writes_leaves_a_readable_file() -> Result<()> {
    const KILLS: usize = 100;
    let dir = temp_dir();
    let path = dir.path().join("t.json.enc");
    let key_hex = "5a".repeat(32);
    let store = FileStore::new(&path, key(0x5a));
    write(
        &store,
        StoredSettings::with_token(token("v-0-start", "r-0")),
    )?;
    let mut last = 0;
    let mut mid_write = 0;
    let started = Instant::now();
    for kill in 0..KILLS {
        let mut child = spawn_child(
            "writer",
            &[
                (CHILD_PATH, path.display().to_string()),
                (CHILD_KEY, key_hex.clone()),
            ],
        );
        // Wait until this child is writing, then kill it at a moment that varies.
        let deadline = Instant::now() + Duration::from_secs(30);
        while store.load()?.as_ref().map_or(0, version_of) <= last {
            assert!(Instant::now() < deadline, "the writer never wrote");
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_micros(rand::random_range(0..50_000)));
        child.kill();
        let now = match store.load() {
            Ok(Some(settings)) => version_of(&settings),
            Ok(None) => panic!("kill {kill}: the file is gone"),
            Err(e) => panic!("kill {kill}: the file does not decrypt: {e}"),
        };
        assert!(now >= last, "kill {kill}: went back from {last} to {now}");
        last = now;
        // A temporary file left behind means the kill landed mid-write (the child cleared
        // those of earlier kills before its first write).
        if !temp_files(dir.path()).is_empty() {
            mid_write += 1;
        }
    }
    // The next update clears the temporary files the killed writers left.
    write(&store, StoredSettings::with_token(token("v-final", "r")))?;
    let leftovers = temp_files(dir.path());
    assert!(leftovers.is_empty(), "{leftovers:?}");
    eprintln!(
        "kill -9: {KILLS} writers killed ({mid_write} with a write in progress), {last} versions \
         written, the file decrypted after every kill ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".tmp"))
                .collect()
        })
        .unwrap_or_default()
}

/// A stand-in identity provider on 127.0.0.1 with rotating, single-use refresh tokens: each
/// `REFRESH <token>` line is answered `OK <new refresh token> <access token>` once; a second use
/// of the same token is answered `REUSED` and counted.
struct RotatingIdp {
    address: String,
    stop: std::sync::Arc<AtomicBool>,
    state: std::sync::Arc<Mutex<IdpState>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Default)]
struct IdpState {
    current: String,
    used: HashSet<String>,
    issued: u64,
    reused: u64,
    unknown: u64,
}

impl RotatingIdp {
    fn start(first_refresh_token: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let address = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|e| panic!("{e}"));
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let state = std::sync::Arc::new(Mutex::new(IdpState {
            current: first_refresh_token.to_owned(),
            ..IdpState::default()
        }));
        let thread = std::thread::spawn({
            let (stop, state) = (stop.clone(), state.clone());
            move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    Self::answer(stream, &state);
                }
            }
        });
        RotatingIdp {
            address,
            stop,
            state,
            thread: Some(thread),
        }
    }

    fn answer(stream: TcpStream, state: &Mutex<IdpState>) {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let mut line = String::new();
        let mut reader = BufReader::new(&stream);
        if reader.read_line(&mut line).is_err() {
            return;
        }
        let presented = line
            .trim()
            .strip_prefix("REFRESH ")
            .unwrap_or("")
            .to_owned();
        let reply = {
            let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
            if presented == s.current {
                s.used.insert(presented);
                s.issued += 1;
                s.current = format!("rt-{}-{}", s.issued, rand::random::<u64>());
                format!("OK {} at-{}\n", s.current, s.issued)
            } else if s.used.contains(&presented) {
                s.reused += 1;
                "REUSED\n".to_owned()
            } else {
                s.unknown += 1;
                "UNKNOWN\n".to_owned()
            }
        };
        let _ = (&stream).write_all(reply.as_bytes());
    }

    fn refresh(address: &str, refresh_token: &str) -> Result<(String, String)> {
        let failed = |message: String| Error::Unauthorized {
            status: None,
            message,
            correlation_id: None,
            error_type: None,
        };
        let mut stream =
            TcpStream::connect(address).map_err(|e| failed(format!("connect: {e}")))?;
        stream
            .write_all(format!("REFRESH {refresh_token}\n").as_bytes())
            .map_err(|e| failed(format!("send: {e}")))?;
        let mut line = String::new();
        BufReader::new(&stream)
            .read_line(&mut line)
            .map_err(|e| failed(format!("receive: {e}")))?;
        let mut words = line.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some("OK"), Some(refresh), Some(access)) => {
                Ok((refresh.to_owned(), access.to_owned()))
            }
            _ => Err(failed(format!("refresh refused: {}", line.trim()))),
        }
    }
}

impl Drop for RotatingIdp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(&self.address);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Refreshes `rounds` times through the store, each time with the refresh token stored now.
fn child_refresher(store: &FileStore, idp: &str, rounds: usize) {
    for round in 0..rounds {
        let result = store.update(&mut |current| {
            let refresh = current
                .and_then(|s| s.token.as_ref())
                .and_then(|t| t.refresh_token.clone())
                .ok_or_else(|| Error::Unauthorized {
                    status: None,
                    message: "no refresh token stored".into(),
                    correlation_id: None,
                    error_type: None,
                })?;
            let (refresh, access) = RotatingIdp::refresh(idp, refresh.expose())?;
            Ok(Change::Write(StoredSettings::with_token(token(
                &access, &refresh,
            ))))
        });
        if let Err(e) = result {
            // The parent sees the failure as this process's exit status.
            eprintln!("refresher round {round}: {e}");
            std::process::exit(3);
        }
    }
}

#[test]
fn processes_sharing_a_file_use_each_rotating_refresh_token_once() -> Result<()> {
    const PROCESSES: usize = 16;
    const ROUNDS: usize = 100;
    let dir = temp_dir();
    let path = dir.path().join("shared.json.enc");
    let key_hex = "c3".repeat(32);
    let store = FileStore::new(&path, key(0xc3));
    write(&store, StoredSettings::with_token(token("at-0", "rt-0")))?;
    let idp = RotatingIdp::start("rt-0");
    let started = Instant::now();
    let mut children: Vec<ChildGuard> = (0..PROCESSES)
        .map(|_| {
            spawn_child(
                "refresher",
                &[
                    (CHILD_PATH, path.display().to_string()),
                    (CHILD_KEY, key_hex.clone()),
                    (CHILD_IDP, idp.address.clone()),
                    (CHILD_ROUNDS, ROUNDS.to_string()),
                ],
            )
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut statuses = HashMap::new();
    while statuses.len() < children.len() {
        for (i, child) in children.iter_mut().enumerate() {
            if statuses.contains_key(&i) {
                continue;
            }
            if let Ok(Some(status)) = child.0.try_wait() {
                statuses.insert(i, status);
            } else if Instant::now() > deadline {
                panic!("child {i} did not finish in time");
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let elapsed = started.elapsed();
    let failed: Vec<_> = statuses.iter().filter(|(_, s)| !s.success()).collect();
    let (issued, reused, unknown, current) = {
        let s = idp.state.lock().unwrap_or_else(|e| e.into_inner());
        (s.issued, s.reused, s.unknown, s.current.clone())
    };
    assert!(failed.is_empty(), "children failed: {failed:?}");
    assert_eq!(reused, 0, "a refresh token was used twice");
    assert_eq!(unknown, 0);
    assert_eq!(issued, (PROCESSES * ROUNDS) as u64);
    // The file holds the last refresh token issued: no process is left with a revoked one.
    let stored = store
        .load()?
        .and_then(|s| s.token)
        .and_then(|t| t.refresh_token);
    assert_eq!(stored, Some(Secret::new(current)));
    eprintln!(
        "shared file: {PROCESSES} processes x {ROUNDS} refreshes = {issued} refreshes, 0 reused, \
         {:.2} s",
        elapsed.as_secs_f64()
    );
    Ok(())
}

/// A 64 KiB tmpfs mounted over a folder (root only), unmounted when dropped.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(at: &Path) -> Option<SmallDisk> {
        std::fs::create_dir_all(at).unwrap_or_else(|e| panic!("{e}"));
        // KINETIC_TEST_NO_MOUNT=1 takes the path of a machine where this is not root.
        if std::env::var_os("KINETIC_TEST_NO_MOUNT").is_some() {
            return None;
        }
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs"])
            .arg(at)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        mounted.then(|| SmallDisk(at.to_owned()))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// The disk fills up in the middle of a write: a clear error naming the file, the old file intact
/// and readable, no temporary file left. On a 64 KiB tmpfs when this runs as root (CI); otherwise
/// in a child under a 64 KiB file-size limit (`ulimit -f`, SIGXFSZ ignored), which fails the same
/// write the same way (EFBIG instead of ENOSPC).
#[test]
fn a_full_disk_mid_write_is_a_clear_error_and_the_old_file_survives() -> Result<()> {
    let dir = temp_dir();
    let small = dir.path().join("small");
    let disk = SmallDisk::mount(&small);
    if disk.is_none() {
        std::fs::create_dir_all(&small).unwrap_or_else(|e| panic!("{e}"));
    }
    let path = small.join("tokens.enc");
    let store = FileStore::new(&path, key(0x42));
    write(
        &store,
        StoredSettings::with_token(token("v-1-old", "r-old")),
    )?;
    let message = if disk.is_some() {
        let big = "f".repeat(256 * 1024);
        error_text(write(
            &store,
            StoredSettings::with_token(token(&big, "r-big")),
        ))
    } else {
        let exe = std::env::current_exe().unwrap_or_else(|e| panic!("{e}"));
        let out = Command::new("bash")
            .arg("-c")
            .arg("trap '' XFSZ; ulimit -f 64; exec \"$0\" \"$@\"")
            .arg(exe)
            .args([
                "store::tests::child_process_entry",
                "--exact",
                "--nocapture",
                "-q",
            ])
            .env(CHILD_ROLE, "filler")
            .env(CHILD_PATH, path.display().to_string())
            .env(CHILD_KEY, "42".repeat(32))
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(
        message.contains("No space left on device") || message.contains("File too large"),
        "{message}"
    );
    assert!(
        message.contains("tokens.enc"),
        "the message names the file: {message}"
    );
    let kept = store.load()?.expect("the old file");
    assert_eq!(version_of(&kept), 1, "the old token is intact");
    assert!(temp_files(&small).is_empty(), "{:?}", temp_files(&small));
    eprintln!(
        "full disk ({}): {}",
        if disk.is_some() {
            "64 KiB tmpfs"
        } else {
            "64 KiB file-size limit"
        },
        message
            .lines()
            .find(|l| l.contains("tokens.enc"))
            .unwrap_or_default()
    );
    Ok(())
}
