//! Load on a running `kinetic serve` (bench/serve.sh runs it): SESSIONS PostgreSQL sessions
//! (tokio-postgres), each signed in as USER, run a mix of queries for SECONDS, prepared and
//! simple; then the same queries run as many times through the SQL layer in this process
//! (`SqlSession` over the same Epicor server, the way `kinetic sql` runs them), for reference.
//! Prints one line per side: statements, statements/s, p50 and p99 in ms, errors. Every answer
//! is checked against the first one the SQL layer gave (a differing row count is an error).
//!
//! Usage: serve_load PORT USER PASSWORD SESSIONS SECONDS CONNECTION_STRING

use epicor_kinetic::settings::Settings;
use epicor_kinetic::Connection;
use epicor_kinetic_sql::{SqlLimits, SqlSession};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_postgres::NoTls;

/// The mix: a point lookup, a filtered range, an aggregate, a join, a top-N.
const QUERIES: &[&str] = &[
    "SELECT CustID, Name FROM Customers WHERE CustNum = 7",
    "SELECT CustNum, City FROM Customers WHERE CustNum BETWEEN 20 AND 60",
    "SELECT State, COUNT(*) AS n, SUM(CreditLimit) AS total FROM Customers GROUP BY State",
    "SELECT c.Name, o.OrderNum FROM Customers c JOIN SalesOrders o ON o.CustNum = c.CustNum WHERE c.CustNum <= 5",
    "SELECT OrderNum, OrderDate FROM SalesOrders ORDER BY OrderNum DESC LIMIT 10",
];

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn report(side: &str, mut times: Vec<f64>, errors: u64, elapsed: f64) {
    times.sort_by(|a, b| a.total_cmp(b));
    println!(
        "serve_load: {side}: {} statements in {elapsed:.1} s, {:.1} statements/s, p50 {:.1} ms, p99 {:.1} ms, errors {errors}",
        times.len(),
        times.len() as f64 / elapsed,
        percentile(&times, 0.5),
        percentile(&times, 0.99),
    );
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 7 {
        eprintln!("usage: serve_load PORT USER PASSWORD SESSIONS SECONDS CONNECTION_STRING");
        std::process::exit(2);
    }
    let (port, user, password) = (args[1].clone(), args[2].clone(), args[3].clone());
    let sessions: usize = args[4].parse().expect("SESSIONS is a number");
    let seconds: f64 = args[5].parse().expect("SECONDS is a number");
    let settings = Settings::parse(&args[6]).expect("a connection string");

    // The reference answers (row counts), from the SQL layer in this process.
    let reference = SqlSession::with_limits(
        Connection::open(settings.clone()).await.expect("connects"),
        SqlLimits::for_server(&settings),
    )
    .await
    .expect("a SQL session");
    let mut expected = Vec::new();
    for q in QUERIES {
        let batches = reference.query(q).await.expect(q).collect().await.expect(q);
        expected.push(batches.iter().map(|b| b.num_rows()).sum::<usize>());
    }
    let expected = Arc::new(expected);

    let times = Arc::new(Mutex::new(Vec::new()));
    let errors = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for s in 0..sessions {
        let (times, errors, expected) = (times.clone(), errors.clone(), expected.clone());
        let conninfo =
            format!("host=127.0.0.1 port={port} user={user} password={password} dbname=kinetic");
        tasks.push(tokio::spawn(async move {
            let (client, connection) = match tokio_postgres::connect(&conninfo, NoTls).await {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("serve_load: session {s}: {e}");
                    errors.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            };
            tokio::spawn(connection);
            let mut i = s;
            while Instant::now() < deadline {
                let n = i % QUERIES.len();
                let t = Instant::now();
                // Every other statement through the extended protocol (prepared, binary).
                let got = if i % 2 == 0 {
                    client.query(QUERIES[n], &[]).await.map(|r| r.len())
                } else {
                    client.simple_query(QUERIES[n]).await.map(|m| {
                        m.iter()
                            .filter(|m| matches!(m, tokio_postgres::SimpleQueryMessage::Row(_)))
                            .count()
                    })
                };
                let ms = t.elapsed().as_secs_f64() * 1000.0;
                match got {
                    Ok(rows) if rows == expected[n] => times.lock().unwrap().push(ms),
                    Ok(rows) => {
                        eprintln!(
                            "serve_load: {}: {rows} rows, not {}",
                            QUERIES[n], expected[n]
                        );
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        eprintln!("serve_load: {}: {e}", QUERIES[n]);
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                i += 1;
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let served = std::mem::take(&mut *times.lock().unwrap());
    let count = served.len();
    report(
        &format!("kinetic serve, {sessions} sessions"),
        served,
        errors.load(Ordering::Relaxed),
        elapsed,
    );

    // The same statements through the SQL layer in process, one at a time, as many as one
    // session ran (at least the mix once).
    let per_session = (count / sessions.max(1)).max(QUERIES.len());
    let mut direct = Vec::new();
    let mut direct_errors = 0;
    let t0 = Instant::now();
    for i in 0..per_session {
        let n = i % QUERIES.len();
        let t = Instant::now();
        match reference.query(QUERIES[n]).await {
            Ok(r) => match r.collect().await {
                Ok(b) if b.iter().map(|b| b.num_rows()).sum::<usize>() == expected[n] => {
                    direct.push(t.elapsed().as_secs_f64() * 1000.0)
                }
                _ => direct_errors += 1,
            },
            Err(_) => direct_errors += 1,
        }
    }
    report(
        "the SQL layer in process (kinetic sql), 1 session",
        direct,
        direct_errors,
        t0.elapsed().as_secs_f64(),
    );
    if errors.load(Ordering::Relaxed) > 0 || direct_errors > 0 {
        std::process::exit(1);
    }
}
