//! A real Redis server (Debian's `redis-server`) on a loopback port of its own, for the shared
//! token store's tests. Without `redis-server` on the PATH the test fails and says how to get it:
//! `scripts/test.sh` installs it.
#![allow(dead_code)]

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` process; killed when dropped.
pub struct RedisServer {
    pub port: u16,
    args: Vec<String>,
    child: Option<Child>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl RedisServer {
    /// A server on a free port, with `extra` arguments (`--requirepass x`, TLS options).
    pub fn start(extra: &[&str]) -> RedisServer {
        let mut s = RedisServer {
            port: free_port(),
            args: extra.iter().map(|a| a.to_string()).collect(),
            child: None,
        };
        s.restart();
        s
    }

    /// A server speaking TLS only, with a certificate for 127.0.0.1 made here; the CA's PEM path.
    pub fn start_tls(dir: &std::path::Path) -> (RedisServer, PathBuf) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
        params.subject_alt_names = vec![rcgen::SanType::IpAddress("127.0.0.1".parse().unwrap())];
        let cert = params.self_signed(&key).unwrap();
        let (cert_path, key_path) = (dir.join("redis.pem"), dir.join("redis.key"));
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        let tls_port = free_port();
        let mut s = RedisServer {
            port: tls_port,
            args: vec![
                "--port".into(),
                "0".into(),
                "--tls-port".into(),
                tls_port.to_string(),
                "--tls-cert-file".into(),
                cert_path.display().to_string(),
                "--tls-key-file".into(),
                key_path.display().to_string(),
                "--tls-auth-clients".into(),
                "no".into(),
            ],
            child: None,
        };
        s.restart();
        (s, cert_path)
    }

    /// Starts it (again, on the same port: a restart after [`RedisServer::stop`]).
    pub fn restart(&mut self) {
        self.stop();
        let mut cmd = Command::new("redis-server");
        if !self.args.iter().any(|a| a == "--tls-port") {
            cmd.args(["--port", &self.port.to_string()]);
        }
        cmd.args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!(
                "cannot start redis-server ({e}): the shared token store's tests need Redis; \
                 scripts/test.sh installs it (Debian: apt-get install redis-server)"
            )
        });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not listen on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops it (as an outage would).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// `redis://127.0.0.1:{port}/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// A direct client, to look at what the store wrote.
    pub fn raw(&self, password: Option<&str>) -> redis::Connection {
        let url = match password {
            Some(p) => format!("redis://:{p}@127.0.0.1:{}/0", self.port),
            None => self.url(),
        };
        redis::Client::open(url).unwrap().get_connection().unwrap()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
