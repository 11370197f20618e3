//! One connection to Redis speaking its wire protocol (RESP2), with a deadline per call and a cap
//! per reply: what [`super::RedisStore`] runs its commands on.
//!
//! redis-rs's synchronous connection applies its timeout to each socket read, so a server that
//! sends a byte at a time holds a call for as long as it likes, and it reads a reply of any
//! announced length into memory. Here a call (connecting, the TLS handshake, `AUTH`, `SELECT`,
//! the command and its whole reply) runs against one deadline: every socket read and write
//! waits at most what is left of it ([`Socket`]). A reply is gathered within [`REPLY_CAP`]
//! bytes before anything is parsed, and a bulk string announced longer than that is refused
//! from its header, before any of it is read. redis-rs still packs the commands, runs the
//! scripts and converts the values: [`Wire`] is a [`redis::ConnectionLike`].

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::{ConnectionLike, RedisError, RedisResult, Value};

use crate::Secret;

/// The most bytes one reply may take, headers included: entries, sign-out records and events
/// are a few kilobytes; a longer reply is refused as soon as its length is known.
pub const REPLY_CAP: usize = 1 << 20;
/// Arrays within arrays in a reply: what kinetic reads is at most an array of strings.
const MAX_DEPTH: usize = 4;

/// Where a Redis server is and how to sign in to it.
#[derive(Clone)]
pub(crate) struct Target {
    pub host: url::Host<String>,
    pub port: u16,
    /// `rediss://`: TLS with this configuration.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub db: i64,
}

/// Why a call on a [`Wire`] failed, when it was the wire's doing (not an error Redis answered).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// The call's deadline passed.
    Deadline,
    /// A reply longer than [`REPLY_CAP`].
    Oversized,
    /// The connection broke or the server broke the protocol.
    Broken,
}

/// Marks the I/O error of a reply over [`REPLY_CAP`].
#[derive(Debug)]
struct Oversized;

impl std::fmt::Display for Oversized {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "a reply longer than {} KiB was refused",
            REPLY_CAP / 1024
        )
    }
}

impl std::error::Error for Oversized {}

fn oversized() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, Oversized)
}

fn protocol(what: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

fn out_of_time() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "the Redis call ran out of time")
}

/// What is left until `deadline`; an error once it has passed.
fn left(deadline: Instant) -> io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(out_of_time())
    } else {
        Ok(left)
    }
}

/// A TCP socket whose every read and write waits at most until the current deadline.
struct Socket {
    tcp: TcpStream,
    deadline: Instant,
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.tcp.set_read_timeout(Some(left(self.deadline)?))?;
        self.tcp.read(buf).map_err(timeout_kind)
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tcp.set_write_timeout(Some(left(self.deadline)?))?;
        self.tcp.write(buf).map_err(timeout_kind)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

/// A socket timeout is reported as `WouldBlock` on Unix and `TimedOut` on Windows: one kind.
fn timeout_kind(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::WouldBlock {
        out_of_time()
    } else {
        e
    }
}

enum Transport {
    Plain(Socket),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, Socket>>),
}

impl Transport {
    fn socket(&mut self) -> &mut Socket {
        match self {
            Transport::Plain(s) => s,
            Transport::Tls(t) => &mut t.sock,
        }
    }
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.read(buf),
            Transport::Tls(t) => t.read(buf),
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.write(buf),
            Transport::Tls(t) => t.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(s) => s.flush(),
            Transport::Tls(t) => t.flush(),
        }
    }
}

/// A connection to Redis: see the [module documentation](self).
pub(crate) struct Wire {
    io: BufReader<Transport>,
    db: i64,
    fault: Option<Fault>,
}

impl Wire {
    /// Connects to `target` and signs in, all before `deadline`.
    pub fn connect(target: &Target, deadline: Instant) -> RedisResult<Wire> {
        let mut last = None;
        let mut tcp = None;
        for address in resolve(&target.host, target.port, deadline)? {
            match TcpStream::connect_timeout(&address, left(deadline)?) {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) => last = Some(timeout_kind(e)),
            }
        }
        let tcp = tcp.ok_or_else(|| {
            last.unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"))
        })?;
        tcp.set_nodelay(true)?;
        let socket = Socket { tcp, deadline };
        let transport = match &target.tls {
            None => Transport::Plain(socket),
            Some(config) => {
                let name = match &target.host {
                    url::Host::Domain(d) => rustls::pki_types::ServerName::try_from(d.clone())
                        .map_err(|_| {
                            RedisError::from((
                                redis::ErrorKind::InvalidClientConfig,
                                "the host name is not valid for TLS",
                            ))
                        })?,
                    url::Host::Ipv4(ip) => rustls::pki_types::ServerName::IpAddress((*ip).into()),
                    url::Host::Ipv6(ip) => rustls::pki_types::ServerName::IpAddress((*ip).into()),
                };
                let connection = rustls::ClientConnection::new(config.clone(), name)
                    .map_err(|e| io::Error::other(e.to_string()))?;
                Transport::Tls(Box::new(rustls::StreamOwned::new(connection, socket)))
            }
        };
        let mut wire = Wire {
            io: BufReader::with_capacity(16 * 1024, transport),
            db: target.db,
            fault: None,
        };
        if let Some(password) = &target.password {
            let mut auth = redis::cmd("AUTH");
            if let Some(user) = &target.username {
                auth.arg(user);
            }
            auth.arg(password.expose()).query::<()>(&mut wire)?;
        }
        if target.db != 0 {
            redis::cmd("SELECT").arg(target.db).query::<()>(&mut wire)?;
        }
        Ok(wire)
    }

    /// The deadline of the next call.
    pub fn set_deadline(&mut self, deadline: Instant) {
        self.io.get_mut().socket().deadline = deadline;
    }

    /// Why the last call failed, when the wire failed it.
    pub fn fault(&self) -> Option<Fault> {
        self.fault
    }

    /// Whether the wire can serve another call: nothing failed and nothing unasked is waiting
    /// (a reply beyond the one read would be taken for the next call's).
    pub fn reusable(&self) -> bool {
        self.fault.is_none() && self.io.buffer().is_empty()
    }

    fn fail(&mut self, e: io::Error) -> RedisError {
        self.fault = Some(if e.kind() == io::ErrorKind::TimedOut {
            Fault::Deadline
        } else if e.get_ref().is_some_and(|inner| inner.is::<Oversized>()) {
            Fault::Oversized
        } else {
            Fault::Broken
        });
        e.into()
    }

    fn send(&mut self, packed: &[u8]) -> RedisResult<()> {
        if self.fault.is_some() {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "the connection failed").into());
        }
        let t = self.io.get_mut();
        match t.write_all(packed).and_then(|()| t.flush()) {
            Ok(()) => Ok(()),
            Err(e) => Err(self.fail(e)),
        }
    }

    fn receive(&mut self) -> RedisResult<Value> {
        let mut frame = Vec::new();
        if let Err(e) = read_element(&mut self.io, &mut frame, 0) {
            return Err(self.fail(e));
        }
        redis::parse_redis_value(&frame).inspect_err(|_| self.fault = Some(Fault::Broken))
    }

    /// Subscribes to `channel` (the wire then only hears messages: [`Wire::next_message`]).
    pub fn subscribe(&mut self, channel: &str) -> RedisResult<()> {
        match redis::cmd("SUBSCRIBE").arg(channel).query::<Value>(self)? {
            Value::Array(items)
                if items.first() == Some(&Value::BulkString(b"subscribe".into())) =>
            {
                Ok(())
            }
            _ => {
                self.fault = Some(Fault::Broken);
                Err(protocol("SUBSCRIBE was not confirmed").into())
            }
        }
    }

    /// The payload of the next message on a subscribed wire: `None` when none began within
    /// `idle` (or something else than a message came); once one has begun, all of it must come
    /// within `deadline`.
    pub fn next_message(
        &mut self,
        idle: Duration,
        deadline: Duration,
    ) -> RedisResult<Option<Vec<u8>>> {
        self.set_deadline(Instant::now() + idle);
        match self.io.fill_buf() {
            Ok([]) => {
                return Err(self.fail(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "Redis closed the connection",
                )))
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::TimedOut => return Ok(None),
            Err(e) => return Err(self.fail(e)),
        }
        self.set_deadline(Instant::now() + deadline);
        if let Value::Array(items) = self.receive()? {
            if let [Value::BulkString(kind), _, Value::BulkString(payload)] = &items[..] {
                if kind == b"message" {
                    return Ok(Some(payload.clone()));
                }
            }
        }
        Ok(None)
    }
}

impl ConnectionLike for Wire {
    fn req_packed_command(&mut self, cmd: &[u8]) -> RedisResult<Value> {
        self.send(cmd)?;
        self.receive()
    }

    fn req_packed_commands(
        &mut self,
        cmd: &[u8],
        offset: usize,
        count: usize,
    ) -> RedisResult<Vec<Value>> {
        self.send(cmd)?;
        let mut values = Vec::new();
        for i in 0..offset + count {
            let value = self.receive()?;
            if i >= offset {
                values.push(value);
            }
        }
        Ok(values)
    }

    fn get_db(&self) -> i64 {
        self.db
    }

    fn check_connection(&mut self) -> bool {
        redis::cmd("PING").query::<()>(self).is_ok()
    }

    fn is_open(&self) -> bool {
        self.fault.is_none()
    }
}

/// The addresses of `host`. A name is resolved on a thread of its own, so that a resolver that
/// does not answer costs the call no more than its deadline (the thread ends when the resolver
/// gives up; a failed call leaves Redis alone for a while, so they do not pile up).
fn resolve(host: &url::Host<String>, port: u16, deadline: Instant) -> io::Result<Vec<SocketAddr>> {
    match host {
        url::Host::Ipv4(ip) => Ok(vec![SocketAddr::new((*ip).into(), port)]),
        url::Host::Ipv6(ip) => Ok(vec![SocketAddr::new((*ip).into(), port)]),
        url::Host::Domain(name) => {
            let (tx, rx) = std::sync::mpsc::channel();
            let name = name.clone();
            std::thread::Builder::new()
                .name("kinetic-redis-resolve".into())
                .spawn(move || {
                    let found = (name.as_str(), port)
                        .to_socket_addrs()
                        .map(|a| a.collect::<Vec<_>>());
                    let _ = tx.send(found);
                })?;
            rx.recv_timeout(left(deadline)?)
                .map_err(|_| out_of_time())?
        }
    }
}

/// Reads one reply (one RESP2 element with everything in it) onto `frame`, checking its shape
/// and keeping it within [`REPLY_CAP`] bytes.
fn read_element(r: &mut impl BufRead, frame: &mut Vec<u8>, depth: usize) -> io::Result<()> {
    let start = frame.len();
    read_line(r, frame)?;
    let line = &frame[start + 1..frame.len() - 2];
    match frame[start] {
        b'+' | b'-' => Ok(()),
        b':' => number(line).map(|_| ()),
        b'$' => {
            let Ok(len) = usize::try_from(number(line)?) else {
                return Ok(()); // `$-1`: nil
            };
            let at = frame.len();
            if len.saturating_add(2) > REPLY_CAP - at {
                return Err(oversized());
            }
            frame.resize(at + len + 2, 0);
            r.read_exact(&mut frame[at..])?;
            if !frame.ends_with(b"\r\n") {
                return Err(protocol("a bulk string did not end with CRLF"));
            }
            Ok(())
        }
        b'*' => {
            if depth >= MAX_DEPTH {
                return Err(protocol("arrays nested too deep"));
            }
            // Each element takes at least three bytes of the cap, which bounds the count.
            for _ in 0..number(line)?.max(0) {
                read_element(r, frame, depth + 1)?;
            }
            Ok(())
        }
        _ => Err(protocol("not a RESP2 reply")),
    }
}

/// Reads one CRLF-terminated line onto `frame`.
fn read_line(r: &mut impl BufRead, frame: &mut Vec<u8>) -> io::Result<()> {
    let start = frame.len();
    let room = REPLY_CAP - start;
    let n = r.by_ref().take(room as u64).read_until(b'\n', frame)?;
    if frame.ends_with(b"\r\n") && n >= 3 {
        return Ok(());
    }
    if n == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "Redis closed the connection",
        ));
    }
    if n >= room {
        return Err(oversized());
    }
    Err(protocol("a reply line did not end with CRLF"))
}

fn number(digits: &[u8]) -> io::Result<i64> {
    std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| protocol("a number in a reply is not one"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(bytes: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        read_element(&mut &bytes[..], &mut out, 0).map(|()| out)
    }

    #[test]
    fn whole_replies_are_read_and_nothing_beyond() {
        for reply in [
            &b"+OK\r\n"[..],
            b"-ERR no\r\n",
            b":42\r\n",
            b"$-1\r\n",
            b"$0\r\n\r\n",
            b"$5\r\nab\r\nc\r\n",
            b"*-1\r\n",
            b"*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$2\r\nhi\r\n",
        ] {
            let input = [reply, b"+NEXT\r\n"].concat();
            let mut r = &input[..];
            let mut out = Vec::new();
            read_element(&mut r, &mut out, 0).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(out, reply);
            assert_eq!(r, b"+NEXT\r\n");
        }
    }

    #[test]
    fn long_short_and_foreign_replies_are_refused() {
        let is_oversized = |r: io::Result<Vec<u8>>| {
            r.is_err_and(|e| e.get_ref().is_some_and(|i| i.is::<Oversized>()))
        };
        // Refused from the header, before any of it is read.
        assert!(is_oversized(frame(b"$300000000\r\n")));
        assert!(is_oversized(frame(
            format!("${}\r\n", REPLY_CAP).as_bytes()
        )));
        let mut long_line = vec![b'+'; REPLY_CAP + 10];
        long_line.extend_from_slice(b"\r\n");
        assert!(is_oversized(frame(&long_line)));
        // A billion elements announced: the cap ends it, not the count.
        let mut many = b"*1000000000\r\n".to_vec();
        many.extend(std::iter::repeat_n(&b":1\r\n"[..], REPLY_CAP / 4).flatten());
        assert!(is_oversized(frame(&many)));
        let just = vec![b'x'; REPLY_CAP - 20];
        let mut fits = format!("${}\r\n", just.len()).into_bytes();
        fits.extend_from_slice(&just);
        fits.extend_from_slice(b"\r\n");
        assert!(frame(&fits).is_ok());
        for bad in [
            &b"$5\r\nab"[..],
            b"$2\r\nabcd",
            b"%1\r\n",
            b">3\r\n",
            b"+OK",
            b"\r\n",
            b":x\r\n",
            b"*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n",
            b"",
        ] {
            assert!(frame(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
