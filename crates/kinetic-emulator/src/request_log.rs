//! The last requests served (`request_log` in the configuration), for tests that check what a
//! client sent: the exact page URLs of a paged read, that no `$skip` followed a next link.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// One request as the emulator received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path and query as sent (`/Kinetic/api/v1/Erp.BO.CustomerSvc/Customers?$top=5`), not
    /// decoded.
    pub uri: String,
    /// The status answered (a dropped connection from a fault rule: the status it stood for).
    pub status: u16,
    /// Whether a fault rule (`close`) cut the connection in the middle of this answer.
    pub dropped: bool,
}

/// Set on a response whose connection a fault rule cuts, so that the log can say so.
#[derive(Debug, Clone, Copy)]
pub struct Dropped;

impl LoggedRequest {
    /// The query, without the `?` ("" when none).
    pub fn query(&self) -> &str {
        self.uri.split_once('?').map_or("", |(_, q)| q)
    }

    /// The path, without the query.
    pub fn path(&self) -> &str {
        self.uri.split_once('?').map_or(&self.uri, |(p, _)| p)
    }
}

/// The last `capacity` requests, oldest first; bounded, so a long run cannot grow it.
#[derive(Debug, Default)]
pub struct RequestLog {
    capacity: usize,
    entries: Mutex<VecDeque<LoggedRequest>>,
}

impl RequestLog {
    pub fn new(capacity: usize) -> Arc<RequestLog> {
        Arc::new(RequestLog {
            capacity,
            entries: Mutex::new(VecDeque::new()),
        })
    }

    fn push(&self, entry: LoggedRequest) {
        if self.capacity == 0 {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        while entries.len() >= self.capacity {
            entries.pop_front();
        }
        entries.push_back(entry);
    }

    /// The requests remembered, oldest first.
    pub fn entries(&self) -> Vec<LoggedRequest> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.iter().cloned().collect()
    }

    /// Forgets the requests remembered so far.
    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

/// Middleware: records each request with the status answered.
pub async fn record(
    axum::extract::State(log): axum::extract::State<Arc<RequestLog>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let method = req.method().to_string();
    let uri = req.uri().path_and_query().map_or_else(
        || req.uri().path().to_string(),
        |pq| pq.as_str().to_string(),
    );
    let response = next.run(req).await;
    log.push(LoggedRequest {
        method,
        uri,
        status: response.status().as_u16(),
        dropped: response.extensions().get::<Dropped>().is_some(),
    });
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_capacity_requests() {
        let log = RequestLog::new(2);
        for i in 0..3 {
            log.push(LoggedRequest {
                method: "GET".into(),
                uri: format!("/K/x?$top={i}"),
                status: 200,
                dropped: false,
            });
        }
        let e = log.entries();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].query(), "$top=1");
        assert_eq!(e[1].path(), "/K/x");
        log.clear();
        assert!(log.entries().is_empty());
        let off = RequestLog::new(0);
        off.push(e[0].clone());
        assert!(off.entries().is_empty());
    }
}
