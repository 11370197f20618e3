//! HTTPS for the emulator: a given certificate and key, or a fresh local certificate authority and a
//! server certificate for `localhost`, `127.0.0.1` and `::1` made at start (rcgen). The CA certificate
//! is written to a file clients can trust (Microsoft's libraries refuse plain-http authorities).

use crate::config::TlsConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What the server serves and what clients should trust.
pub struct TlsMaterial {
    pub server_config: Arc<rustls::ServerConfig>,
    /// The certificate to trust (the generated CA, or the given certificate).
    pub trust_path: PathBuf,
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read the TLS {what} {}: {e}", path.display()))
}

/// Builds the TLS server configuration. `scratch` is where a generated CA certificate goes when
/// `cert_out` does not say.
pub fn prepare(cfg: &TlsConfig, scratch: &Path) -> Result<TlsMaterial, String> {
    let (chain_pem, key_pem, trust_path) = match (&cfg.cert, &cfg.key) {
        (Some(cert), Some(key)) => (
            read(cert, "certificate")?,
            read(key, "private key")?,
            cert.clone(),
        ),
        _ => {
            let (ca_pem, chain, key) = generate()?;
            let trust_path = cfg
                .cert_out
                .clone()
                .unwrap_or_else(|| scratch.join("kinetic-emulator-ca.pem"));
            if let Some(parent) = trust_path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|e| {
                    format!(
                        "cannot create {} for the TLS certificate: {e}",
                        parent.display()
                    )
                })?;
            }
            std::fs::write(&trust_path, ca_pem).map_err(|e| {
                format!(
                    "cannot write the TLS certificate to {}: {e}",
                    trust_path.display()
                )
            })?;
            (chain.into_bytes(), key.into_bytes(), trust_path)
        }
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&chain_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("the TLS certificate is not PEM: {e}"))?;
    if certs.is_empty() {
        return Err("the TLS certificate file holds no certificate".into());
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| format!("the TLS private key is not PEM: {e}"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server_config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("the TLS certificate and key do not go together: {e}"))?;
    server_config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsMaterial {
        server_config: Arc::new(server_config),
        trust_path,
    })
}

/// A local CA and a server certificate it signs: `(ca_pem, server_chain_pem, server_key_pem)`.
fn generate() -> Result<(String, String, String), String> {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let err = |e: rcgen::Error| format!("cannot make a TLS certificate: {e}");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "kinetic emulator local CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca =
        CertifiedIssuer::self_signed(ca_params, KeyPair::generate().map_err(err)?).map_err(err)?;
    let mut params = CertificateParams::new(vec![
        "localhost".to_string(),
        "127.0.0.1".into(),
        "::1".into(),
    ])
    .map_err(err)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let key = KeyPair::generate().map_err(err)?;
    let cert = params.signed_by(&key, &ca).map_err(err)?;
    Ok((
        ca.pem(),
        format!("{}{}", cert.pem(), ca.pem()),
        key.serialize_pem(),
    ))
}
