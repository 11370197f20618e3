//! Server TLS for the kinetic servers (the emulator's HTTPS, `kinetic serve`'s PostgreSQL
//! protocol): one place that turns "the operator's certificate files" or "make me a local CA"
//! into a rustls [`ServerConfig`](rustls::ServerConfig), so both servers load, check and explain
//! certificates the same way.
//!
//! - **The operator's certificate** ([`CertificateSource::Files`]): a PEM chain, the server's
//!   certificate first, and its PEM private key. Clients trust its issuer.
//! - **A local CA** ([`CertificateSource::LocalCa`]): made at start (rcgen), it signs a server
//!   certificate for `localhost`, `127.0.0.1` and `::1`. Only the CA's certificate is written,
//!   readable by everyone, for clients to trust; neither private key ever touches the disk, so
//!   a new CA is made at each start and nothing secret is left behind.
//!
//! rustls with the ring provider (no aws-lc build), TLS 1.2 and 1.3.
//!
//! ```no_run
//! use epicor_kinetic_tls::{server_tls, CertificateSource};
//!
//! let source = CertificateSource::LocalCa { ca_out: "/tmp/my-ca.pem".into() };
//! let tls = server_tls(&source, &[b"postgresql"], "my server local CA")?;
//! // Serve with `tls.config`; tell clients to trust `tls.trust_path`.
//! # Ok::<(), epicor_kinetic_tls::TlsError>(())
//! ```

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The rustls these configurations are made with, for callers that build clients or acceptors
/// around them (one version in the build).
pub use rustls;

/// Where a server's certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertificateSource {
    /// The operator's own certificate: `cert` is a PEM chain (the server's certificate first,
    /// then its intermediates) and `key` its PEM private key (PKCS#8, PKCS#1 or SEC1).
    Files { cert: PathBuf, key: PathBuf },
    /// A local CA made at start, signing a certificate for `localhost`, `127.0.0.1` and `::1`;
    /// the CA's certificate is written to `ca_out` (its folder made if need be) for clients to
    /// trust. Clients on other machines reach the server by another name, which this
    /// certificate does not hold: give them [`CertificateSource::Files`] instead.
    LocalCa { ca_out: PathBuf },
}

/// A server's TLS: what it serves with, and the certificate its clients should trust.
#[derive(Debug, Clone)]
pub struct ServerTls {
    /// The rustls configuration, built once, shared by every connection.
    pub config: Arc<rustls::ServerConfig>,
    /// The certificate clients should trust: the generated CA's file, or the operator's
    /// certificate file.
    pub trust_path: PathBuf,
}

/// Why a server's TLS could not be set up. Each names the file and says what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    #[error(
        "cannot read the TLS {what} {}: {cause}; check the path and its permissions",
        path.display()
    )]
    Read {
        /// `certificate` or `private key`.
        what: &'static str,
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error(
        "the TLS {what} {} is not PEM ({cause}); give the PEM file (text between -----BEGIN \
         and -----END lines)",
        path.display()
    )]
    NotPem {
        /// `certificate` or `private key`.
        what: &'static str,
        path: PathBuf,
        cause: String,
    },
    #[error(
        "the TLS certificate {} holds no certificate; give a PEM file with the server's \
         certificate first, then its intermediates (-----BEGIN CERTIFICATE-----)",
        path.display()
    )]
    NoCertificate { path: PathBuf },
    #[error(
        "the TLS private key {} holds no private key; give the certificate's key as PEM \
         (-----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY)",
        path.display()
    )]
    NoPrivateKey { path: PathBuf },
    #[error(
        "the TLS certificate {} and key {} do not go together; give the private key the \
         certificate was issued for",
        cert.display(),
        key.display()
    )]
    Mismatch { cert: PathBuf, key: PathBuf },
    #[error(
        "the TLS certificate {} or its key {} cannot be used ({cause}); give an X.509 \
         certificate and an RSA, ECDSA (P-256, P-384) or Ed25519 key",
        cert.display(),
        key.display()
    )]
    Unusable {
        cert: PathBuf,
        key: PathBuf,
        cause: rustls::Error,
    },
    #[error(
        "cannot create {} for the TLS certificate: {cause}; choose a folder this process may \
         write",
        path.display()
    )]
    CreateFolder {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error(
        "cannot write the TLS certificate to {}: {cause}; choose a path this process may write",
        path.display()
    )]
    Write {
        path: PathBuf,
        cause: std::io::Error,
    },
    /// Making the local CA or its server certificate failed (a bug, or no randomness).
    #[error("cannot make a TLS certificate: {0}")]
    Generate(String),
}

/// Builds a server's TLS from `source`, announcing `alpn` (in order of preference: the
/// emulator's `http/1.1`, PostgreSQL's `postgresql`, which libpq 17's `sslnegotiation=direct`
/// insists on). A generated CA is named `ca_common_name`, so that a user who finds it in a
/// trust store knows which program made it.
pub fn server_tls(
    source: &CertificateSource,
    alpn: &[&[u8]],
    ca_common_name: &str,
) -> Result<ServerTls, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Generate(e.to_string()))?
        .with_no_client_auth();
    let (mut config, trust_path) = match source {
        CertificateSource::Files { cert, key } => {
            let chain = read_chain(cert)?;
            let private_key = read_key(key)?;
            let config = builder
                .with_single_cert(chain, private_key)
                .map_err(|e| match e {
                    rustls::Error::InconsistentKeys(_) => TlsError::Mismatch {
                        cert: cert.clone(),
                        key: key.clone(),
                    },
                    cause => TlsError::Unusable {
                        cert: cert.clone(),
                        key: key.clone(),
                        cause,
                    },
                })?;
            (config, cert.clone())
        }
        CertificateSource::LocalCa { ca_out } => {
            let local = LocalCa::generate(ca_common_name)?;
            write_public(ca_out, local.ca_pem.as_bytes())?;
            let config = builder
                .with_single_cert(local.chain, local.key)
                .map_err(|e| TlsError::Generate(e.to_string()))?;
            (config, ca_out.clone())
        }
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(ServerTls {
        config: Arc::new(config),
        trust_path,
    })
}

fn read(path: &Path, what: &'static str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|cause| TlsError::Read {
        what,
        path: path.to_owned(),
        cause,
    })
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path, "certificate")?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::NotPem {
            what: "certificate",
            path: path.to_owned(),
            cause: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read(path, "private key")?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoPrivateKey {
            path: path.to_owned(),
        },
        e => TlsError::NotPem {
            what: "private key",
            path: path.to_owned(),
            cause: e.to_string(),
        },
    })
}

/// Writes a public file (a CA certificate) that every local user may read: a umask of 077
/// would otherwise leave it readable by this user only, and the clients that must trust it
/// (a BI service, another account) could not.
fn write_public(path: &Path, contents: &[u8]) -> Result<(), TlsError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|cause| TlsError::CreateFolder {
            path: parent.to_owned(),
            cause,
        })?;
    }
    let write_err = |cause| TlsError::Write {
        path: path.to_owned(),
        cause,
    };
    std::fs::write(path, contents).map_err(write_err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
            .map_err(write_err)?;
    }
    Ok(())
}

/// A local CA and the server certificate it signed, in memory.
struct LocalCa {
    /// The CA's certificate, for clients to trust.
    ca_pem: String,
    /// The server's certificate, then the CA's.
    chain: Vec<CertificateDer<'static>>,
    /// The server certificate's private key (the CA's is dropped once it has signed).
    key: PrivateKeyDer<'static>,
}

impl LocalCa {
    fn generate(ca_common_name: &str) -> Result<LocalCa, TlsError> {
        use rcgen::{
            BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair,
            KeyUsagePurpose,
        };
        let err = |e: rcgen::Error| TlsError::Generate(e.to_string());
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        // It may sign server certificates only, never another CA.
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca_params
            .distinguished_name
            .push(DnType::CommonName, ca_common_name);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().map_err(err)?)
            .map_err(err)?;
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
        Ok(LocalCa {
            ca_pem: ca.pem(),
            chain: vec![cert.der().clone(), ca.der().clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_ca_is_written_readable_and_no_key_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let ca_out = dir.path().join("nested/folder/ca.pem");
        let tls = server_tls(
            &CertificateSource::LocalCa {
                ca_out: ca_out.clone(),
            },
            &[b"postgresql"],
            "test local CA",
        )
        .unwrap();
        assert_eq!(tls.trust_path, ca_out);
        assert_eq!(tls.config.alpn_protocols, [b"postgresql".to_vec()]);
        let pem = std::fs::read_to_string(&ca_out).unwrap();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
        assert!(!pem.contains("PRIVATE KEY"), "{pem}");
        // Only the CA's certificate was written, nothing beside it.
        let written: Vec<_> = std::fs::read_dir(ca_out.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(written, ["ca.pem"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&ca_out).unwrap().permissions().mode();
            assert_eq!(mode & 0o444, 0o444, "readable by every user: {mode:o}");
        }
        // The CA written is the one the served chain ends with.
        let ca = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
        let again = server_tls(
            &CertificateSource::LocalCa {
                ca_out: ca_out.clone(),
            },
            &[],
            "test local CA",
        )
        .unwrap();
        let second = CertificateDer::from_pem_file(&ca_out).unwrap();
        assert_ne!(ca, second, "a new CA at each start");
        assert!(again.config.alpn_protocols.is_empty());
    }

    #[test]
    fn given_files_are_checked_and_errors_name_them() {
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["db.example.com".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        let files = |cert: &Path, key: &Path| CertificateSource::Files {
            cert: cert.to_owned(),
            key: key.to_owned(),
        };
        let tls = server_tls(&files(&cert_path, &key_path), &[b"http/1.1"], "unused").unwrap();
        assert_eq!(tls.trust_path, cert_path);

        let missing = dir.path().join("missing.pem");
        let e = server_tls(&files(&missing, &key_path), &[], "x").unwrap_err();
        assert!(matches!(e, TlsError::Read { .. }), "{e}");
        assert!(
            e.to_string().contains(&format!(
                "cannot read the TLS certificate {}",
                missing.display()
            )),
            "{e}"
        );
        let e = server_tls(&files(&cert_path, &missing), &[], "x").unwrap_err();
        assert!(
            e.to_string().contains(&format!(
                "cannot read the TLS private key {}",
                missing.display()
            )),
            "{e}"
        );

        // A key file given as the certificate, a certificate given as the key.
        let e = server_tls(&files(&key_path, &key_path), &[], "x").unwrap_err();
        assert!(matches!(e, TlsError::NoCertificate { .. }), "{e}");
        assert!(
            e.to_string().contains(&key_path.display().to_string()),
            "{e}"
        );
        let e = server_tls(&files(&cert_path, &cert_path), &[], "x").unwrap_err();
        assert!(matches!(e, TlsError::NoPrivateKey { .. }), "{e}");
        assert!(
            e.to_string().contains(&cert_path.display().to_string()),
            "{e}"
        );

        // Broken PEM.
        let broken = dir.path().join("broken.pem");
        std::fs::write(&broken, "-----BEGIN CERTIFICATE-----\nnot base64!\n").unwrap();
        let e = server_tls(&files(&broken, &key_path), &[], "x").unwrap_err();
        assert!(matches!(e, TlsError::NotPem { .. }), "{e}");
        assert!(e.to_string().contains(&broken.display().to_string()), "{e}");

        // Another key than the certificate's.
        let other = dir.path().join("other.pem");
        std::fs::write(&other, rcgen::KeyPair::generate().unwrap().serialize_pem()).unwrap();
        let e = server_tls(&files(&cert_path, &other), &[], "x").unwrap_err();
        assert!(matches!(e, TlsError::Mismatch { .. }), "{e}");
        assert!(e.to_string().contains("do not go together"), "{e}");
    }

    #[test]
    fn a_ca_that_cannot_be_written_says_where() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, "").unwrap();
        // A folder is wanted where a file stands.
        let ca_out = file.join("ca.pem");
        let e = server_tls(&CertificateSource::LocalCa { ca_out }, &[], "x").unwrap_err();
        assert!(matches!(e, TlsError::CreateFolder { .. }), "{e}");
        assert!(e.to_string().contains(&file.display().to_string()), "{e}");
    }
}
