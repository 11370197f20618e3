//! RSA signing keys (2048 bits, RustCrypto), each with a self-signed certificate so the JWKS carries
//! `x5c` and `x5t` as Entra's does; rotation keeps the previous key published for a grace period.

use crate::encoding::b64url;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use rsa::traits::PublicKeyParts;
use serde::Serialize;
use sha2::Digest;

/// An RSA key with a self-signed certificate.
pub struct RsaCertificate {
    pub private: rsa::RsaPrivateKey,
    pub cert_der: Vec<u8>,
    pub cert_pem: String,
    /// PKCS#8 PEM.
    pub key_pem: String,
}

/// Makes an RSA 2048 key and a self-signed certificate for it.
pub fn rsa_certificate(common_name: &str) -> Result<RsaCertificate, String> {
    let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
        .map_err(|e| format!("RSA key generation failed: {e}"))?;
    let key_pem = private
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| format!("cannot encode the RSA key: {e}"))?
        .to_string();
    let key_pair = rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(&key_pem, &rcgen::PKCS_RSA_SHA256)
        .map_err(|e| format!("cannot use the RSA key for a certificate: {e}"))?;
    let mut params =
        rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    let cert = params
        .self_signed(&key_pair)
        .map_err(|e| format!("cannot make a certificate: {e}"))?;
    Ok(RsaCertificate {
        private,
        cert_der: cert.der().to_vec(),
        cert_pem: cert.pem(),
        key_pem,
    })
}

/// The DER of the first certificate in a PEM file.
pub fn pem_certificate_der(pem: &[u8]) -> Result<Vec<u8>, String> {
    use rustls::pki_types::pem::PemObject;
    let cert = rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .next()
        .ok_or("no CERTIFICATE in the file")?
        .map_err(|e| format!("not PEM: {e}"))?;
    Ok(cert.to_vec())
}

/// A signing key with its JWK.
pub struct SigningKey {
    kid: String,
    x5t: String,
    encoding: EncodingKey,
    jwk: serde_json::Value,
    /// When it stopped being the current key.
    retired: Option<i64>,
}

/// Makes a new RSA signing key (slow: run it off the async workers).
pub fn signing_key() -> Result<SigningKey, String> {
    let made = rsa_certificate("kinetic emulator token signing")?;
    let der = made
        .private
        .to_pkcs1_der()
        .map_err(|e| format!("cannot encode the signing key: {e}"))?;
    let x5t = b64url(&sha1::Sha1::digest(&made.cert_der));
    let n = made.private.n().to_bytes_be();
    // Like Entra's, the kid is a thumbprint-style id; here the SHA-256 of the modulus.
    let kid = b64url(&sha2::Sha256::digest(&n)[..20]);
    let jwk = serde_json::json!({
        "kty": "RSA", "use": "sig", "kid": kid, "x5t": x5t,
        "n": b64url(&n), "e": b64url(&made.private.e().to_bytes_be()),
        "x5c": [base64::engine::general_purpose::STANDARD.encode(&made.cert_der)],
        "issuer": "kinetic emulator"
    });
    Ok(SigningKey {
        kid,
        x5t,
        encoding: EncodingKey::from_rsa_der(der.as_bytes()),
        jwk,
        retired: None,
    })
}

/// The current signing key and the ones still published after rotation.
pub struct KeyRing {
    keys: Vec<SigningKey>,
}

impl KeyRing {
    pub fn new(_now: i64) -> Result<KeyRing, String> {
        Ok(KeyRing {
            keys: vec![signing_key()?],
        })
    }

    /// Signs claims with the current key (RS256, `kid` and `x5t` in the header).
    pub fn sign<T: Serialize>(&self, claims: &T) -> String {
        let key = self.keys.last().expect("a current key");
        let mut h = Header::new(Algorithm::RS256);
        h.kid = Some(key.kid.clone());
        h.x5t = Some(key.x5t.clone());
        jsonwebtoken::encode(&h, claims, &key.encoding).expect("RS256 signing with our own key")
    }

    /// Verifies a token we issued: our keys, RS256, `iss` ours, `exp` and `aud` present; returns its
    /// claims. Time and audience are the caller's to check (against the injected clock and its own).
    pub fn verify(&self, token: &str, issuer: &str) -> Result<serde_json::Value, String> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| format!("not a JWT: {e}"))?;
        let kid = header.kid.ok_or("no kid")?;
        let key = self
            .keys
            .iter()
            .find(|k| k.kid == kid)
            .ok_or("signed by an unknown key")?;
        let jwk: jsonwebtoken::jwk::Jwk =
            serde_json::from_value(key.jwk.clone()).map_err(|e| e.to_string())?;
        let dk = jsonwebtoken::DecodingKey::from_jwk(&jwk).map_err(|e| e.to_string())?;
        let mut v = jsonwebtoken::Validation::new(Algorithm::RS256);
        v.validate_exp = false;
        v.validate_aud = false;
        v.set_required_spec_claims(&["exp", "aud", "iss"]);
        v.set_issuer(&[issuer]);
        jsonwebtoken::decode::<serde_json::Value>(token, &dk, &v)
            .map(|d| d.claims)
            .map_err(|e| format!("signature does not verify: {e}"))
    }

    /// Makes `new` the current key; the old one is retired now.
    pub fn rotate(&mut self, new: SigningKey, now: i64) -> String {
        let kid = new.kid.clone();
        if let Some(current) = self.keys.last_mut() {
            current.retired = Some(now);
        }
        self.keys.push(new);
        kid
    }

    /// Drops keys retired longer than the grace period.
    pub fn expire(&mut self, now: i64, grace: i64) {
        self.keys
            .retain(|k| k.retired.is_none_or(|t| now - t < grace));
    }

    pub fn jwks(&self) -> serde_json::Value {
        // Current key first, as Entra lists its active key first.
        let keys: Vec<&serde_json::Value> = self.keys.iter().rev().map(|k| &k.jwk).collect();
        serde_json::json!({ "keys": keys })
    }
}
