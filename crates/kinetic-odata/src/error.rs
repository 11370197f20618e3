//! Parse errors with the byte position where parsing stopped.

/// Why and where an OData expression or query option failed to parse.
///
/// `position` is the byte offset in the (percent-decoded) input where parsing failed; `Display` prints
/// `"{message} at {position}"`, e.g. `expected ')' at 17` or `unknown operator 'eqq' at 5`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at {position}")]
pub struct ParseError {
    /// Byte offset in the input where parsing failed.
    pub position: usize,
    /// What was wrong, in words a person can act on.
    pub message: String,
}

impl ParseError {
    /// An error at `position`.
    pub fn new(position: usize, message: impl Into<String>) -> Self {
        ParseError {
            position,
            message: message.into(),
        }
    }
}
