//! Password hashing with Argon2id: a helper below every other layer. How many checks run at once and
//! on which threads is the caller's business ([`crate::throttle::verify_password`]).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use std::sync::OnceLock;

/// Hashes a password with Argon2id (the crate's defaults: 19 MiB, 2 passes).
pub fn hash_password(password: &str) -> String {
    let salt =
        SaltString::encode_b64(&rand::random::<[u8; 16]>()).expect("16 bytes is a valid salt");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("hashing with default parameters cannot fail")
        .to_string()
}

/// Whether `hash` is a PHC string (`$argon2id$v=19$...`); the parser's complaint when not.
pub fn check_phc(hash: &str) -> Result<(), String> {
    PasswordHash::new(hash)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Verifies `password` against an Argon2 PHC `hash`, blocking (tens of ms). With no hash (an
/// unknown user) a dummy hash is verified all the same, so the answer time does not tell who exists.
pub fn verify(hash: Option<&str>, password: &str) -> bool {
    let hash = hash.unwrap_or_else(|| dummy_hash());
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password("not a real password"))
}
