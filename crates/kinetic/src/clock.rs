//! Time, injected.
//!
//! Everything in the connector that asks "what time is it?" or waits (token expiry, refresh ahead,
//! backoff) does so through a [`Clock`], so tests move time forward by hand instead of sleeping:
//! an expiry test of a one-hour token runs in microseconds with a [`ManualClock`].

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::oneshot;

/// A boxed, sendable future: what object-safe async trait methods in this crate return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The time and a way to wait.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current wall-clock time.
    fn now(&self) -> SystemTime;

    /// A future that completes once `duration` has passed on this clock.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;
}

/// Seconds since the Unix epoch, the unit tokens and token files use; 0 for times before it.
pub fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The latest time the connector represents: the end of the year 9999. Times from a server or a
/// file beyond it (a hostile or broken `expires_in`) are read as this, never overflow.
pub const LATEST_UNIX_SECONDS: u64 = 253_402_300_799;

/// The time `seconds` after the Unix epoch, at most [`LATEST_UNIX_SECONDS`].
pub fn from_unix_seconds(seconds: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(seconds.min(LATEST_UNIX_SECONDS))
}

/// `time` plus `by`, at most [`LATEST_UNIX_SECONDS`] (a server's lifetime near `u64::MAX` must
/// not overflow `SystemTime`).
pub fn saturating_add(time: SystemTime, by: Duration) -> SystemTime {
    time.checked_add(by)
        .filter(|t| unix_seconds(*t) <= LATEST_UNIX_SECONDS)
        .unwrap_or_else(|| from_unix_seconds(LATEST_UNIX_SECONDS))
}

/// The operating system's clock; `sleep` is Tokio's timer, so it needs a Tokio runtime with time
/// enabled.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A clock that moves only when told to, for tests.
///
/// Sleeping futures complete when [`advance`](ManualClock::advance) (or
/// [`set`](ManualClock::set)) moves the time to or past their deadline; a zero sleep completes at
/// once. Clones share the same time.
///
/// ```
/// use std::time::Duration;
/// use epicor_kinetic::clock::{Clock, ManualClock};
///
/// let clock = ManualClock::new();
/// let start = clock.now();
/// clock.advance(Duration::from_secs(3600));
/// assert_eq!(clock.now(), start + Duration::from_secs(3600));
/// ```
#[derive(Clone, Debug)]
pub struct ManualClock {
    inner: Arc<Mutex<ManualState>>,
}

#[derive(Debug)]
struct ManualState {
    now: SystemTime,
    sleepers: Vec<(SystemTime, oneshot::Sender<()>)>,
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl ManualClock {
    /// A clock at a fixed, arbitrary time (2025-01-01T00:00:00Z), so test output is repeatable.
    pub fn new() -> Self {
        Self::at(from_unix_seconds(1_735_689_600))
    }

    /// A clock at `now`.
    pub fn at(now: SystemTime) -> Self {
        ManualClock {
            inner: Arc::new(Mutex::new(ManualState {
                now,
                sleepers: Vec::new(),
            })),
        }
    }

    /// Moves the time forward by `by` and wakes the sleepers whose deadline has come.
    pub fn advance(&self, by: Duration) {
        let mut state = self.state();
        let to = state.now + by;
        Self::move_to(&mut state, to);
    }

    /// Sets the time (forward or back) and wakes the sleepers whose deadline has come.
    pub fn set(&self, to: SystemTime) {
        let mut state = self.state();
        Self::move_to(&mut state, to);
    }

    /// How many sleeps are waiting for the time to move, so a test can tell when its tasks have
    /// reached their wait.
    pub fn sleepers(&self) -> usize {
        let mut state = self.state();
        // A sleep whose future was dropped is no longer waiting.
        state.sleepers.retain(|(_, tx)| !tx.is_closed());
        state.sleepers.len()
    }

    fn move_to(state: &mut ManualState, to: SystemTime) {
        state.now = to;
        let (due, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut state.sleepers)
            .into_iter()
            .partition(|(deadline, _)| *deadline <= to);
        state.sleepers = waiting;
        for (_, tx) in due {
            // The sleeper may have been dropped; nothing to wake then.
            let _ = tx.send(());
        }
    }

    fn state(&self) -> MutexGuard<'_, ManualState> {
        // A panic elsewhere while holding the lock leaves the time valid: keep going.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        self.state().now
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        if duration.is_zero() {
            return Box::pin(std::future::ready(()));
        }
        let (tx, rx) = oneshot::channel();
        {
            let mut state = self.state();
            let deadline = state.now + duration;
            state.sleepers.push((deadline, tx));
        }
        // If the clock is dropped the sender goes with it: the sleep ends rather than hanging.
        Box::pin(async move {
            let _ = rx.await;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[tokio::test]
    async fn sleepers_wake_when_time_passes_their_deadline() {
        let clock = ManualClock::new();
        let woke = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn({
            let (clock, woke) = (clock.clone(), woke.clone());
            async move {
                clock.sleep(Duration::from_secs(10)).await;
                woke.store(true, Ordering::SeqCst);
            }
        });
        while clock.sleepers() == 0 {
            tokio::task::yield_now().await;
        }
        clock.advance(Duration::from_secs(9));
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(!woke.load(Ordering::SeqCst), "woke before its deadline");
        clock.advance(Duration::from_secs(1));
        task.await.unwrap_or_else(|e| panic!("{e}"));
        assert!(woke.load(Ordering::SeqCst));
        assert_eq!(clock.sleepers(), 0);
    }

    #[tokio::test]
    async fn zero_sleep_is_immediate_and_unix_seconds_round_trip() {
        let clock = ManualClock::new();
        clock.sleep(Duration::ZERO).await;
        assert_eq!(unix_seconds(clock.now()), 1_735_689_600);
        assert_eq!(from_unix_seconds(1_735_689_600), clock.now());
        assert_eq!(unix_seconds(UNIX_EPOCH - Duration::from_secs(5)), 0);
    }
}
