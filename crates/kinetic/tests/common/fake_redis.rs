//! Fake Redis servers on a loopback port that misbehave as a slow or hostile Redis would: they
//! speak just enough RESP to be taken for Redis (commands in, one kind of answer out).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Copy, Debug)]
pub enum Behaviour {
    /// Every answer is an endless bulk string, one byte every 0.3 s.
    Drip,
    /// Reads every command, answers none.
    Stall,
    /// Answers as a Redis where every lock is taken by someone else and nothing is stored.
    LockHeld,
    /// As `LockHeld`, each answer 600 ms late.
    Slow,
    /// Every answer is a 300 MB bulk string, sent as fast as the socket takes it.
    HugeBulk,
    /// Every answer is a 300 MB simple string (one line with no end in sight).
    HugeLine,
}

/// A fake Redis on a loopback port; stops accepting when dropped (connection threads end when
/// the client goes).
pub struct FakeRedis {
    pub port: u16,
    stop: Arc<AtomicBool>,
}

impl FakeRedis {
    pub fn start(behaviour: Behaviour) -> FakeRedis {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let stop = stop2.clone();
                std::thread::spawn(move || serve(stream, behaviour, &stop));
            }
        });
        FakeRedis { port, stop }
    }

    /// `redis://127.0.0.1:{port}/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }
}

impl Drop for FakeRedis {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// One command: an array of bulk strings (what every client sends).
fn read_command(r: &mut impl BufRead) -> Option<Vec<Vec<u8>>> {
    let mut line = String::new();
    let header = |r: &mut dyn BufRead, line: &mut String, kind: char| -> Option<usize> {
        line.clear();
        r.read_line(line).ok()?;
        line.trim_end().strip_prefix(kind)?.parse().ok()
    };
    let n = header(r, &mut line, '*')?;
    let mut args = Vec::with_capacity(n);
    for _ in 0..n {
        let len = header(r, &mut line, '$')?;
        let mut arg = vec![0; len + 2];
        r.read_exact(&mut arg).ok()?;
        arg.truncate(len);
        args.push(arg);
    }
    Some(args)
}

/// The answer of a Redis where every lock is taken and nothing is stored.
fn lock_held_answer(args: &[Vec<u8>]) -> Vec<u8> {
    let name = String::from_utf8_lossy(&args[0]).to_ascii_uppercase();
    let has = |w: &str| args.iter().any(|a| a.eq_ignore_ascii_case(w.as_bytes()));
    match name.as_str() {
        "GET" => b"$-1\r\n".to_vec(),
        "SET" if has("NX") => b"$-1\r\n".to_vec(),
        "SUBSCRIBE" => {
            let channel = &args[1];
            let mut out = format!("*3\r\n$9\r\nsubscribe\r\n${}\r\n", channel.len()).into_bytes();
            out.extend_from_slice(channel);
            out.extend_from_slice(b"\r\n:1\r\n");
            out
        }
        "EVALSHA" | "EVAL" | "DEL" | "PUBLISH" => b":0\r\n".to_vec(),
        "EXISTS" => b":1\r\n".to_vec(),
        "PING" => b"+PONG\r\n".to_vec(),
        _ => b"+OK\r\n".to_vec(),
    }
}

fn serve(stream: TcpStream, behaviour: Behaviour, stop: &AtomicBool) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    while let Some(args) = read_command(&mut reader) {
        if args.is_empty() || stop.load(Ordering::SeqCst) {
            return;
        }
        match behaviour {
            Behaviour::Drip => {
                let reply = [b"$100000000\r\n".as_slice(), &[b'x'; 1_000]].concat();
                for b in reply {
                    std::thread::sleep(Duration::from_millis(300));
                    if stop.load(Ordering::SeqCst) || out.write_all(&[b]).is_err() {
                        return;
                    }
                }
            }
            Behaviour::Stall => {}
            Behaviour::LockHeld => {
                if out.write_all(&lock_held_answer(&args)).is_err() {
                    return;
                }
            }
            Behaviour::Slow => {
                std::thread::sleep(Duration::from_millis(600));
                if out.write_all(&lock_held_answer(&args)).is_err() {
                    return;
                }
            }
            Behaviour::HugeBulk | Behaviour::HugeLine => {
                let head: &[u8] = match behaviour {
                    Behaviour::HugeBulk => b"$300000000\r\n",
                    _ => b"+",
                };
                if out.write_all(head).is_err() {
                    return;
                }
                let chunk = vec![b'x'; 64 * 1024];
                let mut sent = 0;
                while sent < 300_000_000 {
                    if out.write_all(&chunk).is_err() {
                        return;
                    }
                    sent += chunk.len();
                }
            }
        }
    }
}
