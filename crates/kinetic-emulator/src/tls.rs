//! HTTPS for the emulator: a given certificate and key, or a fresh local certificate authority and a
//! server certificate for `localhost`, `127.0.0.1` and `::1` made at start. The CA certificate
//! is written to a file clients can trust (Microsoft's libraries refuse plain-http authorities).
//! The making and checking is `epicor-kinetic-tls`'s, shared with `kinetic serve`; this file maps
//! the emulator's `[tls]` settings onto it.

use crate::config::TlsConfig;
use epicor_kinetic_tls::{server_tls, CertificateSource};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What the server serves and what clients should trust.
pub struct TlsMaterial {
    pub server_config: Arc<rustls::ServerConfig>,
    /// The certificate to trust (the generated CA, or the given certificate).
    pub trust_path: PathBuf,
}

/// The generated CA's name, as a user finds it in a trust store.
const CA_COMMON_NAME: &str = "kinetic emulator local CA";

/// Builds the TLS server configuration. `scratch` is where a generated CA certificate goes when
/// `cert_out` does not say.
pub fn prepare(cfg: &TlsConfig, scratch: &Path) -> Result<TlsMaterial, String> {
    let source = match (&cfg.cert, &cfg.key) {
        (Some(cert), Some(key)) => CertificateSource::Files {
            cert: cert.clone(),
            key: key.clone(),
        },
        _ => CertificateSource::LocalCa {
            ca_out: cfg
                .cert_out
                .clone()
                .unwrap_or_else(|| scratch.join("kinetic-emulator-ca.pem")),
        },
    };
    let tls = server_tls(&source, &[b"http/1.1"], CA_COMMON_NAME).map_err(|e| e.to_string())?;
    Ok(TlsMaterial {
        server_config: tls.config,
        trust_path: tls.trust_path,
    })
}
