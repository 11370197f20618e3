//! Authentication: who the connector is to Epicor, chosen from the settings.
//!
//! [`scheme::credential_for`] reads `AuthScheme` (and the grant) and builds the pipeline's
//! credential: Basic, Epicor's token service and the OAuth grants as token sources
//! ([`providers`]), app-only tokens kept between runs ([`persisted`]), and the interactive
//! sign-ins ([`interactive`]: the browser with its [`loopback`] listener, the device code, the web
//! procedures) through the token store. Tokens themselves are [`crate::token`]'s; the OAuth
//! protocol is [`crate::oauth`]'s.

pub mod inbound;
pub mod interactive;
pub mod loopback;
pub mod persisted;
pub mod providers;
pub mod scheme;
pub mod web;

pub use crate::token::{
    cache, expiry_after, RefreshPolicy, Token, TokenCache, TokenSource, MAX_LIFETIME_SECS,
};
