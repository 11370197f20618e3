//! Prometheus metrics (`--metrics ADDR`: `GET /metrics` in the text exposition format):
//! sessions (open, signed in, refused), statements by outcome (`ok` or the SQLSTATE), rows sent,
//! Epicor requests, and in Entra ID mode the users' token cache (exchanges with the identity
//! provider, hits). Counted where the per-statement log line is written, so the two agree.
//! Nothing in them names a user or a statement.

use epicor_kinetic::store::UserCacheStats;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// The server's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    pub(crate) sessions_open: AtomicU64,
    pub(crate) sign_ins: AtomicU64,
    pub(crate) sign_ins_refused: AtomicU64,
    pub(crate) rows: AtomicU64,
    pub(crate) epicor_requests: AtomicU64,
    statements: Mutex<BTreeMap<String, u64>>,
}

impl Metrics {
    /// Counts one statement that ended with `outcome` (`ok` or a SQLSTATE).
    pub(crate) fn statement(&self, outcome: &str, rows: u64, requests: u64) {
        *self
            .statements
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(outcome.to_owned())
            .or_default() += 1;
        self.rows.fetch_add(rows, Ordering::Relaxed);
        self.epicor_requests.fetch_add(requests, Ordering::Relaxed);
    }

    /// The metrics in Prometheus' text format.
    pub(crate) fn render(&self, tokens: Option<UserCacheStats>) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, lines: &[(String, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, value) in lines {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        metric(
            "kinetic_serve_sessions_open",
            "gauge",
            "PostgreSQL sessions connected now.",
            &[(String::new(), n(&self.sessions_open))],
        );
        metric(
            "kinetic_serve_sign_ins_total",
            "counter",
            "Sessions signed in to Epicor.",
            &[(String::new(), n(&self.sign_ins))],
        );
        metric(
            "kinetic_serve_sign_ins_refused_total",
            "counter",
            "Sign-ins refused (a wrong password or token).",
            &[(String::new(), n(&self.sign_ins_refused))],
        );
        let statements: Vec<(String, u64)> = self
            .statements
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(outcome, count)| (format!("{{outcome=\"{outcome}\"}}"), *count))
            .collect();
        metric(
            "kinetic_serve_statements_total",
            "counter",
            "Statements run, by outcome (ok, or the SQLSTATE of the error).",
            &statements,
        );
        metric(
            "kinetic_serve_rows_total",
            "counter",
            "Rows sent to clients.",
            &[(String::new(), n(&self.rows))],
        );
        metric(
            "kinetic_serve_epicor_requests_total",
            "counter",
            "Requests the statements sent to Epicor.",
            &[(String::new(), n(&self.epicor_requests))],
        );
        if let Some(s) = tokens {
            metric(
                    "kinetic_serve_token_exchanges_total",
                    "counter",
                    "Epicor tokens obtained from the identity provider (on-behalf-of exchanges and refreshes).",
                    &[(String::new(), s.fetches)],
                );
            metric(
                "kinetic_serve_token_cache_hits_total",
                "counter",
                "Epicor tokens served from the cache, by level (this process, Redis).",
                &[
                    ("{level=\"process\"}".to_owned(), s.l1_hits),
                    ("{level=\"redis\"}".to_owned(), s.l2_hits),
                ],
            );
        }
        out
    }
}
