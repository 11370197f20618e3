//! A fast, secure connector for the Epicor Kinetic REST API.
//!
//! Everything starts from a connection string, with CData's property names so an existing string
//! can be pasted:
//!
//! ```
//! use epicor_kinetic::settings::{ApiVersion, Settings};
//!
//! let settings = Settings::parse(
//!     "URL=https://erp.example.com;ERPInstance=Kinetic;User=manager;Password={p;w};\
//!      ApiVersion=v2;Company=EPIC06;ApiKey=my-key",
//! )?;
//! assert_eq!(settings.api_version, ApiVersion::V2);
//! assert_eq!(settings.company.as_deref(), Some("EPIC06"));
//! // Secrets never show, even in Debug output.
//! assert!(!format!("{settings:?}").contains("p;w"));
//!
//! // Mistakes are caught before any network call, naming the property and what to set.
//! let err = Settings::parse("URL=https://erp.example.com;ERPInstance=Kinetic;Pasword=x")
//!     .unwrap_err();
//! assert!(err.to_string().contains("did you mean `Password`?"));
//! # Ok::<(), epicor_kinetic::Error>(())
//! ```
//!
//! [`Settings::resolve`](settings::Settings::resolve) adds environment variables and named
//! profiles; the property reference (`PROPERTIES.md`, generated from
//! [`settings::PROPERTIES`]) lists every property, its type, default and environment variable.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod api;
pub mod auth;
mod client;
pub mod clock;
mod connection;
pub mod did_you_mean;
mod encoding;
mod error;
pub mod http;
pub mod logging;
pub mod oauth;
mod secret;
pub mod settings;
pub mod store;
pub mod token;

pub use client::Client;
pub use connection::Connection;
pub use error::{Cause, Error, ErrorDetail, ErrorKind, OAuthError, OAuthErrorCode, Result};
pub use secret::{Secret, REDACTED};
pub use settings::Settings;
