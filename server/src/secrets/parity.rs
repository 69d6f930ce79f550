//! Parity: which keys a secret present in several environments lacks in each of them.

use super::*;

impl Secrets {
    /// Every environment's secrets compared (the lists read in parallel).
    pub async fn parity(&self) -> Parity {
        parity_of(&self.lists().await)
    }
}

/// For secrets present in more than one environment, the key names each one lacks.
pub fn parity_of(lists: &[(String, Result<SecretList>)]) -> Parity {
    let mut errors = BTreeMap::new();
    let mut keys: BTreeMap<&str, BTreeMap<&str, BTreeSet<&String>>> = BTreeMap::new();
    for (env, list) in lists {
        match list {
            Ok(list) => {
                for s in list.secrets.iter().filter(|s| s.read_only.is_none()) {
                    keys.entry(&s.name).or_default().insert(env, s.keys.iter().collect());
                }
            }
            Err(e) => {
                errors.insert(env.clone(), e.to_string());
            }
        }
    }
    let secrets = keys
        .into_iter()
        .filter(|(_, per_env)| per_env.len() > 1)
        .map(|(name, per_env)| {
            let all: BTreeSet<&String> = per_env.values().flatten().copied().collect();
            let missing = per_env
                .iter()
                .map(|(env, have)| (env.to_string(), all.iter().filter(|k| !have.contains(*k)).map(|k| (*k).clone()).collect()))
                .collect();
            ParityRow { name: name.to_string(), missing }
        })
        .collect();
    Parity { environments: lists.iter().map(|(e, _)| e.clone()).collect(), secrets, errors }
}
