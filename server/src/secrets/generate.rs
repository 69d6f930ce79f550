//! New values for rotated keys, drawn from the operating system's CSPRNG.

use app::model::secret::{Alphabet, RotationOptions, MAX_GENERATED_LENGTH, MIN_GENERATED_LENGTH};
use rand::{Rng, TryRngCore};

use super::document::Sensitive;

pub fn check(options: &RotationOptions) -> Result<(), String> {
    if !(MIN_GENERATED_LENGTH..=MAX_GENERATED_LENGTH).contains(&options.length) {
        return Err(format!("length must be between {MIN_GENERATED_LENGTH} and {MAX_GENERATED_LENGTH}"));
    }
    Ok(())
}

/// Each key with its options: the length and alphabet asked for, else the key's defaults.
pub fn plan(keys: Vec<String>, length: Option<usize>, alphabet: Option<Alphabet>) -> Vec<(String, RotationOptions)> {
    keys.into_iter()
        .map(|key| {
            let default = RotationOptions::for_key(&key);
            let options = RotationOptions { length: length.unwrap_or(default.length), alphabet: alphabet.unwrap_or(default.alphabet) };
            (key, options)
        })
        .collect()
}

/// A value of `options.length` characters, each drawn uniformly from the alphabet (`random_range`
/// rejects rather than takes a modulo, so no character is likelier than another).
pub fn value(options: &RotationOptions) -> Sensitive {
    let alphabet = options.alphabet.characters();
    let mut rng = rand::rngs::OsRng.unwrap_err();
    let value: String = (0..options.length).map(|_| alphabet[rng.random_range(0..alphabet.len())] as char).collect();
    Sensitive::new(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_use_only_the_alphabet_and_the_length() {
        for alphabet in Alphabet::ALL {
            let options = RotationOptions { length: 200, alphabet };
            let v = value(&options);
            assert_eq!(v.expose().len(), 200);
            assert!(v.expose().bytes().all(|b| alphabet.characters().contains(&b)), "{alphabet:?}");
        }
    }

    #[test]
    fn values_differ_and_cover_the_alphabet() {
        let options = RotationOptions { length: 4096, alphabet: Alphabet::Hex };
        let (a, b) = (value(&options), value(&options));
        assert_ne!(a, b);
        // 4096 draws from 16 characters: each one shows up (missing one has odds below 1e-100).
        assert!(Alphabet::Hex.characters().iter().all(|c| a.expose().as_bytes().contains(c)));
    }

    #[test]
    fn lengths_outside_the_bounds_are_refused() {
        for length in [0, MIN_GENERATED_LENGTH - 1, MAX_GENERATED_LENGTH + 1] {
            assert!(check(&RotationOptions { length, alphabet: Alphabet::Hex }).is_err());
        }
        assert!(check(&RotationOptions { length: 32, alphabet: Alphabet::Hex }).is_ok());
    }
}
