//! Password checks as a server on a network must do them: Argon2 runs on the blocking pool behind a
//! semaphore (a burst of wrong passwords cannot stall the async workers, nor take more memory than
//! `permits × 19 MiB`), and repeated failures per user and per client address are slowed down
//! (refused with a retry delay that doubles, before any hashing is spent on them).

use crate::clock::Clock;
use crate::config::SecurityConfig;
use crate::expiring::{Bounds, ExpiringMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::Semaphore;

/// The address a request came from, when the server knows it (a socket; in-process tests have none).
/// Never taken from a header: `X-Forwarded-For` is the client's to forge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub Option<IpAddr>);

impl ClientAddr {
    pub fn from_extensions(ext: &axum::http::Extensions) -> ClientAddr {
        ClientAddr(
            ext.get::<axum::extract::ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        )
    }

    fn key(&self) -> String {
        match self.0 {
            Some(ip) => format!("addr:{ip}"),
            None => "addr:in-process".into(),
        }
    }
}

/// Why a password check did not give an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Too many recent failures for this user or address: try again after this many seconds.
    Throttled { retry_after: u64 },
    /// Every hashing slot stayed busy for too long.
    Busy,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    blocked_until: i64,
}

/// Counts failed sign-ins per user and per client address.
pub struct Throttle {
    failures: Mutex<ExpiringMap<String, Failures>>,
    cfg: SecurityConfig,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Throttle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Throttle").finish_non_exhaustive()
    }
}

/// The Argon2 slots of the process: as many as cores (each check takes 19 MiB and ~tens of ms).
fn hashing_slots() -> &'static Semaphore {
    static SLOTS: OnceLock<Semaphore> = OnceLock::new();
    SLOTS.get_or_init(|| {
        let n = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        Semaphore::new(n.clamp(1, 8))
    })
}

/// How long a check waits for a hashing slot before answering "busy".
const SLOT_WAIT: Duration = Duration::from_secs(10);

/// Verifies `password` against an Argon2 PHC `hash` off the async workers. With no hash (an unknown
/// user) a dummy hash is verified all the same, so the answer time does not tell who exists.
pub async fn verify_password(hash: Option<String>, password: String) -> Result<bool, Refusal> {
    let _slot = tokio::time::timeout(SLOT_WAIT, hashing_slots().acquire())
        .await
        .map_err(|_| Refusal::Busy)?
        .map_err(|_| Refusal::Busy)?;
    let password = zeroize::Zeroizing::new(password);
    tokio::task::spawn_blocking(move || crate::password::verify(hash.as_deref(), &password))
        .await
        .map_err(|_| Refusal::Busy)
}

impl Throttle {
    pub fn new(cfg: SecurityConfig, clock: Arc<dyn Clock>) -> Throttle {
        Throttle {
            failures: Mutex::new(ExpiringMap::new(Bounds {
                max_entries: 100_000,
                max_bytes: 16 << 20,
            })),
            cfg,
            clock,
        }
    }

    fn keys(user: &str, addr: ClientAddr) -> [(String, u32); 2] {
        [
            (format!("user:{}", user.to_lowercase()), 0),
            (addr.key(), 1),
        ]
    }

    fn limit(&self, which: u32) -> u32 {
        if which == 0 {
            self.cfg.user_failures
        } else {
            self.cfg.address_failures
        }
    }

    /// Refuses a check while the user or the address is slowed down.
    pub fn check(&self, user: &str, addr: ClientAddr) -> Result<(), Refusal> {
        let now = self.clock.now_secs();
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let wait = Self::keys(user, addr)
            .iter()
            .filter_map(|(k, _)| map.get(now, k))
            .map(|f| f.blocked_until - now)
            .max()
            .unwrap_or(0);
        if wait > 0 {
            Err(Refusal::Throttled {
                retry_after: wait as u64,
            })
        } else {
            Ok(())
        }
    }

    /// Records a failure: past the limit, each further failure doubles the wait (up to the maximum).
    pub fn failed(&self, user: &str, addr: ClientAddr) {
        let now = self.clock.now_secs();
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        for (key, which) in Self::keys(user, addr) {
            let mut f = map.get(now, &key).copied().unwrap_or(Failures {
                count: 0,
                blocked_until: 0,
            });
            f.count = f.count.saturating_add(1);
            let limit = self.limit(which);
            if limit > 0 && f.count >= limit {
                let doublings = (f.count - limit).min(16);
                let wait = (1u64 << doublings).min(self.cfg.max_lockout_secs.max(1));
                f.blocked_until = now + wait as i64;
            }
            let weight = key.len() + 32;
            let expires = now + self.cfg.failure_window_secs as i64;
            map.insert(now, key, f, expires, weight);
        }
    }

    /// A success forgets the user's failures (not the address's: one good password among many
    /// guesses from an address does not clear the address).
    pub fn succeeded(&self, user: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&format!("user:{}", user.to_lowercase()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn failures_past_the_limit_are_slowed_down_with_doubling_waits() {
        let clock = ManualClock::new();
        let cfg = SecurityConfig {
            user_failures: 3,
            address_failures: 100,
            ..SecurityConfig::default()
        };
        let t = Throttle::new(cfg, clock.clone());
        let a = ClientAddr(None);
        for _ in 0..2 {
            t.failed("alice", a);
            assert_eq!(t.check("alice", a), Ok(()));
        }
        t.failed("alice", a);
        assert_eq!(
            t.check("ALICE", a),
            Err(Refusal::Throttled { retry_after: 1 })
        );
        assert_eq!(t.check("bob", a), Ok(()), "other users are not slowed");
        t.failed("alice", a);
        assert_eq!(
            t.check("alice", a),
            Err(Refusal::Throttled { retry_after: 2 })
        );
        clock.advance(std::time::Duration::from_secs(2));
        assert_eq!(t.check("alice", a), Ok(()));
        t.succeeded("alice");
        assert_eq!(t.check("alice", a), Ok(()));
    }

    #[test]
    fn an_address_guessing_many_users_is_slowed_down() {
        let clock = ManualClock::new();
        let cfg = SecurityConfig {
            user_failures: 100,
            address_failures: 5,
            ..SecurityConfig::default()
        };
        let t = Throttle::new(cfg, clock);
        let a = ClientAddr(Some("10.0.0.1".parse().unwrap()));
        for i in 0..5 {
            t.failed(&format!("user{i}"), a);
        }
        assert!(t.check("someone-else", a).is_err());
        assert_eq!(
            t.check(
                "someone-else",
                ClientAddr(Some("10.0.0.2".parse().unwrap()))
            ),
            Ok(())
        );
    }
}
