//! One attempt's failure to get an answer, told apart for retrying: nothing sent, maybe
//! processed, or beyond help (refused certificate, refused redirect, an answer too large).

use ::http::header::HeaderMap;
use ::http::StatusCode;
use bytes::Bytes;

use super::retry::Failure;
use super::{client, errors, tls, Url};
use crate::error::Error;

/// An attempt's outcome.
pub(super) enum Attempt {
    Answer {
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
        url: Url,
    },
    Failed {
        kind: Failure,
        error: Error,
    },
}

pub(super) fn too_large(status: StatusCode, headers: &HeaderMap, max: usize) -> Attempt {
    Attempt::Failed {
        kind: Failure::Permanent,
        error: Error::Protocol {
            status: Some(status.as_u16()),
            message: format!(
                "the answer is larger than {max} bytes; ask for fewer rows (Pagesize)"
            ),
            correlation_id: errors::header_correlation_id(headers),
            source: None,
        },
    }
}

/// The messages of an error and its causes, each once.
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}

/// The first cause of type `T` in an error's chain.
fn find_cause<'a, T: std::error::Error + 'static>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        current = e.source();
    }
    None
}

/// Classifies a reqwest error and turns it into the crate's error.
pub(super) fn transport_failure(e: reqwest::Error, request_id: &str) -> Attempt {
    if let Some(redirect) = find_cause::<client::CrossOriginRedirect>(&e) {
        return Attempt::Failed {
            kind: Failure::Permanent,
            error: Error::Protocol {
                status: Some(redirect.status),
                message: redirect.to_string(),
                correlation_id: None,
                source: Some(std::sync::Arc::new(e)),
            },
        };
    }
    if let Some(too_many) = find_cause::<client::TooManyRedirects>(&e) {
        return Attempt::Failed {
            kind: Failure::Permanent,
            error: Error::Protocol {
                status: None,
                message: too_many.to_string(),
                correlation_id: None,
                source: Some(std::sync::Arc::new(e)),
            },
        };
    }
    if let Some(problem) = tls::certificate_error(&e) {
        return Attempt::Failed {
            kind: Failure::Permanent,
            error: Error::Transport {
                status: None,
                message: format!(
                    "the server's TLS certificate is not trusted ({problem}); certificate checking cannot be turned off: set SSLServerCert to the server's CA certificate (a PEM file or text) or to the server certificate's SHA-256 thumbprint (request id {request_id})"
                ),
                correlation_id: None,
                source: Some(std::sync::Arc::new(e)),
            },
        };
    }
    let kind = if e.is_connect() {
        Failure::NotSent
    } else if e.is_builder() {
        Failure::Permanent
    } else {
        Failure::Ambiguous
    };
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "the connection failed"
    };
    let message = format!("{what}: {} (request id {request_id})", describe(&e));
    Attempt::Failed {
        kind,
        error: Error::Transport {
            status: None,
            message,
            correlation_id: None,
            source: Some(std::sync::Arc::new(e)),
        },
    }
}

/// Adds why the pipeline stopped to a transport error's message.
pub(super) fn explain_give_up(
    error: Error,
    kind: Failure,
    idempotent: bool,
    attempts: u32,
) -> Error {
    match error {
        Error::Transport {
            status,
            message,
            correlation_id,
            source,
        } => {
            let why = match kind {
                Failure::Ambiguous if !idempotent => format!(
                    "; not retried: the call may have reached the server and is not safe to repeat (attempt {attempts})"
                ),
                Failure::Permanent => String::new(),
                _ if attempts > 1 => format!(" (gave up after {attempts} attempts)"),
                _ => String::new(),
            };
            Error::Transport {
                status,
                message: format!("{message}{why}"),
                correlation_id,
                source,
            }
        }
        other => other,
    }
}
