//! How the client proves who it is at the token endpoint: nothing (a public client), a secret,
//! or a certificate signing a client assertion per request (RFC 7523; RS256 + `x5t`, or PS256 +
//! `x5t#S256`).

use crate::encoding::{base64_decode, base64url, hex};
use crate::{Error, Result, Secret};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use sha2::Digest;

/// How the client proves who it is at the token endpoint.
#[derive(Debug)]
pub enum ClientCredential {
    /// A public client (desktop, device): no credential.
    Public,
    /// A client secret, sent in the body.
    Secret(Secret),
    /// A certificate: a signed client assertion per request.
    Certificate(Box<CertificateAssertion>),
}

/// A certificate credential: signs a fresh client assertion for every token request.
pub struct CertificateAssertion {
    key: EncodingKey,
    algorithm: Algorithm,
    /// base64url thumbprint for the header (`x5t` or `x5t#S256`).
    thumbprint: String,
    sha1_hex: String,
    sha256_hex: String,
}

impl std::fmt::Debug for CertificateAssertion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAssertion")
            .field("algorithm", &self.algorithm)
            .field("thumbprint", &self.thumbprint)
            .field("key", &crate::secret::REDACTED)
            .finish()
    }
}

/// The PEM blocks of a text, as `(label, DER)`.
pub(super) fn pem_blocks(text: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut label: Option<String> = None;
    let mut b64 = String::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(l) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        {
            label = Some(l.to_string());
            b64.clear();
        } else if line.starts_with("-----END ") {
            if let Some(l) = label.take() {
                if let Some(der) = base64_decode(&b64) {
                    out.push((l, der));
                }
            }
            b64.clear();
        } else if label.is_some() {
            b64.push_str(line);
        }
    }
    out
}

/// Where a certificate credential's private key and certificate come from.
#[derive(Clone, Copy)]
pub enum CertificateSource<'a> {
    /// PEM text holding the RSA private key and the certificate.
    Pem(&'a str),
    /// A PKCS#12 (PFX) file's bytes and its password.
    Pfx {
        /// The bytes.
        data: &'a [u8],
        /// The password (empty for none).
        password: &'a str,
    },
}

impl CertificateAssertion {
    /// Loads the key and certificate; `sha256` chooses PS256 with `x5t#S256`, otherwise RS256
    /// with `x5t` (SHA-1), as Entra accepts both.
    pub fn load(source: CertificateSource<'_>, sha256: bool) -> Result<CertificateAssertion> {
        let (key, der) = match source {
            CertificateSource::Pem(text) => pem_key_and_cert(text)?,
            CertificateSource::Pfx { data, password } => pfx_key_and_cert(data, password)?,
        };
        let sha1_hex = hex(&sha1::Sha1::digest(&der));
        let sha256_hex = hex(&sha2::Sha256::digest(&der));
        let (algorithm, thumbprint) = if sha256 {
            (Algorithm::PS256, base64url(&sha2::Sha256::digest(&der)))
        } else {
            (Algorithm::RS256, base64url(&sha1::Sha1::digest(&der)))
        };
        Ok(CertificateAssertion {
            key,
            algorithm,
            thumbprint,
            sha1_hex,
            sha256_hex,
        })
    }

    /// The certificate's thumbprints in lower-case hex: `(SHA-1, SHA-256)`.
    pub fn thumbprints(&self) -> (&str, &str) {
        (&self.sha1_hex, &self.sha256_hex)
    }

    /// A client assertion for `client_id` at `token_endpoint`, valid five minutes.
    pub fn assertion(&self, client_id: &str, token_endpoint: &str, now: u64) -> Result<String> {
        let mut h = Header::new(self.algorithm);
        if self.algorithm == Algorithm::PS256 {
            h.x5t_s256 = Some(self.thumbprint.clone());
        } else {
            h.x5t = Some(self.thumbprint.clone());
        }
        let claims = serde_json::json!({
            "aud": token_endpoint, "iss": client_id, "sub": client_id,
            "jti": uuid::Uuid::new_v4().to_string(), "nbf": now, "iat": now, "exp": now + 300,
        });
        jsonwebtoken::encode(&h, &claims, &self.key).map_err(|e| Error::Protocol {
            status: None,
            message: format!("cannot sign the client assertion: {e}"),
            correlation_id: None,
            source: None,
        })
    }
}

/// The RSA private key and the certificate of a PEM text holding both.
fn pem_key_and_cert(text: &str) -> Result<(EncodingKey, Vec<u8>)> {
    let bad = |message: &str, hint: &str| Error::invalid_settings("OAuthJWTCert", message, hint);
    let blocks = pem_blocks(text);
    let der = blocks
        .iter()
        .find(|(l, _)| l == "CERTIFICATE")
        .map(|(_, d)| d.clone())
        .ok_or_else(|| {
            bad(
                "the PEM holds no CERTIFICATE block",
                "put the certificate after the private key in the file",
            )
        })?;
    let key_pem = text
        .split("-----BEGIN ")
        .find(|part| {
            part.starts_with("PRIVATE KEY-----") || part.starts_with("RSA PRIVATE KEY-----")
        })
        .map(|part| zeroize::Zeroizing::new(format!("-----BEGIN {part}")))
        .ok_or_else(|| {
            bad(
                "the PEM holds no private key",
                "put the PKCS#8 or PKCS#1 RSA private key in the file",
            )
        })?;
    let key = EncodingKey::from_rsa_pem(key_pem.as_bytes()).map_err(|_| {
        bad(
            "the private key is not an RSA key in PEM",
            "use an RSA key (PKCS#8 PRIVATE KEY or PKCS#1 RSA PRIVATE KEY)",
        )
    })?;
    Ok((key, der))
}

/// The RSA private key and its certificate from a PKCS#12 (PFX) file.
fn pfx_key_and_cert(data: &[u8], password: &str) -> Result<(EncodingKey, Vec<u8>)> {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::pkcs8::DecodePrivateKey;
    let bad = |message: &str, hint: &str| Error::invalid_settings("OAuthJWTCert", message, hint);
    let store = p12_keystore::KeyStore::from_pkcs12(
        data,
        password,
        p12_keystore::Pkcs12ImportPolicy::Relaxed,
    )
    .map_err(|_| {
        bad(
            "the PFX cannot be opened",
            "check OAuthJWTCertPassword and that OAuthJWTCert is a PKCS#12 (PFX) file",
        )
    })?;
    let (_, chain) = store.private_key_chain().ok_or_else(|| {
        bad(
            "the PFX holds no private key",
            "export the certificate with its private key",
        )
    })?;
    let der = chain
        .certs()
        .first()
        .map(|c| c.as_der().to_vec())
        .ok_or_else(|| {
            bad(
                "the PFX holds no certificate for its key",
                "export the certificate with its private key",
            )
        })?;
    let private = rsa::RsaPrivateKey::from_pkcs8_der(chain.key().as_der()).map_err(|_| {
        bad(
            "the PFX's private key is not an RSA key",
            "use an RSA certificate",
        )
    })?;
    let pkcs1 = private.to_pkcs1_der().map_err(|_| {
        bad(
            "the PFX's private key cannot be used",
            "use an RSA certificate",
        )
    })?;
    Ok((EncodingKey::from_rsa_der(pkcs1.as_bytes()), der))
}
