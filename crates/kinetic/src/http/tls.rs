//! TLS: certificate verification is always on; `SSLServerCert` can only add trust.
//!
//! The trust store is Mozilla's root programme (the `webpki-roots` bundle, the same on every
//! machine). `SSLServerCert`, which [`Client`](crate::Client) reads into a [`TrustedCertificate`],
//! adds to it:
//!
//! - a PEM file or PEM text: every certificate in it becomes a trust anchor (a private CA, as the
//!   emulator's `--tls` makes), and is also accepted when the server presents exactly that
//!   certificate (a self-signed server certificate that a CA-style check would refuse);
//! - a SHA-256 (64 hex digits) or SHA-1 (40) thumbprint: the server certificate whose DER hash
//!   matches is accepted (pinning a self-signed certificate).
//!
//! A pinned certificate is accepted exactly: its name and validity dates are not checked, because
//! the user has named that very certificate. The handshake's signature is still verified against
//! its public key, so only a server holding the pinned certificate's private key passes. Any other
//! certificate goes through the normal checks (chain to a trusted root, name, dates).
//!
//! `SSLServerCert=*` (CData's "trust any certificate") is refused where the settings are read
//! (`client.rs`): there is no [`TrustedCertificate`] that turns verification off.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha1::Digest as _;

use crate::encoding::hex;
use crate::error::{Error, Result};

const PROPERTY: &str = "SSLServerCert";

/// A certificate trusted besides Mozilla's roots (`SSLServerCert`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrustedCertificate {
    /// The certificates of a PEM file: trust anchors, and accepted when the server presents
    /// exactly one of them. The file is read when the connection pool is made.
    PemFile(PathBuf),
    /// The certificates of PEM text, likewise.
    Pem(String),
    /// The server certificate whose SHA-1 digest is this (40 lower-case hex digits).
    Sha1(String),
    /// The server certificate whose SHA-256 digest is this (64 lower-case hex digits).
    Sha256(String),
}

/// A certificate accepted when the server presents exactly it.
#[derive(Clone, PartialEq, Eq)]
enum Pin {
    /// The DER bytes of a certificate given as PEM.
    Der(Vec<u8>),
    /// The SHA-1 of the DER bytes, in lower-case hex.
    Sha1(String),
    /// The SHA-256 of the DER bytes, in lower-case hex.
    Sha256(String),
}

impl Pin {
    fn matches(&self, der: &[u8]) -> bool {
        match self {
            Pin::Der(pinned) => pinned.as_slice() == der,
            Pin::Sha1(pinned) => *pinned == hex(&sha1::Sha1::digest(der)),
            Pin::Sha256(pinned) => *pinned == sha256_hex(der),
        }
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pin::Der(der) => write!(f, "Der(sha256 {})", sha256_hex(der)),
            Pin::Sha1(t) | Pin::Sha256(t) => write!(f, "Thumbprint({t})"),
        }
    }
}

/// The SHA-256 thumbprint of a DER certificate, in lower-case hex: what `SSLServerCert` takes.
pub fn sha256_hex(der: &[u8]) -> String {
    hex(&sha2::Sha256::digest(der))
}

/// The normal web PKI checks, and, when those fail, acceptance of pinned certificates.
#[derive(Debug)]
struct PinningVerifier {
    inner: Arc<WebPkiServerVerifier>,
    pins: Vec<Pin>,
}

impl ServerCertVerifier for PinningVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(verified) => Ok(verified),
            // Only the end-entity certificate may match a pin: the handshake proves the server
            // holds its key, which is not true of other certificates in the chain.
            Err(_) if self.pins.iter().any(|p| p.matches(end_entity.as_ref())) => {
                Ok(ServerCertVerified::assertion())
            }
            Err(e) => Err(e),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The certificates of a PEM document; an error naming `SSLServerCert` when there are none or
/// the text is not PEM.
fn pem_certificates(pem: &[u8], source: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| {
            Error::invalid_settings(
                PROPERTY,
                format!("`SSLServerCert` ({source}) is not valid PEM: {e}"),
                "give a PEM file or text with -----BEGIN CERTIFICATE----- blocks, or a SHA-256 thumbprint",
            )
        })?;
    if certs.is_empty() {
        return Err(Error::invalid_settings(
            PROPERTY,
            format!("`SSLServerCert` ({source}) holds no certificate"),
            "give a PEM file or text with -----BEGIN CERTIFICATE----- blocks, or a SHA-256 thumbprint",
        ));
    }
    Ok(certs)
}

/// The rustls client configuration trusting `trusted` too (`SSLServerCert`), HTTP/1.1 only.
pub(crate) fn client_config(trusted: Option<&TrustedCertificate>) -> Result<rustls::ClientConfig> {
    let mut roots = RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let mut pins = Vec::new();
    let mut add_pem = |pem: &[u8], source: &str| -> Result<()> {
        for cert in pem_certificates(pem, source)? {
            // A certificate that is not usable as a trust anchor (some self-signed server
            // certificates) is still accepted by its exact pin.
            let _ = roots.add(cert.clone());
            pins.push(Pin::Der(cert.as_ref().to_vec()));
        }
        Ok(())
    };
    match trusted {
        None => {}
        Some(TrustedCertificate::PemFile(path)) => {
            let pem = std::fs::read(path).map_err(|e| {
                Error::invalid_settings(
                    PROPERTY,
                    format!(
                        "cannot read the `SSLServerCert` file {}: {e}",
                        path.display()
                    ),
                    "set SSLServerCert to a readable PEM file, PEM text, or a SHA-256 thumbprint",
                )
            })?;
            add_pem(&pem, &path.display().to_string())?;
        }
        Some(TrustedCertificate::Pem(text)) => add_pem(text.as_bytes(), "PEM text")?,
        Some(TrustedCertificate::Sha1(hex)) => pins.push(Pin::Sha1(hex.clone())),
        Some(TrustedCertificate::Sha256(hex)) => pins.push(Pin::Sha256(hex.clone())),
    }

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| tls_setup_error(&e))?;
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_setup_error(&e))?;
    let mut config = if pins.is_empty() {
        builder.with_webpki_verifier(inner).with_no_client_auth()
    } else {
        // rustls calls every custom verifier "dangerous"; this one only adds exact pins on top of
        // the full web PKI checks (see the module documentation).
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinningVerifier { inner, pins }))
            .with_no_client_auth()
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn tls_setup_error(e: &dyn std::error::Error) -> Error {
    Error::invalid_settings(
        PROPERTY,
        format!("cannot set up TLS: {e}"),
        "check SSLServerCert",
    )
}

/// Whether `error` (or any of its causes) is a refused server certificate, and why.
pub(crate) fn certificate_error(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(found) = invalid_certificate(e, 0) {
            return Some(found);
        }
        current = e.source();
    }
    None
}

/// `e` itself as a rustls certificate error, looking inside `io::Error` wrappers (which hide
/// their payload from `source()`: an `io::Error`'s source is its payload's source).
fn invalid_certificate(e: &(dyn std::error::Error + 'static), depth: usize) -> Option<String> {
    if let Some(rustls::Error::InvalidCertificate(c)) = e.downcast_ref::<rustls::Error>() {
        return Some(format!("{c:?}"));
    }
    let payload = e.downcast_ref::<std::io::Error>()?.get_ref()?;
    // Wrappers nest a few deep at most; the bound keeps a pathological chain finite.
    if depth < 8 {
        invalid_certificate(payload, depth + 1)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_pem_and_missing_files_are_settings_errors() {
        for cert in [
            TrustedCertificate::Pem(
                "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n".into(),
            ),
            TrustedCertificate::Pem("-----BEGIN NOTHING-----".into()),
            TrustedCertificate::PemFile("/nonexistent/kinetic-ca.pem".into()),
        ] {
            let err = client_config(Some(&cert)).err();
            assert_eq!(
                err.as_ref().and_then(Error::property),
                Some(PROPERTY),
                "{cert:?}: {err:?}"
            );
        }
    }

    #[test]
    fn defaults_and_thumbprints_build() {
        assert!(client_config(None).is_ok_and(|c| c.alpn_protocols == [b"http/1.1".to_vec()]));
        let pin = TrustedCertificate::Sha256("ab".repeat(32));
        assert!(client_config(Some(&pin)).is_ok());
    }

    #[test]
    fn pins_match_exactly() {
        let der = b"not really a certificate".to_vec();
        let sha256 = sha256_hex(&der);
        let sha1 = hex(&sha1::Sha1::digest(&der));
        assert_eq!(sha1.len(), 40);
        for pin in [Pin::Sha256(sha256), Pin::Sha1(sha1)] {
            assert!(pin.matches(&der));
            assert!(!pin.matches(b"another"));
        }
        assert!(Pin::Der(der.clone()).matches(&der));
        assert!(!Pin::Der(der).matches(b"x"));
    }
}
