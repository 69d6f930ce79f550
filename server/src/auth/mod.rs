//! Who is calling: API tokens, browser sessions started by single sign-on (`oidc`) or the
//! development sign-in, CSRF tokens for sessions, sign-in rate limits and last-seen bookkeeping.
//! Plain functions over the database and the configuration: the HTTP side (reading headers and
//! cookies, the sign-in pages, the authentication layer) is `http::authenticate` and
//! `http::sign_in`.

pub mod activity;
pub mod csrf;
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
    format!("{prefix}{}", random_id(40))
}

/// `len` random alphanumerics: ids of workers, holders, events and errors.
pub fn random_id(len: usize) -> String {
    Alphanumeric.sample_string(&mut rand::rng(), len)
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
        assert_eq!(random_id(12).len(), 12);
    }
}
