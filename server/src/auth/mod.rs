//! Who is calling: API tokens (`Authorization: Bearer`), browser sessions (a cookie) started by
//! single sign-on (`oidc`) or the development sign-in, and CSRF protection for sessions.

pub mod csrf;
pub mod dev_login;
pub mod login;
pub mod middleware;
pub mod oidc;
pub mod rate_limit;
pub mod sessions;
pub mod token_cache;
pub mod tokens;

use rand::distr::{Alphanumeric, SampleString};
use sha2::{Digest, Sha256};

/// Tokens and session ids are 40+ random characters, so a fast hash is enough to keep the
/// database from holding anything usable (no salt or slow KDF needed, unlike passwords).
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A fresh random secret: `prefix` followed by 40 alphanumerics (about 238 bits).
pub fn new_secret(prefix: &str) -> String {
    format!("{prefix}{}", Alphanumeric.sample_string(&mut rand::rng(), 40))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_and_hashes_stable() {
        let (a, b) = (new_secret("zc_"), new_secret("zc_"));
        assert_ne!(a, b);
        assert!(a.starts_with("zc_") && a.len() == 43);
        assert_eq!(hash_secret(&a), hash_secret(&a));
        assert_ne!(hash_secret(&a), hash_secret(&b));
        assert_eq!(hash_secret("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
